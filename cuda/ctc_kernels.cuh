// ctc_kernels.cuh — CTC on the extended-range FP32 pipeline: the row statistics with the emissions and the dense rows, the
// forward and backward recursions, the patch of the label's classes (ctc.cu's header gives the order).
// Included by ctc.cu alone (one translation unit for the label operations' kernels and their launcher).
#ifndef SEQLOSS_CUDA_CTC_KERNELS_CUH
#define SEQLOSS_CUDA_CTC_KERNELS_CUH

#include "label_common.cuh"

namespace seqloss {
namespace cuda {
namespace {

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
__device__ inline xf32::X alpha32_rows(const Meta& m, int32_t n, const XArr& E, const LArr& A, const Rw& rows) {
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

// logp[n] = ln p_ρ(l), as alpha_kernel; status[n] as above.
__global__ void alpha32_kernel(Meta m, XArr E, const double* __restrict__ shift, LArr A, float* __restrict__ work,
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
__device__ inline void beta32_rows(const Meta& m, int32_t n, const XArr& E, const LArr& A, const xf32::X& p,
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
__global__ void beta32_kernel(Meta m, XArr E, LArr A, const int32_t* __restrict__ status, FFArr Y,
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
  // p_ρ(l) again from the lattice's last row (its values rounded to float: p only scales γ, and y' is normalised
  // by the frame's own total, so p's precision does not reach y').
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
    if (fill_unsolved_row(m, n, t, status[n], g, q, lane, 32)) continue;
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
          float ph, pl;  // P_j (logits), e^x (log-probs with `pytorch`)
          if (logits) {
            softmax_ff(xv, mx, rh, rl, &ph, &pl);
          } else {
            xf32::to_ff(xf32::exp_ff(xv, 0.0f), &ph, &pl);
          }
          if (ph == HUGE_VALF) {  // e^x beyond float (log-probs with `pytorch`): +inf, as the CPU's float of it
            dh = ph;
            dl = 0.0f;
          } else {
            ff_add(ph, pl, -yh, -yl, &dh, &dl);
          }
        }
        g[u[j]] = (dh + dl) * cf;
      }
      if (q != nullptr) q[u[j]] = yh + yl;
    }
  }
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_CTC_KERNELS_CUH
