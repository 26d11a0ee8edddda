// One generator of random cases for every backend, and the comparison rule used by the parity suites.
import { expect } from 'vitest';
import { backends, ctcLoss } from '../lib/index.js';
import { mulberry32 } from '../lib/random.js';

/** The suites' seeded generator (Mulberry32, lib/random.ts). */
export const rng = mulberry32;

export const randInt = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** log-softmax of every row of C values, in float64 (the log-probs input of a logits case). */
export function logSoftmaxRows(x: Float32Array, C: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i += C) {
    let m = -Infinity;
    for (let k = 0; k < C; k++) m = Math.max(m, x[i + k]);
    let s = 0;
    for (let k = 0; k < C; k++) s += Math.exp(x[i + k] - m);
    const lse = m + Math.log(s);
    for (let k = 0; k < C; k++) out[i + k] = x[i + k] - lse;
  }
  return out;
}

export function normalFloats(r: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return out;
}

export interface CtcCase {
  logits: Float32Array;
  batch: number;
  time: number;
  classes: number;
  layout: 'NTC' | 'TNC';
  blank: number;
  targets: number[][];
  inputLengths: Int32Array;
}

/** Random CTC problems: repeats, any blank position, variable lengths, both layouts; every target is feasible
 * unless `allowImpossible`. */
export function ctcCase(
  seed: number,
  opts: { maxT?: number; maxC?: number; maxN?: number; allowImpossible?: boolean } = {},
): CtcCase {
  const r = rng(seed);
  const batch = randInt(r, 1, opts.maxN ?? 5);
  const time = randInt(r, 1, opts.maxT ?? 30);
  const classes = randInt(r, 2, opts.maxC ?? 12);
  const blank = r() < 0.5 ? 0 : randInt(r, 0, classes - 1);
  const layout = r() < 0.5 ? 'NTC' : 'TNC';
  const inputLengths = new Int32Array(batch);
  const targets: number[][] = [];
  for (let n = 0; n < batch; n++) {
    const Tn = r() < 0.4 ? time : randInt(r, 0, time);
    inputLengths[n] = Tn;
    const labels: number[] = [];
    const L = randInt(r, 0, Math.max(0, Math.floor(Tn / 2)));
    for (let j = 0; j < L; j++) {
      let k: number;
      // Favour repeats: they exercise the skip rule and several states per class.
      if (j > 0 && r() < 0.3) k = labels[j - 1];
      else
        do k = randInt(r, 0, classes - 1);
        while (k === blank);
      labels.push(k);
    }
    if (!opts.allowImpossible) {
      // Trim until feasible: T_n >= L + number of adjacent repeats.
      const need = (ls: number[]) => ls.length + ls.filter((v, i) => i > 0 && ls[i - 1] === v).length;
      while (labels.length && need(labels) > Tn) labels.pop();
    }
    targets.push(labels);
  }
  const logits = normalFloats(r, batch * time * classes, 2);
  return { logits, batch, time, classes, layout, blank, targets, inputLengths };
}

/**
 * The norm-wise relative error of float32 outputs against the float64 reference, per block (a sequence's slice of a
 * gradient or posterior: under 'mean' each sequence has its own scale): |a − b| ≤ tol · scale for every entry, with
 * scale = max(‖block‖∞, 1e-3 · ‖array‖∞, 1e-30). The floors matter only for blocks that are nearly zero through
 * cancellation (a saturated softmax whose gradient is ~1e-19 everywhere): there the batch's gradient sets the scale,
 * and float32 cannot hold magnitudes below ~1e-38 anyway. Scalars (losses) use expectLossesClose.
 */
export function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
  blocks?: number[][],
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let arrayNorm = 0;
  for (let i = 0; i < expected.length; i++) arrayNorm = Math.max(arrayNorm, Math.abs(expected[i]));
  const groups = blocks ?? [Array.from({ length: expected.length }, (_, i) => i)];
  for (const g of groups) {
    let norm = Math.max(1e-3 * arrayNorm, 1e-30);
    for (const i of g) norm = Math.max(norm, Math.abs(expected[i]));
    for (const i of g) {
      const a = actual[i];
      const b = expected[i];
      if (a === b) continue; // also Infinity === Infinity
      const err = Math.abs(a - b);
      if (!(err <= tol * norm)) {
        throw new Error(
          `${what}[${i}]: got ${a}, expected ${b} (|diff| ${err.toExponential(3)} > ${tol} × scale ${norm.toExponential(3)})`,
        );
      }
    }
  }
}

export function expectLossesClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (a === b) continue;
    const err = Math.abs(a - b);
    if (!(err <= tol * Math.abs(b))) {
      throw new Error(
        `${what}[${i}]: got ${a}, expected ${b} (relative ${(err / Math.abs(b)).toExponential(3)} > ${tol})`,
      );
    }
  }
}

/** Indices of sequence n's entries in an N×T×C array of the given layout. */
export function sequenceBlocks(batch: number, time: number, classes: number, layout: 'NTC' | 'TNC'): number[][] {
  const blocks: number[][] = [];
  for (let n = 0; n < batch; n++) {
    const idx: number[] = [];
    for (let t = 0; t < time; t++) {
      const base = layout === 'NTC' ? (n * time + t) * classes : (t * batch + n) * classes;
      for (let k = 0; k < classes; k++) idx.push(base + k);
    }
    blocks.push(idx);
  }
  return blocks;
}

/** The backends a golden suite covers in this run: SEQLOSS_TEST_BACKENDS (set per vitest project: js and cpu in
 * 'unit', cuda in the CUDA projects; all three when unset), cpu left out where SEQLOSS_ALLOW_JS_ONLY accepts an
 * install without the addon. Each comes with whether it is available, and why not: a suite asserts it (a missing
 * backend fails instead of being skipped). */
export function backendsUnderTest(): { name: 'js' | 'cpu' | 'cuda'; ok: boolean; why?: string }[] {
  const info = backends();
  const wanted = (process.env.SEQLOSS_TEST_BACKENDS ?? 'js,cpu,cuda').split(',');
  const all = [
    { name: 'js' as const, ok: true },
    { name: 'cpu' as const, ok: info.cpu, why: info.reason },
    { name: 'cuda' as const, ok: info.cuda.available, why: info.cuda.reason },
  ];
  return all.filter((b) => wanted.includes(b.name) && !(b.name === 'cpu' && process.env.SEQLOSS_ALLOW_JS_ONLY === '1'));
}

/** The backend 'auto' picks for a CTC call of 2^20 input values (4 × 256 × 1024), the size rule's threshold. */
export function autoBackendAtThreshold(): string {
  const N = 4,
    T = 256,
    C = 1024;
  return ctcLoss(normalFloats(rng(5), N * T * C), {
    batch: N,
    time: T,
    classes: C,
    targets: [[1, 2], [3], [4, 4], [5]],
    grad: false,
  }).backend;
}
