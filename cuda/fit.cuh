// fit.cuh — the iterative-fitting modifications α and γ (Li & Wang, Eq. 13–18) of CTC's target y', on the FP32
// pipeline.
// Included by ctc.cu alone (one translation unit for the label operations' kernels and their launcher).
#ifndef SEQLOSS_CUDA_FIT_CUH
#define SEQLOSS_CUDA_FIT_CUH

#include "label_common.cuh"

namespace seqloss {
namespace cuda {
namespace {

// ---- the iterative-fitting modifications (Li & Wang): what stays in double, once per class or frame ----------

// L over the batch (Eq. 14's total), in sequence order; solvable sequences only.
__global__ void fit_batch_l_kernel(Meta m, const double* __restrict__ logp, double* __restrict__ Lb) {
  double l = 0.0;
  for (int32_t n = 0; n < m.N; ++n) l += solvable(m, logp, n) ? m.L[n] : 0;
  *Lb = l;
}

// The factor of every compact class (Eq. 15). Batch scope: one thread per class that occurs, summing V_k and N_k
// over its (sequence, compact class) items in sequence order. Sequence scope: one thread per compact class.
// fac32: the factors also as float-float pairs, for fit32_rows.
__global__ void fit_factor_kernel(Meta m, double alpha, int32_t scope, const double* __restrict__ logp,
                                  const double* __restrict__ V, const double* __restrict__ Lb, double* __restrict__ fac,
                                  FFArr fac32) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (scope == SEQLOSS_FIT_SCOPE_BATCH) {
    if (i >= m.nbclass) return;
    const int32_t c = m.bclass[i];
    double Vb = 0.0, Nb = 0.0;
    for (int32_t k = m.bstart[i]; k < m.bstart[i + 1]; ++k) {
      const int32_t g = m.bitem[k];
      if (!solvable(m, logp, m.cseq[g])) continue;
      Vb += V[g];
      Nb += m.ncount[g];
    }
    const double f = num::fit_alpha_factor(alpha, c == m.blank, Nb, *Lb, Vb);
    for (int32_t k = m.bstart[i]; k < m.bstart[i + 1]; ++k) {
      fac[m.bitem[k]] = f;
      if (fac32.hi != nullptr) to_ff_pair(f, &fac32.hi[m.bitem[k]], &fac32.lo[m.bitem[k]]);
    }
  } else {
    if (i >= m.utotal) return;
    const int32_t n = m.cseq[i];
    fac[i] = num::fit_alpha_factor(alpha, i == m.uoff[n], m.ncount[i], m.L[n], V[i]);
    if (fac32.hi != nullptr) to_ff_pair(fac[i], &fac32.hi[i], &fac32.lo[i]);
  }
}

// Eq. 17 per sequence: ŵ_t = T_n w_t^γ / Σ_{t'} w_t'^γ, 1 on every frame when the sum is 0.
// W32: ŵ_t also as float-float pairs, for ctc32_rows.
__global__ void fit_gamma_kernel(Meta m, const double* __restrict__ logp, double gamma, double* __restrict__ W,
                                 FFArr W32) {
  SEQLOSS_SHARED(double, sh, 33);
  const int32_t n = blockIdx.x;
  if (!solvable(m, logp, n)) return;
  const int32_t Tn = m.Tn[n];
  double* w = W + m.roff[n];
  double part = 0.0;
  for (int t = threadIdx.x; t < Tn; t += blockDim.x) {
    const double wg = gamma == 1.0 ? w[t] : pow(w[t], gamma);
    w[t] = wg;
    part += wg;
  }
  const double sum = block_sum(part, sh);
  for (int t = threadIdx.x; t < Tn; t += blockDim.x) {
    w[t] = num::fit_gamma_normalised(w[t], sum, static_cast<double>(Tn));
    if (W32.hi != nullptr) to_ff_pair(w[t], &W32.hi[m.roff[n] + t], &W32.lo[m.roff[n] + t]);
  }
}

// ---- the fit on the FP32 pipeline -------------------------------------------------------------------------------
// The fit's per-class and per-frame arithmetic (V_k, the factors of Eq. 15, w_t^γ and Eq. 17's normalisation)
// stays in double: it runs once per class or frame. Its per-element work — Eq. 16 on every compact value, Eq. 18's
// max_k (y'_tk − y_tk) — is float-float, as the recursions.

// Eq. 13 per sequence and compact class: V = Σ_{t<T_n} y'_tj (frames in order, float-float), to double.
__global__ void fit32_vsum_kernel(Meta m, FFArr Y, double* __restrict__ V) {
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= m.utotal) return;
  const int32_t n = m.cseq[g];
  const int64_t at = m.yoff[n] + (g - m.uoff[n]);
  const int32_t U = m.U[n], Tn = m.Tn[n];
  float h = 0.0f, l = 0.0f;
  for (int32_t t = 0; t < Tn; ++t)
    ff_add(h, l, Y.hi[at + static_cast<int64_t>(t) * U], Y.lo[at + static_cast<int64_t>(t) * U], &h, &l);
  V[g] = static_cast<double>(h) + static_cast<double>(l);
}

// The float-float sum (and maximum) over a warp, in a fixed shuffle tree.
__device__ inline void warp_sum_ff(float* h, float* l) {
  for (int o = 16; o > 0; o >>= 1) {
    const float oh = __shfl_xor_sync(0xffffffffu, *h, o), ol = __shfl_xor_sync(0xffffffffu, *l, o);
    ff_add(*h, *l, oh, ol, h, l);
  }
}
__device__ inline void warp_max_ff(float* h, float* l) {
  for (int o = 16; o > 0; o >>= 1) {
    const float oh = __shfl_xor_sync(0xffffffffu, *h, o), ol = __shfl_xor_sync(0xffffffffu, *l, o);
    if (ff_less(*h, *l, oh, ol)) {
      *h = oh;
      *l = ol;
    }
  }
}

// One warp per valid row: α (Eq. 16: y'_j ← f_j y'_j / Σ f y', 0 when the sum is 0) in place, and γ's
// w_t = max(0, max_j (y'_tj − y_tj)) (Eq. 18; the classes outside the compact set only contribute −y ≤ 0) into W.
__global__ void fit32_rows_kernel(const float* __restrict__ x, Meta m, int32_t alpha_on, int32_t scope,
                                  const double* __restrict__ Lb, const int32_t* __restrict__ status,
                                  const float* __restrict__ M, FFArr R32, FFArr fac, FFArr Y, double* __restrict__ W) {
  const int lane = threadIdx.x;
  for (int64_t r = blockIdx.x; r < m.rows; r += gridDim.x) {
    const int32_t n = seq_of_row(m.roff, m.N, r);
    if (status[n] != kSolved || m.S[n] == 0) {
      if (W != nullptr && lane == 0) W[r] = 0.0;
      continue;
    }
    const int64_t t = r - m.roff[n];
    const int32_t U = m.U[n];
    const int64_t yt = m.yoff[n] + t * U, f0 = m.uoff[n];
    const bool on = alpha_on != 0 && (scope == SEQLOSS_FIT_SCOPE_BATCH ? *Lb > 0.0 : m.L[n] > 0);
    if (on) {
      float sh = 0.0f, sl = 0.0f;
      for (int j = lane; j < U; j += 32) {
        float ph, pl;
        ff_mul(fac.hi[f0 + j], fac.lo[f0 + j], Y.hi[yt + j], Y.lo[yt + j], &ph, &pl);
        ff_add(sh, sl, ph, pl, &sh, &sl);
      }
      warp_sum_ff(&sh, &sl);
      float ih = 0.0f, il = 0.0f;
      if (sh != 0.0f) ff_recip(sh, sl, &ih, &il);
      for (int j = lane; j < U; j += 32) {
        float ph, pl;
        ff_mul(fac.hi[f0 + j], fac.lo[f0 + j], Y.hi[yt + j], Y.lo[yt + j], &ph, &pl);
        ff_mul(ph, pl, ih, il, &Y.hi[yt + j], &Y.lo[yt + j]);
      }
    }
    if (W != nullptr) {
      const int32_t* u = m.ucls + m.uoff[n];
      const float* row = x + row_offset(m.layout, n, t, m.N, m.T, m.C);
      float wh = 0.0f, wl = 0.0f;
      for (int j = lane; j < U; j += 32) {
        float ph, pl, dh, dl;
        softmax_ff(row[u[j]], M[r], R32.hi[r], R32.lo[r], &ph, &pl);
        ff_add(Y.hi[yt + j], Y.lo[yt + j], -ph, -pl, &dh, &dl);
        if (ff_less(wh, wl, dh, dl)) {
          wh = dh;
          wl = dl;
        }
      }
      warp_max_ff(&wh, &wl);
      if (lane == 0) W[r] = static_cast<double>(wh) + static_cast<double>(wl);
    }
  }
}

// One block per row (n, t) of the N x T grid, for γ (the weight ŵ_t scales the whole row): the gradient
// c·(softmax(x_t) − y'_t) with c = scale·ŵ_t, the dense part in float, the label's classes in float-float; the
// posterior's label classes y'_t (ctc32_stats wrote its zeros). Rows t >= T_n and rows of unsolved sequences filled
// as ctc32_patch does.
__global__ void ctc32_rows_kernel(const float* __restrict__ x, Meta m, const float* __restrict__ M, FFArr R32, FFArr Y,
                                  FFArr W32, const int32_t* __restrict__ status, int32_t mean, float* __restrict__ grad,
                                  float* __restrict__ post) {
  const int64_t total = static_cast<int64_t>(m.N) * m.T;
  for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
    const int32_t n = static_cast<int32_t>(b / m.T);
    const int64_t t = b - static_cast<int64_t>(n) * m.T;
    const int64_t off = row_offset(m.layout, n, t, m.N, m.T, m.C);
    float* g = grad != nullptr ? grad + off : nullptr;
    float* q = post != nullptr ? post + off : nullptr;
    if (fill_unsolved_row(m, n, t, status[n], g, q, threadIdx.x, blockDim.x)) continue;
    const int64_t r = m.roff[n] + t;
    const int32_t U = m.U[n];
    const int32_t* u = m.ucls + m.uoff[n];
    const int64_t yt = m.yoff[n] + t * U;
    const float* row = x + off;
    const float mx = M[r], rh = R32.hi[r], rl = R32.lo[r];
    float ch, cl;  // c = scale·ŵ_t
    ff_mul(W32.hi[r], W32.lo[r], reduction_scale32(m, n, mean), 0.0f, &ch, &cl);
    if (g != nullptr) {
      for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = expf((row[k] - mx) - rh) * ch;
      __syncthreads();
      for (int j = threadIdx.x; j < U; j += blockDim.x) {
        float ph, pl, dh, dl;
        softmax_ff(row[u[j]], mx, rh, rl, &ph, &pl);
        ff_add(ph, pl, -Y.hi[yt + j], -Y.lo[yt + j], &dh, &dl);
        ff_mul(dh, dl, ch, cl, &dh, &dl);
        g[u[j]] = dh + dl;
      }
    }
    if (q != nullptr) {
      for (int j = threadIdx.x; j < U; j += blockDim.x) q[u[j]] = Y.hi[yt + j] + Y.lo[yt + j];
    }
    __syncthreads();
  }
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_FIT_CUH
