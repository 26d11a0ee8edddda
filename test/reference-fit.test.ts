// The float64 reference of issue 3 against first principles: CTC's iterative-fitting options (α, γ) against their
// defining equations, the Viterbi alignment against brute-force enumeration of all C^T paths, and the DCTC gradient
// against central finite differences with the latent alignment z* held fixed.
import { describe, expect, it } from 'vitest';
import { ctcAlign, ctcLoss, dctcLoss } from '../lib/reference/index.js';
import { viterbi } from '../lib/reference/align.js';
import { extendedLabel } from '../lib/reference/ctc.js';
import { dctcLossWithAlignment, latentAlignment } from '../lib/reference/dctc.js';
import {
  classTotals,
  frameDeviation,
  frameWeights,
  labelCounts,
  nonBlankFactors,
  rescaleFrames,
  type FitSequence,
} from '../lib/reference/fit.js';
import type { AlignProblem, CtcProblem, DctcAlignment, DctcProblem, Fit, Layout, Reduction } from '../lib/types.js';
import { ctcCase, rng, type CtcCase } from './helpers.js';

// ---- helpers -------------------------------------------------------------------------------------------------------

const idx = (layout: Layout, N: number, T: number, C: number, n: number, t: number, k: number) =>
  layout === 'NTC' ? (n * T + t) * C + k : (t * N + n) * C + k;

interface Shape {
  batch: number;
  time: number;
  classes: number;
  layout?: Layout;
  blank?: number;
  inputLengths?: ArrayLike<number>;
  targets: number[][];
}

function supervision(s: Shape) {
  const targetLengths = Int32Array.from(s.targets.map((l) => l.length));
  const targetOffsets = new Int32Array(s.batch);
  for (let n = 1; n < s.batch; n++) targetOffsets[n] = targetOffsets[n - 1] + targetLengths[n - 1];
  return {
    batch: s.batch,
    time: s.time,
    classes: s.classes,
    layout: s.layout ?? ('NTC' as Layout),
    blank: s.blank ?? 0,
    inputLengths: Int32Array.from(s.inputLengths ?? Array(s.batch).fill(s.time)),
    targets: Int32Array.from(s.targets.flat()),
    targetLengths,
    targetOffsets,
  };
}

function makeCtc(s: Shape, o: Partial<CtcProblem> = {}): CtcProblem {
  return {
    ...supervision(s),
    input: 'logits',
    reduction: 'mean',
    zeroInfinity: false,
    grad: true,
    posterior: false,
    out: {},
    fit: null,
    ...o,
  };
}

function makeDctc(s: Shape, o: Partial<DctcProblem> = {}): DctcProblem {
  return {
    ...supervision(s),
    input: 'logits',
    reduction: 'mean',
    zeroInfinity: true,
    lambda: 0.5,
    ctcWeight: 1,
    alignment: 'ratio',
    scale: 1,
    margin: 0,
    grad: true,
    out: {},
    ...o,
  };
}

function makeAlign(s: Shape, input: AlignProblem['input'] = 'logits'): AlignProblem {
  return { ...supervision(s), input };
}

/** A ctcCase from test/helpers.ts as float64 data and a shape. */
function fromCase(c: CtcCase): { x: Float64Array; shape: Shape } {
  return { x: Float64Array.from(c.logits), shape: { ...c } };
}

function randomData(r: () => number, size: number, scale = 2): Float64Array {
  const x = new Float64Array(size);
  for (let i = 0; i < size; i++) x[i] = scale * (2 * r() - 1);
  return x;
}

function logSoftmax(x: ArrayLike<number>, o: number, C: number): number[] {
  let m = -Infinity;
  for (let k = 0; k < C; k++) m = Math.max(m, x[o + k]);
  let s = 0;
  for (let k = 0; k < C; k++) s += Math.exp(x[o + k] - m);
  // (x − m) − ln Σ e^(x − m), the reference's order (README, "Numerics at the extremes": nothing cancels).
  const z = Math.log(s);
  return Array.from({ length: C }, (_, k) => x[o + k] - m - z);
}

/** Sequence n's valid frames of a dense array, compact: out[t·C + k]. */
function rows(a: ArrayLike<number>, s: Shape, n: number, Tn: number): Float64Array {
  const { batch: N, time: T, classes: C } = s;
  const out = new Float64Array(Tn * C);
  for (let t = 0; t < Tn; t++) for (let k = 0; k < C; k++) out[t * C + k] = a[idx(s.layout ?? 'NTC', N, T, C, n, t, k)];
  return out;
}

function logYRows(x: Float64Array, s: Shape, n: number, Tn: number): Float64Array {
  const C = s.classes;
  const out = new Float64Array(Tn * C);
  for (let t = 0; t < Tn; t++) out.set(logSoftmax(x, idx(s.layout ?? 'NTC', s.batch, s.time, C, n, t, 0), C), t * C);
  return out;
}

/** Central differences of f at every entry of x (h = 1e-6), against `analytic`: |fd − g| ≤ 1e-6·(1 + |g|). */
function expectFiniteDifferences(
  x: Float64Array,
  f: (x: Float64Array) => number,
  analytic: Float64Array,
  what: string,
) {
  const h = 1e-6;
  let worst = 0;
  let where = -1;
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const fp = f(x);
    x[i] = x0 - h;
    const fm = f(x);
    x[i] = x0;
    const err = Math.abs((fp - fm) / (2 * h) - analytic[i]) / (1 + Math.abs(analytic[i]));
    if (!(err <= worst)) {
      worst = err;
      where = i;
    }
  }
  expect(worst, `${what}: worst normalised FD error at ${where}`).toBeLessThan(1e-6);
}

const collapse = (path: ArrayLike<number>, blank: number) => {
  const out: number[] = [];
  for (let t = 0; t < path.length; t++)
    if (path[t] !== blank && (t === 0 || path[t] !== path[t - 1])) out.push(path[t]);
  return out;
};

/**
 * Brute force over all C^T_n paths: the best path that collapses to l, with ties broken as SPEC3's rule implies
 * (backtracking prefers stay over advance over skip, and the final blank at the end): among the best paths, the one
 * whose state sequence, read from the last frame backwards, is lexicographically largest.
 */
function bruteForceBest(
  logY: number[][],
  l: number[],
  blank: number,
): { path: number[] | null; score: number; logP: number } {
  const Tn = logY.length;
  const C = Tn ? logY[0].length : 0;
  let best: { path: number[]; states: number[]; score: number } | null = null;
  let pl = 0;
  const pi = new Array(Tn).fill(0);
  for (let code = 0; code < C ** Tn; code++) {
    let c = code;
    for (let t = 0; t < Tn; t++) {
      pi[t] = c % C;
      c = Math.floor(c / C);
    }
    const col = collapse(pi, blank);
    if (col.length !== l.length || col.some((v, i) => v !== l[i])) continue;
    // The path's states in l': a blank after j labels is state 2j, the j-th label (1-based) is state 2j − 1.
    const states: number[] = [];
    let j = 0;
    for (let t = 0; t < Tn; t++) {
      if (pi[t] !== blank && (t === 0 || pi[t] !== pi[t - 1])) j++;
      states.push(pi[t] === blank ? 2 * j : 2 * j - 1);
    }
    let score = 0;
    for (let t = 0; t < Tn; t++) score += logY[t][pi[t]];
    pl += Math.exp(score);
    if (score === -Infinity) continue;
    let better = best === null || score > best.score;
    if (best && score === best.score) {
      for (let t = Tn - 1; t >= 0; t--)
        if (states[t] !== best.states[t]) {
          better = states[t] > best.states[t];
          break;
        }
    }
    if (better) best = { path: [...pi], states, score };
  }
  if (Tn === 0)
    return l.length === 0 ? { path: [], score: 0, logP: 0 } : { path: null, score: -Infinity, logP: -Infinity };
  return best
    ? { path: best.path, score: best.score, logP: Math.log(pl) }
    : { path: null, score: -Infinity, logP: -Infinity };
}

const FITS: Fit[] = [];
for (const alphaScope of ['batch', 'sequence'] as const)
  for (const [alpha, gamma] of [
    [0.3, 0],
    [0.7, 0],
    [0, 1],
    [0, 2.5],
    [0.5, 0.5],
    [0.2, 1],
  ])
    FITS.push({ alpha, gamma, alphaScope });

// ---- CTC with iterative fitting -------------------------------------------------------------------------------------

describe('reference CTC with fit (α, γ)', () => {
  it('fit null, undefined and {alpha: 0, gamma: 0} give exactly plain CTC', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 12, maxC: 6, allowImpossible: seed % 3 === 0 }));
      for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
        const plain = ctcLoss(x, makeCtc(shape, { reduction, posterior: true }));
        const variants: (Fit | null | undefined)[] = [
          undefined,
          { alpha: 0, gamma: 0, alphaScope: 'batch' },
          { alpha: 0, gamma: 0, alphaScope: 'sequence' },
        ];
        for (const fit of variants) {
          const p = makeCtc(shape, { reduction, posterior: true });
          if (fit === undefined) delete (p as Partial<CtcProblem>).fit;
          else p.fit = fit;
          const res = ctcLoss(x, p);
          expect(Array.from(res.losses)).toEqual(Array.from(plain.losses));
          expect(Object.is(res.loss, plain.loss)).toBe(true);
          expect(Array.from(res.grad!)).toEqual(Array.from(plain.grad!));
          expect(Array.from(res.posterior!)).toEqual(Array.from(plain.posterior!));
        }
      }
    }
  });

  it('Eq. 15 factors give the non-blank share exactly α over the scope, each label class α·N_k/L (both scopes)', () => {
    for (let seed = 11; seed <= 30; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 14, maxC: 7 }));
      const { classes: C, blank = 0 } = shape;
      const plain = ctcLoss(x, makeCtc(shape, { posterior: true, grad: false }));
      const seqs: FitSequence[] = [];
      for (let n = 0; n < shape.batch; n++) {
        const Tn = shape.inputLengths![n];
        if (Tn > 0) seqs.push({ Tn, labels: shape.targets[n], yPrime: rows(plain.posterior!, shape, n, Tn) });
      }
      const scopes = [seqs, ...seqs.map((q) => [q])];
      for (const alpha of [0.1, 0.5, 0.85])
        for (const scope of scopes) {
          const V = classTotals(scope, C);
          const Nk = labelCounts(scope, C, blank);
          const L = Nk.reduce((a, b) => a + b, 0);
          expect(Nk[blank]).toBe(0);
          const f = nonBlankFactors(V, Nk, alpha, blank);
          if (L === 0) {
            expect(f).toBeNull();
            continue;
          }
          let nonBlank = 0;
          let all = 0;
          for (let k = 0; k < C; k++) {
            if (V[k] === 0) expect(f![k]).toBe(0);
            all += f![k] * V[k];
            if (k !== blank) {
              nonBlank += f![k] * V[k];
              expect(f![k] * V[k]).toBeCloseTo(alpha * Nk[k], 12);
            }
          }
          // V_blank = 0 only when the labels fill every frame (no blank anywhere): then the share is 1.
          if (V[blank] > 0) expect(nonBlank / all).toBeCloseTo(alpha, 13);
          expect(f![blank] * V[blank]).toBeCloseTo(V[blank] > 0 ? (1 - alpha) * L : 0, 12);
        }
    }
  });

  it('α: posterior = the Eq. 16 renormalised y″ over the scope; every valid frame sums to 1; loss unchanged', () => {
    for (let seed = 31; seed <= 50; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 12, maxC: 6, allowImpossible: seed % 4 === 0 }));
      const { batch: N, time: T, classes: C, blank = 0, layout = 'NTC' } = shape;
      const plain = ctcLoss(x, makeCtc(shape, { posterior: true, reduction: 'sum' }));
      for (const alphaScope of ['batch', 'sequence'] as const) {
        const alpha = 0.15 + 0.7 * rng(seed)();
        const res = ctcLoss(
          x,
          makeCtc(shape, { posterior: true, reduction: 'sum', fit: { alpha, gamma: 0, alphaScope } }),
        );
        expect(Array.from(res.losses)).toEqual(Array.from(plain.losses));
        expect(res.loss).toBe(plain.loss);
        // The expected y′: plain y′ of the feasible sequences, rescaled by the scope's factors.
        const seqs: (FitSequence & { n: number })[] = [];
        for (let n = 0; n < N; n++) {
          const Tn = shape.inputLengths![n];
          if (Tn > 0 && Number.isFinite(plain.losses[n]))
            seqs.push({ n, Tn, labels: shape.targets[n], yPrime: rows(plain.posterior!, shape, n, Tn) });
        }
        for (const scope of alphaScope === 'batch' ? [seqs] : seqs.map((q) => [q])) {
          const f = nonBlankFactors(classTotals(scope, C), labelCounts(scope, C, blank), alpha, blank);
          if (f) for (const q of scope) rescaleFrames(q.yPrime, q.Tn, C, f);
        }
        const feasible = new Map(seqs.map((q) => [q.n, q]));
        for (let n = 0; n < N; n++) {
          const q = feasible.get(n);
          const Tn = shape.inputLengths![n];
          const logY = logYRows(x, shape, n, Tn);
          for (let t = 0; t < T; t++) {
            let sum = 0;
            for (let k = 0; k < C; k++) {
              const i = idx(layout, N, T, C, n, t, k);
              const want = q && t < Tn ? q.yPrime[t * C + k] : 0;
              expect(res.posterior![i]).toBe(want);
              // γ = 0: grad = y − y′ (reduction 'sum': scale 1) with the fitted y′.
              expect(res.grad![i]).toBe(q && t < Tn ? Math.exp(logY[t * C + k]) - want : 0);
              sum += res.posterior![i];
            }
            if (q && t < Tn) expect(sum).toBeCloseTo(1, 13);
            else expect(sum).toBe(0);
          }
        }
      }
    }
  });

  it('α over the batch ignores impossible sequences and T_n = 0 (same y′ as the batch without them)', () => {
    const r = rng(5);
    const C = 4;
    const T = 5;
    const x = randomData(r, 4 * T * C);
    // n = 0 and 2 feasible; n = 1 impossible (needs 3 frames for (2, 2), has 2); n = 3 has T_n = 0.
    const shape: Shape = {
      batch: 4,
      time: T,
      classes: C,
      blank: 1,
      inputLengths: [5, 2, 4, 0],
      targets: [[2, 3], [2, 2], [0], [3]],
    };
    const sub: Shape = { batch: 2, time: T, classes: C, blank: 1, inputLengths: [5, 4], targets: [[2, 3], [0]] };
    const xSub = new Float64Array(2 * T * C);
    xSub.set(x.subarray(0, T * C), 0);
    xSub.set(x.subarray(2 * T * C, 3 * T * C), T * C);
    const fit: Fit = { alpha: 0.4, gamma: 1.5, alphaScope: 'batch' };
    const all = ctcLoss(x, makeCtc(shape, { posterior: true, reduction: 'sum', zeroInfinity: true, fit }));
    const part = ctcLoss(xSub, makeCtc(sub, { posterior: true, reduction: 'sum', fit }));
    expect(Array.from(all.posterior!.subarray(0, T * C))).toEqual(Array.from(part.posterior!.subarray(0, T * C)));
    expect(Array.from(all.posterior!.subarray(2 * T * C, 3 * T * C))).toEqual(
      Array.from(part.posterior!.subarray(T * C)),
    );
    expect(Array.from(all.grad!.subarray(2 * T * C, 3 * T * C))).toEqual(Array.from(part.grad!.subarray(T * C)));
    for (const n of [1, 3])
      for (let i = n * T * C; i < (n + 1) * T * C; i++) {
        expect(all.posterior![i]).toBe(0);
        expect(all.grad![i]).toBe(0);
      }
  });

  it('a scope without labels is left unchanged by α', () => {
    const r = rng(8);
    const shape: Shape = { batch: 2, time: 4, classes: 3, blank: 2, targets: [[], []] };
    const x = randomData(r, 2 * 4 * 3);
    const plain = ctcLoss(x, makeCtc(shape, { posterior: true }));
    const res = ctcLoss(x, makeCtc(shape, { posterior: true, fit: { alpha: 0.5, gamma: 0, alphaScope: 'batch' } }));
    expect(Array.from(res.posterior!)).toEqual(Array.from(plain.posterior!));
    expect(Array.from(res.grad!)).toEqual(Array.from(plain.grad!));
  });

  it('γ: ŵ has mean 1 per sequence and ŵ ∝ w^γ; grad row t = scale·ŵ_t·(y_t − y′_t); loss unchanged', () => {
    for (let seed = 51; seed <= 70; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 12, maxC: 6, allowImpossible: seed % 5 === 0 }));
      const { batch: N, time: T, classes: C, layout = 'NTC' } = shape;
      for (const fit of FITS) {
        for (const reduction of ['mean', 'sum'] as Reduction[]) {
          const plain = ctcLoss(x, makeCtc(shape, { reduction }));
          const res = ctcLoss(x, makeCtc(shape, { reduction, posterior: true, fit }));
          expect(Array.from(res.losses)).toEqual(Array.from(plain.losses));
          expect(res.loss).toBe(plain.loss);
          for (let n = 0; n < N; n++) {
            const Tn = shape.inputLengths![n];
            if (Tn === 0 || !Number.isFinite(plain.losses[n])) {
              for (let t = 0; t < T; t++)
                for (let k = 0; k < C; k++) expect(res.grad![idx(layout, N, T, C, n, t, k)]).toBe(0);
              continue;
            }
            const logY = logYRows(x, shape, n, Tn);
            const yPrime = rows(res.posterior!, shape, n, Tn);
            let weights: Float64Array = new Float64Array(Tn).fill(1);
            if (fit.gamma !== 0) {
              weights = frameWeights(logY, yPrime, Tn, C, fit.gamma);
              const w = frameDeviation(logY, yPrime, Tn, C);
              const wg = Array.from(w, (v) => v ** fit.gamma);
              const total = wg.reduce((a, b) => a + b, 0);
              expect(weights.reduce((a, b) => a + b, 0)).toBeCloseTo(Tn, 12);
              for (let t = 0; t < Tn; t++) {
                // w_t = max_k (y′ − y) ≥ 0 (Σ_k (y′ − y) = 0).
                let m = -Infinity;
                for (let k = 0; k < C; k++) m = Math.max(m, yPrime[t * C + k] - Math.exp(logY[t * C + k]));
                expect(w[t]).toBe(Math.max(0, m));
                if (total > 0) expect(weights[t]).toBeCloseTo((Tn * wg[t]) / total, 12);
                else expect(weights[t]).toBe(1);
              }
            }
            const scale = reduction === 'mean' ? 1 / Math.max(shape.targets[n].length, 1) / N : 1;
            for (let t = 0; t < T; t++)
              for (let k = 0; k < C; k++) {
                const i = idx(layout, N, T, C, n, t, k);
                const want = t < Tn ? scale * weights[t] * (Math.exp(logY[t * C + k]) - yPrime[t * C + k]) : 0;
                expect(Math.abs(res.grad![i] - want)).toBeLessThanOrEqual(1e-15 * (1 + Math.abs(want)));
              }
          }
        }
      }
    }
  });

  it('γ: all-zero deviations give ŵ = 1; a single key frame takes all the weight', () => {
    // y′ = y exactly (one-hot rows as ln y = 0 / −∞): w = 0 everywhere.
    const C = 3;
    const Tn = 3;
    const logY = Float64Array.from([0, -Infinity, -Infinity, -Infinity, 0, -Infinity, 0, -Infinity, -Infinity]);
    const yPrime = Float64Array.from([1, 0, 0, 0, 1, 0, 1, 0, 0]);
    expect(Array.from(frameWeights(logY, yPrime, Tn, C, 2))).toEqual([1, 1, 1]);
    // Only frame 1 deviates: ŵ = (0, 3, 0).
    const yPrime2 = Float64Array.from([1, 0, 0, 0.5, 0.5, 0, 1, 0, 0]);
    expect(Array.from(frameDeviation(logY, yPrime2, Tn, C))).toEqual([0, 0.5, 0]);
    const w2 = frameWeights(logY, yPrime2, Tn, C, 0.7);
    expect([w2[0], w2[2]]).toEqual([0, 0]);
    expect(w2[1]).toBeCloseTo(3, 15);
  });

  it('fit with log-probs input is a RangeError', () => {
    const shape: Shape = { batch: 1, time: 2, classes: 2, targets: [[1]] };
    const lp = Float64Array.from([Math.log(0.5), Math.log(0.5), Math.log(0.5), Math.log(0.5)]);
    expect(() =>
      ctcLoss(lp, makeCtc(shape, { input: 'logProbs', fit: { alpha: 0.5, gamma: 0, alphaScope: 'batch' } })),
    ).toThrow(RangeError);
  });
});

// ---- Viterbi / ctcAlign -----------------------------------------------------------------------------------------------

describe('reference Viterbi (ctcAlign)', () => {
  it('best path and score equal brute-force enumeration; collapse(path) = l; score ≤ ln p(l|x)', () => {
    for (let seed = 201; seed <= 240; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 6, maxC: 4, maxN: 3, allowImpossible: seed % 3 === 0 }));
      const { batch: N, time: T, classes: C, blank = 0, layout = 'NTC' } = shape;
      const input = seed % 2 ? 'logits' : 'logProbs';
      const data = input === 'logits' ? x : new Float64Array(x.length);
      if (input === 'logProbs') for (let i = 0; i < x.length; i += C) data.set(logSoftmax(x, i, C), i);
      const res = ctcAlign(data, makeAlign(shape, input));
      const ctc = ctcLoss(x, makeCtc(shape, { reduction: 'none', grad: false }));
      for (let n = 0; n < N; n++) {
        const Tn = shape.inputLengths![n];
        const logY = Array.from({ length: Tn }, (_, t) => logSoftmax(x, idx(layout, N, T, C, n, t, 0), C));
        const bf = bruteForceBest(logY, shape.targets[n], blank);
        const row = Array.from(res.paths.subarray(n * T, (n + 1) * T));
        if (bf.path === null) {
          expect(res.scores[n]).toBe(-Infinity);
          expect(row).toEqual(new Array(T).fill(-1));
          expect(ctc.losses[n]).toBe(Infinity);
          continue;
        }
        expect(row).toEqual([...bf.path, ...new Array(T - Tn).fill(-1)]);
        expect(res.scores[n]).toBeCloseTo(bf.score, 12);
        expect(collapse(bf.path, blank)).toEqual(shape.targets[n]);
        expect(res.scores[n]).toBeLessThanOrEqual(-ctc.losses[n] + 1e-12);
      }
    }
  });

  it('exact ties follow the shared rule (stay > advance > skip; the final blank at the end)', () => {
    // Integer log-probs: every path score is exact, so equal scores tie exactly in both computations.
    for (let seed = 301; seed <= 340; seed++) {
      const r = rng(seed);
      const c = ctcCase(seed, { maxT: 6, maxC: 3, maxN: 2, allowImpossible: true });
      const { batch: N, time: T, classes: C, blank, layout } = c;
      const lp = new Float64Array(N * T * C);
      for (let i = 0; i < lp.length; i++) lp[i] = seed % 4 === 0 ? 0 : 0 - Math.floor(r() * 2); // never −0
      const res = ctcAlign(lp, makeAlign(c, 'logProbs'));
      for (let n = 0; n < N; n++) {
        const Tn = c.inputLengths[n];
        const logY = Array.from({ length: Tn }, (_, t) =>
          Array.from(lp.subarray(idx(layout, N, T, C, n, t, 0), idx(layout, N, T, C, n, t, 0) + C)),
        );
        const bf = bruteForceBest(logY, c.targets[n], blank);
        const row = Array.from(res.paths.subarray(n * T, (n + 1) * T));
        if (bf.path === null) expect(row).toEqual(new Array(T).fill(-1));
        else expect(row).toEqual([...bf.path, ...new Array(T - Tn).fill(-1)]);
        expect(res.scores[n]).toBe(bf.score);
      }
    }
    // Uniform, T = 3, l = (1): the label as early as possible, then the final blank: (1, b, b).
    const u = viterbi(new Float64Array(9).fill(-Math.log(3)), extendedLabel([1], 0), 3, 3, 0);
    expect(Array.from(u.path!)).toEqual([1, 0, 0]);
  });

  it('impossible → a row of −1 and −Infinity; T_n = 0 → score 0 (L = 0) or −Infinity; padded frames −1', () => {
    const r = rng(9);
    const shape: Shape = {
      batch: 5,
      time: 3,
      classes: 3,
      blank: 2,
      layout: 'TNC',
      inputLengths: [2, 0, 0, 3, 2],
      targets: [[1, 1], [], [0], [0, 1], [1]],
    };
    const x = randomData(r, 5 * 3 * 3);
    const res = ctcAlign(x, makeAlign(shape));
    expect(res.scores[0]).toBe(-Infinity);
    expect(Object.is(res.scores[1], 0)).toBe(true);
    expect(res.scores[2]).toBe(-Infinity);
    expect(Number.isFinite(res.scores[3])).toBe(true);
    expect(Number.isFinite(res.scores[4])).toBe(true);
    for (const n of [0, 1, 2]) expect(Array.from(res.paths.subarray(n * 3, n * 3 + 3))).toEqual([-1, -1, -1]);
    expect(res.paths[4 * 3 + 2]).toBe(-1);
    expect(collapse(res.paths.subarray(9, 12), 2)).toEqual([0, 1]);
    // Feasible by length but every path has probability 0 (class 1 impossible at both frames).
    const lp = Float64Array.from([Math.log(0.5), -Infinity, Math.log(0.5), Math.log(0.5), -Infinity, Math.log(0.5)]);
    const none = ctcAlign(lp, makeAlign({ batch: 1, time: 2, classes: 3, targets: [[1]] }, 'logProbs'));
    expect(none.scores[0]).toBe(-Infinity);
    expect(Array.from(none.paths)).toEqual([-1, -1]);
  });
});

// ---- DCTC ---------------------------------------------------------------------------------------------------------

const MODES: DctcAlignment[] = ['ratio', 'posterior', 'viterbi'];

describe('reference DCTC', () => {
  it('gradient matches central finite differences with z* held fixed (modes, margin, reductions, β, λ)', () => {
    let checked = 0;
    for (let seed = 401; seed <= 412; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 7, maxC: 5, maxN: 3, allowImpossible: seed % 3 === 0 }));
      for (const alignment of MODES)
        for (const [scale, margin] of [
          [1, 0],
          [2, 0.3],
        ])
          for (const reduction of ['mean', 'sum', 'none'] as Reduction[]) {
            const lambda = seed % 2 ? 0.7 : 0.05;
            const ctcWeight = seed % 4 === 1 ? 0 : 1.3;
            const p = makeDctc(shape, { alignment, scale, margin, reduction, lambda, ctcWeight });
            const res = dctcLoss(x, p);
            expect(Number.isFinite(res.loss)).toBe(true);
            // The same loss with this z* given.
            const fixed = dctcLossWithAlignment(x, p, res.alignment);
            expect(fixed.loss).toBe(res.loss);
            expect(Array.from(fixed.grad!)).toEqual(Array.from(res.grad!));
            const pNoGrad = { ...p, grad: false };
            expectFiniteDifferences(
              x,
              (xx) => dctcLossWithAlignment(xx, pNoGrad, res.alignment).loss,
              res.grad!,
              `seed ${seed} ${alignment} s=${scale} ${reduction}`,
            );
            checked++;
          }
    }
    expect(checked).toBe(12 * 3 * 2 * 3);
  });

  it('losses: L_n = β·ctc_n + λ·distill_n; distill from softmax(u − s·m·e_z) directly; reductions', () => {
    for (let seed = 421; seed <= 432; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 9, maxC: 6, allowImpossible: true }));
      const { batch: N, time: T, classes: C, layout = 'NTC' } = shape;
      for (const alignment of MODES) {
        const s = 1.7;
        const m = 0.4;
        const none = dctcLoss(
          x,
          makeDctc(shape, { alignment, scale: s, margin: m, lambda: 0.3, ctcWeight: 0.8, reduction: 'none' }),
        );
        const mean = dctcLoss(
          x,
          makeDctc(shape, { alignment, scale: s, margin: m, lambda: 0.3, ctcWeight: 0.8, reduction: 'mean' }),
        );
        const sum = dctcLoss(
          x,
          makeDctc(shape, { alignment, scale: s, margin: m, lambda: 0.3, ctcWeight: 0.8, reduction: 'sum' }),
        );
        const u = x.map((v) => s * v);
        const ctc = ctcLoss(u, makeCtc(shape, { reduction: 'none', zeroInfinity: true, grad: false }));
        let total = 0;
        for (let n = 0; n < N; n++) {
          const Tn = shape.inputLengths![n];
          expect(none.ctcLosses[n]).toBeCloseTo(ctc.losses[n], 12);
          let distill = 0;
          for (let t = 0; t < Tn; t++) {
            const z = none.alignment[n * T + t];
            expect(z).toBeGreaterThanOrEqual(0);
            const o = idx(layout, N, T, C, n, t, 0);
            const shifted = Array.from(u.subarray(o, o + C), (v, k) => (k === z ? v - s * m : v));
            distill -= logSoftmax(shifted, 0, C)[z];
          }
          for (let t = Tn; t < T; t++) expect(none.alignment[n * T + t]).toBe(-1);
          expect(none.distillLosses[n]).toBeCloseTo(distill, 11);
          expect(none.losses[n]).toBeCloseTo(0.8 * ctc.losses[n] + 0.3 * distill, 11);
          total += none.losses[n];
        }
        expect(none.loss).toBeCloseTo(total, 11);
        expect(sum.loss).toBeCloseTo(total, 11);
        expect(mean.loss).toBeCloseTo(total / N, 11);
        expect(Array.from(sum.grad!)).toEqual(Array.from(none.grad!));
        for (let i = 0; i < x.length; i++) expect(mean.grad![i]).toBeCloseTo(none.grad![i] / N, 14);
      }
    }
  });

  it('λ = 0 is β·CTC on s·a (loss and gradient)', () => {
    for (let seed = 441; seed <= 452; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 10, maxC: 6, allowImpossible: seed % 2 === 0 }));
      const s = seed % 3 === 0 ? 1 : 2.5;
      const u = x.map((v) => s * v);
      const ctc = ctcLoss(u, makeCtc(shape, { reduction: 'sum', zeroInfinity: true }));
      for (const alignment of MODES) {
        const res = dctcLoss(
          x,
          makeDctc(shape, { alignment, scale: s, margin: 0.2, lambda: 0, ctcWeight: 0.6, reduction: 'sum' }),
        );
        for (let n = 0; n < shape.batch; n++) expect(res.losses[n]).toBeCloseTo(0.6 * ctc.losses[n], 12);
        expect(res.loss).toBeCloseTo(0.6 * ctc.loss, 12);
        for (let i = 0; i < x.length; i++) expect(res.grad![i]).toBeCloseTo(s * 0.6 * ctc.grad![i], 13);
      }
    }
  });

  it('z*: each mode follows its definition (posterior argmax, ratio argmax, Viterbi path); impossible → blank', () => {
    for (let seed = 461; seed <= 480; seed++) {
      const { x, shape } = fromCase(ctcCase(seed, { maxT: 10, maxC: 6, allowImpossible: true }));
      const { batch: N, time: T, classes: C, blank = 0, layout = 'NTC' } = shape;
      const s = 1.5;
      const u = x.map((v) => s * v);
      const post = ctcLoss(u, makeCtc(shape, { posterior: true, grad: false, zeroInfinity: true, reduction: 'none' }));
      const vit = ctcAlign(u, makeAlign(shape));
      const z = Object.fromEntries(
        MODES.map((a) => [a, dctcLoss(x, makeDctc(shape, { alignment: a, scale: s, grad: false })).alignment]),
      );
      for (let n = 0; n < N; n++) {
        const Tn = shape.inputLengths![n];
        const impossible = vit.scores[n] === -Infinity;
        for (let t = 0; t < Tn; t++) {
          const o = idx(layout, N, T, C, n, t, 0);
          const yp = Array.from(post.posterior!.subarray(o, o + C));
          const P = logSoftmax(u, o, C).map(Math.exp);
          const argmax = (v: number[]) => v.reduce((b, e, k) => (e > v[b] ? k : b), 0);
          if (impossible) {
            for (const a of MODES) expect(z[a][n * T + t]).toBe(blank);
            continue;
          }
          expect(z.posterior[n * T + t]).toBe(argmax(yp));
          expect(z.ratio[n * T + t]).toBe(argmax(yp.map((v, k) => v / Math.max(P[k], 1e-8))));
          expect(z.viterbi[n * T + t]).toBe(vit.paths[n * T + t]);
        }
        for (let t = Tn; t < T; t++) for (const a of MODES) expect(z[a][n * T + t]).toBe(-1);
      }
    }
  });

  it("on a sharp, feasible case 'posterior' and 'viterbi' recover the path the logits peak on", () => {
    // Two sequences, blank 2, TNC; logits 9 on the chosen path's class, 0 elsewhere.
    const chosen = [
      [2, 0, 0, 2, 1, 2, 0, 0],
      [1, 2, 2, 1, 1, 0, 3, 2],
    ];
    const N = 2;
    const T = 8;
    const C = 4;
    const blank = 2;
    const x = new Float64Array(N * T * C);
    for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) x[idx('TNC', N, T, C, n, t, chosen[n][t])] = 9;
    const shape: Shape = {
      batch: N,
      time: T,
      classes: C,
      blank,
      layout: 'TNC',
      targets: chosen.map((pi) => collapse(pi, blank)),
    };
    expect(shape.targets).toEqual([
      [0, 1, 0],
      [1, 1, 0, 3],
    ]);
    const vit = ctcAlign(x, makeAlign(shape));
    expect(Array.from(vit.paths)).toEqual(chosen.flat());
    // 'ratio' is left out: y′_tk / P_tk is ≈ 1 for every class that some near-best path uses at t, so on a sharp
    // case it picks among near-ties (its definition is checked in the previous test).
    for (const alignment of ['posterior', 'viterbi'] as const) {
      const res = dctcLoss(x, makeDctc(shape, { alignment, scale: 1.2, margin: 0.1 }));
      expect(Array.from(res.alignment), alignment).toEqual(chosen.flat());
    }
  });

  it('latentAlignment: an all-zero y′ gives the blank; Viterbi without a path gives the blank', () => {
    const C = 3;
    const logP = new Float64Array(2 * C).fill(-Math.log(3));
    const lPrime = extendedLabel([1, 1], 0); // needs 3 frames, has 2
    for (const mode of MODES)
      expect(Array.from(latentAlignment(mode, logP, new Float64Array(2 * C), lPrime, 2, C, 0))).toEqual([0, 0]);
  });

  it('impossible sequences: zeroInfinity (default) → ctc 0 and only the distillation gradient; otherwise +Infinity; β = 0 no NaN', () => {
    const r = rng(17);
    const shape: Shape = {
      batch: 3,
      time: 3,
      classes: 3,
      blank: 1,
      inputLengths: [2, 3, 0],
      targets: [[2, 2], [0, 2], []],
    };
    const x = randomData(r, 3 * 3 * 3);
    const zi = dctcLoss(x, makeDctc(shape, { lambda: 0.5, reduction: 'sum' }));
    expect(zi.ctcLosses[0]).toBe(0);
    expect(Array.from(zi.alignment.subarray(0, 3))).toEqual([1, 1, -1]);
    expect(Object.is(zi.ctcLosses[2], 0)).toBe(true);
    expect(zi.distillLosses[2]).toBe(0);
    expect(Array.from(zi.alignment.subarray(6, 9))).toEqual([-1, -1, -1]);
    // Sequence 0's gradient is λ·(Q − e_blank) only.
    for (let t = 0; t < 2; t++) {
      const q = logSoftmax(x, t * 3, 3).map(Math.exp);
      for (let k = 0; k < 3; k++) expect(zi.grad![t * 3 + k]).toBeCloseTo(0.5 * (q[k] - (k === 1 ? 1 : 0)), 14);
    }
    const inf = dctcLoss(x, makeDctc(shape, { lambda: 0.5, reduction: 'sum', zeroInfinity: false }));
    expect(inf.ctcLosses[0]).toBe(Infinity);
    expect(inf.losses[0]).toBe(Infinity);
    expect(inf.loss).toBe(Infinity);
    expect(Array.from(inf.grad!)).toEqual(Array.from(zi.grad!));
    const noCtc = dctcLoss(x, makeDctc(shape, { lambda: 0.5, reduction: 'sum', zeroInfinity: false, ctcWeight: 0 }));
    expect(noCtc.ctcLosses[0]).toBe(Infinity);
    expect(noCtc.losses[0]).toBeCloseTo(0.5 * noCtc.distillLosses[0], 14);
    expect(Number.isFinite(noCtc.loss)).toBe(true);
  });
});
