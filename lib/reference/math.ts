// Small float64 helpers shared by the reference implementations: log-space addition, per-frame softmax and the
// index of a frame in NTC / TNC memory order.
import type { Problem } from '../types.js';

/** log(e^a + e^b), max-shifted; −∞ + −∞ = −∞ (no NaN), NaN propagates. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = a > b ? a : b;
  if (m === Infinity) return Infinity;
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/** log Σ_{k<count} e^{x[offset+k]}, max-shifted; all −∞ gives −∞. */
export function logSumExp(x: ArrayLike<number>, offset: number, count: number): number {
  let m = -Infinity;
  for (let k = 0; k < count; k++) {
    const v = x[offset + k];
    if (v > m || Number.isNaN(v)) m = v;
    if (Number.isNaN(m)) return NaN;
  }
  if (m === -Infinity || m === Infinity) return m;
  let s = 0;
  for (let k = 0; k < count; k++) s += Math.exp(x[offset + k] - m);
  return m + Math.log(s);
}

/** out[outOffset+k] = log softmax(x_t)_k = (x_tk − m) − ln Σ_j e^{x_tj − m}, m = max_k x_tk, for one frame of C
 * values. The difference x − m is taken first, so that nothing cancels at large magnitudes (x − (m + ln Σ) loses
 * every digit of the ln Σ when |m| is 1e38). */
export function logSoftmaxFrame(
  x: ArrayLike<number>,
  offset: number,
  C: number,
  out: Float64Array,
  outOffset: number,
): void {
  let m = -Infinity;
  for (let k = 0; k < C; k++) if (x[offset + k] > m || Number.isNaN(x[offset + k])) m = x[offset + k];
  let s = 0;
  for (let k = 0; k < C; k++) s += Math.exp(x[offset + k] - m);
  const r = Math.log(s);
  for (let k = 0; k < C; k++) out[outOffset + k] = x[offset + k] - m - r;
}

/**
 * Probabilities below the extended range: a class whose log-probability lies more than 10⁸ below the largest of
 * its frame (over all C classes) counts as probability exactly 0 in the CTC recursions, on every backend
 * (README, "Numerics at the extremes").
 */
export const LOG_ZERO = -1e8;

/**
 * One frame of the CTC family's emissions, relative to the frame's largest log-probability (README, "Numerics at
 * the extremes"). Writes rel[relOffset + k] = ρ_k = ln y_k − c and returns c = max_k ln y_k:
 *  - logits x (scaled by s > 0, DCTC's logit scale; 1 otherwise): ρ_k = (x_k − max_j x_j)·s in double and
 *    c = −ln Σ_j e^{ρ_j}, so that ln y_k = ρ_k + c is the log-softmax;
 *  - log-probabilities: ρ_k = x_k − max_j x_j, c = max_j x_j; a frame whose classes are all −∞ has c = −∞ and every
 *    ρ_k = −∞ (probability 0: no path passes).
 * Returns NaN, leaving rel unspecified, for a frame with a NaN or +∞ in any class, and for logits all −∞.
 * The ρ_k are exactly the same doubles on every backend (one subtraction and one product of float32 values).
 */
export function relativeFrame(
  x: ArrayLike<number>,
  offset: number,
  C: number,
  logits: boolean,
  s: number,
  rel: Float64Array,
  relOffset: number,
): number {
  let m = -Infinity;
  for (let k = 0; k < C; k++) {
    const v = x[offset + k];
    if (Number.isNaN(v) || v === Infinity) return NaN;
    if (v > m) m = v;
  }
  if (m === -Infinity) {
    if (logits) return NaN; // softmax of a frame of −∞: 0/0
    for (let k = 0; k < C; k++) rel[relOffset + k] = -Infinity;
    return -Infinity;
  }
  if (!logits) {
    for (let k = 0; k < C; k++) rel[relOffset + k] = x[offset + k] - m;
    return m;
  }
  let sum = 0;
  for (let k = 0; k < C; k++) {
    const r = s === 1 ? x[offset + k] - m : (x[offset + k] - m) * s;
    rel[relOffset + k] = r;
    sum += Math.exp(r);
  }
  return -Math.log(sum);
}

/** The emissions the recursions see: ρ, with ρ < LOG_ZERO as −∞ (probability 0). In place over n values. */
export function clampLogZero(rel: Float64Array): void {
  for (let i = 0; i < rel.length; i++) if (rel[i] < LOG_ZERO) rel[i] = -Infinity;
}

/** out[outOffset+k] = softmax(x_t)_k = e^{x_tk − max} / Σ_j e^{x_tj − max} for one frame of C values. */
export function softmaxFrame(
  x: ArrayLike<number>,
  offset: number,
  C: number,
  out: Float64Array,
  outOffset: number,
): void {
  let m = -Infinity;
  for (let k = 0; k < C; k++) if (x[offset + k] > m) m = x[offset + k];
  let s = 0;
  for (let k = 0; k < C; k++) {
    const e = Math.exp(x[offset + k] - m);
    out[outOffset + k] = e;
    s += e;
  }
  for (let k = 0; k < C; k++) out[outOffset + k] /= s;
}

/** Index of element (n, t, 0) of a dense N×T×C input: NTC (n·T + t)·C, TNC (t·N + n)·C. */
export function frameOffset(p: Problem, n: number, t: number): number {
  return p.layout === 'NTC' ? (n * p.time + t) * p.classes : (t * p.batch + n) * p.classes;
}

/** argmax_k x[offset+k], ties to the lowest index; NaN never wins except at k = 0 (the contract every backend
 * shares: best = x[0]; for k ≥ 1, if (x[k] > best) take k). */
export function argmaxFrame(x: ArrayLike<number>, offset: number, C: number): number {
  let best = x[offset];
  let arg = 0;
  for (let k = 1; k < C; k++) {
    const v = x[offset + k];
    if (v > best) {
      best = v;
      arg = k;
    }
  }
  return arg;
}
