// One place for defaults and argument errors. Every public function passes its arguments through here before any
// backend sees them: TypeError for a wrong type or a missing option, RangeError for a bad value; each message names
// the function and the argument, says what was expected and what came.
import {
  ACE_VARIANT,
  DCTC_ALIGNMENT,
  FIT_SCOPE,
  INPUT,
  LAYOUT,
  OP,
  REDUCTION,
  type NativeAceOptions,
  type NativeCtcOptions,
  type NativeDctcOptions,
  type NativeDecodeOptions,
  type NativeOutputs,
  type NativeProblem,
} from './native.js';
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
  GradConvention,
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

/** A real typed array of the given kind: a Proxy or a look-alike object is not (it has no typed-array internals,
 * which ArrayBuffer.isView checks without running any of the caller's code). */
export function isView<T extends ArrayBufferView>(
  value: unknown,
  ctor: abstract new (...args: never[]) => T,
): value is T {
  return ArrayBuffer.isView(value) && value instanceof ctor;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
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

  /** The error for a value whose reading threw (a revoked Proxy, a throwing getter): a TypeError naming it. */
  unreadable(what: string, err: unknown): TypeError {
    return new TypeError(`${this.fn}: ${what} must be readable, but reading it threw: ${reason(err)}`);
  }

  /** Runs `read` (which reads the caller's values); whatever it throws that is not already one of ours becomes a
   * TypeError naming `what`. */
  read<T>(what: string, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof Error && err.message.startsWith(`${this.fn}: `)) throw err;
      throw this.unreadable(what, err);
    }
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

  /** A finite number in [0, max]. */
  nonNegative(what: string, value: unknown, fallback: number, max = Number.MAX_VALUE): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number') throw this.type(what, 'a number', value);
    if (!Number.isFinite(value) || value < 0 || value > max) {
      throw this.range(what, max === Number.MAX_VALUE ? 'a finite number >= 0' : `a number in [0, ${max}]`, value);
    }
    return value;
  }

  /** A finite number in (0, max]. */
  positive(what: string, value: unknown, fallback: number, max = Number.MAX_VALUE): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number') throw this.type(what, 'a number', value);
    if (!Number.isFinite(value) || value <= 0 || value > max) {
      throw this.range(what, max === Number.MAX_VALUE ? 'a finite number > 0' : `a number in (0, ${max}]`, value);
    }
    return value;
  }

  /** The options object itself, read once into a snapshot (see object()). */
  options(value: unknown, known: readonly string[]): Record<string, unknown> {
    return this.object('options', value, known);
  }

  /** An options object (`what` names it: 'options', 'fit', 'margin', 'out'), read once: its own enumerable keys,
   * each value read exactly once into a plain snapshot that every later check and every backend use (so a Proxy or a
   * getter cannot show one value to the checks and another to the computation). Unknown keys are refused (they are
   * usually typos). */
  object(what: string, value: unknown, known: readonly string[], kind = 'option'): Record<string, unknown> {
    const prefix = what === 'options' ? '' : `${what}.`;
    const keys = this.read(what, () => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw this.type(what, 'an object', value);
      }
      return Object.keys(value);
    });
    const snapshot: Record<string, unknown> = {};
    for (const key of keys) {
      if (!known.includes(key)) {
        throw new TypeError(`${this.fn}: unknown ${kind} '${prefix}${key}' (known: ${known.join(', ')})`);
      }
      snapshot[key] = this.read(`${prefix}${key}`, () => (value as Record<string, unknown>)[key]);
    }
    return snapshot;
  }

  /** N integers from an Int32Array or an array of numbers, each in [min, max], copied (each read once). */
  ints(what: string, value: unknown, n: number, min: number, max: number): Int32Array {
    if (!isView(value, Int32Array) && !isNumberArray(value)) {
      throw this.type(what, 'an Int32Array or an array of integers', value);
    }
    return this.read(what, () => {
      const src = value as ArrayLike<number>;
      const length = src.length;
      if (length !== n) throw this.range(`${what}.length`, `${n} (one per sequence)`, length);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = this.int(`${what}[${i}]`, src[i], min, max);
      return out;
    });
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

/** The arguments of one native call, in the camelCase mirrors of csrc/seqloss.h's structs (lib/native.ts), built
 * here from the same validated values as the reference's problem: every default is given once, by its validator. */
export interface NativeCall {
  op: number;
  problem: NativeProblem;
  options: NativeCtcOptions | NativeDctcOptions | NativeAceOptions | NativeDecodeOptions | null;
  outputs: NativeOutputs | null;
}

/** A validated call: the dense input, the reference's problem, the native arguments and where to run. */
export interface Call<P> {
  data: Float32Array;
  problem: P;
  native: NativeCall;
  exec: Exec;
}

const EXEC_KEYS = ['backend', 'threads', 'device'] as const;
export const BACKENDS = ['auto', 'cpu', 'js', 'cuda'] as const;
const LAYOUTS = ['NTC', 'TNC'] as const;
const REDUCTIONS = ['none', 'sum', 'mean'] as const;

/** DCTC's softmax scale s and margin m: inside these ranges s·m and s·(a − max a) are finite for every float32
 * logit a (in double; s·m also in float). */
export const DCTC_MAX_SCALE = 1e6;
export const DCTC_MAX_MARGIN = 1e30;

function exec(a: Args, o: Record<string, unknown>): Exec {
  return {
    backend: a.oneOf('backend', o.backend, BACKENDS, 'auto'),
    threads: o.threads === undefined ? 0 : a.int('threads', o.threads, 0, 4096),
    device: o.device === undefined ? 0 : a.int('device', o.device, 0, 1024),
  };
}

/** The caller's own arrays that a call reads (by the names the errors use), to be checked against its outputs. */
type Inputs = [name: string, view: ArrayBufferView][];

/** batch, time, classes, layout, blank, inputLengths, and the dense input itself. */
function shape(
  a: Args,
  data: unknown,
  dataName: string,
  o: Record<string, unknown>,
  time: number,
  layout: Layout,
  minInputLength: number,
  inputs: Inputs,
): Problem {
  if (!isView(data, Float32Array)) throw a.type(dataName, 'a Float32Array', data);
  const batch = a.int('batch', o.batch, 1);
  const classes = a.int('classes', o.classes, 1);
  const total = batch * time * classes;
  if (!Number.isSafeInteger(total)) {
    throw a.range('batch·time·classes', 'a safe integer element count', `${batch}·${time}·${classes}`);
  }
  if (data.length !== total) {
    throw a.range(`${dataName}.length`, `batch·time·classes = ${batch}·${time}·${classes} = ${total}`, data.length);
  }
  inputs.push([dataName, data]);
  const blank = o.blank === undefined ? 0 : a.int('blank', o.blank, 0, classes - 1);
  let inputLengths: Int32Array;
  if (o.inputLengths === undefined) {
    inputLengths = new Int32Array(batch).fill(time);
  } else {
    inputLengths = a.ints('inputLengths', o.inputLengths, batch, minInputLength, time);
    if (ArrayBuffer.isView(o.inputLengths)) inputs.push(['inputLengths', o.inputLengths]);
  }
  return { batch, time, classes, layout, blank, inputLengths };
}

/** Targets as concatenated labels + lengths + offsets, copied from the caller's arrays (each value read once) and
 * every label of the copy checked against C and the blank. Three forms (types.ts, Targets): an Int32Array with
 * targetLengths, concatenated or, with targetsWidth S, padded N×S (only the first L_n of row n are copied and
 * checked: the rest is padding, as PyTorch never reads it); or one label array per sequence. */
function targets(
  a: Args,
  o: Record<string, unknown>,
  batch: number,
  classes: number,
  blank: number,
  inputs: Inputs,
): { targets: Int32Array; targetLengths: Int32Array; targetOffsets: Int32Array } {
  const t = o.targets;
  const labelRule = `a class in [0, ${classes}) other than the blank ${blank}`;
  let flat: Int32Array;
  let lengths: Int32Array;
  const width = o.targetsWidth === undefined ? -1 : a.int('targetsWidth', o.targetsWidth, 0);
  if (width >= 0 && isView(t, Int32Array)) {
    if (o.targetLengths === undefined) {
      throw a.type('targetLengths', 'an Int32Array or an array of integers when targetsWidth is given', undefined);
    }
    const available = t.length;
    if (available !== batch * width) {
      throw a.range(
        'targets.length',
        `batch·targetsWidth = ${batch}·${width} = ${batch * width} (padded targets)`,
        available,
      );
    }
    lengths = a.ints('targetLengths', o.targetLengths, batch, 0, width);
    if (ArrayBuffer.isView(o.targetLengths)) inputs.push(['targetLengths', o.targetLengths]);
    inputs.push(['targets', t]);
    let sum = 0;
    for (let n = 0; n < batch; n++) sum += lengths[n];
    flat = new Int32Array(sum);
    for (let n = 0, i = 0; n < batch; n++) {
      flat.set(t.subarray(n * width, n * width + lengths[n]), i);
      i += lengths[n];
    }
    for (let n = 0, i = 0; n < batch; n++) {
      for (let j = 0; j < lengths[n]; j++, i++) {
        const l = flat[i];
        if (l < 0 || l >= classes || l === blank) {
          throw a.range(`targets[${n * width + j}] (row ${n}, position ${j})`, labelRule, l);
        }
      }
    }
  } else if (width >= 0) {
    throw a.type('targets', 'an Int32Array of batch·targetsWidth labels when targetsWidth is given', t);
  } else if (isView(t, Int32Array)) {
    if (o.targetLengths === undefined) {
      throw a.type('targetLengths', 'an Int32Array or an array of integers when targets is an Int32Array', undefined);
    }
    lengths = a.ints('targetLengths', o.targetLengths, batch, 0, INT32_MAX);
    if (ArrayBuffer.isView(o.targetLengths)) inputs.push(['targetLengths', o.targetLengths]);
    let sum = 0;
    for (let n = 0; n < batch; n++) sum += lengths[n];
    const available = t.length;
    if (sum > available) throw a.range('the sum of targetLengths', `at most targets.length = ${available}`, sum);
    flat = t.slice(0, sum);
    inputs.push(['targets', t]);
    for (let i = 0; i < sum; i++) {
      const l = flat[i];
      if (l < 0 || l >= classes || l === blank) throw a.range(`targets[${i}]`, labelRule, l);
    }
  } else if (Array.isArray(t)) {
    if (o.targetLengths !== undefined) {
      throw a.type('targetLengths', 'absent when targets is an array of label arrays', o.targetLengths);
    }
    ({ flat, lengths } = a.read('targets', () => {
      const count = t.length;
      if (count !== batch) throw a.range('targets.length', `${batch} (one label array per sequence)`, count);
      const seqs: number[][] = [];
      const lens = new Int32Array(batch);
      let sum = 0;
      for (let n = 0; n < batch; n++) {
        const seq = t[n] as unknown;
        if (!isNumberArray(seq)) throw a.type(`targets[${n}]`, 'an array of integers', seq);
        if (ArrayBuffer.isView(seq)) inputs.push([`targets[${n}]`, seq]);
        const src = seq as ArrayLike<unknown>;
        const len = src.length;
        const labels = new Array<number>(len);
        for (let j = 0; j < len; j++) {
          const l = src[j];
          if (typeof l !== 'number') throw a.type(`targets[${n}][${j}]`, 'an integer', l);
          if (!Number.isInteger(l) || l < 0 || l >= classes || l === blank) {
            throw a.range(`targets[${n}][${j}]`, labelRule, l);
          }
          labels[j] = l;
        }
        seqs.push(labels);
        lens[n] = len;
        sum += len;
      }
      const out = new Int32Array(sum);
      let i = 0;
      for (const labels of seqs) for (const l of labels) out[i++] = l;
      return { flat: out, lengths: lens };
    }));
  } else {
    throw a.type('targets', 'an Int32Array (with targetLengths) or an array of label arrays', t);
  }
  const targetOffsets = new Int32Array(batch);
  for (let n = 1; n < batch; n++) targetOffsets[n] = targetOffsets[n - 1] + lengths[n - 1];
  return { targets: flat, targetLengths: lengths, targetOffsets };
}

function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return (
    a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
  );
}

/** `out`: caller-owned Float32Arrays of N·T·C values, one per requested output, sharing no memory with any array the
 * call reads (the dense input, targets, lengths, counts) or with each other: an output written over an input would
 * make the result wrong and overwrite the caller's data. */
function outputs(
  a: Args,
  value: unknown,
  data: Float32Array,
  allowed: readonly ('grad' | 'posterior')[],
  inputs: Inputs,
): Outputs {
  if (value === undefined) return {};
  const o = a.object('out', value, allowed, 'output');
  const out: Outputs = {};
  for (const key of allowed) {
    const arr = o[key];
    if (arr === undefined) continue;
    if (!isView(arr, Float32Array)) throw a.type(`out.${key}`, 'a Float32Array', arr);
    if (arr.length !== data.length)
      throw a.range(`out.${key}.length`, `batch·time·classes = ${data.length}`, arr.length);
    for (const [name, view] of inputs) {
      if (overlaps(arr, view))
        throw a.range(`out.${key}`, `an array that shares no memory with ${name}`, 'an overlapping view');
    }
    for (const [name, other] of Object.entries(out)) {
      if (overlaps(arr, other))
        throw a.range(`out.${key}`, `an array that shares no memory with out.${name}`, 'an overlapping view');
    }
    out[key] = arr;
  }
  return out;
}

/** What the native call writes: false = not computed, true = a fresh array, a Float32Array = the caller's. */
function nativeOutput(want: boolean, given: Float32Array | undefined): boolean | Float32Array {
  return want ? (given ?? true) : false;
}

function allTime(lengths: Int32Array, time: number): boolean {
  for (let n = 0; n < lengths.length; n++) if (lengths[n] !== time) return false;
  return true;
}

function nativeProblem(
  p: Problem,
  input: keyof typeof INPUT,
  sup: { targets: Int32Array; targetLengths: Int32Array } | null,
  counts: Float32Array | null,
): NativeProblem {
  return {
    batch: p.batch,
    time: p.time,
    classes: p.classes,
    layout: LAYOUT[p.layout],
    input: INPUT[input],
    blank: p.blank,
    // NULL means every T_n = T in the C ABI: the common case then crosses nothing.
    inputLengths: allTime(p.inputLengths, p.time) ? null : p.inputLengths,
    targets: sup ? sup.targets : null,
    targetLengths: sup ? sup.targetLengths : null,
    counts,
  };
}

export const CTC_KEYS = [
  'batch',
  'time',
  'classes',
  'layout',
  'targets',
  'targetLengths',
  'targetsWidth',
  'inputLengths',
  'blank',
  'reduction',
  'zeroInfinity',
  'input',
  'grad',
  'gradConvention',
  'posterior',
  'out',
  'fit',
  ...EXEC_KEYS,
] as const;

const GRAD_CONVENTIONS = ['exact', 'pytorch'] as const;
/** The C ABI's seqloss_grad_convention. */
const GRAD_CONVENTION = { exact: 0, pytorch: 1 } as const;

const FIT_KEYS = ['alpha', 'alphaScope', 'gamma'] as const;
/** Where α's non-blank share is held: over the whole batch or per sequence (Li & Wang Eq. 15). */
export const FIT_SCOPES = ['batch', 'sequence'] as const;

/** α of Li & Wang Eq. 13–16, the labels' share of the fitted target: a number in (0, 1). */
export function fitAlpha(a: Args, what: string, value: unknown): number {
  if (typeof value !== 'number') throw a.type(what, 'a number', value);
  if (!(value > 0 && value < 1)) throw a.range(what, 'a number in (0, 1)', value);
  return value;
}

/** γ of Li & Wang Eq. 17–18, the key-frame exponent: a finite number ≥ 0, 0 (off) by default. */
export function fitGamma(a: Args, what: string, value: unknown): number {
  return a.nonNegative(what, value, 0);
}

/** `fit` (iterative fitting, Li & Wang Eq. 13–18): null when absent, or when α is off and γ = 0 (plain CTC). */
function fit(a: Args, value: unknown, input: 'logits' | 'logProbs'): Fit | null {
  if (value === undefined) return null;
  const f = a.object('fit', value, FIT_KEYS);
  const alpha = f.alpha === undefined ? 0 : fitAlpha(a, 'fit.alpha', f.alpha);
  const alphaScope = a.oneOf('fit.alphaScope', f.alphaScope, FIT_SCOPES, 'batch');
  const gamma = fitGamma(a, 'fit.gamma', f.gamma);
  // The modifications act on softmax(x): log-probabilities give no y to fit.
  if (input !== 'logits') throw a.range('input', "'logits' when fit is given", input);
  return alpha === 0 && gamma === 0 ? null : { alpha, alphaScope, gamma };
}

export function normalizeCtc(fn: string, data: unknown, options: unknown): Call<CtcProblem> {
  const a = new Args(fn);
  const o = a.options(options, CTC_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  const inputs: Inputs = [];
  const base = shape(a, data, input === 'logits' ? 'logits' : 'logProbs', o, time, layout, 0, inputs);
  const t = targets(a, o, base.batch, base.classes, base.blank, inputs);
  const x = data as Float32Array;
  const problem: CtcProblem = Object.assign(supervised(base, t, input), {
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    zeroInfinity: a.bool('zeroInfinity', o.zeroInfinity, false),
    grad: a.bool('grad', o.grad, true),
    gradConvention: a.oneOf<GradConvention>('gradConvention', o.gradConvention, GRAD_CONVENTIONS, 'exact'),
    posterior: a.bool('posterior', o.posterior, false),
    out: outputs(a, o.out, x, ['grad', 'posterior'], inputs),
    fit: fit(a, o.fit, input),
  });
  const options_: NativeCtcOptions = {
    reduction: REDUCTION[problem.reduction],
    zeroInfinity: problem.zeroInfinity ? 1 : 0,
    fitAlpha: problem.fit?.alpha ?? 0,
    fitGamma: problem.fit?.gamma ?? 0,
    fitAlphaScope: FIT_SCOPE[problem.fit?.alphaScope ?? 'batch'],
    gradConvention: GRAD_CONVENTION[problem.gradConvention ?? 'exact'],
  };
  const native: NativeCall = {
    op: OP.ctc,
    problem: nativeProblem(problem, input, t, null),
    options: options_,
    outputs: {
      grad: nativeOutput(problem.grad, problem.out.grad),
      posterior: nativeOutput(problem.posterior, problem.out.posterior),
    },
  };
  return { data: x, problem, native, exec: exec(a, o) };
}

export const DCTC_KEYS = [
  'batch',
  'time',
  'classes',
  'layout',
  'targets',
  'targetLengths',
  'targetsWidth',
  'inputLengths',
  'blank',
  'reduction',
  'zeroInfinity',
  'input',
  'grad',
  'out',
  'lambda',
  'ctcWeight',
  'alignment',
  'margin',
  ...EXEC_KEYS,
] as const;

const MARGIN_KEYS = ['s', 'm'] as const;
export const DCTC_ALIGNMENTS = ['ratio', 'posterior', 'viterbi'] as const;
/** DCTC's default λ, the weight of the framewise cross-entropy to z*. */
export const DCTC_DEFAULT_LAMBDA = 0.01;

export function normalizeDctc(fn: string, data: unknown, options: unknown): Call<DctcProblem> {
  const a = new Args(fn);
  const o = a.options(options, DCTC_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits'] as const, 'logits');
  const inputs: Inputs = [];
  const base = shape(a, data, 'logits', o, time, layout, 0, inputs);
  const t = targets(a, o, base.batch, base.classes, base.blank, inputs);
  const margin = o.margin === undefined ? {} : a.object('margin', o.margin, MARGIN_KEYS);
  const x = data as Float32Array;
  const problem: DctcProblem = Object.assign(supervised(base, t, input), {
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    zeroInfinity: a.bool('zeroInfinity', o.zeroInfinity, true),
    lambda: a.nonNegative('lambda', o.lambda, DCTC_DEFAULT_LAMBDA),
    ctcWeight: a.nonNegative('ctcWeight', o.ctcWeight, 1),
    alignment: a.oneOf<DctcAlignment>('alignment', o.alignment, DCTC_ALIGNMENTS, 'ratio'),
    scale: a.positive('margin.s', margin.s, 1, DCTC_MAX_SCALE),
    margin: a.nonNegative('margin.m', margin.m, 0, DCTC_MAX_MARGIN),
    grad: a.bool('grad', o.grad, true),
    out: outputs(a, o.out, x, ['grad'], inputs),
  });
  const options_: NativeDctcOptions = {
    reduction: REDUCTION[problem.reduction],
    zeroInfinity: problem.zeroInfinity ? 1 : 0,
    alignment: DCTC_ALIGNMENT[problem.alignment],
    lambda: problem.lambda,
    ctcWeight: problem.ctcWeight,
    scale: problem.scale,
    margin: problem.margin,
  };
  const native: NativeCall = {
    op: OP.dctc,
    problem: nativeProblem(problem, input, t, null),
    options: options_,
    outputs: { grad: nativeOutput(problem.grad, problem.out.grad), posterior: false },
  };
  return { data: x, problem, native, exec: exec(a, o) };
}

export const ALIGN_KEYS = [
  'batch',
  'time',
  'classes',
  'layout',
  'targets',
  'targetLengths',
  'targetsWidth',
  'inputLengths',
  'blank',
  'input',
  ...EXEC_KEYS,
] as const;

export function normalizeAlign(fn: string, data: unknown, options: unknown): Call<AlignProblem> {
  const a = new Args(fn);
  const o = a.options(options, ALIGN_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  const inputs: Inputs = [];
  const base = shape(a, data, input, o, time, layout, 0, inputs);
  const t = targets(a, o, base.batch, base.classes, base.blank, inputs);
  const problem: AlignProblem = supervised(base, t, input);
  const native: NativeCall = {
    op: OP.align,
    problem: nativeProblem(problem, input, t, null),
    options: null,
    outputs: null,
  };
  return { data: data as Float32Array, problem, native, exec: exec(a, o) };
}

export const ACE_SHAPE_KEYS = [
  'batch',
  'classes',
  'time',
  'height',
  'width',
  'layout',
  'inputLengths',
  'blank',
  'input',
  ...EXEC_KEYS,
] as const;

/** The shape, the supervision and the input kind as one new object. Written out field by field (here and in
 * withInput): an object spread costs microseconds on this path, a literal nanoseconds. */
function supervised<I extends 'logits' | 'logProbs'>(
  p: Problem,
  t: { targets: Int32Array; targetLengths: Int32Array; targetOffsets: Int32Array },
  input: I,
): Problem & { targets: Int32Array; targetLengths: Int32Array; targetOffsets: Int32Array; input: I } {
  return {
    batch: p.batch,
    time: p.time,
    classes: p.classes,
    layout: p.layout,
    blank: p.blank,
    inputLengths: p.inputLengths,
    targets: t.targets,
    targetLengths: t.targetLengths,
    targetOffsets: t.targetOffsets,
    input,
  };
}

function withInput<I extends 'logits' | 'logProbs' | 'probs'>(p: Problem, input: I): Problem & { input: I } {
  return {
    batch: p.batch,
    time: p.time,
    classes: p.classes,
    layout: p.layout,
    blank: p.blank,
    inputLengths: p.inputLengths,
    input,
  };
}

/** The shape of an ACE-style input: 1D (time, NTC/TNC) or 2D (height × width, NHWC → 1D NTC with T = H·W). */
function aceShape(
  a: Args,
  data: unknown,
  o: Record<string, unknown>,
  inputs: Inputs,
): Problem & { input: 'logits' | 'probs' } {
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
    return withInput(shape(a, data, name, o, time, 'NTC', 1, inputs), input);
  }
  if (o.time === undefined) throw a.type('time', 'an integer (or give height and width for a 2D input)', o.time);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  return withInput(shape(a, data, name, o, time, layout, 1, inputs), input);
}

export const ACE_KEYS = [
  ...ACE_SHAPE_KEYS,
  'counts',
  'targets',
  'targetLengths',
  'targetsWidth',
  'variant',
  'eps',
  'reduction',
  'grad',
  'out',
] as const;

export function normalizeAce(fn: string, data: unknown, options: unknown): Call<AceProblem> {
  const a = new Args(fn);
  const o = a.options(options, ACE_KEYS);
  const inputs: Inputs = [];
  const base = aceShape(a, data, o, inputs);
  const { batch: N, classes: C, blank, inputLengths } = base;
  // N_k per class; the blank column is N_blank = T_n − |S| (ACE §3.1). Given as counts, they are read into a dense
  // array here; given as labels, they cross to the native backends as labels (no N·C array: the CUDA host work is
  // O(N + ΣL)), and the dense array is made only if the TypeScript reference runs.
  let counts: Float64Array | undefined;
  let labels: { targets: Int32Array; targetLengths: Int32Array; targetOffsets: Int32Array } | undefined;
  if (o.counts !== undefined) {
    counts = new Float64Array(N * C);
    const into = counts;
    if (o.targets !== undefined || o.targetLengths !== undefined || o.targetsWidth !== undefined) {
      throw a.type(
        'targets',
        'absent when counts are given (give one supervision)',
        o.targets ?? o.targetLengths ?? o.targetsWidth,
      );
    }
    const c = o.counts;
    if (!isNumberArray(c)) throw a.type('counts', 'a Float32Array or an array of numbers (batch·classes)', c);
    if (ArrayBuffer.isView(c)) inputs.push(['counts', c]);
    a.read('counts', () => {
      const src = c as ArrayLike<unknown>;
      const length = src.length;
      if (length !== N * C) throw a.range('counts.length', `batch·classes = ${N * C}`, length);
      for (let i = 0; i < N * C; i++) {
        if (i % C === blank) continue;
        const v = src[i];
        if (typeof v !== 'number') throw a.type(`counts[${i}]`, 'a number', v);
        if (!Number.isFinite(v) || v < 0) throw a.range(`counts[${i}]`, 'a finite count >= 0', v);
        into[i] = Math.fround(v);
      }
    });
  } else if (o.targets !== undefined) {
    labels = targets(a, o, N, C, blank, inputs);
  } else {
    throw a.type('counts', 'a Float32Array of batch·classes counts (or give targets)', undefined);
  }
  for (let n = 0; n < N; n++) {
    let labelled = 0;
    if (counts) {
      for (let k = 0; k < C; k++) if (k !== blank) labelled += counts[n * C + k];
    } else if (labels) {
      labelled = labels.targetLengths[n];
    }
    if (labelled > inputLengths[n]) {
      throw a.range(
        `the counts of sequence ${n}`,
        `at most its ${inputLengths[n]} frames in total (blank excluded)`,
        labelled,
      );
    }
    if (counts) counts[n * C + blank] = inputLengths[n] - labelled;
  }
  const x = data as Float32Array;
  const dense = (): Float64Array => {
    if (counts) return counts;
    const c = new Float64Array(N * C);
    const t = labels as NonNullable<typeof labels>;
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < t.targetLengths[n]; j++) c[n * C + t.targets[t.targetOffsets[n] + j]] += 1;
      c[n * C + blank] = inputLengths[n] - t.targetLengths[n];
    }
    counts = c;
    return c;
  };
  const rest = {
    variant: a.oneOf('variant', o.variant, ['ce', 'regression'] as const, 'ce'),
    eps: a.nonNegative('eps', o.eps, 1e-10),
    reduction: a.oneOf<Reduction>('reduction', o.reduction, REDUCTIONS, 'mean'),
    grad: a.bool('grad', o.grad, true),
    out: outputs(a, o.out, x, ['grad'], inputs),
  };
  // counts as a getter (defineProperty: Object.assign would call it): the labels' dense counts on first use only.
  const problem = Object.defineProperty(Object.assign(withInput(base, base.input), rest), 'counts', {
    get: dense,
    enumerable: true,
  }) as AceProblem;
  const options_: NativeAceOptions = {
    reduction: REDUCTION[problem.reduction],
    variant: ACE_VARIANT[problem.variant],
    eps: problem.eps,
  };
  const native: NativeCall = {
    op: OP.ace,
    problem: labels
      ? nativeProblem(problem, base.input, labels, null)
      : nativeProblem(problem, base.input, null, Float32Array.from(counts as Float64Array)),
    options: options_,
    outputs: { grad: nativeOutput(problem.grad, problem.out.grad), posterior: false },
  };
  return { data: x, problem, native, exec: exec(a, o) };
}

export const CTC_DECODE_KEYS = [
  'batch',
  'time',
  'classes',
  'layout',
  'inputLengths',
  'blank',
  'input',
  ...EXEC_KEYS,
] as const;

export function normalizeCtcDecode(fn: string, data: unknown, options: unknown): Call<DecodeProblem> {
  const a = new Args(fn);
  const o = a.options(options, CTC_DECODE_KEYS);
  const time = a.int('time', o.time, 1);
  const layout = a.oneOf('layout', o.layout, LAYOUTS, 'NTC');
  const input = a.oneOf('input', o.input, ['logits', 'logProbs'] as const, 'logits');
  const problem: DecodeProblem = withInput(shape(a, data, input, o, time, layout, 0, []), input);
  const native: NativeCall = {
    op: OP.greedyDecode,
    problem: nativeProblem(problem, input, null, null),
    options: null,
    outputs: null,
  };
  return { data: data as Float32Array, problem, native, exec: exec(a, o) };
}

export const ACE_DECODE_KEYS = [...ACE_SHAPE_KEYS, 'collapseRepeats'] as const;

/** aceDecode (keys ACE_DECODE_KEYS) and aceCount (keys ACE_SHAPE_KEYS, op OP.aceCount). */
export function normalizeAceDecode(
  fn: string,
  data: unknown,
  options: unknown,
  keys: readonly string[] = ACE_DECODE_KEYS,
): Call<DecodeProblem> & { collapseRepeats: boolean } {
  const a = new Args(fn);
  const o = a.options(options, keys);
  const problem: DecodeProblem = aceShape(a, data, o, []);
  const collapseRepeats = a.bool('collapseRepeats', o.collapseRepeats, false);
  const count = !keys.includes('collapseRepeats');
  const native: NativeCall = {
    op: count ? OP.aceCount : OP.aceDecode,
    problem: nativeProblem(problem, problem.input, null, null),
    options: count ? null : ({ collapseRepeats: collapseRepeats ? 1 : 0 } satisfies NativeDecodeOptions),
    outputs: null,
  };
  return { data: data as Float32Array, problem, collapseRepeats, native, exec: exec(a, o) };
}
