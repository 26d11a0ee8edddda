// Golden DCTC values: dctcLoss through the public API, backends 'js' and (when the addon is built) 'cpu', against
// fixtures computed with PyTorch in float64 (test/fixtures/make_dctc_fixtures.py transcribes the DCTC authors'
// formulas with torch's ctc_loss and autograd; the committed JSON is all this suite reads).
//
// Comparison: losses / ctcLosses / distillLosses / loss relative 1e-5 (±Infinity and exact zeros must match exactly);
// grad norm-wise 1e-5 per sequence block (test/helpers.ts expectClose); alignment exactly. Every fixture's argmax
// (and Viterbi decision) is clear of its runner-up by ≥ 1e-4 relative, so rounding cannot flip an alignment.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { dctcLoss, type DctcOptions } from '../lib/index.js';
import { backendsUnderTest, expectClose, expectLossesClose, sequenceBlocks } from './helpers.js';

const TOL = 1e-5;

type Num = number | 'Infinity' | '-Infinity';
interface DctcFixture {
  name: string;
  description: string;
  seed: number;
  /** Exactly what is passed to the API, JSON-shaped (converted by toOptions). */
  options: Record<string, unknown>;
  layout: 'NTC' | 'TNC';
  /** Effective T_n. */
  inputLengths: number[];
  /** Sequences with no CTC alignment: z* = blank, CTC part of the gradient 0. */
  impossible: number[];
  /** float32 logits, shortest decimals, in `layout`. */
  data: number[];
  expected: {
    losses: Num[];
    loss: Num;
    grad: Num[];
    /** N×T row-major, −1 for t ≥ T_n. */
    alignment: number[];
    ctcLosses: Num[];
    distillLosses: Num[];
  };
}

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = (JSON.parse(readFileSync(join(here, 'fixtures', 'dctc.json'), 'utf8')) as { cases: DctcFixture[] })
  .cases;

const num = (v: Num): number => (typeof v === 'number' ? v : Number(v));
const nums = (a: Num[]): Float64Array => Float64Array.from(a, num);

/** Fixtures with flat targets pass Int32Arrays; the others nested number[][] targets and plain number[] lengths. */
function toOptions(f: DctcFixture, backend: string): DctcOptions {
  const o = { ...f.options } as Record<string, unknown>;
  if (o.targetLengths !== undefined) {
    o.targets = Int32Array.from(o.targets as number[]);
    o.targetLengths = Int32Array.from(o.targetLengths as number[]);
    if (o.inputLengths !== undefined) o.inputLengths = Int32Array.from(o.inputLengths as number[]);
  }
  if (o.margin !== undefined) o.margin = { ...(o.margin as object) };
  return { ...(o as unknown as DctcOptions), backend: backend as DctcOptions['backend'] };
}

function shape(f: DctcFixture) {
  const { batch: N, time: T, classes: C } = f.options as { batch: number; time: number; classes: number };
  return { N, T, C };
}

/** Gradient entries of sequence n on frames t ≥ T_n must be exactly 0. */
function expectPaddedZero(f: DctcFixture, grad: Float32Array): void {
  const { N, T, C } = shape(f);
  for (let n = 0; n < N; n++) {
    for (let t = f.inputLengths[n]; t < T; t++) {
      for (let k = 0; k < C; k++) {
        const i = f.layout === 'NTC' ? (n * T + t) * C + k : (t * N + n) * C + k;
        if (grad[i] !== 0) throw new Error(`grad (padded): sequence ${n}, frame ${t}, class ${k} is ${grad[i]}`);
      }
    }
  }
}

const available = backendsUnderTest();

it('the DCTC fixtures are the committed set', () => {
  expect(fixtures.length).toBe(18);
  expect(fixtures.some((f) => f.impossible.length > 0)).toBe(true);
  for (const a of ['ratio', 'posterior', 'viterbi']) {
    expect(
      fixtures.some((f) => (f.options.alignment ?? 'ratio') === a),
      a,
    ).toBe(true);
  }
});

for (const b of available) {
  const title = `DCTC golden fixtures (PyTorch float64), backend '${b.name}'`;
  describe(title, () => {
    it('the backend is available', () => expect(b.ok, b.why).toBe(true));
    for (const f of fixtures) {
      it(`${f.name}: ${f.description}`, () => {
        const { N, T, C } = shape(f);
        const data = Float32Array.from(f.data);
        const r = dctcLoss(data, toOptions(f, b.name));
        const want = f.expected;
        expect(r.backend).toBe(b.name);
        expect(r.losses).toBeInstanceOf(Float32Array);
        expect(r.ctcLosses).toBeInstanceOf(Float32Array);
        expect(r.distillLosses).toBeInstanceOf(Float32Array);
        expect(r.alignment).toBeInstanceOf(Int32Array);
        expect(Array.from(r.alignment), 'alignment').toEqual(want.alignment);
        expectLossesClose(r.ctcLosses, nums(want.ctcLosses), TOL, 'ctcLosses');
        expectLossesClose(r.distillLosses, nums(want.distillLosses), TOL, 'distillLosses');
        expectLossesClose(r.losses, nums(want.losses), TOL, 'losses');
        expectLossesClose([r.loss], [num(want.loss)], TOL, 'loss');
        expect(r.grad).toBeInstanceOf(Float32Array);
        expectClose(r.grad!, nums(want.grad), TOL, 'grad', sequenceBlocks(N, T, C, f.layout));
        expectPaddedZero(f, r.grad!);
        expect(data).toEqual(Float32Array.from(f.data)); // the input is not modified
      });
    }

    it('grad: false gives the same values and no gradient', () => {
      const f = fixtures.find((c) => c.name === 'dctc_ratio_margin_mean')!;
      const r = dctcLoss(Float32Array.from(f.data), { ...toOptions(f, b.name), grad: false });
      expect((r as { grad?: Float32Array }).grad).toBeUndefined();
      expect(Array.from(r.alignment)).toEqual(f.expected.alignment);
      expectLossesClose(r.losses, nums(f.expected.losses), TOL, 'losses');
      expectLossesClose([r.loss], [num(f.expected.loss)], TOL, 'loss');
    });
  });
}
