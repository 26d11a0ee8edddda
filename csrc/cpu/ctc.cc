// ctc.cc — CTC loss, gradient and frame posterior on the CPU (Graves et al. 2006, forward-backward).
//
// Per sequence n, on one thread:
//  1. One pass over its T_n frames of scores: for logits the row max m_t and r_t = ln sum_k e^(x_tk - m_t)
//     (so ln y_k^t = x_tk - m_t - r_t, in double), and the gather of the "compact emissions": y^t_k for the
//     distinct classes k of the extended label l' = (blank, l_1, blank, ..., l_L, blank), as xfloats
//     (xfloat.h: a double mantissa and an int64 binary exponent, so e^-20000 is as exact as 0.5).
//  2. alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [alpha_{t-1}(s-2) if l'_s != blank, l'_s != l'_{s-2}])
//                  * y^t_{l'_s}, in xfloat arithmetic, vectorised over s. p(l|x) = alpha(S-1) + alpha(S-2).
//  3. beta'_t(s) = p(frames t+1.. | state s at t) (emission at t excluded), from t = T_n - 1 down to 0; at each
//     frame the state posterior gamma_t(s) = alpha_t(s) beta'_t(s) / p = p(pi_t = s | l, x) is summed per class in
//     state order (repeated labels: several states, one class, a fixed order, no atomics) into y'_tk, and the
//     frame's gradient row is written right away: softmax(x_t) - y'_t (logits) or -y'_t (log-probs), times the
//     reduction scale. Going backwards re-reads the most recently cached frames first.
// Only the band of states that are reachable from the start and can still reach the end is computed (blocks of
// 8 states); everything else is zero. Impossible alignments give +inf (or 0 with zero_infinity) and zero rows.
// The xfloat recursions are exact to double rounding at any dynamic range, like a log-space recursion, but cost
// a handful of integer and floating-point operations per state instead of two exps and a log.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/vmath.h"
#include "cpu/xfloat.h"

namespace seqloss {
namespace cpu {
namespace detail {

constexpr int64_t kBlock = 8;  // states per block (one AVX-512 vector of doubles, two AVX2 vectors)
constexpr int64_t kZero = xf::kZero;
constexpr int64_t kMasked = xf::kMasked;  // a forbidden transition: below every zero, so max() never picks it

struct CtcDims {
  int64_t tmax;  // the longest T_n
  int64_t sp;    // state stride: 2 L_max + 1 states, 2 of padding, rounded up to a block
};

inline CtcDims ctc_dims(const seqloss_problem& p) {
  int64_t tmax = 0, lmax = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    int64_t tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
    int64_t l = p.target_lengths[n];
    tmax = std::max(tmax, tn);
    if (l <= tn) lmax = std::max(lmax, l);  // longer labels are impossible and never touch the scratch
  }
  return CtcDims{tmax, round_up(2 * lmax + 1 + 2, kBlock)};
}

// One thread's scratch. xfloat arrays come in pairs: mantissas (double) and exponents (int64).
struct CtcSlot {
  double* Em;     // tmax x sp: emission of each state
  int64_t* Ek;
  double* Am;     // (tmax + 2) x sp: a zero row, the virtual row t = -1, then alpha
  int64_t* Ak;
  double* b0m;    // sp + 8: beta' rows, times the emission (two, swapped)
  int64_t* b0k;
  double* b1m;
  int64_t* b1k;
  double* G;      // sp: gamma of one frame
  int64_t* skip;  // sp + 8: 1 where the s-2 -> s transition is allowed
  double* Yp;     // sp: y' per compact class
  double* ec;     // sp: ln y^t of each compact class (one frame)
  double* cm;     // sp: y^t of each compact class as an xfloat (one frame)
  int64_t* ck;
  double* val;    // sp: gradient values of the compact classes (one frame)
  double* R;      // tmax: r_t
  float* M;       // tmax: m_t
  int32_t* cls;   // sp: class of each state
  int32_t* cidx;  // sp: compact index of each state
  int32_t* u;     // sp: compact class -> class
  int32_t* rep;   // sp: compact class -> its first state
  int32_t* cmap;  // C: class -> compact index, -1 when unused (restored after each sequence)
};

inline CtcSlot carve_slot(Carver& c, const CtcDims& d, int64_t C) {
  CtcSlot s;
  s.Em = c.take<double>(d.tmax * d.sp);
  s.Ek = c.take<int64_t>(d.tmax * d.sp);
  s.Am = c.take<double>((d.tmax + 2) * d.sp);
  s.Ak = c.take<int64_t>((d.tmax + 2) * d.sp);
  s.b0m = c.take<double>(d.sp + kBlock);
  s.b0k = c.take<int64_t>(d.sp + kBlock);
  s.b1m = c.take<double>(d.sp + kBlock);
  s.b1k = c.take<int64_t>(d.sp + kBlock);
  s.G = c.take<double>(d.sp);
  s.skip = c.take<int64_t>(d.sp + kBlock);
  s.Yp = c.take<double>(d.sp);
  s.ec = c.take<double>(d.sp);
  s.cm = c.take<double>(d.sp);
  s.ck = c.take<int64_t>(d.sp);
  s.val = c.take<double>(d.sp);
  s.R = c.take<double>(d.tmax);
  s.M = c.take<float>(d.tmax);
  s.cls = c.take<int32_t>(d.sp);
  s.cidx = c.take<int32_t>(d.sp);
  s.u = c.take<int32_t>(d.sp);
  s.rep = c.take<int32_t>(d.sp);
  s.cmap = c.take<int32_t>(C);
  return s;
}

struct CtcJob {
  const seqloss_problem* p;
  int32_t reduction;
  bool zero_infinity;
  const int64_t* offsets;  // N: start of each sequence's labels in targets
  double* loss_n;          // N: per-sequence loss (double), for the reduction
  const seqloss_ctc_outputs* out;
};

template <class T>
SEQLOSS_INLINE void fill(T* p, int64_t from, int64_t to, T v) {
  for (int64_t i = from; i < to; ++i) p[i] = v;
}

// alpha_t(s), s in [s0, s1), from alpha_{t-1} (indices s - 2 .. readable).
SEQLOSS_INLINE void alpha_step(const double* __restrict pm, const int64_t* __restrict pk, double* __restrict cm,
                               int64_t* __restrict ck, const double* __restrict em, const int64_t* __restrict ek,
                               const int64_t* __restrict skip, int64_t s0, int64_t s1) {
  for (int64_t s = s0; s < s1; ++s) {
    int64_t ka = pk[s], kb = pk[s - 1], kc = skip[s] != 0 ? pk[s - 2] : kMasked;
    int64_t K = xf::max3(ka, kb, kc);
    double sum = xf::shift_down(pm[s], ka - K) + xf::shift_down(pm[s - 1], kb - K) + xf::shift_down(pm[s - 2], kc - K);
    xf::normalise(sum * em[s], K + ek[s], &cm[s], &ck[s]);
  }
}

// beta'_t(s), s in [s0, s1), from b = beta'_{t+1} * y^{t+1} (indices .. s1 + 1 readable).
SEQLOSS_INLINE void beta_step(const double* __restrict bm, const int64_t* __restrict bk, double* __restrict cm,
                              int64_t* __restrict ck, const int64_t* __restrict skip, int64_t s0, int64_t s1) {
  for (int64_t s = s0; s < s1; ++s) {
    int64_t ka = bk[s], kb = bk[s + 1], kc = skip[s + 2] != 0 ? bk[s + 2] : kMasked;
    int64_t K = xf::max3(ka, kb, kc);
    double sum = xf::shift_down(bm[s], ka - K) + xf::shift_down(bm[s + 1], kb - K) + xf::shift_down(bm[s + 2], kc - K);
    xf::normalise(sum, K, &cm[s], &ck[s]);
  }
}

// gamma_t(s) = alpha_t(s) beta'_t(s) / p, and then beta'_t(s) *= y^t_{l'_s} (the b of the next step down).
SEQLOSS_INLINE void gamma_step(const double* __restrict am, const int64_t* __restrict ak, double* __restrict bm,
                               int64_t* __restrict bk, const double* __restrict em, const int64_t* __restrict ek,
                               double inv_mp, int64_t kp, double* __restrict g, int64_t s0, int64_t s1) {
  for (int64_t s = s0; s < s1; ++s) {
    g[s] = xf::to_double(am[s] * bm[s] * inv_mp, ak[s] + bk[s] - kp);
    xf::normalise(bm[s] * em[s], bk[s] + ek[s], &bm[s], &bk[s]);
  }
}

// The compact emissions of one frame as xfloats, from their natural logs.
SEQLOSS_INLINE void compact_from_log(const double* __restrict ec, double* __restrict cm, int64_t* __restrict ck,
                                     int64_t up) {
  for (int64_t j = 0; j < up; ++j) xf::from_log(ec[j], &cm[j], &ck[j]);
}

// val_j = scale * (y^t_j - y'_j) over whole blocks (y^t from the xfloat emissions).
SEQLOSS_INLINE void compact_grad(const double* __restrict cm, const int64_t* __restrict ck,
                                 const double* __restrict yp, double scale, double* __restrict val, int64_t up) {
  for (int64_t j = 0; j < up; ++j) val[j] = scale * (xf::to_double(cm[j], ck[j]) - yp[j]);
}

template <int W>
SEQLOSS_INLINE void ctc_sequence_impl(const CtcJob& job, int64_t n, const CtcSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ctc_outputs& out = *job.out;
  const int64_t T = p.time, C = p.classes;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : T;
  const int64_t L = p.target_lengths[n];
  const int32_t* lab = p.targets + job.offsets[n];
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const double scale =
      job.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / (static_cast<double>(p.batch) * std::max<int64_t>(L, 1)) : 1.0;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const SeqRows<float> post = seq_rows(out.posterior, p, n);

  auto zero_rows = [&](int64_t t0, int64_t t1) SEQLOSS_LAMBDA_INLINE {
    for (int64_t t = t0; t < t1; ++t) {
      if (out.grad != nullptr) std::memset(grad.row(t), 0, sizeof(float) * C);
      if (out.posterior != nullptr) std::memset(post.row(t), 0, sizeof(float) * C);
    }
  };
  auto impossible = [&]() SEQLOSS_LAMBDA_INLINE {
    double loss = job.zero_infinity ? 0.0 : std::numeric_limits<double>::infinity();
    job.loss_n[n] = loss;
    out.losses[n] = static_cast<float>(loss);
    zero_rows(0, T);
  };
  if (L > Tn) {
    impossible();
    return;
  }

  // The extended label, its transitions and its compact classes.
  const int64_t S = 2 * L + 1;
  const int64_t SP = round_up(S + 2, kBlock);
  for (int64_t s = 0; s < SP; ++s) {
    bool label = (s & 1) != 0 && s < S;
    w.cls[s] = label ? lab[(s - 1) / 2] : p.blank;
    w.skip[s] = (label && s >= 3 && lab[(s - 1) / 2] != lab[(s - 3) / 2]) ? 1 : 0;
  }
  fill<int64_t>(w.skip, SP, SP + kBlock, 0);
  int64_t U = 0;
  for (int64_t s = 0; s < S; ++s) {
    int32_t c = w.cls[s];
    if (w.cmap[c] < 0) {
      w.cmap[c] = static_cast<int32_t>(U);
      w.u[U] = c;
      w.rep[U] = static_cast<int32_t>(s);
      ++U;
    }
    w.cidx[s] = w.cmap[c];
  }
  for (int64_t j = 0; j < U; ++j) w.cmap[w.u[j]] = -1;
  const int64_t UP = round_up(U, kBlock);  // compact arrays padded to whole blocks
  fill<double>(w.ec, U, UP, vm::kNegInf);

  const bool strided = p.layout == SEQLOSS_LAYOUT_TNC && p.batch > 1;

  // 1. Emissions: ln y^t of the compact classes in double, then xfloats per state.
  for (int64_t t = 0; t < Tn; ++t) {
    const float* row = x.row(t);
    if (strided && t + 2 < Tn) prefetch_row(x.row(t + 2), C);  // TNC rows defeat the hardware prefetchers
    if (logits) {
      float m = row_max<W>(row, C);
      double r = std::log(expsum_row<W>(row, C, m));
      w.M[t] = m;
      w.R[t] = r;
      for (int64_t j = 0; j < U; ++j) w.ec[j] = (static_cast<double>(row[w.u[j]]) - m) - r;
    } else {
      for (int64_t j = 0; j < U; ++j) w.ec[j] = static_cast<double>(row[w.u[j]]);
    }
    compact_from_log(w.ec, w.cm, w.ck, UP);
    double* em = w.Em + t * SP;
    int64_t* ek = w.Ek + t * SP;
    for (int64_t s = 0; s < S; ++s) {
      em[s] = w.cm[w.cidx[s]];
      ek[s] = w.ck[w.cidx[s]];
    }
    fill<double>(em, S, SP, 0.0);
    fill<int64_t>(ek, S, SP, kZero);
  }

  // 2. Forward. Rows: -2 (zero), -1 (the virtual start: state 0 has probability 1), then 0 .. T_n - 1.
  auto am = [&](int64_t t) SEQLOSS_LAMBDA_INLINE { return w.Am + (t + 2) * SP; };
  auto ak = [&](int64_t t) SEQLOSS_LAMBDA_INLINE { return w.Ak + (t + 2) * SP; };
  fill<double>(w.Am, 0, 2 * SP, 0.0);
  fill<int64_t>(w.Ak, 0, 2 * SP, kZero);
  am(-1)[0] = 1.0;
  ak(-1)[0] = 0;
  auto band = [&](int64_t t, int64_t* lo, int64_t* hi, int64_t* b0, int64_t* b1) SEQLOSS_LAMBDA_INLINE {
    *lo = std::max<int64_t>(0, S - 2 * (Tn - t));
    *hi = std::min<int64_t>(S - 1, 2 * t + 1);
    *b0 = *lo / kBlock * kBlock;
    *b1 = (*hi / kBlock + 1) * kBlock;
  };
  for (int64_t t = 0; t < Tn; ++t) {
    int64_t lo, hi, b0, b1;
    band(t, &lo, &hi, &b0, &b1);
    double* cm = am(t);
    int64_t* ck = ak(t);
    fill<double>(cm, 0, b0, 0.0);
    fill<double>(cm, b1, SP, 0.0);
    fill<int64_t>(ck, 0, b0, kZero);
    fill<int64_t>(ck, b1, SP, kZero);
    alpha_step(am(t - 1), ak(t - 1), cm, ck, w.Em + t * SP, w.Ek + t * SP, w.skip, b0, b1);
  }
  double mp = 1.0;  // T_n = 0 and L = 0: the empty alignment, p = 1
  int64_t kp = 0;
  if (Tn > 0) {
    const double* lm = am(Tn - 1);
    const int64_t* lk = ak(Tn - 1);
    if (S == 1) {
      mp = lm[0];
      kp = lk[0];
    } else {
      int64_t K = std::max(lk[S - 1], lk[S - 2]);
      xf::normalise(xf::shift_down(lm[S - 1], lk[S - 1] - K) + xf::shift_down(lm[S - 2], lk[S - 2] - K), K, &mp, &kp);
    }
  }
  if (mp == 0.0) {
    impossible();
    return;
  }
  const double loss = 0.0 - xf::to_log(mp, kp);  // +0 for p = 1
  job.loss_n[n] = loss;
  out.losses[n] = static_cast<float>(loss);

  // 3. Backward, posterior and gradient, frame by frame from the end.
  if (out.grad != nullptr || out.posterior != nullptr) {
    double* bnm = w.b0m;  // beta'_{t+1} * y^{t+1}
    int64_t* bnk = w.b0k;
    double* btm = w.b1m;  // beta'_t
    int64_t* btk = w.b1k;
    fill<double>(bnm, 0, SP + kBlock, 0.0);
    fill<int64_t>(bnk, 0, SP + kBlock, kZero);
    bnm[S - 1] = 1.0;  // the virtual frame after the last: reached from S - 1 (stay) and S - 2 (advance)
    bnk[S - 1] = 0;
    fill<double>(btm, SP, SP + kBlock, 0.0);
    fill<int64_t>(btk, SP, SP + kBlock, kZero);
    const double inv_mp = 1.0 / mp;
    const float scale_f = static_cast<float>(scale);
    for (int64_t t = Tn - 1; t >= 0; --t) {
      int64_t lo, hi, b0, b1;
      band(t, &lo, &hi, &b0, &b1);
      fill<double>(btm, 0, b0, 0.0);
      fill<double>(btm, b1, SP, 0.0);
      fill<int64_t>(btk, 0, b0, kZero);
      fill<int64_t>(btk, b1, SP, kZero);
      beta_step(bnm, bnk, btm, btk, w.skip, b0, b1);
      const double* em = w.Em + t * SP;
      const int64_t* ek = w.Ek + t * SP;
      gamma_step(am(t), ak(t), btm, btk, em, ek, inv_mp, kp, w.G, b0, b1);

      // y'_t per class: the blank's states in one running sum, each label state into its class (state order).
      for (int64_t j = 0; j < UP; ++j) w.Yp[j] = 0.0;
      double yblank = 0.0;
      for (int64_t s = lo; s <= hi; ++s) {
        if ((s & 1) == 0) {
          yblank += w.G[s];
        } else {
          w.Yp[w.cidx[s]] += w.G[s];
        }
      }
      w.Yp[0] = yblank;

      if (out.grad != nullptr) {
        float* g = grad.row(t);
        if (strided && t >= 2) {
          prefetch_row(g - 2 * grad.stride, C);
          if (logits) prefetch_row(x.row(t - 2), C);
        }
        if (logits) {
          softmax_row<W>(x.row(t), C, w.M[t], static_cast<float>(w.R[t]), scale_f, g);
          // The label's classes in double: softmax - y' without cancellation error.
          for (int64_t j = 0; j < U; ++j) {
            w.cm[j] = em[w.rep[j]];
            w.ck[j] = ek[w.rep[j]];
          }
          fill<double>(w.cm, U, UP, 0.0);
          fill<int64_t>(w.ck, U, UP, kZero);
          compact_grad(w.cm, w.ck, w.Yp, scale, w.val, UP);
          for (int64_t j = 0; j < U; ++j) g[w.u[j]] = static_cast<float>(w.val[j]);
        } else {
          std::memset(g, 0, sizeof(float) * C);
          for (int64_t j = 0; j < U; ++j) g[w.u[j]] = static_cast<float>(-scale * w.Yp[j]);
        }
      }
      if (out.posterior != nullptr) {
        float* q = post.row(t);
        std::memset(q, 0, sizeof(float) * C);
        for (int64_t j = 0; j < U; ++j) q[w.u[j]] = static_cast<float>(w.Yp[j]);
      }
      std::swap(btm, bnm);
      std::swap(btk, bnk);
    }
  }
  zero_rows(Tn, T);
}

SEQLOSS_MULTIVERSION(void, ctc_sequence, (const CtcJob& job, int64_t n, const CtcSlot& w), (job, n, w))

}  // namespace detail

using detail::CtcDims;
using detail::CtcSlot;

static bool ctc_layout(const seqloss_problem& p, int threads, unsigned char* base, size_t* bytes, double** loss_n,
                       int64_t** offsets, CtcSlot* slots) {
  const CtcDims d = detail::ctc_dims(p);
  Carver shared(base);
  double* ln = shared.take<double>(p.batch);
  int64_t* off = shared.take<int64_t>(p.batch);
  if (!layout_slots(shared, base, threads, bytes, slots, [&](Carver& c) { return detail::carve_slot(c, d, p.classes); })) {
    return false;
  }
  if (base != nullptr) {
    *loss_n = ln;
    *offsets = off;
  }
  return true;
}

bool ctc_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes) {
  return ctc_layout(p, threads, nullptr, bytes, nullptr, nullptr, nullptr);
}

void ctc(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, const seqloss_ctc_outputs& out,
         void* workspace) {
  std::vector<CtcSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  double* loss_n = nullptr;
  int64_t* offsets = nullptr;
  ctc_layout(p, threads, align64(workspace), &bytes, &loss_n, &offsets, slots.data());
  for (auto& s : slots) std::fill(s.cmap, s.cmap + p.classes, -1);
  int64_t acc = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    offsets[n] = acc;
    acc += p.target_lengths[n];
  }
  detail::CtcJob job{&p, o.reduction, o.zero_infinity != 0, offsets, loss_n, &out};
  const int width = dispatch_width();
  parallel_for(threads, p.batch, [&](int64_t n, int slot) { detail::ctc_sequence(width, job, n, slots[slot]); });
  if (out.loss != nullptr) {
    double total = 0.0;
    for (int32_t n = 0; n < p.batch; ++n) {
      double l = loss_n[n];
      if (o.reduction == SEQLOSS_REDUCTION_MEAN) l /= std::max<int32_t>(p.target_lengths[n], 1);
      total += l;
    }
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= p.batch;
    *out.loss = total;
  }
}

}  // namespace cpu
}  // namespace seqloss
