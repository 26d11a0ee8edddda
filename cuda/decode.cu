// decode.cu — the greedy decoders of CTC and ACE on the GPU: the argmax of every valid row (ties to the lowest
// class; x[0] NaN decodes to 0, other NaNs never win), then one thread per sequence merges repeats (CTC) and drops
// blanks.
#include <cstdint>

#include "backend.h"
#include "dense.cuh"

namespace seqloss {
namespace cuda {
namespace {

// The argmax of every valid row: the sequential rule best = x[0]; if (x[k] > x[best]) best = k.
__global__ void argmax_kernel(const float* __restrict__ x, Dense d, int32_t* __restrict__ am) {
  SEQLOSS_SHARED(float, shv, 32);
  SEQLOSS_SHARED(int32_t, shk, 32);
  for (int64_t r = blockIdx.x; r < d.rows; r += gridDim.x) {
    const int32_t n = seq_of_row(d.roff, d.N, r);
    const int64_t t = r - d.roff[n];
    const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
    // Candidates: non-NaN values; (v, k) beats (v', k') when v > v', or v == v' and k < k'.
    float bv = -HUGE_VALF;
    int32_t bk = INT32_MAX;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      const float v = row[k];
      if (v == v && (bk == INT32_MAX || v > bv)) {
        bv = v;
        bk = k;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, bv, o);
      const int32_t ok = __shfl_down_sync(0xffffffffu, bk, o);
      if (ok != INT32_MAX && (bk == INT32_MAX || ov > bv || (ov == bv && ok < bk))) {
        bv = ov;
        bk = ok;
      }
    }
    if ((threadIdx.x & 31) == 0) {
      shv[threadIdx.x >> 5] = bv;
      shk[threadIdx.x >> 5] = bk;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float v = shv[0];
      int32_t k = shk[0];
      for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
        if (shk[w] != INT32_MAX && (k == INT32_MAX || shv[w] > v || (shv[w] == v && shk[w] < k))) {
          v = shv[w];
          k = shk[w];
        }
      }
      // x[0] NaN: nothing is larger than it. No candidate at all (every value NaN): 0.
      const float x0 = row[0];
      am[r] = (x0 != x0 || k == INT32_MAX) ? 0 : k;
    }
    __syncthreads();
  }
}

// One thread per sequence: merge repeats (when `merge`), drop blanks; zeros after the decoded labels.
__global__ void collapse_kernel(Dense d, const int32_t* __restrict__ am, int32_t merge, int32_t* __restrict__ labels,
                                int32_t* __restrict__ lengths) {
  const int32_t n = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (n >= d.N) return;
  int32_t* out = labels + static_cast<int64_t>(n) * d.T;
  int32_t len = 0, prev = -1;
  for (int64_t r = d.roff[n]; r < d.roff[n + 1]; ++r) {
    const int32_t k = am[r];
    const bool repeat = merge != 0 && k == prev;
    prev = k;
    if (repeat || k == d.blank) continue;
    out[len++] = k;
  }
  for (int32_t j = len; j < d.T; ++j) out[j] = 0;
  lengths[n] = len;
}

}  // namespace

seqloss_status greedy_decode(const seqloss_problem& p, const seqloss_exec& e, bool ace, bool merge, int32_t* labels,
                             int32_t* lengths, Message msg) {
  (void)ace;
  HostScratch& hs = scratch_dense(p);
  const DenseHost& h = hs.dense;
  const DenseMeta& k = hs.dk;
  DenseBuffers b;
  b.copy_data = e.memory == SEQLOSS_MEMORY_HOST;
  b.decode = true;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  const float* x = nullptr;
  if (!start_dense(call, p, k.pack, h.rows, 0, 0, b, nullptr, 0, "", &x)) return call.finish();
  Dense m{};
  static_cast<Shape&>(m) = shape_of(p, h.rows);
  m.Tn = reinterpret_cast<const int32_t*>(b.meta + k.Tn);
  m.roff = reinterpret_cast<const int64_t*>(b.meta + k.roff);
  if (h.rows > 0) {
    SEQLOSS_LAUNCH(argmax_kernel, row_grid(h.rows), block_threads(p.classes, kRowThreads), call.stream(), x, m, b.am);
    if (!call.launched("argmax_kernel")) return call.finish();
  }
  SEQLOSS_LAUNCH(collapse_kernel, grid_for(p.batch, 128), 128, call.stream(), m, b.am, merge ? 1 : 0, b.labels,
                 b.lengths);
  if (!call.launched("collapse_kernel")) return call.finish();
  call.download(labels, b.labels, sizeof(int32_t) * static_cast<size_t>(p.batch) * p.time, "cudaMemcpyAsync (labels)");
  call.to_host(lengths, b.lengths, sizeof(int32_t) * static_cast<size_t>(p.batch), "cudaMemcpyAsync (lengths)");
  return call.finish();
}

}  // namespace cuda
}  // namespace seqloss
