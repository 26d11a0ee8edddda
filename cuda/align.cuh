// align.cuh — the Viterbi alignment (ctcAlign, DCTC 'viterbi'): the max-product recursion and its backtrack, on the FP32
// pipeline.
// Included by ctc.cu alone (one translation unit for the label operations' kernels and their launcher).
#ifndef SEQLOSS_CUDA_ALIGN_CUH
#define SEQLOSS_CUDA_ALIGN_CUH

#include "label_common.cuh"

namespace seqloss {
namespace cuda {
namespace {

// ---- Viterbi on the FP32 pipeline (ctcAlign, DCTC 'viterbi') ----------------------------------------------------

// A log-domain value as a float-float pair; −∞ is (−∞, 0), so that comparisons need no special case.
__device__ inline bool ff_greater(float ah, float al, float bh, float bl) { return ah > bh || (ah == bh && al > bl); }
__device__ inline void ff_log_add(float ah, float al, float bh, float bl, float* h, float* l) {
  if (ah == -HUGE_VALF || bh == -HUGE_VALF) {
    *h = -HUGE_VALF;
    *l = 0.0f;
    return;
  }
  ff_add(ah, al, bh, bl, h, l);
}

// δ_t(s) = ρ_t(l'_s) + max(δ_{t−1}(s), δ_{t−1}(s−1), δ_{t−1}(s−2) where allowed), ties to the earlier (stay,
// advance, skip), in float-float on the relative log-probabilities ρ (Rho: x − m, times DCTC's s, exact for s = 1;
// −∞ below −1e8), rows in D (the lattice: read back in the next frame and by the backtrack); then thread 0
// backtracks from the final blank (or the last label when strictly better), recomputing each choice from the stored
// rows with the same comparisons (no back-pointers), as viterbi.cc. path: N x T classes (−1 after T_n and for a row
// without a path); score: ln p of the path (+ Σ_t c_t, in double) or −inf. A NaN sequence: score NaN, a row of −1.
__global__ void viterbi32_kernel(Meta m, FFArr Rho, const double* __restrict__ shift, FFArr D,
                                 int32_t* __restrict__ path, double* __restrict__ score) {
  const int32_t n = blockIdx.x;
  const int32_t S = m.S[n], Tn = m.Tn[n], U = m.U[n];
  int32_t* prow = path + static_cast<int64_t>(n) * m.T;
  if (shift[n] != shift[n]) {
    for (int t = threadIdx.x; t < m.T; t += blockDim.x) prow[t] = -1;
    if (threadIdx.x == 0) score[n] = NAN;
    return;
  }
  if (S == 0 || Tn == 0) {
    for (int t = threadIdx.x; t < m.T; t += blockDim.x) prow[t] = -1;
    if (threadIdx.x == 0) score[n] = S == 0 ? neg_inf() : 0.0;
    return;
  }
  float* Dh = D.hi + m.aoff[n];
  float* Dl = D.lo + m.aoff[n];
  const int64_t e0 = m.yoff[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  const uint8_t* skip = m.skip + m.soff[n];
  const int32_t* u = m.ucls + m.uoff[n];
  for (int s = threadIdx.x; s < S; s += blockDim.x) {
    Dh[s] = s < 2 ? Rho.hi[e0 + cidx[s]] : -HUGE_VALF;
    Dl[s] = s < 2 ? Rho.lo[e0 + cidx[s]] : 0.0f;
  }
  __syncthreads();
  for (int32_t t = 1; t < Tn; ++t) {
    const int64_t pr = static_cast<int64_t>(t - 1) * S, cr = static_cast<int64_t>(t) * S;
    const int64_t et = e0 + static_cast<int64_t>(t) * U;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
      float bh = Dh[pr + s], bl = Dl[pr + s];
      if (s >= 1 && ff_greater(Dh[pr + s - 1], Dl[pr + s - 1], bh, bl)) {
        bh = Dh[pr + s - 1];
        bl = Dl[pr + s - 1];
      }
      if (skip[s] != 0 && ff_greater(Dh[pr + s - 2], Dl[pr + s - 2], bh, bl)) {
        bh = Dh[pr + s - 2];
        bl = Dl[pr + s - 2];
      }
      ff_log_add(Rho.hi[et + cidx[s]], Rho.lo[et + cidx[s]], bh, bl, &Dh[cr + s], &Dl[cr + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  const int64_t last = static_cast<int64_t>(Tn - 1) * S;
  int32_t s = S - 1;
  float bh = Dh[last + S - 1], bl = Dl[last + S - 1];
  if (S > 1 && ff_greater(Dh[last + S - 2], Dl[last + S - 2], bh, bl)) {
    s = S - 2;
    bh = Dh[last + S - 2];
    bl = Dl[last + S - 2];
  }
  if (bh == -HUGE_VALF) {
    for (int t = 0; t < m.T; ++t) prow[t] = -1;
    score[n] = neg_inf();
    return;
  }
  for (int32_t t = Tn - 1; t > 0; --t) {
    prow[t] = u[cidx[s]];
    const int64_t P = static_cast<int64_t>(t - 1) * S;
    int32_t from = s;
    float mh = Dh[P + s], ml = Dl[P + s];
    if (s >= 1 && ff_greater(Dh[P + s - 1], Dl[P + s - 1], mh, ml)) {
      from = s - 1;
      mh = Dh[P + s - 1];
      ml = Dl[P + s - 1];
    }
    if (skip[s] != 0 && ff_greater(Dh[P + s - 2], Dl[P + s - 2], mh, ml)) from = s - 2;
    const int32_t lo = S - 2 * (Tn - (t - 1)) > 0 ? S - 2 * (Tn - (t - 1)) : 0;
    const int32_t hi = S - 1 < 2 * (t - 1) + 1 ? S - 1 : 2 * (t - 1) + 1;
    s = from < lo ? lo : (from > hi ? hi : from);
  }
  prow[0] = u[cidx[s]];
  for (int t = Tn; t < m.T; ++t) prow[t] = -1;
  score[n] = static_cast<double>(bh) + static_cast<double>(bl) + shift[n];
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_ALIGN_CUH
