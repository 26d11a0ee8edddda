// Loads the native addon (built by cmake-js into build/Release, found by node-gyp-build) and describes its
// interface. The addon is a thin N-API layer over the C ABI in csrc/seqloss.h: it converts and checks, nothing
// more. Enum values below are those of the C header.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LAYOUT = { NTC: 0, TNC: 1 } as const;
export const INPUT = { logits: 0, logProbs: 1, probs: 2 } as const;
export const REDUCTION = { none: 0, sum: 1, mean: 2 } as const;
export const BACKEND = { cpu: 0, cuda: 1 } as const;
export const ACE_VARIANT = { ce: 0, regression: 1 } as const;
export const FIT_SCOPE = { batch: 0, sequence: 1 } as const;
export const DCTC_ALIGNMENT = { ratio: 0, posterior: 1, viterbi: 2 } as const;

/** seqloss_problem, with typed arrays in place of pointer/size pairs. */
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

/** seqloss_exec (host memory only from JavaScript). */
export interface NativeExec {
  backend: number;
  device: number;
  threads: number;
}

export interface NativeCtcOptions {
  reduction: number;
  zeroInfinity: boolean;
  grad: boolean;
  posterior: boolean;
  /** Caller-owned outputs (N·T·C each) written instead of fresh arrays; null or absent: allocate. */
  gradOut?: Float32Array | null;
  posteriorOut?: Float32Array | null;
  /** seqloss_ctc_options.fit_alpha / fit_gamma / fit_alpha_scope; absent: 0 (plain CTC). */
  fitAlpha?: number;
  fitGamma?: number;
  fitScope?: number;
}

/** seqloss_dctc_options, plus which outputs to return. */
export interface NativeDctcOptions {
  reduction: number;
  zeroInfinity: boolean;
  alignment: number;
  lambda: number;
  ctcWeight: number;
  /** s */
  scale: number;
  /** m */
  margin: number;
  grad: boolean;
  gradOut?: Float32Array | null;
}

export interface NativeAceOptions {
  reduction: number;
  variant: number;
  eps: number;
  grad: boolean;
  gradOut?: Float32Array | null;
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

/** The addon's exports. Each throws TypeError (SEQLOSS_ERROR_TYPE), RangeError (SEQLOSS_ERROR_RANGE) or Error
 * (anything else) with the C ABI's message; the error's `code` is the status name. */
export interface NativeBinding {
  ctc(data: Float32Array, problem: NativeProblem, options: NativeCtcOptions, exec: NativeExec): NativeLossResult;
  /** Runs on the libuv thread pool. `data` and the problem's arrays must not change until it settles. */
  ctcAsync(
    data: Float32Array,
    problem: NativeProblem,
    options: NativeCtcOptions,
    exec: NativeExec,
  ): Promise<NativeLossResult>;
  ace(data: Float32Array, problem: NativeProblem, options: NativeAceOptions, exec: NativeExec): NativeLossResult;
  aceAsync(
    data: Float32Array,
    problem: NativeProblem,
    options: NativeAceOptions,
    exec: NativeExec,
  ): Promise<NativeLossResult>;
  /** seqloss_dctc; problem.input must be INPUT.logits. */
  dctc(data: Float32Array, problem: NativeProblem, options: NativeDctcOptions, exec: NativeExec): NativeDctcResult;
  /** dctc on the libuv thread pool; inputs must not change until it settles. */
  dctcAsync(
    data: Float32Array,
    problem: NativeProblem,
    options: NativeDctcOptions,
    exec: NativeExec,
  ): Promise<NativeDctcResult>;
  /** seqloss_ctc_align: (data, problem, exec), no options. */
  ctcAlign(data: Float32Array, problem: NativeProblem, exec: NativeExec): NativeAlignResult;
  /** ctcAlign on the libuv thread pool; inputs must not change until it settles. */
  ctcAlignAsync(data: Float32Array, problem: NativeProblem, exec: NativeExec): Promise<NativeAlignResult>;
  ctcGreedyDecode(data: Float32Array, problem: NativeProblem, exec: NativeExec): NativeDecodeResult;
  aceDecode(data: Float32Array, problem: NativeProblem, collapseRepeats: boolean, exec: NativeExec): NativeDecodeResult;
  aceCount(data: Float32Array, problem: NativeProblem, exec: NativeExec): { expected: Float32Array; rounded: Int32Array };
  info(): NativeInfo;
}

export type NativeLoad = { ok: true; binding: NativeBinding } | { ok: false; reason: string };

let loaded: NativeLoad | undefined;

/** The package root: lib/ (sources, under vitest) and dist/ (compiled) both sit one level below it. */
export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Loads the addon once per module instance (so once per worker thread: each has its own addon instance): the one
 * node-gyp-build finds under the package, or the file SEQLOSS_ADDON names (a path to a seqloss.node, resolved from
 * the working directory; the test suites point it at the emulated build in build-emu/). */
export function loadNative(): NativeLoad {
  if (loaded) return loaded;
  if (process.env.SEQLOSS_DISABLE_NATIVE === '1') {
    loaded = { ok: false, reason: 'the native addon is disabled by SEQLOSS_DISABLE_NATIVE=1' };
    return loaded;
  }
  try {
    const require = createRequire(import.meta.url);
    const addon = process.env.SEQLOSS_ADDON;
    if (addon) {
      loaded = { ok: true, binding: require(resolve(addon)) as NativeBinding };
      return loaded;
    }
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    loaded = { ok: true, binding: nodeGypBuild(packageRoot) as NativeBinding };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    loaded = { ok: false, reason: `the native addon could not be loaded: ${why}` };
  }
  return loaded;
}
