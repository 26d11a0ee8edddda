// ace.cc — Aggregation Cross-Entropy (Xie et al., CVPR 2019) on the CPU, 1D and flattened 2D.
//
// Per sequence n, on one thread:
//  1. y_k = sum_{t<T_n} (y_k^t + eps) = sum_t y_k^t + T_n eps, with y^t the softmax of the logits (or the
//     probabilities as given), summed in double. eps enters here only (the loss and g_k see it through y_k).
//  2. N_blank = T_n - sum_{k != blank} N_k. CE (Eq. 8): L = -sum_{k: N_k > 0} (N_k / T_n) ln(y_k / T_n), 0 when
//     eps = 0 and rounding leaves it below 0; regression (Eq. 4): L = 1/2 sum_k (N_k - y_k)^2.
//     g_k = dL/dy_k^t: CE -N_k / (T_n y_k) (0 when N_k = 0), regression y_k - N_k.
//  3. grad: probabilities scale * g_k on every frame t < T_n; logits (through the softmax, Eq. 9)
//     scale * y_k^t (g_k - sum_j g_j y_j^t). Frames t >= T_n get zeros.
// CE (ace_ce) touches only K = {k : N_k > 0} (the label's classes and the blank): pass 1 is a max and a sum of
// exps per frame, with e^(x - m) written straight into the gradient row; pass 2 scales that row by one number
// per frame (every class outside K has gradient y_k^t * (-d_t)) and patches K in double.
// Regression (ace_dense) has a dense g and works on all C classes; there the Jacobian is applied as
// y_k ((g_k - g_r) - sum_j y_j (g_j - g_r)) with r the frame's most likely class (the same number, as
// sum_j y_j = 1), so nearly one-hot frames do not lose 1 - y_r to float rounding.
//
// At the extremes (README, "ACE at the extremes"):
//  - e^(x - m) keeps gradual underflow (vm::exp_f32: results down to 2^-149 are subnormal, not 0), so every
//    softmax value representable in float is; rows whose range stays above -87.33 (all of them in practice) take
//    the faster exp_neg_f32, which is the same there (row_max_low).
//  - CE with logits: a class of K whose linear aggregate sum_t y_k^t is below kTiny = 2^-60 (its terms are then
//    at most 2^-60 each, and the dropped part of a term, below 2^-150, is no longer negligible next to them) is
//    aggregated again in log space, ln y_k = logsumexp_t (x_tk - m_t - ln s_t) (+) ln(T_n eps), which is finite
//    for every finite input. Its gradient terms use rho_tk = y_k^t / y_k = e^(ln y_k^t - ln y_k) <= 1 instead of
//    y_k^t g_k (whose g_k may be beyond any float or double): grad_tk = scale (y_k^t D_t - N_k/T_n rho_tk) with
//    D_t = -d_t = sum_j (N_j/T_n) rho_tj <= 1. Above kTiny the linear sum is exact to double rounding
//    (T_n 2^-150 / 2^-60 < 2^-59 for any int32 T_n) and the linear path is the same number.
//    Probabilities need no log path: a double sum of float inputs cannot underflow.
//  - A sequence with NaN or +inf in a frame t < T_n (logits: also a frame that is all -inf; probabilities: any
//    non-finite value) has loss NaN and NaN gradient rows t < T_n.
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
#include "numerics.h"

namespace seqloss {
namespace cpu {
namespace detail {

constexpr int64_t kKeep = 64;      // CE: keep y^t on K between the passes when K fits in this many
constexpr double kTiny = 0x1p-60;  // CE, logits: a linear aggregate below this is redone in log space
const float kNaNF = std::numeric_limits<float>::quiet_NaN();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct AceSlot {
  double* y;    // C: y_k
  double* g;    // C: g_k (regression) / K: g_k (CE)
  double* R;    // tmax: r_t (regression) / 1 / sum_k e^(x_k - m_t) (CE)
  float* M;     // tmax: m_t (regression)
  float* buf;   // 2 C: one or two frames' y^t or e^(x - m)
  int32_t* kc;  // C + 8: the classes of K
  double* kn;   // C + 8: N_k on K
  double* ky;   // C + 8: y_k^t on K (one frame)
  double* kyT;  // tmax x kKeep: y_k^t on K for every frame, when K is small
  double* gs;   // 2 (C + 8): gradient values on K (one frame), then the log-space classes' terms
  int32_t* tj;  // C + 8: CE: the positions in K of the classes aggregated in log space
  double* lny;  // C + 8: CE: ln y_k of those classes
  float* cnt;   // C: N_k from the labels (counts NULL)
};

inline int64_t ace_tmax(const seqloss_problem& p) {
  if (p.input_lengths == nullptr) return p.time;
  int64_t tmax = 0;
  for (int32_t n = 0; n < p.batch; ++n) tmax = std::max<int64_t>(tmax, p.input_lengths[n]);
  return tmax;
}

inline AceSlot carve_ace_slot(Carver& c, int64_t tmax, int64_t C) {
  AceSlot s;
  s.y = c.take<double>(C + 8);
  s.g = c.take<double>(C + 8);
  s.R = c.take<double>(tmax);
  s.M = c.take<float>(tmax);
  s.buf = c.take<float>(2 * C);
  s.kc = c.take<int32_t>(C + 8);
  s.kn = c.take<double>(C + 8);
  s.ky = c.take<double>(C + 8);
  s.kyT = c.take<double>(tmax * kKeep);
  s.gs = c.take<double>(2 * (C + 8));
  s.tj = c.take<int32_t>(C + 8);
  s.lny = c.take<double>(C + 8);
  s.cnt = c.take<float>(C);
  return s;
}

struct AceJob {
  const seqloss_problem* p;
  const seqloss_ace_options* o;
  const seqloss_ace_outputs* out;
  double* loss_n;
  const int64_t* toff;  // N + 1: the first label of each sequence (counts NULL)
};

// N_k of sequence n for every class (the blank's entry ignored): the counts row, or without counts the number of
// times each class occurs in the sequence's labels, counted into the slot's row.
inline const float* ace_counts_row(const AceJob& job, int64_t n, const AceSlot& w) {
  const seqloss_problem& p = *job.p;
  if (p.counts != nullptr) return p.counts + n * p.classes;
  std::fill(w.cnt, w.cnt + p.classes, 0.0f);
  for (int64_t i = job.toff[n]; i < job.toff[n + 1]; ++i) w.cnt[p.targets[i]] += 1.0f;
  return w.cnt;
}

// The most likely class of a frame: the first k with x[k] == m.
SEQLOSS_INLINE int64_t first_max(const float* row, int64_t C, float m) {
  int64_t r = 0;
  while (r + 1 < C && !(row[r] == m)) ++r;
  return r;
}

// max_k x[k], and whether some x[k] - max is below -87.33 (e^(x - m) below 2^-126, a subnormal or 0, which the
// fast exp_neg_f32 would flush). NaN entries are skipped as in rows.h's row_max; a NaN maximum (x[0] NaN) makes
// the whole row NaN downstream anyway.
template <int W>
SEQLOSS_INLINE float row_max_low(const float* x, int64_t C, bool* low) {
  typedef typename Pack<W>::F F;
  F mx = F{} + x[0], mn = F{} + x[0];
  if (C < W) {
    F v = load_part<W>(x, C, x[0]);
    mx = v > mx ? v : mx;
    mn = v < mn ? v : mn;
  } else {
    for (int64_t k = 0; k + W <= C; k += W) {
      F v = vload<F>(x + k);
      mx = v > mx ? v : mx;
      mn = v < mn ? v : mn;
    }
    F v = vload<F>(x + C - W);
    mx = v > mx ? v : mx;
    mn = v < mn ? v : mn;
  }
  const float m = hmax(mx);
  const float lo = -hmax(-mn);
  *low = lo - m < -87.3365402f;
  return m;
}

// out[k] = e^(x[k] - m); returns sum_k out[k] in double. Gradual: vm::exp_f32, which keeps results down to 2^-149
// (subnormal) instead of flushing those below 2^-126 as exp_neg_f32 (rows.h's exp_sum_row) does; only rows that
// reach that far (row_max_low) pay for it.
template <int W, bool Gradual>
SEQLOSS_INLINE double exp_sum_row_g(const float* __restrict x, int64_t C, float m, float* __restrict out) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    F v = n < W ? load_part<W>(x + k, n, -vm::kInfF) : vload<F>(x + k);
    F e = Gradual ? vm::exp_f32(v - m) : vm::exp_neg_f32(v - m);
    if (n < W) {
      store_part<W>(out + k, e, n);
    } else {
      vstore(out + k, e);
    }
    return e;
  });
}
template <int W>
SEQLOSS_INLINE double exp_sum_row_full(const float* __restrict x, int64_t C, float m, bool low, float* __restrict out) {
  return low ? exp_sum_row_g<W, true>(x, C, m, out) : exp_sum_row_g<W, false>(x, C, m, out);
}

// out[k] = e^((x[k] - m) - r) with gradual underflow (rows.h's softmax_row with scale 1 and vm::exp_f32).
template <int W>
SEQLOSS_INLINE void softmax_row_full(const float* __restrict x, int64_t C, float m, float r, float* __restrict out) {
  typedef typename Pack<W>::F F;
  if (C < W) {
    store_part<W>(out, vm::exp_f32((load_part<W>(x, C, m) - m) - r), C);
    return;
  }
  for (int64_t k = 0; k + W <= C; k += W) vstore(out + k, vm::exp_f32((vload<F>(x + k) - m) - r));
  vstore(out + C - W, vm::exp_f32((vload<F>(x + C - W) - m) - r));
}

// sum_k (x[k] - x[k]): 0 when the row is finite, NaN when it holds a NaN or an infinity.
template <int W>
SEQLOSS_INLINE double nonfinite_probe(const float* x, int64_t C) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    F v = n == W ? vload<F>(x + k) : load_part<W>(x + k, n, 0.0f);
    return v - v;
  });
}

// A poisoned sequence: loss NaN, NaN gradient rows t < T_n, zeros after.
inline void ace_poison(const AceJob& job, int64_t n, int64_t Tn, int64_t T, int64_t C, const SeqRows<float>& grad) {
  job.loss_n[n] = kNaN;
  job.out->losses[n] = kNaNF;
  if (job.out->grad == nullptr) return;
  for (int64_t t = 0; t < Tn; ++t) std::fill(grad.row(t), grad.row(t) + C, kNaNF);
  for (int64_t t = Tn; t < T; ++t) std::memset(grad.row(t), 0, sizeof(float) * C);
}

// Cross-entropy ACE on K only (see the file comment). y_k^t on K is the float e^(x - m) of the frame times the
// double 1 / sum: the most likely class has e = 1 exactly, so a nearly certain frame keeps the digits of
// 1 - y_r (in g_r - d below), and the other classes carry float rounding (~1e-7 relative).
template <int W>
SEQLOSS_INLINE void ace_ce(const AceJob& job, int64_t n, const AceSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ace_outputs& out = *job.out;
  const int64_t T = p.time, C = p.classes, blank = p.blank;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : T;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const double scale = num::ace_reduction_scale(job.o->reduction == SEQLOSS_REDUCTION_MEAN, p.batch);
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const float* counts = ace_counts_row(job, n, w);
  const double tn = static_cast<double>(Tn);

  // K = {k : N_k > 0}, in class order.
  double labelled = 0.0;
  for (int64_t k = 0; k < C; ++k) {
    if (k != blank) labelled += static_cast<double>(counts[k]);
  }
  int64_t K = 0;
  for (int64_t k = 0; k < C; ++k) {
    double nk = k == blank ? num::ace_blank_count(tn, labelled) : static_cast<double>(counts[k]);
    if (nk > 0) {
      w.kc[K] = static_cast<int32_t>(k);
      w.kn[K] = nk;
      ++K;
    }
  }
  const int64_t KP = round_up(K, 8);
  for (int64_t j = K; j < KP; ++j) w.kc[j] = K > 0 ? w.kc[0] : 0;
  double* g = w.g;

  // 1. Aggregation. The frame's e^(x - m) goes straight into its gradient row, which pass 2 only rescales and
  // patches. When K is small, y_k^t on K is gathered here once (from values just written) and kept for pass 2;
  // otherwise y_k is accumulated for every class (cheaper than a gather per frame) and pass 2 gathers.
  // M[t] = m_t and R[t] = 1 / s_t (s_t = sum_k e^(x_tk - m_t) in [1, C], NaN for a poisoned frame).
  const bool with_grad = out.grad != nullptr;
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const bool keep = KP <= kKeep;
  double* yd = w.y;  // keep: y on K; else y on every class
  for (int64_t k = 0; k < (keep ? KP : C); ++k) yd[k] = 0.0;
  bool bad = false;
  auto frame = [&](float m, double s, float* e, int64_t t) SEQLOSS_LAMBDA_INLINE {
    const double inv = 1.0 / s;
    bad |= !(s == s);
    w.M[t] = m;
    w.R[t] = inv;
    if (keep) {
      double* ky = w.kyT + t * kKeep;
      gather_scaled<W>(e, w.kc, K, KP, inv, ky);
      for (int64_t j = 0; j < KP; ++j) yd[j] += ky[j];
    } else {
      accumulate_scaled<W>(e, C, inv, yd);
    }
  };
  const bool strided = p.layout == SEQLOSS_LAYOUT_TNC && p.batch > 1;
  if (logits) {
    // Two frames per step: their reductions are independent chains the core can overlap (short rows are
    // latency-bound). The accumulation order is still frame by frame.
    int64_t t = 0;
    for (; t + 1 < Tn; t += 2) {
      const float* r0 = x.row(t);
      const float* r1 = x.row(t + 1);
      if (strided && t + 3 < Tn) {  // strided (TNC) rows defeat the hardware prefetchers
        prefetch_row(x.row(t + 2), C);
        prefetch_row(x.row(t + 3), C);
      }
      float* e0 = with_grad ? grad.row(t) : w.buf;
      float* e1 = with_grad ? grad.row(t + 1) : w.buf + C;
      bool low0, low1;
      const float m0 = row_max_low<W>(r0, C, &low0);
      const float m1 = row_max_low<W>(r1, C, &low1);
      const double s0 = exp_sum_row_full<W>(r0, C, m0, low0, e0);
      const double s1 = exp_sum_row_full<W>(r1, C, m1, low1, e1);
      frame(m0, s0, e0, t);
      frame(m1, s1, e1, t + 1);
    }
    for (; t < Tn; ++t) {
      const float* row = x.row(t);
      float* e = with_grad ? grad.row(t) : w.buf;
      bool low;
      const float m = row_max_low<W>(row, C, &low);
      frame(m, exp_sum_row_full<W>(row, C, m, low, e), e, t);
    }
  } else {
    double probe = 0.0;
    for (int64_t t = 0; t < Tn; ++t) {
      const float* row = x.row(t);
      probe += nonfinite_probe<W>(row, C);
      for (int64_t j = 0; j < K; ++j) yd[keep ? j : w.kc[j]] += static_cast<double>(row[w.kc[j]]);
    }
    bad = !(probe == 0.0);
  }
  if (bad) {
    ace_poison(job, n, Tn, T, C, grad);
    return;
  }

  // 2. Loss and g_j = dL/dy_j^t on K (padding: N = 0, y = T_n, so it adds 0). A class whose linear aggregate is
  // below kTiny (logits only) gets ln y_j in log space and g_j = 0 here; pass 3 adds its terms from rho.
  const double ln_tn = std::log(tn);
  double* ly = w.ky;  // the loss terms -(N_j / T_n) ln(y_j / T_n), reused as scratch before pass 3
  int64_t tiny = 0;
  for (int64_t j = 0; j < KP; ++j) {
    const double sum = j < K ? yd[keep ? j : w.kc[j]] : tn;
    const double nk = j < K ? w.kn[j] : 0.0;
    if (logits && sum < kTiny) {
      // ln y_j = logsumexp_t (x_tj - m_t - ln s_t), max-shifted in two passes over the frames.
      const int64_t k = w.kc[j];
      double mx = vm::kNegInf;
      for (int64_t t = 0; t < Tn; ++t) {
        const double l = static_cast<double>(x.row(t)[k]) - static_cast<double>(w.M[t]) + std::log(w.R[t]);
        mx = l > mx ? l : mx;
      }
      double acc = 0.0;
      if (mx > vm::kNegInf) {
        for (int64_t t = 0; t < Tn; ++t) {
          acc += std::exp(static_cast<double>(x.row(t)[k]) - static_cast<double>(w.M[t]) + std::log(w.R[t]) - mx);
        }
      }
      const double lnyj = num::ace_log_aggregate(mx > vm::kNegInf ? mx + std::log(acc) : vm::kNegInf, tn, job.o->eps);
      w.tj[tiny] = static_cast<int32_t>(j);
      w.lny[tiny] = lnyj;
      ++tiny;
      ly[j] = num::ace_ce_term(nk, tn, lnyj - ln_tn);
      g[j] = 0.0;
    } else {
      const double yk = num::ace_aggregate(sum, tn, job.o->eps);
      ly[j] = num::ace_ce_term(nk, tn, vm::log_f64(yk / tn));
      g[j] = num::ace_ce_grad(nk, tn, yk);
    }
  }
  double loss = 0.0;
  for (int64_t j = 0; j < K; ++j) loss += ly[j];  // class order
  loss = num::ace_ce_total(loss, job.o->eps);
  job.loss_n[n] = loss;
  out.losses[n] = static_cast<float>(loss);

  // 3. Gradient: scale y_k^t (g_k - d_t) with d_t = sum_j y_j^t g_j (g_k = 0 outside K).
  if (!with_grad) return;
  // d = sum_j y_j g_j (g_j = 0 outside K; every term has the sign of -1, no cancellation). For the frame's most
  // likely class, y = e inv with e = 1 exactly, so g_r - d keeps the digits of 1 - y_r that float rounding of
  // y_r would lose. Log-space classes: their term y_j g_j is -(N_j / T_n) rho_tj, added to d, and their patch
  // gets -scale (N_j / T_n) rho_tj on top of -scale y_j d.
  auto tiny_terms = [&](int64_t t, double* rho) SEQLOSS_LAMBDA_INLINE {
    double d = 0.0;
    const double lp0 = std::log(w.R[t]) - static_cast<double>(w.M[t]);
    for (int64_t i = 0; i < tiny; ++i) {
      const int64_t j = w.tj[i];
      rho[i] = (w.kn[j] / tn) * std::exp(static_cast<double>(x.row(t)[w.kc[j]]) + lp0 - w.lny[i]);
      d -= rho[i];
    }
    return d;
  };
  if (logits) {
    for (int64_t t = 0; t < Tn; ++t) {
      float* o = grad.row(t);  // holds e^(x - m_t)
      const double inv = w.R[t];
      const double* ky;
      if (keep) {
        ky = w.kyT + t * kKeep;
      } else {
        gather_scaled<W>(o, w.kc, K, KP, inv, w.ky);
        ky = w.ky;
      }
      double d = dot8<W>(ky, g, KP);
      if (tiny > 0) d += tiny_terms(t, w.gs + KP);
      scale_row<W>(o, C, static_cast<float>(scale * -d * inv));
      if (tiny == 0) {  // the patch in one loop (no log-space class to add)
        const int32_t* __restrict kc = w.kc;
        for (int64_t j = 0; j < K; ++j) o[kc[j]] = static_cast<float>(scale * (ky[j] * (g[j] - d)));
        continue;
      }
      for (int64_t j = 0; j < KP; ++j) w.gs[j] = scale * (ky[j] * (g[j] - d));
      for (int64_t i = 0; i < tiny; ++i) w.gs[w.tj[i]] -= scale * w.gs[KP + i];
      for (int64_t j = 0; j < K; ++j) o[w.kc[j]] = static_cast<float>(w.gs[j]);
    }
  } else if (Tn > 0) {
    float* first = grad.row(0);
    std::memset(first, 0, sizeof(float) * C);
    for (int64_t j = 0; j < K; ++j) first[w.kc[j]] = static_cast<float>(scale * g[j]);
    for (int64_t t = 1; t < Tn; ++t) std::memcpy(grad.row(t), first, sizeof(float) * C);
  }
  for (int64_t t = Tn; t < T; ++t) std::memset(grad.row(t), 0, sizeof(float) * C);
}

// Any variant on all C classes (used for regression, whose g_k is dense).
template <int W>
SEQLOSS_INLINE void ace_dense(const AceJob& job, int64_t n, const AceSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ace_outputs& out = *job.out;
  const int64_t T = p.time, C = p.classes, blank = p.blank;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : T;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const bool ce = job.o->variant == SEQLOSS_ACE_CE;
  const double scale = num::ace_reduction_scale(job.o->reduction == SEQLOSS_REDUCTION_MEAN, p.batch);
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const float* counts = ace_counts_row(job, n, w);

  // 1. Aggregation.
  double* y = w.y;
  for (int64_t k = 0; k < C; ++k) y[k] = 0.0;
  for (int64_t t = 0; t < Tn; ++t) {
    const float* row = x.row(t);
    if (logits) {
      bool low;
      float m = row_max_low<W>(row, C, &low);
      double sum = exp_sum_row_full<W>(row, C, m, low, w.buf);
      double inv = 1.0 / sum;
      w.M[t] = m;
      w.R[t] = std::log(sum);
      for (int64_t k = 0; k < C; ++k) y[k] += static_cast<double>(w.buf[k]) * inv;
    } else {
      for (int64_t k = 0; k < C; ++k) y[k] += static_cast<double>(row[k]);
    }
  }
  double probe = 0.0;  // NaN when some y_k is not finite: a poisoned frame (NaN, an infinity, all -inf logits)
  for (int64_t k = 0; k < C; ++k) {
    y[k] = num::ace_aggregate(y[k], static_cast<double>(Tn), job.o->eps);
    probe += y[k] - y[k];
  }
  if (!(probe == 0.0)) {
    ace_poison(job, n, Tn, T, C, seq_rows(out.grad, p, n));
    return;
  }

  // 2. Loss and dL/dy_k^t.
  double labelled = 0.0;
  for (int64_t k = 0; k < C; ++k) {
    if (k != blank) labelled += static_cast<double>(counts[k]);
  }
  const double tn = static_cast<double>(Tn);
  const double nblank = num::ace_blank_count(tn, labelled);
  double loss = 0.0;
  double* g = w.g;
  for (int64_t k = 0; k < C; ++k) {
    double nk = k == blank ? nblank : static_cast<double>(counts[k]);
    if (ce) {
      if (nk > 0) {
        loss += num::ace_ce_term(nk, tn, std::log(y[k] / tn));
        g[k] = num::ace_ce_grad(nk, tn, y[k]);
      } else {
        g[k] = 0.0;
      }
    } else {
      loss += num::ace_regression_term(nk, y[k]);
      g[k] = num::ace_regression_grad(nk, y[k]);
    }
  }
  if (ce) loss = num::ace_ce_total(loss, job.o->eps);  // a rounding residue (see ace_ce)
  job.loss_n[n] = loss;
  out.losses[n] = static_cast<float>(loss);

  // 3. Gradient.
  if (out.grad == nullptr) return;
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  if (logits) {
    for (int64_t t = 0; t < Tn; ++t) {
      float* o = grad.row(t);
      const float* row = x.row(t);
      softmax_row_full<W>(row, C, w.M[t], static_cast<float>(w.R[t]), w.buf);
      const int64_t r = first_max(row, C, w.M[t]);
      const double gr = g[r];
      const double dot = dot_row_shifted<W>(g, gr, w.buf, C);  // sum_j (g_j - g_r) y_j
      const double* gg = g;
      const float* yt = w.buf;
      for (int64_t k = 0; k < C; ++k) {
        o[k] = static_cast<float>(scale * (static_cast<double>(yt[k]) * ((gg[k] - gr) - dot)));
      }
      o[r] = static_cast<float>(scale * (static_cast<double>(yt[r]) * -dot));
    }
  } else if (Tn > 0) {
    float* first = grad.row(0);
    for (int64_t k = 0; k < C; ++k) first[k] = static_cast<float>(scale * g[k]);
    for (int64_t t = 1; t < Tn; ++t) std::memcpy(grad.row(t), first, sizeof(float) * C);
  }
  for (int64_t t = Tn; t < T; ++t) std::memset(grad.row(t), 0, sizeof(float) * C);
}

template <int W>
SEQLOSS_INLINE void ace_sequence_impl(const AceJob& job, int64_t n, const AceSlot& w) {
  if (job.o->variant == SEQLOSS_ACE_CE) {
    ace_ce<W>(job, n, w);
  } else {
    ace_dense<W>(job, n, w);
  }
}

SEQLOSS_MULTIVERSION(void, ace_sequence, (const AceJob& job, int64_t n, const AceSlot& w), (job, n, w))

}  // namespace detail

using detail::AceSlot;

static bool ace_layout(const seqloss_problem& p, int threads, unsigned char* base, size_t* bytes, double** loss_n,
                       int64_t** label_offsets, AceSlot* slots) {
  const int64_t tmax = detail::ace_tmax(p);
  Carver shared(base);
  double* ln = shared.take<double>(p.batch);
  int64_t* toff = shared.take<int64_t>(p.counts == nullptr ? p.batch + 1 : 0);
  if (!layout_slots(shared, base, threads, bytes, slots,
                    [&](Carver& c) { return detail::carve_ace_slot(c, tmax, p.classes); })) {
    return false;
  }
  if (base != nullptr) {
    *loss_n = ln;
    *label_offsets = toff;
  }
  return true;
}

bool ace_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes) {
  return ace_layout(p, threads, nullptr, bytes, nullptr, nullptr, nullptr);
}

void ace(const seqloss_problem& p, const seqloss_ace_options& o, int threads, const seqloss_ace_outputs& out,
         void* workspace) {
  std::vector<AceSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  double* loss_n = nullptr;
  int64_t* toff = nullptr;
  ace_layout(p, threads, align64(workspace), &bytes, &loss_n, &toff, slots.data());
  if (p.counts == nullptr) {
    toff[0] = 0;
    for (int32_t n = 0; n < p.batch; ++n) toff[n + 1] = toff[n] + p.target_lengths[n];
  }
  detail::AceJob job{&p, &o, &out, loss_n, toff};
  const int width = dispatch_width();
  // ~1.5 ns per input element on one thread (logits, C = 37, AVX-512), a little less for probabilities.
  parallel_for(worth_threads(threads, 1.5), p.batch,
               [&](int64_t n, int slot) { detail::ace_sequence(width, job, n, slots[slot]); });
  if (out.loss != nullptr) {
    double total = 0.0;
    for (int32_t n = 0; n < p.batch; ++n) total += loss_n[n];
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= p.batch;
    *out.loss = total;
  }
}

}  // namespace cpu
}  // namespace seqloss
