// CTC as iterative fitting (Li & Wang, "Reinterpreting CTC training as iterative fitting"): CTC's gradient is that of
// a framewise cross-entropy towards the pseudo ground truth y' (their Eq. 11–12), so y' can be edited before it is
// fitted. Two edits, both in float64 and applied only to sequences with a feasible alignment and T_n > 0:
//  - α, the non-blank proportion (Eq. 13–16): scale every class of y' so that, over a scope (the batch or one
//    sequence), the non-blanks hold a share α of the mass and each label class its share of the label count, then
//    renormalise each frame;
//  - γ, key frames (Eq. 17–18): weight frame t of the gradient by w_t^γ, w_t = max_k (y'_tk − y_tk), normalised to
//    mean 1 over the sequence's frames.
// The loss −ln p(l|x) itself is unchanged.
import type { Fit } from '../types.js';

/** One sequence's fitted target: y'[t·C + k] for t < T_n, and its labels l. */
export interface FitSequence {
  Tn: number;
  labels: ArrayLike<number>;
  yPrime: Float64Array;
}

/** The fit that actually changes something: null for null/undefined, and for α off with γ = 0 (plain CTC). */
export function activeFit(fit: Fit | null | undefined): Fit | null {
  if (!fit || (fit.alpha === 0 && fit.gamma === 0)) return null;
  return fit;
}

/** V_k = Σ_n Σ_{t<T_n} y'_tk over the sequences of one scope (Eq. 13). */
export function classTotals(seqs: readonly FitSequence[], C: number): Float64Array {
  const V = new Float64Array(C);
  for (const { Tn, yPrime } of seqs) for (let t = 0; t < Tn; t++) for (let k = 0; k < C; k++) V[k] += yPrime[t * C + k];
  return V;
}

/** N_k = the number of occurrences of label k in the scope's label sequences, k ≠ blank; N_blank = 0 (Eq. 14). */
export function labelCounts(seqs: readonly FitSequence[], C: number, blank: number): Float64Array {
  const counts = new Float64Array(C);
  for (const { labels } of seqs)
    for (let i = 0; i < labels.length; i++) if (labels[i] !== blank) counts[labels[i]] += 1;
  return counts;
}

/**
 * The scaling factors of Eq. 15, with L = Σ_{k≠blank} N_k:
 *   f_k = α·N_k / V_k (k ≠ blank),   f_blank = (1 − α)·L / V_blank,   f_k = 0 where V_k = 0,
 * so that Σ_{k≠blank} f_k V_k = α·L and f_blank V_blank = (1 − α)·L: the non-blank share is α before Eq. 16.
 * Returns null when L = 0 (the scope is left unchanged).
 */
export function nonBlankFactors(
  V: Float64Array,
  counts: Float64Array,
  alpha: number,
  blank: number,
): Float64Array | null {
  let L = 0;
  for (let k = 0; k < counts.length; k++) if (k !== blank) L += counts[k];
  if (L === 0) return null;
  const f = new Float64Array(V.length);
  for (let k = 0; k < V.length; k++) {
    if (V[k] === 0) continue;
    f[k] = k === blank ? ((1 - alpha) * L) / V[k] : (alpha * counts[k]) / V[k];
  }
  return f;
}

/** y''_tk = f_k·y'_tk, then y'_tk ← y''_tk / Σ_k' y''_tk' for every frame t < T_n (Eq. 15–16); a frame whose sum is 0
 * stays 0. In place. */
export function rescaleFrames(yPrime: Float64Array, Tn: number, C: number, f: Float64Array): void {
  for (let t = 0; t < Tn; t++) {
    let sum = 0;
    for (let k = 0; k < C; k++) {
      yPrime[t * C + k] *= f[k];
      sum += yPrime[t * C + k];
    }
    if (sum === 0) continue;
    for (let k = 0; k < C; k++) yPrime[t * C + k] /= sum;
  }
}

/** α over one scope (the sequences given): Eq. 13–16, in place on each y'. */
export function nonBlankProportion(seqs: readonly FitSequence[], alpha: number, C: number, blank: number): void {
  const f = nonBlankFactors(classTotals(seqs, C), labelCounts(seqs, C, blank), alpha, blank);
  if (!f) return;
  for (const { Tn, yPrime } of seqs) rescaleFrames(yPrime, Tn, C, f);
}

/** w_t = max(0, max_k (y'_tk − y_tk)) for t < T_n (Eq. 18; the clamp changes nothing as Σ_k (y' − y) = 0).
 * `logY[t·C + k]` = ln y_k^t. */
export function frameDeviation(logY: Float64Array, yPrime: Float64Array, Tn: number, C: number): Float64Array {
  const w = new Float64Array(Tn);
  for (let t = 0; t < Tn; t++) {
    let m = 0;
    for (let k = 0; k < C; k++) m = Math.max(m, yPrime[t * C + k] - Math.exp(logY[t * C + k]));
    w[t] = m;
  }
  return w;
}

/**
 * The frame weights of Eq. 17, normalised within the sequence: ŵ_t = T_n·w_t^γ / Σ_{t'<T_n} w_{t'}^γ (mean 1), and
 * ŵ_t = 1 for every t when that sum is 0. γ > 0.
 */
export function frameWeights(
  logY: Float64Array,
  yPrime: Float64Array,
  Tn: number,
  C: number,
  gamma: number,
): Float64Array {
  const w = frameDeviation(logY, yPrime, Tn, C);
  const wg = w.map((v) => v ** gamma);
  let sum = 0;
  for (let t = 0; t < Tn; t++) sum += wg[t];
  const weights = new Float64Array(Tn).fill(1);
  if (sum === 0) return weights;
  for (let t = 0; t < Tn; t++) weights[t] = (Tn * wg[t]) / sum;
  return weights;
}
