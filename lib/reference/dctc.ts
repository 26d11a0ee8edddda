// DCTC, self-distillation regularised CTC (Zhang et al., "Self-distillation Regularized Connectionist Temporal
// Classification Loss for Text Recognition"), in float64. Per sequence, with u = s·a (a the logits, s the scale),
// P = softmax(u) and y' = p(π_t = k | l, P) the CTC frame posterior under P:
//   L_n = β·CTC(l, P) + λ·Σ_{t<T_n} CE(e_{z*_t}, Q_t),   Q_t = softmax(u_t − s·m·e_{z*_t})   (margin m on the target)
// where z* is a latent alignment estimated from y' and P and then held fixed (no gradient flows through it):
//   'ratio'     z*_t = argmax_k y'_tk / max(P_tk, 1e-8)   (the DCTC code's MAP estimate from the gradient P − y')
//   'posterior' z*_t = argmax_k y'_tk
//   'viterbi'   z* = the most probable path that collapses to l (align.ts)
// The gradient w.r.t. a is r·s·[β·(P_t − y'_t) + λ·(Q_t − e_{z*_t})] on the valid frames.
import type { DctcAlignment, DctcProblem, RefDctcResult } from '../types.js';
import { viterbi } from './align.js';
import { extendedLabel, forward, framePosterior, logLikelihood, sequenceEmissions } from './ctc.js';
import { frameOffset } from './math.js';

/** Keys within a relative 10⁻⁶ of the best count as tied when z* is chosen (README, "Numerics at the extremes"). */
export const Z_TIE = 1e-6;

/**
 * z*_t for t < T_n. `logP[t·C + k]` = ln P_tk, `yPrime` = y' (all 0 for an impossible sequence, whose frames then
 * get the blank; so does 'viterbi' when no path exists). Near-ties are ties, so that every backend picks the same
 * class although each rounds y' and P its own way: 'ratio' takes the classes whose key y'_tk / max(P_tk, 10⁻⁸) is
 * within a relative Z_TIE of the largest, then among them those whose y'_tk is within Z_TIE of their largest, and
 * the lowest class of those; 'posterior' the lowest class whose y'_tk is within Z_TIE of the largest.
 */
export function latentAlignment(
  mode: DctcAlignment,
  logP: Float64Array,
  yPrime: Float64Array,
  lPrime: Int32Array,
  Tn: number,
  C: number,
  blank: number,
  viterbiEmissions: Float64Array = logP,
): Int32Array {
  const z = new Int32Array(Tn).fill(blank);
  if (mode === 'viterbi') {
    // On the clamped relative emissions, as ctcAlign: the same path on every backend.
    const { path } = viterbi(viterbiEmissions, lPrime, Tn, C, blank);
    if (path) z.set(path);
    return z;
  }
  const key = new Float64Array(C);
  for (let t = 0; t < Tn; t++) {
    let any = false;
    for (let k = 0; k < C; k++) if (yPrime[t * C + k] !== 0) any = true;
    if (!any) continue; // y'_t ≡ 0: impossible sequence → blank
    for (let k = 0; k < C; k++) {
      const y = yPrime[t * C + k];
      key[k] = mode === 'posterior' ? y : y / Math.max(Math.exp(logP[t * C + k]), 1e-8);
    }
    z[t] = nearTieArgmax(key, yPrime, t * C, C);
  }
  return z;
}

/** The z* rule on one frame: the classes with key_k ≥ (1 − Z_TIE)·max key, then of those the ones with
 * y_k ≥ (1 − Z_TIE)·their max y, then the lowest class. */
export function nearTieArgmax(key: ArrayLike<number>, y: ArrayLike<number>, yOffset: number, C: number): number {
  let best = 0;
  for (let k = 0; k < C; k++) if (key[k] > best) best = key[k];
  const keyFloor = best * (1 - Z_TIE);
  let ybest = 0;
  for (let k = 0; k < C; k++) if (key[k] >= keyFloor && y[yOffset + k] > ybest) ybest = y[yOffset + k];
  const yFloor = ybest * (1 - Z_TIE);
  for (let k = 0; k < C; k++) if (key[k] >= keyFloor && y[yOffset + k] >= yFloor) return k;
  return 0;
}

/**
 * The distillation term at one frame in log space (README, "Numerics at the extremes"): with ρ_k = s·(a_k − max a)
 * (`rel`), r = ln Σ_k e^{ρ_k} and R_z = ln Σ_{k≠z} e^{ρ_k},
 *   Δ = R_z − ρ_z + s·m,   CE = −ln Q_z = softplus(Δ),   1 − Q_z = σ(Δ),   Q_k = P_k·e^ℓ (k ≠ z), ℓ = r − R_z − softplus(−Δ)
 * (Q_t = softmax(s·a_t − s·m·e_z)): no term overflows or cancels for any s·m up to 1e36. With m = 0: Q = P.
 */
export function distillFrame(
  rel: Float64Array,
  off: number,
  C: number,
  z: number,
  r: number,
  sm: number,
): { ce: number; q1: number; ell: number } {
  if (sm === 0) {
    const lnPz = rel[off + z] - r;
    return { ce: -lnPz, q1: -Math.expm1(lnPz), ell: 0 };
  }
  let m = -Infinity;
  for (let k = 0; k < C; k++) if (k !== z && rel[off + k] > m) m = rel[off + k];
  if (m === -Infinity) return { ce: 0, q1: 0, ell: 0 }; // only z has probability: Q_z = 1
  let sum = 0;
  for (let k = 0; k < C; k++) if (k !== z) sum += Math.exp(rel[off + k] - m);
  const Rz = m + Math.log(sum);
  const d = Rz - rel[off + z] + sm;
  return { ce: softplus(d), q1: sigmoid(d), ell: r - Rz - softplus(-d) };
}

/** ln(1 + e^x) without overflow. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}
/** 1 / (1 + e^−x) without overflow. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** The DCTC loss of a batch, z* estimated as `p.alignment` says. */
export function dctcLoss(data: ArrayLike<number>, p: DctcProblem): RefDctcResult {
  return dctc(data, p, null);
}

/** The DCTC loss with z* given (N×T, entries for t < T_n used): the loss as a function of the logits alone, whose
 * gradient `grad` is — what finite differences check. */
export function dctcLossWithAlignment(data: ArrayLike<number>, p: DctcProblem, alignment: Int32Array): RefDctcResult {
  return dctc(data, p, alignment);
}

function dctc(data: ArrayLike<number>, p: DctcProblem, fixed: Int32Array | null): RefDctcResult {
  const { batch: N, time: T, classes: C, blank, scale: s, margin: m, lambda, ctcWeight: beta } = p;
  const losses = new Float64Array(N);
  const ctcLosses = new Float64Array(N);
  const distillLosses = new Float64Array(N);
  const alignment = new Int32Array(N * T).fill(-1);
  const grad = p.grad ? new Float64Array(N * T * C) : undefined;
  // red: 'mean' averages L_n over the batch (no division by the target length); 'sum' and 'none' add them.
  const red = p.reduction === 'mean' ? 1 / N : 1;
  let loss = 0;

  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const l = p.targets.subarray(p.targetOffsets[n], p.targetOffsets[n] + p.targetLengths[n]);
    const lPrime = extendedLabel(l, blank);

    // ρ = s·(a_t − max a_t) per frame, ln P = ρ − r_t, and the CTC term under P on ρ (README, "Numerics at the
    // extremes").
    const em = sequenceEmissions(data, p, n, Tn, true, s);
    if (em.status === 'nan') {
      // NaN in, NaN out: both terms, the loss and the rows t < T_n; z* is the blank.
      losses[n] = ctcLosses[n] = distillLosses[n] = NaN;
      loss += NaN;
      alignment.fill(blank, n * T, n * T + Tn);
      if (grad) for (let t = 0; t < Tn; t++) grad.fill(NaN, frameOffset(p, n, t), frameOffset(p, n, t) + C);
      continue;
    }
    const logP = em.logY!;
    const rel = em.raw; // unclamped ρ, for the distillation term

    // The CTC term under P and its posterior y' (0 for an impossible sequence); for logits −ln p ≥ 0 exactly.
    const logAlpha = forward(em.rel, lPrime, Tn, C, blank);
    const logPl = logLikelihood(logAlpha, lPrime.length, Tn);
    const impossible = logPl === -Infinity;
    const nll = 0 - (logPl + em.shift);
    ctcLosses[n] = impossible ? (p.zeroInfinity ? 0 : Infinity) : nll < 0 ? 0 : nll;
    const yPrime =
      impossible || Tn === 0 ? new Float64Array(Tn * C) : framePosterior(em.rel, lPrime, logAlpha, Tn, C, blank);

    const z = fixed
      ? fixed.subarray(n * T, n * T + Tn)
      : latentAlignment(p.alignment, logP, yPrime, lPrime, Tn, C, blank, em.rel);
    alignment.set(z, n * T);

    // The distillation term: CE_t = −ln Q_t[z], Q_t = softmax(u_t − s·m·e_z), in log space (distillFrame).
    const sm = s * m;
    let distill = 0;
    for (let t = 0; t < Tn; t++) {
      const zt = z[t];
      const d = distillFrame(rel, t * C, C, zt, -em.c[t], sm);
      distill += d.ce;
      if (!grad) continue;
      const at = frameOffset(p, n, t);
      for (let k = 0; k < C; k++) {
        const lnPk = logP[t * C + k];
        const P = Math.exp(lnPk);
        const ctcPart = impossible ? 0 : beta * (P - yPrime[t * C + k]);
        const distillPart = k === zt ? -lambda * d.q1 : lambda * Math.exp(lnPk + d.ell);
        grad[at + k] = red * s * (ctcPart + distillPart);
      }
    }
    distillLosses[n] = distill;

    losses[n] = (beta === 0 ? 0 : beta * ctcLosses[n]) + lambda * distill;
    loss += losses[n];
  }

  if (p.reduction === 'mean') loss /= N;
  const result: RefDctcResult = { losses, loss, alignment, ctcLosses, distillLosses };
  if (grad) result.grad = grad;
  return result;
}
