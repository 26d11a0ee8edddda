// Decoders and counting: greedy (best-path) CTC decoding, ACE decoding and ACE counting.
import type { DecodeProblem } from '../types.js';
import { argmaxFrame, frameOffset, softmaxFrame } from './math.js';

/** The per-frame argmax π*_t for t < T_n (ties to the lowest index; see argmaxFrame). */
function bestPath(data: ArrayLike<number>, p: DecodeProblem, n: number): Int32Array {
  const Tn = p.inputLengths[n];
  const path = new Int32Array(Tn);
  for (let t = 0; t < Tn; t++) path[t] = argmaxFrame(data, frameOffset(p, n, t), p.classes);
  return path;
}

/** B: merge adjacent repeats (when `mergeRepeats`), then drop blanks. */
function collapse(path: Int32Array, blank: number, mergeRepeats: boolean): Int32Array {
  const out: number[] = [];
  for (let t = 0; t < path.length; t++) {
    const k = path[t];
    if (mergeRepeats && t > 0 && path[t - 1] === k) continue;
    if (k !== blank) out.push(k);
  }
  return Int32Array.from(out);
}

/** Greedy CTC decoding (Graves 2006, best path decoding): B(argmax_k y_k^t for t < T_n). The argmax is taken on
 * the raw input, which has the same maximiser as the softmax. */
export function ctcGreedyDecode(data: ArrayLike<number>, p: DecodeProblem): Int32Array[] {
  const out: Int32Array[] = [];
  for (let n = 0; n < p.batch; n++) out.push(collapse(bestPath(data, p, n), p.blank, true));
  return out;
}

/** ACE decoding: the per-position argmax (flatten order for 2D) with blanks dropped; adjacent repeats are merged
 * first only when `collapseRepeats` (as CTC does). */
export function aceDecode(data: ArrayLike<number>, p: DecodeProblem, collapseRepeats: boolean): Int32Array[] {
  const out: Int32Array[] = [];
  for (let n = 0; n < p.batch; n++) out.push(collapse(bestPath(data, p, n), p.blank, collapseRepeats));
  return out;
}

/** The rounding of aceCount, the same on every backend: the nearest integer with halves away from zero, saturated
 * to the int32 range [−2³¹, 2³¹ − 1] (±∞ included); NaN → 0. */
export function roundCount(v: number): number {
  if (Number.isNaN(v)) return 0;
  const r = Math.sign(v) * Math.round(Math.abs(v));
  if (r >= 2147483647) return 2147483647;
  if (r <= -2147483648) return -2147483648;
  return r;
}

/** ACE counting: expected[n·C + k] = y_k = Σ_{t<T_n} y_k^t (the aggregation of ACE, without eps), with y_k^t the
 * softmax of 'logits', the probabilities as given for 'probs', exp of the value for 'logProbs'; rounded =
 * roundCount(expected) (the float64 sum, before its conversion to float32). */
export function aceCount(data: ArrayLike<number>, p: DecodeProblem): { expected: Float64Array; rounded: Int32Array } {
  const { batch: N, classes: C } = p;
  const expected = new Float64Array(N * C);
  const rounded = new Int32Array(N * C);
  const yt = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      if (p.input === 'logits') softmaxFrame(data, at, C, yt, 0);
      else if (p.input === 'logProbs') for (let k = 0; k < C; k++) yt[k] = Math.exp(data[at + k]);
      else for (let k = 0; k < C; k++) yt[k] = data[at + k];
      for (let k = 0; k < C; k++) expected[n * C + k] += yt[k];
    }
  }
  for (let i = 0; i < N * C; i++) rounded[i] = roundCount(expected[i]);
  return { expected, rounded };
}
