// The iterative-fitting simulator (Li & Wang, "Reinterpreting CTC training as iterative fitting", Sec. 2.4 and
// Fig. 4–6): a free T×C table of logits — no network — trained by plain gradient descent on one label sequence,
// with the gradient each loss of the package returns. What the table turns into shows what the loss asks of a
// model's outputs: plain CTC first pushes every label under the blank (suppression), then grows narrow peaks; α
// holds the non-blank share; γ leans on the frames that move most; ACE fixes only per-class totals; DCTC adds a
// framewise pull towards its own alignment.
//
// This module runs the simulation and measures it; simulate-report.ts draws it; cli.ts is the command.
import { aceCount, aceLoss, ctcGreedyDecode, ctcLoss, dctcLoss } from './index.js';
import { Args } from './options.js';
import { mulberry32 } from './random.js';
import type { BackendName, DctcAlignment, FitOptions, ResolvedBackend } from './types.js';

type FitScope = NonNullable<FitOptions['alphaScope']>;

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

const BLANK = 0;
const CONFIG_KEYS = ['loss', 'alpha', 'alphaScope', 'gamma', 'lambda', 'alignment', 'name'] as const;
const OPTION_KEYS = ['labels', 'classes', 'frames', 'iters', 'lr', 'seed', 'every', 'snapshots', 'backend', 'configs', 'onProgress'];

type NormalConfig = SimRun['config'];

function normalizeConfig(a: Args, what: string, value: unknown): NormalConfig {
  const c = a.object(what, value, CONFIG_KEYS);
  const loss = a.oneOf(`${what}.loss`, c.loss, ['ctc', 'ace', 'dctc'] as const, 'ctc');
  const only = (key: string, owner: SimLoss) => {
    if (c[key] !== undefined && loss !== owner) {
      throw new RangeError(`${a.fn}: ${what}.${key} applies to loss '${owner}' only, got it with loss '${loss}'`);
    }
  };
  for (const key of ['alpha', 'alphaScope', 'gamma']) only(key, 'ctc');
  for (const key of ['lambda', 'alignment']) only(key, 'dctc');
  let alpha: number | null = null;
  if (c.alpha !== undefined) {
    if (typeof c.alpha !== 'number') throw a.type(`${what}.alpha`, 'a number in (0, 1)', c.alpha);
    if (!(c.alpha > 0 && c.alpha < 1)) throw a.range(`${what}.alpha`, 'a number in (0, 1)', c.alpha);
    alpha = c.alpha;
  }
  if (c.alphaScope !== undefined && alpha === null) {
    throw new RangeError(`${a.fn}: ${what}.alphaScope needs ${what}.alpha`);
  }
  const alphaScope = alpha === null ? null : a.oneOf(`${what}.alphaScope`, c.alphaScope, ['batch', 'sequence'] as const, 'batch');
  const gamma = c.gamma === undefined ? null : a.nonNegative(`${what}.gamma`, c.gamma, 0);
  const lambda = loss === 'dctc' ? a.nonNegative(`${what}.lambda`, c.lambda, 0.01) : null;
  const alignment =
    loss === 'dctc' ? a.oneOf(`${what}.alignment`, c.alignment, ['ratio', 'posterior', 'viterbi'] as const, 'ratio') : null;
  let name: string;
  if (c.name === undefined) {
    name = configName({ loss, alpha, alphaScope, gamma, lambda, alignment });
  } else {
    if (typeof c.name !== 'string') throw a.type(`${what}.name`, 'a string', c.name);
    if (c.name.length === 0) throw a.range(`${what}.name`, 'a non-empty string', c.name);
    name = c.name;
  }
  return { loss, alpha, alphaScope, gamma, lambda, alignment, name };
}

/** "ctc", "ctc α=0.5 γ=1", "dctc λ=0.1 viterbi": the options that differ from the loss's defaults. */
export function configName(c: Omit<NormalConfig, 'name'>): string {
  const parts: string[] = [c.loss];
  if (c.alpha !== null) parts.push(`α=${c.alpha}${c.alphaScope === 'sequence' ? ' (per sequence)' : ''}`);
  if (c.gamma !== null) parts.push(`γ=${c.gamma}`);
  if (c.lambda !== null && c.lambda !== 0.01) parts.push(`λ=${c.lambda}`);
  if (c.alignment !== null && c.alignment !== 'ratio') parts.push(c.alignment);
  return parts.join(' ');
}

function normalizeOptions(options: SimulateOptions) {
  const a = new Args('simulate');
  const o = a.options(options, OPTION_KEYS);
  const classes = o.classes === undefined ? SIMULATE_DEFAULTS.classes : a.int('classes', o.classes, 2);
  const labelsIn = o.labels === undefined ? SIMULATE_DEFAULTS.labels : o.labels;
  if (!Array.isArray(labelsIn) && !(labelsIn instanceof Int32Array)) {
    throw a.type('labels', 'an array of integers', labelsIn);
  }
  const labels = Array.from(labelsIn as ArrayLike<unknown>, (v, i) => a.int(`labels[${i}]`, v, 1, classes - 1));
  if (labels.length === 0) throw a.range('labels', 'at least one label', labelsIn);
  const frames = o.frames === undefined ? SIMULATE_DEFAULTS.frames : a.int('frames', o.frames, 1);
  let needed = labels.length;
  for (let i = 1; i < labels.length; i++) if (labels[i] === labels[i - 1]) needed++;
  if (frames < needed) {
    throw a.range('frames', `at least ${needed} (the labels plus a blank between repeats)`, frames);
  }
  const iters = o.iters === undefined ? SIMULATE_DEFAULTS.iters : a.int('iters', o.iters, 0, 10_000_000);
  const lr = a.positive('lr', o.lr, SIMULATE_DEFAULTS.lr);
  const seed = o.seed === undefined ? SIMULATE_DEFAULTS.seed : a.int('seed', o.seed, 0, 2 ** 32 - 1);
  const every = o.every === undefined ? null : a.int('every', o.every, 1);
  let snapshots: number[];
  if (o.snapshots !== undefined) {
    if (every !== null) throw new TypeError('simulate: give either every or snapshots, not both');
    if (!Array.isArray(o.snapshots) && !ArrayBuffer.isView(o.snapshots)) {
      throw a.type('snapshots', 'an array of integers', o.snapshots);
    }
    const list = Array.from(o.snapshots as ArrayLike<unknown>, (v, i) => a.int(`snapshots[${i}]`, v, 0, iters));
    if (list.length === 0) throw a.range('snapshots', 'at least one iteration', o.snapshots);
    snapshots = [...new Set(list)].sort((p, q) => p - q);
  } else if (every !== null) {
    snapshots = [];
    for (let it = 0; it < iters; it += every) snapshots.push(it);
    snapshots.push(iters);
  } else {
    snapshots = defaultSnapshots(iters);
  }
  const backend = a.oneOf('backend', o.backend, ['auto', 'cpu', 'js', 'cuda'] as const, 'auto');
  const configsIn = o.configs === undefined ? DEFAULT_COMPARISON : o.configs;
  if (!Array.isArray(configsIn)) throw a.type('configs', 'an array of configurations', configsIn);
  if (configsIn.length === 0) throw a.range('configs', 'at least one configuration', configsIn);
  const configs = configsIn.map((c, i) => normalizeConfig(a, `configs[${i}]`, c));
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw a.type('onProgress', 'a function', o.onProgress);
  }
  const curveStep = Math.max(1, Math.round(iters / 300));
  return {
    options: { labels, classes, frames, iters, lr, seed, every, snapshots, backend, curveStep },
    configs,
    onProgress: o.onProgress as SimulateOptions['onProgress'],
  };
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
function softmaxRows(x: Float32Array, T: number, C: number): Float64Array {
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
function shape(y: Float64Array, T: number, C: number, labels: number) {
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
function aceTarget(y: Float64Array, T: number, C: number, labels: readonly number[]): Float64Array {
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

const rows = (a: ArrayLike<number>, T: number, C: number) =>
  Array.from({ length: T }, (_, t) => Array.from({ length: C }, (_, k) => a[t * C + k]));

const sameLabels = (a: ArrayLike<number>, b: readonly number[]) =>
  a.length === b.length && b.every((v, i) => a[i] === v);

function runOne(
  o: ReturnType<typeof normalizeOptions>['options'],
  cfg: NormalConfig,
  x0: Float32Array,
  tick: () => void,
): SimRun {
  const { labels, classes: C, frames: T, iters, lr, backend, curveStep } = o;
  const keep = new Set(o.snapshots);
  const x = Float32Array.from(x0);
  const shapeOpts = { batch: 1, time: T, classes: C, backend };
  const problem = { ...shapeOpts, targets: [labels], reduction: 'sum' as const };
  const fit =
    cfg.alpha !== null || cfg.gamma !== null
      ? {
          ...(cfg.alpha !== null ? { alpha: cfg.alpha, alphaScope: cfg.alphaScope ?? 'batch' } : {}),
          ...(cfg.gamma !== null ? { gamma: cfg.gamma } : {}),
        }
      : undefined;
  const labelCounts = new Array<number>(C).fill(0);
  for (const l of labels) labelCounts[l]++;
  const curve: SimPoint[] = [];
  const snapshots: SimSnapshot[] = [];
  let firstCorrectDecode: number | null = null;
  let firstCorrectCounts: number | null = null;
  let firstSuppressed: number | null = null;
  let ran: ResolvedBackend = 'js';
  let last: { point: SimPoint; decode: number[]; counts: number[] } | null = null;

  for (let it = 0; it <= iters; it++) {
    const snap = keep.has(it);
    // The loss and its gradient at this table (reduction 'sum' on one sequence: CTC's gradient is y − y').
    let loss: number;
    let ctc: number;
    let grad: Float32Array;
    let target: ArrayLike<number> | null = null;
    if (cfg.loss === 'ctc') {
      const r = ctcLoss(x, { ...problem, posterior: snap, ...(fit ? { fit } : {}) });
      ran = r.backend;
      loss = ctc = r.loss;
      grad = r.grad!;
      if (snap) target = r.posterior!; // the target actually fitted (α-modified when α is set)
    } else if (cfg.loss === 'dctc') {
      const r = dctcLoss(x, { ...problem, lambda: cfg.lambda!, alignment: cfg.alignment! });
      ran = r.backend;
      loss = r.loss;
      ctc = r.ctcLosses[0];
      grad = r.grad!;
    } else {
      const r = aceLoss(x, { ...problem });
      ran = r.backend;
      loss = r.loss;
      grad = r.grad!;
      ctc = ctcLoss(x, { ...problem, grad: false }).loss;
    }
    const y = softmaxRows(x, T, C);
    const { nonBlankShare, spikiness } = shape(y, T, C, labels.length);
    const decode = Array.from(ctcGreedyDecode(x, shapeOpts)[0]);
    const counts = Array.from(aceCount(x, shapeOpts).rounded);
    const decodeCorrect = sameLabels(decode, labels);
    const countsCorrect = labelCounts.every((n, k) => k === BLANK || counts[k] === n);
    if (decodeCorrect && firstCorrectDecode === null) firstCorrectDecode = it;
    if (countsCorrect && firstCorrectCounts === null) firstCorrectCounts = it;
    if (nonBlankShare < 0.1 && firstSuppressed === null) firstSuppressed = it;
    const point: SimPoint = { iter: it, loss, ctcLoss: ctc, nonBlankShare, spikiness, decodeCorrect, countsCorrect };
    if (it % curveStep === 0 || it === iters) curve.push(point);
    if (snap) {
      if (cfg.loss === 'dctc') {
        // DCTC's gradient is β(y − y') + λ(Q − e_z*) (β = 1, Q = y when the margin is 0): it fits
        // y − ∂L/∂a / (β + λ) = (β y' + λ e_z*) / (β + λ).
        const t = new Float64Array(T * C);
        for (let i = 0; i < t.length; i++) t[i] = y[i] - grad[i] / (1 + cfg.lambda!);
        target = t;
      } else if (cfg.loss === 'ace') {
        target = aceTarget(y, T, C, labels);
      }
      snapshots.push({ iter: it, probs: rows(y, T, C), target: rows(target!, T, C), decode });
    }
    last = { point, decode, counts };
    if (it < iters) for (let i = 0; i < x.length; i++) x[i] -= lr * grad[i];
    tick();
  }
  return {
    name: cfg.name,
    config: cfg,
    backend: ran,
    summary: {
      firstCorrectDecode,
      firstCorrectCounts,
      firstSuppressed,
      final: last!.point,
      finalDecode: last!.decode,
      finalCounts: last!.counts,
      minLoss: cfg.loss === 'ace' ? aceMinimum(labels, T) : 0,
    },
    curve,
    snapshots,
  };
}

/**
 * Runs the iterative-fitting simulation of Li & Wang for each configuration, all from the same initial table: a
 * free T×C table of logits (uniform in [0, 0.01), from `seed`) trained on `labels` by x ← x − lr·∂L/∂x, with the
 * gradient the package's loss returns for one sequence with reduction 'sum' (for CTC exactly y − y'). Returns the
 * metrics along the way, snapshots of the outputs and the fitted target, and a summary per configuration.
 */
export function simulate(options: SimulateOptions = {}): SimulateResult {
  const { options: o, configs, onProgress } = normalizeOptions(options);
  const x0 = initialTable(o.frames, o.classes, o.seed);
  const total = configs.length * (o.iters + 1);
  const step = Math.max(1, Math.floor(total / 200));
  let done = 0;
  const tick = () => {
    done++;
    if (onProgress && (done % step === 0 || done === total)) onProgress(done, total);
  };
  const runs = configs.map((cfg) => runOne(o, cfg, x0, tick));
  return { format: 'seqloss-simulate/1', options: o, runs };
}

/** The self-contained HTML report of a simulation (SVG figures drawn with vega-lite, no scripts). */
export async function simulateReport(result: SimulateResult): Promise<string> {
  const { renderReport } = await import('./simulate-report.js');
  return renderReport(result);
}
