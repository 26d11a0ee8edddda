// seqloss — the public API. Validation lives in options.ts (which also builds the native call's arguments), backend
// choice in backend.ts, the algorithms in lib/reference (pure TypeScript, float64) and in the native addon (C ABI:
// csrc/seqloss.h). Every public function is the same three steps: validate into a snapshot, pick the backend, run
// the reference or the addon's one entry on that snapshot.
import { backends, binding, nativeExec, resolveBackend } from './backend.js';
import type {
  NativeAlignResult,
  NativeCountResult,
  NativeDctcResult,
  NativeDecodeResult,
  NativeLossResult,
  NativeResult,
} from './native.js';
import {
  ACE_SHAPE_KEYS,
  type Call,
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
  RefAlignResult,
  RefDctcResult,
  RefLossResult,
  ResolvedBackend,
} from './types.js';

export type * from './types.js';
export { backends };

/** The type of a `grad` or `posterior` option: what a loss's result type is computed from (types.ts, GradOutput). */
type Flag = boolean | undefined;

/** The addon's result for a validated call, on the calling thread. */
function nativeSync(fn: string, call: Call<unknown>, backend: ResolvedBackend): NativeResult {
  const n = call.native;
  return binding().call(n.op, fn, call.data, n.problem, n.options, n.outputs, nativeExec(backend, call.exec));
}

/** The addon's result for a validated call, on the libuv thread pool (the addon copies what it reads). */
function nativeAsync(fn: string, call: Call<unknown>, backend: ResolvedBackend): Promise<NativeResult> {
  const n = call.native;
  return binding().callAsync(n.op, fn, call.data, n.problem, n.options, n.outputs, nativeExec(backend, call.exec));
}

/** For the 'js' backend of an async call: the dense input as it is now (the caller may change it while the event
 * loop runs; everything else of the call is already a snapshot). */
function atCallTime<P>(call: Call<P>): Call<P> {
  return { ...call, data: call.data.slice() };
}

/** The reference's float64 values as float32, into the caller's array when `out` gave one (which must still be the
 * array it was when the call began: an async caller could have detached or shrunk it meanwhile). */
function f32(fn: string, name: string, values: Float64Array, into: Float32Array | undefined): Float32Array {
  if (!into) return Float32Array.from(values);
  if (into.length !== values.length) {
    throw new RangeError(
      `${fn}: out.${name} must keep its ${values.length} values until the call settles, got a detached or resized array (${into.length})`,
    );
  }
  into.set(values);
  return into;
}

/** The caller-owned outputs of an async call must still hold their values when it settles (as the addon checks). */
function outputsKept(fn: string, call: Call<unknown>): void {
  const outputs = call.native.outputs;
  if (!outputs) return;
  for (const [name, out] of [
    ['grad', outputs.grad],
    ['posterior', outputs.posterior],
  ] as const) {
    if (typeof out === 'boolean' || out.length === call.data.length) continue;
    throw new RangeError(
      `${fn}: out.${name} must keep its ${call.data.length} values until the call settles, got a detached or resized array (${out.length})`,
    );
  }
}

function fromReference(fn: string, r: RefLossResult, out: Outputs): Omit<CtcResult, 'backend'> {
  const result: Omit<CtcResult, 'backend'> = { losses: Float32Array.from(r.losses), loss: r.loss };
  if (r.grad) result.grad = f32(fn, 'grad', r.grad, out.grad);
  if (r.posterior) result.posterior = f32(fn, 'posterior', r.posterior, out.posterior);
  return result;
}

function fromReferenceDctc(fn: string, r: RefDctcResult, out: Outputs): Omit<DctcResult, 'backend'> {
  const result: Omit<DctcResult, 'backend'> = {
    losses: Float32Array.from(r.losses),
    loss: r.loss,
    alignment: r.alignment,
    ctcLosses: Float32Array.from(r.ctcLosses),
    distillLosses: Float32Array.from(r.distillLosses),
  };
  if (r.grad) result.grad = f32(fn, 'grad', r.grad, out.grad);
  return result;
}

function fromReferenceAlign(r: RefAlignResult): Omit<CtcAlignResult, 'backend'> {
  return { paths: r.paths, scores: Float32Array.from(r.scores) };
}

function withBackend<T extends object>(r: T, backend: ResolvedBackend): T & { backend: ResolvedBackend } {
  return Object.assign(r, { backend });
}

/** Runs a validated loss or alignment: the reference for 'js', the addon otherwise; async on a snapshot. */
function run<P, R extends object>(
  fn: string,
  call: Call<P>,
  reference: (c: Call<P>) => R,
): R & { backend: ResolvedBackend } {
  const backend = resolveBackend(fn, call.exec, call.data.length);
  if (backend === 'js') return withBackend(reference(call), backend);
  return withBackend(nativeSync(fn, call, backend) as unknown as R, backend);
}

/** Async calls on the CPU backend with at most this many input values run on the calling thread and return a
 * settled promise: their whole computation (well under 10 µs) costs less than the two thread hand-overs of the libuv
 * pool (tens of µs), so the event loop is blocked for less time that way, not more. */
export const ASYNC_INLINE_MAX_ELEMENTS = 256;

async function runAsync<P, R extends object>(
  fn: string,
  call: Call<P>,
  reference: (c: Call<P>) => R,
): Promise<R & { backend: ResolvedBackend }> {
  const backend = resolveBackend(fn, call.exec, call.data.length);
  if (backend === 'cpu' && call.data.length <= ASYNC_INLINE_MAX_ELEMENTS) {
    const r = nativeSync(fn, call, backend) as unknown as R;
    // Settled like a call on the pool: after the caller's synchronous code, with its out arrays still in place.
    await Promise.resolve();
    outputsKept(fn, call);
    return withBackend(r, backend);
  }
  if (backend === 'js') {
    const snapshot = atCallTime(call);
    await yieldToEventLoop();
    return withBackend(reference(snapshot), backend);
  }
  return withBackend((await nativeAsync(fn, call, backend)) as unknown as R, backend);
}

/**
 * CTC loss (Graves et al. 2006) by the forward-backward algorithm in log space, with its gradient and, on
 * request, the frame posterior y'_tk = p(π_t = k | l, x) (the "pseudo ground truth": grad = softmax − y').
 *
 * `fit` reads CTC as iterative fitting (Li & Wang): α in (0, 1) rescales the target y' so that labels take the
 * share α of its mass (Eq. 13–16), γ > 0 weights frame t by its fitting error max_k (y'_tk − y_tk)^γ (Eq. 17–18).
 * Both need logits; the losses stay those of plain CTC, `grad` and `posterior` (the modified y') change.
 */
export function ctcLoss<G extends Flag = undefined, P extends Flag = undefined>(
  logits: Float32Array,
  options: CtcOptions & { grad?: G; posterior?: P },
): CtcResult<G, P> {
  const fn = 'ctcLoss';
  const r = run(fn, normalizeCtc(fn, logits, options), (c) =>
    fromReference(fn, ref.ctcLoss(c.data, c.problem), c.problem.out),
  );
  return r as CtcResult as CtcResult<G, P>;
}

/** ctcLoss off the main thread (native backends run on the libuv pool, on a copy of the inputs taken at call time). */
export function ctcLossAsync<G extends Flag = undefined, P extends Flag = undefined>(
  logits: Float32Array,
  options: CtcOptions & { grad?: G; posterior?: P },
): Promise<CtcResult<G, P>> {
  const fn = 'ctcLossAsync';
  return settle(() =>
    runAsync(fn, normalizeCtc(fn, logits, options), (c) =>
      fromReference(fn, ref.ctcLoss(c.data, c.problem), c.problem.out),
    ),
  ) as Promise<CtcResult> as Promise<CtcResult<G, P>>;
}

/**
 * Distillation CTC (Zhang et al., AAAI 2024): CTC under P = softmax(s·a) plus a framewise cross-entropy towards
 * the latent alignment z* that CTC itself implies, L_n = β·ctc_n + λ·Σ_t −ln softmax(s·a_t − s·m·e_{z*_t})[z*_t].
 * z* comes from the CTC posterior y' ('ratio': argmax y'/P, as the DCTC code; 'posterior': argmax y';
 * 'viterbi': the best path); no gradient flows through it. Returns the weighted losses, their parts, z* and
 * d loss / d logits. Only logits (the softmax scale s needs them); zeroInfinity defaults to true.
 */
export function dctcLoss<G extends Flag = undefined>(
  logits: Float32Array,
  options: DctcOptions & { grad?: G },
): DctcResult<G> {
  const fn = 'dctcLoss';
  const r = run(fn, normalizeDctc(fn, logits, options), (c) =>
    fromReferenceDctc(fn, ref.dctcLoss(c.data, c.problem), c.problem.out),
  );
  return r as DctcResult as DctcResult<G>;
}

/** dctcLoss off the main thread (native backends run on the libuv pool, on a copy of the inputs taken at call time). */
export function dctcLossAsync<G extends Flag = undefined>(
  logits: Float32Array,
  options: DctcOptions & { grad?: G },
): Promise<DctcResult<G>> {
  const fn = 'dctcLossAsync';
  return settle(() =>
    runAsync(fn, normalizeDctc(fn, logits, options), (c) =>
      fromReferenceDctc(fn, ref.dctcLoss(c.data, c.problem), c.problem.out),
    ),
  ) as Promise<DctcResult> as Promise<DctcResult<G>>;
}

/**
 * CTC forced alignment (as torchaudio's forced_align, batched): per sequence the single most probable frame path
 * π over t < T_n that collapses to the target, maximising Σ_t ln y^t_{π_t}. `paths` holds its classes (blanks
 * included), −1 on padded frames and on a whole row when no path exists; `scores` its log-probability
 * (−Infinity when none). Ties: stay before advance before skip; at the end the final blank first.
 */
export function ctcAlign(input: Float32Array, options: CtcAlignOptions): CtcAlignResult {
  const fn = 'ctcAlign';
  return run(fn, normalizeAlign(fn, input, options), (c) => fromReferenceAlign(ref.ctcAlign(c.data, c.problem)));
}

/** ctcAlign off the main thread (native backends run on the libuv pool, on a copy of the inputs taken at call time). */
export function ctcAlignAsync(input: Float32Array, options: CtcAlignOptions): Promise<CtcAlignResult> {
  const fn = 'ctcAlignAsync';
  return settle(() =>
    runAsync(fn, normalizeAlign(fn, input, options), (c) => fromReferenceAlign(ref.ctcAlign(c.data, c.problem))),
  );
}

/** Aggregation cross-entropy (Xie et al. 2019), 1D or flattened 2D, cross-entropy (Eq. 8) or regression (Eq. 4). */
export function aceLoss<G extends Flag = undefined>(
  input: Float32Array,
  options: AceOptions & { grad?: G },
): AceResult<G> {
  const fn = 'aceLoss';
  const r = run(fn, normalizeAce(fn, input, options), (c) =>
    fromReference(fn, ref.aceLoss(c.data, c.problem), c.problem.out),
  );
  return r as AceResult as AceResult<G>;
}

/** aceLoss off the main thread (native backends run on the libuv pool, on a copy of the inputs taken at call time). */
export function aceLossAsync<G extends Flag = undefined>(
  input: Float32Array,
  options: AceOptions & { grad?: G },
): Promise<AceResult<G>> {
  const fn = 'aceLossAsync';
  return settle(() =>
    runAsync(fn, normalizeAce(fn, input, options), (c) =>
      fromReference(fn, ref.aceLoss(c.data, c.problem), c.problem.out),
    ),
  ) as Promise<AceResult> as Promise<AceResult<G>>;
}

function splitLabels(r: NativeDecodeResult, time: number): Int32Array[] {
  return Array.from(r.lengths, (len, n) => r.labels.slice(n * time, n * time + len));
}

/** Greedy (best-path) CTC decoding: per-frame argmax (ties to the lowest class), merge repeats, drop blanks. */
export function ctcGreedyDecode(logits: Float32Array, options: CtcDecodeOptions): Int32Array[] {
  const fn = 'ctcGreedyDecode';
  const call = normalizeCtcDecode(fn, logits, options);
  const backend = resolveBackend(fn, call.exec, call.data.length);
  if (backend === 'js') return ref.ctcGreedyDecode(call.data, call.problem);
  return splitLabels(nativeSync(fn, call, backend) as NativeDecodeResult, call.problem.time);
}

/** ACE decoding: per-position argmax in flatten order, drop blanks; repeats kept unless collapseRepeats. */
export function aceDecode(input: Float32Array, options: AceDecodeOptions): Int32Array[] {
  const fn = 'aceDecode';
  const call = normalizeAceDecode(fn, input, options);
  const backend = resolveBackend(fn, call.exec, call.data.length);
  if (backend === 'js') return ref.aceDecode(call.data, call.problem, call.collapseRepeats);
  return splitLabels(nativeSync(fn, call, backend) as NativeDecodeResult, call.problem.time);
}

/** ACE counting: expected[n·C + k] = Σ_t y_k^t (ACE's aggregation y_k), and those counts rounded. */
export function aceCount(input: Float32Array, options: AceInputOptions): AceCountResult {
  const fn = 'aceCount';
  const call = normalizeAceDecode(fn, input, options, ACE_SHAPE_KEYS);
  const backend = resolveBackend(fn, call.exec, call.data.length);
  if (backend === 'js') {
    const r = ref.aceCount(call.data, call.problem);
    return { expected: Float32Array.from(r.expected), rounded: r.rounded };
  }
  return nativeSync(fn, call, backend) as NativeCountResult;
}

/** An async entry's promise: argument errors reject it (they are not thrown), like the addon's own errors. */
function settle<T>(body: () => Promise<T>): Promise<T> {
  try {
    return body();
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Lets pending timers and I/O run before the pure-TypeScript backend takes the main thread. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// Result types of the addon, named here so that a change of the binding's shape shows in this file.
export type { NativeAlignResult, NativeDctcResult, NativeLossResult };
