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
import { extendedLabel, forward, framePosterior, logLikelihood } from './ctc.js';
import { argmaxFrame, frameOffset, logSoftmaxFrame } from './math.js';

/**
 * z*_t for t < T_n (ties to the lowest class). `logP[t·C + k]` = ln P_tk, `yPrime` = y' (all 0 for an impossible
 * sequence, whose frames then get the blank; so does 'viterbi' when no path exists).
 */
export function latentAlignment(
  mode: DctcAlignment,
  logP: Float64Array,
  yPrime: Float64Array,
  lPrime: Int32Array,
  Tn: number,
  C: number,
  blank: number,
): Int32Array {
  const z = new Int32Array(Tn).fill(blank);
  if (mode === 'viterbi') {
    const { path } = viterbi(logP, lPrime, Tn, C, blank);
    if (path) z.set(path);
    return z;
  }
  const ratio = new Float64Array(C);
  for (let t = 0; t < Tn; t++) {
    let any = false;
    for (let k = 0; k < C; k++) if (yPrime[t * C + k] !== 0) any = true;
    if (!any) continue; // y'_t ≡ 0: impossible sequence → blank
    if (mode === 'posterior') {
      z[t] = argmaxFrame(yPrime, t * C, C);
    } else {
      for (let k = 0; k < C; k++) ratio[k] = yPrime[t * C + k] / Math.max(Math.exp(logP[t * C + k]), 1e-8);
      z[t] = argmaxFrame(ratio, 0, C);
    }
  }
  return z;
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
  // r: 'mean' averages L_n over the batch (no division by the target length); 'sum' and 'none' add them.
  const r = p.reduction === 'mean' ? 1 / N : 1;
  let loss = 0;

  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const l = p.targets.subarray(p.targetOffsets[n], p.targetOffsets[n] + p.targetLengths[n]);
    const lPrime = extendedLabel(l, blank);

    // ln P_t = log-softmax(s·a_t).
    const u = new Float64Array(C);
    const logP = new Float64Array(Tn * C);
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      for (let k = 0; k < C; k++) u[k] = s * data[at + k];
      logSoftmaxFrame(u, 0, C, logP, t * C);
    }

    // The CTC term under P and its posterior y' (0 for an impossible sequence).
    const logAlpha = forward(logP, lPrime, Tn, C, blank);
    const logPl = logLikelihood(logAlpha, lPrime.length, Tn);
    const impossible = logPl === -Infinity;
    ctcLosses[n] = impossible ? (p.zeroInfinity ? 0 : Infinity) : logPl === 0 ? 0 : -logPl;
    const yPrime = impossible || Tn === 0 ? new Float64Array(Tn * C) : framePosterior(logP, lPrime, logAlpha, logPl, Tn, C, blank);

    const z = fixed ? fixed.subarray(n * T, n * T + Tn) : latentAlignment(p.alignment, logP, yPrime, lPrime, Tn, C, blank);
    alignment.set(z, n * T);

    // The distillation term: CE_t = −ln Q_t[z], Q_t = softmax(u_t − s·m·e_z), in closed form from ln P_z:
    //   D = 1 − P_z + P_z·e^{−s·m},  ln Q_z = ln P_z − s·m − ln D,  Q_k = P_k / D (k ≠ z).
    let distill = 0;
    for (let t = 0; t < Tn; t++) {
      const zt = z[t];
      const lnPz = logP[t * C + zt];
      const D = -Math.expm1(lnPz) + Math.exp(lnPz) * Math.exp(-s * m);
      const lnQz = lnPz - s * m - Math.log(D);
      distill -= lnQz;
      if (!grad) continue;
      const at = frameOffset(p, n, t);
      for (let k = 0; k < C; k++) {
        const P = Math.exp(logP[t * C + k]);
        const Q = k === zt ? Math.exp(lnQz) : P / D;
        const ctcPart = impossible ? 0 : beta * (P - yPrime[t * C + k]);
        const distillPart = lambda * (Q - (k === zt ? 1 : 0));
        grad[at + k] = r * s * (ctcPart + distillPart);
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
