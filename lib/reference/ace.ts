// ACE, aggregation cross-entropy (Xie, Huang, Zhu, Jin, Liu & Xie, CVPR 2019), in float64.
//
// Notation as in the paper: y_k^t the probability of class k at frame t (a 2D map is flattened row-major, T = H·W,
// Eq. 10), y_k = Σ_t y_k^t the aggregated prediction, N_k the number of times class k occurs in the annotation
// (N_blank = T − |S|), ȳ_k = y_k / T and N̄_k = N_k / T their normalisations. As in the ACE code, a small eps is
// added to every probability before aggregation: it enters y_k (and so the loss and g_k) and nothing else.
//
// Numerics at the extremes (the contract every backend follows; see README, "ACE at the extremes"):
//  - logits are handled in log space: ln y_k^t = x_tk − m_t − ln Σ_j e^(x_tj − m_t) is finite for every finite
//    input, ln y_k = logsumexp_t ln y_k^t (⊕ ln(T·eps)), and the gradient's ratios y_k^t / y_k are
//    e^(ln y_k^t − ln y_k) ≤ 1, so nothing underflows to 0 that the loss or the gradient needs;
//  - a sequence with NaN or +∞ in a valid frame, a logits frame that is all −∞, or (probs) any non-finite value in
//    a valid frame gets loss NaN and NaN gradient rows t < T_n;
//  - CE with eps = 0 is ≥ 0 in exact arithmetic (Gibbs' inequality, Σ ȳ_k = Σ N̄_k = 1): a negative rounding
//    residue is returned as 0. With eps > 0, Σ ȳ_k = 1 + C·eps and a (tiny) negative loss is genuine, kept as is.
import type { AceProblem, RefLossResult } from '../types.js';
import { frameOffset } from './math.js';

/** ln(e^a + e^b) for a, b < +∞ (−∞ allowed). */
function lae(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = a > b ? a : b;
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/**
 * ACE loss of a batch. Per sequence n with T = T_n:
 *   aggregation   y_k = Σ_{t<T} (y_k^t + eps) = Σ_t y_k^t + T·eps
 *   'ce'          L = −Σ_{k: N_k > 0} N̄_k ln ȳ_k                    (Eq. 8; Eq. 10 for 2D), max(L, 0) when eps = 0
 *                 ∂L/∂y_k^t = g_k = −N̄_k / (T ȳ_k) = −N_k / (T y_k)   (0 when N_k = 0)
 *   'regression'  L = ½ Σ_k (N_k − y_k)²                               (Eq. 4)
 *                 ∂L/∂y_k^t = g_k = y_k − N_k                           (Eq. 5, Δ_k)
 * grad w.r.t. the input, zero on frames t ≥ T_n:
 *   'probs'   scale · g_k
 *   'logits'  scale · Σ_k' g_k' y_k'^t (δ_kk' − y_k^t) = scale · y_k^t (g_k − Σ_j g_j y_j^t)   (Eq. 7, 9; eps has
 *             no derivative, so it does not enter the softmax Jacobian). For 'ce' this is evaluated as
 *             scale · (y_k^t D_t − N̄_k ρ_tk) with ρ_tk = y_k^t / y_k = e^(ln y_k^t − ln y_k) and D_t = Σ_j N̄_j ρ_tj,
 *             every term bounded (ρ ≤ 1, D_t ≤ 1).
 * scale and the reduced loss: 'mean' → 1/N and (1/N) Σ_n L_n; 'sum' and 'none' → 1 and Σ_n L_n.
 */
export function aceLoss(data: ArrayLike<number>, p: AceProblem): RefLossResult {
  const { batch: N, time: T, classes: C, eps } = p;
  const losses = new Float64Array(N);
  const grad = p.grad ? new Float64Array(N * T * C) : undefined;
  const scale = p.reduction === 'mean' ? 1 / N : 1;
  const logits = p.input === 'logits';
  let loss = 0;

  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const counts = p.counts.subarray(n * C, (n + 1) * C); // N_k

    // lp = ln y_k^t (logits) or v = y_k^t (probs); a frame that poisons the sequence (see the file comment).
    const v = new Float64Array(Tn * C);
    let bad = false;
    for (let t = 0; t < Tn && !bad; t++) {
      const at = frameOffset(p, n, t);
      if (logits) {
        let m = -Infinity;
        for (let k = 0; k < C; k++) {
          const x = data[at + k];
          if (Number.isNaN(x) || x === Infinity) bad = true;
          if (x > m) m = x;
        }
        if (bad || m === -Infinity) {
          bad = true;
          break;
        }
        let s = 0;
        for (let k = 0; k < C; k++) s += Math.exp(data[at + k] - m);
        // ln y_k^t = (x_k − m) − ln s: subtracting m first, never x_k − (m + ln s), which cancels ln s away when m
        // is large (two classes at 3e38 are 1/2 each, not 1).
        const lns = Math.log(s);
        for (let k = 0; k < C; k++) v[t * C + k] = data[at + k] - m - lns;
      } else {
        for (let k = 0; k < C; k++) {
          const x = data[at + k];
          if (!Number.isFinite(x)) bad = true;
          v[t * C + k] = x;
        }
      }
    }
    if (bad) {
      losses[n] = NaN;
      loss += NaN;
      if (grad) for (let t = 0; t < Tn; t++) grad.fill(NaN, frameOffset(p, n, t), frameOffset(p, n, t) + C);
      continue;
    }

    // The aggregation (Fig. 2): ln y_k and y_k, eps included.
    const lny = new Float64Array(C);
    const y = new Float64Array(C);
    const lnTeps = eps > 0 ? Math.log(Tn * eps) : -Infinity;
    for (let k = 0; k < C; k++) {
      if (logits) {
        let m = -Infinity;
        for (let t = 0; t < Tn; t++) m = Math.max(m, v[t * C + k]);
        let l = m;
        if (m > -Infinity) {
          let s = 0;
          for (let t = 0; t < Tn; t++) s += Math.exp(v[t * C + k] - m);
          l = m + Math.log(s);
        }
        lny[k] = lae(l, lnTeps);
        y[k] = Math.exp(lny[k]);
      } else {
        let s = 0;
        for (let t = 0; t < Tn; t++) s += v[t * C + k];
        y[k] = s + Tn * eps;
        lny[k] = Math.log(y[k]);
      }
    }

    // The loss and g_k = ∂L/∂y_k^t (the same for every frame t); A_k = N̄_k on K = {k : N_k > 0}.
    const g = new Float64Array(C);
    const A = new Float64Array(C);
    let Ln = 0;
    for (let k = 0; k < C; k++) {
      const Nk = counts[k];
      if (p.variant === 'ce') {
        if (Nk > 0) {
          A[k] = Nk / Tn;
          Ln -= A[k] * (lny[k] - Math.log(Tn)); // Eq. 8: N̄_k ln ȳ_k
          g[k] = -A[k] / y[k];
        }
      } else {
        const d = Nk - y[k];
        Ln += 0.5 * d * d; // Eq. 4
        g[k] = y[k] - Nk;
      }
    }
    if (p.variant === 'ce' && eps === 0 && Ln < 0) Ln = 0; // rounding residue: L ≥ 0 exactly
    losses[n] = Ln;
    loss += Ln;

    if (!grad) continue;
    const rho = new Float64Array(C);
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      if (!logits) {
        for (let k = 0; k < C; k++) grad[at + k] = scale * g[k];
      } else if (p.variant === 'ce') {
        let D = 0;
        for (let k = 0; k < C; k++) {
          rho[k] = A[k] > 0 ? Math.exp(v[t * C + k] - lny[k]) : 0;
          D += A[k] * rho[k];
        }
        for (let k = 0; k < C; k++) grad[at + k] = scale * (Math.exp(v[t * C + k]) * D - A[k] * rho[k]);
      } else {
        // Eq. 9 via the softmax Jacobian ∂y_k'^t/∂a_k^t = y_k'^t (δ_kk' − y_k^t) (Eq. 6).
        let gy = 0;
        for (let j = 0; j < C; j++) gy += g[j] * Math.exp(v[t * C + j]);
        for (let k = 0; k < C; k++) grad[at + k] = scale * Math.exp(v[t * C + k]) * (g[k] - gy);
      }
    }
  }

  const result: RefLossResult = { losses, loss: p.reduction === 'mean' ? loss / N : loss };
  if (grad) result.grad = grad;
  return result;
}
