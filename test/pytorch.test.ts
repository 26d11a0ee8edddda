// PyTorch's forms, against the committed PyTorch fixtures (test/fixtures/ctc.json, made by make_fixtures.py):
//  - gradConvention 'pytorch': the log-probs gradient F.ctc_loss returns, w_n·(exp(lp) − y') on frames t < T_n, 0 on
//    padded frames and for impossible sequences; the fixtures hold the exact gradient −w_n·y' (torch's minus
//    exp(lp)·w_n), so PyTorch's own is fixture + exp(lp)·w_n there. With 'logits' the conventions coincide.
//  - padded N×S targets (targetsWidth): the same results as the concatenated form, padding never read, for every
//    function that takes targets; the argument errors name targets / targetLengths / targetsWidth.
//  - the README's "Coming from PyTorch" example: its figures are the fixture's, and the call it shows gives them.
// Backends: SEQLOSS_TEST_BACKENDS (js and cpu in the unit project, cuda in cuda-emulated).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aceLoss, ctcAlign, ctcLoss, ctcLossAsync, dctcLoss, type CtcOptions } from '../lib/index.js';
import { backendsUnderTest } from './helpers.js';

type Num = number | 'Infinity' | '-Infinity';
interface Fixture {
  name: string;
  options: Record<string, unknown>;
  layout: 'NTC' | 'TNC';
  inputLengths: number[];
  impossible?: number[];
  data: number[];
  expected: { losses: Num[]; loss: Num; grad: Num[]; posterior?: Num[] };
}

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = (JSON.parse(readFileSync(join(here, 'fixtures', 'ctc.json'), 'utf8')) as { cases: Fixture[] }).cases;
const num = (v: Num): number => (typeof v === 'number' ? v : Number(v));

const TOL = 1e-5;
/** As golden.test.ts: an absolute floor of FLOOR·(the sequence's largest entry) under the relative tolerance. */
const FLOOR: Record<string, number> = { js: 1e-5, cpu: 1e-2, cuda: 1e-2 };

interface Shape {
  N: number;
  T: number;
  C: number;
  layout: 'NTC' | 'TNC';
}
const shapeOf = (f: Fixture): Shape => ({
  N: f.options.batch as number,
  T: f.options.time as number,
  C: f.options.classes as number,
  layout: f.layout,
});
const at = (s: Shape, n: number, t: number, k: number): number =>
  s.layout === 'NTC' ? (n * s.T + t) * s.C + k : (t * s.N + n) * s.C + k;

/** The fixture's labels, one array per sequence (nested, or concatenated + targetLengths). */
function labelsOf(f: Fixture): number[][] {
  const t = f.options.targets as number[] | number[][];
  if (f.options.targetLengths === undefined) return t as number[][];
  const lengths = f.options.targetLengths as number[];
  const out: number[][] = [];
  let i = 0;
  for (const L of lengths) {
    out.push((t as number[]).slice(i, i + L));
    i += L;
  }
  return out;
}

/** The labels as PyTorch's padded (N, S) targets, flattened; padding filled with values no label may take. */
function padded(labels: number[][], classes: number, blank: number, extra = 2): { targets: Int32Array; width: number } {
  const width = Math.max(0, ...labels.map((l) => l.length)) + extra;
  const junk = [-7, blank, classes + 3, 2 ** 31 - 1];
  const targets = new Int32Array(labels.length * width);
  labels.forEach((l, n) => {
    for (let j = 0; j < width; j++) targets[n * width + j] = j < l.length ? l[j]! : junk[(n + j) % junk.length]!;
  });
  return { targets, width };
}

/** The fixture's options as the API takes them, targets in nested form (padded or concatenated forms are set by
 * the callers). */
function optionsOf(f: Fixture, backend: string): CtcOptions {
  const o = { ...f.options } as Record<string, unknown>;
  delete o.targetLengths;
  o.targets = labelsOf(f);
  return { ...(o as unknown as CtcOptions), backend: backend as CtcOptions['backend'] };
}

/** The reduction weight w_n of sequence n. */
function weight(f: Fixture, n: number): number {
  const reduction = (f.options.reduction as string | undefined) ?? 'mean';
  return reduction === 'mean' ? 1 / (shapeOf(f).N * Math.max(labelsOf(f)[n]!.length, 1)) : 1;
}

/** PyTorch's log-probs gradient: fixture grad + exp(lp)·w_n on frames t < T_n of possible sequences, 0 elsewhere. */
function torchGrad(f: Fixture): Float64Array {
  const s = shapeOf(f);
  const g = Float64Array.from(f.expected.grad, num);
  const impossible = new Set(f.impossible ?? []);
  for (let n = 0; n < s.N; n++) {
    if (impossible.has(n)) continue;
    const w = weight(f, n);
    for (let t = 0; t < f.inputLengths[n]!; t++) {
      for (let k = 0; k < s.C; k++) g[at(s, n, t, k)]! += w * Math.exp(f.data[at(s, n, t, k)]!);
    }
  }
  return g;
}

/** |a − b| ≤ TOL·max(|b|, floor·‖sequence block‖∞) for every entry; exact zeros stay exact. */
function expectClose(actual: Float32Array | undefined, expected: Float64Array, s: Shape, floor: number, what: string) {
  expect(actual, `${what}: present`).toBeDefined();
  const a = actual!;
  expect(a.length).toBe(expected.length);
  for (let n = 0; n < s.N; n++) {
    let max = 0;
    for (let t = 0; t < s.T; t++)
      for (let k = 0; k < s.C; k++) max = Math.max(max, Math.abs(expected[at(s, n, t, k)]!));
    for (let t = 0; t < s.T; t++) {
      for (let k = 0; k < s.C; k++) {
        const i = at(s, n, t, k);
        const want = expected[i]!;
        if (want === 0) {
          // ±0 both (a label class that no path visits at t: −w·0).
          expect(a[i] === 0, `${what}[${i}] (n ${n}, t ${t}, k ${k}) must be exactly 0, got ${a[i]}`).toBe(true);
          continue;
        }
        const bound = TOL * Math.max(Math.abs(want), floor * max);
        if (!(Math.abs(a[i]! - want) <= bound)) {
          throw new Error(`${what}[${i}] (n ${n}, t ${t}, k ${k}): got ${a[i]}, expected ${want} (bound ${bound})`);
        }
      }
    }
  }
}

const logProbCases = fixtures.filter((f) => f.options.input === 'logProbs');
const logitCases = fixtures.filter((f) => f.options.input !== 'logProbs');

describe.each(backendsUnderTest())('gradConvention on $name', ({ name, ok, why }) => {
  it.skipIf(!ok)(`backend available${ok ? '' : ` (${why})`}`, () => expect(ok).toBe(true));
  it('covers log-probs cases with mean, sum and none, impossible sequences and padded frames', () => {
    expect(logProbCases.map((f) => f.options.reduction).sort()).toEqual(['mean', 'none', 'sum']);
    expect(logProbCases.some((f) => (f.impossible ?? []).length > 0)).toBe(true);
    expect(logProbCases.some((f) => f.inputLengths.some((Tn) => Tn < (f.options.time as number)))).toBe(true);
  });

  for (const f of logProbCases) {
    it.skipIf(!ok)(`${f.name}: 'pytorch' = PyTorch's log_probs.grad; losses and posterior as 'exact'`, async () => {
      const x = Float32Array.from(f.data);
      const exact = ctcLoss(x, { ...optionsOf(f, name), posterior: true });
      const torch = ctcLoss(x, { ...optionsOf(f, name), posterior: true, gradConvention: 'pytorch' });
      expect(torch.backend).toBe(name);
      expectClose(torch.grad, torchGrad(f), shapeOf(f), FLOOR[name]!, 'grad');
      expect(torch.losses).toEqual(exact.losses);
      expect(torch.loss).toBe(exact.loss);
      expect(torch.posterior).toEqual(exact.posterior);
      // The exact convention is still the fixture's.
      expectClose(exact.grad, Float64Array.from(f.expected.grad, num), shapeOf(f), FLOOR[name]!, 'exact grad');
      // The async entry computes the same.
      const later = await ctcLossAsync(x, { ...optionsOf(f, name), gradConvention: 'pytorch' });
      expect(later.grad).toEqual(torch.grad);
    });
  }

  it.skipIf(!ok)("logits: 'pytorch' and 'exact' are the same gradient, d loss / d logits", () => {
    for (const f of logitCases) {
      const x = Float32Array.from(f.data);
      const exact = ctcLoss(x, optionsOf(f, name));
      const torch = ctcLoss(x, { ...optionsOf(f, name), gradConvention: 'pytorch' });
      expect(torch.grad, f.name).toEqual(exact.grad);
      expect(torch.losses, f.name).toEqual(exact.losses);
    }
  });
});

describe.each(backendsUnderTest())('padded targets on $name', ({ name, ok }) => {
  for (const f of fixtures) {
    it.skipIf(!ok)(`${f.name}: ctcLoss and ctcAlign with N×S targets equal the nested form`, () => {
      const x = Float32Array.from(f.data);
      const labels = labelsOf(f);
      const blank = (f.options.blank as number | undefined) ?? 0;
      const { targets, width } = padded(labels, f.options.classes as number, blank);
      const before = targets.slice();
      const base = optionsOf(f, name);
      const lengths = Int32Array.from(labels, (l) => l.length);
      const want = ctcLoss(x, { ...base, posterior: true });
      const got = ctcLoss(x, { ...base, targets, targetsWidth: width, targetLengths: lengths, posterior: true });
      expect(got.losses).toEqual(want.losses);
      expect(got.loss).toBe(want.loss);
      expect(got.grad).toEqual(want.grad);
      expect(got.posterior).toEqual(want.posterior);
      expect(targets, 'the caller’s targets are left as they were').toEqual(before);
      const { grad: _g, posterior: _p, reduction: _r, zeroInfinity: _z, ...alignBase } = base;
      const align = ctcAlign(x, { ...alignBase, targets, targetsWidth: width, targetLengths: Array.from(lengths) });
      expect(align).toEqual(ctcAlign(x, alignBase));
    });
  }

  it.skipIf(!ok)('dctcLoss and aceLoss read padded targets as the nested form', () => {
    const f = fixtures.find((c) => c.name === 'ctc_ntc_mean_posterior')!;
    const x = Float32Array.from(f.data);
    const labels = labelsOf(f);
    const { targets, width } = padded(labels, f.options.classes as number, 0, 3);
    const targetLengths = labels.map((l) => l.length);
    const shape = {
      batch: f.options.batch as number,
      time: f.options.time as number,
      classes: f.options.classes as number,
      inputLengths: f.inputLengths,
      backend: name,
    };
    const dctcWant = dctcLoss(x, { ...shape, targets: labels });
    const dctcGot = dctcLoss(x, { ...shape, targets, targetsWidth: width, targetLengths });
    expect(dctcGot).toEqual(dctcWant);
    const aceWant = aceLoss(x, { ...shape, targets: labels });
    const aceGot = aceLoss(x, { ...shape, targets, targetsWidth: width, targetLengths });
    expect(aceGot).toEqual(aceWant);
    expect(aceGot.losses.every(Number.isFinite)).toBe(true);
  });
});

describe('padded targets and gradConvention: argument errors', () => {
  const base = { batch: 2, time: 4, classes: 3, backend: 'js' as const };
  const x = new Float32Array(24);
  const targets = new Int32Array([1, 2, 9, 1, -1, -1]);
  const call = (o: Record<string, unknown>) => () =>
    ctcLoss(x, { ...base, targets, targetLengths: [2, 1], targetsWidth: 3, ...o });

  it('accepts padding of any value, and reads only the first L_n of each row', () => {
    const r = call({})();
    const want = ctcLoss(x, { ...base, targets: [[1, 2], [1]] });
    expect(r.losses).toEqual(want.losses);
  });
  it('targets.length must be batch·targetsWidth', () => {
    expect(call({ targets: new Int32Array(5) })).toThrow(RangeError);
    expect(call({ targets: new Int32Array(5) })).toThrow(
      /^ctcLoss: targets.length must be batch·targetsWidth = 2·3 = 6 \(padded targets\), got 5$/,
    );
  });
  it('each targetLengths[n] must lie in [0, targetsWidth]', () => {
    expect(call({ targetLengths: [2, 4] })).toThrow(RangeError);
    expect(call({ targetLengths: [2, 4] })).toThrow(
      /^ctcLoss: targetLengths\[1\] must be an integer in \[0, 3\], got 4$/,
    );
    expect(call({ targetLengths: undefined })).toThrow(TypeError);
    expect(call({ targetLengths: undefined })).toThrow(/^ctcLoss: targetLengths must be .* when targetsWidth is given/);
  });
  it('labels are checked where they are read, named by their index in targets', () => {
    expect(call({ targets: new Int32Array([1, 2, 0, 1, 0, 3]), targetLengths: [2, 2] })).toThrow(
      /^ctcLoss: targets\[4\] \(row 1, position 1\) must be a class in \[0, 3\) other than the blank 0, got 0$/,
    );
    expect(call({ targets: new Int32Array([1, 2, 0, 1, 0, 3]), targetLengths: [2, 2] })).toThrow(RangeError);
  });
  it('targetsWidth must be an integer >= 0 with an Int32Array of targets', () => {
    expect(call({ targetsWidth: '3' })).toThrow(TypeError);
    expect(call({ targetsWidth: '3' })).toThrow(/^ctcLoss: targetsWidth must be an integer, got "3"$/);
    expect(call({ targetsWidth: 1.5 })).toThrow(RangeError);
    expect(call({ targetsWidth: -1 })).toThrow(/^ctcLoss: targetsWidth must be an integer >= 0, got -1$/);
    expect(call({ targets: [[1, 2], [1]], targetLengths: undefined })).toThrow(TypeError);
    expect(call({ targets: [[1, 2], [1]], targetLengths: undefined })).toThrow(
      /^ctcLoss: targets must be an Int32Array of batch·targetsWidth labels when targetsWidth is given, got Array\(2\)$/,
    );
    expect(() => aceLoss(x, { ...base, counts: new Float32Array(6), targetsWidth: 3 })).toThrow(
      /^aceLoss: targets must be absent when counts are given/,
    );
  });
  it("gradConvention must be 'exact' or 'pytorch'", () => {
    expect(call({ gradConvention: 'torch' })).toThrow(RangeError);
    expect(call({ gradConvention: 'torch' })).toThrow(
      /^ctcLoss: gradConvention must be 'exact' \| 'pytorch', got "torch"$/,
    );
    expect(call({ gradConvention: 1 })).toThrow(TypeError);
    expect(() => dctcLoss(x, { ...base, targets: [[1], [2]], gradConvention: 'pytorch' } as never)).toThrow(
      /^dctcLoss: unknown option 'gradConvention'/,
    );
  });
});

describe("README, 'Coming from PyTorch'", () => {
  const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Coming from PyTorch'));
  const f = fixtures.find((c) => c.name === 'ctc_logprobs_tnc_sum_blank_last')!;

  it('shows the call that gives the fixture’s PyTorch values', () => {
    expect(readme).toContain('## Coming from PyTorch');
    const lossShown = Number(/r\.loss;\s*\/\/ ([\d.]+)/.exec(section)![1]);
    const lossesShown = /r\.losses;\s*\/\/ \[([\d.]+), ([\d.]+)\]/.exec(section)!.slice(1).map(Number);
    // The figures are PyTorch's (the fixture), at the precision shown.
    expect(lossShown).toBe(Number(num(f.expected.loss).toFixed(4)));
    expect(lossesShown).toEqual(f.expected.losses.map((v) => Number(num(v).toFixed(4))));
    // The example's call, with the fixture's log-probs (T, N, C) = (18, 2, 9).
    for (const { name, ok } of backendsUnderTest()) {
      if (!ok) continue;
      const lp = Float32Array.from(f.data);
      const r = ctcLoss(lp, {
        layout: 'TNC',
        input: 'logProbs',
        time: 18,
        batch: 2,
        classes: 9,
        targets: new Int32Array([7, 7, 2, 2, 1, 2, 4, 6, 0, 0, 0, 0]),
        targetsWidth: 6,
        targetLengths: [6, 2],
        inputLengths: [18, 18],
        blank: 8,
        reduction: 'sum',
        zeroInfinity: false,
        gradConvention: 'pytorch',
        backend: name,
      });
      expect(Number(r.loss.toFixed(4))).toBe(lossShown);
      expect(Array.from(r.losses, (v) => Number(v.toFixed(4)))).toEqual(lossesShown);
      expectClose(r.grad, torchGrad(f), shapeOf(f), FLOOR[name]!, `${name} grad`);
    }
  });
  it('its targets are the fixture’s labels', () => {
    expect(labelsOf(f)).toEqual([
      [7, 7, 2, 2, 1, 2],
      [4, 6],
    ]);
    expect(f.options).toMatchObject({ layout: 'TNC', batch: 2, time: 18, classes: 9, blank: 8, reduction: 'sum' });
  });
});
