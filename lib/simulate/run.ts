// simulate(): the configurations, the gradient steps and the snapshots (Li & Wang, "Reinterpreting CTC training as
// iterative fitting", Sec. 2.4 and Fig. 4–6). A free T×C table of logits — no network — trained by plain gradient
// descent on one label sequence, with the gradient each loss of the package returns. model.ts holds the types and
// the metrics, report.ts draws a result, cli.ts is the command.
import { aceCount, aceLoss, ctcGreedyDecode, ctcLoss, dctcLoss } from '../index.js';
import { Args, BACKENDS, DCTC_ALIGNMENTS, DCTC_DEFAULT_LAMBDA, FIT_SCOPES, fitAlpha, fitGamma } from '../options.js';
import type { ResolvedBackend } from '../types.js';
import {
  aceMinimum,
  aceTarget,
  BLANK,
  configName,
  DEFAULT_COMPARISON,
  defaultSnapshots,
  initialTable,
  rows,
  sameLabels,
  shape,
  SIMULATE_DEFAULTS,
  softmaxRows,
  type NormalConfig,
  type SimLoss,
  type SimPoint,
  type SimRun,
  type SimSnapshot,
  type SimulateOptions,
  type SimulateResult,
} from './model.js';

const CONFIG_KEYS = ['loss', 'alpha', 'alphaScope', 'gamma', 'lambda', 'alignment', 'name'] as const;
const OPTION_KEYS = [
  'labels',
  'classes',
  'frames',
  'iters',
  'lr',
  'seed',
  'every',
  'snapshots',
  'backend',
  'configs',
  'onProgress',
];

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
  const alpha = c.alpha === undefined ? null : fitAlpha(a, `${what}.alpha`, c.alpha);
  if (c.alphaScope !== undefined && alpha === null) {
    throw new RangeError(`${a.fn}: ${what}.alphaScope needs ${what}.alpha`);
  }
  const alphaScope = alpha === null ? null : a.oneOf(`${what}.alphaScope`, c.alphaScope, FIT_SCOPES, 'batch');
  const gamma = c.gamma === undefined ? null : fitGamma(a, `${what}.gamma`, c.gamma);
  const lambda = loss === 'dctc' ? a.nonNegative(`${what}.lambda`, c.lambda, DCTC_DEFAULT_LAMBDA) : null;
  const alignment = loss === 'dctc' ? a.oneOf(`${what}.alignment`, c.alignment, DCTC_ALIGNMENTS, 'ratio') : null;
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
  const backend = a.oneOf('backend', o.backend, BACKENDS, 'auto');
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
