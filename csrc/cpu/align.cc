// align.cc — ctcAlign on the CPU: the single most probable path with B(path) = l per sequence (viterbi.h).
//
// Per sequence n, on one thread: the compact classes of the extended label (its distinct classes), one pass over
// the T_n frames for their emissions relative to the frame's largest log-probability (numerics.h, as the CTC
// kernel: rho = x - m_t in double, c_t = -r_t = -ln sum_k e^(x_tk - m_t) for logits; rho = x - max x, c_t = max x
// for log-probs; rho < -1e8 is probability 0), then viterbi() on rho, and the score best + sum_t c_t. The rho are
// the same doubles on every backend, so every comparison, ties included, goes the same way everywhere.
// paths row n: the class per frame t < T_n, -1 after; all -1 and score -inf when no path collapses to the label;
// all -1 and score NaN when a frame t < T_n holds a NaN or +inf (logits: or only -inf).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/viterbi.h"
#include "cpu/vmath.h"
#include "numerics.h"

namespace seqloss {
namespace cpu {
namespace detail {

struct AlignDims {
  int64_t tmax;  // the longest T_n
  int64_t lmax;  // the longest label that fits its T_n (longer ones are impossible and touch no scratch)
};

inline AlignDims align_dims(const seqloss_problem& p) {
  int64_t tmax = 0, lmax = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    int64_t tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
    int64_t l = p.target_lengths[n];
    tmax = std::max(tmax, tn);
    if (l <= tn) lmax = std::max(lmax, l);
  }
  return AlignDims{tmax, lmax};
}

struct AlignSlot {
  double* ly;               // tmax x (lmax + 1): ln y^t of the compact classes
  int32_t* cidx;            // 2 lmax + 1: compact index of each state
  int32_t* u;               // lmax + 1: compact class -> class
  int32_t* cmap;            // C: class -> compact index, -1 when unused (restored after each sequence)
  unsigned char* vscratch;  // viterbi_scratch_bytes(tmax, lmax)
};

inline AlignSlot carve_slot(Carver& c, const AlignDims& d, int64_t C) {
  AlignSlot s;
  s.ly = c.take<double>(d.tmax * (d.lmax + 1));
  s.cidx = c.take<int32_t>(2 * d.lmax + 1);
  s.u = c.take<int32_t>(d.lmax + 1);
  s.cmap = c.take<int32_t>(C);
  const size_t vb = viterbi_scratch_bytes(d.tmax, d.lmax);
  s.vscratch = vb == ~size_t{0} ? c.take<unsigned char>(-1) : c.take<unsigned char>(static_cast<int64_t>(vb));
  return s;
}

struct AlignJob {
  const seqloss_problem* p;
  const int64_t* offsets;  // N: start of each sequence's labels in targets
  const seqloss_align_outputs* out;
};

template <int W>
SEQLOSS_INLINE void align_sequence_impl(const AlignJob& job, int64_t n, const AlignSlot& w) {
  const seqloss_problem& p = *job.p;
  const int64_t T = p.time, C = p.classes;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : T;
  const int64_t L = p.target_lengths[n];
  const int32_t* lab = p.targets + job.offsets[n];
  int32_t* prow = job.out->paths + n * T;
  float* score = job.out->scores + n;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  const bool strided = p.layout == SEQLOSS_LAYOUT_TNC && p.batch > 1;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;

  auto set_nan = [&] {
    std::fill(prow, prow + T, -1);
    *score = std::numeric_limits<float>::quiet_NaN();
  };

  int64_t repeats = 0;
  if (L <= Tn) {
    for (int64_t i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1] ? 1 : 0;
  }
  if (L > Tn || L + repeats > Tn) {
    // NaN in, NaN out, before "no path".
    for (int64_t t = 0; t < Tn; ++t) {
      const float* r = x.row(t);
      if (count_nan_inf<W>(r, C) != 0.0 || (logits && row_max<W>(r, C) == -vm::kInfF)) return set_nan();
    }
    std::fill(prow, prow + T, -1);
    *score = -std::numeric_limits<float>::infinity();
    return;
  }

  // The compact classes of l' = (blank, l_1, blank, ..., l_L, blank).
  const int64_t S = 2 * L + 1;
  int64_t U = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int32_t c = (s & 1) != 0 ? lab[(s - 1) / 2] : p.blank;
    if (w.cmap[c] < 0) {
      w.cmap[c] = static_cast<int32_t>(U);
      w.u[U++] = c;
    }
    w.cidx[s] = w.cmap[c];
  }
  for (int64_t j = 0; j < U; ++j) w.cmap[w.u[j]] = -1;

  // rho of the compact classes, and shift = sum_t c_t.
  double shift = 0.0;
  for (int64_t t = 0; t < Tn; ++t) {
    const float* r = x.row(t);
    if (strided && t + 2 < Tn) prefetch_row(x.row(t + 2), C);  // TNC rows defeat the hardware prefetchers
    double* ly = w.ly + t * U;
    const float m = row_max<W>(r, C);
    if (logits) {
      const double lr = std::log(expsum_row<W>(r, C, m));
      if (lr != lr) return set_nan();  // NaN, +inf or a row of -inf
      shift -= lr;
    } else if (count_nan_inf<W>(r, C) != 0.0) {
      return set_nan();
    } else if (m == -vm::kInfF) {
      for (int64_t j = 0; j < U; ++j) ly[j] = vm::kNegInf;  // probability 0 everywhere: no path
      continue;
    } else {
      shift += m;
    }
    for (int64_t j = 0; j < U; ++j) ly[j] = num::clamp_log_zero(static_cast<double>(r[w.u[j]]) - m);
  }

  const double best = viterbi(w.ly, U, Tn, lab, L, p.blank, w.cidx, w.vscratch, prow);
  if (best == vm::kNegInf) {
    std::fill(prow, prow + T, -1);
  } else {
    std::fill(prow + Tn, prow + T, -1);
  }
  *score = static_cast<float>(best == vm::kNegInf ? best : best + shift);
}

SEQLOSS_MULTIVERSION(void, align_sequence, (const AlignJob& job, int64_t n, const AlignSlot& w), (job, n, w))

}  // namespace detail

using detail::AlignDims;
using detail::AlignSlot;

static bool align_layout(const seqloss_problem& p, int threads, unsigned char* base, size_t* bytes, int64_t** offsets,
                         AlignSlot* slots) {
  const AlignDims d = detail::align_dims(p);
  Carver shared(base);
  int64_t* off = shared.take<int64_t>(p.batch);
  if (!layout_slots(shared, base, threads, bytes, slots,
                    [&](Carver& c) { return detail::carve_slot(c, d, p.classes); })) {
    return false;
  }
  if (base != nullptr) *offsets = off;
  return true;
}

bool align_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes) {
  return align_layout(p, threads, nullptr, bytes, nullptr, nullptr);
}

void ctc_align(const seqloss_problem& p, int threads, const seqloss_align_outputs& out, void* workspace) {
  std::vector<AlignSlot> slots(static_cast<size_t>(threads));
  size_t bytes = 0;
  int64_t* offsets = nullptr;
  align_layout(p, threads, align64(workspace), &bytes, &offsets, slots.data());
  for (auto& s : slots) std::fill(s.cmap, s.cmap + p.classes, -1);
  int64_t acc = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    offsets[n] = acc;
    acc += p.target_lengths[n];
  }
  const detail::AlignJob job{&p, offsets, &out};
  const int width = dispatch_width();
  parallel_for(threads, p.batch, [&](int64_t n, int slot) { detail::align_sequence(width, job, n, slots[slot]); });
}

}  // namespace cpu
}  // namespace seqloss
