// Picks the backend for a call ('auto' rule and fallback) and reports what is available (backends()).
import { BACKEND, loadNative, type NativeBinding, type NativeExec } from './native.js';
import type { Exec } from './options.js';
import { packageVersion } from './platform.cjs';
import type { BackendsInfo, ResolvedBackend } from './types.js';

let warned = false;

/** 'auto' considers CUDA from this many input elements (N·T·C) on: below it, copying the logits to the device and
 * back, and the launch latency, cost more than the CPU backend's whole call (README, "Choosing a backend"). */
export const AUTO_CUDA_MIN_ELEMENTS = 1 << 20;

/** Whether 'auto' may pick CUDA at all: yes unless SEQLOSS_AUTO_CUDA=0 (the opt-out, for a process that wants its
 * GPU left alone without passing backend 'cpu' to every call). */
export function autoCudaEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SEQLOSS_AUTO_CUDA !== '0';
}

/** The 'auto' rule for a call of `elements` input values on a device that is (`usable`) a usable, real GPU: CUDA
 * from AUTO_CUDA_MIN_ELEMENTS values on, unless the opt-out is set. */
export function autoPicksCuda(elements: number, usable: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  return usable && elements >= AUTO_CUDA_MIN_ELEMENTS && autoCudaEnabled(env);
}

// The devices 'auto' may use, asked once per environment (they do not change): the usable ones of a real GPU build;
// none in an emulated build, whose devices are a test harness.
let autoDevices: boolean[] | undefined;

function autoDevice(device: number): boolean {
  if (autoDevices === undefined) {
    const native = loadNative();
    const cuda = native.ok ? native.binding.info().cuda : undefined;
    autoDevices = cuda && !cuda.emulated ? cuda.devices.map((d) => d.usable) : [];
  }
  return autoDevices[device] === true;
}

/** The backend that will serve a call of `elements` input values. 'auto': CUDA when the device is a usable GPU
 * (never an emulated one), the input has at least AUTO_CUDA_MIN_ELEMENTS values and SEQLOSS_AUTO_CUDA is not 0
 * (autoPicksCuda); else the native CPU backend when the addon loaded; else 'js' (with one warning per thread). */
export function resolveBackend(fn: string, exec: Exec, elements = 0): ResolvedBackend {
  const requested = exec.backend;
  if (requested === 'js') return 'js';
  const native = loadNative();
  if (requested === 'auto') {
    if (native.ok) {
      if (elements >= AUTO_CUDA_MIN_ELEMENTS && autoPicksCuda(elements, autoDevice(exec.device))) return 'cuda';
      return 'cpu';
    }
    if (!warned) {
      warned = true;
      process.emitWarning(`seqloss: ${native.reason}; backend 'auto' falls back to 'js' (pure TypeScript, slower)`, {
        code: 'SEQLOSS_NO_NATIVE',
      });
    }
    return 'js';
  }
  if (!native.ok) {
    const err = new Error(`${fn}: backend '${requested}' is unavailable: ${native.reason}`);
    (err as Error & { code: string }).code = 'SEQLOSS_BACKEND_UNAVAILABLE';
    throw err;
  }
  return requested;
}

/** The addon (only called after resolveBackend returned a native backend). */
export function binding(): NativeBinding {
  const native = loadNative();
  if (!native.ok) throw new Error(native.reason);
  return native.binding;
}

export function nativeExec(backend: ResolvedBackend, exec: Exec): NativeExec {
  return { backend: backend === 'cuda' ? BACKEND.cuda : BACKEND.cpu, device: exec.device, threads: exec.threads };
}

function versionString(v: number): string | undefined {
  // CUDA encodes versions as 1000·major + 10·minor.
  return v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : undefined;
}

/** What can run here, and why not where something cannot. */
export function backends(): BackendsInfo {
  const native = loadNative();
  if (!native.ok) {
    return {
      js: true,
      cpu: false,
      reason: native.reason,
      cuda: { available: false, devices: [], reason: native.reason, compiled: false, emulated: false },
      version: packageVersion,
    };
  }
  const info = native.binding.info();
  const c = info.cuda;
  const devices = c.devices.map((d) => ({
    index: d.index,
    name: d.name,
    computeCapability: `${d.major}.${d.minor}`,
    totalMemory: d.totalMemory,
    multiprocessors: d.multiprocessors,
    usable: d.usable,
    ...(d.usable ? {} : { reason: d.reason }),
  }));
  const available = c.compiled && c.usableDevices > 0;
  return {
    js: true,
    cpu: true,
    cuda: {
      available,
      devices,
      ...(available ? {} : { reason: c.reason || 'no CUDA device' }),
      compiled: c.compiled,
      emulated: c.emulated,
      runtimeVersion: versionString(c.runtimeVersion),
      driverVersion: versionString(c.driverVersion),
      architectures: c.architectures || undefined,
    },
    threads: info.threads,
    version: packageVersion,
  };
}
