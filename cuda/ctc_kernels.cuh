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
//     once per row), and the dense rows: scale·softmax (logits), scale·e^x (log-probs, PyTorch's convention) or 0
//     (log-probs), zero posterior rows.
//  2. alpha32 / beta32: the recursions of ctc_kernel.h in xfloat32, one block per sequence, the two rows in shared
//     memory (in the workspace beyond kRowCap states), the emissions e^ρ of the U compact classes (ρ = x − m as an
//     exact float-float pair) computed a frame ahead into two more shared rows; α's checkpoints go to the lattice
//     for β, which recomputes the frames between them (labels.h); β sums the frame posterior per compact class in
//     state order (no atomics), normalised by the frame's own total, in float-float.
//  3. ctc32_patch: one warp per row: the U classes of the label patched, scale·(P − y') in float-float, and y' into
//     the posterior; rows t >= T_n and rows of sequences without a path filled (0, NaN for a NaN sequence).

// sc: DCTC's logit scale s as a float-float pair ({1, 0} otherwise): the row sum over e^(s (x − m)) in float terms
// (as row_stats). Rho (hi null: not asked for): the relative log-probabilities ρ (rho32) of the compact classes, for
// the Viterbi recursion (−∞ below −1e8, as (−∞, 0)). The emissions e^ρ are not stored: alpha32 and beta32 compute
// them a frame ahead from the logits (emission32).
// Rows [r0, r1) of the Σ T_n valid rows (all of them, or one wave of a host-array call: plan.h, kStatsWaves).
__global__ void ctc32_stats_kernel(const float* __restrict__ x, Meta m, int64_t r0, int64_t r1, int32_t mean,
                                   int32_t pytorch, FFPair sc, float* __restrict__ M, double* __restrict__ R, FFArr R32,
                                   FFArr Rho, float* __restrict__ grad, float* __restrict__ post) {
  SEQLOSS_SHARED(float, shf, 66);
  SEQLOSS_SHARED(float, shr, 1);
  const bool logits = m.input == SEQLOSS_INPUT_LOGITS;
  for (int64_t r = r0 + blockIdx.x; r < r1; r += gridDim.x) {
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
    if (U > 0 && Rho.hi != nullptr) {
      const int32_t* u = m.ucls + m.uoff[n];
      const int64_t at = m.yoff[n] + t * U;
      for (int j = threadIdx.x; j < U; j += blockDim.x) {
        float hi, lo;
        rho32(row, m, mx, sc, u[j], &hi, &lo);
        const bool zero = !(hi >= static_cast<float>(num::kLogZero));  // below −1e8, −∞ (and NaN: never read)
        Rho.hi[at + j] = zero ? -HUGE_VALF : hi;
        Rho.lo[at + j] = zero ? 0.0f : lo;
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

// Two rows of xfloat32 values in shared memory (Smem) or in the workspace (plain pointers), swapped per frame: the
// recursion's rows (S states), or the emissions of two frames (U compact classes).
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

// Declares the six shared arrays of two rows of `cap` xfloat32 values and `name`, their Rows2 view.
#define SEQLOSS_SHARED_ROWS2(name, cap)    \
  SEQLOSS_SHARED(float, name##_h0, cap);   \
  SEQLOSS_SHARED(float, name##_l0, cap);   \
  SEQLOSS_SHARED(int32_t, name##_k0, cap); \
  SEQLOSS_SHARED(float, name##_h1, cap);   \
  SEQLOSS_SHARED(float, name##_l1, cap);   \
  SEQLOSS_SHARED(int32_t, name##_k1, cap); \
  const Rows2<Smem<float>, Smem<int32_t>> name { name##_h0, name##_l0, name##_k0, name##_h1, name##_l1, name##_k1 }

// Six arrays of S at w (a sequence's rows in the workspace), the int32 ones reinterpreted.
__device__ inline Rows2<float*, int32_t*> rows_at(float* w, int32_t S) {
  int32_t* wk = reinterpret_cast<int32_t*>(w);
  return Rows2<float*, int32_t*>{w, w + S, wk + 2 * S, w + 3 * S, w + 4 * S, wk + 5 * S};
}

// The workspace of sequence n when its S states exceed kRowCap (work32: 14 arrays of stotal): the recursion's rows
// at 6·soff, γ at 6·stotal + 2·soff, the emission rows at 8·stotal + 6·soff.
__device__ inline Rows2<float*, int32_t*> work_rows(float* work, const Meta& m, int32_t n) {
  return rows_at(work + 6 * m.soff[n], m.S[n]);
}
__device__ inline Rows2<float*, int32_t*> work_emits(float* work, const Meta& m, int32_t n) {
  return rows_at(work + 8 * m.stotal + 6 * m.soff[n], m.S[n]);
}

// The emissions of frame t into row `second` of `er`: e_t(j) = e^(ρ_tj) for the U compact classes (emission32).
template <class Er>
__device__ inline void emit_row(const float* x, const Meta& m, const float* M, FFPair sc, int32_t n, int32_t t,
                                const Er& er, bool second) {
  const int32_t U = m.U[n];
  const int32_t* u = m.ucls + m.uoff[n];
  const int64_t r = m.roff[n] + t;
  const float* row = x + row_offset(m.layout, n, t, m.N, m.T, m.C);
  for (int j = threadIdx.x; j < U; j += blockDim.x) er.set(second, j, emission32(row, m, M[r], sc, u[j]));
}

// The recursion of α from frame `from` (its row already in rows[from & 1]) to frame `to`, emissions computed a
// frame ahead (the row of frame t + 1 while frame t's states are updated: one barrier per frame). Each frame t's
// row goes to `store(t, s, v)`. α_t(s) = e_t(s) (α_{t−1}(s) + α_{t−1}(s−1) + [α_{t−1}(s−2)]) (ctc_kernel.h, step 2).
// Expects e_{from+1} in er[(from + 1) & 1] when from < to.
template <class Rw, class Er, class Store>
__device__ inline void alpha32_run(const float* x, const Meta& m, const float* M, FFPair sc, int32_t n, int32_t from,
                                   int32_t to, const Rw& rows, const Er& er, Store store) {
  const int32_t S = m.S[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  const uint8_t* skip = m.skip + m.soff[n];
  for (int32_t t = from + 1; t <= to; ++t) {
    const bool odd = (t & 1) != 0;  // row t & 1 is written, row (t − 1) & 1 read
    for (int s = threadIdx.x; s < S; s += blockDim.x) {
      const xf32::X a = rows.get(!odd, s);
      const xf32::X b = s >= 1 ? rows.get(!odd, s - 1) : xf32::zero();
      const xf32::X c = skip[s] != 0 ? rows.get(!odd, s - 2) : xf32::zero();
      const xf32::X v = xf32::mul(xf32::add3(a, b, c), er.get(odd, cidx[s]));
      rows.set(odd, s, v);
      store(t, s, v);
    }
    if (t < to) emit_row(x, m, M, sc, n, t + 1, er, !odd);  // the row of frame t − 1, read before the last barrier
    __syncthreads();
  }
}

// α_0(s) = e_0(s) for s < 2, then alpha32_run over the frames; checkpoint rows (every ck-th frame, float-float
// mantissas kept) to A. Returns (to thread 0) p_ρ(l) = α_{T−1}(S−1) + α_{T−1}(S−2).
template <class Rw, class Er>
__device__ inline xf32::X alpha32_rows(const float* x, const Meta& m, const float* M, FFPair sc, int32_t n,
                                       const XArr& A, const Rw& rows, const Er& er) {
  const int32_t S = m.S[n], Tn = m.Tn[n], ck = m.ck;
  const int64_t c0 = m.coff[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  emit_row(x, m, M, sc, n, 0, er, false);
  __syncthreads();
  for (int s = threadIdx.x; s < S; s += blockDim.x) {
    const xf32::X v = s < 2 ? er.get(false, cidx[s]) : xf32::zero();
    rows.set(false, s, v);
    xset(A, c0 + s, v);
  }
  if (Tn > 1) emit_row(x, m, M, sc, n, 1, er, true);
  __syncthreads();
  alpha32_run(x, m, M, sc, n, 0, Tn - 1, rows, er, [&](int32_t t, int s, const xf32::X& v) {
    if (t % ck == 0) xset(A, c0 + static_cast<int64_t>(t / ck) * S + s, v);
  });
  xf32::X p = xf32::zero();
  if (threadIdx.x == 0) {
    const bool odd = ((Tn - 1) & 1) != 0;
    p = xf32::add3(rows.get(odd, S - 1), S > 1 ? rows.get(odd, S - 2) : xf32::zero(), xf32::zero());
  }
  return p;
}

// logp[n] = ln p_ρ(l) and P[n] = p_ρ(l) itself (for beta32); status[n] as above.
__global__ void alpha32_kernel(const float* __restrict__ x, Meta m, const float* __restrict__ M, FFPair sc,
                               const double* __restrict__ shift, XArr A, XArr P, float* __restrict__ work,
                               double* __restrict__ logp, int32_t* __restrict__ status) {
  SEQLOSS_SHARED_ROWS2(rows, kRowCap);
  SEQLOSS_SHARED_ROWS2(emits, kEmitCap);
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
    p = alpha32_rows(x, m, M, sc, n, A, rows, emits);
  } else {
    p = alpha32_rows(x, m, M, sc, n, A, work_rows(work, m, n), work_emits(work, m, n));
  }
  if (threadIdx.x == 0) {
    logp[n] = xf32::to_log(p);
    status[n] = p.hi == 0.0f ? kNoPath : kSolved;
    xset(P, n, p);
  }
}

// β'_t(s) (emission at t excluded): 1 at t = T−1 for s >= S−2, else Σ over s, s+1, [s+2] of e_{t+1}(s')·β'_{t+1}(s')
// (rows (t+1) & 1 of `rows` hold e·β'). γ_t(s) = α_t(s) β'_t(s) / p as a float-float pair into (Gh, Gl); y'_t: the
// blank over the even states and the frame total in one fixed-tree sum, each label class over its states in state
// order, times 1 / total; stored as float-float pairs (yh, yl).
//
// With ck > 1 the frames go back a segment [t0, t1] of ck frames at a time, the segment's α recomputed first from
// its checkpoint (alpha32_run in the same rows, the β row they held saved to Bs and restored) into Seg (ck rows of
// S); with ck = 1 every frame is a checkpoint and α_t is read from A. The checkpoints keep float-float mantissas
// and the recomputation repeats alpha32's operations, so Seg holds bitwise the values A would: the results do not
// depend on ck. The emissions are computed a frame ahead, as alpha32_run's.
template <class Rw, class Er, class G>
__device__ inline void beta32_rows(const float* x, const Meta& m, const float* M, FFPair sc, int32_t n, const XArr& A,
                                   const XArr& Seg, const XArr& Bs, const xf32::X& p, float* __restrict__ yh,
                                   float* __restrict__ yl, const Rw& rows, const Er& er, G Gh, G Gl, Smem<float> shf) {
  const int32_t S = m.S[n], Tn = m.Tn[n], U = m.U[n], ck = m.ck;
  const int64_t c0 = m.coff[n], g0s = static_cast<int64_t>(ck) * m.soff[n], b0 = m.soff[n];
  const int32_t* cidx = m.cidx + m.soff[n];
  const uint8_t* skip = m.skip + m.soff[n];
  const int64_t g0 = m.uoff[n];
  float pih, pil;
  ff_recip(p.hi, p.lo, &pih, &pil);
  const xf32::X pinv{pih, pil, -p.k};
  const int32_t len = ck > 1 ? ck : Tn;  // ck = 1: one segment, α read from the whole lattice
  for (int32_t seg = (Tn - 1) / len; seg >= 0; --seg) {
    const int32_t t0 = seg * len, t1 = (t0 + len < Tn ? t0 + len : Tn) - 1;
    if (ck > 1) {
      const bool keep = t1 + 1 < Tn, kodd = ((t1 + 1) & 1) != 0;  // the β row of frame t1 + 1, needed at t1
      const bool codd = (t0 & 1) != 0;
      for (int s = threadIdx.x; s < S; s += blockDim.x) {
        if (keep) xset(Bs, b0 + s, rows.get(kodd, s));
        const xf32::X a = xget(A, c0 + static_cast<int64_t>(seg) * S + s);
        rows.set(codd, s, a);
        xset(Seg, g0s + s, a);
      }
      if (t0 < t1) emit_row(x, m, M, sc, n, t0 + 1, er, !codd);
      __syncthreads();
      alpha32_run(x, m, M, sc, n, t0, t1, rows, er, [&](int32_t t, int s, const xf32::X& v) {
        xset(Seg, g0s + static_cast<int64_t>(t - t0) * S + s, v);
      });
      if (keep) {
        for (int s = threadIdx.x; s < S; s += blockDim.x) rows.set(kodd, s, xget(Bs, b0 + s));
      }
    }
    if (ck == 1 || t0 == t1) emit_row(x, m, M, sc, n, t1, er, (t1 & 1) != 0);  // else the recomputation left it there
    __syncthreads();
    for (int32_t t = t1; t >= t0; --t) {
      const bool odd = (t & 1) != 0;  // row t & 1 is written, row (t + 1) & 1 read
      for (int s = threadIdx.x; s < S; s += blockDim.x) {
        xf32::X b;
        if (t == Tn - 1) {
          b = s >= S - 2 ? xf32::one() : xf32::zero();
        } else {
          b = xf32::add3(rows.get(!odd, s), s + 1 < S ? rows.get(!odd, s + 1) : xf32::zero(),
                         s + 2 < S && skip[s + 2] != 0 ? rows.get(!odd, s + 2) : xf32::zero());
        }
        const xf32::X a = ck == 1 ? xget(A, c0 + static_cast<int64_t>(t) * S + s)
                                  : xget(Seg, g0s + static_cast<int64_t>(t - t0) * S + s);
        float gh, gl;
        xf32::to_ff(xf32::mul(xf32::mul(a, b), pinv), &gh, &gl);
        Gh[s] = gh;
        Gl[s] = gl;
        rows.set(odd, s, xf32::mul(b, er.get(odd, cidx[s])));
      }
      if (t > t0) emit_row(x, m, M, sc, n, t - 1, er, !odd);  // the row of frame t + 1, read before the last barrier
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
}

// y' of every frame (compact, float-float); all 0 for a sequence without a path, untouched for a NaN one. work: as
// alpha32's (work_rows, work_emits), and γ (2 arrays of S at 6·stotal + 2·soff).
__global__ void beta32_kernel(const float* __restrict__ x, Meta m, const float* __restrict__ M, FFPair sc, XArr A,
                              XArr P, XArr Seg, XArr Bs, const int32_t* __restrict__ status, FFArr Y,
                              float* __restrict__ work) {
  SEQLOSS_SHARED(float, shf, 132);
  SEQLOSS_SHARED_ROWS2(rows, kRowCap);
  SEQLOSS_SHARED(float, Gh, kRowCap);
  SEQLOSS_SHARED(float, Gl, kRowCap);
  SEQLOSS_SHARED_ROWS2(emits, kEmitCap);
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
  const xf32::X p = xget(P, n);
  if (S <= kRowCap) {
    beta32_rows(x, m, M, sc, n, A, Seg, Bs, p, yh, yl, rows, emits, Gh, Gl, shf);
  } else {
    float* g = work + 6 * m.stotal + 2 * m.soff[n];
    beta32_rows(x, m, M, sc, n, A, Seg, Bs, p, yh, yl, work_rows(work, m, n), work_emits(work, m, n), g, g + S, shf);
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
