// ctc.cu — CTC (Graves et al. 2006) with its gradient and posterior, the iterative-fitting modifications α and γ
// (Li & Wang, Eq. 13–18), DCTC (Zhang et al., AAAI 2024) and the Viterbi alignment, on the GPU. Which kernels a
// call runs, and how, is its launch plan (plan.h, plan.cc); run_label_op launches the plan's steps in order.
//
// The logits are the big array; everything else works on per-sequence compact arrays (labels.h), in extended-range
// FP32 on every device (xfloat32.cuh; "CTC in extended-range FP32" below): ctc32_stats (the one read of the logits
// before the gradient: row statistics, the compact emissions, for plain CTC the dense gradient rows), shift, then
// alpha32 / beta32 (the forward variable α_t(s) and β'_t(s), rows in shared memory) and, by operation:
//  - CTC: ctc32_patch (the label's classes), or for the fit fit32_vsum, fit_batch_l, fit_factor, fit32_rows,
//    fit_gamma and then ctc32_patch or, with γ (ŵ_t scales whole rows), ctc32_rows;
//  - DCTC: [viterbi32,] dctc32_rows (z*, the distillation term, the gradient row) and dctc_losses;
//  - ctcAlign: viterbi32 alone.
// No FP64 in any per-state or per-element step; what runs in double runs once per row, class or sequence.
// (The forward variable α_t(s) is not the paper's α of the fit, the labels' share of y': the code calls that one
// fit_alpha.)
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backend.h"
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
  const int32_t* Tn;
  const int32_t* L;
  const int32_t* S;
  const int32_t* U;
  const int64_t* roff;
  const int64_t* yoff;
  const int64_t* aoff;
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

// ---- the iterative-fitting modifications (Li & Wang): what stays in double, once per class or frame ----------

// A double as a float-float pair (once per class or frame, for the FP32 pipeline's per-element work).
__device__ inline void to_ff_pair(double v, float* hi, float* lo) {
  const float h = static_cast<float>(v);
  *hi = h;
  *lo = static_cast<float>(v - static_cast<double>(h));
}

__device__ inline bool solvable(const Meta& m, const double* logp, int32_t n) {
  return m.S[n] > 0 && m.Tn[n] > 0 && logp[n] != neg_inf() && logp[n] == logp[n];
}

// L over the batch (Eq. 14's total), in sequence order; solvable sequences only.
__global__ void fit_batch_l_kernel(Meta m, const double* __restrict__ logp, double* __restrict__ Lb) {
  double l = 0.0;
  for (int32_t n = 0; n < m.N; ++n) l += solvable(m, logp, n) ? m.L[n] : 0;
  *Lb = l;
}

// The factor of every compact class (Eq. 15). Batch scope: one thread per class that occurs, summing V_k and N_k
// over its (sequence, compact class) items in sequence order. Sequence scope: one thread per compact class.
// fac32 (the FP32 pipeline; hi null otherwise): the factors also as float-float pairs.
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
// W32 (the FP32 pipeline; hi null otherwise): ŵ_t also as float-float pairs.
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

// ---- CTC in extended-range FP32 ------------------------------------------------------------------------------
// Plain CTC (no fit) runs here on every device: no FP64 in any per-state or per-element step (xfloat32.cuh:
// float-float mantissas, int32 exponents), the recursion rows in shared memory, and the dense gradient written
// during the one read of the logits.
//  1. ctc32_stats: per valid row the max m_t, r_t = ln Σ_k e^(x_tk − m_t) (a float-float sum, its log in double
//     once per row), the compact emissions e^ρ (ρ = x − m as an exact float-float pair), and the dense rows:
//     scale·softmax (logits), scale·e^x (log-probs, PyTorch's convention) or 0 (log-probs), zero posterior rows.
//  2. alpha32 / beta32: the recursions of ctc_kernel.h in xfloat32, one block per sequence, the two rows in shared
//     memory (in the workspace beyond kRowCap states); α goes to the lattice for β; β sums the frame posterior per
//     compact class in state order (no atomics), normalised by the frame's own total, in float-float.
//  3. ctc32_patch: one warp per row: the U classes of the label patched, scale·(P − y') in float-float, and y' into
//     the posterior; rows t >= T_n and rows of sequences without a path filled (0, NaN for a NaN sequence).

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

__device__ inline xf32::X xget(const XArr& a, int64_t i) { return xf32::X{a.hi[i], a.lo[i], a.k[i]}; }
__device__ inline void xset(const XArr& a, int64_t i, const xf32::X& v) {
  a.hi[i] = v.hi;
  a.lo[i] = v.lo;
  a.k[i] = v.k;
}

// sc: DCTC's logit scale s as a float-float pair ({1, 0} otherwise): ρ = s (x − m) in float-float, the row sum
// over e^(s (x − m)) in float terms (as row_stats).
// Rho (hi null: not asked for): the relative log-probabilities ρ themselves, for the Viterbi recursion (−∞ below
// −1e8, as (−∞, 0)). E.hi null: no emissions (ctcAlign).
__global__ void ctc32_stats_kernel(const float* __restrict__ x, Meta m, int32_t mean, int32_t pytorch, FFPair sc,
                                   float* __restrict__ M, double* __restrict__ R, FFArr R32, XArr E, FFArr Rho,
                                   float* __restrict__ grad, float* __restrict__ post) {
  SEQLOSS_SHARED(float, shf, 66);
  SEQLOSS_SHARED(float, shr, 1);
  const bool logits = m.input == SEQLOSS_INPUT_LOGITS;
  for (int64_t r = blockIdx.x; r < m.rows; r += gridDim.x) {
    const int32_t n = seq_of_row(m.roff, m.N, r);
    const int64_t t = r - m.roff[n];
    const int64_t off = row_offset(m.layout, n, t, m.N, m.T, m.C);
    const float* row = x + off;
    float v = -HUGE_VALF;
    for (int k = threadIdx.x; k < m.C; k += blockDim.x) v = fmaxf(v, row[k]);
    const float mx = block_max(v, shf);
    if (logits) {
      // NaN, +inf (inf − inf) and a row of −inf (−inf − −inf) all make the sum NaN.
      float hi = 0.0f, lo = 0.0f;
      for (int k = threadIdx.x; k < m.C; k += blockDim.x) ff_add(hi, lo, expf((row[k] - mx) * sc.hi), 0.0f, &hi, &lo);
      block_sum_ff(&hi, &lo, shf);
      if (threadIdx.x == 0) {
        const double lr = log(static_cast<double>(hi) + static_cast<double>(lo));
        const float rh = static_cast<float>(lr);
        M[r] = mx;
        R[r] = lr;
        R32.hi[r] = rh;
        R32.lo[r] = static_cast<float>(lr - static_cast<double>(rh));
        shr[0] = rh;
      }
    } else {
      float bad = 0.0f, lo = 0.0f;
      for (int k = threadIdx.x; k < m.C; k += blockDim.x)
        bad += (row[k] != row[k] || row[k] == HUGE_VALF) ? 1.0f : 0.0f;
      block_sum_ff(&bad, &lo, shf);
      if (threadIdx.x == 0) {
        M[r] = mx;
        R[r] = bad != 0.0f ? NAN : static_cast<double>(mx);
        R32.hi[r] = mx;
        R32.lo[r] = 0.0f;
        shr[0] = 0.0f;
      }
    }
    __syncthreads();
    const float lr = shr[0];
    const int32_t U = m.U[n];
    if (U > 0) {
      const int32_t* u = m.ucls + m.uoff[n];
      const int64_t at = m.yoff[n] + t * U;
      for (int j = threadIdx.x; j < U; j += blockDim.x) {
        float hi = -HUGE_VALF, lo = 0.0f;
        if (logits || mx != -HUGE_VALF) {  // a log-probs frame of −∞: no path
          two_diff(row[u[j]], mx, &hi, &lo);
          scale_ff(hi, lo, sc.hi, sc.lo, &hi, &lo);
        }
        if (E.hi != nullptr) xset(E, at + j, xf32::exp_ff(hi, lo));
        if (Rho.hi != nullptr) {
          const bool zero = !(hi >= static_cast<float>(num::kLogZero));  // below −1e8, −∞ (and NaN: never read)
          Rho.hi[at + j] = zero ? -HUGE_VALF : hi;
          Rho.lo[at + j] = zero ? 0.0f : lo;
        }
      }
    }
    // The dense rows (the label's classes are patched by ctc32_patch once y' is known).
    if (grad != nullptr) {
      float* g = grad + off;
      const float cf = m.S[n] > 0 ? reduction_scale32(m, n, mean) : 0.0f;
      if (logits) {
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = expf((row[k] - mx) - lr) * cf;
      } else if (pytorch != 0) {
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = expf(row[k]) * cf;
      } else {
        for (int k = threadIdx.x; k < m.C; k += blockDim.x) g[k] = 0.0f;
      }
    }
    if (post != nullptr) {
      float* q = post + off;
      for (int k = threadIdx.x; k < m.C; k += blockDim.x) q[k] = 0.0f;
    }
    __syncthreads();
  }
}

// Two rows of xfloat32 values in shared memory (Smem) or in the workspace (plain pointers), swapped per frame.
template <class F, class I>
struct Rows2 {
  F h0, l0;
  I k0;
  F h1, l1;
  I k1;
  __device__ xf32::X get(bool second, int s) const {
    return second ? xf32::X{h1[s], l1[s], k1[s]} : xf32::X{h0[s], l0[s], k0[s]};
  }
  __device__ void set(bool second, int s, const xf32::X& v) const {
    if (second) {
      h1[s] = v.hi;
      l1[s] = v.lo;
      k1[s] = v.k;
    } else {
      h0[s] = v.hi;
      l0[s] = v.lo;
      k0[s] = v.k;
    }
  }
};

// The workspace rows of sequence n (6 arrays of S at 6·soff).
__device__ inline Rows2<float*, int32_t*> work_rows(float* work, const Meta& m, int32_t n) {
  const int32_t S = m.S[n];
  float* w = work + 6 * m.soff[n];
  int32_t* wk = reinterpret_cast<int32_t*>(w);
  return Rows2<float*, int32_t*>{w + S, w + 2 * S, wk, w + 4 * S, w + 5 * S, wk + 3 * S};
}

// α_0(s) = e_0(s) for s < 2; α_t(s) = e_t(s) (α_{t−1}(s) + α_{t−1}(s−1) + [α_{t−1}(s−2)]) (ctc_kernel.h step 2), rows
// (t & 1) in `rows`, every row also to the lattice A for beta32. Returns (to thread 0) p_ρ(l) = α_{T−1}(S−1) +
// α_{T−1}(S−2).
template <class Rw>
__device__ inline xf32::X alpha32_rows(const Meta& m, int32_t n, const XArr& E, const XArr& A, const Rw& rows) {
  const int32_t S = m.S[n], Tn = m.Tn[n], U = m.U[n];
  const int64_t e0 = m.yoff[n], a0 = m.aoff[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  const uint8_t* skip = m.skip + m.soff[n];
  for (int s = threadIdx.x; s < S; s += blockDim.x) {
    const xf32::X v = s < 2 ? xget(E, e0 + cidx[s]) : xf32::zero();
    rows.set(false, s, v);
    xset(A, a0 + s, v);
  }
  __syncthreads();
  for (int32_t t = 1; t < Tn; ++t) {
    const bool odd = (t & 1) != 0;  // row t & 1 is written, row (t − 1) & 1 read
    const int64_t et = e0 + static_cast<int64_t>(t) * U;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
      const xf32::X a = rows.get(!odd, s);
      const xf32::X b = s >= 1 ? rows.get(!odd, s - 1) : xf32::zero();
      const xf32::X c = skip[s] != 0 ? rows.get(!odd, s - 2) : xf32::zero();
      const xf32::X v = xf32::mul(xf32::add3(a, b, c), xget(E, et + cidx[s]));
      rows.set(odd, s, v);
      xset(A, a0 + static_cast<int64_t>(t) * S + s, v);
    }
    __syncthreads();
  }
  xf32::X p = xf32::zero();
  if (threadIdx.x == 0) {
    const bool odd = ((Tn - 1) & 1) != 0;
    p = xf32::add3(rows.get(odd, S - 1), S > 1 ? rows.get(odd, S - 2) : xf32::zero(), xf32::zero());
  }
  return p;
}

// What the FP32 kernels after the forward read of a sequence, instead of comparing doubles: kSolved, kNoPath
// (statically infeasible, or p = 0), kNaN (a NaN or +∞ in a valid frame).
constexpr int32_t kSolved = 0, kNoPath = 1, kNaN = 2;

// logp[n] = ln p_ρ(l), as alpha_kernel; status[n] as above.
__global__ void alpha32_kernel(Meta m, XArr E, const double* __restrict__ shift, XArr A, float* __restrict__ work,
                               double* __restrict__ logp, int32_t* __restrict__ status) {
  SEQLOSS_SHARED(float, h0, kRowCap);
  SEQLOSS_SHARED(float, l0, kRowCap);
  SEQLOSS_SHARED(int32_t, k0, kRowCap);
  SEQLOSS_SHARED(float, h1, kRowCap);
  SEQLOSS_SHARED(float, l1, kRowCap);
  SEQLOSS_SHARED(int32_t, k1, kRowCap);
  const int32_t n = blockIdx.x;
  const int32_t S = m.S[n], Tn = m.Tn[n];
  if (shift[n] != shift[n]) {
    if (threadIdx.x == 0) {
      logp[n] = NAN;
      status[n] = kNaN;
    }
    return;
  }
  if (S == 0 || Tn == 0) {
    if (threadIdx.x == 0) {
      logp[n] = S == 0 ? neg_inf() : 0.0;
      status[n] = S == 0 ? kNoPath : kSolved;
    }
    return;
  }
  xf32::X p;
  if (S <= kRowCap) {
    p = alpha32_rows(m, n, E, A, Rows2<Smem<float>, Smem<int32_t>>{h0, l0, k0, h1, l1, k1});
  } else {
    p = alpha32_rows(m, n, E, A, work_rows(work, m, n));
  }
  if (threadIdx.x == 0) {
    logp[n] = xf32::to_log(p);
    status[n] = p.hi == 0.0f ? kNoPath : kSolved;
  }
}

// β'_t(s) (emission at t excluded): 1 at t = T−1 for s >= S−2, else Σ over s, s+1, [s+2] of e_{t+1}(s')·β'_{t+1}(s')
// (rows (t+1) & 1 of `rows` hold e·β'). γ_t(s) = α_t(s) β'_t(s) / p as a float-float pair into (Gh, Gl); y'_t: the
// blank over the even states and the frame total in one fixed-tree sum, each label class over its states in state
// order, times 1 / total; stored as float-float pairs (yh, yl).
template <class Rw, class G>
__device__ inline void beta32_rows(const Meta& m, int32_t n, const XArr& E, const XArr& A, const xf32::X& p,
                                   float* __restrict__ yh, float* __restrict__ yl, const Rw& rows, G Gh, G Gl,
                                   Smem<float> shf) {
  const int32_t S = m.S[n], Tn = m.Tn[n], U = m.U[n];
  const int64_t e0 = m.yoff[n], a0 = m.aoff[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  const uint8_t* skip = m.skip + m.soff[n];
  const int64_t g0 = m.uoff[n];
  float pih, pil;
  ff_recip(p.hi, p.lo, &pih, &pil);
  const xf32::X pinv{pih, pil, -p.k};
  for (int32_t t = Tn - 1; t >= 0; --t) {
    const bool odd = (t & 1) != 0;  // row t & 1 is written, row (t + 1) & 1 read
    const int64_t et = e0 + static_cast<int64_t>(t) * U;
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
      xf32::X b;
      if (t == Tn - 1) {
        b = s >= S - 2 ? xf32::one() : xf32::zero();
      } else {
        b = xf32::add3(rows.get(!odd, s), s + 1 < S ? rows.get(!odd, s + 1) : xf32::zero(),
                       s + 2 < S && skip[s + 2] != 0 ? rows.get(!odd, s + 2) : xf32::zero());
      }
      float gh, gl;
      xf32::to_ff(xf32::mul(xf32::mul(xget(A, a0 + static_cast<int64_t>(t) * S + s), b), pinv), &gh, &gl);
      Gh[s] = gh;
      Gl[s] = gl;
      rows.set(odd, s, xf32::mul(b, xget(E, et + cidx[s])));
    }
    __syncthreads();
    float ah = 0.0f, al = 0.0f, bh = 0.0f, bl = 0.0f;
    for (int i = threadIdx.x; i < S; i += blockDim.x) {
      const float h = Gh[i], l = Gl[i];
      ff_add(ah, al, h, l, &ah, &al);
      if ((i & 1) == 0) ff_add(bh, bl, h, l, &bh, &bl);
    }
    block_sum_ff2(&ah, &al, &bh, &bl, shf);
    float ih = 1.0f, il = 0.0f;
    if (ah > 0.0f) ff_recip(ah, al, &ih, &il);
    const int64_t yt = static_cast<int64_t>(t) * U;
    if (threadIdx.x == 0) ff_mul(bh, bl, ih, il, &yh[yt], &yl[yt]);
    for (int j = 1 + threadIdx.x; j < U; j += blockDim.x) {
      float vh = 0.0f, vl = 0.0f;
      for (int32_t i = m.cs_start[g0 + j]; i < m.cs_start[g0 + j + 1]; ++i) {
        ff_add(vh, vl, Gh[m.cs_state[i]], Gl[m.cs_state[i]], &vh, &vl);
      }
      ff_mul(vh, vl, ih, il, &yh[yt + j], &yl[yt + j]);
    }
    __syncthreads();
  }
}

// y' of every frame (compact, float-float); all 0 for a sequence without a path, untouched for a NaN one. work: as
// alpha32's rows (6 arrays of S at 6·soff), then γ (2 arrays of S at 6·stotal + 2·soff).
__global__ void beta32_kernel(Meta m, XArr E, XArr A, const int32_t* __restrict__ status, FFArr Y,
                              float* __restrict__ work) {
  SEQLOSS_SHARED(float, shf, 132);
  SEQLOSS_SHARED(float, h0, kRowCap);
  SEQLOSS_SHARED(float, l0, kRowCap);
  SEQLOSS_SHARED(int32_t, k0, kRowCap);
  SEQLOSS_SHARED(float, h1, kRowCap);
  SEQLOSS_SHARED(float, l1, kRowCap);
  SEQLOSS_SHARED(int32_t, k1, kRowCap);
  SEQLOSS_SHARED(float, Gh, kRowCap);
  SEQLOSS_SHARED(float, Gl, kRowCap);
  SEQLOSS_SHARED(float, ph, 2);
  SEQLOSS_SHARED(int32_t, pk, 1);
  const int32_t n = blockIdx.x;
  const int32_t S = m.S[n], Tn = m.Tn[n];
  if (S == 0 || Tn == 0) return;
  const int32_t U = m.U[n];
  float* yh = Y.hi + m.yoff[n];
  float* yl = Y.lo + m.yoff[n];
  const int32_t st = status[n];
  if (st == kNaN) return;  // y' is not read
  if (st == kNoPath) {
    for (int64_t i = threadIdx.x; i < static_cast<int64_t>(Tn) * U; i += blockDim.x) yh[i] = yl[i] = 0.0f;
    return;
  }
  // p_ρ(l) again from the lattice's last row (the same operation as alpha32's, so bitwise its value).
  if (threadIdx.x == 0) {
    const int64_t last = m.aoff[n] + static_cast<int64_t>(Tn - 1) * S;
    const xf32::X p = xf32::add3(xget(A, last + S - 1), S > 1 ? xget(A, last + S - 2) : xf32::zero(), xf32::zero());
    ph[0] = p.hi;
    ph[1] = p.lo;
    pk[0] = p.k;
  }
  __syncthreads();
  const xf32::X p{ph[0], ph[1], pk[0]};
  if (S <= kRowCap) {
    beta32_rows(m, n, E, A, p, yh, yl, Rows2<Smem<float>, Smem<int32_t>>{h0, l0, k0, h1, l1, k1}, Gh, Gl, shf);
  } else {
    float* g = work + 6 * m.stotal + 2 * m.soff[n];
    beta32_rows(m, n, E, A, p, yh, yl, work_rows(work, m, n), g, g + S, shf);
  }
}

// One warp per row (n, t) of the N x T grid, kPatchRows rows per block: the label's classes of the gradient,
// scale·(P_j − y'_j) with P_j = e^(ρ_j − r_t) in float-float (log-probs: −scale·y'_j, or scale·(e^x − y'_j) with
// `pytorch`), and y' into the posterior; rows t >= T_n and rows of sequences without a path filled with 0 (NaN rows
// t < T_n for a NaN sequence).
__global__ void ctc32_patch_kernel(const float* __restrict__ x, Meta m, const float* __restrict__ M, FFArr R32, FFArr Y,
                                   const int32_t* __restrict__ status, int32_t mean, int32_t pytorch,
                                   float* __restrict__ grad, float* __restrict__ post) {
  const bool logits = m.input == SEQLOSS_INPUT_LOGITS;
  const int lane = threadIdx.x & 31;
  const int64_t total = static_cast<int64_t>(m.N) * m.T;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * kPatchRows + (threadIdx.x >> 5); b < total;
       b += static_cast<int64_t>(gridDim.x) * kPatchRows) {
    const int32_t n = static_cast<int32_t>(b / m.T);
    const int64_t t = b - static_cast<int64_t>(n) * m.T;
    const int64_t off = row_offset(m.layout, n, t, m.N, m.T, m.C);
    float* g = grad != nullptr ? grad + off : nullptr;
    float* q = post != nullptr ? post + off : nullptr;
    const int32_t st = status[n];
    if (t >= m.Tn[n] || st != kSolved) {
      const float v = t < m.Tn[n] && st == kNaN ? NAN : 0.0f;
      for (int k = lane; k < m.C; k += 32) {
        if (g != nullptr) g[k] = v;
        if (q != nullptr) q[k] = v;
      }
      continue;
    }
    const int64_t r = m.roff[n] + t;
    const int32_t U = m.U[n];
    const int32_t* u = m.ucls + m.uoff[n];
    const int64_t yt = m.yoff[n] + t * U;
    const float cf = reduction_scale32(m, n, mean);
    const float* row = x + off;
    const float mx = M[r], rh = R32.hi[r], rl = R32.lo[r];
    for (int j = lane; j < U; j += 32) {
      const float yh = Y.hi[yt + j], yl = Y.lo[yt + j];
      if (g != nullptr) {
        const float xv = row[u[j]];
        float dh = -yh, dl = -yl;
        if (logits || pytorch != 0) {
          float ah = xv, al = 0.0f;
          if (logits) {
            two_diff(xv, mx, &ah, &al);
            ff_add(ah, al, -rh, -rl, &ah, &al);
          }
          float ph, pl;
          xf32::to_ff(xf32::exp_ff(ah, al), &ph, &pl);
          ff_add(ph, pl, -yh, -yl, &dh, &dl);
        }
        g[u[j]] = (dh + dl) * cf;
      }
      if (q != nullptr) q[u[j]] = yh + yl;
    }
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
__device__ inline bool ff_less(float ah, float al, float bh, float bl) { return ah < bh || (ah == bh && al < bl); }
__device__ inline void warp_max_ff(float* h, float* l) {
  for (int o = 16; o > 0; o >>= 1) {
    const float oh = __shfl_xor_sync(0xffffffffu, *h, o), ol = __shfl_xor_sync(0xffffffffu, *l, o);
    if (ff_less(*h, *l, oh, ol)) {
      *h = oh;
      *l = ol;
    }
  }
}

// P_j = e^(ρ_j − r_t) of compact class j of row r as a float-float pair (ρ_j = x_j − m_t exactly).
__device__ inline void softmax_ff(float xv, float mx, float rh, float rl, float* ph, float* pl) {
  float ah, al;
  two_diff(xv, mx, &ah, &al);
  ff_add(ah, al, -rh, -rl, &ah, &al);
  xf32::to_ff(xf32::exp_ff(ah, al), ph, pl);
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
    const int32_t st = status[n];
    if (t >= m.Tn[n] || st != kSolved) {
      const float v = t < m.Tn[n] && st == kNaN ? NAN : 0.0f;
      for (int k = threadIdx.x; k < m.C; k += blockDim.x) {
        if (g != nullptr) g[k] = v;
        if (q != nullptr) q[k] = v;
      }
      continue;
    }
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

// ---- host side ------------------------------------------------------------------------------------------------

inline Meta device_meta(const seqloss_problem& p, const LabelPlan& q, const Packed& k, const unsigned char* d) {
  Meta m;
  static_cast<Shape&>(m) = shape_of(p, q.rows);
  m.utotal = q.utotal;
  m.stotal = q.stotal;
  m.Tn = reinterpret_cast<const int32_t*>(d + k.Tn);
  m.L = reinterpret_cast<const int32_t*>(d + k.L);
  m.S = reinterpret_cast<const int32_t*>(d + k.S);
  m.U = reinterpret_cast<const int32_t*>(d + k.U);
  m.roff = reinterpret_cast<const int64_t*>(d + k.roff);
  m.yoff = reinterpret_cast<const int64_t*>(d + k.yoff);
  m.aoff = reinterpret_cast<const int64_t*>(d + k.aoff);
  m.soff = reinterpret_cast<const int64_t*>(d + k.soff);
  m.uoff = reinterpret_cast<const int64_t*>(d + k.uoff);
  m.ucls = reinterpret_cast<const int32_t*>(d + k.ucls);
  m.ncount = reinterpret_cast<const int32_t*>(d + k.ncount);
  m.cseq = reinterpret_cast<const int32_t*>(d + k.cseq);
  m.cidx = reinterpret_cast<const int32_t*>(d + k.cidx);
  m.skip = reinterpret_cast<const uint8_t*>(d + k.skip);
  m.cs_start = reinterpret_cast<const int32_t*>(d + k.cs_start);
  m.cs_state = reinterpret_cast<const int32_t*>(d + k.cs_state);
  m.bclass = reinterpret_cast<const int32_t*>(d + k.bclass);
  m.bstart = reinterpret_cast<const int32_t*>(d + k.bstart);
  m.bitem = reinterpret_cast<const int32_t*>(d + k.bitem);
  m.nbclass = static_cast<int32_t>(q.bclass.size());
  return m;
}

// The label plan's global compact indices are int32 on the device.
seqloss_status plan_fits(const LabelPlan& q, Message msg) {
  if (q.utotal > INT32_MAX || static_cast<int64_t>(q.cs_state.size()) > INT32_MAX) {
    return fail(msg, SEQLOSS_ERROR_RANGE,
                "the labels of this batch are too many for the CUDA backend (%lld compact classes)",
                static_cast<long long>(q.utotal));
  }
  return SEQLOSS_OK;
}

// Sizes the workspace of a label operation.
seqloss_status label_workspace(const seqloss_problem& p, const seqloss_exec& e, const LabelWants& w, size_t* bytes,
                               Message msg) {
  const seqloss_status dev = check_device(e, msg);
  if (dev != SEQLOSS_OK) return dev;
  const LabelPlan q = plan_labels(p, w.batch_scope);
  const seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed k = pack_plan(q);
  LabelBuffers b;
  b.w = w;
  *bytes = b.carve(nullptr, p, q, k.pack.size()) + kWorkspaceSlack;
  return SEQLOSS_OK;
}

// The parameters of the kernels that are not in the metadata.
struct LabelParams {
  // CTC
  int32_t mean = 0, pytorch = 0, fit_scope = 0;
  double fit_alpha = 0.0, fit_gamma = 0.0;
  // DCTC
  Dctc32Params dctc32{};
  double beta = 0.0, lambda = 0.0;
  int32_t zero_infinity = 0;
  double s = 1.0;  // the logit scale of the row statistics
};

// A double of the call as a float-float pair (host side, once per call).
FFPair ff_of(double v) {
  const float h = static_cast<float>(v);
  return FFPair{h, static_cast<float>(v - static_cast<double>(h))};
}

// A label operation's call: its workspace placed, the metadata and logits uploaded, then every step of the plan
// launched in order with the step's grid and block. False when the call failed (its status says why).
bool run_label_op(Call& call, const seqloss_problem& p, const LabelPlan& q, const Packed& k, const LaunchPlan& plan,
                  LabelBuffers& b, const LabelParams& prm, void* workspace, size_t workspace_bytes, const char* size_fn,
                  float* out_grad, float* out_post) {
  if (!call.ok()) return false;
  const size_t need = b.carve(nullptr, p, q, k.pack.size());
  unsigned char* ws = call.workspace(need, workspace, workspace_bytes, size_fn);
  if (ws == nullptr) return false;
  b.carve(ws, p, q, k.pack.size());
  if (!call.to_device(b.meta, k.pack.data(), k.pack.size(), "cudaMemcpyAsync (metadata)")) return false;
  const Meta m = device_meta(p, q, k, b.meta);
  const float* x = p.data;
  if (b.w.host) {
    if (!call.to_device(b.data, p.data, dense_bytes(p), "cudaMemcpyAsync (logits)")) return false;
    x = b.data;
  }
  // With host memory the dense outputs are written to the workspace and copied out by the caller of this.
  float* grad = b.w.grad ? (b.w.host ? b.grad_d : out_grad) : nullptr;
  float* post = b.w.post ? (b.w.host ? b.post_d : out_post) : nullptr;
  cudaStream_t st = call.stream();
  for (int32_t i = 0; i < plan.count; ++i) {
    const Step& s = plan.steps[i];
    const unsigned g = s.blocks;
    const int th = s.threads;
    switch (s.kernel) {
      case Kernel::kShift: SEQLOSS_LAUNCH(shift_kernel, g, th, st, m, b.R, b.shift); break;
      case Kernel::kFitBatchL: SEQLOSS_LAUNCH(fit_batch_l_kernel, g, th, st, m, b.logp, b.Lb); break;
      case Kernel::kFitFactor:
        SEQLOSS_LAUNCH(fit_factor_kernel, g, th, st, m, prm.fit_alpha, prm.fit_scope, b.logp, b.V, b.Lb, b.fac,
                       b.fac32);
        break;
      case Kernel::kFitGamma: SEQLOSS_LAUNCH(fit_gamma_kernel, g, th, st, m, b.logp, prm.fit_gamma, b.W, b.W32); break;
      case Kernel::kFit32Vsum: SEQLOSS_LAUNCH(fit32_vsum_kernel, g, th, st, m, b.Y32, b.V); break;
      case Kernel::kFit32Rows:
        SEQLOSS_LAUNCH(fit32_rows_kernel, g, th, st, x, m, b.w.fit_alpha ? 1 : 0, prm.fit_scope, b.Lb, b.status, b.M,
                       b.R32, b.fac32, b.Y32, b.W);
        break;
      case Kernel::kCtc32Rows:
        SEQLOSS_LAUNCH(ctc32_rows_kernel, g, th, st, x, m, b.M, b.R32, b.Y32, b.W32, b.status, prm.mean, grad, post);
        break;
      case Kernel::kViterbi32:
        SEQLOSS_LAUNCH(viterbi32_kernel, g, th, st, m, b.Rho, b.shift, b.D, b.path, b.score);
        break;
      case Kernel::kCtc32Stats:
        SEQLOSS_LAUNCH(ctc32_stats_kernel, g, th, st, x, m, prm.mean, prm.pytorch, ff_of(prm.s), b.M, b.R, b.R32, b.E,
                       b.Rho, b.w.fit_gamma || b.w.dctc ? nullptr : grad, post);
        break;
      case Kernel::kAlpha32:
        SEQLOSS_LAUNCH(alpha32_kernel, g, th, st, m, b.E, b.shift, b.A32, b.work32, b.logp, b.status);
        break;
      case Kernel::kBeta32: SEQLOSS_LAUNCH(beta32_kernel, g, th, st, m, b.E, b.A32, b.status, b.Y32, b.work32); break;
      case Kernel::kCtc32Patch:
        SEQLOSS_LAUNCH(ctc32_patch_kernel, g, th, st, x, m, b.M, b.R32, b.Y32, b.status, prm.mean, prm.pytorch, grad,
                       post);
        break;
      case Kernel::kDctc32Rows:
        SEQLOSS_LAUNCH(dctc32_rows_kernel, g, th, st, x, m, b.M, b.R, b.R32, b.Y32, b.status, b.path, prm.dctc32, grad,
                       b.align, b.CE);
        break;
      case Kernel::kDctcLosses:
        SEQLOSS_LAUNCH(dctc_losses_kernel, g, th, st, m, b.logp, b.shift, b.CE, prm.beta, prm.lambda, prm.zero_infinity,
                       b.dout);
        break;
      default: return call.fail_with(SEQLOSS_ERROR_INTERNAL, "a step that no label operation has"), false;
    }
    if (!call.launched(kernel_name(s.kernel))) return false;
  }
  return true;
}

// The call's device's single-to-double performance ratio (0 when the query failed: the call has failed then).
int32_t fp64_ratio_of(Call& call) {
  int r = 0;
  if (!call.ok() || !call.check(cudaDeviceGetAttribute(&r, cudaDevAttrSingleToDoublePrecisionPerfRatio, call.device()),
                                "cudaDeviceGetAttribute (single-to-double performance ratio)")) {
    return 0;
  }
  return r < 1 ? 1 : r;
}

}  // namespace

// ---- CTC ------------------------------------------------------------------------------------------------------

seqloss_status ctc_workspace_bytes(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                                   const seqloss_ctc_outputs* out, size_t* bytes, Message msg) {
  const bool grad = out == nullptr || out->grad != nullptr, post = out == nullptr || out->posterior != nullptr;
  return label_workspace(p, e, ctc_wants(o, e.memory, grad, post), bytes, msg);
}

seqloss_status ctc(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                   const seqloss_ctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = ctc_wants(o, e.memory, out.grad != nullptr, out.posterior != nullptr);
  const LabelPlan q = plan_labels(p, b.w.batch_scope);
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed k = pack_plan(q);
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
    call.device_array(out.posterior, dense_bytes(p), "posterior");
  }
  const int32_t ratio = fp64_ratio_of(call);
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), ratio);
  const int32_t N = p.batch;
  LabelParams prm;
  prm.mean = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1 : 0;
  prm.pytorch = o.grad_convention == SEQLOSS_GRAD_PYTORCH ? 1 : 0;
  prm.fit_alpha = o.fit_alpha;
  prm.fit_gamma = o.fit_gamma;
  prm.fit_scope = o.fit_alpha_scope;
  if (!run_label_op(call, p, q, k, plan, b, prm, workspace, workspace_bytes, "seqloss_ctc_workspace_size", out.grad,
                    out.posterior)) {
    return call.finish();
  }
  const size_t ntc_bytes = dense_bytes(p);
  if (b.w.host && out.grad != nullptr) call.to_host(out.grad, b.grad_d, ntc_bytes, "cudaMemcpyAsync (grad)");
  if (b.w.host && out.posterior != nullptr) {
    call.to_host(out.posterior, b.post_d, ntc_bytes, "cudaMemcpyAsync (posterior)");
  }
  std::vector<double> logp(static_cast<size_t>(N)), shift(static_cast<size_t>(N));
  call.to_host(logp.data(), b.logp, sizeof(double) * N, "cudaMemcpyAsync (log p)");
  call.to_host(shift.data(), b.shift, sizeof(double) * N, "cudaMemcpyAsync (shift)");
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  // The losses and their reduction, in sequence order (as the CPU backend): −(ln p_ρ + Σ c_t), ≥ 0 for logits;
  // NaN for a NaN sequence whatever zero_infinity says.
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    const double lp = logp[static_cast<size_t>(n)], sh = shift[static_cast<size_t>(n)];
    const bool ok = q.feasible(n) && lp != -HUGE_VAL;
    double l = sh != sh ? sh
               : ok     ? num::ctc_nll(lp, sh, p.input == SEQLOSS_INPUT_LOGITS)
                        : (o.zero_infinity != 0 ? 0.0 : HUGE_VAL);
    out.losses[n] = static_cast<float>(l);
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) l /= (p.target_lengths[n] > 1 ? p.target_lengths[n] : 1);
    total += l;
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- DCTC -----------------------------------------------------------------------------------------------------

seqloss_status dctc_workspace_bytes(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                                    const seqloss_dctc_outputs* out, size_t* bytes, Message msg) {
  return label_workspace(p, e, dctc_wants(o, e.memory, out == nullptr || out->grad != nullptr), bytes, msg);
}

seqloss_status dctc(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                    const seqloss_dctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = dctc_wants(o, e.memory, out.grad != nullptr);
  const LabelPlan q = plan_labels(p, false);
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed k = pack_plan(q);
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
  }
  const int32_t ratio = fp64_ratio_of(call);
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), ratio);
  const int32_t N = p.batch;
  const double r = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / N : 1.0;
  LabelParams prm;
  prm.dctc32 = Dctc32Params{o.alignment,     o.ctc_weight,       o.lambda,       o.scale,
                            r * o.scale,     o.scale * o.margin, ff_of(o.scale), ff_of(o.ctc_weight),
                            ff_of(o.lambda), ff_of(r * o.scale)};
  prm.beta = o.ctc_weight;
  prm.lambda = o.lambda;
  prm.zero_infinity = o.zero_infinity;
  prm.s = o.scale;
  if (!run_label_op(call, p, q, k, plan, b, prm, workspace, workspace_bytes, "seqloss_dctc_workspace_size", out.grad,
                    nullptr)) {
    return call.finish();
  }
  if (b.w.host && out.grad != nullptr) call.to_host(out.grad, b.grad_d, dense_bytes(p), "cudaMemcpyAsync (grad)");
  std::vector<double> d(3 * static_cast<size_t>(N));
  call.to_host(d.data(), b.dout, sizeof(double) * d.size(), "cudaMemcpyAsync (losses)");
  if (out.alignment != nullptr) {
    call.to_host(out.alignment, b.align, sizeof(int32_t) * static_cast<size_t>(N) * p.time,
                 "cudaMemcpyAsync (alignment)");
  }
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    const double ln = d[static_cast<size_t>(n)];
    out.losses[n] = static_cast<float>(ln);
    if (out.ctc_losses != nullptr) out.ctc_losses[n] = static_cast<float>(d[static_cast<size_t>(N + n)]);
    if (out.distill_losses != nullptr) out.distill_losses[n] = static_cast<float>(d[static_cast<size_t>(2 * N + n)]);
    total += ln;
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- Viterbi alignment ----------------------------------------------------------------------------------------

seqloss_status align_workspace_bytes(const seqloss_problem& p, const seqloss_exec& e, size_t* bytes, Message msg) {
  return label_workspace(p, e, align_wants(e.memory), bytes, msg);
}

seqloss_status ctc_align(const seqloss_problem& p, const seqloss_exec& e, const seqloss_align_outputs& out,
                         void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = align_wants(e.memory);
  const LabelPlan q = plan_labels(p, false);
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed k = pack_plan(q);
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  const int32_t ratio = fp64_ratio_of(call);
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), ratio);
  const int32_t N = p.batch;
  if (!run_label_op(call, p, q, k, plan, b, LabelParams{}, workspace, workspace_bytes,
                    "seqloss_ctc_align_workspace_size", nullptr, nullptr)) {
    return call.finish();
  }
  call.to_host(out.paths, b.path, sizeof(int32_t) * static_cast<size_t>(N) * p.time, "cudaMemcpyAsync (paths)");
  std::vector<double> score(static_cast<size_t>(N));
  call.to_host(score.data(), b.score, sizeof(double) * N, "cudaMemcpyAsync (scores)");
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  for (int32_t n = 0; n < N; ++n) out.scores[n] = static_cast<float>(score[static_cast<size_t>(n)]);
  return SEQLOSS_OK;
}

}  // namespace cuda
}  // namespace seqloss
