// Forced alignment: the single most probable path π with B(π) = l (as torchaudio's forced_align), found by the
// max-product (Viterbi) form of the CTC forward recursion over the extended label l' = (blank, l_1, blank, …, blank).
// In log space, 0-based, with S = |l'|:
//   δ_0(0) = ln y^0_blank,  δ_0(1) = ln y^0_{l_1},  δ_0(s) = −∞ otherwise
//   δ_t(s) = ln y^t_{l'_s} + max(δ_{t−1}(s), δ_{t−1}(s−1), δ_{t−1}(s−2) if l'_s ≠ blank and l'_s ≠ l'_{s−2})
//   ln p(π*) = max(δ_{T−1}(S−1), δ_{T−1}(S−2))
// Ties are broken in a fixed order that every backend shares: stay (s) before advance (s−1) before skip (s−2), and
// at the end the final blank (S−1) before the last label (S−2): each candidate replaces the best only when strictly
// greater.
import type { AlignProblem, RefAlignResult } from '../types.js';
import { extendedLabel, sequenceEmissions } from './ctc.js';

/**
 * The best path of one sequence. `logY[t·C + k]` = ln y_k^t for t < T_n. Returns the class of the path at each frame
 * and its ln-probability; path null and score −∞ when no path collapses to l (too few frames, or every path has
 * probability 0). T_n = 0: an empty path with score 0 for an empty label, none otherwise.
 */
export function viterbi(
  logY: Float64Array,
  lPrime: Int32Array,
  Tn: number,
  C: number,
  blank: number,
): { path: Int32Array | null; score: number } {
  const S = lPrime.length;
  if (Tn === 0) return S === 1 ? { path: new Int32Array(0), score: 0 } : { path: null, score: -Infinity };
  const delta = new Float64Array(Tn * S).fill(-Infinity);
  // step[t·S + s]: how far back the best predecessor of (t, s) lies: 0 (stay), 1 (advance) or 2 (skip).
  const step = new Uint8Array(Tn * S);
  delta[0] = logY[lPrime[0]];
  if (S > 1) delta[1] = logY[lPrime[1]];
  for (let t = 1; t < Tn; t++) {
    const prev = (t - 1) * S;
    for (let s = 0; s < S; s++) {
      let best = delta[prev + s];
      let back = 0;
      if (s >= 1 && delta[prev + s - 1] > best) {
        best = delta[prev + s - 1];
        back = 1;
      }
      if (s >= 2 && lPrime[s] !== blank && lPrime[s] !== lPrime[s - 2] && delta[prev + s - 2] > best) {
        best = delta[prev + s - 2];
        back = 2;
      }
      delta[t * S + s] = best === -Infinity ? -Infinity : best + logY[t * C + lPrime[s]];
      step[t * S + s] = back;
    }
  }
  const last = (Tn - 1) * S;
  let s = S - 1;
  if (S > 1 && delta[last + S - 2] > delta[last + S - 1]) s = S - 2;
  const score = delta[last + s];
  if (score === -Infinity) return { path: null, score: -Infinity };
  const path = new Int32Array(Tn);
  for (let t = Tn - 1; t >= 0; t--) {
    path[t] = lPrime[s];
    s -= step[t * S + s];
  }
  return { path, score };
}

/**
 * ctcAlign of a batch: paths[n·T + t] = the class of sequence n's best path at frame t < T_n, −1 for t ≥ T_n, a row
 * of −1 when no path exists; scores[n] = ln p(path) (−∞ when none).
 */
export function ctcAlign(data: ArrayLike<number>, p: AlignProblem): RefAlignResult {
  const { batch: N, time: T, classes: C, blank } = p;
  const paths = new Int32Array(N * T).fill(-1);
  const scores = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const l = p.targets.subarray(p.targetOffsets[n], p.targetOffsets[n] + p.targetLengths[n]);
    // The recursion runs on ρ = ln y − c_t (clamped at LOG_ZERO), which every backend forms as the same doubles,
    // so that every comparison, ties included, comes out the same everywhere; Σ_t c_t is added to the best score.
    const em = sequenceEmissions(data, p, n, Tn, p.input === 'logits');
    if (em.status === 'nan') {
      scores[n] = NaN; // NaN in, NaN out; the path row stays −1
      continue;
    }
    const { path, score } = viterbi(em.rel, extendedLabel(l, blank), Tn, C, blank);
    scores[n] = score === -Infinity ? -Infinity : score + em.shift;
    if (path) paths.set(path, n * T);
  }
  return { paths, scores };
}
