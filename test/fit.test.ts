// CTC as iterative fitting (Li & Wang; ctcLoss option `fit`): the native CPU backend against the float64 reference,
// and against the equations themselves (Eq. 13–18) checked from the outputs: the modified target y' (posterior),
// the frame weights ŵ_t recovered from the gradient, and the unchanged loss.
import { describe, expect, it } from 'vitest';
import { backends, ctcLoss, ctcLossAsync, type CtcOptions, type FitOptions } from '../lib/index.js';
import { normalizeCtc } from '../lib/options.js';
import * as ref from '../lib/reference/index.js';
import { ctcCase, type CtcCase, expectClose, expectLossesClose, sequenceBlocks } from './helpers.js';

const TOL = 1e-5;
const native = backends().cpu;
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function optionsOf(c: CtcCase): CtcOptions {
  const { logits: _, ...options } = c;
  return options;
}

/** Offset of frame (n, t) in an N×T×C array. */
function row(layout: 'NTC' | 'TNC', N: number, T: number, C: number, n: number, t: number): number {
  return layout === 'NTC' ? (n * T + t) * C : (t * N + n) * C;
}

/** softmax of every frame, in float64. */
function softmax(x: Float32Array, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += C) {
    let m = -Infinity;
    for (let k = 0; k < C; k++) m = Math.max(m, x[i + k]);
    let s = 0;
    for (let k = 0; k < C; k++) s += out[i + k] = Math.exp(x[i + k] - m);
    for (let k = 0; k < C; k++) out[i + k] /= s;
  }
  return out;
}

function compareFit(data: Float32Array, options: CtcOptions, what: string) {
  const { problem } = normalizeCtc('test', data, options);
  const want = ref.ctcLoss(data, problem);
  const got = ctcLoss(data, { ...options, backend: 'cpu' });
  expect(got.backend).toBe('cpu');
  expectLossesClose(got.losses, want.losses, TOL, `${what} losses`);
  if (Number.isFinite(want.loss)) expectLossesClose([got.loss], [want.loss], TOL, `${what} loss`);
  else expect(got.loss).toBe(want.loss);
  const blocks = sequenceBlocks(problem.batch, problem.time, problem.classes, problem.layout);
  if (problem.grad) expectClose(got.grad!, want.grad!, TOL, `${what} grad`, blocks);
  if (problem.posterior) expectClose(got.posterior!, want.posterior!, TOL, `${what} posterior`, blocks);
  return { got, want };
}

const FITS: FitOptions[] = [
  { alpha: 0.3 },
  { alpha: 0.7, alphaScope: 'sequence' },
  { gamma: 0.5 },
  { gamma: 1 },
  { gamma: 2 },
  { alpha: 0.5, gamma: 1 },
  { alpha: 0.2, alphaScope: 'sequence', gamma: 2 },
  { alpha: 0.9, alphaScope: 'batch', gamma: 0.5 },
];

describe.runIf(native)('fit: native CPU vs reference', () => {
  it('α in both scopes, γ ∈ {0.5, 1, 2}, α + γ: random shapes, blank ≠ 0, variable lengths, both layouts', () => {
    const reductions = ['mean', 'sum', 'none'] as const;
    for (let seed = 1; seed <= 48; seed++) {
      const c = ctcCase(seed);
      const fit = FITS[seed % FITS.length];
      compareFit(
        c.logits,
        { ...optionsOf(c), fit, reduction: reductions[seed % 3], posterior: true },
        `seed ${seed} ${JSON.stringify(fit)}`,
      );
    }
  });

  it('larger shapes', () => {
    for (let seed = 100; seed < 104; seed++) {
      const c = ctcCase(seed, { maxT: 120, maxC: 200, maxN: 6 });
      compareFit(c.logits, { ...optionsOf(c), fit: FITS[seed % FITS.length], posterior: true }, `large seed ${seed}`);
    }
  });

  it('explicit TNC with blank ≠ 0 and T_n = 0', () => {
    const N = 4,
      T = 9,
      C = 6;
    const logits = new Float32Array(N * T * C).map((_, i) => Math.sin(i * 1.7) * 3);
    const options: CtcOptions = {
      batch: N,
      time: T,
      classes: C,
      layout: 'TNC',
      blank: 3,
      inputLengths: [9, 0, 5, 7],
      targets: [[1, 2, 2], [], [5, 4], [0]],
      posterior: true,
      reduction: 'sum',
    };
    for (const fit of FITS) compareFit(logits, { ...options, fit }, `TNC ${JSON.stringify(fit)}`);
  });

  it("impossible sequences are left out of α's sums and keep zero grad and posterior", () => {
    for (let seed = 300; seed < 330; seed++) {
      const c = ctcCase(seed, { allowImpossible: true, maxT: 8 });
      const plain = ctcLoss(c.logits, { ...optionsOf(c), backend: 'cpu' });
      for (const zeroInfinity of [false, true]) {
        const fit = FITS[seed % FITS.length];
        const { got } = compareFit(
          c.logits,
          { ...optionsOf(c), fit, zeroInfinity, posterior: true, reduction: 'sum' },
          `impossible seed ${seed}`,
        );
        for (let n = 0; n < c.batch; n++) {
          if (Number.isFinite(plain.losses[n])) continue;
          for (let t = 0; t < c.time; t++) {
            const o = row(c.layout, c.batch, c.time, c.classes, n, t);
            for (let k = 0; k < c.classes; k++) {
              expect(got.grad![o + k]).toBe(0);
              expect(got.posterior![o + k]).toBe(0);
            }
          }
        }
      }
    }
  });
});

describe.runIf(native)('fit: the equations, checked on the native outputs', () => {
  it('the losses are those of plain CTC; α off and γ = 0 is plain CTC bit for bit', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = ctcCase(seed, { allowImpossible: seed % 4 === 0 });
      const o = { ...optionsOf(c), posterior: true, backend: 'cpu' as const };
      const plain = ctcLoss(c.logits, o);
      for (const fit of FITS) {
        const r = ctcLoss(c.logits, { ...o, fit });
        expect(bits(r.losses).equals(bits(plain.losses))).toBe(true);
        expect(r.loss).toBe(plain.loss);
      }
      for (const fit of [{}, { gamma: 0 }, { alphaScope: 'sequence' as const, gamma: 0 }]) {
        const r = ctcLoss(c.logits, { ...o, fit });
        expect(bits(r.losses).equals(bits(plain.losses))).toBe(true);
        expect(bits(r.grad!).equals(bits(plain.grad!))).toBe(true);
        expect(bits(r.posterior!).equals(bits(plain.posterior!))).toBe(true);
      }
    }
  });

  it("γ alone with posterior and no grad returns plain CTC's posterior (γ moves only the gradient)", () => {
    for (let seed = 50; seed < 60; seed++) {
      const c = ctcCase(seed, { allowImpossible: seed % 3 === 0 });
      const o = { ...optionsOf(c), posterior: true, grad: false, backend: 'cpu' as const };
      const plain = ctcLoss(c.logits, o);
      const r = ctcLoss(c.logits, { ...o, fit: { gamma: 1 + (seed % 2) } });
      expect(r.grad).toBeUndefined();
      expect(bits(r.posterior!).equals(bits(plain.posterior!))).toBe(true);
      expect(bits(r.losses).equals(bits(plain.losses))).toBe(true);
    }
  });

  it('posterior is the fitted target: with γ = 0 the gradient is softmax − posterior', () => {
    for (let seed = 30; seed < 45; seed++) {
      const c = ctcCase(seed);
      const fit = { alpha: 0.4, alphaScope: seed % 2 ? ('sequence' as const) : ('batch' as const) };
      const r = ctcLoss(c.logits, { ...optionsOf(c), fit, reduction: 'sum', posterior: true, backend: 'cpu' });
      const y = softmax(c.logits, c.classes);
      for (let n = 0; n < c.batch; n++) {
        for (let t = 0; t < c.time; t++) {
          const o = row(c.layout, c.batch, c.time, c.classes, n, t);
          for (let k = 0; k < c.classes; k++) {
            const want = t < c.inputLengths[n] ? y[o + k] - r.posterior![o + k] : 0;
            expect(Math.abs(r.grad![o + k] - want)).toBeLessThan(2e-6);
          }
        }
      }
    }
  });

  it("α (Eq. 13–16): y' = renormalised f_k·y'_plain with f from V_k and N_k over the scope", () => {
    for (let seed = 50; seed < 70; seed++) {
      const c = ctcCase(seed, { allowImpossible: seed % 3 === 0 });
      const { batch: N, time: T, classes: C, layout, blank } = c;
      const alpha = 0.15 + 0.7 * ((seed * 0.37) % 1);
      for (const alphaScope of ['batch', 'sequence'] as const) {
        const base = { ...optionsOf(c), posterior: true, grad: false, backend: 'cpu' as const };
        const plain = ctcLoss(c.logits, base);
        const fitted = ctcLoss(c.logits, { ...base, fit: { alpha, alphaScope } });
        const live = (n: number) => Number.isFinite(plain.losses[n]) && c.inputLengths[n] > 0;
        const scopes =
          alphaScope === 'batch' ? [Array.from({ length: N }, (_, n) => n)] : Array.from({ length: N }, (_, n) => [n]);
        const want = new Float64Array(N * T * C);
        for (const scope of scopes) {
          const V = new Float64Array(C);
          const counts = new Float64Array(C);
          for (const n of scope) {
            if (!live(n)) continue;
            for (const k of c.targets[n]) counts[k]++;
            for (let t = 0; t < c.inputLengths[n]; t++) {
              const o = row(layout, N, T, C, n, t);
              for (let k = 0; k < C; k++) V[k] += plain.posterior![o + k];
            }
          }
          let L = 0;
          for (let k = 0; k < C; k++) if (k !== blank) L += counts[k];
          const f = new Float64Array(C).fill(1);
          if (L > 0) {
            for (let k = 0; k < C; k++) {
              const num = k === blank ? (1 - alpha) * L : alpha * counts[k];
              f[k] = V[k] > 0 ? num / V[k] : 0;
            }
          }
          for (const n of scope) {
            if (!live(n)) continue;
            for (let t = 0; t < c.inputLengths[n]; t++) {
              const o = row(layout, N, T, C, n, t);
              let s = 0;
              for (let k = 0; k < C; k++) s += want[o + k] = f[k] * plain.posterior![o + k];
              for (let k = 0; k < C; k++) want[o + k] = s > 0 ? want[o + k] / s : 0;
            }
          }
        }
        expectClose(
          fitted.posterior!,
          want,
          1e-4,
          `seed ${seed} ${alphaScope} posterior`,
          sequenceBlocks(N, T, C, layout),
        );
      }
    }
  });

  it("γ (Eq. 17–18): the gradient is ŵ_t·(y_t − y'_t) with ŵ ∝ w^γ, w_t = max_k (y'_tk − y_tk), mean 1", () => {
    for (let seed = 80; seed < 95; seed++) {
      const c = ctcCase(seed);
      const { batch: N, time: T, classes: C, layout } = c;
      for (const gamma of [0.5, 1, 2]) {
        const fit = { gamma, ...(seed % 2 ? { alpha: 0.6 } : {}) };
        const r = ctcLoss(c.logits, { ...optionsOf(c), fit, reduction: 'sum', posterior: true, backend: 'cpu' });
        const y = softmax(c.logits, C);
        for (let n = 0; n < N; n++) {
          const Tn = c.inputLengths[n];
          if (Tn === 0) continue;
          const w = new Float64Array(Tn);
          let sum = 0;
          for (let t = 0; t < Tn; t++) {
            const o = row(layout, N, T, C, n, t);
            let m = 0;
            for (let k = 0; k < C; k++) m = Math.max(m, r.posterior![o + k] - y[o + k]);
            sum += w[t] = m ** gamma;
          }
          for (let t = 0; t < Tn; t++) {
            const o = row(layout, N, T, C, n, t);
            const hat = sum > 0 ? (Tn * w[t]) / sum : 1;
            for (let k = 0; k < C; k++) {
              const want = hat * (y[o + k] - r.posterior![o + k]);
              expect(Math.abs(r.grad![o + k] - want), `seed ${seed} γ ${gamma} n ${n} t ${t} k ${k}`).toBeLessThan(
                2e-5 * Math.max(1, hat),
              );
            }
          }
        }
      }
    }
  });

  it("reduction 'mean' scales the gradient by 1/(N·max(L_n, 1)), as plain CTC", () => {
    const c = ctcCase(7, { maxN: 5 });
    const o = { ...optionsOf(c), fit: { alpha: 0.5, gamma: 1 }, backend: 'cpu' as const };
    const sum = ctcLoss(c.logits, { ...o, reduction: 'sum' });
    const mean = ctcLoss(c.logits, { ...o, reduction: 'mean' });
    for (let n = 0; n < c.batch; n++) {
      const scale = 1 / (c.batch * Math.max(c.targets[n].length, 1));
      for (let t = 0; t < c.time; t++) {
        const b = row(c.layout, c.batch, c.time, c.classes, n, t);
        for (let k = 0; k < c.classes; k++) expect(mean.grad![b + k]).toBeCloseTo(sum.grad![b + k] * scale, 6);
      }
    }
  });

  it('is deterministic: threads 1 and 2 give bitwise the same outputs (batch scope sums across threads)', () => {
    const c = ctcCase(11, { maxT: 60, maxC: 50, maxN: 8 });
    for (const fit of FITS) {
      const o = { ...optionsOf(c), fit, posterior: true, backend: 'cpu' as const };
      const a = ctcLoss(c.logits, { ...o, threads: 1 });
      for (const threads of [2, 3, 0]) {
        const b = ctcLoss(c.logits, { ...o, threads });
        expect(bits(b.grad!).equals(bits(a.grad!))).toBe(true);
        expect(bits(b.posterior!).equals(bits(a.posterior!))).toBe(true);
        expect(b.loss).toBe(a.loss);
      }
    }
  });

  it('async and out give the sync results', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = ctcCase(seed);
      const o = { ...optionsOf(c), fit: FITS[seed], posterior: true, backend: 'cpu' as const };
      const sync = ctcLoss(c.logits, o);
      const grad = new Float32Array(c.logits.length).fill(NaN);
      const r = await ctcLossAsync(c.logits, { ...o, out: { grad } });
      expect(r.grad).toBe(grad);
      expect(bits(grad).equals(bits(sync.grad!))).toBe(true);
      expect(bits(r.posterior!).equals(bits(sync.posterior!))).toBe(true);
      expect(bits(r.losses).equals(bits(sync.losses))).toBe(true);
    }
  });
});

describe('fit on the js backend', () => {
  it('passes fit to the reference and returns float32', async () => {
    const c = ctcCase(5);
    const o = { ...optionsOf(c), posterior: true, backend: 'js' as const };
    const { problem } = normalizeCtc('test', c.logits, { ...o, fit: { alpha: 0.5, gamma: 1 } });
    expect(problem.fit).toEqual({ alpha: 0.5, alphaScope: 'batch', gamma: 1 });
    const want = ref.ctcLoss(c.logits, problem);
    const got = ctcLoss(c.logits, { ...o, fit: { alpha: 0.5, gamma: 1 } });
    expect(got.backend).toBe('js');
    expect(Array.from(got.grad!)).toEqual(Array.from(Float32Array.from(want.grad!)));
    expect(Array.from(got.posterior!)).toEqual(Array.from(Float32Array.from(want.posterior!)));
    const later = await ctcLossAsync(c.logits, { ...o, fit: { alpha: 0.5, gamma: 1 } });
    expect(Array.from(later.grad!)).toEqual(Array.from(got.grad!));
  });

  it('normalises α off and γ = 0 to null (plain CTC)', () => {
    const c = ctcCase(5);
    for (const fit of [{}, { gamma: 0 }, { alphaScope: 'sequence' as const }]) {
      expect(normalizeCtc('test', c.logits, { ...optionsOf(c), fit }).problem.fit).toBeNull();
    }
    expect(normalizeCtc('test', c.logits, optionsOf(c)).problem.fit).toBeNull();
    expect(
      normalizeCtc('test', c.logits, { ...optionsOf(c), fit: { alpha: 0.25, alphaScope: 'sequence' } }).problem.fit,
    ).toEqual({
      alpha: 0.25,
      alphaScope: 'sequence',
      gamma: 0,
    });
  });
});
