// dctc.cc — Distillation CTC (Zhang et al., AAAI 2024) on the CPU.
//
// Per sequence n, on one thread, with u = s a (a the logits) and P = softmax(u):
//  1-2. The CTC forward of ctc_kernel.h under P (the kernel's scaled row statistics: m_t = max_k a_tk,
//       r_t = ln sum_k e^(s (a_tk - m_t)), ln P_tk = s (a_tk - m_t) - r_t). 'viterbi' keeps ln P of the compact
//       classes of every frame and runs viterbi.h's best path before the backward.
//  3.   The backward: at frame t, y'_t is known, so z*_t ('ratio': argmax y' / max(P, 1e-8), 'posterior':
//       argmax y', 'viterbi': the path's class), CE_t and the whole gradient row follow at once:
//       r s [beta (P_t - y'_t) + lambda (Q_t - e_z)] with Q_k = P_k / D (k != z) is the softmax row times
//       r s (beta + lambda / D) on every class outside the label, and the label's classes and z are patched in
//       double.
// Impossible sequences (and frames of sequences whose CTC term needs no backward) go through a plain pass over
// the frames with z* = blank (or the Viterbi path): only the distillation part.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/ctc_kernel.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/viterbi.h"
#include "cpu/vmath.h"
#include "cpu/xfloat.h"
#include "numerics.h"

namespace seqloss {
namespace cpu {
namespace detail {

// ---- the DCTC formulas (numerics.h) --------------------------------------------------------------------------

// The distillation terms of frame t with target z (numerics.h distill_*): Q_t = softmax(rho - s m e_z) in log
// space. r = r_t, Pz = P_z; with a margin, R_z = ln sum_{k != z} e^rho_k comes from P_z where P_z <= 1/2 and from a
// pass over the other classes otherwise (z is then the frame's unique maximum and 1 - P_z would cancel).
SEQLOSS_INLINE num::DistillTerms distill_frame(const float* row, int64_t C, int32_t z, float m, double r, double s,
                                               double sm) {
  const double rho_z = relative_at<true>(row[z], m, s);
  if (sm == 0.0) return num::distill_plain(rho_z - r);
  const double Pz = std::exp(rho_z - r);
  double Rz;
  if (Pz <= 0.5) {
    Rz = num::rest_from_pz(r, Pz);
  } else {
    double mx = vm::kNegInf;
    for (int64_t k = 0; k < C; ++k) {
      if (k != z) mx = std::max(mx, relative_at<true>(row[k], m, s));
    }
    double sum = 0.0;
    if (mx != vm::kNegInf) {
      for (int64_t k = 0; k < C; ++k) {
        if (k != z) sum += std::exp(relative_at<true>(row[k], m, s) - mx);
      }
    }
    Rz = mx == vm::kNegInf ? vm::kNegInf : mx + std::log(sum);
  }
  return num::distill_margin(rho_z, r, Rz, sm);
}

// The dense gradient row rs (beta P_k + lambda Q_k), Q_k = P_k e^ell: one float softmax row times a factor while
// e^ell is moderate, else each class in double (P_k may underflow float where Q_k does not).
template <int W>
SEQLOSS_INLINE void dense_row(const float* row, int64_t C, float m, float s_f, double s, double r, double rs,
                              double beta, double lambda, const num::DistillTerms& d, float* g) {
  if (d.ell <= num::kDenseFactorLog) {
    const double factor = d.ell == 0.0 ? beta + lambda : beta + lambda * std::exp(d.ell);
    softmax_row_scaled<W>(row, C, m, s_f, static_cast<float>(r), static_cast<float>(rs * factor), g);
    return;
  }
  for (int64_t k = 0; k < C; ++k) {
    const double lnP = relative_at<true>(row[k], m, s) - r;
    g[k] = static_cast<float>(rs * (beta * std::exp(lnP) + lambda * std::exp(lnP + d.ell)));
  }
}

// z*_t over the compact classes j < U (numerics.h, D6): keys within a relative kZTie of the largest are tied;
// among them the posteriors within kZTie of their largest; then the lowest class u[j]. Returns the compact index,
// or -1 when every key is 0 (y'_t = 0).
SEQLOSS_INLINE int64_t near_tie_argmax(const double* __restrict key, const double* __restrict yp,
                                       const int32_t* __restrict u, int64_t U) {
  double best = 0.0;
  for (int64_t j = 0; j < U; ++j) best = key[j] > best ? key[j] : best;
  if (!(best > 0.0)) return -1;
  const double kf = num::tie_floor(best);
  double ybest = 0.0;
  for (int64_t j = 0; j < U; ++j) {
    if (key[j] >= kf && yp[j] > ybest) ybest = yp[j];
  }
  const double yf = num::tie_floor(ybest);
  int64_t at = -1;
  for (int64_t j = 0; j < U; ++j) {
    if (key[j] >= kf && yp[j] >= yf && (at < 0 || u[j] < u[at])) at = j;
  }
  return at;
}

// ---- the kernel -----------------------------------------------------------------------------------------------

struct DctcSlot {
  CtcSlot c;
  double* P;      // tmax x sp: P_k of the compact classes per frame (double, from the kernel's emissions)
  double* key;    // sp: 'ratio' keys (one frame)
  double* lg;     // 'viterbi': tmax x sp, ln P of the compact classes per frame
  int32_t* path;  // 'viterbi': tmax
  void* vs;       // 'viterbi': viterbi() scratch
};

struct DctcJob {
  const seqloss_problem* p;
  const seqloss_dctc_options* o;
  const seqloss_dctc_outputs* out;
  const int64_t* offsets;
  double* loss_n;
  double rs;  // r s: reduction scale times logit scale
  double s;   // logit scale
  float s_f;
  double sm;  // s m, in double (up to 1e36)
};

// The backward's sink: z*, CE and the gradient row of each frame.
template <int W>
struct DctcSink {
  const DctcJob& job;
  const DctcSlot& w;
  const CtcSeq& q;
  SeqRows<float> grad;
  int32_t* align;  // row n of the alignment output, or null
  int32_t mode;
  double ce = 0.0;
  bool ran = false;  // the backward ran (else the caller does the distillation pass)
  static constexpr bool kPosteriorRows = false;

  SEQLOSS_INLINE void emission(int64_t t) {
    // P_tj = e^(rho - r_t) in double (0 where rho is below the extended range, as the recursion has it).
    double* P = w.P + t * q.UP;
    for (int64_t j = 0; j < q.UP; ++j) P[j] = std::exp(w.c.ec[j] - w.c.R[t]);
    if (mode == SEQLOSS_DCTC_VITERBI) std::memcpy(w.lg + t * q.UP, w.c.ec, sizeof(double) * q.UP);
  }
  SEQLOSS_INLINE bool backward(double) {
    if (mode == SEQLOSS_DCTC_VITERBI) {
      const double best = viterbi(w.lg, q.UP, q.Tn, q.lab, q.L, job.p->blank, w.c.cidx, w.vs, w.path);
      if (best == vm::kNegInf) std::fill(w.path, w.path + q.Tn, job.p->blank);
      if (job.out->grad == nullptr) return false;  // z* is known: no need for y'
    }
    ran = true;
    return true;
  }
  SEQLOSS_INLINE void frame(int64_t t, const double*, const int64_t*) {
    const seqloss_problem& p = *job.p;
    const seqloss_dctc_options& o = *job.o;
    const int64_t C = p.classes, U = q.U, UP = q.UP;
    const int32_t* u = w.c.u;
    const double* yp = w.c.Yp;
    const double* P = w.P + t * UP;
    int64_t jz = -1;
    if (mode == SEQLOSS_DCTC_VITERBI) {
      const int32_t zc = w.path[t];
      for (int64_t j = U - 1; j >= 0; --j) jz = u[j] == zc ? j : jz;
    } else if (mode == SEQLOSS_DCTC_POSTERIOR) {
      jz = near_tie_argmax(yp, yp, u, U);
    } else {
      double* key = w.key;
      for (int64_t j = 0; j < U; ++j) key[j] = yp[j] / (P[j] > num::kRatioFloor ? P[j] : num::kRatioFloor);
      jz = near_tie_argmax(key, yp, u, U);
    }
    if (jz < 0) jz = 0;  // y'_t = 0: the blank (compact class 0)
    const int32_t z = u[jz];
    const float* row = q.x.row(t);
    const float m = w.c.M[t];
    const double r = w.c.R[t];
    const num::DistillTerms d = distill_frame(row, C, z, m, r, job.s, job.sm);
    ce += d.ce;
    if (align != nullptr) align[t] = z;
    if (job.out->grad != nullptr) {
      float* g = grad.row(t);
      if (q.strided && t >= 2) {
        prefetch_row(g - 2 * grad.stride, C);
        prefetch_row(q.x.row(t - 2), C);
      }
      const double beta = o.ctc_weight, lambda = o.lambda, rs = job.rs;
      dense_row<W>(row, C, m, job.s_f, job.s, r, rs, beta, lambda, d, g);
      // The label's classes and z in double.
      for (int64_t j = 0; j < U; ++j) {
        const double lnP = relative_at<true>(row[u[j]], m, job.s) - r;
        g[u[j]] = static_cast<float>(rs * num::dctc_bracket(beta, lambda, P[j], lnP, yp[j], d, j == jz));
      }
    }
  }
};

// The distillation alone over frames t < T_n: z*_t = z[t] (or the blank when z is null); the gradient rows (when
// written) get only lambda (Q_t - e_z). stats: m_t, r_t are in the slot (else they are computed here).
template <int W>
SEQLOSS_INLINE double distill_pass(const DctcJob& job, const CtcSeq& q, const DctcSlot& w, const int32_t* z, bool stats,
                                   SeqRows<float> grad, int32_t* align) {
  const seqloss_problem& p = *job.p;
  const int64_t C = p.classes;
  const double lambda = job.o->lambda;
  double ce = 0.0;
  for (int64_t t = 0; t < q.Tn; ++t) {
    const float* row = q.x.row(t);
    if (q.strided && t + 2 < q.Tn) prefetch_row(q.x.row(t + 2), C);
    float m;
    double r;
    if (stats) {
      m = w.c.M[t];
      r = w.c.R[t];
    } else {
      row_logsumexp<W, true>(row, C, job.s_f, &m, &r);
    }
    const int32_t zt = z != nullptr ? z[t] : p.blank;
    const num::DistillTerms d = distill_frame(row, C, zt, m, r, job.s, job.sm);
    ce += d.ce;
    if (align != nullptr) align[t] = zt;
    if (job.out->grad != nullptr) {
      float* g = grad.row(t);
      dense_row<W>(row, C, m, job.s_f, job.s, r, job.rs, 0.0, lambda, d, g);
      g[zt] = static_cast<float>(job.rs * num::dctc_bracket(0.0, lambda, 0.0, 0.0, 0.0, d, true));
    }
  }
  return ce;
}

template <int W>
SEQLOSS_INLINE void dctc_sequence_impl(const DctcJob& job, int64_t n, const DctcSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_dctc_options& o = *job.o;
  const seqloss_dctc_outputs& out = *job.out;
  const int64_t T = p.time, C = p.classes;
  CtcSeq q = make_seq(p, job.offsets, n);
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  int32_t* align = out.alignment != nullptr ? out.alignment + n * T : nullptr;
  DctcSink<W> sink{job, w, q, grad, align, o.alignment};
  double loss = 0.0, ctc_n = 0.0, distill_n = 0.0;
  const CoreResult res = ctc_core<W, true>(p, q, job.s_f, job.s, w.c, sink, &loss);
  if (res == kNaN) {
    // NaN in, NaN out: both terms, the rows t < T_n; z* = the blank there.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    job.loss_n[n] = nan;
    out.losses[n] = static_cast<float>(nan);
    if (out.ctc_losses != nullptr) out.ctc_losses[n] = static_cast<float>(nan);
    if (out.distill_losses != nullptr) out.distill_losses[n] = static_cast<float>(nan);
    for (int64_t t = 0; t < T; ++t) {
      if (out.grad != nullptr) {
        std::fill(grad.row(t), grad.row(t) + C, t < q.Tn ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
      }
      if (align != nullptr) align[t] = t < q.Tn ? p.blank : -1;
    }
    return;
  }
  if (res == kImpossible) {
    ctc_n = o.zero_infinity != 0 ? 0.0 : std::numeric_limits<double>::infinity();
    distill_n = distill_pass<W>(job, q, w, nullptr, false, grad, align);
  } else {
    ctc_n = loss;
    distill_n = sink.ran ? sink.ce : distill_pass<W>(job, q, w, w.path, true, grad, align);
  }
  const double ln = num::dctc_total(o.ctc_weight, o.lambda, ctc_n, distill_n);
  job.loss_n[n] = ln;
  out.losses[n] = static_cast<float>(ln);
  if (out.ctc_losses != nullptr) out.ctc_losses[n] = static_cast<float>(ctc_n);
  if (out.distill_losses != nullptr) out.distill_losses[n] = static_cast<float>(distill_n);
  for (int64_t t = q.Tn; t < T; ++t) {
    if (out.grad != nullptr) std::memset(grad.row(t), 0, sizeof(float) * C);
    if (align != nullptr) align[t] = -1;
  }
}

SEQLOSS_MULTIVERSION(void, dctc_sequence, (const DctcJob& job, int64_t n, const DctcSlot& w), (job, n, w))

}  // namespace detail

using detail::DctcSlot;

static bool dctc_layout(const seqloss_problem& p, const seqloss_dctc_options& o, int threads, unsigned char* base,
                        size_t* bytes, double** loss_n, int64_t** offsets, DctcSlot* slots) {
  const detail::CtcDims d = detail::ctc_dims(p);
  const bool vit = o.alignment == SEQLOSS_DCTC_VITERBI;
  Carver shared(base);
  double* ln = shared.take<double>(p.batch);
  int64_t* off = shared.take<int64_t>(p.batch);
  const size_t vbytes = vit ? viterbi_scratch_bytes(d.tmax, d.lmax) : 0;
  if (!layout_slots(shared, base, threads, bytes, slots, [&](Carver& c) {
        DctcSlot s{};
        s.c = detail::carve_slot(c, d, p.classes);
        s.P = c.take<double>(d.tmax * d.sp);
        s.key = c.take<double>(d.sp);
        if (vit) {
          s.lg = c.take<double>(d.tmax * d.sp);
          s.path = c.take<int32_t>(d.tmax);
          s.vs = c.take<unsigned char>(static_cast<int64_t>(vbytes));
        }
        return s;
      })) {
    return false;
  }
  if (base != nullptr) {
    *loss_n = ln;
    *offsets = off;
  }
  return true;
}

bool dctc_workspace_bytes(const seqloss_problem& p, const seqloss_dctc_options& o, int threads, size_t* bytes) {
  return dctc_layout(p, o, threads, nullptr, bytes, nullptr, nullptr, nullptr);
}

void dctc(const seqloss_problem& p, const seqloss_dctc_options& o, int threads, const seqloss_dctc_outputs& out,
          void* workspace) {
  std::vector<DctcSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  double* loss_n = nullptr;
  int64_t* offsets = nullptr;
  dctc_layout(p, o, threads, align64(workspace), &bytes, &loss_n, &offsets, slots.data());
  for (auto& s : slots) std::fill(s.c.cmap, s.c.cmap + p.classes, -1);
  detail::label_offsets(p, offsets);
  const double r = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / p.batch : 1.0;
  detail::DctcJob job{
      &p, &o, &out, offsets, loss_n, r * o.scale, o.scale, static_cast<float>(o.scale), o.scale * o.margin};
  const int width = dispatch_width();
  parallel_for(threads, p.batch, [&](int64_t n, int slot) { detail::dctc_sequence(width, job, n, slots[slot]); });
  if (out.loss != nullptr) {
    double total = 0.0;
    for (int32_t n = 0; n < p.batch; ++n) total += loss_n[n];
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= p.batch;
    *out.loss = total;
  }
}

}  // namespace cpu
}  // namespace seqloss
