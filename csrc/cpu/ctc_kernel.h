// ctc_kernel.h — the CTC forward-backward of one sequence (Graves et al. 2006), shared by ctc.cc (plain CTC and
// the alpha/gamma "fit" variant) and dctc.cc (DCTC). What each does with the frame posteriors is a "sink" policy.
//
// Per sequence n, on one thread:
//  1. One pass over its T_n frames of scores: for logits the row max m_t and r_t = ln sum_k e^(s (x_tk - m_t))
//     (s = 1 except for DCTC's logit scale), and the gather of the "compact emissions" for the distinct classes k
//     of the extended label l' = (blank, l_1, blank, ..., l_L, blank): relative to the frame's largest
//     log-probability (numerics.h, README "Numerics at the extremes"), rho_tk = s (x_tk - m_t) in double for
//     logits (c_t = -r_t), x_tk - max_k x_tk for log-probs (c_t = that max), below -1e8 probability 0; as xfloats
//     (xfloat.h: a double mantissa and an int64 binary exponent, so e^-20000 is as exact as 0.5). ln p(l|x) is
//     ln p_rho(l) + sum_t c_t. A frame with a NaN or +inf (or logits all -inf) makes the sequence NaN: the kernel
//     stops there, before any integer exponent sees it.
//  2. alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [alpha_{t-1}(s-2) if l'_s != blank, l'_s != l'_{s-2}])
//                  * y^t_{l'_s}, in xfloat arithmetic, vectorised over s. p(l|x) = alpha(S-1) + alpha(S-2).
//  3. beta'_t(s) = p(frames t+1.. | state s at t) (emission at t excluded), from t = T_n - 1 down to 0; at each
//     frame the state posterior gamma_t(s) = alpha_t(s) beta'_t(s) / p = p(pi_t = s | l, x) is summed per class in
//     state order and normalised by the frame's own total (exactly p in exact arithmetic) (repeated labels: several states, one class, a fixed order, no atomics) into y'_tk, and handed
//     to the sink, which keeps y'_t (plain CTC and the fit write the rows in a forward sweep afterwards) or uses it
//     right away (DCTC: z*, the distillation term and the gradient row).
// Only the band of states that are reachable from the start and can still reach the end is computed (blocks of
// 8 states); everything else is zero. The xfloat recursions are exact to double rounding at any dynamic range,
// like a log-space recursion, but cost a handful of integer and floating-point operations per state instead of
// two exps and a log.
//
// A sink provides (all always inlined into the per-width kernel):
//   void emission(int64_t t)                       after step 1 of frame t: w.ec[j] = ln y^t of compact class j,
//                                                  (w.cm, w.ck)[j] = y^t as an xfloat (both padded to UP)
//   bool backward(double loss)                     after the forward of a feasible sequence; true runs step 3
//   void frame(int64_t t, const double* em, const int64_t* ek)
//                                                  step 3 at frame t: y'_t in w.Yp (compact order, padded with
//                                                  zeros to UP), em/ek the xfloat emissions of frame t per state
//   static constexpr bool kPosteriorRows           true: step 3 sums y'_t into posterior_row(t) instead of w.Yp
//   double* posterior_row(int64_t t)               (only then)
#ifndef SEQLOSS_CPU_CTC_KERNEL_H
#define SEQLOSS_CPU_CTC_KERNEL_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "cpu/rows.h"
#include "cpu/vmath.h"
#include "cpu/xfloat.h"
#include "numerics.h"
#include "seqloss.h"

namespace seqloss {
namespace cpu {
namespace detail {

constexpr int64_t kBlock = 8;  // states per block (one AVX-512 vector of doubles, two AVX2 vectors)
constexpr int64_t kZero = xf::kZero;
constexpr int64_t kMasked = xf::kMasked;  // a forbidden transition: below every zero, so max() never picks it

struct CtcDims {
  int64_t tmax;  // the longest T_n
  int64_t lmax;  // the longest label that fits its T_n
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
  return CtcDims{tmax, lmax, round_up(2 * lmax + 1 + 2, kBlock)};
}

// One thread's scratch. xfloat arrays come in pairs: mantissas (double) and exponents (int64).
struct CtcSlot {
  double* Em;  // tmax x sp: emission of each state
  int64_t* Ek;
  double* Am;  // (tmax + 2) x sp: a zero row, the virtual row t = -1, then alpha
  int64_t* Ak;
  double* b0m;  // sp + 8: beta' rows, times the emission (two, swapped)
  int64_t* b0k;
  double* b1m;
  int64_t* b1k;
  double* G;      // sp: gamma of one frame
  int64_t* skip;  // sp + 8: 1 where the s-2 -> s transition is allowed
  double* Yp;     // sp: y' per compact class
  double* Ypr;    // tmax x sp: y' per compact class of every frame (plain CTC's rows; null unless asked for)
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

inline CtcSlot carve_slot(Carver& c, const CtcDims& d, int64_t C, bool rows = false) {
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
  s.Ypr = rows ? c.take<double>(d.tmax * d.sp) : nullptr;
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

// Label offsets (start of each sequence's labels in targets) into offsets[0 .. N).
inline void label_offsets(const seqloss_problem& p, int64_t* offsets) {
  int64_t acc = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    offsets[n] = acc;
    acc += p.target_lengths[n];
  }
}

// The sequence the kernel works on. The caller fills n, Tn, L, lab, x, strided; the kernel fills S .. UP once
// the extended label is built (before the first sink call).
struct CtcSeq {
  int64_t n;
  int64_t Tn;
  int64_t L;
  const int32_t* lab;
  SeqRows<const float> x;
  bool strided;    // TNC with N > 1: rows are prefetched by hand
  int64_t S = 0;   // 2 L + 1 states
  int64_t SP = 0;  // state stride
  int64_t U = 0;   // compact classes (compact index 0 is the blank)
  int64_t UP = 0;  // U rounded up to a block
};

SEQLOSS_INLINE CtcSeq make_seq(const seqloss_problem& p, const int64_t* offsets, int64_t n) {
  CtcSeq q;
  q.n = n;
  q.Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
  q.L = p.target_lengths[n];
  q.lab = p.targets + offsets[n];
  q.x = seq_rows(p.data, p, n);
  q.strided = p.layout == SEQLOSS_LAYOUT_TNC && p.batch > 1;
  return q;
}

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

// The row max m and r = ln sum_k e^(s (x_k - m)) of a frame of logits (kScaled: s != 1, DCTC's logit scale).
template <int W, bool kScaled>
SEQLOSS_INLINE void row_logsumexp(const float* row, int64_t C, float s, float* m_out, double* r_out) {
  float m = row_max<W>(row, C);
  *m_out = m;
  if constexpr (kScaled) {
    *r_out = std::log(expsum_row_scaled<W>(row, C, m, s));
  } else {
    (void)s;
    *r_out = std::log(expsum_row<W>(row, C, m));
  }
}

// ln y_k = s (x_k - m) - r in double (kScaled) or (x_k - m) - r.
template <bool kScaled>
SEQLOSS_INLINE double log_softmax_at(float xk, float m, double r, double s) {
  if constexpr (kScaled) {
    return (static_cast<double>(xk) - m) * s - r;
  } else {
    (void)s;
    return (static_cast<double>(xk) - m) - r;
  }
}

// What ctc_core found.
enum CoreResult { kImpossible = 0, kSolved = 1, kNaN = 2 };

// Whether a frame t < T_n of the sequence holds a NaN or +inf (or, for logits, only -inf): the scan for sequences
// the kernel does not run (L > T_n).
template <int W>
SEQLOSS_INLINE bool sequence_has_nan(const seqloss_problem& p, const CtcSeq& q) {
  for (int64_t t = 0; t < q.Tn; ++t) {
    const float* row = q.x.row(t);
    if (count_nan_inf<W>(row, p.classes) != 0.0) return true;
    if (p.input == SEQLOSS_INPUT_LOGITS && row_max<W>(row, p.classes) == -vm::kInfF) return true;
  }
  return false;
}

// rho = s (x_k - m) in double (kScaled) or x_k - m: the log-probability relative to the frame's largest.
template <bool kScaled>
SEQLOSS_INLINE double relative_at(float xk, float m, double s) {
  if constexpr (kScaled) {
    return (static_cast<double>(xk) - m) * s;
  } else {
    (void)s;
    return static_cast<double>(xk) - m;
  }
}

// Steps 1-3 for q.n. Returns kNaN (before any sink call but emission()) when a frame holds a NaN or +inf (logits:
// or only -inf); kImpossible (likewise) when the label has no feasible alignment (L > T_n, or p(l|x) = 0);
// otherwise sets *loss = -ln p(l|x) (>= 0 for logits, numerics.h ctc_nll) and returns kSolved.
template <int W, bool kScaled, class Sink>
SEQLOSS_INLINE CoreResult ctc_core(const seqloss_problem& p, CtcSeq& q, float s_f, double s_d, const CtcSlot& w,
                                   Sink& sink, double* loss) {
  const int64_t C = p.classes;
  const int64_t Tn = q.Tn;
  const int64_t L = q.L;
  const int32_t* lab = q.lab;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  if (L > Tn) return sequence_has_nan<W>(p, q) ? kNaN : kImpossible;

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
  q.S = S;
  q.SP = SP;
  q.U = U;
  q.UP = UP;

  // 1. Emissions: rho of the compact classes in double (relative to the frame's largest log-probability, below
  // -1e8 zero), then xfloats per state; shift = sum_t c_t.
  double shift = 0.0;
  for (int64_t t = 0; t < Tn; ++t) {
    const float* row = q.x.row(t);
    if (q.strided && t + 2 < Tn) prefetch_row(q.x.row(t + 2), C);  // TNC rows defeat the hardware prefetchers
    if (logits) {
      float m;
      double r;
      row_logsumexp<W, kScaled>(row, C, s_f, &m, &r);
      // NaN, +inf (inf - inf) and a row of -inf (-inf - -inf) all make the sum NaN.
      if (r != r) return kNaN;
      w.M[t] = m;
      w.R[t] = r;
      shift -= r;
      for (int64_t j = 0; j < U; ++j) w.ec[j] = num::clamp_log_zero(relative_at<kScaled>(row[w.u[j]], m, s_d));
    } else {
      if (count_nan_inf<W>(row, C) != 0.0) return kNaN;
      const float m = row_max<W>(row, C);
      if (m == -vm::kInfF) {
        // Every class has probability 0: no path passes (the forward gives p = 0).
        for (int64_t j = 0; j < U; ++j) w.ec[j] = vm::kNegInf;
      } else {
        shift += m;
        for (int64_t j = 0; j < U; ++j) {
          w.ec[j] = num::clamp_log_zero(static_cast<double>(row[w.u[j]]) - static_cast<double>(m));
        }
      }
    }
    compact_from_log(w.ec, w.cm, w.ck, UP);
    sink.emission(t);
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
  if (mp == 0.0) return kImpossible;
  *loss = num::ctc_nll(xf::to_log(mp, kp), shift, logits);  // +0 for p = 1

  // 3. Backward and posterior, frame by frame from the end.
  if (sink.backward(*loss)) {
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
      double* yp = w.Yp;
      if constexpr (Sink::kPosteriorRows) yp = sink.posterior_row(t);
      for (int64_t j = 0; j < UP; ++j) yp[j] = 0.0;
      double yblank = 0.0;
      for (int64_t s = lo; s <= hi; ++s) {
        if ((s & 1) == 0) {
          yblank += w.G[s];
        } else {
          yp[w.cidx[s]] += w.G[s];
        }
      }
      yp[0] = yblank;
      // The frame's own total (p in exact arithmetic): rows sum to 1 to rounding.
      double total = 0.0;
      for (int64_t j = 0; j < U; ++j) total += yp[j];
      if (total > 0.0) {
        const double inv = 1.0 / total;
        for (int64_t j = 0; j < U; ++j) yp[j] *= inv;
      }
      sink.frame(t, em, ek);
      std::swap(btm, bnm);
      std::swap(btk, bnk);
    }
  }
  return kSolved;
}

}  // namespace detail
}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_CTC_KERNEL_H
