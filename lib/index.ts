// seqloss — the public API. Validation lives in options.ts, backend choice in backend.ts, the algorithms in
// lib/reference (pure TypeScript, float64) and in the native addon (C ABI: csrc/seqloss.h).
import { backends, binding, nativeExec, resolveBackend } from './backend.js';
import {
  ACE_VARIANT,
  DCTC_ALIGNMENT,
  FIT_SCOPE,
  INPUT,
  LAYOUT,
  REDUCTION,
  type NativeProblem,
} from './native.js';
import {
  ACE_SHAPE_KEYS,
  normalizeAce,
  normalizeAceDecode,
  normalizeAlign,
  normalizeCtc,
  normalizeCtcDecode,
  normalizeDctc,
} from './options.js';
import * as ref from './reference/index.js';
import type {
  AceCountResult,
  AceDecodeOptions,
  AceInputOptions,
  AceOptions,
  AceResult,
  CtcAlignOptions,
  CtcAlignResult,
  CtcDecodeOptions,
  CtcOptions,
  CtcResult,
  DctcOptions,
  DctcResult,
  Outputs,
  Problem,
  RefAlignResult,
  RefDctcResult,
  RefLossResult,
  ResolvedBackend,
} from './types.js';

export type * from './types.js';
export { backends };

function nativeProblem(
  p: Problem & { input: keyof typeof INPUT },
  extra: Partial<Pick<NativeProblem, 'targets' | 'targetLengths' | 'counts'>> = {},
): NativeProblem {
  return {
    batch: p.batch,
    time: p.time,
    classes: p.classes,
    layout: LAYOUT[p.layout],
    input: INPUT[p.input],
    blank: p.blank,
    inputLengths: p.inputLengths,
    targets: extra.targets ?? null,
    targetLengths: extra.targetLengths ?? null,
    counts: extra.counts ?? null,
  };
}

/** The reference's float64 arrays as float32, written into the caller's arrays when `out` gave them. */
function fromReference(r: RefLossResult, out: Outputs): Omit<CtcResult, 'backend'> {
  const f32 = (a: Float64Array, into?: Float32Array) => (into ? (into.set(a), into) : Float32Array.from(a));
  const result: Omit<CtcResult, 'backend'> = { losses: Float32Array.from(r.losses), loss: r.loss };
  if (r.grad) result.grad = f32(r.grad, out.grad);
  if (r.posterior) result.posterior = f32(r.posterior, out.posterior);
  return result;
}

function withBackend<T extends object>(r: T, backend: ResolvedBackend): T & { backend: ResolvedBackend } {
  return Object.assign(r, { backend });
}

function ctcCall(fn: string, logits: Float32Array, options: CtcOptions) {
  const { data, problem, exec } = normalizeCtc(fn, logits, options);
  const backend = resolveBackend(fn, exec, data.length);
  const args = [
    data,
    nativeProblem(problem, { targets: problem.targets, targetLengths: problem.targetLengths }),
    {
      reduction: REDUCTION[problem.reduction],
      zeroInfinity: problem.zeroInfinity,
      grad: problem.grad,
      posterior: problem.posterior,
      gradOut: problem.out.grad ?? null,
      posteriorOut: problem.out.posterior ?? null,
      fitAlpha: problem.fit?.alpha ?? 0,
      fitGamma: problem.fit?.gamma ?? 0,
      fitScope: FIT_SCOPE[problem.fit?.alphaScope ?? 'batch'],
    },
    nativeExec(backend, exec),
  ] as const;
  return { data, problem, backend, args };
}

/**
 * CTC loss (Graves et al. 2006) by the forward-backward algorithm in log space, with its gradient and, on
 * request, the frame posterior y'_tk = p(π_t = k | l, x) (the "pseudo ground truth": grad = softmax − y').
 *
 * `fit` reads CTC as iterative fitting (Li & Wang): α in (0, 1) rescales the target y' so that labels take the
 * share α of its mass (Eq. 13–16), γ > 0 weights frame t by its fitting error max_k (y'_tk − y_tk)^γ (Eq. 17–18).
 * Both need logits; the losses stay those of plain CTC, `grad` and `posterior` (the modified y') change.
 */
export function ctcLoss(logits: Float32Array, options: CtcOptions): CtcResult {
  const { data, problem, backend, args } = ctcCall('ctcLoss', logits, options);
  if (backend === 'js') return withBackend(fromReference(ref.ctcLoss(data, problem), problem.out), backend);
  return withBackend(binding().ctc(...args), backend);
}

/** ctcLoss off the main thread (native backends run on the libuv pool). Do not modify the inputs until it settles. */
export async function ctcLossAsync(logits: Float32Array, options: CtcOptions): Promise<CtcResult> {
  const { data, problem, backend, args } = ctcCall('ctcLossAsync', logits, options);
  if (backend === 'js') {
    await yieldToEventLoop();
    return withBackend(fromReference(ref.ctcLoss(data, problem), problem.out), backend);
  }
  return withBackend(await binding().ctcAsync(...args), backend);
}

function dctcCall(fn: string, logits: Float32Array, options: DctcOptions) {
  const { data, problem, exec } = normalizeDctc(fn, logits, options);
  const backend = resolveBackend(fn, exec, data.length);
  const args = [
    data,
    nativeProblem(problem, { targets: problem.targets, targetLengths: problem.targetLengths }),
    {
      reduction: REDUCTION[problem.reduction],
      zeroInfinity: problem.zeroInfinity,
      alignment: DCTC_ALIGNMENT[problem.alignment],
      lambda: problem.lambda,
      ctcWeight: problem.ctcWeight,
      scale: problem.scale,
      margin: problem.margin,
      grad: problem.grad,
      gradOut: problem.out.grad ?? null,
    },
    nativeExec(backend, exec),
  ] as const;
  return { data, problem, backend, args };
}

function fromReferenceDctc(r: RefDctcResult, out: Outputs): Omit<DctcResult, 'backend'> {
  const result: Omit<DctcResult, 'backend'> = {
    losses: Float32Array.from(r.losses),
    loss: r.loss,
    alignment: r.alignment,
    ctcLosses: Float32Array.from(r.ctcLosses),
    distillLosses: Float32Array.from(r.distillLosses),
  };
  if (r.grad) result.grad = out.grad ? (out.grad.set(r.grad), out.grad) : Float32Array.from(r.grad);
  return result;
}

/**
 * Distillation CTC (Zhang et al., AAAI 2024): CTC under P = softmax(s·a) plus a framewise cross-entropy towards
 * the latent alignment z* that CTC itself implies, L_n = β·ctc_n + λ·Σ_t −ln softmax(s·a_t − s·m·e_{z*_t})[z*_t].
 * z* comes from the CTC posterior y' ('ratio': argmax y'/P, as the DCTC code; 'posterior': argmax y';
 * 'viterbi': the best path); no gradient flows through it. Returns the weighted losses, their parts, z* and
 * d loss / d logits. Only logits (the softmax scale s needs them); zeroInfinity defaults to true.
 */
export function dctcLoss(logits: Float32Array, options: DctcOptions): DctcResult {
  const { data, problem, backend, args } = dctcCall('dctcLoss', logits, options);
  if (backend === 'js') return withBackend(fromReferenceDctc(ref.dctcLoss(data, problem), problem.out), backend);
  return withBackend(binding().dctc(...args), backend);
}

/** dctcLoss off the main thread (native backends run on the libuv pool). Do not modify the inputs until it settles. */
export async function dctcLossAsync(logits: Float32Array, options: DctcOptions): Promise<DctcResult> {
  const { data, problem, backend, args } = dctcCall('dctcLossAsync', logits, options);
  if (backend === 'js') {
    await yieldToEventLoop();
    return withBackend(fromReferenceDctc(ref.dctcLoss(data, problem), problem.out), backend);
  }
  return withBackend(await binding().dctcAsync(...args), backend);
}

function alignCall(fn: string, input: Float32Array, options: CtcAlignOptions) {
  const { data, problem, exec } = normalizeAlign(fn, input, options);
  const backend = resolveBackend(fn, exec, data.length);
  const args = [
    data,
    nativeProblem(problem, { targets: problem.targets, targetLengths: problem.targetLengths }),
    nativeExec(backend, exec),
  ] as const;
  return { data, problem, backend, args };
}

function fromReferenceAlign(r: RefAlignResult): Omit<CtcAlignResult, 'backend'> {
  return { paths: r.paths, scores: Float32Array.from(r.scores) };
}

/**
 * CTC forced alignment (as torchaudio's forced_align, batched): per sequence the single most probable frame path
 * π over t < T_n that collapses to the target, maximising Σ_t ln y^t_{π_t}. `paths` holds its classes (blanks
 * included), −1 on padded frames and on a whole row when no path exists; `scores` its log-probability
 * (−Infinity when none). Ties: stay before advance before skip; at the end the final blank first.
 */
export function ctcAlign(input: Float32Array, options: CtcAlignOptions): CtcAlignResult {
  const { data, problem, backend, args } = alignCall('ctcAlign', input, options);
  if (backend === 'js') return withBackend(fromReferenceAlign(ref.ctcAlign(data, problem)), backend);
  return withBackend(binding().ctcAlign(...args), backend);
}

/** ctcAlign off the main thread (native backends run on the libuv pool). Do not modify the inputs until it settles. */
export async function ctcAlignAsync(input: Float32Array, options: CtcAlignOptions): Promise<CtcAlignResult> {
  const { data, problem, backend, args } = alignCall('ctcAlignAsync', input, options);
  if (backend === 'js') {
    await yieldToEventLoop();
    return withBackend(fromReferenceAlign(ref.ctcAlign(data, problem)), backend);
  }
  return withBackend(await binding().ctcAlignAsync(...args), backend);
}

function aceCall(fn: string, input: Float32Array, options: AceOptions) {
  const { data, problem, counts32, exec } = normalizeAce(fn, input, options);
  const backend = resolveBackend(fn, exec, data.length);
  const args = [
    data,
    nativeProblem(problem, { counts: counts32 }),
    {
      reduction: REDUCTION[problem.reduction],
      variant: ACE_VARIANT[problem.variant],
      eps: problem.eps,
      grad: problem.grad,
      gradOut: problem.out.grad ?? null,
    },
    nativeExec(backend, exec),
  ] as const;
  return { data, problem, backend, args };
}

/** Aggregation cross-entropy (Xie et al. 2019), 1D or flattened 2D, cross-entropy (Eq. 8) or regression (Eq. 4). */
export function aceLoss(input: Float32Array, options: AceOptions): AceResult {
  const { data, problem, backend, args } = aceCall('aceLoss', input, options);
  if (backend === 'js') return withBackend(fromReference(ref.aceLoss(data, problem), problem.out), backend);
  return withBackend(binding().ace(...args), backend);
}

/** aceLoss off the main thread (native backends run on the libuv pool). */
export async function aceLossAsync(input: Float32Array, options: AceOptions): Promise<AceResult> {
  const { data, problem, backend, args } = aceCall('aceLossAsync', input, options);
  if (backend === 'js') {
    await yieldToEventLoop();
    return withBackend(fromReference(ref.aceLoss(data, problem), problem.out), backend);
  }
  return withBackend(await binding().aceAsync(...args), backend);
}

function splitLabels(labels: Int32Array, lengths: Int32Array, time: number): Int32Array[] {
  return Array.from(lengths, (len, n) => labels.slice(n * time, n * time + len));
}

/** Greedy (best-path) CTC decoding: per-frame argmax (ties to the lowest class), merge repeats, drop blanks. */
export function ctcGreedyDecode(logits: Float32Array, options: CtcDecodeOptions): Int32Array[] {
  const { data, problem, exec } = normalizeCtcDecode('ctcGreedyDecode', logits, options);
  const backend = resolveBackend('ctcGreedyDecode', exec, data.length);
  if (backend === 'js') return ref.ctcGreedyDecode(data, problem);
  const r = binding().ctcGreedyDecode(data, nativeProblem(problem), nativeExec(backend, exec));
  return splitLabels(r.labels, r.lengths, problem.time);
}

/** ACE decoding: per-position argmax in flatten order, drop blanks; repeats kept unless collapseRepeats. */
export function aceDecode(input: Float32Array, options: AceDecodeOptions): Int32Array[] {
  const { data, problem, collapseRepeats, exec } = normalizeAceDecode('aceDecode', input, options);
  const backend = resolveBackend('aceDecode', exec, data.length);
  if (backend === 'js') return ref.aceDecode(data, problem, collapseRepeats);
  const r = binding().aceDecode(data, nativeProblem(problem), collapseRepeats, nativeExec(backend, exec));
  return splitLabels(r.labels, r.lengths, problem.time);
}

/** ACE counting: expected[n·C + k] = Σ_t y_k^t (ACE's aggregation y_k), and those counts rounded. */
export function aceCount(input: Float32Array, options: AceInputOptions): AceCountResult {
  const { data, problem, exec } = normalizeAceDecode('aceCount', input, options, ACE_SHAPE_KEYS);
  const backend = resolveBackend('aceCount', exec, data.length);
  if (backend === 'js') {
    const r = ref.aceCount(data, problem);
    return { expected: Float32Array.from(r.expected), rounded: r.rounded };
  }
  return binding().aceCount(data, nativeProblem(problem), nativeExec(backend, exec));
}

/** Lets pending timers and I/O run before the pure-TypeScript backend takes the main thread. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
