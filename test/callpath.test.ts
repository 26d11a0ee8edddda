// Regression tests for the call path (options → validation → N-API → ABI) against a hostile caller: output arrays
// aliasing integer inputs, worker.terminate() inside calls, inputs changed or detached while an async call runs,
// options objects that change or throw as they are read, and error messages that do not name the function.
//
// Every case that may crash the process runs in a child (test/fixtures/callpath/*.mjs, on lib/ transpiled by
// fixtures/callpath/entry.mjs and the addon this project uses), and each test asserts that the child exited
// normally (no signal, exit 0) AND printed the expected outcome. Backends: 'cpu' and 'js', and 'cuda' where
// SEQLOSS_TEST_BACKENDS names it (the CUDA projects) — see backendsUnderTest in helpers.ts.
//
// What is expected, decided for this package:
//  (a) An output array sharing memory with any input (targets, targetLengths, inputLengths, counts — not only the
//      logits) is a RangeError whose message names the function, the output and the input, thrown (sync) or
//      rejected (async) before anything is written.
//  (b) The process survives worker.terminate() at any moment of a worker's seqloss calls.
//  (c) A call computes on its inputs as they were when it was made: changing targets, lengths or counts right
//      after an async call returned its promise, a SharedArrayBuffer's targets changed by another thread during a
//      sync call (each call sees one snapshot: the result of a valid one, or a RangeError for an invalid one),
//      detaching the logits or the targets during an async call (they are copied or kept alive): the result is
//      bitwise that of the same call on untouched copies. A detached out.grad cannot receive the result: the
//      promise rejects with an Error naming the function and out.grad.
//  (d) Options are read once (each key's getter at most once), so a getter that changes its answer cannot make
//      validation and computation see different values: the result is that of the first (valid) answer. A revoked
//      Proxy as options is a TypeError naming the function and 'options'; a getter that throws gives an error that
//      names the function and carries the getter's message.
//  (e) Every error of every public function starts with `${fn}: `, native ones included.
import { describe, expect, it, type ExpectStatic } from 'vitest';
import * as seqloss from '../lib/index.js';
import { backends } from '../lib/index.js';
import { describeExit, runChild, type ChildRun } from './fixtures/callpath/entry.mjs';
import { backendsUnderTest } from './helpers.js';

const underTest = backendsUnderTest();
const names = underTest.map((b) => b.name);

function expectClean(expect: ExpectStatic, r: ChildRun) {
  expect(r.signal, describeExit(r)).toBeNull();
  expect(r.timedOut, describeExit(r)).toBe(false);
  expect(r.status, describeExit(r)).toBe(0);
}

interface Outcome {
  ok: boolean;
  how: 'threw' | 'rejected' | 'returned' | 'resolved';
  error?: { kind: string; ctor: string; message: string; code?: string };
  value?: unknown;
}

/** What is wrong with an outcome that should be an error of one of `kinds`, thrown (sync fn) or rejected (async fn),
 * its message starting with `fn: ` and naming each of `mentions`; null when nothing is. */
function namedErrorProblem(o: Outcome, fn: string, kinds: string[], mentions: string[]): string | null {
  const text = JSON.stringify(o).slice(0, 1500);
  if (o.ok) return `expected an error, got ${text}`;
  const how = fn.endsWith('Async') ? 'rejected' : 'threw';
  if (o.how !== how) return `expected the call to have ${how}, got ${text}`;
  if (!kinds.includes(o.error!.kind)) return `expected one of ${kinds.join(', ')}, got ${text}`;
  if (!o.error!.message.startsWith(`${fn}: `)) return `message must start with '${fn}: ': ${o.error!.message}`;
  for (const m of mentions) if (!o.error!.message.includes(m)) return `message must name ${m}: ${o.error!.message}`;
  return null;
}

it('runs on the backends under test (a missing one fails)', () => {
  for (const b of underTest) expect(b.ok, `backend '${b.name}': ${b.why}`).toBe(true);
});

// ---- (a) output arrays sharing memory with an integer or count input ------------------------------------------

const aliasCases: [fn: string, input: string, out: string][] = [];
for (const fn of ['ctcLoss', 'ctcLossAsync']) {
  for (const c of [
    ['targets', 'grad'],
    ['targets', 'posterior'],
    ['targetLengths', 'grad'],
    ['targetLengths', 'posterior'],
    ['inputLengths', 'grad'],
  ]) {
    aliasCases.push([fn, c[0], c[1]]);
  }
}
for (const fn of ['dctcLoss', 'dctcLossAsync'])
  for (const input of ['targets', 'targetLengths', 'inputLengths']) aliasCases.push([fn, input, 'grad']);
for (const fn of ['aceLoss', 'aceLossAsync'])
  for (const input of ['counts', 'targets', 'targetLengths', 'inputLengths']) aliasCases.push([fn, input, 'grad']);

describe.concurrent.each(names)("(a) out arrays sharing memory with an input, backend '%s'", (backend) => {
  it.for(aliasCases)(
    '%s: %s inside out.%s is a RangeError naming both, and nothing is written',
    async ([fn, input, out], { expect }) => {
      const r = await runChild('alias.mjs', [backend, fn, input, out]);
      expectClean(expect, r);
      const rec = r.records[0];
      expect(rec, 'the child printed its outcome').toBeDefined();
      expect(namedErrorProblem(rec.outcome, fn, ['RangeError'], [`out.${out}`, input])).toBeNull();
      expect(rec.inputAfter, `${input} must be left as it was`).toEqual(rec.inputBefore);
    },
  );
});

// ---- (b) worker.terminate() inside seqloss calls -------------------------------------------------------------

describe.each(names)("(b) worker.terminate() during calls, backend '%s'", (backend) => {
  it('20 workers in a loop of sync ctcLoss calls, each terminated at a random moment: the process survives', async () => {
    const r = await runChild('terminate.mjs', [backend, 'loop', '12345'], { timeout: 120_000 });
    expectClean(expect, r);
    expect(r.records.filter((x) => 'run' in x)).toHaveLength(20);
    expect(r.records.at(-1)).toMatchObject({ survived: true });
  });

  it('workers terminated during their first import of the package and the addon load: the process survives', async () => {
    const r = await runChild('terminate.mjs', [backend, 'import'], { timeout: 120_000 });
    expectClean(expect, r);
    const runs = r.records.filter((x) => 'run' in x);
    expect(runs).toHaveLength(10);
    // The first terminations fall inside the import (the worker never finished).
    expect(runs[0].finished).toBe(false);
    expect(r.records.at(-1)).toMatchObject({ survived: true });
  });

  it('workers terminated while large async calls of every async function run: the process survives', async () => {
    const r = await runChild('terminate.mjs', [backend, 'async', '777'], { timeout: 120_000 });
    expectClean(expect, r);
    expect(r.records.filter((x) => 'run' in x)).toHaveLength(5);
    expect(r.records.at(-1)).toMatchObject({ survived: true });
  });
});

// ---- (c) inputs changed or detached during a call ------------------------------------------------------------

// [fn, array, size]: ARRAY.fill(1e9) right after the async call returned its promise.
const fillCases: [string, string, string][] = [
  ['ctcLossAsync', 'targets', 'small'],
  ['ctcLossAsync', 'targets', 'large'],
  ['ctcLossAsync', 'targetLengths', 'small'],
  ['ctcLossAsync', 'inputLengths', 'small'],
  ['dctcLossAsync', 'targets', 'small'],
  ['dctcLossAsync', 'targets', 'large'],
  ['ctcAlignAsync', 'targets', 'small'],
  ['ctcAlignAsync', 'targets', 'large'],
  ['aceLossAsync', 'counts', 'small'],
  ['aceLossAsync', 'counts', 'large'],
  ['aceLossAsync', 'inputLengths', 'small'],
];
// [fn, array, size, how]: the array's buffer transferred away right after the call started, then collected.
const detachCases: [string, string, string, string][] = [];
for (const fn of ['ctcLossAsync', 'dctcLossAsync', 'ctcAlignAsync', 'aceLossAsync']) {
  detachCases.push([fn, 'logits', 'small', 'clone'], [fn, 'logits', 'large', 'clone'], [fn, 'logits', 'large', 'post']);
  detachCases.push([fn, fn === 'aceLossAsync' ? 'counts' : 'targets', 'large', 'clone']);
  if (fn !== 'ctcAlignAsync') detachCases.push([fn, 'grad', 'small', 'clone'], [fn, 'grad', 'large', 'post']);
}

// One thread-pool thread, held by a job queued before the call (mutate.mjs): the change lands before the native work
// starts, every time.
const onePoolThread = { UV_THREADPOOL_SIZE: '1' };

describe.concurrent.each(names)("(c) inputs changed or detached during a call, backend '%s'", (backend) => {
  it.for(fillCases)(
    '%s: %s.fill(1e9) after the call: the result of the inputs at call time (%s)',
    async ([fn, array, size], { expect }) => {
      const r = await runChild('mutate.mjs', [backend, 'fill', fn, array, size], {
        nodeArgs: ['--expose-gc'],
        env: onePoolThread,
      });
      expectClean(expect, r);
      const rec = r.records[0];
      expect(rec.outcome.ok, JSON.stringify(rec.outcome).slice(0, 800)).toBe(true);
      expect(rec.same, 'bitwise the result of the same call on untouched copies').toBe(true);
    },
  );

  it.for(detachCases)('%s: %s detached during the call (%s, %s)', async ([fn, array, size, how], { expect }) => {
    const r = await runChild('mutate.mjs', [backend, 'detach', fn, array, size, how], {
      nodeArgs: ['--expose-gc'],
      env: onePoolThread,
    });
    expectClean(expect, r);
    const rec = r.records[0];
    expect(rec.detached, 'the buffer was detached').toBe(true);
    if (array === 'grad') {
      // Nowhere to write the result: an error naming the output (not a result with a detached grad).
      expect(namedErrorProblem(rec.outcome, fn, ['Error', 'RangeError', 'TypeError'], ['out.grad'])).toBeNull();
    } else {
      // Inputs are copied or kept alive: the result of the inputs at call time.
      expect(rec.outcome.ok, JSON.stringify(rec.outcome).slice(0, 800)).toBe(true);
      expect(rec.same, 'bitwise the result of the same call on untouched copies').toBe(true);
    }
  });

  it.for(['ctcLoss', 'dctcLoss', 'ctcAlign', 'aceLoss'])(
    '%s: 2000 sync calls while another thread flips a SharedArrayBuffer target: each sees one snapshot',
    async (fn, { expect }) => {
      const r = await runChild('mutate.mjs', [backend, 'flip', fn], { nodeArgs: ['--expose-gc'] });
      expectClean(expect, r);
      const rec = r.records[0];
      expect(rec.flips, 'the other thread flipped the target').toBeGreaterThan(0);
      // Never a result other than that of a valid snapshot (targets[0] in {1, 2, 3}) ...
      expect(rec.bad, 'results that are not those of a valid snapshot').toEqual([]);
      // ... and for an invalid snapshot (the blank 0, 9, -5) a RangeError naming the function and the label.
      for (const e of rec.errors) {
        expect(e.kind, e.message).toBe('RangeError');
        expect(e.message.startsWith(`${fn}: targets[0] `), e.message).toBe(true);
      }
    },
  );
});

// ---- (d) options read once -----------------------------------------------------------------------------------

const optionFns = [
  'ctcLoss',
  'ctcLossAsync',
  'dctcLoss',
  'dctcLossAsync',
  'ctcAlign',
  'ctcAlignAsync',
  'aceLoss',
  'aceLossAsync',
  'ctcGreedyDecode',
  'aceDecode',
  'aceCount',
];

describe.concurrent.each(names)("(d) options read once, backend '%s'", (backend) => {
  it.for(optionFns)('%s: revoked Proxy, throwing getters, getters that change their answer', async (fn, { expect }) => {
    const r = await runChild('options.mjs', [backend, fn]);
    const started = r.records.filter((x) => 'start' in x).at(-1)?.start;
    expect(r.signal, `${describeExit(r)} (during '${started}')`).toBeNull();
    expectClean(expect, r);
    expect(r.records.at(-1)).toMatchObject({ done: true });
    for (const rec of r.records) {
      if (rec.case === 'revoked') {
        expect.soft(namedErrorProblem(rec.outcome, fn, ['TypeError'], ['options']), 'revoked Proxy').toBeNull();
      } else if (rec.case === 'throws') {
        expect
          .soft(
            namedErrorProblem(rec.outcome, fn, ['Error', 'TypeError', 'RangeError'], [`getter boom (${rec.key})`]),
            `getter of ${rec.key} throws`,
          )
          .toBeNull();
      } else if (rec.case === 'changes') {
        const over = Object.entries(rec.reads as Record<string, number>).filter(([, n]) => n > 1);
        expect.soft(over, `${rec.key}: keys read more than once`).toEqual([]);
        expect
          .soft(
            { ok: rec.outcome.ok, matches: rec.matches, error: rec.outcome.error?.message },
            `${rec.key}: the result of the first answer`,
          )
          .toEqual({ ok: true, matches: 0, error: undefined });
      }
    }
  });
});

// ---- (e) every error names the function ----------------------------------------------------------------------

type AnyFn = (input: Float32Array, options: Record<string, unknown>) => unknown;
const api = seqloss as unknown as Record<string, AnyFn>;

function validCall(fn: string): [Float32Array, Record<string, unknown>] {
  const x = new Float32Array(2 * 5 * 4).fill(0.25);
  const base = { batch: 2, time: 5, classes: 4 };
  if (/^(ctcLoss|dctcLoss|ctcAlign|aceLoss)/.test(fn)) return [x, { ...base, targets: [[1], [2, 3]] }];
  return [x, base];
}

async function errorOf(f: () => unknown): Promise<Error | undefined> {
  try {
    await f();
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

describe('(e) native errors name the function', () => {
  const info = backends();
  const cuda = info.cuda;
  it.each(optionFns)(
    "%s with backend 'cuda' where it cannot run (no CUDA build, no device, or a device past the last)",
    async (fn) => {
      const [x, o] = validCall(fn);
      // Without a usable device any call is an error; with one, device 1024 (allowed by the option check) is past
      // the last, so the native layer refuses it.
      const options = { ...o, backend: 'cuda', ...(cuda.available ? { device: 1024 } : {}) };
      const e = await errorOf(() => api[fn](x, options));
      expect(e, 'an error').toBeInstanceOf(Error);
      expect(e!.message.startsWith(`${fn}: `), `message must start with '${fn}: ': ${e!.message}`).toBe(true);
    },
  );
});
