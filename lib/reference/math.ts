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

/** out[outOffset+k] = log softmax(x_t)_k = x_tk − logsumexp_k(x_t) for one frame of C values. */
export function logSoftmaxFrame(
  x: ArrayLike<number>,
  offset: number,
  C: number,
  out: Float64Array,
  outOffset: number,
): void {
  const z = logSumExp(x, offset, C);
  for (let k = 0; k < C; k++) out[outOffset + k] = x[offset + k] - z;
}

/** out[outOffset+k] = softmax(x_t)_k = e^{x_tk − max} / Σ_j e^{x_tj − max} for one frame of C values. */
export function softmaxFrame(x: ArrayLike<number>, offset: number, C: number, out: Float64Array, outOffset: number): void {
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
