// Public types of seqloss, and the normalised forms every backend receives.

/** Memory order of a dense N×T×C input: `NTC` = index (n·T + t)·C + k, `TNC` = index (t·N + n)·C + k. */
export type Layout = 'NTC' | 'TNC';
export type Reduction = 'none' | 'sum' | 'mean';
/** `'auto'` picks the fastest available backend ('cuda' for large problems when a GPU is present, else 'cpu',
 * else 'js'); the others force one. */
export type BackendName = 'auto' | 'cpu' | 'js' | 'cuda';
/** A backend that actually ran. */
export type ResolvedBackend = 'cpu' | 'js' | 'cuda';

/** Targets, in one of three forms:
 *  - concatenated: an Int32Array of Σ L_n labels (or more) with `targetLengths`;
 *  - padded (PyTorch's 2-D form): an Int32Array of N·S values, row n holding sequence n's L_n labels first, with
 *    `targetLengths` and `targetsWidth: S`; the values after L_n in a row are padding and never read;
 *  - one array of labels per sequence (no `targetLengths`). */
export type Targets = Int32Array | ArrayLike<number>[];

/** The convention of CTC's gradient for input 'logProbs'. 'exact' (default): d loss / d logProbs with the
 * log-probabilities as free inputs, −w_n·y'_tk. 'pytorch': w_n·(exp(logProbs_tk) − y'_tk), what PyTorch's
 * F.ctc_loss returns as its log_probs gradient (it assumes log_probs = log_softmax(z); through log_softmax's backward
 * both give the same d loss / d z). Both are 0 on padded frames and for impossible sequences. With input 'logits'
 * the two are the same gradient, d loss / d logits = w_n·(softmax − y'). */
export type GradConvention = 'exact' | 'pytorch';

interface ShapeOptions {
  /** N, sequences in the batch. */
  batch: number;
  /** C, classes including the blank. */
  classes: number;
  /** Class index of the blank. Default 0. */
  blank?: number | undefined;
  /** Default 'auto'. */
  backend?: BackendName | undefined;
  /** CPU threads for the native backend; default: one per hardware thread. */
  threads?: number | undefined;
  /** CUDA device index for backend 'cuda'. Default 0. */
  device?: number | undefined;
}

/** The supervision shared by ctcLoss, dctcLoss, ctcAlign and aceLoss's targets form (see Targets). */
export interface TargetOptions {
  /** Concatenated or padded labels (Int32Array, with `targetLengths`) or one label array per sequence. Labels lie
   * in [0, C) and are never the blank (checked only where they are read: the first L_n of each padded row). */
  targets: Targets;
  /** Required when `targets` is an Int32Array: N lengths L_n, summing to at most `targets.length` (concatenated),
   * each at most `targetsWidth` (padded). */
  targetLengths?: Int32Array | ArrayLike<number> | undefined;
  /** S, the row width of padded targets (an N×S Int32Array, PyTorch's `targets.flatten()`): `targets.length` must
   * be N·S and sequence n's labels are targets[n·S .. n·S + L_n). Absent: the concatenated form. */
  targetsWidth?: number | undefined;
}

export interface CtcOptions extends ShapeOptions, TargetOptions {
  /** T, frames per sequence (the padded length). */
  time: number;
  /** Default 'NTC'. */
  layout?: Layout | undefined;
  /** T_n per sequence, each in [0, T]. Default: T for all. */
  inputLengths?: Int32Array | ArrayLike<number> | undefined;
  /** Default 'mean': batch mean of loss_n / max(L_n, 1), as PyTorch. */
  reduction?: Reduction | undefined;
  /** Replace infinite losses (impossible alignments) by 0. Default false. */
  zeroInfinity?: boolean | undefined;
  /** 'logits' (default): softmax is applied inside; 'logProbs': used as given. */
  input?: 'logits' | 'logProbs' | undefined;
  /** Return the gradient. Default true. */
  grad?: boolean | undefined;
  /** The gradient's convention for input 'logProbs' (see GradConvention). Default 'exact'. */
  gradConvention?: GradConvention | undefined;
  /** Return y'_tk = p(π_t = k | l, x). Default false. */
  posterior?: boolean | undefined;
  /** Caller-owned output arrays (N·T·C each) to write into instead of allocating: reused across training steps
   * they save the allocation and page faults of a fresh N·T·C buffer. The result returns these same arrays. */
  out?: { grad?: Float32Array | undefined; posterior?: Float32Array | undefined } | undefined;
  /** CTC as iterative fitting (Li & Wang): modify the fitted target y' (α) and reweight frames (γ). Needs
   * `input: 'logits'`; the loss is unchanged, `grad` and `posterior` (the target actually fitted) move. */
  fit?: FitOptions | undefined;
}

/** The iterative-fitting modifications of CTC's target (Li & Wang, "Reinterpreting CTC training as iterative
 * fitting", Eq. 13–18). */
export interface FitOptions {
  /** α in (0, 1): the non-blank share of y' (Eq. 13–16). Default: off. */
  alpha?: number | undefined;
  /** Where V_k and N_k are summed for α: over the whole batch (default, as the authors' code) or per sequence. */
  alphaScope?: 'batch' | 'sequence' | undefined;
  /** γ >= 0: frame weights ŵ_t ∝ w_t^γ with w_t = max_k (y'_tk − y_tk), mean 1 per sequence (Eq. 17–18).
   * Default 0 (the identity). */
  gamma?: number | undefined;
}

/** The `grad` of a result, by the type G of the option `grad`: present when G is true or absent (undefined),
 * missing when G is false, possibly undefined when G is `boolean`. d loss / d input, in the input's layout. */
export type GradOutput<G extends boolean | undefined> = [G] extends [false]
  ? unknown
  : [G] extends [true | undefined]
    ? { grad: Float32Array }
    : { grad?: Float32Array };

/** The `posterior` of a result, by the type P of the option `posterior`: present when P is true, missing when P is
 * false or absent, possibly undefined when P is `boolean`. */
export type PosteriorOutput<P extends boolean | undefined> = [P] extends [true]
  ? { posterior: Float32Array }
  : [P] extends [false | undefined]
    ? unknown
    : { posterior?: Float32Array };

/** What ctcLoss always returns. */
export interface CtcResultBase {
  /** N values of −log p(l|x); +Infinity for an impossible alignment (0 with zeroInfinity). */
  losses: Float32Array;
  /** The reduced loss. */
  loss: number;
  backend: ResolvedBackend;
}

/** ctcLoss's result for options with `grad: G` and `posterior: P` (the defaults describe any options): `grad` is
 * d loss / d input in the input's layout (for 'none' the gradient of Σ losses; see GradConvention for 'logProbs'),
 * `posterior` is y'_tk in the input's layout, zero on padded frames. */
export type CtcResult<
  G extends boolean | undefined = boolean | undefined,
  P extends boolean | undefined = boolean | undefined,
> = CtcResultBase & GradOutput<G> & PosteriorOutput<P>;

/** How DCTC picks the latent alignment z*_t. */
export type DctcAlignment = 'ratio' | 'posterior' | 'viterbi';

export interface DctcOptions extends ShapeOptions, TargetOptions {
  time: number;
  layout?: Layout | undefined;
  inputLengths?: Int32Array | ArrayLike<number> | undefined;
  /** Only 'logits' (the default): DCTC needs the scores a to form softmax(s·a). */
  input?: 'logits' | undefined;
  /** Default 'mean': the batch mean of L_n, with no division by the target length (as the DCTC code; ctcLoss
   * divides by it). */
  reduction?: Reduction | undefined;
  /** An infinite CTC term becomes 0. Default true (as the DCTC code). */
  zeroInfinity?: boolean | undefined;
  /** λ, the weight of the framewise distillation term. Default 0.01. */
  lambda?: number | undefined;
  /** β, the weight of the CTC term. Default 1. */
  ctcWeight?: number | undefined;
  /** How z* is estimated: 'ratio' (default, the DCTC code: argmax_k y'_tk / max(P_tk, 1e-8)), 'posterior'
   * (argmax_k y'_tk) or 'viterbi' (the most probable path that collapses to the target). */
  alignment?: DctcAlignment | undefined;
  /** Scale s and margin m: P = softmax(s·a); the distillation target's logit is lowered by s·m. Default
   * { s: 1, m: 0 }. */
  margin?: { s?: number | undefined; m?: number | undefined } | undefined;
  /** Return the gradient. Default true. */
  grad?: boolean | undefined;
  /** A caller-owned N·T·C array for the gradient. */
  out?: { grad?: Float32Array | undefined } | undefined;
}

/** dctcLoss's result for options with `grad: G` (`grad`: d loss / d logits, in the input's layout). */
export type DctcResult<G extends boolean | undefined = boolean | undefined> = DctcResultBase & GradOutput<G>;

/** What dctcLoss always returns. */
export interface DctcResultBase {
  /** N values L_n = β·ctcLosses[n] + λ·distillLosses[n]. */
  losses: Float32Array;
  loss: number;
  /** N×T: z*_t for t < T_n, −1 after. */
  alignment: Int32Array;
  /** N values −ln p(l | softmax(s·a)) (+Infinity when impossible, 0 with zeroInfinity), unweighted. */
  ctcLosses: Float32Array;
  /** N values Σ_{t<T_n} −ln softmax(s·a_t − s·m·e_{z*_t})[z*_t], unweighted. */
  distillLosses: Float32Array;
  backend: ResolvedBackend;
}

export interface CtcAlignOptions extends ShapeOptions, TargetOptions {
  time: number;
  layout?: Layout | undefined;
  inputLengths?: Int32Array | ArrayLike<number> | undefined;
  /** 'logits' (default): softmax is applied inside; 'logProbs': used as given. */
  input?: 'logits' | 'logProbs' | undefined;
}

export interface CtcAlignResult {
  /** N×T: the class of the most probable path at each frame t < T_n (blanks included), −1 after; a row of −1
   * when no path collapses to the target. */
  paths: Int32Array;
  /** N values: ln p of that path; −Infinity when none exists. */
  scores: Float32Array;
  backend: ResolvedBackend;
}

interface AceShape1D {
  /** T, frames of a 1D prediction. Give either `time` or `height` and `width`. */
  time: number;
  height?: undefined;
  width?: undefined;
  /** Default 'NTC'. */
  layout?: Layout | undefined;
  /** T_n per sequence, each in [1, T]. Default: T for all. 1D only. */
  inputLengths?: Int32Array | ArrayLike<number> | undefined;
}
interface AceShape2D {
  time?: undefined;
  /** H and W of a 2D prediction in NHWC layout, flattened row-major (t = h·W + w). */
  height: number;
  width: number;
  layout?: 'NHWC' | undefined;
  inputLengths?: undefined;
}
export type AceShape = AceShape1D | AceShape2D;

export type AceInputOptions = ShapeOptions &
  AceShape & {
    /** 'logits' (default): softmax is applied inside; 'probs': probabilities used as given. */
    input?: 'logits' | 'probs' | undefined;
  };

export type AceOptions = AceInputOptions & {
  /** N×C per-class counts N_k; the blank column is ignored and set to T_n − Σ others. Or give `targets`. */
  counts?: Float32Array | ArrayLike<number> | undefined;
  /** The labels whose counts are N_k, in any form of Targets (instead of `counts`). */
  targets?: Targets | undefined;
  targetLengths?: Int32Array | ArrayLike<number> | undefined;
  /** S of padded targets, as for CTC. */
  targetsWidth?: number | undefined;
  /** 'ce' (default): cross-entropy, ACE Eq. (8); 'regression': squared error, ACE Eq. (4). */
  variant?: 'ce' | 'regression' | undefined;
  /** Added to every probability before aggregation. Default 1e-10, as in the ACE code. */
  eps?: number | undefined;
  /** Default 'mean': batch mean (as the ACE code). */
  reduction?: Reduction | undefined;
  /** Default true. */
  grad?: boolean | undefined;
  /** A caller-owned N·T·C array for the gradient, as for CTC. */
  out?: { grad?: Float32Array | undefined } | undefined;
};

/** What aceLoss always returns. */
export interface AceResultBase {
  losses: Float32Array;
  loss: number;
  backend: ResolvedBackend;
}

/** aceLoss's result for options with `grad: G` (`grad`: d loss / d input, in the input's layout). */
export type AceResult<G extends boolean | undefined = boolean | undefined> = AceResultBase & GradOutput<G>;

export interface CtcDecodeOptions extends ShapeOptions {
  time: number;
  layout?: Layout | undefined;
  inputLengths?: Int32Array | ArrayLike<number> | undefined;
  /** 'logits' (default) or 'logProbs': the argmax is the same either way. */
  input?: 'logits' | 'logProbs' | undefined;
}

export type AceDecodeOptions = AceInputOptions & {
  /** Merge repeated labels before dropping blanks. Default false, as in the ACE code. */
  collapseRepeats?: boolean | undefined;
};

export interface AceCountResult {
  /** N×C: Σ_t y_k^t. */
  expected: Float32Array;
  /** N×C: `expected` rounded to the nearest integer. */
  rounded: Int32Array;
}

export interface CudaDeviceInfo {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
  /** Whether this build can run on the device (it holds code for its architecture, or PTX it can compile). */
  usable: boolean;
  /** Why not (only when usable is false); a call with this `device` throws an Error that says the same. */
  reason?: string;
}

export interface BackendsInfo {
  js: true;
  cpu: boolean;
  /** Why the native addon is unavailable (only when cpu is false). */
  reason?: string;
  cuda: {
    /** Backend 'cuda' can run: the build has it and at least one device is usable. */
    available: boolean;
    /** Every device the CUDA runtime enumerates, usable or not. */
    devices: CudaDeviceInfo[];
    /** Why CUDA is unavailable (only when available is false). */
    reason?: string;
    compiled: boolean;
    /** The devices are emulated on the CPU by the SIMT host (a build with SEQLOSS_CUDA_EMULATE=ON): backend 'cuda'
     * runs the real kernels' code, slowly, for testing; 'auto' never picks it. */
    emulated: boolean;
    runtimeVersion?: string;
    driverVersion?: string;
    architectures?: string;
  };
  threads?: number;
  version: string;
}

// ---- normalised problems (validated; what backends receive) ---------------------------------------------------

/** The dense-input shape shared by every operation, after validation. 2D ACE arrives as 1D NTC with T = H·W. */
export interface Problem {
  batch: number;
  time: number;
  classes: number;
  layout: Layout;
  blank: number;
  /** N values T_n (always present after normalisation). */
  inputLengths: Int32Array;
}

export interface CtcProblem extends Problem {
  input: 'logits' | 'logProbs';
  /** Concatenated labels. */
  targets: Int32Array;
  /** N values L_n. */
  targetLengths: Int32Array;
  /** N values: start of sequence n's labels in `targets`. */
  targetOffsets: Int32Array;
  reduction: Reduction;
  zeroInfinity: boolean;
  grad: boolean;
  /** The gradient's convention for input 'logProbs' (absent: 'exact'). */
  gradConvention?: GradConvention;
  posterior: boolean;
  out: Outputs;
  /** The iterative-fitting modifications, or null for plain CTC (also when α is off and γ = 0). */
  fit: Fit | null;
}

/** Normalised FitOptions: alpha 0 = off. */
export interface Fit {
  alpha: number;
  alphaScope: 'batch' | 'sequence';
  gamma: number;
}

/** CTC supervision after validation. */
export interface Supervision {
  targets: Int32Array;
  targetLengths: Int32Array;
  targetOffsets: Int32Array;
}

export interface DctcProblem extends Problem, Supervision {
  input: 'logits';
  reduction: Reduction;
  zeroInfinity: boolean;
  lambda: number;
  ctcWeight: number;
  alignment: DctcAlignment;
  /** s */
  scale: number;
  /** m */
  margin: number;
  grad: boolean;
  out: Outputs;
}

export interface AlignProblem extends Problem, Supervision {
  input: 'logits' | 'logProbs';
}

/** Caller-owned output arrays (validated: N·T·C floats, not overlapping the input or each other). */
export interface Outputs {
  grad?: Float32Array;
  posterior?: Float32Array;
}

export interface AceProblem extends Problem {
  input: 'logits' | 'probs';
  /** N×C counts N_k with the blank column already set to T_n − Σ others. */
  counts: Float64Array;
  variant: 'ce' | 'regression';
  eps: number;
  reduction: Reduction;
  grad: boolean;
  out: Outputs;
}

export interface DecodeProblem extends Problem {
  input: 'logits' | 'logProbs' | 'probs';
}

/** What the float64 reference returns; the public API converts to float32. */
export interface RefLossResult {
  losses: Float64Array;
  loss: number;
  grad?: Float64Array;
  posterior?: Float64Array;
}

/** What the reference's DCTC returns. */
export interface RefDctcResult {
  losses: Float64Array;
  loss: number;
  grad?: Float64Array;
  alignment: Int32Array;
  ctcLosses: Float64Array;
  distillLosses: Float64Array;
}

/** What the reference's ctcAlign returns. */
export interface RefAlignResult {
  paths: Int32Array;
  scores: Float64Array;
}
