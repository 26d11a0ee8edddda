// One place for defaults and argument errors. Every public function passes its arguments through here before any
// backend sees them: TypeError for a wrong type or a missing option, RangeError for a bad value; each message names
// the function and the argument, says what was expected and what came.
import type {
  AceProblem,
  AlignProblem,
  Outputs,
  BackendName,
  CtcProblem,
  DctcAlignment,
  DctcProblem,
  DecodeProblem,
  Fit,
  Layout,
  Problem,
  Reduction,
} from './types.js';

const INT32_MAX = 2 ** 31 - 1;

/** Describes a received value for an error message. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (ArrayBuffer.isView(value)) {
    const n = (value as unknown as { length?: number }).length;
    return `${value.constructor.name}(${n ?? value.byteLength})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'function') return 'a function';
  return `an object`;
}

/** Builds errors for one public function: `fn: what must be expected, got received`. */
export class Args {
  constructor(readonly fn: string) {}

  type(what: string, expected: string, got: unknown): TypeError {
    return new TypeError(`${this.fn}: ${what} must be ${expected}, got ${describe(got)}`);
  }

  range(what: string, expected: string, got: unknown): RangeError {
    return new RangeError(`${this.fn}: ${what} must be ${expected}, got ${describe(got)}`);
  }

  /** An integer in [min, max]. */
  int(what: string, value: unknown, min: number, max = INT32_MAX): number {
    if (typeof value !== 'number') throw this.type(what, 'an integer', value);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw this.range(what, max === INT32_MAX ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`, value);
    }
    return value;
  }

  bool(what: string, value: unknown, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') throw this.type(what, 'a boolean', value);
    return value;
  }

  oneOf<T extends string>(what: string, value: unknown, allowed: readonly T[], fallback: T): T {
    if (value === undefined) return fallback;
    const list = allowed.map((a) => `'${a}'`).join(' | ');
    if (typeof value !== 'string') throw this.type(what, list, value);
    if (!(allowed as readonly string[]).includes(value)) throw this.range(what, list, value);
    return value as T;
  }

  /** A finite number >= min. */
  nonNegative(what: string, value: unknown, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number') throw this.type(what, 'a number', value);
    if (!Number.isFinite(value) || value < 0) throw this.range(what, 'a finite number >= 0', value);
    return value;
  }

  /** A finite number > 0. */
  positive(what: string, value: unknown, fallback: number): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number') throw this.type(what, 'a number', value);
    if (!Number.isFinite(value) || value <= 0) throw this.range(what, 'a finite number > 0', value);
    return value;
  }

  /** The options object itself, with unknown keys refused (they are usually typos). */
  options(value: unknown, known: readonly string[]): Record<string, unknown> {
    return this.object('options', value, known);
  }

  /** An options object (`what` names it: 'options', 'fit', 'margin'), with unknown keys refused. */
  object(what: string, value: unknown, known: readonly string[]): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.type(what, 'an object', value);
    }
    const prefix = what === 'options' ? '' : `${what}.`;
    for (const key of Object.keys(value)) {
      if (!known.includes(key)) {
        throw new TypeError(`${this.fn}: unknown option '${prefix}${key}' (known: ${known.join(', ')})`);
      }
    }
    return value as Record<string, unknown>;
  }

  /** N integers from an Int32Array or an array of numbers, each in [min, max]. */
  ints(what: string, value: unknown, n: number, min: number, max: number): Int32Array {
    if (!(value instanceof Int32Array) && !isNumberArray(value)) {
      throw this.type(what, 'an Int32Array or an array of integers', value);
    }
    const src = value as ArrayLike<number>;
    if (src.length !== n) throw this.range(`${what}.length`, `${n} (one per sequence)`, src.length);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(`${what}[${i}]`, src[i], min, max);
    return out;
  }
}

function isNumberArray(value: unknown): boolean {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

export interface Exec {
  backend: BackendName;
  threads: number;
  device: number;
}

const EXEC_KEYS = ['backend', 'threads', 'device'] as const;
const BACKENDS = ['auto', 'cpu', 'js', 'cuda'] as const;
const LAYOUTS = ['NTC', 'TNC'] as const;
const REDUCTIONS = ['none', 'sum', 'mean'] as const;

function exec(a: Args, o: Record<string, unknown>): Exec {
  return {
    backend: a.oneOf('backend', o.backend, BACKENDS, 'auto'),
    threads: o.threads === undefined ? 0 : a.int('threads', o.threads, 0, 4096),
    device: o.device === undefined ? 0 : a.int('device', o.device, 0, 1024),
  };
}

/** batch, time, classes, layout, blank, inputLengths, and the dense input itself. */
function shape(
  a: Args,
  data: unknown,
  dataName: string,
  o: Record<string, unknown>,
  time: number,
  layout: Layout,
  minInputLength: number,
): Problem {
  if (!(data instanceof Float32Array)) throw a.type(dataName, 'a Float32Array', data);
  const batch = a.int('batch', o.batch, 1);
  const classes = a.int('classes', o.classes, 1);
  const total = batch * time * classes;
  if (!Number.isSafeInteger(total)) {
    throw a.range('batch·time·classes', 'a safe integer element count', `${batch}·${time}·${classes}`);
  }
  if (data.length !== total) {
    throw a.range(`${dataName}.length`, `batch·time·classes = ${batch}·${time}·${classes} = ${total}`, data.length);
  }
  const blank = o.blank === undefined ? 0 : a.int('blank', o.blank, 0, classes - 1);
  const inputLengths =
    o.inputLengths === undefined
      ? new Int32Array(batch).fill(time)
      : a.ints('inputLengths', o.inputLengths, batch, minInputLength, time);
  return { batch, time, classes, layout, blank, inputLengths };
}

/** Targets as concatenated labels + lengths + offsets, every label checked against C and the blank. */
function targets(
  a: Args,
  o: Record<string, unknown>,
  batch: number,
  classes: number,
  blank: number,
): { targets: Int32Array; targetLengths: Int32Array; targetOffsets: Int32Array } {
  const t = o.targets;
  const labelRule = `a class in [0, ${classes}) other than the blank ${blank}`;
  let flat: Int32Array;
  let lengths: Int32Array;
  if (t instanceof Int32Array) {
    if (o.targetLengths === undefined) {
      throw a.type('targetLengths', 'an Int32Array or an array of integers when targets is an Int32Array', undefined);
    }
    lengths = a.ints('targetLengths', o.targetLengths, batch, 0, INT32_MAX);
    let sum = 0;
    for (let n = 0; n < batch; n++) sum += lengths[n];
    if (sum > t.length) throw a.range('the sum of targetLengths', `at most targets.length = ${t.length}`, sum);
    flat = t;
    for (let i = 0; i < sum; i++) {
      const l = flat[i];
      if (l < 0 || l >= classes || l === blank) throw a.range(`targets[${i}]`, labelRule, l);
    }
  } else if (Array.isArray(t)) {
    if (o.targetLengths !== undefined) {
      throw a.type('targetLengths', 'absent when targets is an array of label arrays', o.targetLengths);
    }
    if (t.length !== batch) throw a.range('targets.length', `${batch} (one label array per sequence)`, t.length);
    lengths = new Int32Array(batch);
    let sum = 0;
    for (let n = 0; n < batch; n++) {
      const seq = t[n] as unknown;
      if (!isNumberArray(seq)) throw a.type(`targets[${n}]`, 'an array of integers', seq);
      lengths[n] = (seq as ArrayLike<number>).length;
      sum += lengths[n];
    }
    flat = new Int32Array(sum);
    let i = 0;
    for (let n = 0; n < batch; n++) {
      const seq = t[n] as ArrayLike<number>;
      for (let j = 0; j < seq.length; j++) {
        const l = seq[j];
        if (typeof l !== 'number') throw a.type(`targets[${n}][${j}]`, 'an integer', l);
        if (!Number.isInteger(l) || l < 0 || l >= classes || l === blank) {
          throw a.range(`targets[${n}][${j}]`, labelRule, l);
        }
        flat[i++] = l;
      }
    }
  } else {
    throw a.type('targets', 'an Int32Array (with targetLengths) or an array of label arrays', t);
  }
  const targetOffsets = new Int32Array(batch);
  for (let n = 1; n < batch; n++) targetOffsets[n] = targetOffsets[n - 1] + lengths[n - 1];
  return { targets: flat, targetLengths: lengths, targetOffsets };
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** `out`: caller-owned Float32Arrays of N·T·C values, one per requested output, sharing no memory with the input or
 * with each other (a gradient written over the logits it is computed from would be wrong). */
function outputs(a: Args, value: unknown, data: Float32Array, allowed: readonly ('grad' | 'posterior')[]): Outputs {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw a.type('out', 'an object', value);
  const out: Outputs = {};
  for (const key of Object.keys(value)) {
    const arr = (value as Record<string, unknown>)[key];
    if (!(allowed as string[]).includes(key)) {
      throw new TypeError(`${a.fn}: unknown output 'out.${key}' (known: ${allowed.join(', ')})`);
    }
    if (arr === undefined) continue;
    if (!(arr instanceof Float32Array)) throw a.type(`out.${key}`, 'a Float32Array', arr);
    if (arr.length !== data.length) throw a.range(`out.${key}.length`, `batch·time·classes = ${data.length}`, arr.length);
    if (overlaps(arr, data)) throw a.range(`out.${key}`, 'an array that shares no memory with the input', 'an overlapping view');
    for (const other of Object.values(out)) {
      if (overlaps(arr, other)) throw a.range(`out.${key}`, 'an array that shares no memory with the other outputs', 'an overlapping view');
    }
    out[key as 'grad' | 'posterior'] = arr;
  }
  return out;
}

export const CTC_KEYS = [
  'batch', 'time', 'classes', 'layout', 'targets', 'targetLengths', 'inputLengths', 'blank', 'reduction',
  'zeroInfinity', 'input', 'grad', 'posterior', 'out', 'fit', ...EXEC_KEYS,
] as const;

const FIT_KEYS = ['alpha', 'alphaScope', 'gamma'] as const;

/** `fit` (iterative fitting, Li & Wang Eq. 13–18): null when absent, or when α is off and γ = 0 (plain CTC). */
function fit(a: Args, value: unknown, input: 'logits' | 'logProbs'): Fit | null {
  if (value === undefined) return null;
  const f = a.object('fit', value, FIT_KEYS);
  let alpha = 0;
  if (f.alpha !== undefined) {
    if (typeof f.alpha !== 'number') throw a.type('fit.alpha', 'a number', f.alpha);
    if (!(f.alpha > 0 && f.alpha < 1)) throw a.range('fit.alpha', 'a number in (0, 1)', f.alpha);
    alpha = f.alpha;
  }
  const alphaScope = a.oneOf('fit.alphaScope', f.alphaScope, ['batch', 'sequence'] as const, 'batch');
  const gamma = a.nonNegative('fit.gamma', f.gamma, 0);
  // The modifications act on softmax(x): log-probabilities give no y to fit.
  if (input !== 'logits') throw a.range('input', "'logits' when fit is given", input);
  return alpha === 0 && gamma === 0 ? null : { alpha, alphaScope, gamma };
}

export function normalizeCtc(
  fn: string,
  data: unknown,
  options: unknown,
): { data: Float32Array; problem: CtcProblem; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, CTC_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  const base = shape(a, data, input === 'logits' ? 'logits' : 'logProbs', o, time, layout, 0);
  const t = targets(a, o, base.batch, base.classes, base.blank);
  const problem: CtcProblem = {
    ...base,
    ...t,
    input,
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    zeroInfinity: a.bool('zeroInfinity', o.zeroInfinity, false),
    grad: a.bool('grad', o.grad, true),
    posterior: a.bool('posterior', o.posterior, false),
    out: outputs(a, o.out, data as Float32Array, ['grad', 'posterior']),
    fit: fit(a, o.fit, input),
  };
  return { data: data as Float32Array, problem, exec: exec(a, o) };
}

export const DCTC_KEYS = [
  'batch', 'time', 'classes', 'layout', 'targets', 'targetLengths', 'inputLengths', 'blank', 'reduction',
  'zeroInfinity', 'input', 'grad', 'out', 'lambda', 'ctcWeight', 'alignment', 'margin', ...EXEC_KEYS,
] as const;

const MARGIN_KEYS = ['s', 'm'] as const;
const DCTC_ALIGNMENTS = ['ratio', 'posterior', 'viterbi'] as const;

export function normalizeDctc(
  fn: string,
  data: unknown,
  options: unknown,
): { data: Float32Array; problem: DctcProblem; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, DCTC_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits'] as const, 'logits');
  const base = shape(a, data, 'logits', o, time, layout, 0);
  const t = targets(a, o, base.batch, base.classes, base.blank);
  const margin = o.margin === undefined ? {} : a.object('margin', o.margin, MARGIN_KEYS);
  const problem: DctcProblem = {
    ...base,
    ...t,
    input,
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    zeroInfinity: a.bool('zeroInfinity', o.zeroInfinity, true),
    lambda: a.nonNegative('lambda', o.lambda, 0.01),
    ctcWeight: a.nonNegative('ctcWeight', o.ctcWeight, 1),
    alignment: a.oneOf<DctcAlignment>('alignment', o.alignment, DCTC_ALIGNMENTS, 'ratio'),
    scale: a.positive('margin.s', margin.s, 1),
    margin: a.nonNegative('margin.m', margin.m, 0),
    grad: a.bool('grad', o.grad, true),
    out: outputs(a, o.out, data as Float32Array, ['grad']),
  };
  return { data: data as Float32Array, problem, exec: exec(a, o) };
}

export const ALIGN_KEYS = [
  'batch', 'time', 'classes', 'layout', 'targets', 'targetLengths', 'inputLengths', 'blank', 'input', ...EXEC_KEYS,
] as const;

export function normalizeAlign(
  fn: string,
  data: unknown,
  options: unknown,
): { data: Float32Array; problem: AlignProblem; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, ALIGN_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  const base = shape(a, data, input, o, time, layout, 0);
  const problem: AlignProblem = { ...base, ...targets(a, o, base.batch, base.classes, base.blank), input };
  return { data: data as Float32Array, problem, exec: exec(a, o) };
}

export const ACE_SHAPE_KEYS = [
  'batch', 'classes', 'time', 'height', 'width', 'layout', 'inputLengths', 'blank', 'input', ...EXEC_KEYS,
] as const;

/** The shape of an ACE-style input: 1D (time, NTC/TNC) or 2D (height × width, NHWC → 1D NTC with T = H·W). */
function aceShape(a: Args, data: unknown, o: Record<string, unknown>): Problem & { input: 'logits' | 'probs' } {
  const input = a.oneOf('input', o.input, ['logits', 'probs'] as const, 'logits');
  const name = input === 'logits' ? 'logits' : 'probs';
  const twoD = o.height !== undefined || o.width !== undefined;
  if (twoD) {
    if (o.time !== undefined) throw a.type('time', 'absent when height and width are given (2D input)', o.time);
    const height = a.int('height', o.height, 1);
    const width = a.int('width', o.width, 1);
    if (o.layout !== undefined && o.layout !== 'NHWC') {
      throw a.range('layout', "'NHWC' for a 2D input (height and width given)", o.layout);
    }
    if (o.inputLengths !== undefined) {
      throw a.type('inputLengths', 'absent for a 2D input (every map has height·width positions)', o.inputLengths);
    }
    const time = height * width;
    if (time > INT32_MAX) throw a.range('height·width', `at most ${INT32_MAX}`, time);
    return { ...shape(a, data, name, o, time, 'NTC', 1), input };
  }
  if (o.time === undefined) throw a.type('time', 'an integer (or give height and width for a 2D input)', o.time);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  return { ...shape(a, data, name, o, time, layout, 1), input };
}

export const ACE_KEYS = [
  ...ACE_SHAPE_KEYS, 'counts', 'targets', 'targetLengths', 'variant', 'eps', 'reduction', 'grad', 'out',
] as const;

export function normalizeAce(
  fn: string,
  data: unknown,
  options: unknown,
): { data: Float32Array; problem: AceProblem; counts32: Float32Array; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, ACE_KEYS);
  const base = aceShape(a, data, o);
  const { batch: N, classes: C, blank, inputLengths } = base;
  // N_k per class; the blank column is N_blank = T_n − |S| (ACE §3.1).
  const counts = new Float64Array(N * C);
  if (o.counts !== undefined) {
    if (o.targets !== undefined || o.targetLengths !== undefined) {
      throw a.type('targets', 'absent when counts are given (give one supervision)', o.targets ?? o.targetLengths);
    }
    const c = o.counts;
    if (!isNumberArray(c)) throw a.type('counts', 'a Float32Array or an array of numbers (batch·classes)', c);
    const src = c as ArrayLike<number>;
    if (src.length !== N * C) throw a.range('counts.length', `batch·classes = ${N * C}`, src.length);
    for (let i = 0; i < N * C; i++) {
      const v = src[i];
      if (i % C === blank) continue;
      if (typeof v !== 'number') throw a.type(`counts[${i}]`, 'a number', v);
      if (!Number.isFinite(v) || v < 0) throw a.range(`counts[${i}]`, 'a finite count >= 0', v);
      counts[i] = Math.fround(v);
    }
  } else if (o.targets !== undefined) {
    const t = targets(a, o, N, C, blank);
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < t.targetLengths[n]; j++) counts[n * C + t.targets[t.targetOffsets[n] + j]] += 1;
    }
  } else {
    throw a.type('counts', 'a Float32Array of batch·classes counts (or give targets)', undefined);
  }
  for (let n = 0; n < N; n++) {
    let labelled = 0;
    for (let k = 0; k < C; k++) if (k !== blank) labelled += counts[n * C + k];
    if (labelled > inputLengths[n]) {
      throw a.range(
        `the counts of sequence ${n}`,
        `at most its ${inputLengths[n]} frames in total (blank excluded)`,
        labelled,
      );
    }
    counts[n * C + blank] = inputLengths[n] - labelled;
  }
  const problem: AceProblem = {
    ...base,
    counts,
    variant: a.oneOf('variant', o.variant, ['ce', 'regression'] as const, 'ce'),
    eps: a.nonNegative('eps', o.eps, 1e-10),
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    grad: a.bool('grad', o.grad, true),
    out: outputs(a, o.out, data as Float32Array, ['grad']),
  };
  return { data: data as Float32Array, problem, counts32: Float32Array.from(counts), exec: exec(a, o) };
}

export const CTC_DECODE_KEYS = [
  'batch', 'time', 'classes', 'layout', 'inputLengths', 'blank', 'input', ...EXEC_KEYS,
] as const;

export function normalizeCtcDecode(
  fn: string,
  data: unknown,
  options: unknown,
): { data: Float32Array; problem: DecodeProblem; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, CTC_DECODE_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  return { data: data as Float32Array, problem: { ...shape(a, data, input, o, time, layout, 0), input }, exec: exec(a, o) };
}

export const ACE_DECODE_KEYS = [...ACE_SHAPE_KEYS, 'collapseRepeats'] as const;

export function normalizeAceDecode(
  fn: string,
  data: unknown,
  options: unknown,
  keys: readonly string[] = ACE_DECODE_KEYS,
): { data: Float32Array; problem: DecodeProblem; collapseRepeats: boolean; exec: Exec } {
  const a = new Args(fn);
  const o = a.options(options, keys);
  const problem = aceShape(a, data, o);
  return {
    data: data as Float32Array,
    problem,
    collapseRepeats: a.bool('collapseRepeats', o.collapseRepeats, false),
    exec: exec(a, o),
  };
}
