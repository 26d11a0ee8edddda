// kernel.h (SIMT host) — what device code sees: threadIdx, blockIdx, blockDim, gridDim, __syncthreads, the warp
// shuffles, per-block __shared__ arrays (declared with SEQLOSS_SHARED, see cuda/portable.cuh) with race and bounds
// checks, the device math functions CUDA adds to C's, and the launch of a kernel onto a stream.
// Included by the SIMT cuda_runtime.h; never included under nvcc.
//
// Every thread of a block runs as a fiber (fiber.h) on one OS thread, until it waits at __syncthreads() or at a
// shuffle, or returns; a barrier releases when every thread of the block has reached it, a shuffle when every lane
// its mask names has reached it. Hazards a GPU would not report stop the launch with a message naming the kernel,
// the block and the thread (kernel.cc): a barrier some thread never reaches (it returned, or it waits at another
// __syncthreads), a shuffle whose mask names an absent lane or one waiting elsewhere, two threads touching one
// shared-memory word between two barriers with at least one writing, and a shared array indexed out of bounds.
#ifndef SEQLOSS_SIMT_KERNEL_H
#define SEQLOSS_SIMT_KERNEL_H

#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace seqloss {
namespace simt {

// One emulated GPU thread, as device code reads it.
struct ThreadView {
  uint3 thread_idx;
  uint3 block_idx;
  dim3 block_dim;
  dim3 grid_dim;
};

// The running thread of this OS thread (set by the scheduler before every switch into a fiber). A function, not
// an inline read of a thread_local: GCC 12 miscompiles UBSan's null check of an extern thread_local's address
// (it tests stale flags), and a call costs about a nanosecond.
ThreadView& self();

// Stops the launch: the message names the kernel, block and thread. Never returns to the caller.
[[noreturn]] void hazard(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

void syncthreads(const char* file, int line);
// mode: 0 = idx (__shfl_sync), 1 = up, 2 = down, 3 = xor. Exchanges `bytes` (<= 8) of `value` in place.
void shuffle(int mode, unsigned mask, void* value, int bytes, int arg, int width, const char* file, int line);

// ---- shared memory --------------------------------------------------------------------------------------------

// Where a shared array is declared (one per SEQLOSS_SHARED).
struct SharedSite {
  const char* name;
  const char* file;
  int line;
};

// Race bookkeeping of one access to `words` 4-byte words from word `word` of the block's shared memory.
void shared_read(const SharedSite* site, int64_t index, int64_t word, int words);
void shared_write(const SharedSite* site, int64_t index, int64_t word, int words);
// The block's instance of the array declared at `site` (allocated and filled with 0xFF by its first thread).
void* shared_alloc(const SharedSite* site, size_t bytes, size_t align, int64_t* first_word);

template <class T>
class Shared {
  static_assert(sizeof(T) % 4 == 0 && std::is_trivially_copyable<T>::value,
                "shared arrays hold 4- or 8-byte trivially copyable values");

 public:
  // An element: reads and writes through it are recorded (race check) before they touch memory.
  class Ref {
   public:
    Ref(const Shared* a, int64_t i) : a_(a), i_(i) {}
    operator T() const {
      shared_read(a_->site_, i_, a_->word_ + i_ * kWords, kWords);
      T v;
      std::memcpy(&v, a_->base_ + i_, sizeof(T));
      return v;
    }
    Ref& operator=(const T& v) {
      shared_write(a_->site_, i_, a_->word_ + i_ * kWords, kWords);
      std::memcpy(a_->base_ + i_, &v, sizeof(T));
      return *this;
    }
    Ref& operator=(const Ref& o) { return *this = static_cast<T>(o); }
    Ref& operator+=(const T& v) { return *this = static_cast<T>(*this) + v; }
    Ref& operator-=(const T& v) { return *this = static_cast<T>(*this) - v; }
    Ref& operator*=(const T& v) { return *this = static_cast<T>(*this) * v; }

   private:
    const Shared* a_;
    int64_t i_;
  };

  Shared(const SharedSite* site, int64_t count) : site_(site), count_(count) {
    base_ = static_cast<T*>(shared_alloc(site, sizeof(T) * static_cast<size_t>(count), alignof(T), &word_));
  }
  Ref operator[](int64_t i) const {
    if (i < 0 || i >= count_) {
      hazard("shared array '%s' (%s:%d) indexed at %lld, outside [0, %lld)", site_->name, site_->file, site_->line,
             static_cast<long long>(i), static_cast<long long>(count_));
    }
    return Ref(this, i);
  }

 private:
  static constexpr int kWords = static_cast<int>(sizeof(T) / 4);
  const SharedSite* site_;
  int64_t count_;
  T* base_ = nullptr;
  int64_t word_ = 0;
};

// ---- launch ---------------------------------------------------------------------------------------------------

// Queues `body` (run by every thread of every block) on `stream`; configuration errors become the host thread's
// last error, as a launch's do.
void enqueue_kernel(const char* name, dim3 grid, dim3 block, cudaStream_t stream, std::function<void()> body);

// kernel<<<grid, block, 0, stream>>>(args...): the arguments are converted to the kernel's parameter types and
// copied now, as a real launch does; each thread calls the kernel with its own copy.
template <class... P, class... A>
void launch(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A), "a kernel launch needs one argument per parameter");
  std::tuple<std::decay_t<P>...> params(static_cast<std::decay_t<P>>(std::forward<A>(args))...);
  enqueue_kernel(name, grid, block, stream, [kernel, params]() { std::apply(kernel, params); });
}

}  // namespace simt
}  // namespace seqloss

// ---- the device built-ins -------------------------------------------------------------------------------------

#define threadIdx (::seqloss::simt::self().thread_idx)
#define blockIdx (::seqloss::simt::self().block_idx)
#define blockDim (::seqloss::simt::self().block_dim)
#define gridDim (::seqloss::simt::self().grid_dim)
constexpr int warpSize = 32;

inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::seqloss::simt::syncthreads(file, line);
}

template <class T>
inline T seqloss_simt_shuffle(int mode, unsigned mask, T v, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffles move values of up to 8 bytes");
  ::seqloss::simt::shuffle(mode, mask, &v, static_cast<int>(sizeof(T)), arg, width, file, line);
  return v;
}
template <class T>
inline T __shfl_sync(unsigned mask, T v, int src, int width = warpSize, const char* file = __builtin_FILE(),
                     int line = __builtin_LINE()) {
  return seqloss_simt_shuffle(0, mask, v, src, width, file, line);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                        int line = __builtin_LINE()) {
  return seqloss_simt_shuffle(1, mask, v, static_cast<int>(delta), width, file, line);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                          int line = __builtin_LINE()) {
  return seqloss_simt_shuffle(2, mask, v, static_cast<int>(delta), width, file, line);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize, const char* file = __builtin_FILE(),
                         int line = __builtin_LINE()) {
  return seqloss_simt_shuffle(3, mask, v, lane_mask, width, file, line);
}

// CUDA's integer and floating min/max overloads (C has fmin/fmax only).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }

#endif  // SEQLOSS_SIMT_KERNEL_H
