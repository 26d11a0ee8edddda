// Public types of seqloss, and the normalised forms every backend receives.

/** Memory order of a dense N×T×C input: `NTC` = index (n·T + t)·C + k, `TNC` = index (t·N + n)·C + k. */
export type Layout = 'NTC' | 'TNC';
export type Reduction = 'none' | 'sum' | 'mean';
/** `'auto'` picks the fastest available backend ('cuda' for large problems when a GPU is present, else 'cpu',
 * else 'js'); the others force one. */
export type BackendName = 'auto' | 'cpu' | 'js' | 'cuda';
/** A backend that actually ran. */
export type ResolvedBackend = 'cpu' | 'js' | 'cuda';

/** Targets: concatenated labels with `targetLengths`, or one array of labels per sequence. */
export type Targets = Int32Array | ArrayLike<number>[];

interface ShapeOptions {
  /** N, sequences in the batch. */
  batch: number;
  /** C, classes including the blank. */
  classes: number;
  /** Class index of the blank. Default 0. */
  blank?: number;
  /** Default 'auto'. */
  backend?: BackendName;
  /** CPU threads for the native backend; default: one per hardware thread. */
  threads?: number;
  /** CUDA device index for backend 'cuda'. Default 0. */
  device?: number;
}

export interface CtcOptions extends ShapeOptions {
  /** T, frames per sequence (the padded length). */
  time: number;
  /** Default 'NTC'. */
  layout?: Layout;
  /** Concatenated labels (with `targetLengths`) or one label array per sequence. Labels lie in [0, C) and are
   * never the blank. */
  targets: Targets;
  /** Required when `targets` is an Int32Array: N lengths summing to at most `targets.length`. */
  targetLengths?: Int32Array | ArrayLike<number>;
  /** T_n per sequence, each in [0, T]. Default: T for all. */
  inputLengths?: Int32Array | ArrayLike<number>;
  /** Default 'mean': batch mean of loss_n / max(L_n, 1), as PyTorch. */
  reduction?: Reduction;
  /** Replace infinite losses (impossible alignments) by 0. Default false. */
  zeroInfinity?: boolean;
  /** 'logits' (default): softmax is applied inside; 'logProbs': used as given. */
  input?: 'logits' | 'logProbs';
  /** Return the gradient. Default true. */
  grad?: boolean;
  /** Return y'_tk = p(π_t = k | l, x). Default false. */
  posterior?: boolean;
  /** Caller-owned output arrays (N·T·C each) to write into instead of allocating: reused across training steps
   * they save the allocation and page faults of a fresh N·T·C buffer. The result returns these same arrays. */
  out?: { grad?: Float32Array; posterior?: Float32Array };
}

export interface CtcResult {
  /** N values of −log p(l|x); +Infinity for an impossible alignment (0 with zeroInfinity). */
  losses: Float32Array;
  /** The reduced loss. */
  loss: number;
  /** d loss / d input, same layout as the input. For 'none' the gradient of Σ losses. */
  grad?: Float32Array;
  /** y'_tk, same layout as the input, zero on padded frames. */
  posterior?: Float32Array;
  backend: ResolvedBackend;
}

interface AceShape1D {
  /** T, frames of a 1D prediction. Give either `time` or `height` and `width`. */
  time: number;
  height?: undefined;
  width?: undefined;
  /** Default 'NTC'. */
  layout?: Layout;
  /** T_n per sequence, each in [1, T]. Default: T for all. 1D only. */
  inputLengths?: Int32Array | ArrayLike<number>;
}
interface AceShape2D {
  time?: undefined;
  /** H and W of a 2D prediction in NHWC layout, flattened row-major (t = h·W + w). */
  height: number;
  width: number;
  layout?: 'NHWC';
  inputLengths?: undefined;
}
export type AceShape = AceShape1D | AceShape2D;

export type AceInputOptions = ShapeOptions &
  AceShape & {
    /** 'logits' (default): softmax is applied inside; 'probs': probabilities used as given. */
    input?: 'logits' | 'probs';
  };

export type AceOptions = AceInputOptions & {
  /** N×C per-class counts N_k; the blank column is ignored and set to T_n − Σ others. Or give `targets`. */
  counts?: Float32Array | ArrayLike<number>;
  targets?: Targets;
  targetLengths?: Int32Array | ArrayLike<number>;
  /** 'ce' (default): cross-entropy, ACE Eq. (8); 'regression': squared error, ACE Eq. (4). */
  variant?: 'ce' | 'regression';
  /** Added to every probability before aggregation. Default 1e-10, as in the ACE code. */
  eps?: number;
  /** Default 'mean': batch mean (as the ACE code). */
  reduction?: Reduction;
  /** Default true. */
  grad?: boolean;
  /** A caller-owned N·T·C array for the gradient, as for CTC. */
  out?: { grad?: Float32Array };
};

export interface AceResult {
  losses: Float32Array;
  loss: number;
  grad?: Float32Array;
  backend: ResolvedBackend;
}

export interface CtcDecodeOptions extends ShapeOptions {
  time: number;
  layout?: Layout;
  inputLengths?: Int32Array | ArrayLike<number>;
}

export type AceDecodeOptions = AceInputOptions & {
  /** Merge repeated labels before dropping blanks. Default false, as in the ACE code. */
  collapseRepeats?: boolean;
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
}

export interface BackendsInfo {
  js: true;
  cpu: boolean;
  /** Why the native addon is unavailable (only when cpu is false). */
  reason?: string;
  cuda: {
    available: boolean;
    devices: CudaDeviceInfo[];
    /** Why CUDA is unavailable (only when available is false). */
    reason?: string;
    compiled: boolean;
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
  posterior: boolean;
  out: Outputs;
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
