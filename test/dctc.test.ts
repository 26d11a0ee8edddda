// Distillation CTC (dctcLoss): the native CPU backend against the float64 reference, and its parts checked against
// what they are made of (CTC under softmax(s·a), its posterior, ctcAlign, the closed-form distillation term).
import { describe, expect, it } from 'vitest';
import {
  backends,
  ctcAlign,
  ctcLoss,
  dctcLoss,
  dctcLossAsync,
  type DctcAlignment,
  type DctcOptions,
} from '../lib/index.js';
import { normalizeDctc } from '../lib/options.js';
import * as ref from '../lib/reference/index.js';
import { ctcCase, type CtcCase, expectClose, expectLossesClose, sequenceBlocks } from './helpers.js';

const TOL = 1e-5;
const native = backends().cpu;
const bits = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const ALIGNMENTS: DctcAlignment[] = ['ratio', 'posterior', 'viterbi'];
const MARGINS = [undefined, { s: 2, m: 0.3 }, { s: 0.5 }, { m: 1 }] as const;
const REDUCTIONS = ['mean', 'sum', 'none'] as const;

function optionsOf(c: CtcCase): DctcOptions {
  const { logits: _, ...options } = c;
  return options;
}

function row(layout: 'NTC' | 'TNC', N: number, T: number, C: number, n: number, t: number): number {
  return layout === 'NTC' ? (n * T + t) * C : (t * N + n) * C;
}

function logSoftmax(x: ArrayLike<number>, o: number, C: number, s = 1): Float64Array {
  const out = new Float64Array(C);
  let m = -Infinity;
  for (let k = 0; k < C; k++) m = Math.max(m, s * x[o + k]);
  let z = 0;
  for (let k = 0; k < C; k++) z += Math.exp(s * x[o + k] - m);
  for (let k = 0; k < C; k++) out[k] = s * x[o + k] - m - Math.log(z);
  return out;
}

function compareDctc(data: Float32Array, options: DctcOptions, what: string) {
  const { problem } = normalizeDctc('test', data, options);
  const want = ref.dctcLoss(data, problem);
  const got = dctcLoss(data, { ...options, backend: 'cpu' });
  expect(got.backend).toBe('cpu');
  expect(Array.from(got.alignment), `${what} alignment`).toEqual(Array.from(want.alignment));
  expectLossesClose(got.ctcLosses, want.ctcLosses, TOL, `${what} ctcLosses`);
  expectLossesClose(got.distillLosses, want.distillLosses, TOL, `${what} distillLosses`);
  expectLossesClose(got.losses, want.losses, TOL, `${what} losses`);
  if (Number.isFinite(want.loss)) expectLossesClose([got.loss], [want.loss], TOL, `${what} loss`);
  else expect(got.loss).toBe(want.loss);
  if (problem.grad) {
    const blocks = sequenceBlocks(problem.batch, problem.time, problem.classes, problem.layout);
    expectClose(got.grad!, want.grad!, TOL, `${what} grad`, blocks);
  } else {
    expect(got.grad).toBeUndefined();
  }
  return { got, want };
}

describe.runIf(native)('DCTC: native CPU vs reference', () => {
  it('every alignment mode × margin on/off × every reduction, random shapes, blank ≠ 0, both layouts', () => {
    let seed = 1;
    for (const alignment of ALIGNMENTS) {
      for (const margin of MARGINS) {
        for (const reduction of REDUCTIONS) {
          for (let rep = 0; rep < 3; rep++, seed++) {
            const c = ctcCase(seed);
            const options: DctcOptions = {
              ...optionsOf(c),
              alignment,
              reduction,
              lambda: rep === 0 ? undefined : 0.3 * rep,
              ...(margin ? { margin } : {}),
              ...(rep === 2 ? { ctcWeight: 0.5 } : {}),
            };
            compareDctc(c.logits, options, `seed ${seed} ${alignment} ${JSON.stringify(margin)} ${reduction}`);
          }
        }
      }
    }
  });

  it('larger shapes', () => {
    for (let seed = 200; seed < 206; seed++) {
      const c = ctcCase(seed, { maxT: 100, maxC: 150, maxN: 5 });
      compareDctc(
        c.logits,
        { ...optionsOf(c), alignment: ALIGNMENTS[seed % 3], lambda: 0.1, margin: { s: 1.5, m: 0.2 } },
        `large seed ${seed}`,
      );
    }
  });

  it('impossible sequences: zeroInfinity on (default) and off, every alignment mode', () => {
    for (let seed = 300; seed < 324; seed++) {
      const c = ctcCase(seed, { allowImpossible: true, maxT: 8 });
      for (const zeroInfinity of [true, false]) {
        const alignment = ALIGNMENTS[seed % 3];
        const o = { ...optionsOf(c), alignment, lambda: 0.5, reduction: REDUCTIONS[seed % 3] };
        const { got } = compareDctc(
          c.logits,
          { ...o, zeroInfinity },
          `impossible seed ${seed} zeroInfinity ${zeroInfinity}`,
        );
        const plain = ctcLoss(c.logits, { ...optionsOf(c), reduction: 'none', backend: 'cpu' });
        for (let n = 0; n < c.batch; n++) {
          if (Number.isFinite(plain.losses[n])) continue;
          // The CTC term: +Infinity or 0; z* is the blank on every valid frame.
          expect(got.ctcLosses[n]).toBe(zeroInfinity ? 0 : Infinity);
          expect(got.losses[n]).toBe(zeroInfinity ? Math.fround(0.5 * got.distillLosses[n]) : Infinity);
          for (let t = 0; t < c.time; t++)
            expect(got.alignment[n * c.time + t]).toBe(t < c.inputLengths[n] ? c.blank : -1);
        }
      }
      // The CTC part of the gradient is zero for impossible sequences either way.
      const a = dctcLoss(c.logits, { ...optionsOf(c), zeroInfinity: true, backend: 'cpu' });
      const b = dctcLoss(c.logits, { ...optionsOf(c), zeroInfinity: false, backend: 'cpu' });
      expect(bits(a.grad!).equals(bits(b.grad!))).toBe(true);
    }
  });

  it('ctcWeight 0: only the distillation term, no NaN from impossible sequences', () => {
    for (let seed = 400; seed < 415; seed++) {
      const c = ctcCase(seed, { allowImpossible: true, maxT: 10 });
      for (const zeroInfinity of [false, true]) {
        const o = { ...optionsOf(c), ctcWeight: 0, lambda: 1, zeroInfinity, reduction: 'sum' as const };
        const { got } = compareDctc(c.logits, o, `β = 0 seed ${seed}`);
        for (let n = 0; n < c.batch; n++) {
          expect(got.losses[n]).toBe(got.distillLosses[n]);
        }
        expect(Number.isFinite(got.loss)).toBe(true);
        expect(got.grad!.every(Number.isFinite)).toBe(true);
      }
    }
  });

  it('T_n = 0 and explicit TNC with blank ≠ 0', () => {
    const N = 3,
      T = 6,
      C = 5;
    const logits = new Float32Array(N * T * C).map((_, i) => Math.cos(i * 0.9) * 2);
    const o: DctcOptions = {
      batch: N,
      time: T,
      classes: C,
      layout: 'TNC',
      blank: 2,
      inputLengths: [6, 0, 4],
      targets: [[1, 1, 4], [], [0]],
    };
    for (const alignment of ALIGNMENTS) {
      const { got } = compareDctc(
        logits,
        { ...o, alignment, reduction: 'sum', margin: { s: 1.2, m: 0.5 } },
        `TNC ${alignment}`,
      );
      expect(got.ctcLosses[1]).toBe(0);
      expect(got.distillLosses[1]).toBe(0);
      expect(Array.from(got.alignment.subarray(T, 2 * T))).toEqual(new Array(T).fill(-1));
    }
  });
});

describe.runIf(native)('DCTC: its parts', () => {
  it('losses = β·ctcLosses + λ·distillLosses; ctcLosses = CTC under softmax(s·a)', () => {
    for (let seed = 1; seed <= 15; seed++) {
      const c = ctcCase(seed);
      const s = [1, 2, 0.5][seed % 3];
      const lambda = 0.2,
        ctcWeight = 0.7;
      const r = dctcLoss(c.logits, {
        ...optionsOf(c),
        lambda,
        ctcWeight,
        margin: { s, m: 0.1 },
        zeroInfinity: false,
        backend: 'cpu',
      });
      const scaled = c.logits.map((v) => v * s);
      const ctc = ctcLoss(scaled, { ...optionsOf(c), reduction: 'none', backend: 'cpu' });
      expectLossesClose(r.ctcLosses, ctc.losses, 1e-5, `seed ${seed} ctcLosses`);
      const sum = Array.from(r.ctcLosses, (v, n) => ctcWeight * v + lambda * r.distillLosses[n]);
      expectLossesClose(r.losses, sum, 1e-6, `seed ${seed} losses`);
      expectLossesClose([r.loss], [sum.reduce((a, b) => a + b, 0) / c.batch], 1e-6, `seed ${seed} mean`);
    }
  });

  it("'posterior' alignment is argmax_k y'_tk; 'viterbi' is ctcAlign's path", () => {
    for (let seed = 20; seed < 35; seed++) {
      const c = ctcCase(seed);
      const { batch: N, time: T, classes: C, layout } = c;
      const post = ctcLoss(c.logits, { ...optionsOf(c), posterior: true, grad: false, backend: 'cpu' }).posterior!;
      const r = dctcLoss(c.logits, { ...optionsOf(c), alignment: 'posterior', backend: 'cpu' });
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < c.inputLengths[n]; t++) {
          const o = row(layout, N, T, C, n, t);
          const z = r.alignment[n * T + t];
          for (let k = 0; k < C; k++) expect(post[o + k]).toBeLessThanOrEqual(post[o + z] + 1e-6);
        }
      }
      const v = dctcLoss(c.logits, { ...optionsOf(c), alignment: 'viterbi', backend: 'cpu' });
      const path = ctcAlign(c.logits, { ...optionsOf(c), backend: 'cpu' } as never).paths;
      expect(Array.from(v.alignment)).toEqual(Array.from(path));
    }
  });

  it('the distillation term in closed form, and its gradient with β = 0', () => {
    for (let seed = 40; seed < 52; seed++) {
      const c = ctcCase(seed);
      const { batch: N, time: T, classes: C, layout } = c;
      const s = 1.5,
        m = seed % 2 ? 0 : 0.4,
        lambda = 1;
      const r = dctcLoss(c.logits, {
        ...optionsOf(c),
        ctcWeight: 0,
        lambda,
        margin: { s, m },
        reduction: 'sum',
        backend: 'cpu',
      });
      for (let n = 0; n < N; n++) {
        let distill = 0;
        for (let t = 0; t < T; t++) {
          const o = row(layout, N, T, C, n, t);
          if (t >= c.inputLengths[n]) {
            for (let k = 0; k < C; k++) expect(r.grad![o + k]).toBe(0);
            continue;
          }
          const z = r.alignment[n * T + t];
          // Q_t = softmax(s·a_t − s·m·e_z)
          const shifted = Array.from({ length: C }, (_, k) => c.logits[o + k] - (k === z ? m : 0));
          const logQ = logSoftmax(shifted, 0, C, s);
          distill -= logQ[z];
          for (let k = 0; k < C; k++) {
            const want = s * (Math.exp(logQ[k]) - (k === z ? 1 : 0));
            expect(Math.abs(r.grad![o + k] - want)).toBeLessThan(3e-6 * s);
          }
        }
        expectLossesClose([r.distillLosses[n]], [distill], 1e-5, `seed ${seed} distill ${n}`);
      }
    }
  });

  it('threads 1 and 2 give bitwise the same outputs', () => {
    const c = ctcCase(11, { maxT: 60, maxC: 50, maxN: 8 });
    for (const alignment of ALIGNMENTS) {
      const o = { ...optionsOf(c), alignment, margin: { s: 1.3, m: 0.2 }, backend: 'cpu' as const };
      const a = dctcLoss(c.logits, { ...o, threads: 1 });
      const b = dctcLoss(c.logits, { ...o, threads: 2 });
      for (const key of ['grad', 'losses', 'alignment', 'ctcLosses', 'distillLosses'] as const) {
        expect(bits(b[key]!).equals(bits(a[key]!)), key).toBe(true);
      }
      expect(b.loss).toBe(a.loss);
    }
  });

  it('out.grad and async give the sync results; grad: false returns none', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = ctcCase(seed);
      const o = { ...optionsOf(c), alignment: ALIGNMENTS[seed % 3], backend: 'cpu' as const };
      const sync = dctcLoss(c.logits, o);
      const grad = new Float32Array(c.logits.length).fill(NaN);
      const reused = dctcLoss(c.logits, { ...o, out: { grad } });
      expect(reused.grad).toBe(grad);
      expect(bits(grad).equals(bits(sync.grad!))).toBe(true);
      grad.fill(NaN);
      const r = await dctcLossAsync(c.logits, { ...o, out: { grad } });
      expect(r.backend).toBe('cpu');
      expect(r.grad).toBe(grad);
      expect(bits(grad).equals(bits(sync.grad!))).toBe(true);
      for (const key of ['losses', 'alignment', 'ctcLosses', 'distillLosses'] as const) {
        expect(bits(r[key]).equals(bits(sync[key])), key).toBe(true);
      }
      expect(r.loss).toBe(sync.loss);
      const none = dctcLoss(c.logits, { ...o, grad: false });
      expect((none as { grad?: Float32Array }).grad).toBeUndefined();
      expect(bits(none.losses).equals(bits(sync.losses))).toBe(true);
    }
  });
});

describe('DCTC on the js backend', () => {
  it('returns the reference as float32, into out.grad when given', async () => {
    const c = ctcCase(9);
    const o = { ...optionsOf(c), backend: 'js' as const, margin: { s: 2 } };
    const { problem } = normalizeDctc('test', c.logits, o);
    expect(problem).toMatchObject({
      zeroInfinity: true,
      lambda: 0.01,
      ctcWeight: 1,
      alignment: 'ratio',
      scale: 2,
      margin: 0,
      input: 'logits',
    });
    const want = ref.dctcLoss(c.logits, problem);
    const grad = new Float32Array(c.logits.length);
    const got = dctcLoss(c.logits, { ...o, out: { grad } });
    expect(got.backend).toBe('js');
    expect(got.grad).toBe(grad);
    expect(Array.from(grad)).toEqual(Array.from(Float32Array.from(want.grad!)));
    expect(Array.from(got.losses)).toEqual(Array.from(Float32Array.from(want.losses)));
    expect(Array.from(got.alignment)).toEqual(Array.from(want.alignment));
    const later = await dctcLossAsync(c.logits, o);
    expect(Array.from(later.distillLosses)).toEqual(Array.from(got.distillLosses));
  });
});
