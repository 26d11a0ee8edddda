// runtime.cc (SIMT host) — the CUDA runtime subset of cuda_runtime.h on the CPU: emulated devices, streams,
// device memory and memory pools, copies, errors, and the queue that runs the work.
//
// Work queued on a stream (a launch, a copy, a memset, a stream-ordered free) runs only when the host waits for
// it: cudaStreamSynchronize, cudaEventSynchronize (the work up to the event's record), cudaDeviceSynchronize, a
// blocking copy or memset, cudaFree, cudaStreamDestroy. It
// runs on the waiting host thread, in queue order, with the ordering rules of CUDA's streams: an operation runs
// after the earlier ones of its stream; on the legacy default stream also after the earlier ones of every
// blocking stream of its device, and on a blocking stream after the earlier ones of the legacy stream; a
// non-blocking stream is ordered with nothing else. A host-to-device copy reads its source when it runs, as a
// copy from pinned memory does, so a caller that lets its source go before the copy has run reads garbage (and
// ASan reports it), as on a GPU.
// The last error is per host thread; a failed kernel (a hazard) fails its stream: the next synchronisation of it
// returns cudaErrorLaunchFailure, the stream's later work is skipped until then (its frees still run), and
// cudaGetErrorString of that error carries the hazard's message. Unlike a GPU the error is not sticky: the device
// stays usable, so that a test can go on after provoking one.
#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "control.h"
#include "cuda_runtime.h"
#include "fiber.h"
#include "internal.h"

namespace seqloss {
namespace simt {
namespace {

constexpr uint64_t kDefaultMemory = 4ull << 30;
constexpr size_t kAlign = 256;  // cudaMalloc's alignment

struct Stream;
struct Pool;

struct Op {
  uint64_t seq = 0;
  Stream* stream = nullptr;
  bool is_free = false;                   // frees still run on a failed stream
  std::function<bool(std::string*)> run;  // false: the operation failed (why)
  bool running = false;
  cudaError_t fault = cudaErrorLaunchFailure;  // the stream's error when `run` fails
};

struct Stream {
  int device = 0;
  bool legacy = false, blocking = true;
  cudaError_t error = cudaSuccess;  // a failed operation, reported by the next synchronisation
  std::string detail;
};

struct Pool {
  int device = 0;
  bool is_default = false;
  uint64_t threshold = 0, used = 0, cached = 0, used_high = 0, reserved_high = 0;
};

// A recorded event: the no-op its cudaEventRecord queued on `stream` (seq 0: never recorded).
struct Event {
  int device = 0;
  Stream* stream = nullptr;
  uint64_t seq = 0;
};

struct Alloc {
  size_t size = 0;
  int device = 0;
  Pool* pool = nullptr;  // null: cudaMalloc
};

struct Device {
  int index = 0;
  uint64_t limit = kDefaultMemory, configured = kDefaultMemory;
  bool no_image = false;
  uint64_t malloc_bytes = 0;
  Stream legacy;
  Pool default_pool;
  std::list<std::unique_ptr<Op>> pending;  // enqueue order
};

struct State {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::unique_ptr<Device>> devices;
  std::map<uintptr_t, Alloc> allocs;
  std::map<Stream*, std::unique_ptr<Stream>> streams;
  std::map<Pool*, std::unique_ptr<Pool>> pools;
  std::map<Event*, std::unique_ptr<Event>> events;
  std::map<uintptr_t, size_t> pinned;  // cudaHostAlloc's blocks
  uint64_t seq = 0;
  std::atomic<bool> report{true};
  // Failure injection.
  std::atomic<uint64_t> fail_at{0}, calls{0};
  std::string failed;
};

uint64_t parse_bytes(const char* s) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s || !(v > 0)) return 0;
  double m = 1;
  if (*end == 'k' || *end == 'K') m = 1024.0;
  if (*end == 'm' || *end == 'M') m = 1024.0 * 1024;
  if (*end == 'g' || *end == 'G') m = 1024.0 * 1024 * 1024;
  return static_cast<uint64_t>(v * m);
}

State& state() {
  // Built once, never destroyed: kernels may still run on other threads while the process exits.
  static State* s = [] {
    State* st = new State;
    int count = 1;
    if (const char* e = std::getenv("SEQLOSS_EMULATE_DEVICES")) count = std::max(0, std::min(16, std::atoi(e)));
    uint64_t mem = kDefaultMemory;
    if (const char* e = std::getenv("SEQLOSS_EMULATE_MEMORY")) {
      if (uint64_t b = parse_bytes(e)) mem = b;
    }
    for (int i = 0; i < count; ++i) {
      auto d = std::make_unique<Device>();
      d->index = i;
      d->limit = d->configured = mem;
      d->legacy.device = i;
      d->legacy.legacy = true;
      d->default_pool.device = i;
      d->default_pool.is_default = true;
      st->devices.push_back(std::move(d));
    }
    if (const char* e = std::getenv("SEQLOSS_EMULATE_NO_IMAGE")) {
      for (const char* c = e; *c != '\0';) {
        char* end = nullptr;
        const long i = std::strtol(c, &end, 10);
        if (end == c) break;
        if (i >= 0 && i < count) st->devices[static_cast<size_t>(i)]->no_image = true;
        c = *end == ',' ? end + 1 : end;
      }
    }
    if (const char* e = std::getenv("SEQLOSS_EMULATE_QUIET")) st->report = std::atoi(e) == 0;
    return st;
  }();
  return *s;
}

thread_local int tls_device = 0;
thread_local cudaError_t tls_error = cudaSuccess;
thread_local std::string tls_detail;  // the message of this thread's last launch failure
thread_local std::string tls_text;    // cudaGetErrorString's buffer for it

cudaError_t fail(cudaError_t e) {
  if (e != cudaSuccess) tls_error = e;
  return e;
}

// Failure injection: the error `name` fails with, or cudaSuccess.
cudaError_t injected(const char* name, cudaError_t err = cudaErrorUnknown) {
  State& s = state();
  const uint64_t at = s.fail_at.load();
  if (at == 0) return cudaSuccess;
  if (s.calls.fetch_add(1) + 1 != at) return cudaSuccess;
  std::lock_guard<std::mutex> lk(s.mu);
  s.failed = name;
  return err;
}

#define SIMT_ENTER(name, ...)                                                                           \
  do {                                                                                                  \
    if (const cudaError_t inj_ = ::seqloss::simt::injected(name, ##__VA_ARGS__)) { return fail(inj_); } \
  } while (0)

Device* device_at(State& s, int i) {
  if (i < 0 || i >= static_cast<int>(s.devices.size())) return nullptr;
  return s.devices[static_cast<size_t>(i)].get();
}

// The live allocation holding [p, p + n), or null.
const Alloc* find_alloc(State& s, const void* p, size_t n, uintptr_t* base = nullptr) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto it = s.allocs.upper_bound(a);
  if (it == s.allocs.begin()) return nullptr;
  --it;
  if (a < it->first || a - it->first >= std::max<size_t>(it->second.size, 1)) return nullptr;
  if (n > it->second.size - (a - it->first)) return nullptr;
  if (base != nullptr) *base = it->first;
  return &it->second;
}

uint64_t in_use(State& s, const Device& d) {
  uint64_t b = d.malloc_bytes + d.default_pool.used + d.default_pool.cached;
  for (const auto& kv : s.pools) {
    if (kv.second->device == d.index) b += kv.second->used + kv.second->cached;
  }
  return b;
}

// The stream behind a handle (null, cudaStreamLegacy: the current device's legacy stream); null if unknown.
Stream* resolve(State& s, cudaStream_t h) {
  if (h == nullptr || h == cudaStreamLegacy) {
    Device* d = device_at(s, tls_device);
    return d != nullptr ? &d->legacy : nullptr;
  }
  auto it = s.streams.find(reinterpret_cast<Stream*>(h));
  return it != s.streams.end() ? it->second.get() : nullptr;
}

void enqueue(State& s, Stream* st, std::function<bool(std::string*)> run, bool is_free = false,
             cudaError_t fault = cudaErrorLaunchFailure) {
  auto op = std::make_unique<Op>();
  op->seq = ++s.seq;
  op->stream = st;
  op->is_free = is_free;
  op->run = std::move(run);
  op->fault = fault;
  s.devices[static_cast<size_t>(st->device)]->pending.push_back(std::move(op));
}

// Whether op `y` (earlier) must run before an operation of stream `x`.
bool precedes(const Stream* y, const Stream* x) {
  if (y == x) return true;
  return (x->legacy && y->blocking && !y->legacy) || (x->blocking && !x->legacy && y->legacy);
}

// The sequence numbers of every pending op of `d` that must run for the queued work of `targets` to complete
// (that work included; only the ops up to sequence number `upto` when it is not 0: an event's wait), ascending.
// Walking back from the newest op, an op is needed when it belongs to a target, or when it must precede a later
// op already found needed.
std::vector<uint64_t> needed(Device& d, const std::set<Stream*>& targets, uint64_t upto = 0) {
  std::vector<Stream*> found;
  std::vector<uint64_t> out;
  for (auto it = d.pending.rbegin(); it != d.pending.rend(); ++it) {
    Op& y = **it;
    if (upto != 0 && y.seq > upto) continue;
    bool need = targets.count(y.stream) != 0;
    for (Stream* x : found) need = need || precedes(y.stream, x);
    if (!need) continue;
    out.push_back(y.seq);
    if (std::find(found.begin(), found.end(), y.stream) == found.end()) found.push_back(y.stream);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

// Keeps each pool of `d` within its release threshold (what a synchronisation does).
void trim_pools(State& s, Device& d) {
  auto trim = [](Pool& p) {
    const uint64_t keep = std::max(p.threshold, p.used);
    if (p.used + p.cached > keep) p.cached = keep - p.used;
  };
  trim(d.default_pool);
  for (auto& kv : s.pools) {
    if (kv.second->device == d.index) trim(*kv.second);
  }
}

std::list<std::unique_ptr<Op>>::iterator find_op(Device& d, uint64_t seq) {
  return std::find_if(d.pending.begin(), d.pending.end(),
                      [seq](const std::unique_ptr<Op>& o) { return o->seq == seq; });
}

// Runs the ops `seqs` of `d` in order (waiting for those another thread runs). Called and returns with lk held.
void run_ops(State& s, std::unique_lock<std::mutex>& lk, Device& d, const std::vector<uint64_t>& seqs) {
  for (uint64_t q : seqs) {
    for (;;) {
      auto it = find_op(d, q);
      if (it == d.pending.end()) break;  // done
      Op* op = it->get();
      if (op->running) {
        s.cv.wait(lk);
        continue;
      }
      op->running = true;
      Stream* st = op->stream;
      const bool skip = st->error != cudaSuccess && !op->is_free;
      std::string why;
      bool ok = true;
      if (!skip) {
        lk.unlock();
        ok = op->run(&why);
        lk.lock();
      }
      if (!ok) {
        st->error = op->fault;
        st->detail = why;
        if (s.report) std::fprintf(stderr, "seqloss SIMT host: %s\n", why.c_str());
      }
      d.pending.erase(find_op(d, q));
      s.cv.notify_all();
      break;
    }
  }
}

// Completes the work of `st` queued so far; returns (and clears) its error.
cudaError_t sync_stream(State& s, std::unique_lock<std::mutex>& lk, Stream* st) {
  Device& d = *s.devices[static_cast<size_t>(st->device)];
  run_ops(s, lk, d, needed(d, {st}));
  trim_pools(s, d);
  const cudaError_t e = st->error;
  if (e != cudaSuccess) {
    tls_detail = st->detail;
    st->error = cudaSuccess;
    st->detail.clear();
  }
  return e;
}

cudaError_t sync_device(State& s, std::unique_lock<std::mutex>& lk, Device& d) {
  std::vector<uint64_t> all;
  for (const auto& o : d.pending) all.push_back(o->seq);
  run_ops(s, lk, d, all);
  trim_pools(s, d);
  cudaError_t e = cudaSuccess;
  auto take = [&](Stream& st) {
    if (st.error != cudaSuccess && e == cudaSuccess) {
      e = st.error;
      tls_detail = st.detail;
    }
    st.error = cudaSuccess;
    st.detail.clear();
  };
  take(d.legacy);
  for (auto& kv : s.streams) {
    if (kv.second->device == d.index) take(*kv.second);
  }
  return e;
}

// Allocates `size` bytes on device `dev` (from `pool`, or a plain cudaMalloc when null), filled with 0xFF.
cudaError_t allocate(State& s, void** ptr, size_t size, int dev, Pool* pool) {
  Device& d = *s.devices[static_cast<size_t>(dev)];
  if (size == 0) {
    *ptr = nullptr;
    return cudaSuccess;
  }
  uint64_t grow = size;
  if (pool != nullptr) grow = pool->cached >= size ? 0 : size - pool->cached;
  if (in_use(s, d) + grow > d.limit) return cudaErrorMemoryAllocation;
  void* p = nullptr;
  if (posix_memalign(&p, kAlign, size) != 0 || p == nullptr) return cudaErrorMemoryAllocation;
  std::memset(p, 0xFF, size);  // uninitialised device memory reads as NaN
  if (pool != nullptr) {
    pool->cached -= size - grow;
    pool->used += size;
    pool->used_high = std::max(pool->used_high, pool->used);
    pool->reserved_high = std::max(pool->reserved_high, pool->used + pool->cached);
  } else {
    d.malloc_bytes += size;
  }
  s.allocs[reinterpret_cast<uintptr_t>(p)] = Alloc{size, dev, pool};
  *ptr = p;
  return cudaSuccess;
}

void release(State& s, uintptr_t base) {
  auto it = s.allocs.find(base);
  if (it == s.allocs.end()) return;
  const Alloc a = it->second;
  s.allocs.erase(it);
  if (a.pool != nullptr) {
    a.pool->used -= a.size;
    a.pool->cached += a.size;
  } else {
    s.devices[static_cast<size_t>(a.device)]->malloc_bytes -= a.size;
  }
  std::free(reinterpret_cast<void*>(base));
}

Pool* pool_of(State& s, cudaMemPool_t h) {
  Pool* p = reinterpret_cast<Pool*>(h);
  for (auto& d : s.devices) {
    if (&d->default_pool == p) return p;
  }
  auto it = s.pools.find(p);
  return it != s.pools.end() ? p : nullptr;
}

bool is_device(State& s, const void* p) { return find_alloc(s, p, 1) != nullptr; }

// The range [p, p + n) for a copy or memset: device memory when `device` is true, host memory otherwise.
bool valid_side(State& s, const void* p, size_t n, bool device) {
  return device ? find_alloc(s, p, n) != nullptr : !is_device(s, p);
}

std::string name_of(const char* fn, const void* p, size_t n) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s of %zu bytes at %p", fn, n, p);
  return buf;
}

// cuMemGetAddressRange_v2 (CUresult, CUdeviceptr = unsigned long long).
int mem_get_address_range(unsigned long long* base, size_t* size, unsigned long long ptr) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  uintptr_t b = 0;
  const Alloc* a = find_alloc(s, reinterpret_cast<const void*>(static_cast<uintptr_t>(ptr)), 1, &b);
  if (a == nullptr) return 1;  // CUDA_ERROR_INVALID_VALUE
  if (base != nullptr) *base = b;
  if (size != nullptr) *size = a->size;
  return 0;
}

cudaError_t copy_or_set(void* dst, const void* src, int value, size_t n, cudaMemcpyKind kind, cudaStream_t stream,
                        bool blocking, const char* fn) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Stream* st = resolve(s, stream);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (n == 0) return cudaSuccess;
  const bool set = src == nullptr;  // a memset: only dst, device memory
  if (!set && kind == cudaMemcpyDefault) {
    kind = is_device(s, src) ? (is_device(s, dst) ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                             : (is_device(s, dst) ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
  }
  const bool src_dev = !set && (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice);
  const bool dst_dev = set || kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if ((!set && !valid_side(s, src, n, src_dev)) || !valid_side(s, dst, n, dst_dev)) {
    return fail(cudaErrorInvalidValue);
  }
  const std::string what = name_of(fn, dst, n);
  enqueue(
      s, st,
      [dst, src, value, n, src_dev, dst_dev, set, what](std::string* why) {
        State& s2 = state();
        {
          // Device memory freed since the copy was queued: what a GPU reports as an illegal address.
          std::lock_guard<std::mutex> g(s2.mu);
          if ((dst_dev && find_alloc(s2, dst, n) == nullptr) || (src_dev && find_alloc(s2, src, n) == nullptr)) {
            *why = what + ": its device memory was freed before the copy ran";
            return false;
          }
        }
        if (set) {
          std::memset(dst, value, n);
        } else {
          std::memmove(dst, src, n);
        }
        return true;
      },
      false, cudaErrorIllegalAddress);
  if (!blocking) return cudaSuccess;
  return fail(sync_stream(s, lk, st));
}

}  // namespace

// ---- control.h ------------------------------------------------------------------------------------------------

Stats stats() {
  const Counters& c = counters();
  return Stats{c.launches.load(), c.blocks.load(), c.threads.load(), c.switches.load(), c.hazards.load()};
}

size_t pending_operations() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  size_t n = 0;
  for (const auto& d : s.devices) n += d->pending.size();
  return n;
}

uint64_t device_bytes_in_use(int device) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Device* d = device_at(s, device);
  return d != nullptr ? in_use(s, *d) : 0;
}

uint64_t live_allocations(int device) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  uint64_t n = 0;
  for (const auto& kv : s.allocs) n += kv.second.device == device ? 1 : 0;
  return n;
}

void set_memory_limit(int device, uint64_t bytes) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (Device* d = device_at(s, device)) d->limit = bytes != 0 ? bytes : d->configured;
}

void fail_nth_call(uint64_t n) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.failed.clear();
  s.calls = 0;
  s.fail_at = n;
}

std::string failed_call() {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.failed;
}

uint64_t calls_since_arming() { return state().calls.load(); }

void set_report(bool print_hazards) { state().report = print_hazards; }

bool reporting() { return state().report; }

const char* fiber_mechanism() { return Fiber::mechanism(); }

void enqueue_kernel(const char* name, dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> body) {
  if (const cudaError_t inj = injected("kernel launch")) {
    fail(inj);
    return;
  }
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Stream* st = resolve(s, stream);
  if (st == nullptr || st->device != tls_device) {
    fail(cudaErrorInvalidResourceHandle);  // a stream of another device, as a GPU's launch refuses it
    return;
  }
  const uint64_t threads = static_cast<uint64_t>(block.x) * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (s.devices[static_cast<size_t>(st->device)]->no_image) {
    fail(cudaErrorNoKernelImageForDevice);
    return;
  }
  const std::string kname = name;
  enqueue(s, st,
          [kname, grid, block, body](std::string* why) { return run_kernel(kname.c_str(), grid, block, body, why); });
}

}  // namespace simt
}  // namespace seqloss

// ---- the CUDA runtime API -------------------------------------------------------------------------------------

using seqloss::simt::Device;
using seqloss::simt::fail;
using seqloss::simt::Pool;
using seqloss::simt::State;
using seqloss::simt::state;
using seqloss::simt::Stream;
using seqloss::simt::tls_detail;
using seqloss::simt::tls_device;
using seqloss::simt::tls_error;

cudaError_t cudaGetLastError() {
  const cudaError_t e = tls_error;
  tls_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return tls_error; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorUnknown: return "cudaErrorUnknown";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected (the SIMT emulator has SEQLOSS_EMULATE_DEVICES=0)";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorUnknown: return "unknown error";
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure: {
      const char* base =
          e == cudaErrorIllegalAddress ? "an illegal memory access was encountered" : "unspecified launch failure";
      if (tls_detail.empty()) return base;
      seqloss::simt::tls_text = std::string(base) + " (SIMT host: " + tls_detail + ")";
      return seqloss::simt::tls_text.c_str();
    }
  }
  return "unknown error";
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  if (v == nullptr) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  if (v == nullptr) return fail(cudaErrorInvalidValue);
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  SIMT_ENTER("cudaGetDeviceCount");
  if (count == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  *count = static_cast<int>(s.devices.size());
  return *count == 0 ? fail(cudaErrorNoDevice) : cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  SIMT_ENTER("cudaGetDevice");
  if (device == nullptr) return fail(cudaErrorInvalidValue);
  *device = tls_device;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  SIMT_ENTER("cudaSetDevice");
  State& s = state();
  if (device < 0 || device >= static_cast<int>(s.devices.size())) return fail(cudaErrorInvalidDevice);
  tls_device = device;
  return cudaSuccess;
}

namespace seqloss {
namespace simt {
namespace {
cudaError_t properties(cudaDeviceProp* prop, int device) {
  State& s = state();
  Device* d = seqloss::simt::device_at(s, device);
  if (prop == nullptr) return fail(cudaErrorInvalidValue);
  if (d == nullptr) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof *prop);
  // A device configured to lack this build's kernels looks like a GTX 1080 Ti (compute 6.1) under a CUDA 13 build.
  std::snprintf(prop->name, sizeof prop->name, "seqloss SIMT emulator #%d (CPU)%s", device,
                d->no_image ? ", as compute 6.1" : "");
  prop->totalGlobalMem = d->limit;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->major = d->no_image ? 6 : 7;
  prop->minor = d->no_image ? 1 : 5;
  prop->multiProcessorCount = 1;
  prop->singleToDoublePrecisionPerfRatio = 32;
  return cudaSuccess;
}
}  // namespace
}  // namespace simt
}  // namespace seqloss

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  SIMT_ENTER("cudaGetDeviceProperties");
  return seqloss::simt::properties(prop, device);
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  SIMT_ENTER("cudaDeviceGetAttribute");
  cudaDeviceProp p;
  if (value == nullptr) return fail(cudaErrorInvalidValue);
  const cudaError_t e = seqloss::simt::properties(&p, device);
  if (e != cudaSuccess) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrSingleToDoublePrecisionPerfRatio: *value = p.singleToDoublePrecisionPerfRatio; break;
    case cudaDevAttrMemoryPoolsSupported: *value = 1; break;
    default: return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  SIMT_ENTER("cudaDeviceSynchronize");
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Device* d = seqloss::simt::device_at(s, tls_device);
  if (d == nullptr) return fail(cudaErrorNoDevice);
  return fail(seqloss::simt::sync_device(s, lk, *d));
}

cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func) {
  SIMT_ENTER("cudaFuncGetAttributes");
  if (attr == nullptr || func == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  Device* d = seqloss::simt::device_at(s, tls_device);
  if (d == nullptr) return fail(cudaErrorNoDevice);
  if (d->no_image) return fail(cudaErrorNoKernelImageForDevice);
  std::memset(attr, 0, sizeof *attr);
  attr->maxThreadsPerBlock = 1024;
  attr->binaryVersion = 75;
  attr->ptxVersion = 75;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total) {
  SIMT_ENTER("cudaMemGetInfo");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Device* d = seqloss::simt::device_at(s, tls_device);
  if (d == nullptr) return fail(cudaErrorNoDevice);
  const uint64_t used = seqloss::simt::in_use(s, *d);
  if (free_bytes != nullptr) *free_bytes = used < d->limit ? d->limit - used : 0;
  if (total != nullptr) *total = d->limit;
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  SIMT_ENTER("cudaStreamCreateWithFlags");
  if (stream == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (seqloss::simt::device_at(s, tls_device) == nullptr) return fail(cudaErrorNoDevice);
  auto st = std::make_unique<Stream>();
  st->device = tls_device;
  st->blocking = (flags & cudaStreamNonBlocking) == 0;
  Stream* p = st.get();
  s.streams[p] = std::move(st);
  *stream = reinterpret_cast<cudaStream_t>(p);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  SIMT_ENTER("cudaStreamDestroy");
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  auto it = s.streams.find(reinterpret_cast<Stream*>(stream));
  if (it == s.streams.end()) return fail(cudaErrorInvalidResourceHandle);
  // The stream's queued work still completes (as on a GPU); then the handle is gone.
  seqloss::simt::sync_stream(s, lk, it->second.get());
  s.streams.erase(reinterpret_cast<Stream*>(stream));
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  Stream* st = seqloss::simt::resolve(s, stream);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  lk.unlock();
  const cudaError_t inj = seqloss::simt::injected("cudaStreamSynchronize");
  lk.lock();
  const cudaError_t e = seqloss::simt::sync_stream(s, lk, st);  // a failed synchronisation still ends the work
  return fail(inj != cudaSuccess ? inj : e);
}

cudaError_t cudaStreamQuery(cudaStream_t stream) {
  SIMT_ENTER("cudaStreamQuery");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = seqloss::simt::resolve(s, stream);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  for (const auto& o : s.devices[static_cast<size_t>(st->device)]->pending) {
    if (o->stream == st) return cudaErrorNotReady;
  }
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
  SIMT_ENTER("cudaMalloc", cudaErrorMemoryAllocation);
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (seqloss::simt::device_at(s, tls_device) == nullptr) return fail(cudaErrorNoDevice);
  return fail(seqloss::simt::allocate(s, ptr, size, tls_device, nullptr));
}

cudaError_t cudaFree(void* ptr) {
  SIMT_ENTER("cudaFree");
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  uintptr_t base = 0;
  const seqloss::simt::Alloc* a = seqloss::simt::find_alloc(s, ptr, 1, &base);
  if (a == nullptr || base != reinterpret_cast<uintptr_t>(ptr)) return fail(cudaErrorInvalidValue);
  // cudaFree waits for the device: work queued on this memory runs first.
  Device& d = *s.devices[static_cast<size_t>(a->device)];
  std::vector<uint64_t> all;
  for (const auto& o : d.pending) all.push_back(o->seq);
  seqloss::simt::run_ops(s, lk, d, all);
  seqloss::simt::release(s, base);
  return cudaSuccess;
}

cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream) {
  SIMT_ENTER("cudaMallocFromPoolAsync", cudaErrorMemoryAllocation);
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = seqloss::simt::resolve(s, stream);
  Pool* p = seqloss::simt::pool_of(s, pool);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  if (p == nullptr) return fail(cudaErrorInvalidValue);
  return fail(seqloss::simt::allocate(s, ptr, size, p->device, p));
}

cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t stream) {
  SIMT_ENTER("cudaMallocAsync", cudaErrorMemoryAllocation);
  if (ptr == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = seqloss::simt::resolve(s, stream);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  Device& d = *s.devices[static_cast<size_t>(st->device)];
  return fail(seqloss::simt::allocate(s, ptr, size, st->device, &d.default_pool));
}

cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  SIMT_ENTER("cudaFreeAsync");
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Stream* st = seqloss::simt::resolve(s, stream);
  if (st == nullptr) return fail(cudaErrorInvalidResourceHandle);
  uintptr_t base = 0;
  const seqloss::simt::Alloc* a = seqloss::simt::find_alloc(s, ptr, 1, &base);
  if (a == nullptr || base != reinterpret_cast<uintptr_t>(ptr)) return fail(cudaErrorInvalidValue);
  seqloss::simt::enqueue(
      s, st,
      [base](std::string*) {
        State& s2 = state();
        std::lock_guard<std::mutex> g(s2.mu);
        seqloss::simt::release(s2, base);
        return true;
      },
      true);
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  SIMT_ENTER("cudaDeviceGetDefaultMemPool");
  State& s = state();
  Device* d = seqloss::simt::device_at(s, device);
  if (pool == nullptr) return fail(cudaErrorInvalidValue);
  if (d == nullptr) return fail(cudaErrorInvalidDevice);
  *pool = reinterpret_cast<cudaMemPool_t>(&d->default_pool);
  return cudaSuccess;
}

cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps* props) {
  SIMT_ENTER("cudaMemPoolCreate", cudaErrorMemoryAllocation);
  if (pool == nullptr || props == nullptr || props->allocType != cudaMemAllocationTypePinned ||
      props->location.type != cudaMemLocationTypeDevice) {
    return fail(cudaErrorInvalidValue);
  }
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  if (seqloss::simt::device_at(s, props->location.id) == nullptr) return fail(cudaErrorInvalidDevice);
  auto p = std::make_unique<Pool>();
  p->device = props->location.id;
  Pool* raw = p.get();
  s.pools[raw] = std::move(p);
  *pool = reinterpret_cast<cudaMemPool_t>(raw);
  return cudaSuccess;
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool) {
  SIMT_ENTER("cudaMemPoolDestroy");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Pool* p = reinterpret_cast<Pool*>(pool);
  auto it = s.pools.find(p);
  if (it == s.pools.end()) return fail(cudaErrorInvalidValue);
  if (p->used != 0) return fail(cudaErrorInvalidValue);  // allocations still live in it
  s.pools.erase(it);
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  SIMT_ENTER("cudaMemPoolSetAttribute");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Pool* p = seqloss::simt::pool_of(s, pool);
  if (p == nullptr || value == nullptr) return fail(cudaErrorInvalidValue);
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: p->threshold = *static_cast<uint64_t*>(value); return cudaSuccess;
    case cudaMemPoolReuseFollowEventDependencies:
    case cudaMemPoolReuseAllowOpportunistic:
    case cudaMemPoolReuseAllowInternalDependencies: return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh: p->reserved_high = p->used + p->cached; return cudaSuccess;
    case cudaMemPoolAttrUsedMemHigh: p->used_high = p->used; return cudaSuccess;
    default: return fail(cudaErrorInvalidValue);
  }
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  SIMT_ENTER("cudaMemPoolGetAttribute");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Pool* p = seqloss::simt::pool_of(s, pool);
  if (p == nullptr || value == nullptr) return fail(cudaErrorInvalidValue);
  uint64_t v = 0;
  switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: v = p->threshold; break;
    case cudaMemPoolAttrReservedMemCurrent: v = p->used + p->cached; break;
    case cudaMemPoolAttrReservedMemHigh: v = p->reserved_high; break;
    case cudaMemPoolAttrUsedMemCurrent: v = p->used; break;
    case cudaMemPoolAttrUsedMemHigh: v = p->used_high; break;
    default: *static_cast<int*>(value) = 1; return cudaSuccess;  // the reuse flags
  }
  *static_cast<uint64_t*>(value) = v;
  return cudaSuccess;
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep) {
  SIMT_ENTER("cudaMemPoolTrimTo");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  Pool* p = seqloss::simt::pool_of(s, pool);
  if (p == nullptr) return fail(cudaErrorInvalidValue);
  const uint64_t target = std::max<uint64_t>(keep, p->used);
  if (p->used + p->cached > target) p->cached = target - p->used;
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* a, const void* ptr) {
  SIMT_ENTER("cudaPointerGetAttributes");
  if (a == nullptr) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  const seqloss::simt::Alloc* al = ptr != nullptr ? seqloss::simt::find_alloc(s, ptr, 1) : nullptr;
  bool pinned = false;  // inside a cudaHostAlloc block: the last one starting at or before ptr
  auto pin = s.pinned.upper_bound(reinterpret_cast<uintptr_t>(ptr));
  if (pin != s.pinned.begin()) {
    --pin;
    pinned = reinterpret_cast<uintptr_t>(ptr) - pin->first < pin->second;
  }
  if (al != nullptr) {
    *a = cudaPointerAttributes{cudaMemoryTypeDevice, al->device, const_cast<void*>(ptr), nullptr};
  } else if (pinned) {
    *a = cudaPointerAttributes{cudaMemoryTypeHost, tls_device, const_cast<void*>(ptr), const_cast<void*>(ptr)};
  } else {
    *a = cudaPointerAttributes{cudaMemoryTypeUnregistered, -2, nullptr, const_cast<void*>(ptr)};
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind, cudaStream_t stream) {
  SIMT_ENTER("cudaMemcpyAsync");
  if (count != 0 && (dst == nullptr || src == nullptr)) return fail(cudaErrorInvalidValue);
  return seqloss::simt::copy_or_set(dst, src, 0, count, kind, stream, false, "cudaMemcpyAsync");
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind) {
  SIMT_ENTER("cudaMemcpy");
  if (count != 0 && (dst == nullptr || src == nullptr)) return fail(cudaErrorInvalidValue);
  return seqloss::simt::copy_or_set(dst, src, 0, count, kind, nullptr, true, "cudaMemcpy");
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t count, cudaStream_t stream) {
  SIMT_ENTER("cudaMemsetAsync");
  if (count != 0 && dst == nullptr) return fail(cudaErrorInvalidValue);
  return seqloss::simt::copy_or_set(dst, nullptr, value, count, cudaMemcpyHostToDevice, stream, false,
                                    "cudaMemsetAsync");
}

cudaError_t cudaMemset(void* dst, int value, size_t count) {
  SIMT_ENTER("cudaMemset");
  if (count != 0 && dst == nullptr) return fail(cudaErrorInvalidValue);
  return seqloss::simt::copy_or_set(dst, nullptr, value, count, cudaMemcpyHostToDevice, nullptr, true, "cudaMemset");
}

cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** func, unsigned int version,
                                             unsigned long long flags, cudaDriverEntryPointQueryResult* status) {
  SIMT_ENTER("cudaGetDriverEntryPointByVersion");
  (void)flags;
  if (symbol == nullptr || func == nullptr) return fail(cudaErrorInvalidValue);
  *func = nullptr;
  cudaDriverEntryPointQueryResult r = cudaDriverEntryPointSymbolNotFound;
  if (std::strcmp(symbol, "cuMemGetAddressRange") == 0) {
    if (version >= 3020) {
      *func = reinterpret_cast<void*>(&seqloss::simt::mem_get_address_range);
      r = cudaDriverEntryPointSuccess;
    } else {
      r = cudaDriverEntryPointVersionNotSufficent;
    }
  }
  if (status != nullptr) *status = r;
  return cudaSuccess;
}

// ---- events and page-locked host memory -----------------------------------------------------------------------

using seqloss::simt::Event;

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  SIMT_ENTER("cudaEventCreateWithFlags");
  if (event == nullptr || (flags & ~0x0fu) != 0) return fail(cudaErrorInvalidValue);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  auto e = std::make_unique<Event>();
  e->device = tls_device;
  Event* p = e.get();
  s.events[p] = std::move(e);
  *event = reinterpret_cast<cudaEvent_t>(p);
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  SIMT_ENTER("cudaEventDestroy");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  auto it = s.events.find(reinterpret_cast<Event*>(event));
  if (it == s.events.end()) return fail(cudaErrorInvalidResourceHandle);
  s.events.erase(it);  // its queued no-op does not refer to it
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  SIMT_ENTER("cudaEventRecord");
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  auto it = s.events.find(reinterpret_cast<Event*>(event));
  Stream* st = seqloss::simt::resolve(s, stream);
  if (it == s.events.end() || st == nullptr || st->device != it->second->device) {
    return fail(cudaErrorInvalidResourceHandle);  // as a GPU, an event records only on a stream of its device
  }
  seqloss::simt::enqueue(s, st, [](std::string*) { return true; });
  it->second->stream = st;
  it->second->seq = s.seq;
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  SIMT_ENTER("cudaEventSynchronize");
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  auto it = s.events.find(reinterpret_cast<Event*>(event));
  if (it == s.events.end()) return fail(cudaErrorInvalidResourceHandle);
  Stream* st = it->second->stream;
  const uint64_t seq = it->second->seq;
  if (st == nullptr) return cudaSuccess;  // never recorded: complete
  // A stream destroyed since the record ran its work when it was destroyed: the event is complete.
  bool live = s.streams.count(st) != 0;
  for (const auto& d : s.devices) live = live || st == &d->legacy;
  if (!live) {
    it->second->stream = nullptr;
    return cudaSuccess;
  }
  Device& d = *s.devices[static_cast<size_t>(st->device)];
  seqloss::simt::run_ops(s, lk, d, seqloss::simt::needed(d, {st}, seq));
  // A failed operation before the event is reported here too, and still by the stream's next synchronisation.
  if (st->error != cudaSuccess) {
    tls_detail = st->detail;
    return fail(st->error);
  }
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int flags) {
  SIMT_ENTER("cudaHostAlloc", cudaErrorMemoryAllocation);
  if (ptr == nullptr || flags != cudaHostAllocDefault) return fail(cudaErrorInvalidValue);
  *ptr = nullptr;
  if (size == 0) return cudaSuccess;
  void* p = nullptr;
  if (posix_memalign(&p, 4096, size) != 0 || p == nullptr) return fail(cudaErrorMemoryAllocation);
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  s.pinned[reinterpret_cast<uintptr_t>(p)] = size;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  SIMT_ENTER("cudaFreeHost");
  if (ptr == nullptr) return cudaSuccess;
  State& s = state();
  std::unique_lock<std::mutex> lk(s.mu);
  auto it = s.pinned.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == s.pinned.end()) return fail(cudaErrorInvalidValue);
  // As on a GPU, cudaFreeHost waits for the devices: a copy queued from or to the block runs first.
  for (const auto& d : s.devices) {
    std::vector<uint64_t> all;
    for (const auto& o : d->pending) all.push_back(o->seq);
    seqloss::simt::run_ops(s, lk, *d, all);
  }
  if (s.pinned.erase(reinterpret_cast<uintptr_t>(ptr)) == 0) return fail(cudaErrorInvalidValue);  // freed meanwhile
  std::free(ptr);
  return cudaSuccess;
}
