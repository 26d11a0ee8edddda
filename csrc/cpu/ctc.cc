// ctc.cc — CTC loss, gradient and frame posterior on the CPU (Graves et al. 2006, forward-backward; the
// per-sequence kernel is in ctc_kernel.h), and its "iterative fitting" variant (Li & Wang, fit.h).
//
// Plain CTC: the kernel's backward keeps each frame's posterior y'_t (compact classes); then one forward sweep
// writes the rows: softmax(x_t) - y'_t (logits) or -y'_t (log-probs; e^(x_t) - y'_t in PyTorch's convention,
// options.grad_convention), times the reduction scale, with the label's classes recomputed in double (no
// cancellation error), and the posterior row y'_t.
// Impossible alignments give +inf (or 0 with zero_infinity) and zero rows.
//
// Fit (alpha / gamma, logits only): y' must be known on every frame of a scope before any row can be written.
//  A. Per sequence in parallel: the kernel, keeping y'_t and y_t of the compact classes (double rows in the
//     shared workspace), m_t, r_t, and the sequence's V_k = sum_t y'_tk and N_k on its compact classes.
//  B. alpha with scope 'batch': V_k, N_k and L summed over the batch in sequence order (one thread, over C-sized
//     arrays: deterministic for any thread count), then the factors f_k.
//  C. Per sequence in parallel: alpha (Eq. 15-16) on every frame, gamma weights (Eq. 17-18), then the rows: the
//     softmax row times scale w^_t, the compact classes in double scale w^_t (y - y'), and the posterior y' (after
//     alpha). Without gamma, alpha is applied in the row loop (one pass over the kept rows less).
// Only alpha over the batch needs B between A and C. Otherwise a sequence's C runs right after its A in the same
// task, re-reading logits that are still in cache. With B, the logits are long out of cache when C comes: without
// gamma the rows outside the label's classes are those of plain CTC, so A writes them right after its kernel
// ("dense") and C only patches the label's classes (scattered lines, prefetched two frames ahead); with gamma,
// which rescales whole rows, C writes the rows and takes the sequences in reverse order, starting on the logits A
// read last. A and C run on one set of threads (parallel_two_pass) with B between them on the calling thread.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/ctc_kernel.h"
#include "cpu/fit.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/vmath.h"
#include "cpu/xfloat.h"

namespace seqloss {
namespace cpu {
namespace detail {

// What the fit keeps between the phases (shared workspace). Sequences left out (no feasible alignment, or
// T_n = 0) have U[n] = 0.
struct FitShared {
  int64_t* toff;  // N: first frame of sequence n in M, R (sum of the T_n before it)
  int64_t* yoff;  // N: first value of its rows in Yf, Yc (sum of T_n cap_n before it)
  int64_t* coff;  // N: first value of its compact arrays ucls, Vn, Nn (sum of cap_n before it)
  int32_t* U;     // N: its compact classes
  double* Yf;     // T_n x UP_n per sequence: y'_t on the compact classes (then after alpha)
  double* Yc;     // T_n x UP_n per sequence: y_t on the compact classes
  float* M;       // m_t
  double* R;      // r_t
  int32_t* ucls;  // compact class -> class
  double* Vn;     // Eq. 13 over the sequence
  double* Nn;     // Eq. 14 over the sequence
  double* V;      // C: batch V_k
  double* Nk;     // C: batch N_k
  double* f;      // C: batch factors
  double* cw;     // per frame (as M, R): the scale of its gradient row, scale w^_t
};

// Compact arrays of sequence n: room for its U <= min(L + 1, C) classes, 0 when it is left out for sure.
inline int64_t fit_cap(const seqloss_problem& p, int64_t n) {
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
  const int64_t L = p.target_lengths[n];
  if (Tn == 0 || L > Tn) return 0;
  return round_up(std::min<int64_t>(L + 1, p.classes), kBlock);
}

struct FitSlot {
  CtcSlot c;
  double* g;     // sp: alpha factors of the compact classes
  double* diff;  // sp: the gradient values of one frame
};

struct CtcJob {
  const seqloss_problem* p;
  const seqloss_ctc_options* o;
  const int64_t* offsets;  // N: start of each sequence's labels in targets
  double* loss_n;          // N: per-sequence loss (double), for the reduction
  const seqloss_ctc_outputs* out;
  const FitShared* fs;  // fit only
  double fit_L;         // fit, scope 'batch': L over the batch
  bool dense;           // fit, scope 'batch' without gamma: phase A writes the rows, C patches the label's classes
};

SEQLOSS_INLINE double reduction_scale(const seqloss_problem& p, int32_t reduction, int64_t L) {
  return num::ctc_reduction_scale(reduction == SEQLOSS_REDUCTION_MEAN, static_cast<double>(p.batch),
                                  static_cast<double>(L));
}

// Zero rows [t0, t1) of grad and posterior (when requested).
SEQLOSS_INLINE void zero_rows(const seqloss_problem& p, const seqloss_ctc_outputs& out, int64_t n, int64_t t0,
                              int64_t t1) {
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const SeqRows<float> post = seq_rows(out.posterior, p, n);
  for (int64_t t = t0; t < t1; ++t) {
    if (out.grad != nullptr) std::memset(grad.row(t), 0, sizeof(float) * p.classes);
    if (out.posterior != nullptr) std::memset(post.row(t), 0, sizeof(float) * p.classes);
  }
}

SEQLOSS_INLINE void set_loss(const CtcJob& job, int64_t n, double loss) {
  job.loss_n[n] = loss;
  job.out->losses[n] = static_cast<float>(loss);
}

SEQLOSS_INLINE void set_impossible(const CtcJob& job, int64_t n) {
  set_loss(job, n, job.o->zero_infinity != 0 ? 0.0 : std::numeric_limits<double>::infinity());
  zero_rows(*job.p, *job.out, n, 0, job.p->time);
}

// A NaN or +inf in a frame t < T_n (logits: or a frame of -inf): loss NaN (zero_infinity does not apply), NaN rows
// t < T_n, zero rows after.
SEQLOSS_INLINE void set_nan(const CtcJob& job, int64_t n, int64_t Tn) {
  const seqloss_problem& p = *job.p;
  const seqloss_ctc_outputs& out = *job.out;
  set_loss(job, n, std::numeric_limits<double>::quiet_NaN());
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const SeqRows<float> post = seq_rows(out.posterior, p, n);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t t = 0; t < Tn; ++t) {
    if (out.grad != nullptr) std::fill(grad.row(t), grad.row(t) + p.classes, nan);
    if (out.posterior != nullptr) std::fill(post.row(t), post.row(t) + p.classes, nan);
  }
  zero_rows(p, out, n, Tn, p.time);
}

// The outputs of a sequence the recursion did not solve: NaN (set_nan) or impossible (set_impossible).
SEQLOSS_INLINE void set_unsolved(const CtcJob& job, int64_t n, int64_t Tn, CoreResult res) {
  if (res == kNaN) {
    set_nan(job, n, Tn);
  } else {
    set_impossible(job, n);
  }
}

// val_j = scale * (y^t_j - y'_j) for the compact classes j < U, y^t_j = e^((x - m_t) - r_t) in double.
SEQLOSS_INLINE void compact_grad(const float* __restrict row, const int32_t* __restrict u, float m, double r,
                                 const double* __restrict yp, double scale, double* __restrict val, int64_t U) {
  for (int64_t j = 0; j < U; ++j) val[j] = scale * (std::exp(log_softmax_at<false>(row[u[j]], m, r, 1.0)) - yp[j]);
}

// ---- plain CTC ------------------------------------------------------------------------------------------------

// The backward keeps y'_t of every frame (compact classes, rows of UP in w.Ypr); the rows are written afterwards
// in one forward sweep over the frames. (Writing each row inside the backward, interleaved with the beta
// recursion and in reverse frame order, measured slower at every size.)
struct PlainSink {
  const seqloss_ctc_outputs& out;
  const CtcSlot& w;
  const CtcSeq& q;
  static constexpr bool kPosteriorRows = true;

  SEQLOSS_INLINE void emission(int64_t) {}
  SEQLOSS_INLINE bool backward(double) { return out.grad != nullptr || out.posterior != nullptr; }
  SEQLOSS_INLINE double* posterior_row(int64_t t) { return w.Ypr + t * q.UP; }
  SEQLOSS_INLINE void frame(int64_t, const double*, const int64_t*) {}
};

// Frame t's rows: softmax(x_t) - y'_t (logits) or -y'_t (log-probs; PyTorch's convention: e^(x_t) - y'_t), times
// the reduction scale, with the label's classes recomputed in double (no cancellation error), and the posterior row
// y'_t.
template <int W>
SEQLOSS_INLINE void plain_rows(const seqloss_problem& p, const seqloss_ctc_outputs& out, const CtcSlot& w,
                               const CtcSeq& q, SeqRows<float> grad, SeqRows<float> post, double scale, bool pytorch,
                               int64_t t) {
  const int64_t C = p.classes, U = q.U, UP = q.UP;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const double* yp = w.Ypr + t * UP;
  if (out.grad != nullptr) {
    float* g = grad.row(t);
    if (q.strided && t + 2 < q.Tn) {
      prefetch_row(g + 2 * grad.stride, C);
      if (logits) prefetch_row(q.x.row(t + 2), C);
    }
    if (logits) {
      softmax_row<W>(q.x.row(t), C, w.M[t], static_cast<float>(w.R[t]), static_cast<float>(scale), g);
      compact_grad(q.x.row(t), w.u, w.M[t], w.R[t], yp, scale, w.val, U);
      for (int64_t j = 0; j < U; ++j) g[w.u[j]] = static_cast<float>(w.val[j]);
    } else if (pytorch) {
      const float* x = q.x.row(t);
      const float sf = static_cast<float>(scale);
      for (int64_t k = 0; k < C; ++k) g[k] = std::exp(x[k]) * sf;
      for (int64_t j = 0; j < U; ++j) {
        g[w.u[j]] = static_cast<float>(scale * (std::exp(static_cast<double>(x[w.u[j]])) - yp[j]));
      }
    } else {
      std::memset(g, 0, sizeof(float) * C);
      for (int64_t j = 0; j < U; ++j) g[w.u[j]] = static_cast<float>(-scale * yp[j]);
    }
  }
  if (out.posterior != nullptr) {
    float* r = post.row(t);
    std::memset(r, 0, sizeof(float) * C);
    for (int64_t j = 0; j < U; ++j) r[w.u[j]] = static_cast<float>(yp[j]);
  }
}

template <int W>
SEQLOSS_INLINE void ctc_sequence_impl(const CtcJob& job, int64_t n, const CtcSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ctc_outputs& out = *job.out;
  CtcSeq q = make_seq(p, job.offsets, n);
  const double scale = reduction_scale(p, job.o->reduction, q.L);
  PlainSink sink{out, w, q};
  double loss = 0.0;
  const CoreResult res = ctc_core<W, false>(p, q, 1.0f, 1.0, w, sink, &loss);
  if (res != kSolved) {
    set_unsolved(job, n, q.Tn, res);
    return;
  }
  set_loss(job, n, loss);
  if (sink.backward(loss)) {
    const SeqRows<float> grad = seq_rows(out.grad, p, n);
    const SeqRows<float> post = seq_rows(out.posterior, p, n);
    const bool pytorch = job.o->grad_convention == SEQLOSS_GRAD_PYTORCH;
    for (int64_t t = 0; t < q.Tn; ++t) plain_rows<W>(p, out, w, q, grad, post, scale, pytorch, t);
  }
  zero_rows(p, out, n, q.Tn, p.time);
}

SEQLOSS_MULTIVERSION(void, ctc_sequence, (const CtcJob& job, int64_t n, const CtcSlot& w), (job, n, w))

// ---- fit ------------------------------------------------------------------------------------------------------

// Phase A: keeps y_t (from the kernel's forward emissions) and y'_t (summed by the kernel straight into its row)
// of every frame, m_t, r_t and the sequence's sums.
struct FitStoreSink {
  const FitShared& fs;
  const CtcSlot& w;
  const CtcSeq& q;
  double* yf = nullptr;
  double* vn = nullptr;

  SEQLOSS_INLINE void emission(int64_t t) {
    // y_t = e^(rho - r_t) in double (0 where rho is below the extended range, as the recursion has it).
    double* b = fs.Yc + fs.yoff[q.n] + t * q.UP;
    for (int64_t j = 0; j < q.UP; ++j) b[j] = std::exp(w.ec[j] - w.R[t]);
  }
  SEQLOSS_INLINE bool backward(double) {
    const int64_t n = q.n, U = q.U, UP = q.UP;
    if (q.Tn == 0) return false;  // left out of every sum
    fs.U[n] = static_cast<int32_t>(U);
    int32_t* u = fs.ucls + fs.coff[n];
    vn = fs.Vn + fs.coff[n];
    double* nn = fs.Nn + fs.coff[n];
    for (int64_t j = 0; j < UP; ++j) {
      u[j] = j < U ? w.u[j] : 0;
      vn[j] = 0.0;
      nn[j] = 0.0;
    }
    for (int64_t i = 0; i < q.L; ++i) nn[w.cidx[2 * i + 1]] += 1.0;  // Eq. 14 (label i is state 2 i + 1)
    std::memcpy(fs.M + fs.toff[n], w.M, sizeof(float) * q.Tn);
    std::memcpy(fs.R + fs.toff[n], w.R, sizeof(double) * q.Tn);
    yf = fs.Yf + fs.yoff[n];
    return true;
  }
  static constexpr bool kPosteriorRows = true;
  SEQLOSS_INLINE double* posterior_row(int64_t t) { return yf + t * q.UP; }
  SEQLOSS_INLINE void frame(int64_t t, const double*, const int64_t*) {
    const int64_t UP = q.UP;
    const double* a = yf + t * UP;
    for (int64_t j = 0; j < UP; ++j) vn[j] += a[j];  // Eq. 13, frames from the last
  }
};

template <int W>
SEQLOSS_INLINE void fit_collect_impl(const CtcJob& job, int64_t n, const CtcSlot& w) {
  const seqloss_problem& p = *job.p;
  CtcSeq q = make_seq(p, job.offsets, n);
  job.fs->U[n] = 0;
  FitStoreSink sink{*job.fs, w, q};
  double loss = 0.0;
  const CoreResult res = ctc_core<W, false>(p, q, 1.0f, 1.0, w, sink, &loss);
  if (res != kSolved) {
    set_unsolved(job, n, q.Tn, res);  // left out of the fitting sums (fs.U[n] = 0), as impossible sequences
    return;
  }
  set_loss(job, n, loss);
  if (job.dense && job.out->grad != nullptr) {
    // The rows outside the label's classes, scale softmax(x_t), while the logits are in cache; C patches the rest.
    const SeqRows<float> grad = seq_rows(job.out->grad, p, n);
    const float scale = static_cast<float>(reduction_scale(p, job.o->reduction, q.L));
    for (int64_t t = 0; t < q.Tn; ++t) {
      softmax_row<W>(q.x.row(t), p.classes, w.M[t], static_cast<float>(w.R[t]), scale, grad.row(t));
    }
  }
  zero_rows(p, *job.out, n, q.Tn, p.time);
}

SEQLOSS_MULTIVERSION(void, fit_collect, (const CtcJob& job, int64_t n, const CtcSlot& w), (job, n, w))

// Phase C, per sequence: the alpha factors of its compact classes into w.g (Eq. 15), and the scale of each frame's
// gradient row, scale w^_t (Eq. 17-18), into fs.cw. gamma needs y' after alpha on every frame first, so then
// alpha (Eq. 16) is applied here; otherwise the row loop applies it frame by frame (one pass less). Returns
// whether alpha is left to the row loop.
template <int W>
SEQLOSS_INLINE bool fit_prepare(const CtcJob& job, int64_t n, const FitSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ctc_options& o = *job.o;
  const FitShared& fs = *job.fs;
  const int64_t U = fs.U[n];
  const int64_t UP = round_up(U, kBlock);
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
  const int64_t L = p.target_lengths[n];
  const int32_t* u = fs.ucls + fs.coff[n];
  double* yf = fs.Yf + fs.yoff[n];
  const double* yc = fs.Yc + fs.yoff[n];
  double* cw = fs.cw + fs.toff[n];

  // alpha: the factors of the sequence's compact classes.
  bool alpha = false;
  if (o.fit_alpha != 0.0) {
    if (o.fit_alpha_scope == SEQLOSS_FIT_SCOPE_BATCH) {
      alpha = job.fit_L > 0.0;
      for (int64_t j = 0; alpha && j < U; ++j) w.g[j] = fs.f[u[j]];
    } else {
      alpha = L > 0;
      const double* vn = fs.Vn + fs.coff[n];
      const double* nn = fs.Nn + fs.coff[n];
      for (int64_t j = 0; alpha && j < U; ++j) {
        w.g[j] = fit::fit_alpha_factor(o.fit_alpha, j == 0, nn[j], static_cast<double>(L), vn[j]);
      }
    }
    fill<double>(w.g, U, UP, 0.0);
  }
  // gamma (the posterior is y' alone: no gamma without grad): every frame with alpha applied, then w_t.
  const bool gamma = o.fit_gamma != 0.0 && job.out->grad != nullptr;
  const double scale = reduction_scale(p, o.reduction, L);
  if (gamma) {
    for (int64_t t = 0; t < Tn; ++t) {
      if (alpha) fit::alpha_renormalise<W>(yf + t * UP, w.g, UP);
      cw[t] = fit::gamma_frame_weight<W>(yf + t * UP, yc + t * UP, UP);
    }
    const double gm = o.fit_gamma;
    if (gm != 1.0) {
      for (int64_t t = 0; t < Tn; ++t) cw[t] = fit::gamma_power(cw[t], gm);
    }
    double wsum = 0.0;
    for (int64_t t = 0; t < Tn; ++t) wsum += cw[t];
    for (int64_t t = 0; t < Tn; ++t) cw[t] = scale * fit::fit_gamma_normalised(cw[t], wsum, static_cast<double>(Tn));
  } else {
    for (int64_t t = 0; t < Tn; ++t) cw[t] = scale;
  }
  return alpha && !gamma;
}

// Phase C for sequence n: prepared, then its rows: the gradient (the softmax row times c_t, then the compact
// classes in double c_t (y - y')) and the posterior (y'). Sequences left out keep the zero rows of phase A.
template <int W>
SEQLOSS_INLINE void fit_write_impl(const CtcJob& job, int64_t n, const FitSlot& w) {
  const seqloss_problem& p = *job.p;
  const seqloss_ctc_outputs& out = *job.out;
  const FitShared& fs = *job.fs;
  const int64_t U = fs.U[n];
  if (U == 0) return;
  const bool alpha = fit_prepare<W>(job, n, w);
  const int64_t C = p.classes;
  const int64_t UP = round_up(U, kBlock);
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
  const int32_t* u = fs.ucls + fs.coff[n];
  double* yf = fs.Yf + fs.yoff[n];
  const double* yc = fs.Yc + fs.yoff[n];
  const float* M = fs.M + fs.toff[n];
  const double* R = fs.R + fs.toff[n];
  const double* cw = fs.cw + fs.toff[n];
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const SeqRows<float> grad = seq_rows(out.grad, p, n);
  const SeqRows<float> post = seq_rows(out.posterior, p, n);
  const bool strided = p.layout == SEQLOSS_LAYOUT_TNC && p.batch > 1;
  for (int64_t t = 0; t < Tn; ++t) {
    double* a = yf + t * UP;
    if (alpha) fit::alpha_renormalise<W>(a, w.g, UP);
    if (out.grad != nullptr) {
      const double c = cw[t];
      float* g = grad.row(t);
      if (!job.dense) {
        if (strided && t + 2 < Tn) {
          prefetch_row(g + 2 * grad.stride, C);
          prefetch_row(x.row(t + 2), C);
        }
        softmax_row<W>(x.row(t), C, M[t], static_cast<float>(R[t]), static_cast<float>(c), g);
      } else if (t + 2 < Tn) {
        // Only the label's classes are written: scattered lines of rows long out of cache, asked for ahead.
        const float* ahead = grad.row(t + 2);
        for (int64_t j = 0; j < U; ++j) prefetch_for_write(ahead + u[j]);
      }
      const double* b = yc + t * UP;
      for (int64_t j = 0; j < UP; ++j) w.diff[j] = c * (b[j] - a[j]);
      for (int64_t j = 0; j < U; ++j) g[u[j]] = static_cast<float>(w.diff[j]);
    }
    if (out.posterior != nullptr) {
      float* r = post.row(t);
      std::memset(r, 0, sizeof(float) * C);
      for (int64_t j = 0; j < U; ++j) r[u[j]] = static_cast<float>(a[j]);
    }
  }
}

SEQLOSS_MULTIVERSION(void, fit_write, (const CtcJob& job, int64_t n, const FitSlot& w), (job, n, w))

}  // namespace detail

using detail::CtcDims;
using detail::FitShared;
using detail::FitSlot;

static bool fit_active(const seqloss_ctc_options& o) { return o.fit_alpha != 0.0 || o.fit_gamma != 0.0; }

// Shared: loss_n, offsets (and the fit's arrays when it is on); then one slot per thread.
static bool ctc_layout(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, unsigned char* base,
                       size_t* bytes, double** loss_n, int64_t** offsets, FitShared* fs, FitSlot* slots) {
  const CtcDims d = detail::ctc_dims(p);
  const bool fit = fit_active(o);
  Carver shared(base);
  double* ln = shared.take<double>(p.batch);
  int64_t* off = shared.take<int64_t>(p.batch);
  FitShared f{};
  if (fit) {
    int64_t frames = 0, values = 0, compact = 0;
    for (int32_t n = 0; n < p.batch; ++n) {
      const int64_t tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
      const int64_t cap = detail::fit_cap(p, n);
      int64_t tc = 0;
      if (mul_overflow(tn, cap, &tc) || add_overflow(values, tc, &values)) return false;
      frames += tn;
      compact += cap;
    }
    f.toff = shared.take<int64_t>(p.batch);
    f.yoff = shared.take<int64_t>(p.batch);
    f.coff = shared.take<int64_t>(p.batch);
    f.U = shared.take<int32_t>(p.batch);
    f.Yf = shared.take<double>(values);
    f.Yc = shared.take<double>(values);
    f.M = shared.take<float>(frames);
    f.R = shared.take<double>(frames);
    f.cw = shared.take<double>(frames);
    f.ucls = shared.take<int32_t>(compact);
    f.Vn = shared.take<double>(compact);
    f.Nn = shared.take<double>(compact);
    f.V = shared.take<double>(p.classes);
    f.Nk = shared.take<double>(p.classes);
    f.f = shared.take<double>(p.classes);
  }
  if (!layout_slots(shared, base, threads, bytes, slots, [&](Carver& c) {
        FitSlot s{};
        s.c = detail::carve_slot(c, d, p.classes, true);  // the plain path also runs for fit options without grad
        if (fit) {
          s.g = c.take<double>(d.sp);
          s.diff = c.take<double>(d.sp);
        }
        return s;
      })) {
    return false;
  }
  if (base != nullptr) {
    *loss_n = ln;
    *offsets = off;
    *fs = f;
  }
  return true;
}

bool ctc_workspace_bytes(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, size_t* bytes) {
  return ctc_layout(p, o, threads, nullptr, bytes, nullptr, nullptr, nullptr, nullptr);
}

void ctc(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, const seqloss_ctc_outputs& out,
         void* workspace) {
  std::vector<FitSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  double* loss_n = nullptr;
  int64_t* offsets = nullptr;
  FitShared fs{};
  ctc_layout(p, o, threads, align64(workspace), &bytes, &loss_n, &offsets, &fs, slots.data());
  for (auto& s : slots) std::fill(s.c.cmap, s.c.cmap + p.classes, -1);
  detail::label_offsets(p, offsets);
  // Phases A, B, C (see the top of this file): B only for alpha over the batch; then, without gamma, A writes the
  // dense rows and C patches the label's classes.
  const bool batch_alpha = o.fit_alpha != 0.0 && o.fit_alpha_scope == SEQLOSS_FIT_SCOPE_BATCH;
  detail::CtcJob job{&p, &o, offsets, loss_n, &out, &fs, 0.0, batch_alpha && o.fit_gamma == 0.0};
  const int width = dispatch_width();
  // The fit changes only grad and posterior (gamma only grad): without them it is plain CTC.
  const bool fit = (o.fit_alpha != 0.0 && (out.grad != nullptr || out.posterior != nullptr)) ||
                   (o.fit_gamma != 0.0 && out.grad != nullptr);
  if (!fit) {
    parallel_for(threads, p.batch, [&](int64_t n, int slot) { detail::ctc_sequence(width, job, n, slots[slot].c); });
  } else {
    int64_t frames = 0, values = 0, compact = 0;
    for (int32_t n = 0; n < p.batch; ++n) {
      const int64_t tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
      const int64_t cap = detail::fit_cap(p, n);
      fs.toff[n] = frames;
      fs.yoff[n] = values;
      fs.coff[n] = compact;
      frames += tn;
      values += tn * cap;
      compact += cap;
    }
    if (!batch_alpha) {
      parallel_for(threads, p.batch, [&](int64_t n, int slot) {
        detail::fit_collect(width, job, n, slots[slot].c);
        detail::fit_write(width, job, n, slots[slot]);
      });
    } else {
      // B: Eq. 13-14 over the batch, in sequence order; then the factors (Eq. 15).
      auto batch_factors = [&] {
        std::fill(fs.V, fs.V + p.classes, 0.0);
        std::fill(fs.Nk, fs.Nk + p.classes, 0.0);
        double Lb = 0.0;
        for (int32_t n = 0; n < p.batch; ++n) {
          const int64_t U = fs.U[n];
          if (U == 0) continue;
          const int32_t* u = fs.ucls + fs.coff[n];
          for (int64_t j = 0; j < U; ++j) {
            fs.V[u[j]] += fs.Vn[fs.coff[n] + j];
            fs.Nk[u[j]] += fs.Nn[fs.coff[n] + j];
          }
          Lb += p.target_lengths[n];
        }
        for (int64_t k = 0; k < p.classes; ++k) {
          fs.f[k] = fit::fit_alpha_factor(o.fit_alpha, k == p.blank, fs.Nk[k], Lb, fs.V[k]);
        }
        job.fit_L = Lb;
      };
      // C in reverse sequence order: it starts on the logits A read last (still in the last-level cache).
      parallel_two_pass(
          threads, p.batch, [&](int64_t n, int slot) { detail::fit_collect(width, job, n, slots[slot].c); },
          batch_factors, [&](int64_t i, int slot) { detail::fit_write(width, job, p.batch - 1 - i, slots[slot]); });
    }
  }
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
