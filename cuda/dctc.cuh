// dctc.cuh — DCTC (Zhang et al., AAAI 2024): z*, the distillation term, the gradient rows and the losses, on the FP32
// pipeline.
// Included by ctc.cu alone (one translation unit for the label operations' kernels and their launcher).
#ifndef SEQLOSS_CUDA_DCTC_CUH
#define SEQLOSS_CUDA_DCTC_CUH

#include "label_common.cuh"

namespace seqloss {
namespace cuda {
namespace {

// ---- DCTC on the FP32 pipeline ('ratio' and 'posterior') -----------------------------------------------------

// numerics.h's constants of z* as float-float pairs (compile-time).
constexpr float kRatioFloorHi = static_cast<float>(num::kRatioFloor);
constexpr float kRatioFloorLo = static_cast<float>(num::kRatioFloor - static_cast<double>(kRatioFloorHi));
constexpr double kTieFactor = 1.0 - num::kZTie;
constexpr float kTieHi = static_cast<float>(kTieFactor);
constexpr float kTieLo = static_cast<float>(kTieFactor - static_cast<double>(kTieHi));

// The near-tie rule's threshold (numerics.h tie_floor) on a float-float key.
__device__ inline void tie_floor_ff(float h, float l, float* th, float* tl) { ff_mul(h, l, kTieHi, kTieLo, th, tl); }
__device__ inline bool ff_ge(float ah, float al, float bh, float bl) { return !ff_less(ah, al, bh, bl); }

struct Dctc32Params {
  int32_t alignment;
  double beta, lambda, s, rs, sm;        // per-row arithmetic (double, once per row)
  FFPair sc, beta_ff, lambda_ff, rs_ff;  // per-element arithmetic
};

// As dctc_rows_kernel, on the FP32 pipeline's float-float posterior: z*_t by the near-tie rule on float-float keys
// (thread 0, three passes), the distillation terms once per row in double (thread 0; R_z over the other classes in a
// float-float block sum where P_z > 1/2), the dense gradient in float (in float-float per class where e^ℓ is
// large), the label's classes' brackets β (P − y') + λ (Q − e_z) in float-float.
__global__ void dctc32_rows_kernel(const float* __restrict__ x, Meta m, const float* __restrict__ M,
                                   const double* __restrict__ R, FFArr R32, FFArr Y, const int32_t* __restrict__ status,
                                   const int32_t* __restrict__ path, Dctc32Params prm, float* __restrict__ grad,
                                   int32_t* __restrict__ align, double* __restrict__ CE) {
  SEQLOSS_SHARED(int32_t, sh_jz, 2);
  SEQLOSS_SHARED(float, shf, 66);
  SEQLOSS_SHARED(float, shd, 8);  // q1 and ell as float-float pairs (0–1, 5–6), the dense factor (4); P_z > 1/2 (7)
  SEQLOSS_SHARED(double, sdd, 4);  // rho_z, and the distill terms ce, q1, ell
  const int64_t total = static_cast<int64_t>(m.N) * m.T;
  const float sf = prm.sc.hi;
  for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
    const int32_t n = static_cast<int32_t>(b / m.T);
    const int64_t t = b - static_cast<int64_t>(n) * m.T;
    const int64_t off = row_offset(m.layout, n, t, m.N, m.T, m.C);
    float* g = grad != nullptr ? grad + off : nullptr;
    const int32_t st = status[n];
    if (t >= m.Tn[n] || st == kNaN) {
      const bool valid = t < m.Tn[n];
      if (g != nullptr) {
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = valid ? NAN : 0.0f;
      }
      if (threadIdx.x == 0) {
        align[b] = valid ? m.blank : -1;
        if (valid) CE[m.roff[n] + t] = NAN;
      }
      continue;
    }
    const int64_t r = m.roff[n] + t;
    const bool ok = st == kSolved && m.S[n] > 0;
    const int32_t U = ok ? m.U[n] : 0;
    const int32_t* u = m.ucls + m.uoff[n];
    const int64_t yt = ok ? m.yoff[n] + t * U : 0;
    const float* row = x + off;
    const float mx = M[r], rh = R32.hi[r], rl = R32.lo[r];
    // ln P_j = s (x_j − m) − r as a float-float pair.
    auto lnp = [&](float xv, float* h, float* l) {
      two_diff(xv, mx, h, l);
      scale_ff(*h, *l, prm.sc.hi, prm.sc.lo, h, l);
      ff_add(*h, *l, -rh, -rl, h, l);
    };
    if (threadIdx.x == 0) {
      int32_t jz = -1;
      if (ok && prm.alignment == SEQLOSS_DCTC_VITERBI) {
        const int32_t zc = path[b];
        for (int32_t j = U - 1; j >= 0; --j) jz = u[j] == zc ? j : jz;
        if (jz < 0) jz = 0;  // no path (a row of -1): the blank (compact class 0), as the CPU backend
      } else if (ok) {
        // Keys (three passes over the compact classes, as dctc.cc near_tie_argmax), in float-float.
        auto key = [&](int32_t j, float* kh, float* kl) {
          const float yh = Y.hi[yt + j], yl = Y.lo[yt + j];
          if (prm.alignment != SEQLOSS_DCTC_RATIO) {
            *kh = yh;
            *kl = yl;
            return;
          }
          float ph, pl, ih, il;
          lnp(row[u[j]], &ph, &pl);
          xf32::to_ff(xf32::exp_ff(ph, pl), &ph, &pl);
          if (ff_less(ph, pl, kRatioFloorHi, kRatioFloorLo)) {
            ph = kRatioFloorHi;
            pl = kRatioFloorLo;
          }
          ff_recip(ph, pl, &ih, &il);
          ff_mul(yh, yl, ih, il, kh, kl);
        };
        float bh = 0.0f, bl = 0.0f;
        for (int32_t j = 0; j < U; ++j) {
          float kh, kl;
          key(j, &kh, &kl);
          if (ff_less(bh, bl, kh, kl)) {
            bh = kh;
            bl = kl;
          }
        }
        if (bh > 0.0f) {
          float fh, fl;
          tie_floor_ff(bh, bl, &fh, &fl);
          float ybh = 0.0f, ybl = 0.0f;
          for (int32_t j = 0; j < U; ++j) {
            float kh, kl;
            key(j, &kh, &kl);
            if (ff_ge(kh, kl, fh, fl) && ff_less(ybh, ybl, Y.hi[yt + j], Y.lo[yt + j])) {
              ybh = Y.hi[yt + j];
              ybl = Y.lo[yt + j];
            }
          }
          float yfh, yfl;
          tie_floor_ff(ybh, ybl, &yfh, &yfl);
          for (int32_t j = 0; j < U; ++j) {
            float kh, kl;
            key(j, &kh, &kl);
            if (ff_ge(kh, kl, fh, fl) && ff_ge(Y.hi[yt + j], Y.lo[yt + j], yfh, yfl) && (jz < 0 || u[j] < u[jz]))
              jz = j;
          }
        }
        if (jz < 0) jz = 0;  // y'_t = 0: the blank (compact class 0)
      }
      const int32_t z = jz >= 0 ? u[jz] : m.blank;
      sh_jz[0] = jz;
      sh_jz[1] = z;
      const double rho_z = (static_cast<double>(row[z]) - static_cast<double>(mx)) * prm.s;
      sdd[0] = rho_z;
      // P_z > 1/2 with a margin: R_z is summed over the other classes below (every thread).
      shd[7] = prm.sm != 0.0 && exp(rho_z - R[r]) > 0.5 ? 1.0f : 0.0f;
    }
    __syncthreads();
    const int32_t jz = sh_jz[0], z = sh_jz[1];
    double Rz_sum = 0.0;
    float x2 = -HUGE_VALF;
    if (shd[7] != 0.0f) {
      float v = -HUGE_VALF;
      for (int k = threadIdx.x; k < m.C; k += blockDim.x) v = k != z ? fmaxf(v, row[k]) : v;
      x2 = block_max(v, shf);
      float sh = 0.0f, sl = 0.0f;
      if (x2 != -HUGE_VALF) {
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) {
          if (k == z) continue;
          float ah, al;
          two_diff(row[k], x2, &ah, &al);
          scale_ff(ah, al, prm.sc.hi, prm.sc.lo, &ah, &al);
          // ah <= 0; where s (x − x2) overflows float, the pair is (−∞ or NaN, NaN): the term is 0 and adds nothing.
          const float e = expf(ah);
          if (e > 0.0f) ff_add(sh, sl, e, e * al, &sh, &sl);
        }
      }
      block_sum_ff(&sh, &sl, shf);
      Rz_sum = static_cast<double>(sh) + static_cast<double>(sl);
    }
    if (threadIdx.x == 0) {
      const double lr = R[r], rho_z = sdd[0];
      num::DistillTerms d;
      if (prm.sm == 0.0) {
        d = num::distill_plain(rho_z - lr);
      } else {
        double Rz;
        if (shd[7] == 0.0f) {
          Rz = num::rest_from_pz(lr, exp(rho_z - lr));
        } else {
          const double rho2 = (static_cast<double>(x2) - static_cast<double>(mx)) * prm.s;
          Rz = x2 == -HUGE_VALF ? neg_inf() : rho2 + log(Rz_sum);
        }
        d = num::distill_margin(rho_z, lr, Rz, prm.sm);
      }
      CE[r] = d.ce;
      align[b] = z;
      sdd[1] = d.ce;
      sdd[2] = d.q1;
      sdd[3] = d.ell;
      const double beta = ok ? prm.beta : 0.0;
      const double dense = prm.rs * (d.ell == 0.0 ? beta + prm.lambda : beta + prm.lambda * exp(d.ell));
      shd[0] = static_cast<float>(d.q1);
      shd[1] = static_cast<float>(d.q1 - static_cast<double>(shd[0]));
      shd[4] = static_cast<float>(dense);
      shd[5] = static_cast<float>(d.ell);
      shd[6] = static_cast<float>(d.ell - static_cast<double>(shd[5]));
    }
    __syncthreads();
    if (g != nullptr) {
      const bool big = sdd[3] > num::kDenseFactorLog;
      const FFPair beta = ok ? prm.beta_ff : FFPair{0.0f, 0.0f};
      if (!big) {
        const float dense = shd[4], lrf = rh;
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = expf((row[k] - mx) * sf - lrf) * dense;
      } else {
        // Q_k = P_k e^ell with e^ell large: each class in float-float (P_k may underflow float where Q_k does not).
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) {
          float ph, pl, qh, ql, vh, vl, wh, wl;
          lnp(row[k], &ph, &pl);
          ff_add(ph, pl, shd[5], shd[6], &qh, &ql);
          xf32::to_ff(xf32::exp_ff(ph, pl), &ph, &pl);
          xf32::to_ff(xf32::exp_ff(qh, ql), &qh, &ql);
          ff_mul(beta.hi, beta.lo, ph, pl, &vh, &vl);
          ff_mul(prm.lambda_ff.hi, prm.lambda_ff.lo, qh, ql, &wh, &wl);
          ff_add(vh, vl, wh, wl, &vh, &vl);
          ff_mul(vh, vl, prm.rs_ff.hi, prm.rs_ff.lo, &vh, &vl);
          g[k] = vh + vl;
        }
      }
      __syncthreads();
      if (ok) {
        const bool plain = sdd[3] == 0.0;
        for (int j = threadIdx.x; j < U; j += blockDim.x) {
          // β (P − y') + λ q, q = −q1 at z, else P (ell = 0) or P e^ell.
          float ph, pl, dh, dl, qh, ql;
          lnp(row[u[j]], &ph, &pl);
          xf32::to_ff(xf32::exp_ff(ph, pl), &ph, &pl);
          ff_add(ph, pl, -Y.hi[yt + j], -Y.lo[yt + j], &dh, &dl);
          ff_mul(dh, dl, prm.beta_ff.hi, prm.beta_ff.lo, &dh, &dl);
          if (j == jz) {
            qh = -shd[0];
            ql = -shd[1];
          } else if (plain) {
            qh = ph;
            ql = pl;
          } else {
            // Q_j = e^(ln P_j + ell): from the logs, as e^ell alone may overflow where Q_j does not.
            float lh, ll;
            lnp(row[u[j]], &lh, &ll);
            ff_add(lh, ll, shd[5], shd[6], &lh, &ll);
            xf32::to_ff(xf32::exp_ff(lh, ll), &qh, &ql);
          }
          ff_mul(qh, ql, prm.lambda_ff.hi, prm.lambda_ff.lo, &qh, &ql);
          ff_add(dh, dl, qh, ql, &dh, &dl);
          ff_mul(dh, dl, prm.rs_ff.hi, prm.rs_ff.lo, &dh, &dl);
          g[u[j]] = dh + dl;
        }
      } else if (threadIdx.x == 0) {
        g[z] = static_cast<float>(prm.rs * prm.lambda * -sdd[2]);
      }
    }
    __syncthreads();
  }
}

// Per sequence: distill_n = Σ_t CE_t (frames in order), ctc_n (≥ 0: the input is logits), and
// L_n = β ctc_n + λ distill_n (the CTC term left out when β = 0); all NaN for a NaN sequence. out: 3 x N doubles
// (L_n, ctc_n, distill_n).
__global__ void dctc_losses_kernel(Meta m, const double* __restrict__ logp, const double* __restrict__ shift,
                                   const double* __restrict__ CE, double beta, double lambda, int32_t zero_infinity,
                                   double* __restrict__ out) {
  const int32_t n = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (n >= m.N) return;
  double distill = 0.0;
  for (int64_t r = m.roff[n]; r < m.roff[n + 1]; ++r) distill += CE[r];
  const bool ok = m.S[n] > 0 && logp[n] != neg_inf();
  double ctc = ok ? num::ctc_nll(logp[n], shift[n], true) : (zero_infinity != 0 ? 0.0 : HUGE_VAL);
  if (shift[n] != shift[n]) ctc = distill = NAN;
  out[n] = num::dctc_total(beta, lambda, ctc, distill);
  out[m.N + n] = ctc;
  out[2 * m.N + n] = distill;
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_DCTC_CUH
