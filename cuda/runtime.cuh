// runtime.cuh — what every CUDA entry shares: the call context (device, stream, workspace, errors), a workspace
// carver, host-device copies, and the device-side helpers (deterministic block reductions).
//
// Determinism: no floating-point atomics anywhere. A reduction is either sequential in one thread or a fixed tree
// over a block whose size depends only on the problem, so the same call gives bitwise the same results.
#ifndef SEQLOSS_CUDA_RUNTIME_CUH
#define SEQLOSS_CUDA_RUNTIME_CUH

#include "portable.cuh"

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "checks.h"
#include "plan.h"
#include "seqloss.h"
#include "xfloat32.cuh"

namespace seqloss {
namespace cuda {

// ---- device helpers -------------------------------------------------------------------------------------------

__host__ __device__ inline double neg_inf() { return -HUGE_VAL; }

// Sum over the block (blockDim.x a multiple of 32, at most 1024) in a fixed tree: lanes by shuffles, then the
// warps' partial sums by warp 0. Every thread gets the result. `sh` holds at least 33 doubles of shared memory.
__device__ inline double block_sum(double v, Smem<double> sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  if (wid == 0) {
    double w = lane < nw ? sh[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) w += __shfl_down_sync(0xffffffffu, w, o);
    if (lane == 0) sh[32] = w;
  }
  __syncthreads();
  const double r = sh[32];
  __syncthreads();
  return r;
}

// The float-float sum over the block, in block_sum's fixed tree; every thread gets it. `sh` holds at least 66
// floats.
__device__ inline void block_sum_ff(float* hi, float* lo, Smem<float> sh) {
  float h = *hi, l = *lo;
  for (int o = 16; o > 0; o >>= 1) {
    const float oh = __shfl_down_sync(0xffffffffu, h, o), ol = __shfl_down_sync(0xffffffffu, l, o);
    ff_add(h, l, oh, ol, &h, &l);
  }
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) {
    sh[wid] = h;
    sh[33 + wid] = l;
  }
  __syncthreads();
  if (wid == 0) {
    h = lane < nw ? sh[lane] : 0.0f;
    l = lane < nw ? sh[33 + lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
      const float oh = __shfl_down_sync(0xffffffffu, h, o), ol = __shfl_down_sync(0xffffffffu, l, o);
      ff_add(h, l, oh, ol, &h, &l);
    }
    if (lane == 0) {
      sh[32] = h;
      sh[65] = l;
    }
  }
  __syncthreads();
  *hi = sh[32];
  *lo = sh[65];
  __syncthreads();
}

// Two float-float sums over the block at once (a = ah + al, b = bh + bl), in block_sum's fixed tree; every
// thread gets both. `sh` holds at least 132 floats.
__device__ inline void block_sum_ff2(float* ah, float* al, float* bh, float* bl, Smem<float> sh) {
  float v[4] = {*ah, *al, *bh, *bl};
  for (int o = 16; o > 0; o >>= 1) {
    float w[4];
    for (int i = 0; i < 4; ++i) w[i] = __shfl_down_sync(0xffffffffu, v[i], o);
    ff_add(v[0], v[1], w[0], w[1], &v[0], &v[1]);
    ff_add(v[2], v[3], w[2], w[3], &v[2], &v[3]);
  }
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) {
    for (int i = 0; i < 4; ++i) sh[33 * i + wid] = v[i];
  }
  __syncthreads();
  if (wid == 0) {
    for (int i = 0; i < 4; ++i) v[i] = lane < nw ? sh[33 * i + lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) {
      float w[4];
      for (int i = 0; i < 4; ++i) w[i] = __shfl_down_sync(0xffffffffu, v[i], o);
      ff_add(v[0], v[1], w[0], w[1], &v[0], &v[1]);
      ff_add(v[2], v[3], w[2], w[3], &v[2], &v[3]);
    }
    if (lane == 0) {
      for (int i = 0; i < 4; ++i) sh[33 * i + 32] = v[i];
    }
  }
  __syncthreads();
  *ah = sh[32];
  *al = sh[65];
  *bh = sh[98];
  *bl = sh[131];
  __syncthreads();
}

// The largest value over the block (NaN loses), broadcast; same tree as block_sum.
__device__ inline float block_max(float v, Smem<float> sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  if (wid == 0) {
    float w = lane < nw ? sh[lane] : -HUGE_VALF;
    for (int o = 16; o > 0; o >>= 1) w = fmaxf(w, __shfl_down_sync(0xffffffffu, w, o));
    if (lane == 0) sh[32] = w;
  }
  __syncthreads();
  const float r = sh[32];
  __syncthreads();
  return r;
}

// The sequence of valid row r, rows numbered over the sequences' valid frames (roff: N + 1 prefix sums of T_n):
// the last n with roff[n] <= r, which skips sequences without frames.
__device__ inline int32_t seq_of_row(const int64_t* roff, int32_t N, int64_t r) {
  int32_t lo = 0, hi = N;
  while (hi - lo > 1) {
    const int32_t mid = (lo + hi) / 2;
    if (roff[mid] <= r) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The shape every kernel reads: N, T, C, layout, input kind, blank, and the count of valid rows (sum of T_n).
struct Shape {
  int32_t N, T, C, layout, input, blank;
  int64_t rows;
};

inline Shape shape_of(const seqloss_problem& p, int64_t rows) {
  return Shape{p.batch, p.time, p.classes, p.layout, p.input, p.blank, rows};
}

// Bytes of an N x T x C float array (the checks made sure the product fits).
inline size_t dense_bytes(const seqloss_problem& p) {
  return sizeof(float) * static_cast<size_t>(p.batch) * static_cast<size_t>(p.time) * static_cast<size_t>(p.classes);
}

// Row t of sequence n of an N x T x C array in `layout`.
__host__ __device__ inline int64_t row_offset(int32_t layout, int64_t n, int64_t t, int64_t N, int64_t T, int64_t C) {
  return layout == SEQLOSS_LAYOUT_TNC ? (t * N + n) * C : (n * T + t) * C;
}

// ---- the call context -----------------------------------------------------------------------------------------

// A host-array call's row statistics run in waves while its input is uploaded (NTC layout, where the valid rows
// whose logits have arrived are a prefix of them): after each staged chunk, the rows wholly on the device are
// launched once at least 1/kStatsWaves of all the rows are waiting, the rest when the upload ends, each wave with
// the plan's step configuration over its own rows. The kernels after it see every row, as with one launch. The
// waves are queued on the call's stream between the chunk copies, so they overlap the host's memcpy of the next
// chunks into the staging buffers, not the DMA (a second stream would be needed for that).
constexpr int kStatsWaves = 16;

struct StatsWaves {
  const int64_t* roff;  // N + 1 prefix sums of T_n
  const int32_t* Tn;
  int32_t N, T;
  int64_t C;
  int64_t done = 0;  // the rows launched so far

  // The valid rows, ordered by sequence then frame, whose C values lie wholly in the first `bytes` of the array.
  int64_t ready(size_t bytes) const {
    const int64_t P = static_cast<int64_t>(bytes / (sizeof(float) * static_cast<size_t>(C)));  // physical rows
    const int64_t n = P / T, t = P - n * T;
    if (n >= N) return roff[N];
    return roff[n] + (t < Tn[n] ? t : Tn[n]);
  }
  // Launches (launch(r0, r1)) the rows that became ready, if enough of them are waiting or the upload is complete.
  template <class Launch>
  bool advance(size_t bytes, bool last, Launch launch) {
    const int64_t rows = roff[N], r = ready(bytes);
    const int64_t every = (rows + kStatsWaves - 1) / kStatsWaves;
    if (r <= done || (!last && r - done < every)) return true;
    const bool ok = launch(done, r);
    done = r;
    return ok;
  }
};

// ---- the devices (device.cu) ----------------------------------------------------------------------------------

// Whether `device` (an index already known to be in range) can run this build's kernels: its compute capability
// has SASS in the build (same major, minor at least the SASS's) or PTX it can compile (a version at most its own).
// Decided from two attributes alone, without creating a context. UNSUPPORTED with the reason otherwise.
seqloss_status check_usable(int32_t device, Message msg);

// seqloss's stream-ordered memory pool on `device`, created on first use (and kept for the process) with a
// release threshold of kPoolKeepBytes: at most that much freed memory stays cached between calls. The device's
// default pool is never changed, so other code in the process (PyTorch, the caller's) keeps its own settings.
constexpr uint64_t kPoolKeepBytes = 256ull << 20;
cudaError_t device_pool(int32_t device, cudaMemPool_t* pool);

// Pinned staging for host-memory callers: two page-locked buffers of `chunk` bytes and an event each, so that the
// host's copy of one chunk into (out of) one buffer overlaps the DMA of the other (Call::upload, Call::download).
// A call holds one pair from take_staging to the end of its Call; the pairs no call holds are cached per device,
// kStageKeep at most (more concurrent calls make and free their own), and kept for the process, as the pool is.
constexpr size_t kStageChunk = 4u << 20;  // bytes per buffer: large enough for the link's full rate
constexpr size_t kStageMin = 1u << 20;    // smaller copies go straight from the caller's (pageable) memory
constexpr int kStageKeep = 4;
struct Staging {
  int32_t device = -1;
  size_t chunk = 0;
  unsigned char* base = nullptr;
  unsigned char* buf[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
};
// A pair for `device` (current on the calling thread): a cached one or a new one.
cudaError_t take_staging(int32_t device, Staging** out);
// The smallest copy that is staged: kStageMin, or the buffers' size when SEQLOSS_CUDA_STAGE_BYTES makes them smaller
// (read once per process).
size_t stage_threshold();
// Back to the device's cache (the stream that used it has been synchronised).
void give_staging(Staging* s);
// Freed, not cached: after a failed synchronisation (cudaFreeHost waits for the device itself, so no copy of the
// pair can still be running when it returns).
void drop_staging(Staging* s);

// exec.device is a device this build can run on (the *_workspace_size entries check this much, as the calls do).
inline seqloss_status check_device(const seqloss_exec& e, Message msg) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return fail(msg, SEQLOSS_ERROR_DEVICE, "no usable CUDA device (cudaGetDeviceCount: %s)", cudaGetErrorString(err));
  }
  if (e.device >= count) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "device must be a CUDA device index in [0, %d), got %d", count, e.device);
  }
  return check_usable(e.device, msg);
}

// cuMemGetAddressRange from the driver (through the runtime's entry-point query, so libcuda is still not linked):
// the allocation that holds a device pointer. Null where the driver does not offer it; looked up once.
using AddressRangeFn = int (*)(unsigned long long* base, size_t* size, unsigned long long ptr);
inline AddressRangeFn address_range_fn() {
  static const AddressRangeFn fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuMemGetAddressRange", &f, 3020, cudaEnableDefault, &q);
#elif CUDART_VERSION >= 12000
    const cudaError_t e = cudaGetDriverEntryPoint("cuMemGetAddressRange", &f, cudaEnableDefault, &q);
#else
    const cudaError_t e = cudaGetDriverEntryPoint("cuMemGetAddressRange", &f, cudaEnableDefault);
    q = cudaDriverEntryPointSuccess;
#endif
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      f = nullptr;
    }
    return reinterpret_cast<AddressRangeFn>(f);
  }();
  return fn;
}

// One entry's use of the runtime: selects exec.device (restoring the caller's device afterwards), runs on
// exec.stream (NULL: the legacy default stream, so that the call is ordered after the caller's work there), holds
// the workspace, and records the first error as a status with a message naming the runtime call. Every exit
// synchronises the stream (finish() or the destructor): nothing the call queued, such as a copy into a caller's
// buffer or out of a local one, is left to run after it returns.
class Call {
 public:
  Call(const seqloss_exec& e, Message msg) : msg_(msg) {
    cudaGetLastError();  // an error the caller's own code left pending is not this call's
    status_ = check_device(e, msg);
    if (!ok()) return;
    if (!check(cudaGetDevice(&prev_), "cudaGetDevice")) {
      prev_ = -1;
      return;
    }
    if (!check(cudaSetDevice(e.device), "cudaSetDevice")) return;
    device_ = e.device;
    stream_ = static_cast<cudaStream_t>(e.stream);
    started_ = true;
  }

  ~Call() {
    if (!finished_) settle();
    if (prev_ >= 0 && device_ >= 0 && prev_ != device_) cudaSetDevice(prev_);
  }

  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  bool ok() const { return status_ == SEQLOSS_OK; }
  seqloss_status status() const { return status_; }
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }

  // Records a runtime failure of `what` (the first one wins). Returns whether err was cudaSuccess.
  bool check(cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    if (ok()) {
      const seqloss_status st = err == cudaErrorMemoryAllocation ? SEQLOSS_ERROR_ALLOC : SEQLOSS_ERROR_DEVICE;
      fail_with(st, "CUDA %s failed: %s (%s)", what, cudaGetErrorString(err), cudaGetErrorName(err));
    }
    cudaGetLastError();
    return false;
  }

  // After a kernel launch: a launch error (bad configuration) is reported with the kernel's name.
  bool launched(const char* kernel) { return check(cudaGetLastError(), kernel); }

  // The workspace (aligned to kWorkspaceAlign): the caller's, when given, checked to be device memory of this
  // device holding at least `bytes` + kWorkspaceSlack bytes, or one allocation from seqloss's pool on the device
  // (cudaMalloc where the device has no memory pools), released when the call ends.
  unsigned char* workspace(size_t bytes, void* given, size_t given_bytes, const char* size_fn) {
    if (!ok()) return nullptr;
    if (given != nullptr && given_bytes != 0) {
      if (given_bytes < bytes + kWorkspaceSlack) {
        fail_with(SEQLOSS_ERROR_RANGE, "workspace must be at least %zu bytes (%s), got workspace_bytes = %zu",
                  bytes + kWorkspaceSlack, size_fn, given_bytes);
        return nullptr;
      }
      if (!device_array(given, given_bytes, "workspace")) return nullptr;
      const uintptr_t a = reinterpret_cast<uintptr_t>(given);
      return static_cast<unsigned char*>(given) + (kWorkspaceAlign - a % kWorkspaceAlign) % kWorkspaceAlign;
    }
    if (bytes == 0) bytes = kWorkspaceAlign;
    int pools = 0;
    if (!check(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device_),
               "cudaDeviceGetAttribute (memory pools)")) {
      return nullptr;
    }
    if (pools != 0) {
      cudaMemPool_t pool = nullptr;
      if (!check(device_pool(device_, &pool), "cudaMemPoolCreate (seqloss's pool)")) return nullptr;
      if (!check(cudaMallocFromPoolAsync(&own_, bytes, pool, stream_), "cudaMallocFromPoolAsync (workspace)")) {
        return nullptr;
      }
      pooled_ = true;
    } else if (!check(cudaMalloc(&own_, bytes), "cudaMalloc (workspace)")) {
      return nullptr;
    }
    return static_cast<unsigned char*>(own_);
  }

  // With memory = device (and for a caller's workspace): `ptr` (when not NULL) must be device (or managed) memory
  // of this call's device whose allocation holds `bytes` bytes from ptr on, else a RANGE error naming `what`, so
  // that a host pointer or a short buffer fails cleanly instead of faulting (an illegal address would end the
  // process's CUDA context, the caller's included).
  bool device_array(const void* ptr, size_t bytes, const char* what) {
    if (!ok() || ptr == nullptr) return ok();
    cudaPointerAttributes a;
    std::memset(&a, 0, sizeof a);
    const cudaError_t err = cudaPointerGetAttributes(&a, ptr);
    if (err == cudaErrorInvalidValue) {
      cudaGetLastError();  // older runtimes: an unregistered host pointer
      a.type = cudaMemoryTypeUnregistered;
    } else if (!check(err, "cudaPointerGetAttributes")) {
      return false;
    }
    const bool managed = a.type == cudaMemoryTypeManaged;
    if (!(managed || (a.type == cudaMemoryTypeDevice && a.device == device_))) {
      fail_with(SEQLOSS_ERROR_RANGE, "%s must be device memory on CUDA device %d (memory 1 = device), got %s", what,
                device_, a.type == cudaMemoryTypeDevice ? "memory of another device" : "a host pointer");
      return false;
    }
    if (AddressRangeFn range = address_range_fn()) {
      unsigned long long base = 0;
      size_t size = 0;
      const unsigned long long p = static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(ptr));
      if (range(&base, &size, p) == 0 && p >= base) {
        const size_t avail = static_cast<size_t>(base + size - p);
        if (avail < bytes) {
          fail_with(SEQLOSS_ERROR_RANGE,
                    "%s must hold %zu bytes of device memory from its address, but its allocation "
                    "ends %zu bytes after it",
                    what, bytes, avail);
          return false;
        }
      }
    }
    return true;
  }

  bool to_device(void* dst, const void* src, size_t bytes, const char* what) {
    if (!ok() || bytes == 0) return ok();
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), what);
  }

  // A dense array from the caller's host memory to the device: through the pinned staging pair in chunks, the
  // host copying chunk i + 1 into one buffer while the DMA of chunk i from the other runs (each buffer reused once
  // its event says its copy has run); a plain copy below stage_threshold(), from memory that is page-locked
  // already (a C caller's cudaHostAlloc), or where no pinned memory can be had.
  // `queued(n)`, when given, is called each time the copies of the first n bytes have been queued (so that work on
  // them can be queued behind them while the rest is copied: StatsWaves); false stops the upload.
  bool upload(void* dst, const void* src, size_t bytes, const char* what,
              const std::function<bool(size_t)>& queued = nullptr) {
    if (!ok() || bytes == 0) return ok();
    Staging* s = bytes >= stage_threshold() && !pinned(src) ? staging() : nullptr;
    if (s == nullptr) return ok() && to_device(dst, src, bytes, what) && (!queued || queued(bytes));
    for (size_t off = 0, i = 0; off < bytes; ++i) {
      const size_t n = bytes - off < s->chunk ? bytes - off : s->chunk;
      const int slot = static_cast<int>(i & 1);
      if (!free_slot(slot)) return false;
      std::memcpy(s->buf[slot], static_cast<const unsigned char*>(src) + off, n);
      if (!check(
              cudaMemcpyAsync(static_cast<unsigned char*>(dst) + off, s->buf[slot], n, cudaMemcpyHostToDevice, stream_),
              what) ||
          !mark_slot(slot)) {
        return false;
      }
      off += n;
      if (queued && !queued(off)) return false;
    }
    return true;
  }

  // A dense array from the device to the caller's host memory, after the work queued so far: chunks into the two
  // buffers, the host copying chunk i out of one while the DMA of chunk i + 1 into the other runs.
  bool download(void* dst, const void* src, size_t bytes, const char* what) {
    if (!ok() || bytes == 0) return ok();
    Staging* s = bytes >= stage_threshold() && !pinned(dst) ? staging() : nullptr;
    if (s == nullptr) return ok() && to_host(dst, src, bytes, what);
    const size_t chunks = (bytes + s->chunk - 1) / s->chunk;
    auto queue = [&](size_t i) {
      const int slot = static_cast<int>(i & 1);
      const size_t off = i * s->chunk, n = bytes - off < s->chunk ? bytes - off : s->chunk;
      return free_slot(slot) &&
             check(cudaMemcpyAsync(s->buf[slot], static_cast<const unsigned char*>(src) + off, n,
                                   cudaMemcpyDeviceToHost, stream_),
                   what) &&
             mark_slot(slot);
    };
    if (!queue(0) || (chunks > 1 && !queue(1))) return false;
    for (size_t i = 0; i < chunks; ++i) {
      const int slot = static_cast<int>(i & 1);
      const size_t off = i * s->chunk, n = bytes - off < s->chunk ? bytes - off : s->chunk;
      if (!free_slot(slot)) return false;
      std::memcpy(static_cast<unsigned char*>(dst) + off, s->buf[slot], n);
      if (i + 2 < chunks && !queue(i + 2)) return false;
    }
    return true;
  }
  bool to_host(void* dst, const void* src, size_t bytes, const char* what) {
    if (!ok() || bytes == 0) return ok();
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), what);
  }
  bool zero(void* dst, size_t bytes, const char* what) {
    if (!ok() || bytes == 0) return ok();
    return check(cudaMemsetAsync(dst, 0, bytes, stream_), what);
  }

  // Releases the workspace and waits for the stream, on success and on failure alike (the host outputs are then
  // complete, and no copy queued by the call is still pending); returns the status.
  seqloss_status finish() {
    settle();
    if (ok()) clear(msg_);
    return status_;
  }

  seqloss_status fail_with(seqloss_status st, const char* fmt, ...)
#if defined(__GNUC__)
      __attribute__((format(printf, 3, 4)))
#endif
  {
    if (ok()) {
      status_ = st;
      if (msg_.buf != nullptr && msg_.size > 0) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(msg_.buf, msg_.size, fmt, ap);
        va_end(ap);
      }
    }
    return status_;
  }

 private:
  // Whether host memory p is page-locked (registered with CUDA): copies from or to it need no staging.
  static bool pinned(const void* p) {
    cudaPointerAttributes a;
    std::memset(&a, 0, sizeof a);
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return a.type == cudaMemoryTypeHost;
  }

  // The call's staging pair, taken on first use; null (plain copies) where none can be made.
  Staging* staging() {
    if (stage_ == nullptr && !stage_failed_) {
      if (take_staging(device_, &stage_) != cudaSuccess) {
        cudaGetLastError();  // no pinned memory: not the call's failure, its copies go unstaged
        stage_ = nullptr;
        stage_failed_ = true;
      }
    }
    return stage_;
  }
  // Waits until buffer `slot`'s last queued copy has run (the host may then rewrite or read it).
  bool free_slot(int slot) {
    if (!busy_[slot]) return true;
    busy_[slot] = false;
    return check(cudaEventSynchronize(stage_->done[slot]), "cudaEventSynchronize (staging)");
  }
  bool mark_slot(int slot) {
    busy_[slot] = true;
    return check(cudaEventRecord(stage_->done[slot], stream_), "cudaEventRecord (staging)");
  }

  // The stream-ordered free is queued before the synchronisation, so that it too has run when the call returns.
  // The staging pair goes back to its cache only then, when no copy of it is pending.
  void settle() {
    finished_ = true;
    if (!started_) return;
    // A stream-ordered free that cannot be queued falls back to a plain free after the synchronisation.
    if (own_ != nullptr && pooled_ && check(cudaFreeAsync(own_, stream_), "cudaFreeAsync (workspace)")) own_ = nullptr;
    const bool synced = check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    if (own_ != nullptr) check(cudaFree(own_), "cudaFree (workspace)");
    own_ = nullptr;
    if (stage_ != nullptr) {
      // A stream whose synchronisation failed may still hold copies of the pair: it is freed then, never handed to a
      // later call.
      if (synced) {
        give_staging(stage_);
      } else {
        drop_staging(stage_);
      }
      stage_ = nullptr;
    }
  }

  Message msg_;
  seqloss_status status_ = SEQLOSS_OK;
  int prev_ = -1;
  int device_ = -1;
  cudaStream_t stream_ = nullptr;
  bool started_ = false, finished_ = false;
  void* own_ = nullptr;
  bool pooled_ = false;
  Staging* stage_ = nullptr;
  bool stage_failed_ = false;
  bool busy_[2] = {false, false};
};

// The step that runs in waves behind a host-array call's upload (StatsWaves): the plan's first step when it is `k`
// (the row statistics) and the layout is NTC; null otherwise.
inline const Step* wave_step(const seqloss_problem& p, const LaunchPlan& plan, Kernel k) {
  return p.layout == SEQLOSS_LAYOUT_NTC && plan.count > 0 && plan.steps[0].kernel == k ? &plan.steps[0] : nullptr;
}

// A host-array call's dense input uploaded to dst; with `step` (wave_step), launch(r0, r1) runs that step over each
// wave of valid rows (roff, Tn: the plan's N + 1 row offsets and N frame counts) as the upload completes them.
template <class Launch>
inline bool upload_dense(Call& call, const seqloss_problem& p, float* dst, const int64_t* roff, const int32_t* Tn,
                         const Step* step, const char* what, Launch launch) {
  const size_t total = dense_bytes(p);
  if (step == nullptr) return call.upload(dst, p.data, total, what);
  StatsWaves sw{roff, Tn, p.batch, p.time, p.classes};
  return call.upload(dst, p.data, total, what, [&](size_t done) { return sw.advance(done, done == total, launch); });
}

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_RUNTIME_CUH
