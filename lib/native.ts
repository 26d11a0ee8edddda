// Loads the native addon (built by cmake-js into build/Release, found by node-gyp-build) and describes its
// interface. The addon is a thin N-API layer over the C ABI in csrc/seqloss.h: it converts and checks, nothing
// more. Enum values below are those of the C header.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nodeRequire, packageRoot } from './platform.cjs';

export const LAYOUT = { NTC: 0, TNC: 1 } as const;
export const INPUT = { logits: 0, logProbs: 1, probs: 2 } as const;
export const REDUCTION = { none: 0, sum: 1, mean: 2 } as const;
export const BACKEND = { cpu: 0, cuda: 1 } as const;
export const ACE_VARIANT = { ce: 0, regression: 1 } as const;
export const FIT_SCOPE = { batch: 0, sequence: 1 } as const;
export const DCTC_ALIGNMENT = { ratio: 0, posterior: 1, viterbi: 2 } as const;

/** The operations of the addon's one entry (`call` / `callAsync`), in the order of its table of operations
 * (csrc/napi/addon.cc, kOps). */
export const OP = { ctc: 0, dctc: 1, align: 2, ace: 3, greedyDecode: 4, aceDecode: 5, aceCount: 6 } as const;

/** seqloss_problem, with typed arrays in place of pointer/size pairs (null: absent). */
export interface NativeProblem {
  batch: number;
  time: number;
  classes: number;
  layout: number;
  input: number;
  blank: number;
  inputLengths: Int32Array | null;
  targets: Int32Array | null;
  targetLengths: Int32Array | null;
  counts: Float32Array | null;
}

/** seqloss_exec (host memory and the default stream from JavaScript). */
export interface NativeExec {
  backend: number;
  device: number;
  threads: number;
}

/** seqloss_ctc_options (reserved is always 0). */
export interface NativeCtcOptions {
  reduction: number;
  zeroInfinity: number;
  fitAlpha: number;
  fitGamma: number;
  fitAlphaScope: number;
  /** seqloss_grad_convention: 0 exact, 1 pytorch (ABI 5). */
  gradConvention: number;
}

/** seqloss_dctc_options (reserved is always 0). */
export interface NativeDctcOptions {
  reduction: number;
  zeroInfinity: number;
  alignment: number;
  lambda: number;
  ctcWeight: number;
  scale: number;
  margin: number;
}

/** seqloss_ace_options. */
export interface NativeAceOptions {
  reduction: number;
  variant: number;
  eps: number;
}

/** seqloss_ace_decode's collapse_repeats. */
export interface NativeDecodeOptions {
  collapseRepeats: number;
}

/** The optional dense outputs of a loss (seqloss_*_outputs.grad / posterior): false = not computed, true = a new
 * array, a Float32Array = written into that caller-owned array (N·T·C floats, checked against every input). */
export interface NativeOutputs {
  grad: boolean | Float32Array;
  posterior: boolean | Float32Array;
}

export interface NativeLossResult {
  losses: Float32Array;
  loss: number;
  grad?: Float32Array;
  posterior?: Float32Array;
}

export interface NativeDctcResult {
  losses: Float32Array;
  loss: number;
  grad?: Float32Array;
  /** N×T */
  alignment: Int32Array;
  ctcLosses: Float32Array;
  distillLosses: Float32Array;
}

export interface NativeAlignResult {
  /** N×T */
  paths: Int32Array;
  scores: Float32Array;
}

export interface NativeDecodeResult {
  /** N×T, sequence n's labels at [n·T, n·T + lengths[n]). */
  labels: Int32Array;
  lengths: Int32Array;
}

export interface NativeCountResult {
  expected: Float32Array;
  rounded: Int32Array;
}

export type NativeResult =
  | NativeLossResult
  | NativeDctcResult
  | NativeAlignResult
  | NativeDecodeResult
  | NativeCountResult;

export interface NativeInfo {
  version: string;
  abi: number;
  threads: number;
  cuda: {
    compiled: boolean;
    /** The CUDA backend runs on the SIMT host (an emulated build), not on a GPU. */
    emulated: boolean;
    usableDevices: number;
    runtimeVersion: number;
    driverVersion: number;
    architectures: string;
    reason: string;
    devices: {
      index: number;
      name: string;
      major: number;
      minor: number;
      totalMemory: number;
      multiprocessors: number;
      usable: boolean;
      reason: string;
    }[];
  };
}

/** The addon's exports. `call` runs operation `op` (OP) of the C ABI on the calling thread; `callAsync` on the libuv
 * thread pool, on its own copy of every input (so the caller may change, transfer or detach its arrays meanwhile;
 * a caller-owned output is written when the call settles, and an output detached or resized by then rejects).
 * `options` is null for the operations without options, `outputs` null for those without optional outputs. Errors:
 * TypeError (SEQLOSS_ERROR_TYPE), RangeError (SEQLOSS_ERROR_RANGE) or Error (anything else), the message starting
 * with `fn: `; the error's `code` is the status name. */
export interface NativeBinding {
  call(
    op: number,
    fn: string,
    data: Float32Array,
    problem: NativeProblem,
    options: object | null,
    outputs: NativeOutputs | null,
    exec: NativeExec,
  ): NativeResult;
  callAsync(
    op: number,
    fn: string,
    data: Float32Array,
    problem: NativeProblem,
    options: object | null,
    outputs: NativeOutputs | null,
    exec: NativeExec,
  ): Promise<NativeResult>;
  info(): NativeInfo;
  /** seqloss_cuda_plan_call: the CUDA launch plan and cost model of the call `call(op, …)` would make (ops 0–3),
   * without a device and without data (bench/gpu/model.mjs). */
  plan(
    op: number,
    fn: string,
    data: null,
    problem: NativeProblem,
    options: object | null,
    request: NativePlanRequest,
    exec: NativeExec,
  ): NativePlan;
}

/** seqloss_cuda_plan_request's outputs (SEQLOSS_PLAN_GRAD 1 | SEQLOSS_PLAN_POSTERIOR 2), the device's
 * single-to-double performance ratio and the memory kind of the dense arrays (0 host, 1 device). */
export interface NativePlanRequest {
  outputs: number;
  fp64Ratio: number;
  memory: number;
}

/** seqloss_cuda_step. */
export interface NativePlanStep {
  kernel: string;
  blocks: number;
  threads: number;
  sharedBytes: number;
  bytes: number;
  fp64State: number;
  fp64Element: number;
  fp64Other: number;
}

/** seqloss_cuda_plan. */
export interface NativePlan {
  steps: NativePlanStep[];
  hostSyncs: number;
  precision: number;
  blocksPerSequence: number;
  /** The α lattice keeps every k-th frame (1: every frame; 0: no forward recursion). */
  checkpointInterval: number;
  copyBytes: number;
  states: number;
  elements: number;
  workspaceBytes: number;
}

export type NativeLoad = { ok: true; binding: NativeBinding } | { ok: false; reason: string };

let loaded: NativeLoad | undefined;

export { packageRoot };

/** Why the install left no addon, as scripts/install.mjs recorded it (build/install-status.json), if it did. */
function installReason(): string | undefined {
  const file = join(packageRoot, 'build', 'install-status.json');
  if (!existsSync(file)) return undefined;
  try {
    const status = JSON.parse(readFileSync(file, 'utf8')) as { ok?: unknown; reason?: unknown; fix?: unknown };
    if (status.ok === true || typeof status.reason !== 'string') return undefined;
    return typeof status.fix === 'string' ? `${status.reason}; fix: ${status.fix}` : status.reason;
  } catch {
    return undefined;
  }
}

/** Loads the addon once per module instance (so once per worker thread: each has its own addon instance): the one
 * node-gyp-build finds under the package (build/Release when it was compiled here, else the prebuild in
 * prebuilds/<platform>-<arch>/ that fits), or the file SEQLOSS_ADDON names (a path to a seqloss.node, resolved from
 * the working directory; the test suites point it at the emulated build in build-emu/). When nothing loads, the
 * reason is the install's own diagnosis where it recorded one (no compiler, no CMake, …), else the loader's. */
export function loadNative(): NativeLoad {
  if (loaded) return loaded;
  if (process.env.SEQLOSS_DISABLE_NATIVE === '1') {
    loaded = { ok: false, reason: 'the native addon is disabled by SEQLOSS_DISABLE_NATIVE=1' };
    return loaded;
  }
  try {
    const addon = process.env.SEQLOSS_ADDON;
    if (addon) {
      loaded = { ok: true, binding: nodeRequire(resolve(addon)) as NativeBinding };
      return loaded;
    }
    const nodeGypBuild = nodeRequire('node-gyp-build') as (dir: string) => unknown;
    loaded = { ok: true, binding: nodeGypBuild(packageRoot) as NativeBinding };
  } catch (err) {
    const why = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    const install = installReason();
    loaded = {
      ok: false,
      reason: install ?? `the native addon could not be loaded: ${why}; fix: \`npm rebuild seqloss\` (builds it)`,
    };
  }
  return loaded;
}
