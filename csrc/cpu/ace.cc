// ace.cc — Aggregation Cross-Entropy (Xie et al., CVPR 2019) on the CPU, 1D and flattened 2D.
//
// Per sequence n, on one thread:
//  1. y_k = sum_{t<T_n} (y_k^t + eps), with y^t the softmax of the logits (or the probabilities as given), summed
//     in double.
//  2. N_blank = T_n - sum_{k != blank} N_k. CE (Eq. 8): L = -sum_{k: N_k > 0} (N_k / T_n) ln(y_k / T_n);
//     regression (Eq. 4): L = 1/2 sum_k (N_k - y_k)^2. g_k = dL/dy_k^t: CE -N_k / (T_n y_k) (0 when N_k = 0),
//     regression y_k - N_k.
//  3. grad: probabilities scale * g_k on every frame t < T_n; logits (through the softmax, Eq. 9)
//     scale * y_k^t (g_k - sum_j g_j y_j^t). Frames t >= T_n get zeros.
// CE (ace_ce) touches only K = {k : N_k > 0} (the label's classes and the blank): pass 1 is a max and a sum of
// exps per frame, with e^(x - m) written straight into the gradient row; pass 2 scales that row by one number
// per frame (every class outside K has gradient y_k^t * (-d_t)) and patches K in double.
// Regression (ace_dense) has a dense g and works on all C classes; there the Jacobian is applied as
// y_k ((g_k - g_r) - sum_j y_j (g_j - g_r)) with r the frame's most likely class (the same number, as
// sum_j y_j = 1), so nearly one-hot frames do not lose 1 - y_r to float rounding.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/vmath.h"

namespace seqloss {
namespace cpu {
namespace detail {

constexpr int64_t kKeep = 64;  // CE: keep y^t on K between the passes when K fits in this many

struct AceSlot {
  double* y;     // C: y_k
  double* g;     // C: g_k (regression) / K: g_k (CE)
  double* R;     // tmax: r_t (regression) / 1 / sum_k e^(x_k - m_t) (CE)
  float* M;      // tmax: m_t (regression)
  float* buf;    // 2 C: one or two frames' y^t or e^(x - m)
  int32_t* kc;   // C + 8: the classes of K
  double* kn;    // C + 8: N_k on K
  double* ky;    // C + 8: y_k^t on K (one frame)
  double* kyT;   // tmax x kKeep: y_k^t on K for every frame, when K is small
  double* gs;    // C + 8: gradient values on K (one frame)
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
  s.gs = c.take<double>(C + 8);
  return s;
}

struct AceJob {
  const seqloss_problem* p;
  const seqloss_ace_options* o;
  const seqloss_ace_outputs* out;
  double* loss_n;
};

// The most likely class of a frame: the first k with x[k] == m.
SEQLOSS_INLINE int64_t first_max(const float* row, int64_t C, float m) {
  int64_t r = 0;
  while (r + 1 < C && !(row[r] == m)) ++r;
  return r;
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
  const double scale = job.o->reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / p.batch : 1.0;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const float* counts = p.counts + n * C;
  const double tn = static_cast<double>(Tn);

  // K = {k : N_k > 0}, in class order.
  double labelled = 0.0;
  for (int64_t k = 0; k < C; ++k) {
    if (k != blank) labelled += static_cast<double>(counts[k]);
  }
  int64_t K = 0;
  for (int64_t k = 0; k < C; ++k) {
    double nk = k == blank ? tn - labelled : static_cast<double>(counts[k]);
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
  const bool with_grad = out.grad != nullptr;
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const bool keep = KP <= kKeep;
  double* yd = w.y;  // keep: y on K; else y on every class
  for (int64_t k = 0; k < (keep ? KP : C); ++k) yd[k] = 0.0;
  auto frame = [&](const float* row, float m, double inv, float* e, int64_t t) SEQLOSS_LAMBDA_INLINE {
    w.R[t] = inv;
    if (keep) {
      double* ky = w.kyT + t * kKeep;
      gather_scaled<W>(e, w.kc, K, KP, inv, ky);
      for (int64_t j = 0; j < KP; ++j) yd[j] += ky[j];
    } else {
      accumulate_scaled<W>(e, C, inv, yd);
    }
    (void)row;
    (void)m;
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
      const float m0 = row_max<W>(r0, C);
      const float m1 = row_max<W>(r1, C);
      const double s0 = exp_sum_row<W>(r0, C, m0, e0);
      const double s1 = exp_sum_row<W>(r1, C, m1, e1);
      frame(r0, m0, 1.0 / s0, e0, t);
      frame(r1, m1, 1.0 / s1, e1, t + 1);
    }
    for (; t < Tn; ++t) {
      const float* row = x.row(t);
      float* e = with_grad ? grad.row(t) : w.buf;
      const float m = row_max<W>(row, C);
      frame(row, m, 1.0 / exp_sum_row<W>(row, C, m, e), e, t);
    }
  } else {
    for (int64_t t = 0; t < Tn; ++t) {
      const float* row = x.row(t);
      for (int64_t j = 0; j < K; ++j) yd[keep ? j : w.kc[j]] += static_cast<double>(row[w.kc[j]]);
    }
  }
  // 2. Loss and g_j = dL/dy_j^t on K (padding: N = 0, y = T_n, so it adds 0).
  const double teps = tn * job.o->eps;
  double* ly = w.ky;  // ln(y_j / T_n) terms, reused as scratch before pass 2
  for (int64_t j = 0; j < KP; ++j) {
    double yk = j < K ? yd[keep ? j : w.kc[j]] + teps : tn;
    double nk = j < K ? w.kn[j] : 0.0;
    ly[j] = (nk / tn) * vm::log_f64(yk / tn);
    g[j] = -nk / (tn * yk);
  }
  double loss = 0.0;
  for (int64_t j = 0; j < K; ++j) loss -= ly[j];  // class order
  job.loss_n[n] = loss;
  out.losses[n] = static_cast<float>(loss);

  // 3. Gradient: scale y_k^t (g_k - d_t) with d_t = sum_j y_j^t g_j (g_k = 0 outside K).
  if (!with_grad) return;
  // d = sum_j y_j g_j (g_j = 0 outside K; every term has the sign of -1, no cancellation). For the frame's most
  // likely class, y = e inv with e = 1 exactly, so g_r - d keeps the digits of 1 - y_r that float rounding of
  // y_r would lose.
  if (logits && keep) {
    for (int64_t t = 0; t < Tn; ++t) {
      float* o = grad.row(t);  // holds e^(x - m_t)
      const double* ky = w.kyT + t * kKeep;
      const double d = dot8<W>(ky, g, KP);
      scale_row<W>(o, C, static_cast<float>(scale * -d * w.R[t]));
      for (int64_t j = 0; j < KP; ++j) w.gs[j] = scale * (ky[j] * (g[j] - d));
      for (int64_t j = 0; j < K; ++j) o[w.kc[j]] = static_cast<float>(w.gs[j]);
    }
  } else if (logits) {
    for (int64_t t = 0; t < Tn; ++t) {
      float* o = grad.row(t);  // holds e^(x - m_t)
      const double inv = w.R[t];
      gather_scaled<W>(o, w.kc, K, KP, inv, w.ky);
      const double d = dot8<W>(w.ky, g, KP);
      scale_row<W>(o, C, static_cast<float>(scale * -d * inv));
      for (int64_t j = 0; j < KP; ++j) w.gs[j] = scale * (w.ky[j] * (g[j] - d));
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
  const double scale = job.o->reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / p.batch : 1.0;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const float* counts = p.counts + n * C;

  // 1. Aggregation.
  double* y = w.y;
  for (int64_t k = 0; k < C; ++k) y[k] = 0.0;
  for (int64_t t = 0; t < Tn; ++t) {
    const float* row = x.row(t);
    if (logits) {
      float m = row_max<W>(row, C);
      exp_row<W>(row, C, m, w.buf);
      double sum = sum_row<W>(w.buf, C);
      double inv = 1.0 / sum;
      w.M[t] = m;
      w.R[t] = std::log(sum);
      for (int64_t k = 0; k < C; ++k) y[k] += static_cast<double>(w.buf[k]) * inv;
    } else {
      for (int64_t k = 0; k < C; ++k) y[k] += static_cast<double>(row[k]);
    }
  }
  const double teps = static_cast<double>(Tn) * job.o->eps;
  for (int64_t k = 0; k < C; ++k) y[k] += teps;

  // 2. Loss and dL/dy_k^t.
  double labelled = 0.0;
  for (int64_t k = 0; k < C; ++k) {
    if (k != blank) labelled += static_cast<double>(counts[k]);
  }
  const double nblank = static_cast<double>(Tn) - labelled;
  const double tn = static_cast<double>(Tn);
  double loss = 0.0;
  double* g = w.g;
  for (int64_t k = 0; k < C; ++k) {
    double nk = k == blank ? nblank : static_cast<double>(counts[k]);
    if (ce) {
      if (nk > 0) {
        loss -= (nk / tn) * std::log(y[k] / tn);
        g[k] = -nk / (tn * y[k]);
      } else {
        g[k] = 0.0;
      }
    } else {
      double d = nk - y[k];
      loss += 0.5 * d * d;
      g[k] = y[k] - nk;
    }
  }
  job.loss_n[n] = loss;
  out.losses[n] = static_cast<float>(loss);

  // 3. Gradient.
  if (out.grad == nullptr) return;
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  if (logits) {
    for (int64_t t = 0; t < Tn; ++t) {
      float* o = grad.row(t);
      const float* row = x.row(t);
      softmax_row<W>(row, C, w.M[t], static_cast<float>(w.R[t]), 1.0f, w.buf);
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
                       AceSlot* slots) {
  const int64_t tmax = detail::ace_tmax(p);
  Carver shared(base);
  double* ln = shared.take<double>(p.batch);
  if (!layout_slots(shared, base, threads, bytes, slots,
                    [&](Carver& c) { return detail::carve_ace_slot(c, tmax, p.classes); })) {
    return false;
  }
  if (base != nullptr) *loss_n = ln;
  return true;
}

bool ace_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes) {
  return ace_layout(p, threads, nullptr, bytes, nullptr, nullptr);
}

void ace(const seqloss_problem& p, const seqloss_ace_options& o, int threads, const seqloss_ace_outputs& out,
         void* workspace) {
  std::vector<AceSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  double* loss_n = nullptr;
  ace_layout(p, threads, align64(workspace), &bytes, &loss_n, slots.data());
  detail::AceJob job{&p, &o, &out, loss_n};
  const int width = dispatch_width();
  parallel_for(threads, p.batch, [&](int64_t n, int slot) { detail::ace_sequence(width, job, n, slots[slot]); });
  if (out.loss != nullptr) {
    double total = 0.0;
    for (int32_t n = 0; n < p.batch; ++n) total += loss_n[n];
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= p.batch;
    *out.loss = total;
  }
}

}  // namespace cpu
}  // namespace seqloss
