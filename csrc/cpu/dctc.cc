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

namespace seqloss {
namespace cpu {
namespace detail {

// ---- the DCTC formulas ----------------------------------------------------------------------------------------

// The distillation target at frame t, Q_t = softmax(u_t - s m e_z), in closed form from ln P_z (and P_z):
// D = 1 - P_z + P_z e^(-s m), ln Q_z = ln P_z - s m - ln D, Q_k = P_k / D (k != z), and Q_z - 1 = -(1 - P_z) / D.
// 1 - P_z is -expm1(ln P_z) where P_z > 1/2 (no cancellation; below, 1 - P_z is exact to rounding), and D = 1
// exactly when m = 0 (then Q = P).
struct Distill {
  double om;     // 1 - P_z
  double inv_D;  // 1 / D
  double ce;     // CE_t = -ln Q_z
};
SEQLOSS_INLINE Distill distill_at(double lnPz, double Pz, double sm, double esm) {
  const double om = Pz > 0.5 ? -std::expm1(lnPz) : 1.0 - Pz;
  if (sm == 0.0) return Distill{om, 1.0, -lnPz};
  const double D = om + Pz * esm;
  return Distill{om, 1.0 / D, -(lnPz - sm - vm::log_f64(D))};
}

// The gradient bracket beta (P_k - y'_k) + lambda (Q_k - [k = z]) (times r s outside): for k != z
// beta (P_k - y'_k) + lambda P_k / D, for z beta (P_z - y'_z) - lambda (1 - P_z) / D; outside the label
// (y'_k = 0, k != z) that is P_k (beta + lambda / D), the factor of the dense softmax row.
SEQLOSS_INLINE double dctc_grad(double beta, double lambda, double Pk, double yk, const Distill& d) {
  return beta * (Pk - yk) + lambda * Pk * d.inv_D;
}
SEQLOSS_INLINE double dctc_grad_z(double beta, double lambda, double Pz, double yz, const Distill& d) {
  return beta * (Pz - yz) - lambda * d.om * d.inv_D;
}
SEQLOSS_INLINE double dctc_dense_factor(double beta, double lambda, const Distill& d) {
  return beta + lambda * d.inv_D;
}

// L_n = beta ctc_n + lambda distill_n, the CTC term left out when beta = 0 (no 0 * inf).
SEQLOSS_INLINE double dctc_loss(double beta, double lambda, double ctc_n, double distill_n) {
  return (beta == 0.0 ? 0.0 : beta * ctc_n) + lambda * distill_n;
}

// z*_t over the compact classes j < U (keys padded with zeros to UP): the largest key, ties to the lowest class
// u[j]. Returns the compact index, or -1 when every key is 0 (y'_t = 0). Vector passes (the max, then how many
// keys and which hold it); the rare tie is settled by a scalar pass.
template <int W>
SEQLOSS_INLINE int64_t argmax_compact(const double* __restrict key, const int32_t* __restrict u, int64_t U,
                                      int64_t UP) {
  const double m = max8<W>(key, UP);
  if (m == 0.0) return -1;
  int64_t count = 0, at = 0;
  for (int64_t j = 0; j < UP; ++j) {
    const bool hit = key[j] == m;
    count += hit ? 1 : 0;
    at += hit ? j : 0;
  }
  if (count == 1) return at;
  int64_t best = -1;
  for (int64_t j = 0; j < U; ++j) {
    if (key[j] == m && (best < 0 || u[j] < u[best])) best = j;
  }
  return best;
}

constexpr double kRatioFloor = 1e-8;  // 'ratio': y'_k / max(P_k, 1e-8)

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
  double rs;     // r s: reduction scale times logit scale
  double s;      // logit scale
  float s_f;
  double sm;     // s m
  double esm;    // e^(-s m)
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
    double* P = w.P + t * q.UP;
    for (int64_t j = 0; j < q.UP; ++j) P[j] = xf::to_double(w.c.cm[j], w.c.ck[j]);
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
      jz = argmax_compact<W>(yp, u, U, UP);
    } else {
      double* key = w.key;
      for (int64_t j = 0; j < UP; ++j) key[j] = yp[j] / (P[j] > kRatioFloor ? P[j] : kRatioFloor);
      jz = argmax_compact<W>(key, u, U, UP);
    }
    if (jz < 0) jz = 0;  // y'_t = 0: the blank (compact class 0)
    const int32_t z = u[jz];
    const float* row = q.x.row(t);
    const Distill d = distill_at(log_softmax_at<true>(row[z], w.c.M[t], w.c.R[t], job.s), P[jz], job.sm, job.esm);
    ce += d.ce;
    if (align != nullptr) align[t] = z;
    if (job.out->grad != nullptr) {
      float* g = grad.row(t);
      if (q.strided && t >= 2) {
        prefetch_row(g - 2 * grad.stride, C);
        prefetch_row(q.x.row(t - 2), C);
      }
      const double beta = o.ctc_weight, lambda = o.lambda, rs = job.rs;
      softmax_row_scaled<W>(row, C, w.c.M[t], job.s_f, static_cast<float>(w.c.R[t]),
                            static_cast<float>(rs * dctc_dense_factor(beta, lambda, d)), g);
      // The label's classes and z in double.
      double* val = w.c.val;
      for (int64_t j = 0; j < UP; ++j) val[j] = rs * dctc_grad(beta, lambda, P[j], yp[j], d);
      val[jz] = rs * dctc_grad_z(beta, lambda, P[jz], yp[jz], d);
      for (int64_t j = 0; j < U; ++j) g[u[j]] = static_cast<float>(val[j]);
    }
  }
};

// The distillation alone over frames t < T_n: z*_t = z[t] (or the blank when z is null); the gradient rows (when
// written) get only lambda (Q_t - e_z). stats: m_t, r_t are in the slot (else they are computed here).
template <int W>
SEQLOSS_INLINE double distill_pass(const DctcJob& job, const CtcSeq& q, const DctcSlot& w, const int32_t* z,
                                   bool stats, SeqRows<float> grad, int32_t* align) {
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
    const double lnPz = log_softmax_at<true>(row[zt], m, r, job.s);
    const Distill d = distill_at(lnPz, std::exp(lnPz), job.sm, job.esm);
    ce += d.ce;
    if (align != nullptr) align[t] = zt;
    if (job.out->grad != nullptr) {
      float* g = grad.row(t);
      softmax_row_scaled<W>(row, C, m, job.s_f, static_cast<float>(r),
                            static_cast<float>(job.rs * dctc_dense_factor(0.0, lambda, d)), g);
      g[zt] = static_cast<float>(job.rs * dctc_grad_z(0.0, lambda, 0.0, 0.0, d));
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
  if (!ctc_core<W, true>(p, q, job.s_f, job.s, w.c, sink, &loss)) {
    ctc_n = o.zero_infinity != 0 ? 0.0 : std::numeric_limits<double>::infinity();
    distill_n = distill_pass<W>(job, q, w, nullptr, false, grad, align);
  } else {
    ctc_n = loss;
    distill_n = sink.ran ? sink.ce : distill_pass<W>(job, q, w, w.path, true, grad, align);
  }
  const double ln = dctc_loss(o.ctc_weight, o.lambda, ctc_n, distill_n);
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
  detail::DctcJob job{&p,          &o, &out, offsets, loss_n, r * o.scale, o.scale, static_cast<float>(o.scale),
                      o.scale * o.margin, std::exp(-o.scale * o.margin)};
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
