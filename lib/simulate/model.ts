// The simulator's model: the types of its options and results, the free table of logits, its metrics and the
// targets each loss fits. No imports from the rest of lib/simulate (run.ts, report.ts and cli.ts import this).
import { DCTC_DEFAULT_LAMBDA } from '../options.js';
import { mulberry32 } from '../random.js';
import type { BackendName, DctcAlignment, FitOptions, ResolvedBackend } from '../types.js';

type FitScope = NonNullable<FitOptions['alphaScope']>;

/** The blank's class index. */
export const BLANK = 0;

export type SimLoss = 'ctc' | 'ace' | 'dctc';

/** One configuration of the simulator: a loss and its options. */
export interface SimConfig {
  /** Default 'ctc'. */
  loss?: SimLoss;
  /** CTC only: the non-blank share of the fitted target (Li & Wang Eq. 13–16), in (0, 1). */
  alpha?: number;
  /** CTC only, with alpha: default 'batch' (with one sequence both scopes agree). */
  alphaScope?: FitScope;
  /** CTC only: key-frame weighting (Eq. 17–18), ≥ 0. */
  gamma?: number;
  /** DCTC only: weight of the distillation term, default 0.01. */
  lambda?: number;
  /** DCTC only: how z* is estimated, default 'ratio'. */
  alignment?: DctcAlignment;
  /** Its name in the report and the JSON; default from the options, e.g. "ctc α=0.5 γ=1". */
  name?: string;
}

export interface SimulateOptions {
  /** The label sequence (classes in [1, classes), the blank is class 0). Default [2, 1, 3], as the paper. */
  labels?: ArrayLike<number>;
  /** C, classes including the blank. Default 4. */
  classes?: number;
  /** T, frames. Default 20 (the paper also shows 50). */
  frames?: number;
  /** Gradient steps. Default 3000. */
  iters?: number;
  /** Learning rate of the plain gradient descent x ← x − lr·∂L/∂x. Default 0.1. */
  lr?: number;
  /** Seed of the initial table (logits uniform in [0, 0.01)). Default 1. */
  seed?: number;
  /** Snapshot interval: the outputs and the fitted target are kept at iterations 0, every, 2·every, … and the
   * last. Default: the 1-2-5 series 0, 10, 20, 50, 100, 200, 500, 1000, … up to `iters`, and `iters` (most of the
   * change happens early). */
  every?: number;
  /** Instead of `every`: the iterations to keep, each in [0, iters]. */
  snapshots?: ArrayLike<number>;
  /** Default 'auto'. */
  backend?: BackendName;
  /** Default: DEFAULT_COMPARISON. */
  configs?: SimConfig[];
  /** Called now and then with the iterations done and the total, over all configurations. */
  onProgress?: (done: number, total: number) => void;
}

/** The metrics of the table at one iteration (after `iter` gradient steps). */
export interface SimPoint {
  iter: number;
  /** The configuration's own loss (ACE: the ACE loss; DCTC: β·CTC + λ·distillation). */
  loss: number;
  /** −ln p(l|x) of the table, for every configuration. */
  ctcLoss: number;
  /** (1/T) Σ_t Σ_{k≠blank} y_k^t: the share of the output mass that is not blank. */
  nonBlankShare: number;
  /** |S|·Σ_t n_t² / (Σ_t n_t)² with n_t = Σ_{k≠blank} y_k^t: 1 when each label sits on one frame and nothing else
   * is non-blank, |S|/T when the non-blank mass is spread evenly over the frames; null when there is none. */
  spikiness: number | null;
  /** The greedy CTC decode (argmax per frame, merge repeats, drop blanks) equals the labels. */
  decodeCorrect: boolean;
  /** aceCount's rounded per-class counts equal the labels' counts (every non-blank class). */
  countsCorrect: boolean;
}

/** The table at one iteration: the output probabilities y and the target y' the loss fits, T rows of C. */
export interface SimSnapshot {
  iter: number;
  probs: number[][];
  target: number[][];
  decode: number[];
}

export interface SimSummary {
  /** First iteration whose greedy decode equals the labels, or null. */
  firstCorrectDecode: number | null;
  /** First iteration whose rounded counts equal the labels' counts, or null. */
  firstCorrectCounts: number | null;
  /** First iteration with a non-blank share below 0.1 (the suppression phase), or null. */
  firstSuppressed: number | null;
  /** The metrics after the last step. */
  final: SimPoint;
  finalDecode: number[];
  /** aceCount's rounded counts per class after the last step (blank included). */
  finalCounts: number[];
  /** The loss's minimum on a free table: 0 for the CTC family, H(N̄) = −Σ_k N̄_k ln N̄_k for ACE. */
  minLoss: number;
}

export interface SimRun {
  name: string;
  config: Required<Omit<SimConfig, 'alpha' | 'gamma' | 'alphaScope' | 'lambda' | 'alignment'>> & {
    alpha: number | null;
    alphaScope: FitScope | null;
    gamma: number | null;
    lambda: number | null;
    alignment: DctcAlignment | null;
  };
  backend: ResolvedBackend;
  summary: SimSummary;
  /** The metrics every `curveStep` iterations and at the last. */
  curve: SimPoint[];
  snapshots: SimSnapshot[];
}

export interface SimulateResult {
  /** Identifies the JSON layout (simulate.schema.json). */
  format: 'seqloss-simulate/1';
  options: {
    labels: number[];
    classes: number;
    frames: number;
    iters: number;
    lr: number;
    seed: number;
    /** The snapshot interval when one was given, else null. */
    every: number | null;
    /** The iterations with a snapshot, ascending. */
    snapshots: number[];
    backend: BackendName;
    /** The curves hold every curveStep-th iteration (and the last): max(1, round(iters / 300)). */
    curveStep: number;
  };
  runs: SimRun[];
}

/** The comparison run by `seqloss simulate` without options. */
export const DEFAULT_COMPARISON: readonly SimConfig[] = Object.freeze([
  { loss: 'ctc' },
  { loss: 'ctc', alpha: 0.5 },
  { loss: 'ctc', gamma: 1 },
  { loss: 'ctc', alpha: 0.5, gamma: 1 },
  { loss: 'ace' },
  { loss: 'dctc' },
] as SimConfig[]);

export const SIMULATE_DEFAULTS = Object.freeze({
  labels: [2, 1, 3],
  classes: 4,
  frames: 20,
  iters: 3000,
  lr: 0.1,
  seed: 1,
  backend: 'auto' as BackendName,
});

/** A run's configuration, its options filled in. */
export type NormalConfig = SimRun['config'];

/** "ctc", "ctc α=0.5 γ=1", "dctc λ=0.1 viterbi": the options that differ from the loss's defaults. */
export function configName(c: Omit<NormalConfig, 'name'>): string {
  const parts: string[] = [c.loss];
  if (c.alpha !== null) parts.push(`α=${c.alpha}${c.alphaScope === 'sequence' ? ' (per sequence)' : ''}`);
  if (c.gamma !== null) parts.push(`γ=${c.gamma}`);
  if (c.lambda !== null && c.lambda !== DCTC_DEFAULT_LAMBDA) parts.push(`λ=${c.lambda}`);
  if (c.alignment !== null && c.alignment !== 'ratio') parts.push(c.alignment);
  return parts.join(' ');
}

/** 0, then the 1-2-5 series 10, 20, 50, 100, … below iters, then iters. */
export function defaultSnapshots(iters: number): number[] {
  const out = [0];
  for (let decade = 10; decade < iters; decade *= 10) {
    for (const m of [1, 2, 5]) if (m * decade < iters) out.push(m * decade);
  }
  if (iters > 0) out.push(iters);
  return out;
}

/** The initial table: logits uniform in [0, 0.01), frame by frame (row t holds the C classes of frame t). */
export function initialTable(frames: number, classes: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const x = new Float32Array(frames * classes);
  for (let i = 0; i < x.length; i++) x[i] = 0.01 * next();
  return x;
}

/** softmax of each row of the T×C table, in float64. */
export function softmaxRows(x: Float32Array, T: number, C: number): Float64Array {
  const y = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let m = -Infinity;
    for (let k = 0; k < C; k++) m = Math.max(m, x[t * C + k]);
    let s = 0;
    for (let k = 0; k < C; k++) s += y[t * C + k] = Math.exp(x[t * C + k] - m);
    for (let k = 0; k < C; k++) y[t * C + k] /= s;
  }
  return y;
}

/** Non-blank share and spikiness (see SimPoint) of probabilities y. */
export function shape(y: Float64Array, T: number, C: number, labels: number) {
  let sum = 0;
  let sq = 0;
  for (let t = 0; t < T; t++) {
    let n = 0;
    for (let k = 0; k < C; k++) if (k !== BLANK) n += y[t * C + k];
    sum += n;
    sq += n * n;
  }
  return { nonBlankShare: sum / T, spikiness: sum > 0 ? (labels * sq) / (sum * sum) : null };
}

/** ACE's minimum on a free table, reached at ȳ = N̄ (Gibbs' inequality): H(N̄) = −Σ_k N̄_k ln N̄_k, with
 * N_blank = T − |S|. */
export function aceMinimum(labels: readonly number[], frames: number): number {
  const counts = new Map<number, number>([[BLANK, frames - labels.length]]);
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) if (n > 0) h -= (n / frames) * Math.log(n / frames);
  return h;
}

/** The target ACE fits, read as iterative fitting (our derivation, not the ACE paper's): with r_k = N̄_k / ȳ_k, the
 * ACE gradient of frame t with respect to its logits is (S_t / T)·(y_t − y'_t), where y'_tk = y_tk r_k / S_t and
 * S_t = Σ_j y_tj r_j. So ACE pulls each frame towards y_t reweighted by how far each class's total is from its
 * count. */
export function aceTarget(y: Float64Array, T: number, C: number, labels: readonly number[]): Float64Array {
  const count = new Float64Array(C);
  count[BLANK] = T - labels.length;
  for (const l of labels) count[l] += 1;
  const r = new Float64Array(C);
  for (let k = 0; k < C; k++) {
    let total = 0;
    for (let t = 0; t < T; t++) total += y[t * C + k];
    r[k] = total > 0 ? count[k] / total : 0; // N̄_k / ȳ_k = N_k / y_k
  }
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let k = 0; k < C; k++) s += out[t * C + k] = y[t * C + k] * r[k];
    for (let k = 0; k < C; k++) out[t * C + k] = s > 0 ? out[t * C + k] / s : 0;
  }
  return out;
}

export const rows = (a: ArrayLike<number>, T: number, C: number) =>
  Array.from({ length: T }, (_, t) => Array.from({ length: C }, (_, k) => a[t * C + k]));

export const sameLabels = (a: ArrayLike<number>, b: readonly number[]) =>
  a.length === b.length && b.every((v, i) => a[i] === v);
