// Golden values: every available backend, through the public API, against fixtures computed with PyTorch in
// float64 (test/fixtures/make_fixtures.py; the committed JSON is all this suite reads, PyTorch is never needed).
//
// Comparison rule (float32 outputs against float64 expectations), for every element b of an expected array and
// the backend's a:
//     a === b  (this also covers ±Infinity and exact zeros),  or  |a − b| ≤ TOL · max(|b|, s)
// with TOL = 1e-5 and s = FLOOR · ‖block‖∞ an absolute floor, where the block is the sequence's own slice of a
// gradient or posterior (their scale differs per sequence under 'mean') and the whole array for `losses`.
//  - 'js' computes in float64 and only rounds its outputs to float32 (~6e-8 relative), so FLOOR = 1e-5: pure
//    relative 1e-5 on every entry above 1e-5 of its block's largest; below that the floor (1e-10 of the largest)
//    stands in (a gradient entry of 1e-30 beside entries of 1 carries no relative meaning, and the fixtures' own
//    posteriors are exp(lp) − torch_grad in float64, exact to ~1e-16 absolute only).
//  - native backends may form softmax rows in float32 (csrc/cpu/ace.cc does), so an entry that is a difference of
//    O(‖block‖∞) terms is exact only to about one float32 ulp of the block's largest entry: FLOOR = 1e-2 (absolute
//    1e-7 · ‖block‖∞); every entry above 1% of its block's largest is still held to 1e-5 relative.
// Scalars (`loss`) are compared relative with no floor. Entries the API defines as exactly zero (padded frames
// t ≥ T_n, impossible CTC sequences) must be exactly zero.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aceLoss, ctcLoss, type AceOptions, type CtcOptions } from '../lib/index.js';
import { backendsUnderTest } from './helpers.js';

const TOL = 1e-5;
const FLOOR: Record<string, number> = { js: 1e-5, cpu: 1e-2, cuda: 1e-2 };

type Num = number | 'Infinity' | '-Infinity';
interface Fixture {
  name: string;
  description: string;
  /** Exactly what is passed to the API, JSON-shaped (converted by toCtcOptions / toAceOptions). */
  options: Record<string, unknown>;
  /** The effective layout of `data` and of the gradients ('NTC' for 2D ACE). */
  layout: 'NTC' | 'TNC';
  /** Effective T_n (also when the options leave inputLengths out). */
  inputLengths: number[];
  /** CTC: sequences with no alignment (loss +∞, or 0 with zeroInfinity; gradient and posterior exactly 0). */
  impossible?: number[];
  /** float32 values written as their shortest decimals. */
  data: number[];
  expected: { losses: Num[]; loss: Num; grad: Num[]; posterior?: Num[] };
}

const here = dirname(fileURLToPath(import.meta.url));
function load(file: string): Fixture[] {
  const json = JSON.parse(readFileSync(join(here, 'fixtures', file), 'utf8')) as { cases: Fixture[] };
  return json.cases;
}
const ctcFixtures = [...load('ctc.json'), ...load('ctc_large.json')];
const aceFixtures = load('ace.json');

const num = (v: Num): number => (typeof v === 'number' ? v : Number(v));
const nums = (a: Num[]): Float64Array => Float64Array.from(a, num);

/** Fixtures with flat targets (`targetLengths` given) pass targets and lengths as Int32Arrays; the others pass
 * nested number[][] targets and plain number[] lengths, so both accepted forms are exercised. */
function toCtcOptions(f: Fixture, backend: string): CtcOptions {
  const o = { ...f.options } as Record<string, unknown>;
  if (o.targetLengths !== undefined) {
    o.targets = Int32Array.from(o.targets as number[]);
    o.targetLengths = Int32Array.from(o.targetLengths as number[]);
    if (o.inputLengths !== undefined) o.inputLengths = Int32Array.from(o.inputLengths as number[]);
  }
  return { ...(o as unknown as CtcOptions), backend: backend as CtcOptions['backend'] };
}

function toAceOptions(f: Fixture, backend: string): AceOptions {
  const o = { ...f.options } as Record<string, unknown>;
  if (o.counts !== undefined) o.counts = Float32Array.from(o.counts as number[]);
  if (o.targetLengths !== undefined) {
    o.targets = Int32Array.from(o.targets as number[]);
    o.targetLengths = Int32Array.from(o.targetLengths as number[]);
    if (o.inputLengths !== undefined) o.inputLengths = Int32Array.from(o.inputLengths as number[]);
  }
  return { ...(o as unknown as AceOptions), backend: backend as AceOptions['backend'] };
}

/** The comparison rule in the header. `blocks`: index lists, one floor per list (default: the whole array). */
function expectArrayClose(
  actual: ArrayLike<number> | undefined,
  expected: Float64Array,
  floor: number,
  what: string,
  blocks?: number[][],
): void {
  expect(actual, `${what}: present`).toBeDefined();
  expect(actual!.length, `${what}: length`).toBe(expected.length);
  for (const block of blocks ?? [Array.from(expected.keys())]) {
    let max = 0;
    for (const i of block) if (Number.isFinite(expected[i])) max = Math.max(max, Math.abs(expected[i]));
    const s = floor * max;
    for (const i of block) {
      const a = actual![i];
      const b = expected[i];
      if (a === b) continue;
      const bound = TOL * Math.max(Math.abs(b), s);
      const err = Math.abs(a - b);
      if (!(err <= bound)) {
        throw new Error(
          `${what}[${i}]: got ${a}, expected ${b} (|diff| ${err.toExponential(3)} > ${bound.toExponential(3)} = ` +
            `${TOL} × max(|b|, ${s.toExponential(3)}))`,
        );
      }
    }
  }
}

function expectScalarClose(actual: number, expected: number, what: string): void {
  if (actual === expected) return;
  expect(Number.isFinite(expected), `${what}: got ${actual}, expected ${expected}`).toBe(true);
  const err = Math.abs(actual - expected);
  expect(err <= TOL * Math.abs(expected), `${what}: got ${actual}, expected ${expected} (|diff| ${err})`).toBe(true);
}

/** Index of (n, t, k) in the fixture's layout. */
function at(f: Fixture, n: number, t: number, k: number): number {
  const { batch: N, classes: C } = f.options as { batch: number; classes: number };
  const T = (f.options.time as number | undefined) ?? (f.options.height as number) * (f.options.width as number);
  return f.layout === 'NTC' ? (n * T + t) * C + k : (t * N + n) * C + k;
}

/** Each sequence's indices in the fixture's layout. */
function sequenceBlocks(f: Fixture): number[][] {
  const { batch: N, classes: C } = f.options as { batch: number; classes: number };
  const T = (f.options.time as number | undefined) ?? (f.options.height as number) * (f.options.width as number);
  const blocks: number[][] = [];
  for (let n = 0; n < N; n++) {
    const idx: number[] = [];
    for (let t = 0; t < T; t++) for (let k = 0; k < C; k++) idx.push(at(f, n, t, k));
    blocks.push(idx);
  }
  return blocks;
}

/** Entries of sequence n on frames [from, T) (all frames with from = 0) must be exactly 0. */
function expectZeroFrames(f: Fixture, arr: ArrayLike<number>, n: number, from: number, what: string): void {
  const C = f.options.classes as number;
  const T = (f.options.time as number | undefined) ?? (f.options.height as number) * (f.options.width as number);
  for (let t = from; t < T; t++) {
    for (let k = 0; k < C; k++) {
      const v = arr[at(f, n, t, k)];
      if (v !== 0) throw new Error(`${what}: sequence ${n}, frame ${t}, class ${k} is ${v}, must be exactly 0`);
    }
  }
}

const available = backendsUnderTest();

it('the fixtures are the committed set', () => {
  // Guards against a truncated or regenerated-empty fixture file passing vacuously.
  expect(ctcFixtures.length).toBe(17);
  expect(aceFixtures.length).toBe(9);
  expect(ctcFixtures.some((f) => (f.impossible ?? []).length > 0)).toBe(true);
});

for (const b of available) {
  const floor = FLOOR[b.name];
  const title = `golden fixtures (PyTorch float64), backend '${b.name}'`;
  describe(title, () => {
    it('the backend is available', () => expect(b.ok, b.why).toBe(true));
    describe('ctcLoss', () => {
      for (const f of ctcFixtures) {
        it(`${f.name}: ${f.description}`, () => {
          const data = Float32Array.from(f.data);
          const r = ctcLoss(data, toCtcOptions(f, b.name));
          expect(r.backend).toBe(b.name);
          const N = f.options.batch as number;
          const want = f.expected;
          expect(r.losses).toBeInstanceOf(Float32Array);
          expectArrayClose(r.losses, nums(want.losses), floor, 'losses');
          expectScalarClose(r.loss, num(want.loss), 'loss');
          expectArrayClose(r.grad, nums(want.grad), floor, 'grad', sequenceBlocks(f));
          if (want.posterior)
            expectArrayClose(r.posterior, nums(want.posterior), floor, 'posterior', sequenceBlocks(f));
          else expect(r.posterior).toBeUndefined();

          const zeroInfinity = f.options.zeroInfinity === true;
          for (const n of f.impossible ?? []) {
            expect(r.losses[n], `losses[${n}] (impossible)`).toBe(zeroInfinity ? 0 : Infinity);
            expectZeroFrames(f, r.grad!, n, 0, 'grad (impossible sequence)');
            if (r.posterior) expectZeroFrames(f, r.posterior, n, 0, 'posterior (impossible sequence)');
          }
          for (let n = 0; n < N; n++) {
            expectZeroFrames(f, r.grad!, n, f.inputLengths[n], 'grad (padded frames)');
            if (r.posterior) expectZeroFrames(f, r.posterior, n, f.inputLengths[n], 'posterior (padded frames)');
          }
          // The input is not modified.
          expect(data).toEqual(Float32Array.from(f.data));
        });
      }

      it('grad: false returns the same losses and no gradient', () => {
        const f = ctcFixtures.find((c) => c.name === 'ctc_ntc_mean_posterior')!;
        const r = ctcLoss(Float32Array.from(f.data), { ...toCtcOptions(f, b.name), grad: false, posterior: false });
        expect((r as { grad?: Float32Array }).grad).toBeUndefined();
        expect((r as { posterior?: Float32Array }).posterior).toBeUndefined();
        expectArrayClose(r.losses, nums(f.expected.losses), floor, 'losses');
        expectScalarClose(r.loss, num(f.expected.loss), 'loss');
      });
    });

    describe('aceLoss', () => {
      for (const f of aceFixtures) {
        it(`${f.name}: ${f.description}`, () => {
          const data = Float32Array.from(f.data);
          const r = aceLoss(data, toAceOptions(f, b.name));
          expect(r.backend).toBe(b.name);
          expect(r.losses).toBeInstanceOf(Float32Array);
          expectArrayClose(r.losses, nums(f.expected.losses), floor, 'losses');
          expectScalarClose(r.loss, num(f.expected.loss), 'loss');
          expectArrayClose(r.grad, nums(f.expected.grad), floor, 'grad', sequenceBlocks(f));
          for (let n = 0; n < (f.options.batch as number); n++) {
            expectZeroFrames(f, r.grad!, n, f.inputLengths[n], 'grad (padded frames)');
          }
          expect(data).toEqual(Float32Array.from(f.data));
        });
      }
      it('labels and the counts they make give bitwise the same results (the labels cross as labels)', () => {
        let compared = 0;
        for (const f of aceFixtures) {
          const o = toAceOptions(f, b.name) as AceOptions & Record<string, unknown>;
          if (o.targets === undefined || o.targetsWidth !== undefined) continue;
          const N = o.batch as number;
          const C = o.classes as number;
          // The labels of each sequence, from the flat form (with targetLengths) or the nested one.
          const flat = o.targets as ArrayLike<number>;
          const lengths = o.targetLengths as Int32Array | undefined;
          const perSeq: ArrayLike<number>[] = [];
          for (let n = 0, at = 0; n < N; n++) {
            if (lengths) {
              perSeq.push(Array.from({ length: lengths[n] }, (_, j) => flat[at + j]));
              at += lengths[n];
            } else {
              perSeq.push((o.targets as ArrayLike<number>[])[n]);
            }
          }
          const counts = new Float32Array(N * C);
          perSeq.forEach((labels, n) => {
            for (let j = 0; j < labels.length; j++) counts[n * C + labels[j]] += 1;
          });
          const { targets: _t, targetLengths: _l, targetsWidth: _w, ...rest } = o;
          const data = Float32Array.from(f.data);
          const a = aceLoss(data, o);
          const c = aceLoss(data, { ...rest, counts } as AceOptions);
          expect(a.losses).toEqual(c.losses);
          expect(a.loss).toBe(c.loss);
          expect(a.grad).toEqual(c.grad);
          compared++;
        }
        expect(compared).toBeGreaterThan(0);
      });
    });
  });
}
