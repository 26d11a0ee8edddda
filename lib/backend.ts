// Picks the backend for a call ('auto' rule and fallback) and reports what is available (backends()).
import { BACKEND, loadNative, type NativeBinding, type NativeExec } from './native.js';
import type { Exec } from './options.js';
import type { BackendsInfo, ResolvedBackend } from './types.js';

const VERSION = '0.1.0';

let warned = false;

/** The backend that will serve a call. 'auto': the native CPU backend when the addon loaded, else 'js' (with one
 * warning per thread). CUDA kernels arrive in a later version, so 'auto' does not pick 'cuda' yet. */
export function resolveBackend(fn: string, exec: Exec): ResolvedBackend {
  const requested = exec.backend;
  if (requested === 'js') return 'js';
  const native = loadNative();
  if (requested === 'auto') {
    if (native.ok) return 'cpu';
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
      cuda: { available: false, devices: [], reason: native.reason, compiled: false },
      version: VERSION,
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
  }));
  // The CUDA kernels are not in this version: a device alone does not make the backend available.
  const kernels = false;
  const reason = !c.compiled || devices.length === 0
    ? c.reason || 'no CUDA device'
    : 'this version has CUDA device discovery but not the CUDA kernels yet';
  return {
    js: true,
    cpu: true,
    cuda: {
      available: kernels && devices.length > 0,
      devices,
      ...(kernels && devices.length > 0 ? {} : { reason }),
      compiled: c.compiled,
      runtimeVersion: versionString(c.runtimeVersion),
      driverVersion: versionString(c.driverVersion),
      architectures: c.architectures || undefined,
    },
    threads: info.threads,
    version: info.version,
  };
}
