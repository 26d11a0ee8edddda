// seqloss/tfjs — seqloss's losses as differentiable ops on TensorFlow.js tensors. Each op reads the logits once to
// the CPU, makes one seqloss call that returns the losses and the gradient together, and hands that gradient,
// multiplied by the upstream dy, to tf.customGrad. Only tfjs-core's public API is used (customGrad, tensor, mul,
// reshape, tidy, dataSync), so any tfjs backend can hold the tensors; their values make a round trip to the CPU.
import * as tf from '@tensorflow/tfjs-core';
import { aceLoss as coreAce, ctcLoss as coreCtc, dctcLoss as coreDctc } from './index.js';
import { Args } from './options.js';
import type { AceOptions, CtcOptions, DctcOptions, Layout } from './types.js';

/** Options of seqloss/tfjs's `ctcLoss`: those of seqloss's `ctcLoss` but the shape (read from the tensor) and the
 * outputs (the op returns the loss; tf computes the gradient). */
export type TfCtcOptions = Omit<CtcOptions, 'batch' | 'time' | 'classes' | 'grad' | 'posterior' | 'out'>;

/** Options of seqloss/tfjs's `dctcLoss`: those of seqloss's `dctcLoss` but the shape and the outputs. */
export type TfDctcOptions = Omit<DctcOptions, 'batch' | 'time' | 'classes' | 'grad' | 'out'>;

/** Options of seqloss/tfjs's `aceLoss`: those of seqloss's `aceLoss` but the shape (a [N, T, C] tensor is 1D, a
 * [N, H, W, C] tensor 2D) and the outputs. */
export type TfAceOptions = Omit<
  AceOptions,
  'batch' | 'time' | 'height' | 'width' | 'classes' | 'grad' | 'out' | 'layout' | 'inputLengths'
> & {
  /** 1D: 'NTC' (default) or 'TNC'; 2D: 'NHWC' (the default and only one). */
  layout?: Layout | 'NHWC';
  /** 1D only: T_n per sequence, each in [1, T]. */
  inputLengths?: Int32Array | ArrayLike<number>;
};

/** The options the adapter sets itself, and why a caller cannot. */
const SHAPE = 'absent (seqloss/tfjs reads the shape from the input tensor)';
const OWNED: Record<string, string> = {
  batch: SHAPE,
  time: SHAPE,
  classes: SHAPE,
  height: SHAPE,
  width: SHAPE,
  grad: 'absent (tf asks for the gradient: tf.grad, optimizer.minimize)',
  out: 'absent (the gradient becomes a tensor of its own)',
  posterior: "absent (seqloss/tfjs returns the loss; seqloss's ctcLoss returns y')",
};

/** The caller's options read once (own enumerable keys, each value once), without the keys the adapter owns. */
function snapshot(a: Args, options: unknown): Record<string, unknown> {
  const keys = a.read('options', () => {
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw a.type('options', 'an object', options);
    }
    return Object.keys(options);
  });
  const o: Record<string, unknown> = {};
  for (const key of keys) {
    const value = a.read(key, () => (options as Record<string, unknown>)[key]);
    if (Object.hasOwn(OWNED, key)) throw a.type(key, OWNED[key], value);
    o[key] = value;
  }
  return o;
}

/** The input tensor checked: a live float32 tf.Tensor of one of the given ranks with no empty dimension. */
function checkTensor(a: Args, name: string, x: unknown, ranks: readonly number[]): tf.Tensor {
  if (!(x instanceof tf.Tensor)) throw a.type(name, 'a tf.Tensor', x);
  if (x.isDisposed) throw new RangeError(`${a.fn}: ${name} must be a live tensor, got a disposed one`);
  if (x.dtype !== 'float32') {
    throw new TypeError(`${a.fn}: ${name} must be a float32 tensor, got dtype ${x.dtype} (cast it with tf.cast)`);
  }
  const shape = `[${x.shape.join(', ')}]`;
  const expected = ranks.map((r) => (r === 3 ? '[N, T, C]' : '[N, H, W, C]')).join(' or ');
  if (!ranks.includes(x.rank)) throw new RangeError(`${a.fn}: ${name}.shape must be ${expected}, got ${shape}`);
  if (x.shape.some((d: number) => d < 1)) {
    throw new RangeError(`${a.fn}: ${name}.shape must have every dimension >= 1, got ${shape}`);
  }
  return x;
}

/** N, T (or H, W) and C of a rank-3 tensor in the given layout, or a rank-4 NHWC one. */
function dims(x: tf.Tensor, layout: unknown): { batch: number; time: number; classes: number } {
  const s: number[] = x.shape;
  if (s.length === 4) return { batch: s[0], time: s[1] * s[2], classes: s[3] };
  return layout === 'TNC' ? { batch: s[1], time: s[0], classes: s[2] } : { batch: s[0], time: s[1], classes: s[2] };
}

interface CoreResult {
  losses: Float32Array;
  loss: number;
  grad?: Float32Array;
}

/**
 * The op around one seqloss result `r` (computed before, so that argument errors are thrown before tf's engine is
 * entered): its loss as the value and its gradient times dy as the gradient. With reduction 'none' the value holds
 * the N losses; seqloss's gradient for 'none' is that of Σ_n loss_n, and sequence n's loss depends on sequence n's
 * rows only, so scaling those rows by dy_n gives the gradient of Σ_n dy_n·loss_n exactly. The gradient is kept as
 * a plain array until tf asks for it, so a forward pass outside a gradient leaves no tensor behind.
 */
function op(x: tf.Tensor, reduction: unknown, batchAxis: number, r: CoreResult, fn: string): tf.Scalar | tf.Tensor1D {
  const grad = r.grad;
  if (!grad) throw new Error(`${fn}: seqloss returned no gradient (please report this)`);
  const shape: number[] = x.shape;
  const f = tf.customGrad((..._inputs: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: reduction === 'none' ? tf.tensor1d(r.losses, 'float32') : tf.scalar(r.loss, 'float32'),
    gradFunc: (dy: tf.Tensor) =>
      tf.tidy(() => {
        const g = tf.tensor(grad, shape, 'float32');
        if (dy.rank === 0) return tf.mul(g, dy);
        return tf.mul(
          g,
          tf.reshape(
            dy,
            shape.map((n, i) => (i === batchAxis ? n : 1)),
          ),
        );
      }),
  }));
  return f(x) as tf.Scalar | tf.Tensor1D;
}

/**
 * CTC loss as a differentiable tf op. `logits` is a float32 tensor [N, T, C] (or [T, N, C] with `layout: 'TNC'`);
 * the options are those of seqloss's `ctcLoss` (targets, targetLengths, inputLengths, blank, reduction,
 * zeroInfinity, input, fit, backend, threads, device) without the shape and the outputs. Returns the reduced loss
 * (a scalar; with reduction 'none' a Tensor1D of the N losses). Its gradient is seqloss's d loss / d logits times dy
 * (with `fit`, the α/γ-modified gradient).
 */
export function ctcLoss(logits: tf.Tensor3D, options: TfCtcOptions & { reduction: 'none' }): tf.Tensor1D;
export function ctcLoss(logits: tf.Tensor3D, options: TfCtcOptions): tf.Scalar;
export function ctcLoss(logits: tf.Tensor3D, options: TfCtcOptions): tf.Scalar | tf.Tensor1D {
  const fn = 'ctcLoss';
  const a = new Args(fn);
  const x = checkTensor(a, 'logits', logits, [3]);
  const o = snapshot(a, options);
  const d = dims(x, o.layout);
  const r = coreCtc(x.dataSync() as Float32Array, { ...o, ...d, grad: true } as unknown as CtcOptions);
  return op(x, o.reduction, o.layout === 'TNC' ? 1 : 0, r, fn);
}

/**
 * Distillation CTC (DCTC) as a differentiable tf op. `logits` [N, T, C] (or [T, N, C] with `layout: 'TNC'`); the
 * options are those of seqloss's `dctcLoss` (targets, …, lambda, ctcWeight, alignment, margin) without the shape
 * and the outputs. Returns the reduced loss (a Tensor1D of N losses with reduction 'none'); gradient times dy.
 */
export function dctcLoss(logits: tf.Tensor3D, options: TfDctcOptions & { reduction: 'none' }): tf.Tensor1D;
export function dctcLoss(logits: tf.Tensor3D, options: TfDctcOptions): tf.Scalar;
export function dctcLoss(logits: tf.Tensor3D, options: TfDctcOptions): tf.Scalar | tf.Tensor1D {
  const fn = 'dctcLoss';
  const a = new Args(fn);
  const x = checkTensor(a, 'logits', logits, [3]);
  const o = snapshot(a, options);
  const d = dims(x, o.layout);
  const r = coreDctc(x.dataSync() as Float32Array, { ...o, ...d, grad: true } as unknown as DctcOptions);
  return op(x, o.reduction, o.layout === 'TNC' ? 1 : 0, r, fn);
}

/**
 * Aggregation cross-entropy (ACE) as a differentiable tf op. `input` is a float32 tensor [N, T, C] (1D; or [T, N, C]
 * with `layout: 'TNC'`) or [N, H, W, C] (2D, flattened row-major t = h·W + w, as seqloss's 2D ACE); the options are
 * those of seqloss's `aceLoss` (counts or targets, input, variant, eps, reduction, inputLengths for 1D, backend, …)
 * without the shape and the outputs. Returns the reduced loss (a Tensor1D of N losses with reduction 'none');
 * gradient times dy.
 */
export function aceLoss(input: tf.Tensor3D | tf.Tensor4D, options: TfAceOptions & { reduction: 'none' }): tf.Tensor1D;
export function aceLoss(input: tf.Tensor3D | tf.Tensor4D, options: TfAceOptions): tf.Scalar;
export function aceLoss(input: tf.Tensor3D | tf.Tensor4D, options: TfAceOptions): tf.Scalar | tf.Tensor1D {
  const fn = 'aceLoss';
  const a = new Args(fn);
  const x = checkTensor(a, 'input', input, [3, 4]);
  const o = snapshot(a, options);
  const d = dims(x, o.layout);
  const shape = x.rank === 4 ? { batch: d.batch, height: x.shape[1], width: x.shape[2], classes: d.classes } : d;
  const r = coreAce(x.dataSync() as Float32Array, { ...o, ...shape, grad: true } as unknown as AceOptions);
  return op(x, o.reduction, o.layout === 'TNC' ? 1 : 0, r, fn);
}
