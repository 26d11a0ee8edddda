// ACE, aggregation cross-entropy (Xie, Huang, Zhu, Jin, Liu & Xie, CVPR 2019), in float64.
//
// Notation as in the paper: y_k^t the probability of class k at frame t (a 2D map is flattened row-major, T = H·W,
// Eq. 10), y_k = Σ_t y_k^t the aggregated prediction, N_k the number of times class k occurs in the annotation
// (N_blank = T − |S|), ȳ_k = y_k / T and N̄_k = N_k / T their normalisations. As in the ACE code, a small eps is
// added to every probability before aggregation.
import type { AceProblem, RefLossResult } from '../types.js';
import { frameOffset, softmaxFrame } from './math.js';

/**
 * ACE loss of a batch. Per sequence n with T = T_n:
 *   aggregation   y_k = Σ_{t<T} (y_k^t + eps)
 *   'ce'          L = −Σ_{k: N_k > 0} N̄_k ln ȳ_k                    (Eq. 8; Eq. 10 for 2D)
 *                 ∂L/∂y_k^t = g_k = −N̄_k / (T ȳ_k) = −N_k / (T y_k)   (0 when N_k = 0)
 *   'regression'  L = ½ Σ_k (N_k − y_k)²                               (Eq. 4)
 *                 ∂L/∂y_k^t = g_k = y_k − N_k                           (Eq. 5, Δ_k)
 * grad w.r.t. the input, zero on frames t ≥ T_n:
 *   'probs'   scale · g_k
 *   'logits'  scale · Σ_k' g_k' y_k'^t (δ_kk' − y_k^t) = scale · y_k^t (g_k − Σ_j g_j y_j^t)   (Eq. 7, 9; eps has
 *             no derivative, so it does not enter the softmax Jacobian)
 * scale and the reduced loss: 'mean' → 1/N and (1/N) Σ_n L_n; 'sum' and 'none' → 1 and Σ_n L_n.
 */
export function aceLoss(data: ArrayLike<number>, p: AceProblem): RefLossResult {
  const { batch: N, time: T, classes: C, eps } = p;
  const losses = new Float64Array(N);
  const grad = p.grad ? new Float64Array(N * T * C) : undefined;
  const scale = p.reduction === 'mean' ? 1 / N : 1;
  let loss = 0;

  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const counts = p.counts.subarray(n * C, (n + 1) * C); // N_k

    // y_k^t (softmax of the logits, or the probabilities as given) and the aggregation y_k (Fig. 2, "aggregation").
    const yt = new Float64Array(Tn * C);
    const y = new Float64Array(C);
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      if (p.input === 'logits') softmaxFrame(data, at, C, yt, t * C);
      else for (let k = 0; k < C; k++) yt[t * C + k] = data[at + k];
      for (let k = 0; k < C; k++) y[k] += yt[t * C + k] + eps;
    }

    // The loss and g_k = ∂L/∂y_k^t (the same for every frame t).
    const g = new Float64Array(C);
    let Ln = 0;
    for (let k = 0; k < C; k++) {
      const Nk = counts[k];
      if (p.variant === 'ce') {
        if (Nk > 0) {
          const NbarK = Nk / Tn;
          const ybarK = y[k] / Tn;
          Ln -= NbarK * Math.log(ybarK); // Eq. 8
          g[k] = -NbarK / (Tn * ybarK);
        }
      } else {
        const d = Nk - y[k];
        Ln += 0.5 * d * d; // Eq. 4
        g[k] = y[k] - Nk;
      }
    }
    losses[n] = Ln;
    loss += Ln;

    if (!grad) continue;
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      if (p.input === 'probs') {
        for (let k = 0; k < C; k++) grad[at + k] = scale * g[k];
      } else {
        // Eq. 9 via the softmax Jacobian ∂y_k'^t/∂a_k^t = y_k'^t (δ_kk' − y_k^t) (Eq. 6).
        let gy = 0;
        for (let j = 0; j < C; j++) gy += g[j] * yt[t * C + j];
        for (let k = 0; k < C; k++) grad[at + k] = scale * yt[t * C + k] * (g[k] - gy);
      }
    }
  }

  const result: RefLossResult = { losses, loss: p.reduction === 'mean' ? loss / N : loss };
  if (grad) result.grad = grad;
  return result;
}
