// CTC (Graves, Fernández, Gomez & Schmidhuber, ICML 2006) in float64: the forward-backward algorithm in log space,
// the loss −ln p(l|x), the frame posterior y'_tk = p(π_t = k | l, x) that the iterative-fitting paper calls the
// "pseudo ground truth" (its Eq. 12), and the gradient y − y' (its Eq. 11 / Graves' Eq. 16).
//
// Notation: l is the label sequence of one batch element, l' the extended label (a blank before, between and after
// the labels: |l'| = 2|l| + 1), y_k^t the probability of class k at frame t, α_t(s) / β_t(s) the forward / backward
// variables. Everything below is in log space: logAlpha[t·S + s] = ln α_t(s), with S = |l'|. Indices are 0-based
// (the paper's t = 1 is our t = 0, its s = 1 our s = 0).
import type { CtcProblem, Problem, RefLossResult } from '../types.js';
import { activeFit, frameWeights, nonBlankProportion, type FitSequence } from './fit.js';
import { clampLogZero, frameOffset, logAddExp, relativeFrame } from './math.js';

/** l' = (blank, l_1, blank, l_2, …, l_|l|, blank). */
export function extendedLabel(l: ArrayLike<number>, blank: number): Int32Array {
  const lPrime = new Int32Array(2 * l.length + 1).fill(blank);
  for (let u = 0; u < l.length; u++) lPrime[2 * u + 1] = l[u];
  return lPrime;
}

/** The transition s−2 → s is allowed when l'_s is a label that differs from the previous label l'_{s−2}. */
function canSkip(lPrime: Int32Array, s: number, blank: number): boolean {
  return s >= 2 && lPrime[s] !== blank && lPrime[s] !== lPrime[s - 2];
}

/**
 * Forward variables ln α_t(s) for t < T_n (Graves 2006, Eq. 5–8):
 *   α_1(1) = y_b^1,  α_1(2) = y_{l_1}^1,  α_1(s) = 0 for s > 2                                   (Eq. 6–7)
 *   α_t(s) = (α_{t−1}(s) + α_{t−1}(s−1) [+ α_{t−1}(s−2) if canSkip]) · y_{l'_s}^t                (Eq. 8)
 * `logY[t·C + k]` = ln y_k^t.
 */
export function forward(logY: Float64Array, lPrime: Int32Array, Tn: number, C: number, blank: number): Float64Array {
  const S = lPrime.length;
  const logAlpha = new Float64Array(Tn * S).fill(-Infinity);
  if (Tn === 0) return logAlpha;
  logAlpha[0] = logY[lPrime[0]];
  if (S > 1) logAlpha[1] = logY[lPrime[1]];
  for (let t = 1; t < Tn; t++) {
    const prev = (t - 1) * S;
    const cur = t * S;
    for (let s = 0; s < S; s++) {
      let a = logAlpha[prev + s];
      if (s >= 1) a = logAddExp(a, logAlpha[prev + s - 1]);
      if (canSkip(lPrime, s, blank)) a = logAddExp(a, logAlpha[prev + s - 2]);
      logAlpha[cur + s] = a === -Infinity ? -Infinity : a + logY[t * C + lPrime[s]];
    }
  }
  return logAlpha;
}

/**
 * Backward variables ln β_t(s) for t < T_n, in Graves' convention where β_t(s) includes y_{l'_s}^t
 * (Graves 2006, Eq. 9–11):
 *   β_T(|l'|) = y_b^T,  β_T(|l'|−1) = y_{l_|l|}^T,  β_T(s) = 0 otherwise                          (Eq. 10)
 *   β_t(s) = (β_{t+1}(s) + β_{t+1}(s+1) [+ β_{t+1}(s+2) if l'_{s+2} may skip to]) · y_{l'_s}^t     (Eq. 11)
 * so that α_t(s) β_t(s) / y_{l'_s}^t = Σ_{π ∈ B⁻¹(l), π_t = l'_s} p(π|x)                           (Eq. 14)
 */
export function backward(logY: Float64Array, lPrime: Int32Array, Tn: number, C: number, blank: number): Float64Array {
  const S = lPrime.length;
  const logBeta = new Float64Array(Tn * S).fill(-Infinity);
  if (Tn === 0) return logBeta;
  const last = (Tn - 1) * S;
  logBeta[last + S - 1] = logY[(Tn - 1) * C + lPrime[S - 1]];
  if (S > 1) logBeta[last + S - 2] = logY[(Tn - 1) * C + lPrime[S - 2]];
  for (let t = Tn - 2; t >= 0; t--) {
    const next = (t + 1) * S;
    const cur = t * S;
    for (let s = 0; s < S; s++) {
      let b = logBeta[next + s];
      if (s + 1 < S) b = logAddExp(b, logBeta[next + s + 1]);
      // s → s+2 is the skip transition into s+2, allowed under the same rule as in the forward pass.
      if (s + 2 < S && canSkip(lPrime, s + 2, blank)) b = logAddExp(b, logBeta[next + s + 2]);
      logBeta[cur + s] = b === -Infinity ? -Infinity : b + logY[t * C + lPrime[s]];
    }
  }
  return logBeta;
}

/** ln p(l|x) = ln(α_T(|l'|) + α_T(|l'|−1)) (Graves 2006, Eq. 8 end); with T_n = 0 it is ln 1 = 0 for an empty
 * label and ln 0 = −∞ otherwise. */
export function logLikelihood(logAlpha: Float64Array, S: number, Tn: number): number {
  if (Tn === 0) return S === 1 ? 0 : -Infinity;
  const last = (Tn - 1) * S;
  return S === 1 ? logAlpha[last] : logAddExp(logAlpha[last + S - 1], logAlpha[last + S - 2]);
}

/**
 * y'_tk = p(π_t = k | l, x) = Σ_{s: l'_s = k} α_t(s) β_t(s) / y_k^t  /  Σ_s α_t(s) β_t(s) / y_{l'_s}^t: the pseudo
 * ground truth (iterative fitting Eq. 12, via Graves Eq. 14), T_n × C, for a sequence with p(l|x) > 0. Each frame is
 * normalised by its own total (in exact arithmetic every frame's total is p(l|x), Graves Eq. 14), so that rows sum to
 * 1 to rounding even where α + β − ln p would cancel. `logY` may be relative to any per-frame constant (the α, β of
 * the same logY).
 */
export function framePosterior(
  logY: Float64Array,
  lPrime: Int32Array,
  logAlpha: Float64Array,
  Tn: number,
  C: number,
  blank: number,
): Float64Array {
  const S = lPrime.length;
  const logBeta = backward(logY, lPrime, Tn, C, blank);
  const yPrime = new Float64Array(Tn * C);
  const v = new Float64Array(S);
  for (let t = 0; t < Tn; t++) {
    let m = -Infinity;
    for (let s = 0; s < S; s++) {
      const a = logAlpha[t * S + s];
      const b = logBeta[t * S + s];
      // −∞ where no path of l passes through (t, s).
      v[s] = a === -Infinity || b === -Infinity ? -Infinity : a + b - logY[t * C + lPrime[s]];
      if (v[s] > m) m = v[s];
    }
    if (m === -Infinity) continue;
    let z = 0;
    for (let s = 0; s < S; s++) z += Math.exp(v[s] - m);
    const lz = Math.log(z);
    for (let s = 0; s < S; s++) if (v[s] !== -Infinity) yPrime[t * C + lPrime[s]] += Math.exp(v[s] - m - lz);
  }
  return yPrime;
}

/** One sequence's emissions (README, "Numerics at the extremes"). */
export interface SequenceEmissions {
  /** 'nan': a frame t < T_n holds NaN or +∞ (or, for logits, only −∞); 'zero': a log-probs frame is all −∞. */
  status: 'ok' | 'nan' | 'zero';
  /** ρ[t·C + k] = ln y_k^t − c_t, with ρ < LOG_ZERO as −∞: what the recursions run on. */
  rel: Float64Array;
  /** Logits only: ln y_k^t = the log-softmax of s·x_t (unclamped). */
  logY: Float64Array | null;
  /** The unclamped ρ (DCTC's distillation term reads it). */
  raw: Float64Array;
  /** c_t per frame (logits: −ln Σ_k e^{ρ_tk}). */
  c: Float64Array;
  /** Σ_{t<T_n} c_t, in frame order: ln p(l|x) = ln p_ρ(l) + shift. */
  shift: number;
}

/** The emissions of sequence n over its T_n frames (logit scale s: DCTC's; 1 otherwise). */
export function sequenceEmissions(
  data: ArrayLike<number>,
  p: { batch: number; time: number; classes: number; layout: 'NTC' | 'TNC' },
  n: number,
  Tn: number,
  logits: boolean,
  s = 1,
): SequenceEmissions {
  const C = p.classes;
  const rel = new Float64Array(Tn * C);
  const logY = logits ? new Float64Array(Tn * C) : null;
  const cs = new Float64Array(Tn);
  let shift = 0;
  let status: SequenceEmissions['status'] = 'ok';
  for (let t = 0; t < Tn; t++) {
    const c = relativeFrame(data, frameOffset(p as Problem, n, t), C, logits, s, rel, t * C);
    if (Number.isNaN(c)) return { status: 'nan', rel, logY, raw: rel, c: cs, shift: NaN };
    cs[t] = c;
    if (c === -Infinity) status = 'zero';
    else shift += c;
    if (logY) for (let k = 0; k < C; k++) logY[t * C + k] = rel[t * C + k] + c;
  }
  const raw = logY ? rel.slice() : rel;
  clampLogZero(rel);
  return { status, rel, logY, raw, c: cs, shift };
}

/**
 * CTC loss of a batch. Per sequence n: loss_n = −ln p(l|x) (Graves 2006, Eq. 14 / iterative fitting Eq. 3);
 * +∞ when no path collapses to l (0 with zeroInfinity). On request:
 *  - posterior y'_tk = Σ_{s: l'_s = k} α_t(s) β_t(s) / (p(l|x) · y_k^t) = p(π_t = k | l, x)  (iterative fitting Eq. 12)
 *  - grad: 'logits' scale·(y_k^t − y'_tk) (iterative fitting Eq. 5/11; Graves Eq. 16); 'logProbs' −scale·y'_tk
 *    (the log-probs as free inputs: ∂(−ln p)/∂ ln y_k^t = −y'_tk), or with gradConvention 'pytorch'
 *    scale·(e^{x_tk} − y'_tk), PyTorch's: its F.ctc_loss takes x = log_softmax(z) for granted and returns
 *    ∂(−ln p)/∂z_tk = y_k^t − y'_tk (Graves Eq. 16) as the gradient of x, with y = e^x read from the input.
 * Both are zero on padded frames t ≥ T_n and for impossible sequences (also with zeroInfinity).
 * scale and the reduced loss: 'mean' → 1/(N·max(L_n, 1)) and (1/N) Σ_n loss_n / max(L_n, 1) (as PyTorch);
 * 'sum' → 1 and Σ_n loss_n; 'none' → 1 and, for the scalar, Σ_n loss_n too (the per-sequence values are in
 * `losses`; the gradient is that of the sum).
 * With `p.fit` (logits only; see fit.ts) the fitted target moves: y' ← the α-rescaled y' (Eq. 13–16), and the
 * gradient row t becomes scale·ŵ_t·(y_t − y'_t) (Eq. 17–18); `posterior` returns that y'. The loss is unchanged.
 */
export function ctcLoss(data: ArrayLike<number>, p: CtcProblem): RefLossResult {
  const { batch: N, time: T, classes: C, blank } = p;
  const fit = activeFit(p.fit);
  if (fit && p.input !== 'logits') throw new RangeError("fit (alpha/gamma) needs input 'logits'");
  const losses = new Float64Array(N);
  const grad = p.grad ? new Float64Array(N * T * C) : undefined;
  const posterior = p.posterior ? new Float64Array(N * T * C) : undefined;
  let loss = 0;

  // Pass 1: the loss of every sequence and, where outputs are wanted, y (as ln y) and y'. Impossible sequences and
  // T_n = 0 have no y' (their outputs stay 0) and take no part in the fitting sums.
  const fitted: (FitSequence & { n: number; logY: Float64Array })[] = [];
  for (let n = 0; n < N; n++) {
    const Tn = p.inputLengths[n];
    const L = p.targetLengths[n];
    const l = p.targets.subarray(p.targetOffsets[n], p.targetOffsets[n] + L);
    const lPrime = extendedLabel(l, blank);
    const S = lPrime.length;

    // ρ = ln y − c_t per frame (log-softmax relative to its maximum, or the log-probs relative to theirs).
    const logits = p.input === 'logits';
    const em = sequenceEmissions(data, p, n, Tn, logits);
    const perLabel = p.reduction === 'mean' ? 1 / Math.max(L, 1) : 1;
    if (em.status === 'nan') {
      // NaN in, NaN out: the loss and the rows t < T_n (zeroInfinity does not apply).
      losses[n] = NaN;
      loss += NaN;
      for (let t = 0; t < Tn; t++) {
        const at = frameOffset(p, n, t);
        for (let k = 0; k < C; k++) {
          if (grad) grad[at + k] = NaN;
          if (posterior) posterior[at + k] = NaN;
        }
      }
      continue;
    }

    const logAlpha = forward(em.rel, lPrime, Tn, C, blank);
    const logPRel = logLikelihood(logAlpha, S, Tn);
    const impossible = logPRel === -Infinity || em.status === 'zero';
    // ln p(l|x) = ln p_ρ(l) + Σ_t c_t in double; for logits −ln p ≥ 0 exactly, so a rounding artefact below 0 is 0.
    const nll = 0 - (logPRel + em.shift);
    losses[n] = impossible ? (p.zeroInfinity ? 0 : Infinity) : logits && nll < 0 ? 0 : nll === 0 ? 0 : nll;
    loss += losses[n] * perLabel;

    if ((!grad && !posterior) || impossible || Tn === 0) continue;
    const yPrime = framePosterior(em.rel, lPrime, logAlpha, Tn, C, blank);
    const logY = em.logY ?? em.rel; // logProbs: only y' is used
    fitted.push({ n, Tn, labels: l, logY, yPrime });
  }

  // Iterative fitting: α moves y' towards a non-blank share α (Eq. 13–16), γ weights the frames (Eq. 17–18).
  if (fit && fit.alpha !== 0) {
    if (fit.alphaScope === 'batch') nonBlankProportion(fitted, fit.alpha, C, blank);
    else for (const seq of fitted) nonBlankProportion([seq], fit.alpha, C, blank);
  }

  // Pass 2: write y' and the gradient.
  const pytorch = p.input === 'logProbs' && p.gradConvention === 'pytorch';
  for (const { n, Tn, labels, logY, yPrime } of fitted) {
    const weights = fit && fit.gamma !== 0 ? frameWeights(logY, yPrime, Tn, C, fit.gamma) : null;
    const scale = p.reduction === 'mean' ? 1 / Math.max(labels.length, 1) / N : 1;
    for (let t = 0; t < Tn; t++) {
      const at = frameOffset(p, n, t);
      const w = weights ? weights[t] : 1;
      for (let k = 0; k < C; k++) {
        const yp = yPrime[t * C + k];
        if (posterior) posterior[at + k] = yp;
        if (grad) {
          grad[at + k] =
            p.input === 'logits'
              ? scale * w * (Math.exp(logY[t * C + k]) - yp)
              : pytorch
                ? scale * (Math.exp(data[at + k]) - yp)
                : 0 - scale * yp;
        }
      }
    }
  }

  if (p.reduction === 'mean') loss /= N;
  const result: RefLossResult = { losses, loss };
  if (grad) result.grad = grad;
  if (posterior) result.posterior = posterior;
  return result;
}
