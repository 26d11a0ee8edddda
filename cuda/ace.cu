// ace.cu — ACE (Xie et al., CVPR 2019) and ACE counting on the GPU: FP32 arithmetic in every per-element and
// per-compact-value step (float-float pairs where the precision needs them, cuda/xfloat32.cuh), FP64 only once per
// row, class or sequence. The formulas of the paper are csrc/numerics.h's (num::ace_*), shared with csrc/cpu/ace.cc.
//
// CE (Eq. 8) involves only K_n = {k : N_k > 0} (the blank with N_blank = T_n − Σ_{k≠blank} N_k; plan.h AceHost:
// only these non-zero counts are uploaded):
//  1. ace32_stats: one block per valid row: m_t, s_t = Σ_k e^(x_tk − m_t) (a float-float sum), 1/s_t and ln s_t
//     (double, once per row, kept as float-float pairs), and ln y_k^t = (x_tk − m_t) − ln s_t of the K_n classes
//     as float-float pairs (probabilities: y_k^t itself). A row with a NaN or +∞ (logits: also a row all −∞;
//     probabilities: any non-finite value) gets ln s_t = NaN, which poisons its sequence.
//  2. ace32_loss: one block per sequence, one thread per class of K_n: ln y_k = logsumexp_t ln y_k^t in float-float
//     (two passes over the frames; the same number as the linear sum where that is representable, and finite however
//     small y_k is, so no class needs a path of its own) with eps, num::ace_log_aggregate; the term
//     −(N_k/T_n)(ln y_k − ln T_n); L_n by a fixed-tree block sum. Probabilities: y_k = Σ_t y_k^t + T_n eps and g_k.
//  3. ace32_rows: one block per row (the logits' second read). With a_k = N_k/T_n and ρ_tk = y_k^t/y_k =
//     e^(ln y_k^t − ln y_k) <= 1, y_k^t g_k = −a_k ρ_tk, so Eq. 9 is grad_tk = scale (y_k^t D_t − a_k ρ_tk [k ∈ K_n])
//     with D_t = Σ_{j∈K_n} a_j ρ_tj (<= 1): every class is written as e^(x_tk − m_t) times one float per row
//     (scale·D_t/s_t), then the K_n classes are patched in float-float. Probabilities: scale·g_k on K_n, 0 elsewhere.
// Regression (Eq. 4) has a dense g_k = y_k − N_k and needs Σ_t y_k^t of every class:
//  2'. ace32_partial / ace32_total: chunks of `chunk` frames summed per class in float-float (one thread per class,
//     frames in order), then the chunks in order (a fixed two-level sum, the same on every device); ace32_loss
//     spreads the N_k of K_n over the C classes and writes g_k as float-float pairs.
//  3'. ace32_rows: y_k^t ((g_k − g_r) − Σ_j y_j^t (g_j − g_r)) with r the row's first most likely class (the same
//     number since Σ_j y_j^t = 1, without losing 1 − y_r on nearly certain frames), as csrc/cpu/ace.cc.
// A poisoned sequence gets loss NaN and NaN rows t < T_n; rows t >= T_n are 0.
// Counting runs 1 (logits: m_t and 1/s_t alone) and 2' without eps: expected = Σ_t y_k^t, and it rounded.
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend.h"
#include "dense.cuh"
#include "numerics.h"
#include "xfloat32.cuh"

namespace seqloss {
namespace cuda {
namespace {

struct FF {
  float hi, lo;
};

inline FF ff_of(double v) {
  const float h = static_cast<float>(v);
  return FF{h, static_cast<float>(v - static_cast<double>(h))};
}

__device__ inline void put_ff(double v, const FFArr& a, int64_t i) {
  const float h = static_cast<float>(v);
  a.hi[i] = h;
  a.lo[i] = static_cast<float>(v - static_cast<double>(h));
}

// ln y^t = (x − m) − ln s as a float-float pair (−∞ for x = −∞, and where x − m passes the float range).
__device__ inline void log_softmax_ff(float xv, float mx, float lh, float ll, float* h, float* l) {
  two_diff(xv, mx, h, l);
  if (!(*h > -HUGE_VALF)) {
    *h = -HUGE_VALF;
    *l = 0.0f;
    return;
  }
  ff_add(*h, *l, -lh, -ll, h, l);
}

// e^(a − b) of two float-float logarithms as a float-float pair (0 where a = −∞).
__device__ inline void exp_diff_ff(float ah, float al, float bh, float bl, float* h, float* l) {
  float eh, el;
  ff_add(ah, al, -bh, -bl, &eh, &el);
  xf32::to_ff(xf32::exp_ff(eh, el), h, l);
}

__device__ inline bool finite_f(float v) { return v - v == 0.0f; }

// 1. Row statistics and the compact values (see the file comment). inv, lns, LY: null where not wanted
// (counting needs M and inv alone).
// Rows [r0, r1) of the valid rows (all of them, or one wave of a host-array call: plan.h, kStatsWaves).
__global__ void ace32_stats_kernel(const float* __restrict__ x, Dense d, int64_t r0, int64_t r1, float* __restrict__ M,
                                   FFArr inv, FFArr lns, FFArr LY) {
  SEQLOSS_SHARED(float, shf, 66);
  SEQLOSS_SHARED(float, shr, 2);
  const bool logits = d.input == SEQLOSS_INPUT_LOGITS;
  for (int64_t r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
    const int32_t n = seq_of_row(d.roff, d.N, r);
    const int64_t t = r - d.roff[n];
    const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
    float mx = 0.0f;
    if (logits) {
      float v = -HUGE_VALF;
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) v = fmaxf(v, row[k]);
      mx = block_max(v, shf);
      // NaN, +∞ (∞ − ∞) and a row of −∞ (−∞ − −∞) all make the sum NaN.
      float hi = 0.0f, lo = 0.0f;
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) ff_add(hi, lo, expf(row[k] - mx), 0.0f, &hi, &lo);
      block_sum_ff(&hi, &lo, shf);
      if (threadIdx.x == 0) {
        const double s = static_cast<double>(hi) + static_cast<double>(lo);
        M[r] = mx;
        put_ff(1.0 / s, inv, r);
        const double ls = log(s);
        shr[0] = static_cast<float>(ls);
        shr[1] = static_cast<float>(ls - static_cast<double>(shr[0]));
        if (lns.hi != nullptr) {
          lns.hi[r] = shr[0];
          lns.lo[r] = shr[1];
        }
      }
    } else if (lns.hi != nullptr) {
      float bad = 0.0f, lo = 0.0f;
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) bad += finite_f(row[k]) ? 0.0f : 1.0f;
      block_sum_ff(&bad, &lo, shf);
      if (threadIdx.x == 0) {
        lns.hi[r] = bad != 0.0f ? NAN : 0.0f;
        lns.lo[r] = 0.0f;
      }
    }
    __syncthreads();
    if (LY.hi != nullptr) {
      const int64_t k0 = d.koff[n];
      const int32_t K = static_cast<int32_t>(d.koff[n + 1] - k0);
      const int64_t at = d.yoff[n] + t * K;
      const float lh = logits ? shr[0] : 0.0f, ll = logits ? shr[1] : 0.0f;
      for (int j = threadIdx.x; j < K; j += blockDim.x) {
        const float xv = row[d.kcls[k0 + j]];
        float h = xv, l = 0.0f;
        if (logits) log_softmax_ff(xv, mx, lh, ll, &h, &l);
        LY.hi[at + j] = h;
        LY.lo[at + j] = l;
      }
    }
    __syncthreads();
  }
}

// 2'. Chunk sums: part[(n·G + g)·C + k] = Σ_{t in chunk g, t < T_n} y_k^t in float-float (counting's log-probs:
// y = e^x), with the plain float
// sum beside it in raw (which carries ±∞ and NaN, where a float-float sum would turn them into NaN). Grid (class
// blocks, chunks, sequences), the last two looping when there are more than the grid holds.
__global__ void ace32_partial_kernel(const float* __restrict__ x, Dense d, const float* __restrict__ M, FFArr inv,
                                     int32_t G, int32_t chunk, FFArr part, float* __restrict__ raw) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= d.C) return;
  const bool logits = d.input == SEQLOSS_INPUT_LOGITS, log_probs = d.input == SEQLOSS_INPUT_LOG_PROBS;
  for (int32_t n = blockIdx.z; n < d.N; n += gridDim.z) {
    const int32_t Tn = d.Tn[n];
    for (int32_t g = blockIdx.y; g < G; g += gridDim.y) {
      const int64_t t0 = static_cast<int64_t>(g) * chunk;
      const int64_t t1 = t0 + chunk < Tn ? t0 + chunk : Tn;
      float hi = 0.0f, lo = 0.0f, rw = 0.0f;
      for (int64_t t = t0; t < t1; ++t) {
        const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
        const int64_t r = d.roff[n] + t;
        const float y = logits ? expf(row[k] - M[r]) * inv.hi[r] : (log_probs ? expf(row[k]) : row[k]);
        ff_add(hi, lo, y, 0.0f, &hi, &lo);
        rw += y;
      }
      const int64_t i = (static_cast<int64_t>(n) * G + g) * d.C + k;
      part.hi[i] = hi;
      part.lo[i] = lo;
      raw[i] = rw;
    }
  }
}

// The chunks in order: y[n·C + k] = Σ_t y_k^t (double); with `expected`/`rounded` the counting outputs.
__global__ void ace32_total_kernel(Dense d, int32_t G, FFArr part, const float* __restrict__ raw,
                                   double* __restrict__ y, float* __restrict__ expected,
                                   int32_t* __restrict__ rounded) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(d.N) * d.C) return;
  const int64_t n = i / d.C, k = i - n * d.C;
  float hi = 0.0f, lo = 0.0f, rw = 0.0f;
  for (int32_t g = 0; g < G; ++g) {
    const int64_t j = (n * G + g) * d.C + k;
    ff_add(hi, lo, part.hi[j], part.lo[j], &hi, &lo);
    rw += raw[j];
  }
  const double acc = finite_f(rw) ? static_cast<double>(hi) + static_cast<double>(lo) : static_cast<double>(rw);
  if (y != nullptr) y[i] = acc;
  if (expected != nullptr) expected[i] = static_cast<float>(acc);
  if (rounded != nullptr) {
    int32_t v = 0;
    if (acc != acc) {
      v = 0;
    } else if (acc >= 2147483647.0) {
      v = INT32_MAX;
    } else if (acc <= -2147483648.0) {
      v = INT32_MIN;
    } else {
      v = static_cast<int32_t>(llround(acc));
    }
    rounded[i] = v;
  }
}

// 2. Per sequence: poisoned or not (a row with ln s_t NaN), L_n, and what the rows need (see the file comment).
// CE: kA = N_k/T_n and kLy = ln y_k per class of K_n (float-float), kG = scale·g_k (probabilities). Regression:
// Nd = N_k of every class, gd = g_k of every class (float-float), from ysum = Σ_t y_k^t.
__global__ void ace32_loss_kernel(Dense d, int32_t variant, double eps, double scale, FFArr lns, FFArr LY,
                                  const double* __restrict__ ysum, double* __restrict__ Nd, FFArr gd, FFArr kA,
                                  FFArr kLy, float* __restrict__ kG, double* __restrict__ loss,
                                  int32_t* __restrict__ bad) {
  SEQLOSS_SHARED(double, sh, 33);
  const int32_t n = blockIdx.x;
  const int32_t Tn = d.Tn[n];
  const double tn = static_cast<double>(Tn);
  const int64_t r0 = d.roff[n];
  double nan_rows = 0.0;
  for (int32_t t = threadIdx.x; t < Tn; t += blockDim.x) nan_rows += lns.hi[r0 + t] != lns.hi[r0 + t] ? 1.0 : 0.0;
  const bool poisoned = block_sum(nan_rows, sh) != 0.0;
  const bool logits = d.input == SEQLOSS_INPUT_LOGITS;
  const int64_t k0 = d.koff[n];
  const int32_t K = static_cast<int32_t>(d.koff[n + 1] - k0);
  double part = 0.0;
  if (variant == SEQLOSS_ACE_CE) {
    for (int j = threadIdx.x; j < K && !poisoned; j += blockDim.x) {
      const double nk = d.kN[k0 + j];
      const float* lh = LY.hi + d.yoff[n] + j;
      const float* ll = LY.lo + d.yoff[n] + j;
      double ly = 0.0;
      if (logits) {
        float mh = -HUGE_VALF, ml = 0.0f;
        for (int32_t t = 0; t < Tn; ++t) {
          const int64_t i = static_cast<int64_t>(t) * K;
          if (ff_less(mh, ml, lh[i], ll[i])) {
            mh = lh[i];
            ml = ll[i];
          }
        }
        double lsum = -HUGE_VAL;
        if (mh > -HUGE_VALF) {
          float ah = 0.0f, al = 0.0f;
          for (int32_t t = 0; t < Tn; ++t) {
            const int64_t i = static_cast<int64_t>(t) * K;
            float ph, pl;
            exp_diff_ff(lh[i], ll[i], mh, ml, &ph, &pl);
            ff_add(ah, al, ph, pl, &ah, &al);
          }
          lsum = static_cast<double>(mh) + static_cast<double>(ml) +
                 log(static_cast<double>(ah) + static_cast<double>(al));
        }
        ly = num::ace_log_aggregate(lsum, tn, eps);
        part += num::ace_ce_term(nk, tn, ly - log(tn));
        kG[k0 + j] = 0.0f;
      } else {
        float ah = 0.0f, al = 0.0f;
        for (int32_t t = 0; t < Tn; ++t) ff_add(ah, al, lh[static_cast<int64_t>(t) * K], 0.0f, &ah, &al);
        const double yk = num::ace_aggregate(static_cast<double>(ah) + static_cast<double>(al), tn, eps);
        part += num::ace_ce_term(nk, tn, log(yk / tn));
        kG[k0 + j] = static_cast<float>(scale * num::ace_ce_grad(nk, tn, yk));
        ly = log(yk);
      }
      put_ff(nk / tn, kA, k0 + j);
      put_ff(ly, kLy, k0 + j);
    }
  } else {
    // N_k of every class: 0, then those of K_n (distinct classes).
    double* nd = Nd + static_cast<int64_t>(n) * d.C;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) nd[k] = 0.0;
    __syncthreads();
    for (int j = threadIdx.x; j < K; j += blockDim.x) nd[d.kcls[k0 + j]] = d.kN[k0 + j];
    __syncthreads();
    for (int k = threadIdx.x; k < d.C && !poisoned; k += blockDim.x) {
      const int64_t i = static_cast<int64_t>(n) * d.C + k;
      const double yk = num::ace_aggregate(ysum[i], tn, eps);
      part += num::ace_regression_term(nd[k], yk);
      put_ff(num::ace_regression_grad(nd[k], yk), gd, i);
    }
  }
  const double total = block_sum(part, sh);
  if (threadIdx.x == 0) {
    loss[n] = poisoned ? NAN : (variant == SEQLOSS_ACE_CE ? num::ace_ce_total(total, eps) : total);
    bad[n] = poisoned ? 1 : 0;
  }
}

// The first class of the row with x == m (a block minimum over the indices), 0 when there is none.
__device__ inline int32_t first_max_class(const float* row, int32_t C, float mx, Smem<int32_t> shi) {
  int32_t first = INT32_MAX;
  for (int k = threadIdx.x; k < C; k += blockDim.x) {
    if (row[k] == mx && k < first) first = k;
  }
  for (int o = 16; o > 0; o >>= 1) first = min(first, __shfl_down_sync(0xffffffffu, first, o));
  if ((threadIdx.x & 31) == 0) shi[threadIdx.x >> 5] = first;
  __syncthreads();
  if (threadIdx.x == 0) {
    int32_t f = INT32_MAX;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) f = min(f, shi[w]);
    shi[0] = f == INT32_MAX ? 0 : f;
  }
  __syncthreads();
  const int32_t r = shi[0];
  __syncthreads();
  return r;
}

// 3. The gradient rows (all N x T; zero for t >= T_n, NaN for the rows t < T_n of a poisoned sequence).
__global__ void ace32_rows_kernel(const float* __restrict__ x, Dense d, int32_t variant, FF sc,
                                  const float* __restrict__ M, FFArr inv, FFArr LY, FFArr gd, FFArr kA, FFArr kLy,
                                  const float* __restrict__ kG, const int32_t* __restrict__ bad,
                                  float* __restrict__ grad) {
  SEQLOSS_SHARED(float, shf, 66);
  SEQLOSS_SHARED(int32_t, shi, 32);
  const bool logits = d.input == SEQLOSS_INPUT_LOGITS;
  const int64_t total = static_cast<int64_t>(d.N) * d.T;
  for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
    const int32_t n = static_cast<int32_t>(b / d.T);
    const int64_t t = b - static_cast<int64_t>(n) * d.T;
    const int64_t off = row_offset(d.layout, n, t, d.N, d.T, d.C);
    float* gr = grad + off;
    if (t >= d.Tn[n] || bad[n] != 0) {
      const float fill = t >= d.Tn[n] ? 0.0f : NAN;
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) gr[k] = fill;
      continue;
    }
    const float* row = x + off;
    const int64_t r = d.roff[n] + t;
    if (variant == SEQLOSS_ACE_CE) {
      const int64_t k0 = d.koff[n];
      const int32_t K = static_cast<int32_t>(d.koff[n + 1] - k0);
      const int64_t at = d.yoff[n] + t * K;
      if (!logits) {
        for (int k = threadIdx.x; k < d.C; k += blockDim.x) gr[k] = 0.0f;
        __syncthreads();
        for (int j = threadIdx.x; j < K; j += blockDim.x) gr[d.kcls[k0 + j]] = kG[k0 + j];
        __syncthreads();
        continue;
      }
      // D_t = Σ_j a_j ρ_tj (float-float, fixed tree).
      float dh = 0.0f, dl = 0.0f;
      for (int j = threadIdx.x; j < K; j += blockDim.x) {
        float ph, pl, qh, ql;
        exp_diff_ff(LY.hi[at + j], LY.lo[at + j], kLy.hi[k0 + j], kLy.lo[k0 + j], &ph, &pl);
        ff_mul(kA.hi[k0 + j], kA.lo[k0 + j], ph, pl, &qh, &ql);
        ff_add(dh, dl, qh, ql, &dh, &dl);
      }
      block_sum_ff(&dh, &dl, shf);
      float fh, fl;
      ff_mul(dh, dl, sc.hi, sc.lo, &fh, &fl);          // scale·D_t
      ff_mul(fh, fl, inv.hi[r], inv.lo[r], &fh, &fl);  // ... / s_t
      const float f = fh + fl;
      const float mx = M[r];
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) gr[k] = expf(row[k] - mx) * f;
      __syncthreads();
      for (int j = threadIdx.x; j < K; j += blockDim.x) {
        float ph, pl, yh, yl, uh, ul, vh, vl;
        exp_diff_ff(LY.hi[at + j], LY.lo[at + j], kLy.hi[k0 + j], kLy.lo[k0 + j], &ph, &pl);
        xf32::to_ff(xf32::exp_ff(LY.hi[at + j], LY.lo[at + j]), &yh, &yl);
        ff_mul(yh, yl, dh, dl, &uh, &ul);                        // y_k^t D_t
        ff_mul(kA.hi[k0 + j], kA.lo[k0 + j], ph, pl, &vh, &vl);  // a_k ρ_tk
        ff_add(uh, ul, -vh, -vl, &uh, &ul);
        ff_mul(uh, ul, sc.hi, sc.lo, &uh, &ul);
        gr[d.kcls[k0 + j]] = uh + ul;
      }
      __syncthreads();
      continue;
    }
    const float* gh = gd.hi + static_cast<int64_t>(n) * d.C;
    const float* gl = gd.lo + static_cast<int64_t>(n) * d.C;
    if (!logits) {
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
        float vh, vl;
        ff_mul(gh[k], gl[k], sc.hi, sc.lo, &vh, &vl);
        gr[k] = vh + vl;
      }
      continue;
    }
    const float mx = M[r], iv = inv.hi[r];
    const int32_t rr = first_max_class(row, d.C, mx, shi);
    const float g0h = gh[rr], g0l = gl[rr];
    float ah = 0.0f, al = 0.0f;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      float eh, el, ph, pl;
      ff_add(gh[k], gl[k], -g0h, -g0l, &eh, &el);
      ff_mul(expf(row[k] - mx) * iv, 0.0f, eh, el, &ph, &pl);
      ff_add(ah, al, ph, pl, &ah, &al);
    }
    block_sum_ff(&ah, &al, shf);
    const float s = sc.hi + sc.lo;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      float eh, el;
      ff_add(gh[k], gl[k], -g0h, -g0l, &eh, &el);
      ff_add(eh, el, -ah, -al, &eh, &el);
      gr[k] = expf(row[k] - mx) * iv * (eh + el) * s;
    }
  }
}

// ---- host side ------------------------------------------------------------------------------------------------

Dense device_view(const seqloss_problem& p, const DenseHost& h, const unsigned char* meta, size_t Tn, size_t roff) {
  Dense m{};
  static_cast<Shape&>(m) = shape_of(p, h.rows);
  m.Tn = reinterpret_cast<const int32_t*>(meta + Tn);
  m.roff = reinterpret_cast<const int64_t*>(meta + roff);
  return m;
}

// The plan's stats step over valid rows [r0, r1): the step's configuration, at most one block per row.
bool launch_stats(Call& call, const Step& s, const Dense& m, const DenseBuffers& b, const float* x, int64_t r0,
                  int64_t r1) {
  const unsigned g = row_grid(r1 - r0);
  SEQLOSS_LAUNCH(ace32_stats_kernel, g < s.blocks ? g : s.blocks, s.threads, call.stream(), x, m, r0, r1, b.M, b.inv,
                 b.lns, b.LY);
  return call.launched(kernel_name(s.kernel));
}

// With host memory, the input uploaded (*x is then the input on the device); where the plan starts with the stats
// step and the layout is NTC, that step runs in waves behind the upload (StatsWaves), and *waved says so.
bool upload_input(Call& call, const seqloss_problem& p, const DenseHost& h, const LaunchPlan& plan, const Dense& m,
                  const DenseBuffers& b, const float** x, bool* waved) {
  *x = p.data;
  *waved = false;
  if (!b.copy_data) return true;
  *x = b.data;
  const Step* s = wave_step(p, plan, Kernel::kAceStats);
  *waved = s != nullptr;
  return upload_dense(call, p, b.data, h.roff.data(), h.Tn.data(), s, "cudaMemcpyAsync (input)",
                      [&](int64_t r0, int64_t r1) { return launch_stats(call, *s, m, b, b.data, r0, r1); });
}

// The plan's stats step (when it has one and the upload has not run it already), then its class sums (when it
// has them).
bool stats_and_sums(Call& call, const LaunchPlan& plan, const Dense& m, const DenseBuffers& b, const float* x,
                    bool waved, double* y, float* expected, int32_t* rounded) {
  if (const Step* s = plan.find(Kernel::kAceStats)) {
    if (!waved && !launch_stats(call, *s, m, b, x, 0, m.rows)) return false;
  }
  const Step* part = plan.find(Kernel::kAcePartial);
  const Step* tot = plan.find(Kernel::kAceTotal);
  if (part == nullptr || tot == nullptr) return true;
  const dim3 grid(part->dims[0], part->dims[1], part->dims[2]);
  SEQLOSS_LAUNCH(ace32_partial_kernel, grid, part->threads, call.stream(), x, m, b.M, b.inv, b.G, b.chunk, b.part,
                 b.raw);
  if (!call.launched(kernel_name(part->kernel))) return false;
  SEQLOSS_LAUNCH(ace32_total_kernel, tot->blocks, tot->threads, call.stream(), m, b.G, b.part, b.raw, y, expected,
                 rounded);
  return call.launched(kernel_name(tot->kernel));
}

}  // namespace

// ---- ACE ------------------------------------------------------------------------------------------------------

seqloss_status ace_workspace_bytes(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                                   const seqloss_ace_outputs* out, size_t* bytes, Message msg) {
  const seqloss_status dev = check_device(e, msg);
  if (dev != SEQLOSS_OK) return dev;
  HostScratch& hs = scratch_ace(p);
  const AceHost& h = hs.ace;
  const AceMeta& k = hs.ak;
  DenseBuffers b;
  ace_buffers(p, e.memory, out == nullptr || out->grad != nullptr, o.variant, h.d, &b);
  *bytes = b.carve(nullptr, p, h.d.rows, h.ytotal, h.ktotal(), k.pack.size()) + kWorkspaceSlack;
  return SEQLOSS_OK;
}

seqloss_status ace(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                   const seqloss_ace_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  HostScratch& hs = scratch_ace(p);
  const AceHost& h = hs.ace;
  const AceMeta& k = hs.ak;
  DenseBuffers b;
  const bool grad = out.grad != nullptr;
  ace_buffers(p, e.memory, grad, o.variant, h.d, &b);
  const int32_t N = p.batch;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
  }
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_ace(p, e.memory, grad, o.variant, h, k.pack.size(), 0);
  if (!place_dense(call, p, k.pack, h.d.rows, h.ytotal, h.ktotal(), b, workspace, workspace_bytes,
                   "seqloss_ace_workspace_size")) {
    return call.finish();
  }
  Dense m = device_view(p, h.d, b.meta, k.Tn, k.roff);
  m.koff = reinterpret_cast<const int64_t*>(b.meta + k.koff);
  m.yoff = reinterpret_cast<const int64_t*>(b.meta + k.yoff);
  m.kcls = reinterpret_cast<const int32_t*>(b.meta + k.kcls);
  m.kN = reinterpret_cast<const double*>(b.meta + k.kN);
  const float* x = nullptr;
  bool waved = false;
  if (!upload_input(call, p, h.d, plan, m, b, &x, &waved)) return call.finish();
  if (!stats_and_sums(call, plan, m, b, x, waved, b.ysum, nullptr, nullptr)) return call.finish();
  const double scale = num::ace_reduction_scale(o.reduction == SEQLOSS_REDUCTION_MEAN, N);
  const Step* loss_step = plan.find(Kernel::kAceLoss);
  if (loss_step == nullptr) return call.fail_with(SEQLOSS_ERROR_INTERNAL, "no loss step in ACE's plan"), call.finish();
  SEQLOSS_LAUNCH(ace32_loss_kernel, loss_step->blocks, loss_step->threads, call.stream(), m, o.variant, o.eps, scale,
                 b.lns, b.LY, b.ysum, b.Nd, b.gd, b.kA, b.kLy, b.kG, b.loss, b.bad);
  if (!call.launched(kernel_name(loss_step->kernel))) return call.finish();
  if (const Step* rows = plan.find(Kernel::kAceRows)) {
    float* g = b.host_grad ? b.grad : out.grad;
    const FF s = ff_of(scale);
    SEQLOSS_LAUNCH(ace32_rows_kernel, rows->blocks, rows->threads, call.stream(), x, m, o.variant, s, b.M, b.inv, b.LY,
                   b.gd, b.kA, b.kLy, b.kG, b.bad, g);
    if (!call.launched(kernel_name(rows->kernel))) return call.finish();
    if (b.host_grad) call.download(out.grad, b.grad, dense_bytes(p), "cudaMemcpyAsync (grad)");
  }
  std::vector<double>& loss = hs.d0;
  loss.resize(static_cast<size_t>(N));
  call.to_host(loss.data(), b.loss, sizeof(double) * N, "cudaMemcpyAsync (losses)");
  const seqloss_status st = call.finish();
  if (st != SEQLOSS_OK) return st;
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    out.losses[n] = static_cast<float>(loss[static_cast<size_t>(n)]);
    total += loss[static_cast<size_t>(n)];
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- counting -------------------------------------------------------------------------------------------------

seqloss_status ace_count(const seqloss_problem& p, const seqloss_exec& e, float* expected, int32_t* rounded,
                         Message msg) {
  HostScratch& hs = scratch_dense(p);
  const DenseHost& h = hs.dense;
  const DenseMeta& k = hs.dk;
  DenseBuffers b;
  count_buffers(p, e.memory, h, &b);
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_count(p, e.memory, h, k.pack.size());
  if (!place_dense(call, p, k.pack, h.rows, 0, 0, b, nullptr, 0, "")) return call.finish();
  const Dense m = device_view(p, h, b.meta, k.Tn, k.roff);
  const float* x = nullptr;
  bool waved = false;
  if (!upload_input(call, p, h, plan, m, b, &x, &waved)) return call.finish();
  if (!stats_and_sums(call, plan, m, b, x, waved, nullptr, b.expected, b.rounded)) return call.finish();
  const size_t nc = static_cast<size_t>(p.batch) * p.classes;
  call.to_host(expected, b.expected, sizeof(float) * nc, "cudaMemcpyAsync (expected)");
  if (rounded != nullptr) call.to_host(rounded, b.rounded, sizeof(int32_t) * nc, "cudaMemcpyAsync (rounded)");
  return call.finish();
}

}  // namespace cuda
}  // namespace seqloss
