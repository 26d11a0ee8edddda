// label_common.cuh — what the label operations' kernels share: the device view of a LabelPlan (Meta), the shift Σ_t c_t, a
// sequence's status after the forward, and the float-float helpers of the FP32 pipeline.
// Included by ctc.cu alone (one translation unit for the label operations' kernels and their launcher).
#ifndef SEQLOSS_CUDA_LABEL_COMMON_CUH
#define SEQLOSS_CUDA_LABEL_COMMON_CUH

#include <cmath>
#include <cstdint>

#include "labels.h"
#include "numerics.h"
#include "runtime.cuh"
#include "xfloat32.cuh"

namespace seqloss {
namespace cuda {
namespace {

// The device view of a LabelPlan (pointers into the uploaded metadata).
struct Meta : Shape {
  int64_t utotal;
  int64_t stotal;
  int32_t ck;  // the α lattice's checkpoint interval (labels.h)
  const int32_t* Tn;
  const int32_t* L;
  const int32_t* S;
  const int32_t* U;
  const int64_t* roff;
  const int64_t* yoff;
  const int64_t* aoff;
  const int64_t* coff;
  const int64_t* soff;
  const int64_t* uoff;
  const int32_t* ucls;
  const int32_t* ncount;
  const int32_t* cseq;
  const int32_t* cidx;
  const uint8_t* skip;
  const int32_t* cs_start;
  const int32_t* cs_state;
  const int32_t* bclass;
  const int32_t* bstart;
  const int32_t* bitem;
  int32_t nbclass;
};

// ---- the shift -------------------------------------------------------------------------------------------------

// Σ_{t<T_n} c_t per sequence, frames in order (c_t = −r_t for logits, the frame's max for log-probs; a log-probs
// frame of −∞ adds nothing: its emissions are all 0 and the sequence is impossible); NaN when a frame is NaN.
__global__ void shift_kernel(Meta m, const double* __restrict__ R, double* __restrict__ shift) {
  const int32_t n = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (n >= m.N) return;
  const bool logits = m.input == SEQLOSS_INPUT_LOGITS;
  double acc = 0.0;
  for (int64_t r = m.roff[n]; r < m.roff[n + 1]; ++r) {
    const double c = R[r];
    if (c != c) {
      acc = NAN;
      break;
    }
    if (logits) {
      acc -= c;
    } else if (c != neg_inf()) {
      acc += c;
    }
  }
  shift[n] = acc;
}

// A double as a float-float pair (once per class or frame, for the FP32 pipeline's per-element work).
__device__ inline void to_ff_pair(double v, float* hi, float* lo) {
  const float h = static_cast<float>(v);
  *hi = h;
  *lo = static_cast<float>(v - static_cast<double>(h));
}

__device__ inline bool solvable(const Meta& m, const double* logp, int32_t n) {
  return m.S[n] > 0 && m.Tn[n] > 0 && logp[n] != neg_inf() && logp[n] == logp[n];
}

// A float-float constant of the call (DCTC's s, β, λ, r·s), made on the host.
struct FFPair {
  float hi, lo;
};

// hi + lo times (s_hi + s_lo), as a float-float pair.
__device__ inline void scale_ff(float hi, float lo, float s_hi, float s_lo, float* ohi, float* olo) {
  ff_mul(hi, lo, s_hi, s_lo, ohi, olo);
}

// The reduction scale of sequence n in float: 1 / (N max(L_n, 1)) for mean, else 1.
__device__ inline float reduction_scale32(const Meta& m, int32_t n, int32_t mean) {
  return num::ctc_reduction_scale(mean != 0, static_cast<float>(m.N), static_cast<float>(m.L[n]));
}

// ρ = s (x_c − m_t) of class c in a row (its max mx) as an exact float-float pair, −∞ in a log-probs frame of −∞
// (no path). sc: DCTC's logit scale s as a pair ({1, 0} otherwise).
__device__ inline void rho32(const float* row, const Meta& m, float mx, FFPair sc, int32_t c, float* hi, float* lo) {
  *hi = -HUGE_VALF;
  *lo = 0.0f;
  if (m.input == SEQLOSS_INPUT_LOGITS || mx != -HUGE_VALF) {
    two_diff(row[c], mx, hi, lo);
    scale_ff(*hi, *lo, sc.hi, sc.lo, hi, lo);
  }
}

// The emission e^ρ of class c (the factor of the recursions), as an xfloat32 value.
__device__ inline xf32::X emission32(const float* row, const Meta& m, float mx, FFPair sc, int32_t c) {
  float hi, lo;
  rho32(row, m, mx, sc, c, &hi, &lo);
  return xf32::exp_ff(hi, lo);
}

__device__ inline xf32::X xget(const XArr& a, int64_t i) { return xf32::X{a.hi[i], a.lo[i], a.k[i]}; }

__device__ inline void xset(const XArr& a, int64_t i, const xf32::X& v) {
  a.hi[i] = v.hi;
  a.lo[i] = v.lo;
  a.k[i] = v.k;
}

// What the FP32 kernels after the forward read of a sequence, instead of comparing doubles: kSolved, kNoPath
// (statically infeasible, or p = 0), kNaN (a NaN or +∞ in a valid frame).
constexpr int32_t kSolved = 0, kNoPath = 1, kNaN = 2;

// Row t of sequence n when it gets no gradient of its own: t >= T_n, or a sequence without a path (0), or a NaN one
// (NaN rows t < T_n). Fills the dense outputs' row (threads first, first + stride, ...) and returns true then.
__device__ inline bool fill_unsolved_row(const Meta& m, int32_t n, int64_t t, int32_t st, float* g, float* q, int first,
                                         int stride) {
  if (t < m.Tn[n] && st == kSolved) return false;
  const float v = t < m.Tn[n] && st == kNaN ? NAN : 0.0f;
  for (int k = first; k < m.C; k += stride) {
    if (g != nullptr) g[k] = v;
    if (q != nullptr) q[k] = v;
  }
  return true;
}

// P_j = e^(ρ_j − r_t) of compact class j of row r as a float-float pair (ρ_j = x_j − m_t exactly).
__device__ inline void softmax_ff(float xv, float mx, float rh, float rl, float* ph, float* pl) {
  float ah, al;
  two_diff(xv, mx, &ah, &al);
  ff_add(ah, al, -rh, -rl, &ah, &al);
  xf32::to_ff(xf32::exp_ff(ah, al), ph, pl);
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_LABEL_COMMON_CUH
