// simt_test.cc — self-tests of the SIMT host (cuda/simt): correct kernels give the values a GPU gives (indices of
// 3D grids and blocks, barriers in loops, per-block shared memory, every shuffle and width), and each deliberately
// wrong kernel is reported with a message naming the kernel, the block and the thread: a race for want of a
// barrier (read-write and write-write), a divergent barrier, a thread that returns before a barrier, shuffles over
// absent lanes, over a lane at another call and with a mask that leaves out the caller, a shared array indexed out
// of bounds, an out-of-bounds write to device memory (AddressSanitizer builds; in a child process), and an
// uninitialised read (it reads the NaN fill). Also the runtime: stream ordering (legacy, blocking, non-blocking),
// work deferred to the synchronisation, stream-ordered frees, pointer attributes, the memory limit, failure
// injection, several devices, and the cost of a fiber switch.
// Only meaningful in a build with SEQLOSS_CUDA_EMULATE; elsewhere it says so and exits 0.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"

#if defined(SEQLOSS_CUDA_EMULATE)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "../../cuda/portable.cuh"
#include "../../cuda/simt/control.h"
#include "../../cuda/simt/sanitizer.h"

using seqloss::cuda::Smem;

namespace {

// ---- correct kernels ------------------------------------------------------------------------------------------

// Every thread writes its coordinates: out[((block linear) * threads + thread linear) * 6 + i].
__global__ void index_kernel(int32_t* out) {
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  int32_t* o = out + (static_cast<int64_t>(b) * blockDim.x * blockDim.y * blockDim.z + t) * 6;
  o[0] = static_cast<int32_t>(threadIdx.x);
  o[1] = static_cast<int32_t>(threadIdx.y);
  o[2] = static_cast<int32_t>(threadIdx.z);
  o[3] = static_cast<int32_t>(blockIdx.x);
  o[4] = static_cast<int32_t>(blockIdx.y);
  o[5] = static_cast<int32_t>(blockIdx.z);
}

// A block-wide tree sum with barriers in a loop; out[block] = sum of (block * 1000 + thread) over its threads.
__global__ void tree_sum_kernel(double* out) {
  SEQLOSS_SHARED(double, sh, 256);
  const int t = static_cast<int>(threadIdx.x);
  sh[t] = blockIdx.x * 1000.0 + t;
  __syncthreads();
  for (int half = static_cast<int>(blockDim.x) / 2; half > 0; half /= 2) {
    if (t < half) sh[t] = sh[t] + sh[t + half];
    __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = sh[0];
}

// Shared memory is per block: each block fills it with its own index and reads it back after a barrier.
__global__ void shared_per_block_kernel(int32_t* bad) {
  SEQLOSS_SHARED(int32_t, mine, 64);
  mine[threadIdx.x] = static_cast<int32_t>(blockIdx.x);
  __syncthreads();
  const int32_t seen = mine[(threadIdx.x + 1) % blockDim.x];
  if (seen != static_cast<int32_t>(blockIdx.x)) bad[0] = 1;
}

// Each shuffle in each width: out[(mode * 6 + w) * 32 + lane].
__global__ void shuffle_kernel(int32_t* out) {
  const int lane = static_cast<int>(threadIdx.x);
  const int widths[] = {1, 2, 4, 8, 16, 32};
  for (int w = 0; w < 6; ++w) {
    const int v = 100 + lane;
    out[(0 * 6 + w) * 32 + lane] = __shfl_sync(0xffffffffu, v, 3, widths[w]);
    out[(1 * 6 + w) * 32 + lane] = __shfl_up_sync(0xffffffffu, v, 1, widths[w]);
    out[(2 * 6 + w) * 32 + lane] = __shfl_down_sync(0xffffffffu, v, 2, widths[w]);
    out[(3 * 6 + w) * 32 + lane] = __shfl_xor_sync(0xffffffffu, v, 5, widths[w]);
  }
}

// A partial mask is fine when only its lanes take part: the even lanes exchange among themselves.
__global__ void partial_mask_kernel(double* out) {
  const int lane = static_cast<int>(threadIdx.x);
  if ((lane & 1) == 0) out[lane] = __shfl_xor_sync(0x55555555u, static_cast<double>(lane), 2);
}

// Reads shared and device memory nobody wrote: the NaN fill shows.
__global__ void uninitialised_kernel(const float* fresh, float* out) {
  SEQLOSS_SHARED(float, sh, 32);
  out[threadIdx.x] = fresh[threadIdx.x];
  out[32 + threadIdx.x] = sh[threadIdx.x];
}

// ---- wrong kernels --------------------------------------------------------------------------------------------

__global__ void missing_barrier_kernel(float* out) {
  SEQLOSS_SHARED(float, sh, 64);
  sh[threadIdx.x] = static_cast<float>(threadIdx.x);
  out[threadIdx.x] = sh[(threadIdx.x + 1) % blockDim.x];  // no __syncthreads() between
}

__global__ void write_write_kernel(float* out) {
  SEQLOSS_SHARED(float, total, 1);
  total[0] = static_cast<float>(threadIdx.x);  // every thread writes the same word
  __syncthreads();
  out[threadIdx.x] = total[0];
}

__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.0f;
}

__global__ void early_return_kernel(float* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1.0f;
}

__global__ void partial_warp_shuffle_kernel(float* out) {
  float v = static_cast<float>(threadIdx.x);
  v += __shfl_down_sync(0xffffffffu, v, 1);  // the block has 48 threads: lanes 16-31 of warp 1 do not exist
  out[threadIdx.x] = v;
}

__global__ void split_shuffle_kernel(float* out) {
  float v = static_cast<float>(threadIdx.x);
  if (threadIdx.x < 16) {
    v = __shfl_down_sync(0xffffffffu, v, 1);
  } else {
    v = __shfl_down_sync(0xffffffffu, v, 1);  // another call: the full mask cannot meet
  }
  out[threadIdx.x] = v;
}

__global__ void shuffle_after_exit_kernel(float* out) {
  if (threadIdx.x == 7) return;
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
}

__global__ void foreign_mask_kernel(float* out) {
  out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 1);  // lanes 16-31 call with a mask without themselves
}

__global__ void shared_bounds_kernel(float* out) {
  SEQLOSS_SHARED(float, sh, 32);
  sh[threadIdx.x] = 1.0f;  // 64 threads, 32 elements
  __syncthreads();
  out[threadIdx.x] = sh[0];
}

__global__ void oob_write_kernel(float* out, int n) {
  if (threadIdx.x == 0 && blockIdx.x == 1) out[n] = 1.0f;  // one past the end
}

// ---- helpers --------------------------------------------------------------------------------------------------

std::string last_error_text() {
  const cudaError_t e = cudaGetLastError();
  return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
}

// Launches a wrong kernel on a fresh stream and checks that its synchronisation fails with a message that names
// the kernel, a block and a thread, and contains `expect`.
template <class Launch>
void expect_hazard(const char* what, const char* kernel, const char* expect, Launch&& launch) {
  cudaGetLastError();  // the previous hazard's synchronisation left its error as the last one
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  const uint64_t before = seqloss::simt::stats().hazards;
  launch(s);
  const cudaError_t launched = cudaGetLastError();
  const cudaError_t e = cudaStreamSynchronize(s);
  const std::string msg = cudaGetErrorString(e);
  cudaStreamDestroy(s);
  const bool ok = launched == cudaSuccess && e == cudaErrorLaunchFailure &&
                  msg.find(std::string("kernel '") + kernel + "'") != std::string::npos &&
                  msg.find("block (") != std::string::npos && msg.find("thread (") != std::string::npos &&
                  msg.find(expect) != std::string::npos && seqloss::simt::stats().hazards == before + 1;
  check(ok, std::string(what) + " is reported: " + msg);
  std::printf("  %-34s %s\n", what, msg.c_str());
}

float* device_floats(size_t n) {
  float* p = nullptr;
  cudaMalloc(&p, n * sizeof(float));
  return p;
}

// ---- the suites -----------------------------------------------------------------------------------------------

void test_correct_kernels() {
  // 3D grid and block.
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const size_t n = 3 * 2 * 2 * 4 * 3 * 2;
  int32_t* d = nullptr;
  cudaMalloc(&d, n * 6 * sizeof(int32_t));
  SEQLOSS_LAUNCH(index_kernel, grid, block, nullptr, d);
  std::vector<int32_t> h(n * 6);
  check(cudaGetLastError() == cudaSuccess, "index_kernel launches");
  check(cudaMemcpy(h.data(), d, h.size() * sizeof(int32_t), cudaMemcpyDeviceToHost) == cudaSuccess, "index copy");
  bool ok = true;
  size_t i = 0;
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 2; ++tz)
          for (unsigned ty = 0; ty < 3; ++ty)
            for (unsigned tx = 0; tx < 4; ++tx, i += 6) {
              const int32_t want[6] = {static_cast<int32_t>(tx), static_cast<int32_t>(ty), static_cast<int32_t>(tz),
                                       static_cast<int32_t>(bx), static_cast<int32_t>(by), static_cast<int32_t>(bz)};
              ok = ok && std::memcmp(want, &h[i], sizeof want) == 0;
            }
  check(ok, "threadIdx, blockIdx, blockDim and gridDim of a 3D launch");
  cudaFree(d);

  // Barriers in a loop.
  double* sums = nullptr;
  cudaMalloc(&sums, 5 * sizeof(double));
  SEQLOSS_LAUNCH(tree_sum_kernel, 5, 256, nullptr, sums);
  double hs[5];
  cudaMemcpy(hs, sums, sizeof hs, cudaMemcpyDeviceToHost);
  ok = true;
  for (int b = 0; b < 5; ++b) ok = ok && hs[b] == 256.0 * b * 1000.0 + 255.0 * 256.0 / 2;
  check(ok, "a tree sum with __syncthreads() in a loop");
  cudaFree(sums);

  // Shared memory per block.
  int32_t* bad = nullptr;
  cudaMalloc(&bad, sizeof(int32_t));
  cudaMemset(bad, 0, sizeof(int32_t));
  SEQLOSS_LAUNCH(shared_per_block_kernel, 7, 64, nullptr, bad);
  int32_t hb = -1;
  cudaMemcpy(&hb, bad, sizeof hb, cudaMemcpyDeviceToHost);
  check(hb == 0, "each block has its own shared memory");
  cudaFree(bad);

  // Shuffles, against the PTX definitions.
  int32_t* sd = nullptr;
  cudaMalloc(&sd, 4 * 6 * 32 * sizeof(int32_t));
  SEQLOSS_LAUNCH(shuffle_kernel, 1, 32, nullptr, sd);
  std::vector<int32_t> sh(4 * 6 * 32);
  cudaMemcpy(sh.data(), sd, sh.size() * sizeof(int32_t), cudaMemcpyDeviceToHost);
  ok = true;
  const int widths[] = {1, 2, 4, 8, 16, 32};
  for (int w = 0; w < 6; ++w) {
    const int W = widths[w];
    for (int l = 0; l < 32; ++l) {
      const int seg = l / W * W;
      const int idx = seg + 3 % W;
      const int up = l - 1 >= seg ? l - 1 : l;
      const int down = l + 2 < seg + W ? l + 2 : l;
      const int x = (l ^ 5) / W * W == seg ? (l ^ 5) : l;
      ok = ok && sh[(0 * 6 + w) * 32 + l] == 100 + idx && sh[(1 * 6 + w) * 32 + l] == 100 + up &&
           sh[(2 * 6 + w) * 32 + l] == 100 + down && sh[(3 * 6 + w) * 32 + l] == 100 + x;
    }
  }
  check(ok, "__shfl_sync, __shfl_up_sync, __shfl_down_sync, __shfl_xor_sync in every width");
  cudaFree(sd);

  double* pm = nullptr;
  cudaMalloc(&pm, 32 * sizeof(double));
  SEQLOSS_LAUNCH(partial_mask_kernel, 1, 32, nullptr, pm);
  double hp[32];
  cudaMemcpy(hp, pm, sizeof hp, cudaMemcpyDeviceToHost);
  ok = true;
  for (int l = 0; l < 32; l += 2) ok = ok && hp[l] == static_cast<double>(l ^ 2);
  check(ok && cudaGetLastError() == cudaSuccess, "a shuffle over a partial mask of the lanes that take part");
  cudaFree(pm);

  // Uninitialised memory reads as the NaN fill.
  float* fresh = device_floats(32);
  float* out = device_floats(64);
  SEQLOSS_LAUNCH(uninitialised_kernel, 1, 32, nullptr, fresh, out);
  float ho[64];
  check(cudaMemcpy(ho, out, sizeof ho, cudaMemcpyDeviceToHost) == cudaSuccess, "uninitialised kernel runs");
  ok = true;
  for (float v : ho) ok = ok && std::isnan(v);
  check(ok, "a read of uninitialised device and shared memory gives NaN (the fill is visible in the results)");
  std::printf("  %-34s device and shared memory read as NaN\n", "uninitialised read");
  cudaFree(fresh);
  cudaFree(out);
}

void test_hazards() {
  float* out = device_floats(2048);
  expect_hazard("missing barrier (read after write)", "missing_barrier_kernel", "written by thread",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(missing_barrier_kernel, 2, 64, s, out); });
  expect_hazard("write-write race", "write_write_kernel", "written by thread (0,0,0) and written by thread (1,0,0)",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(write_write_kernel, 1, 32, s, out); });
  expect_hazard("divergent barrier", "divergent_barrier_kernel", "divergent __syncthreads()",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(divergent_barrier_kernel, 1, 32, s, out); });
  expect_hazard("thread returned before a barrier", "early_return_kernel", "has returned without reaching",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(early_return_kernel, 3, 32, s, out); });
  expect_hazard("shuffle over absent lanes", "partial_warp_shuffle_kernel", "does not exist (a block of 48 threads)",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(partial_warp_shuffle_kernel, 1, 48, s, out); });
  expect_hazard("shuffle split over two calls", "split_shuffle_kernel", "waits at __shfl_down_sync",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(split_shuffle_kernel, 1, 32, s, out); });
  expect_hazard("shuffle with a returned lane", "shuffle_after_exit_kernel", "returns while lanes of its warp wait",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(shuffle_after_exit_kernel, 1, 32, s, out); });
  expect_hazard("shuffle mask without the caller", "foreign_mask_kernel", "does not name the calling lane",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(foreign_mask_kernel, 1, 32, s, out); });
  expect_hazard("shared array out of bounds", "shared_bounds_kernel", "indexed at 32, outside [0, 32)",
                [&](cudaStream_t s) { SEQLOSS_LAUNCH(shared_bounds_kernel, 1, 64, s, out); });
  // A failed stream skips its later work until it is synchronised, then works again.
  cudaStream_t s;
  cudaStreamCreate(&s);
  SEQLOSS_LAUNCH(write_write_kernel, 1, 32, s, out);
  float one = 1.0f;
  cudaMemcpyAsync(out, &one, sizeof one, cudaMemcpyHostToDevice, s);
  check(cudaStreamSynchronize(s) == cudaErrorLaunchFailure, "a failed kernel fails its stream's synchronisation");
  check(cudaStreamSynchronize(s) == cudaSuccess, "the error is reported once (the device stays usable)");
  cudaStreamDestroy(s);
  cudaFree(out);
}

// An out-of-bounds write to device memory: AddressSanitizer stops the process with its report, and the SIMT host
// adds the kernel, block and thread. Run in a child process.
void test_out_of_bounds() {
#if defined(SEQLOSS_SIMT_ASAN)
  int fds[2];
  if (pipe(fds) != 0) {
    check(false, "pipe");
    return;
  }
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    float* p = device_floats(100);
    SEQLOSS_LAUNCH(oob_write_kernel, 2, 32, nullptr, p, 100);
    cudaDeviceSynchronize();
    _exit(0);  // not reached when the write is caught
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(r));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool died = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const bool named = err.find("heap-buffer-overflow") != std::string::npos &&
                     err.find("kernel 'oob_write_kernel', block (1,0,0), thread (0,0,0)") != std::string::npos;
  check(died && named,
        "an out-of-bounds device write is reported by AddressSanitizer with the kernel, block and "
        "thread:\n" +
            err.substr(0, 1500));
  std::printf("  %-34s %s\n", "out-of-bounds device write",
              died && named ? "AddressSanitizer: heap-buffer-overflow in kernel 'oob_write_kernel', block (1,0,0), "
                              "thread (0,0,0)"
                            : "NOT reported");
#else
  std::printf("  %-34s not covered in this build (needs AddressSanitizer: the asan build runs it)\n",
              "out-of-bounds device write");
#endif
}

void test_runtime() {
  // Work waits for the synchronisation; the legacy stream is ordered with blocking streams, not non-blocking ones.
  float* d = device_floats(4);
  const float a[4] = {1, 2, 3, 4};
  float back[4] = {0, 0, 0, 0};
  cudaMemcpyAsync(d, a, sizeof a, cudaMemcpyHostToDevice, nullptr);  // legacy stream
  check(seqloss::simt::pending_operations() == 1, "queued work runs only when the host waits for it");
  cudaStream_t nb, bl;
  cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking);
  cudaStreamCreate(&bl);
  cudaMemcpyAsync(back, d, sizeof back, cudaMemcpyDeviceToHost, nb);
  cudaStreamSynchronize(nb);
  check(std::isnan(back[0]), "a non-blocking stream is not ordered after the legacy stream");
  cudaMemcpyAsync(back, d, sizeof back, cudaMemcpyDeviceToHost, bl);
  cudaStreamSynchronize(bl);
  check(back[0] == 1 && back[3] == 4, "a blocking stream is ordered after the legacy stream");
  cudaStreamDestroy(nb);
  cudaStreamDestroy(bl);

  // Stream-ordered free: the memory stays valid for the work queued before it.
  float* q = nullptr;
  cudaMallocAsync(&q, sizeof a, nullptr);
  cudaMemcpyAsync(q, a, sizeof a, cudaMemcpyHostToDevice, nullptr);
  cudaMemcpyAsync(back, q, sizeof back, cudaMemcpyDeviceToHost, nullptr);
  cudaFreeAsync(q, nullptr);
  back[2] = 0;
  check(cudaStreamSynchronize(nullptr) == cudaSuccess && back[2] == 3, "cudaFreeAsync runs after the work before it");
  cudaPointerAttributes at;
  check(cudaPointerGetAttributes(&at, q) == cudaSuccess && at.type == cudaMemoryTypeUnregistered,
        "freed device memory is no longer device memory");
  check(cudaPointerGetAttributes(&at, d + 2) == cudaSuccess && at.type == cudaMemoryTypeDevice && at.device == 0,
        "pointer attributes inside an allocation");
  check(cudaPointerGetAttributes(&at, back) == cudaSuccess && at.type == cudaMemoryTypeUnregistered,
        "a host pointer is not device memory");
  check(cudaMemcpyAsync(back, a, sizeof a, cudaMemcpyHostToDevice, nullptr) == cudaErrorInvalidValue &&
            cudaGetLastError() == cudaErrorInvalidValue,
        "a copy 'to the device' into host memory is refused and becomes the last error");
  check(cudaMemcpyAsync(d, a, 5 * sizeof(float), cudaMemcpyHostToDevice, nullptr) == cudaErrorInvalidValue,
        "a copy past the end of an allocation is refused");
  cudaGetLastError();

  // A copy whose device memory is freed before it runs fails its stream (an illegal address on a GPU).
  float* gone = nullptr;
  cudaMallocAsync(&gone, sizeof a, nullptr);
  cudaStream_t other;
  cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking);
  cudaMemcpyAsync(back, gone, sizeof back, cudaMemcpyDeviceToHost, other);
  cudaFreeAsync(gone, nullptr);
  cudaStreamSynchronize(nullptr);  // the free runs first
  check(cudaStreamSynchronize(other) == cudaErrorIllegalAddress,
        "a copy from freed device memory is an illegal address");
  cudaStreamDestroy(other);

  // Events: a synchronisation runs the work up to the event's record, not the work queued after it; page-locked
  // host memory is host memory to the pointer attributes and to copies.
  {
    float* pin = nullptr;
    check(
        cudaHostAlloc(reinterpret_cast<void**>(&pin), sizeof a, cudaHostAllocDefault) == cudaSuccess && pin != nullptr,
        "cudaHostAlloc gives page-locked host memory");
    check(cudaPointerGetAttributes(&at, pin + 1) == cudaSuccess && at.type == cudaMemoryTypeHost,
          "page-locked memory is cudaMemoryTypeHost");
    cudaEvent_t ev;
    check(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess, "cudaEventCreateWithFlags");
    check(cudaEventSynchronize(ev) == cudaSuccess, "an event never recorded is complete");
    for (int i = 0; i < 4; ++i) pin[i] = 10.0f + i;
    cudaMemcpyAsync(d, pin, sizeof a, cudaMemcpyHostToDevice, nullptr);
    check(cudaEventRecord(ev, nullptr) == cudaSuccess, "cudaEventRecord");
    cudaMemcpyAsync(back, d, sizeof back, cudaMemcpyDeviceToHost, nullptr);
    back[0] = 0;
    check(cudaEventSynchronize(ev) == cudaSuccess && seqloss::simt::pending_operations() == 1 && back[0] == 0,
          "cudaEventSynchronize runs the work up to the record and leaves the later copy queued");
    for (int i = 0; i < 4; ++i) pin[i] = 0.0f;  // the staged copy has read its source: rewriting it is safe
    check(cudaStreamSynchronize(nullptr) == cudaSuccess && back[0] == 10 && back[3] == 13,
          "the copy read the page-locked buffer when it ran, before it was rewritten");
    cudaStream_t other;
    cudaStreamCreate(&other);
    cudaSetDevice(1);
    check(cudaEventRecord(ev, nullptr) == cudaErrorInvalidResourceHandle && cudaGetLastError() != cudaSuccess,
          "an event records only on a stream of its own device");
    cudaSetDevice(0);
    cudaStreamDestroy(other);
    check(cudaEventDestroy(ev) == cudaSuccess && cudaFreeHost(pin) == cudaSuccess, "cudaEventDestroy, cudaFreeHost");
    check(cudaFreeHost(back) == cudaErrorInvalidValue && cudaGetLastError() == cudaErrorInvalidValue,
          "cudaFreeHost of memory it did not give is refused");
  }

  // The memory limit.
  const uint64_t before = seqloss::simt::device_bytes_in_use(0);
  seqloss::simt::set_memory_limit(0, before + (1u << 20));
  void* big = nullptr;
  check(cudaMalloc(&big, 2u << 20) == cudaErrorMemoryAllocation && cudaGetLastError() == cudaErrorMemoryAllocation,
        "an allocation above the device memory fails with cudaErrorMemoryAllocation");
  check(cudaMalloc(&big, 1u << 19) == cudaSuccess, "a smaller one fits");
  cudaFree(big);
  seqloss::simt::set_memory_limit(0, 0);

  // Failure injection.
  seqloss::simt::fail_nth_call(2);
  int count = 0;
  check(cudaGetDeviceCount(&count) == cudaSuccess, "injection: call 1 succeeds");
  check(cudaMalloc(&big, 16) == cudaErrorMemoryAllocation && seqloss::simt::failed_call() == "cudaMalloc",
        "injection: call 2 fails, with the call's name");
  check(cudaMalloc(&big, 16) == cudaSuccess, "injection: later calls succeed");
  cudaFree(big);
  seqloss::simt::fail_nth_call(0);
  cudaGetLastError();

  // Several devices: allocations and streams belong to one; launching into another device's stream fails.
  check(cudaGetDeviceCount(&count) == cudaSuccess && count >= 2, "two emulated devices (SEQLOSS_EMULATE_DEVICES=2)");
  if (count >= 2) {
    cudaSetDevice(1);
    float* d1 = device_floats(4);
    check(cudaPointerGetAttributes(&at, d1) == cudaSuccess && at.device == 1, "memory of device 1");
    cudaStream_t s1;
    cudaStreamCreate(&s1);
    cudaSetDevice(0);
    float* out = device_floats(64);
    SEQLOSS_LAUNCH(tree_sum_kernel, 1, 64, s1, reinterpret_cast<double*>(out));
    check(cudaGetLastError() == cudaErrorInvalidResourceHandle, "a launch into another device's stream is refused");
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 1);
    check(std::strstr(prop.name, "emulator") != nullptr, std::string("the device says what it is: ") + prop.name);
    cudaSetDevice(1);
    cudaStreamDestroy(s1);
    cudaFree(d1);
    cudaSetDevice(0);
    cudaFree(out);
  }
  cudaFree(d);
  check(seqloss::simt::pending_operations() == 0, "nothing left queued");
}

// The cost of a switch: a block of 256 threads crossing 2000 barriers (each a switch out and one back in).
void measure_switch() {
  double* out = nullptr;
  cudaMalloc(&out, sizeof(double));
  struct Loop {
    static __global__ void kernel(double* o) {
      double acc = 0;
      for (int i = 0; i < 2000; ++i) {
        acc += i;
        __syncthreads();
      }
      if (threadIdx.x == 0) o[0] = acc;
    }
  };
  const uint64_t s0 = seqloss::simt::stats().switches;
  const auto t0 = std::chrono::steady_clock::now();
  SEQLOSS_LAUNCH(Loop::kernel, 1, 256, nullptr, out);
  cudaDeviceSynchronize();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t n = seqloss::simt::stats().switches - s0;
  check(n >= 255 * 2000, "the barrier loop switched fibers (the last thread at a barrier goes on without one)");
  std::printf("  fiber switches (%s): %.1f ns per resume-and-yield (%llu in %.3f s)\n",
              seqloss::simt::fiber_mechanism(), 1e9 * secs / static_cast<double>(n), static_cast<unsigned long long>(n),
              secs);
  cudaFree(out);
}

}  // namespace

int main() {
  seqloss::simt::set_report(false);  // the hazards are expected; their messages are printed below
  std::printf("simt_test: SIMT host self-tests (fibers: %s)\n", seqloss::simt::fiber_mechanism());
  test_correct_kernels();
  test_hazards();
  test_out_of_bounds();
  test_runtime();
  measure_switch();
  std::printf("simt_test: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

#else

int main() {
  std::printf("simt_test: skipped (this build does not emulate CUDA: SEQLOSS_CUDA_EMULATE is off)\n");
  return 0;
}

#endif
