// The float64 reference against first principles: central finite differences for every gradient, brute-force
// enumeration of all C^T paths for the CTC loss and posterior, closed forms, and hand-made decoding cases.
import { describe, expect, it } from 'vitest';
import { aceCount, aceDecode, aceLoss, ctcGreedyDecode, ctcLoss } from '../lib/reference/index.js';
import type { AceProblem, CtcProblem, DecodeProblem, Layout, Reduction } from '../lib/types.js';
import { randInt, rng } from './helpers.js';

// ---- helpers -------------------------------------------------------------------------------------------------------

function randomData(r: () => number, size: number, scale = 2): Float64Array {
  const x = new Float64Array(size);
  for (let i = 0; i < size; i++) x[i] = scale * (2 * r() - 1);
  return x;
}

const idx = (layout: Layout, N: number, T: number, C: number, n: number, t: number, k: number) =>
  layout === 'NTC' ? (n * T + t) * C + k : (t * N + n) * C + k;

interface Shape {
  batch: number;
  time: number;
  classes: number;
  layout?: Layout;
  blank?: number;
  inputLengths?: number[];
}

function makeCtc(s: Shape & { targets: number[][] }, o: Partial<CtcProblem> = {}): CtcProblem {
  const targetLengths = Int32Array.from(s.targets.map((l) => l.length));
  const targetOffsets = new Int32Array(s.batch);
  for (let n = 1; n < s.batch; n++) targetOffsets[n] = targetOffsets[n - 1] + targetLengths[n - 1];
  return {
    batch: s.batch,
    time: s.time,
    classes: s.classes,
    layout: s.layout ?? 'NTC',
    blank: s.blank ?? 0,
    inputLengths: Int32Array.from(s.inputLengths ?? Array(s.batch).fill(s.time)),
    input: 'logits',
    targets: Int32Array.from(s.targets.flat()),
    targetLengths,
    targetOffsets,
    reduction: 'mean',
    zeroInfinity: false,
    grad: true,
    posterior: false,
    out: {},
    fit: null,
    ...o,
  };
}

/** counts: N rows of C; the blank column is overwritten with T_n − Σ others, as lib/options.ts does. */
function makeAce(s: Shape & { counts: number[][] }, o: Partial<AceProblem> = {}): AceProblem {
  const blank = s.blank ?? 0;
  const inputLengths = Int32Array.from(s.inputLengths ?? Array(s.batch).fill(s.time));
  const counts = new Float64Array(s.batch * s.classes);
  for (let n = 0; n < s.batch; n++) {
    let others = 0;
    for (let k = 0; k < s.classes; k++) {
      if (k === blank) continue;
      counts[n * s.classes + k] = s.counts[n][k];
      others += s.counts[n][k];
    }
    counts[n * s.classes + blank] = inputLengths[n] - others;
  }
  return {
    batch: s.batch,
    time: s.time,
    classes: s.classes,
    layout: s.layout ?? 'NTC',
    blank,
    inputLengths,
    input: 'logits',
    counts,
    variant: 'ce',
    eps: 1e-10,
    reduction: 'mean',
    grad: true,
    out: {},
    ...o,
  };
}

function makeDecode(s: Shape, input: DecodeProblem['input'] = 'logits'): DecodeProblem {
  return {
    batch: s.batch,
    time: s.time,
    classes: s.classes,
    layout: s.layout ?? 'NTC',
    blank: s.blank ?? 0,
    inputLengths: Int32Array.from(s.inputLengths ?? Array(s.batch).fill(s.time)),
    input,
  };
}

/** Labels needed frames: L + number of adjacent repeats. */
const need = (l: number[]) => l.length + l.filter((v, i) => i > 0 && l[i - 1] === v).length;

/** A random feasible CTC case: N ≤ 3, T ≤ 8, C ≤ 5, blank anywhere, repeats favoured, variable lengths. */
function randomCtcShape(r: () => number): Shape & { targets: number[][] } {
  const batch = randInt(r, 1, 3);
  const time = randInt(r, 1, 8);
  const classes = randInt(r, 2, 5);
  const blank = randInt(r, 0, classes - 1);
  const layout: Layout = r() < 0.5 ? 'NTC' : 'TNC';
  const inputLengths: number[] = [];
  const targets: number[][] = [];
  for (let n = 0; n < batch; n++) {
    const Tn = n === 0 ? time : randInt(r, 1, time);
    inputLengths.push(Tn);
    const l: number[] = [];
    const L = randInt(r, 0, Tn);
    for (let j = 0; j < L; j++) {
      let k: number;
      if (j > 0 && r() < 0.4) k = l[j - 1];
      else
        do k = randInt(r, 0, classes - 1);
        while (k === blank);
      l.push(k);
    }
    while (need(l) > Tn) l.pop();
    targets.push(l);
  }
  return { batch, time, classes, blank, layout, inputLengths, targets };
}

function logSoftmax(x: ArrayLike<number>, o: number, C: number): number[] {
  let m = -Infinity;
  for (let k = 0; k < C; k++) m = Math.max(m, x[o + k]);
  let s = 0;
  for (let k = 0; k < C; k++) s += Math.exp(x[o + k] - m);
  const z = m + Math.log(s);
  return Array.from({ length: C }, (_, k) => x[o + k] - z);
}

/** Per-frame log-softmax of a whole dense input (any layout: frames are contiguous C-blocks in both). */
function logSoftmaxAll(x: Float64Array, C: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i += C) out.set(logSoftmax(x, i, C), i);
  return out;
}

/** Central differences of f at every entry of x (h = 1e-6), compared with `analytic`: |fd − g| ≤ 1e-6·(1 + |g|). */
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
    const fd = (fp - fm) / (2 * h);
    const err = Math.abs(fd - analytic[i]) / (1 + Math.abs(analytic[i]));
    if (!(err <= worst)) {
      worst = err;
      where = i;
    }
  }
  expect(worst, `${what}: worst normalised FD error at ${where}`).toBeLessThan(1e-6);
}

/** Brute force over all C^T_n paths: p(l|x) = Σ_{π ∈ B⁻¹(l)} Π_t y_{π_t}^t and p(π_t = k, l | x). */
function bruteForce(logY: number[][], l: number[], blank: number): { p: number; joint: number[][] } {
  const Tn = logY.length;
  const C = Tn ? logY[0].length : 0;
  const joint = logY.map(() => new Array(C).fill(0));
  let p = 0;
  const pi = new Array(Tn).fill(0);
  const total = C ** Tn;
  for (let code = 0; code < total; code++) {
    let c = code;
    for (let t = 0; t < Tn; t++) {
      pi[t] = c % C;
      c = Math.floor(c / C);
    }
    const collapsed: number[] = [];
    for (let t = 0; t < Tn; t++) if (pi[t] !== blank && (t === 0 || pi[t] !== pi[t - 1])) collapsed.push(pi[t]);
    if (collapsed.length !== l.length || collapsed.some((v, i) => v !== l[i])) continue;
    let logPi = 0;
    for (let t = 0; t < Tn; t++) logPi += logY[t][pi[t]];
    const pPi = Math.exp(logPi);
    p += pPi;
    for (let t = 0; t < Tn; t++) joint[t][pi[t]] += pPi;
  }
  return { p, joint };
}

const REDUCTIONS: Reduction[] = ['mean', 'sum', 'none'];

// ---- CTC -----------------------------------------------------------------------------------------------------------

describe('reference CTC', () => {
  it('gradient w.r.t. logits matches central finite differences, every reduction', () => {
    for (let seed = 1; seed <= 12; seed++) {
      const r = rng(seed);
      const shape = randomCtcShape(r);
      const x = randomData(r, shape.batch * shape.time * shape.classes);
      for (const reduction of REDUCTIONS) {
        const p = makeCtc(shape, { reduction });
        const res = ctcLoss(x, p);
        expect(Number.isFinite(res.loss)).toBe(true);
        const pNoGrad = { ...p, grad: false };
        expectFiniteDifferences(x, (xx) => ctcLoss(xx, pNoGrad).loss, res.grad!, `seed ${seed} ${reduction}`);
      }
    }
  });

  it('gradient w.r.t. log-probs is −scale·y′ and matches central finite differences', () => {
    for (let seed = 21; seed <= 32; seed++) {
      const r = rng(seed);
      const shape = randomCtcShape(r);
      const lp = logSoftmaxAll(randomData(r, shape.batch * shape.time * shape.classes), shape.classes);
      for (const reduction of REDUCTIONS) {
        const p = makeCtc(shape, { reduction, input: 'logProbs', posterior: true });
        const res = ctcLoss(lp, p);
        const pNoGrad = { ...p, grad: false, posterior: false };
        expectFiniteDifferences(lp, (xx) => ctcLoss(xx, pNoGrad).loss, res.grad!, `seed ${seed} ${reduction}`);
        // grad = −scale_n · y′ exactly.
        for (let n = 0; n < p.batch; n++) {
          const scale = reduction === 'mean' ? 1 / (p.batch * Math.max(p.targetLengths[n], 1)) : 1;
          for (let t = 0; t < p.time; t++)
            for (let k = 0; k < p.classes; k++) {
              const i = idx(p.layout, p.batch, p.time, p.classes, n, t, k);
              expect(res.grad![i]).toBe(0 - scale * res.posterior![i]);
            }
        }
      }
    }
  });

  it('loss, posterior and gradient equal brute-force enumeration of all C^T paths', () => {
    for (let seed = 41; seed <= 60; seed++) {
      const r = rng(seed);
      const shape = randomCtcShape(r);
      shape.classes = Math.min(shape.classes, 4);
      shape.blank = Math.min(shape.blank!, shape.classes - 1);
      shape.time = Math.min(shape.time, 6);
      shape.inputLengths = shape.inputLengths!.map((v) => Math.min(v, shape.time));
      shape.targets = shape.targets.map((l, n) => {
        const out = l.map((k) => (k >= shape.classes || k === shape.blank ? (shape.blank! + 1) % shape.classes : k));
        while (need(out) > shape.inputLengths![n]) out.pop();
        return out;
      });
      const { batch: N, time: T, classes: C, layout } = shape;
      const x = randomData(r, N * T * C, 3);
      const p = makeCtc(shape, { reduction: 'sum', posterior: true });
      const res = ctcLoss(x, p);
      let total = 0;
      for (let n = 0; n < N; n++) {
        const Tn = p.inputLengths[n];
        const logY = Array.from({ length: Tn }, (_, t) => logSoftmax(x, idx(layout!, N, T, C, n, t, 0), C));
        const bf = bruteForce(logY, shape.targets[n], p.blank);
        expect(res.losses[n]).toBeCloseTo(-Math.log(bf.p), 12);
        total += -Math.log(bf.p);
        for (let t = 0; t < T; t++)
          for (let k = 0; k < C; k++) {
            const i = idx(layout!, N, T, C, n, t, k);
            const yPrime = t < Tn ? bf.joint[t][k] / bf.p : 0;
            const y = t < Tn ? Math.exp(logY[t][k]) : 0;
            expect(Math.abs(res.posterior![i] - yPrime)).toBeLessThan(1e-12);
            expect(Math.abs(res.grad![i] - (y - yPrime))).toBeLessThan(1e-12);
          }
      }
      expect(res.loss).toBeCloseTo(total, 11);
    }
  });

  it('uniform logits: p(l|x) = (number of valid paths) · C^−T', () => {
    // C = 2 (blank, a), T = 3, l = (a): the paths with one run of a's: a––, –a–, ––a, aa–, –aa, aaa → 6.
    const x = new Float64Array(3 * 2);
    const one = ctcLoss(x, makeCtc({ batch: 1, time: 3, classes: 2, targets: [[1]] }, { reduction: 'sum' }));
    expect(one.losses[0]).toBeCloseTo(-Math.log(6 / 8), 14);
    // Larger cases: count the paths by brute force.
    const cases: { C: number; T: number; l: number[]; blank: number }[] = [
      { C: 3, T: 5, l: [1, 1], blank: 0 },
      { C: 3, T: 6, l: [2, 1, 2], blank: 0 },
      { C: 4, T: 6, l: [0, 0, 3], blank: 2 },
      { C: 2, T: 7, l: [], blank: 1 },
    ];
    for (const { C, T, l, blank } of cases) {
      const logY = Array.from({ length: T }, () => new Array(C).fill(-Math.log(C)));
      const count = Math.round(bruteForce(logY, l, blank).p * C ** T);
      expect(count).toBeGreaterThan(0);
      const res = ctcLoss(new Float64Array(T * C), makeCtc({ batch: 1, time: T, classes: C, blank, targets: [l] }));
      expect(res.losses[0]).toBeCloseTo(-Math.log(count) + T * Math.log(C), 12);
    }
  });

  it('T = 1 with a single label: loss = −log y_l', () => {
    const x = Float64Array.from([0.3, -1.2, 2.0, 0.5]);
    const res = ctcLoss(x, makeCtc({ batch: 1, time: 1, classes: 4, blank: 3, targets: [[2]] }));
    const z = Math.log(Math.exp(0.3) + Math.exp(-1.2) + Math.exp(2.0) + Math.exp(0.5));
    expect(res.losses[0]).toBeCloseTo(-(2.0 - z), 14);
    expect(res.loss).toBeCloseTo(-(2.0 - z), 14);
    // y′ is one-hot on the label, so grad = softmax − e_l.
    const g = res.grad!;
    for (let k = 0; k < 4; k++) expect(g[k]).toBeCloseTo(Math.exp(x[k] - z) - (k === 2 ? 1 : 0), 14);
  });

  it('empty target: loss = −Σ_t log y_blank^t; y′ is one-hot on the blank', () => {
    const r = rng(7);
    const T = 5,
      C = 3,
      blank = 1;
    const x = randomData(r, T * C);
    const res = ctcLoss(x, makeCtc({ batch: 1, time: T, classes: C, blank, targets: [[]] }, { posterior: true }));
    let want = 0;
    for (let t = 0; t < T; t++) want -= logSoftmax(x, t * C, C)[blank];
    expect(res.losses[0]).toBeCloseTo(want, 13);
    expect(res.loss).toBeCloseTo(want, 13); // mean divides by max(L, 1) = 1
    for (let t = 0; t < T; t++)
      for (let k = 0; k < C; k++) expect(res.posterior![t * C + k]).toBeCloseTo(k === blank ? 1 : 0, 14);
  });

  it('posterior sums to 1 on every valid frame and is 0 on padded frames', () => {
    for (let seed = 61; seed <= 70; seed++) {
      const r = rng(seed);
      const shape = randomCtcShape(r);
      const { batch: N, time: T, classes: C } = shape;
      const p = makeCtc(shape, { posterior: true, grad: false });
      const res = ctcLoss(randomData(r, N * T * C, 4), p);
      expect(res.grad).toBeUndefined();
      for (let n = 0; n < N; n++)
        for (let t = 0; t < T; t++) {
          let s = 0;
          for (let k = 0; k < C; k++) {
            const v = res.posterior![idx(p.layout, N, T, C, n, t, k)];
            expect(v).toBeGreaterThanOrEqual(0);
            s += v;
          }
          if (t < p.inputLengths[n]) expect(s).toBeCloseTo(1, 13);
          else expect(s).toBe(0);
        }
    }
  });

  it('impossible alignments: +Infinity (or 0 with zeroInfinity), zero gradient and posterior', () => {
    // n = 0: l = (1, 1) needs 3 frames, has 2; n = 1: T_n = 0 with L = 1; n = 2: feasible; n = 3: T_n = 0, L = 0.
    const shape = {
      batch: 4,
      time: 3,
      classes: 3,
      layout: 'TNC' as Layout,
      inputLengths: [2, 0, 3, 0],
      targets: [[1, 1], [2], [1, 2], []],
    };
    const r = rng(3);
    const x = randomData(r, 4 * 3 * 3);
    for (const reduction of REDUCTIONS) {
      const res = ctcLoss(x, makeCtc(shape, { reduction, posterior: true }));
      expect(res.losses[0]).toBe(Infinity);
      expect(res.losses[1]).toBe(Infinity);
      expect(Number.isFinite(res.losses[2])).toBe(true);
      expect(Object.is(res.losses[3], 0)).toBe(true);
      expect(res.loss).toBe(Infinity);

      const zi = ctcLoss(x, makeCtc(shape, { reduction, posterior: true, zeroInfinity: true }));
      expect(Array.from(zi.losses)).toEqual([0, 0, res.losses[2], 0]);
      expect(zi.loss).toBeCloseTo(reduction === 'mean' ? res.losses[2] / 2 / 4 : res.losses[2], 14);
      for (const out of [res, zi])
        for (const n of [0, 1, 3])
          for (let t = 0; t < 3; t++)
            for (let k = 0; k < 3; k++) {
              const i = idx('TNC', 4, 3, 3, n, t, k);
              expect(out.grad![i]).toBe(0);
              expect(out.posterior![i]).toBe(0);
            }
      // The feasible sequence's gradient is unaffected by the impossible ones (same scale as alone in a batch of 4).
      expect(Array.from({ length: 9 }, (_, j) => zi.grad![idx('TNC', 4, 3, 3, 2, Math.floor(j / 3), j % 3)])).toEqual(
        Array.from({ length: 9 }, (_, j) => res.grad![idx('TNC', 4, 3, 3, 2, Math.floor(j / 3), j % 3)]),
      );
    }
  });

  it('reductions: mean = (1/N) Σ loss_n / max(L_n, 1); sum and none = Σ loss_n; log-probs input agrees', () => {
    const r = rng(99);
    const shape = randomCtcShape(r);
    const x = randomData(r, shape.batch * shape.time * shape.classes);
    const none = ctcLoss(x, makeCtc(shape, { reduction: 'none' }));
    const sum = ctcLoss(x, makeCtc(shape, { reduction: 'sum' }));
    const mean = ctcLoss(x, makeCtc(shape, { reduction: 'mean' }));
    const s = none.losses.reduce((a, b) => a + b, 0);
    expect(none.loss).toBeCloseTo(s, 13);
    expect(sum.loss).toBeCloseTo(s, 13);
    const m = shape.targets.reduce((a, l, n) => a + none.losses[n] / Math.max(l.length, 1), 0) / shape.batch;
    expect(mean.loss).toBeCloseTo(m, 13);
    expect(Array.from(sum.grad!)).toEqual(Array.from(none.grad!));
    const lp = ctcLoss(logSoftmaxAll(x, shape.classes), makeCtc(shape, { reduction: 'none', input: 'logProbs' }));
    for (let n = 0; n < shape.batch; n++) expect(lp.losses[n]).toBeCloseTo(none.losses[n], 12);
  });

  it('−Infinity log-probs give no NaN', () => {
    // Class 2 impossible everywhere; l = (1) still feasible.
    const lp = Float64Array.from([Math.log(0.5), Math.log(0.5), -Infinity, Math.log(0.25), Math.log(0.75), -Infinity]);
    const res = ctcLoss(
      lp,
      makeCtc({ batch: 1, time: 2, classes: 3, targets: [[1]] }, { input: 'logProbs', posterior: true }),
    );
    // paths: (1,1), (0,1), (1,0) → 0.5·0.75 + 0.5·0.75 + 0.5·0.25 = 0.875
    expect(res.losses[0]).toBeCloseTo(-Math.log(0.875), 14);
    for (const v of [...res.grad!, ...res.posterior!]) expect(Number.isNaN(v)).toBe(false);
    expect(res.posterior![2]).toBe(0);
  });
});

// ---- ACE -----------------------------------------------------------------------------------------------------------

function randomAceShape(r: () => number): Shape & { counts: number[][] } {
  const batch = randInt(r, 1, 3);
  const time = randInt(r, 1, 8);
  const classes = randInt(r, 2, 5);
  const blank = randInt(r, 0, classes - 1);
  const layout: Layout = r() < 0.5 ? 'NTC' : 'TNC';
  const inputLengths: number[] = [];
  const counts: number[][] = [];
  for (let n = 0; n < batch; n++) {
    const Tn = n === 0 ? time : randInt(r, 1, time);
    inputLengths.push(Tn);
    const row = new Array(classes).fill(0);
    const L = randInt(r, 0, Tn);
    for (let j = 0; j < L; j++) {
      let k: number;
      do k = randInt(r, 0, classes - 1);
      while (k === blank);
      row[k]++;
    }
    counts.push(row);
  }
  return { batch, time, classes, blank, layout, inputLengths, counts };
}

/** Random probabilities, each frame normalised, bounded away from 0. */
function randomProbs(r: () => number, size: number, C: number): Float64Array {
  const x = new Float64Array(size);
  for (let i = 0; i < size; i += C) {
    let s = 0;
    for (let k = 0; k < C; k++) s += x[i + k] = 0.05 + r();
    for (let k = 0; k < C; k++) x[i + k] /= s;
  }
  return x;
}

describe('reference ACE', () => {
  it('gradient matches central finite differences (ce and regression, logits and probs, every reduction)', () => {
    for (let seed = 101; seed <= 112; seed++) {
      const r = rng(seed);
      const shape = randomAceShape(r);
      const size = shape.batch * shape.time * shape.classes;
      const eps = seed % 2 ? 1e-10 : 0.01;
      for (const variant of ['ce', 'regression'] as const)
        for (const input of ['logits', 'probs'] as const)
          for (const reduction of REDUCTIONS) {
            const x = input === 'logits' ? randomData(r, size) : randomProbs(r, size, shape.classes);
            const p = makeAce(shape, { variant, input, reduction, eps });
            const res = aceLoss(x, p);
            expect(Number.isFinite(res.loss)).toBe(true);
            const pNoGrad = { ...p, grad: false };
            expectFiniteDifferences(
              x,
              (xx) => aceLoss(xx, pNoGrad).loss,
              res.grad!,
              `seed ${seed} ${variant} ${input} ${reduction}`,
            );
            // Padded frames carry no gradient.
            for (let n = 0; n < p.batch; n++)
              for (let t = p.inputLengths[n]; t < p.time; t++)
                for (let k = 0; k < p.classes; k++)
                  expect(res.grad![idx(p.layout, p.batch, p.time, p.classes, n, t, k)]).toBe(0);
          }
    }
  });

  it('closed form on a hand-computed sequence', () => {
    // T = 2, C = 3, blank 0, one 'a' (class 1): N = (1, 1, 0).  y^1 = (.5, .25, .25), y^2 = (.5, .5, 0), eps = 0.
    // y = (1, .75, .25), ȳ = (.5, .375, .125), N̄ = (.5, .5, 0).
    const probs = Float64Array.from([0.5, 0.25, 0.25, 0.5, 0.5, 0]);
    const shape = { batch: 1, time: 2, classes: 3, counts: [[0, 1, 0]] };
    const ce = aceLoss(probs, makeAce(shape, { input: 'probs', eps: 0 }));
    const ceWant = -(0.5 * Math.log(0.5) + 0.5 * Math.log(0.375));
    expect(ce.losses[0]).toBeCloseTo(ceWant, 15);
    expect(ce.loss).toBeCloseTo(ceWant, 15);
    // g_k = −N_k / (T y_k) = (−1/2, −2/3, 0) on both frames.
    const g = [-0.5, -2 / 3, 0];
    for (let i = 0; i < 6; i++) expect(ce.grad![i]).toBeCloseTo(g[i % 3], 15);

    const reg = aceLoss(probs, makeAce(shape, { input: 'probs', eps: 0, variant: 'regression' }));
    expect(reg.losses[0]).toBeCloseTo(0.5 * (0 + 0.0625 + 0.0625), 15);
    const gr = [0, -0.25, 0.25]; // y_k − N_k
    for (let i = 0; i < 6; i++) expect(reg.grad![i]).toBeCloseTo(gr[i % 3], 15);

    // The same frames given as logits (log of the probabilities; the zero becomes a very negative logit) and the
    // blank column of the counts ignored (set to T − Σ others = 1): the softmax reproduces the probabilities.
    const logits = Float64Array.from([
      Math.log(0.5),
      Math.log(0.25),
      Math.log(0.25),
      Math.log(0.5),
      Math.log(0.5),
      -800,
    ]);
    const ceL = aceLoss(logits, makeAce({ ...shape, counts: [[7, 1, 0]] }, { eps: 0, reduction: 'sum' }));
    expect(ceL.losses[0]).toBeCloseTo(ceWant, 14);
    // Eq. 9 on frame 1: y^1_k (g_k − Σ_j g_j y^1_j) with Σ_j g_j y^1_j = −.25 − 1/6.
    const gy = -0.25 - 1 / 6;
    for (let k = 0; k < 3; k++) expect(ceL.grad![k]).toBeCloseTo([0.5, 0.25, 0.25][k] * (g[k] - gy), 14);
  });

  it('eps is added to every probability; classes with N_k = 0 contribute nothing to ce; mean divides by N', () => {
    const probs = Float64Array.from([0.5, 0.25, 0.25, 0.5, 0.5, 0, 1, 0, 0, 0, 1, 0]);
    const shape = {
      batch: 2,
      time: 2,
      classes: 3,
      counts: [
        [0, 1, 0],
        [0, 1, 0],
      ],
    };
    const eps = 0.125;
    const res = aceLoss(probs, makeAce(shape, { input: 'probs', eps, reduction: 'mean' }));
    // n = 0: y = (1.25, 1, .5); n = 1: y = (1.25, 1.25, .25). ce over k ∈ {0, 1} with N̄ = (.5, .5).
    const l0 = -(0.5 * Math.log(1.25 / 2) + 0.5 * Math.log(1 / 2));
    const l1 = -(0.5 * Math.log(1.25 / 2) + 0.5 * Math.log(1.25 / 2));
    expect(res.losses[0]).toBeCloseTo(l0, 15);
    expect(res.losses[1]).toBeCloseTo(l1, 15);
    expect(res.loss).toBeCloseTo((l0 + l1) / 2, 15);
    expect(res.grad![2]).toBe(0); // N_2 = 0
    expect(res.grad![1]).toBeCloseTo(0.5 * (-1 / (2 * 1)), 15); // scale 1/N · −N_1/(T y_1)
    const reg = aceLoss(probs, makeAce(shape, { input: 'probs', eps, variant: 'regression', reduction: 'none' }));
    expect(reg.losses[0]).toBeCloseTo(0.5 * (0.25 ** 2 + 0 + 0.5 ** 2), 15);
    expect(reg.loss).toBeCloseTo(reg.losses[0] + reg.losses[1], 15);
  });
});

// ---- decoders ------------------------------------------------------------------------------------------------------

/** Frames from per-frame argmax classes: one-hot-ish logits (value 1 at the class, 0 elsewhere). */
function oneHot(path: number[], C: number): number[] {
  return path.flatMap((k) => Array.from({ length: C }, (_, j) => (j === k ? 1 : 0)));
}

describe('reference decoders', () => {
  it('greedy CTC: merges repeats, drops blanks, keeps repeats separated by a blank, honours inputLengths', () => {
    // n = 0: 1 1 0 1 2 2 0 0 → (1, 1, 2); n = 1 (T_n = 4, blank 0): 3 3 3 0 | 1 1 1 1 → (3)
    const C = 4;
    const x = Float64Array.from([...oneHot([1, 1, 0, 1, 2, 2, 0, 0], C), ...oneHot([3, 3, 3, 0, 1, 1, 1, 1], C)]);
    const p = makeDecode({ batch: 2, time: 8, classes: C, inputLengths: [8, 4] });
    expect(ctcGreedyDecode(x, p).map((a) => Array.from(a))).toEqual([[1, 1, 2], [3]]);
    // blank = 2, TNC: the same frames interleaved.
    const tnc = new Float64Array(x.length);
    for (let n = 0; n < 2; n++)
      for (let t = 0; t < 8; t++)
        for (let k = 0; k < C; k++) tnc[idx('TNC', 2, 8, C, n, t, k)] = x[idx('NTC', 2, 8, C, n, t, k)];
    const q = makeDecode({ batch: 2, time: 8, classes: C, blank: 2, layout: 'TNC', inputLengths: [8, 0] });
    expect(ctcGreedyDecode(tnc, q).map((a) => Array.from(a))).toEqual([[1, 0, 1, 0], []]);
    expect(ctcGreedyDecode(tnc, q)[1]).toBeInstanceOf(Int32Array);
  });

  it('argmax ties go to the lowest index; NaN never wins except at k = 0', () => {
    const x = Float64Array.from([
      0,
      5,
      5,
      1, // tie 1 vs 2 → 1
      2,
      2,
      0,
      0, // tie blank vs 1 → blank
      0,
      NaN,
      3,
      3, // NaN skipped, tie 2 vs 3 → 2
      NaN,
      9,
      9,
      9, // NaN at k = 0: nothing beats it → blank
      -1,
      -1,
      -1,
      -1, // all equal → blank
    ]);
    const p = makeDecode({ batch: 1, time: 5, classes: 4 });
    expect(Array.from(ctcGreedyDecode(x, p)[0])).toEqual([1, 2]);
    expect(Array.from(aceDecode(x, p, false)[0])).toEqual([1, 2]);
  });

  it('ACE decode drops blanks and merges repeats only on request', () => {
    const C = 3;
    const x = Float64Array.from([...oneHot([1, 1, 0, 1, 2, 2, 2], C), ...oneHot([2, 0, 2, 2, 1, 1, 1], C)]);
    const p = makeDecode({ batch: 2, time: 7, classes: C, inputLengths: [7, 5] }, 'probs');
    expect(aceDecode(x, p, false).map((a) => Array.from(a))).toEqual([
      [1, 1, 1, 2, 2, 2],
      [2, 2, 2, 1],
    ]);
    expect(aceDecode(x, p, true).map((a) => Array.from(a))).toEqual([
      [1, 1, 2],
      [2, 2, 1],
    ]);
  });

  it('ACE count: Σ_t y_k^t (softmax, probabilities, exp of log-probs) and its rounding', () => {
    const probs = Float64Array.from([0.2, 0.7, 0.1, 0.1, 0.8, 0.1, 0.5, 0.25, 0.25, 9, 9, 9]);
    const p = makeDecode({ batch: 2, time: 2, classes: 3, inputLengths: [2, 1] }, 'probs');
    const c = aceCount(probs, p);
    const want = [0.30000000000000004, 1.5, 0.2, 0.5, 0.25, 0.25];
    for (let i = 0; i < 6; i++) expect(c.expected[i]).toBeCloseTo(want[i], 15);
    expect(Array.from(c.rounded)).toEqual([0, 2, 0, 1, 0, 0]); // 1.5 → 2 and 0.5 → 1: halves away from zero

    const lp = aceCount(probs.map(Math.log), { ...p, input: 'logProbs' });
    for (let i = 0; i < 6; i++) expect(lp.expected[i]).toBeCloseTo(want[i], 14);
    const lg = aceCount(
      probs.map((v) => Math.log(v) + 3),
      { ...p, input: 'logits' },
    );
    for (let i = 0; i < 6; i++) expect(lg.expected[i]).toBeCloseTo(want[i], 14);
  });
});
