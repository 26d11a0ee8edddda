// plan.cc — the launch plans of the CUDA entries and their cost model (plan.h). Every count below is read off the
// kernel it describes (ctc.cu, ace.cu); a change to a kernel's memory traffic or arithmetic changes its step here.
#include "plan.h"

#include <algorithm>

#include <cstring>

#include "numerics.h"

namespace seqloss {
namespace cuda {

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::kShift: return "shift_kernel";
    case Kernel::kFitBatchL: return "fit_batch_l_kernel";
    case Kernel::kFitFactor: return "fit_factor_kernel";
    case Kernel::kFitGamma: return "fit_gamma_kernel";
    case Kernel::kDctcLosses: return "dctc_losses_kernel";
    case Kernel::kAceStats: return "ace32_stats_kernel";
    case Kernel::kAcePartial: return "ace32_partial_kernel";
    case Kernel::kAceTotal: return "ace32_total_kernel";
    case Kernel::kAceLoss: return "ace32_loss_kernel";
    case Kernel::kAceRows: return "ace32_rows_kernel";
    case Kernel::kCtc32Stats: return "ctc32_stats_kernel";
    case Kernel::kAlpha32: return "alpha32_kernel";
    case Kernel::kBeta32: return "beta32_kernel";
    case Kernel::kCtc32Patch: return "ctc32_patch_kernel";
    case Kernel::kFit32Vsum: return "fit32_vsum_kernel";
    case Kernel::kFit32Rows: return "fit32_rows_kernel";
    case Kernel::kCtc32Rows: return "ctc32_rows_kernel";
    case Kernel::kDctc32Rows: return "dctc32_rows_kernel";
    case Kernel::kViterbi32: return "viterbi32_kernel";
  }
  return "?";
}

LabelWants ctc_wants(const seqloss_ctc_options& o, int32_t memory, bool grad, bool post) {
  LabelWants w;
  w.grad = grad;
  w.post = post;
  w.host = memory == SEQLOSS_MEMORY_HOST;
  w.fit_alpha = o.fit_alpha != 0.0 && (grad || post);
  w.fit_gamma = o.fit_gamma != 0.0 && grad;
  w.batch_scope = w.fit_alpha && o.fit_alpha_scope == SEQLOSS_FIT_SCOPE_BATCH;
  return w;
}

LabelWants dctc_wants(const seqloss_dctc_options& o, int32_t memory, bool grad) {
  LabelWants w;
  w.grad = grad;
  w.host = memory == SEQLOSS_MEMORY_HOST;
  w.viterbi = o.alignment == SEQLOSS_DCTC_VITERBI;
  w.dctc = true;
  return w;
}

LabelWants align_wants(int32_t memory) {
  LabelWants w;
  w.host = memory == SEQLOSS_MEMORY_HOST;
  w.viterbi = true;
  return w;
}

namespace {

// Static shared memory of the block reductions (runtime.cuh): 33 doubles for block_sum, 33 floats for block_max.
constexpr int32_t kSharedSumD = 33 * 8;

// A fixed-tree block sum of doubles (runtime.cuh block_sum): per warp 5 shuffles (2 instructions each for a
// double) and 5 adds, then the same over the warps' sums.
double fp64_block_sum(int threads) { return 15.0 * (threads / 32) + 15.0; }

}  // namespace

namespace {

// The label operations, on the extended-range FP32 pipeline (ctc.cu): FP64 only per row, class and sequence.
void plan_ctc32(const seqloss_problem& p, const LabelWants& w, const LabelPlan& q, LaunchPlan* plan) {
  const double N = p.batch, NT = N * p.time, C = p.classes;
  const double R = static_cast<double>(q.rows), Y = static_cast<double>(q.ytotal), A = static_cast<double>(q.atotal);
  const double St = static_cast<double>(q.stotal);
  plan->precision = 32;
  // The lattice of the sequences whose rows do not fit in shared memory (their rows round-trip the workspace).
  double big = 0;
  for (int32_t n = 0; n < p.batch; ++n) {
    if (q.S[static_cast<size_t>(n)] > kRowCap)
      big += static_cast<double>(q.S[static_cast<size_t>(n)]) * q.Tn[static_cast<size_t>(n)];
  }
  const double dense = (w.grad ? 1 : 0) + (w.post ? 1 : 0);
  const double dense_stats = (w.grad && !w.fit_gamma && !w.dctc ? 1 : 0) + (w.post ? 1 : 0);  // ctc32_stats writes
  // xfloat32 values (checkpoints, the recomputed segments, rows) are 12 bytes, float-float pairs (r_t, y', γ, ρ) 8.
  // The emissions are read from the logits (4 bytes per compact value, and m_t per row) by the recursions.
  const double Ck = static_cast<double>(q.ctotal), ck = q.ck;
  const double Ae = ck > 1 ? A : 0;  // the states of the recomputed segments
  if (q.rows > 0) {
    Step& s = plan->add(Kernel::kCtc32Stats, row_grid(q.rows), block_threads(p.classes, kRowThreads));
    s.shared = (66 + 1) * 4;
    s.bytes = 4 * R * C * (1 + dense_stats) + 20 * R + (w.viterbi ? 12 * Y : 0);
    s.fp64_other = R * (kFp64Log + 5);  // r_t = ln(hi + lo) in double, once per row (thread 0)
  }
  {
    Step& s = plan->add(Kernel::kShift, grid_for(p.batch, 128), 128);
    s.bytes = 8 * R + 8 * N;
    s.fp64_other = 3 * R;
  }
  const int seq_threads = block_threads(q.smax, kSeqThreads);
  if (w.forward()) {
    Step& s = plan->add(Kernel::kAlpha32, p.batch, seq_threads);
    s.shared = 6 * 4 * kRowCap + 6 * 4 * kEmitCap;
    s.bytes = 12 * Ck + 4 * Y + 4 * R + 5 * St + 24 * big + 28 * N;
    s.fp64_other = N * (kFp64Log + 6);  // ln p per sequence
  }
  if (w.backward()) {
    Step& b = plan->add(Kernel::kBeta32, p.batch, seq_threads);
    b.shared = 8 * 4 * kRowCap + 6 * 4 * kEmitCap + 132 * 4;
    // The segments' recomputation reads the checkpoints and the emissions again, and writes and reads each
    // recomputed α once (12 bytes each way); the β row kept across it, 24 bytes a state per segment.
    const double segments = ck > 1 ? St * ((static_cast<double>(q.tmax) + ck - 1) / ck) : 0;
    b.bytes = 12 * Ck + (ck > 1 ? 2 : 1) * (4 * Y + 4 * R) + 24 * Ae + 24 * segments + 8 * Y + 5 * St +
              (ck > 1 ? 64 : 40) * big + 16 * N;
  }
  if (w.viterbi) {
    // δ rows of float-float pairs in the lattice D (written, read back in the next frame and by the backtrack).
    Step& s = plan->add(Kernel::kViterbi32, p.batch, seq_threads);
    s.bytes = 16 * A + 8 * Y + 5 * St + 4 * NT + 24 * R;  // ... and the backtrack's three reads per frame
    s.fp64_other = 4 * N;                                 // the score, per sequence
  }
  if (w.dctc) {
    // DCTC: z*, the distillation term and the gradient row per frame (the logits' second read); the losses.
    Step& s = plan->add(Kernel::kDctc32Rows, row_grid(static_cast<int64_t>(NT)), block_threads(p.classes, kRowThreads));
    s.shared = 2 * 4 + 66 * 4 + 8 * 4 + 4 * 8;
    s.bytes = 4 * R * C + 20 * R + 8 * Y + 4 * Y + 4 * NT + 8 * R + (w.grad ? 4 * NT * C : 0);
    s.fp64_other = R * (3 * kFp64Exp + 2 * kFp64Log + 40);  // the distillation terms, once per row (thread 0)
    Step& l = plan->add(Kernel::kDctcLosses, grid_for(p.batch, 128), 128);
    l.bytes = 8 * R + 24 * N + 16 * N;
    l.fp64_other = R + 12 * N;
    return;
  }
  if (!w.backward()) return;  // ctcAlign, or CTC's loss alone
  // The fit (Li & Wang): its per-class and per-frame arithmetic in double, its per-element work in float-float.
  const double Ut = static_cast<double>(q.utotal);
  if (w.fit_alpha && q.utotal > 0) {
    Step& v = plan->add(Kernel::kFit32Vsum, grid_for(q.utotal, 128), 128);
    v.bytes = 8 * Y + 8 * Ut;
    v.fp64_other = 3 * Ut;
    if (w.batch_scope) {
      Step& b = plan->add(Kernel::kFitBatchL, 1, 1);
      b.bytes = 12 * N;
      b.fp64_other = 3 * N;
    }
    const int64_t items = w.batch_scope ? static_cast<int64_t>(q.bclass.size()) : q.utotal;
    if (items > 0) {
      Step& f = plan->add(Kernel::kFitFactor, grid_for(items, 128), 128);
      f.bytes = 16 * Ut + 4 * Ut + 8 * Ut;
      f.fp64_other = 10 * Ut;
    }
  }
  if ((w.fit_alpha || w.fit_gamma) && q.rows > 0) {
    Step& s = plan->add(Kernel::kFit32Rows, row_grid(q.rows), 32);
    s.bytes = 4 * N + (w.fit_alpha ? 24 * Y : 0) + (w.fit_gamma ? 8 * Y + 4 * Y + 20 * R : 0);
    s.fp64_other = w.fit_gamma ? 2 * R : 0;  // w_t to double
    if (w.fit_gamma) {
      Step& g = plan->add(Kernel::kFitGamma, p.batch, block_threads(p.time, kSeqThreads));
      g.shared = kSharedSumD;
      g.bytes = 32 * R + 8 * R;
      g.fp64_other = R * (kFp64Exp + kFp64Log + 12) + N * fp64_block_sum(g.threads);
    }
  }
  if (w.fit_gamma) {
    // γ scales whole rows: the dense part is written here, once, from the second read of the logits.
    Step& s = plan->add(Kernel::kCtc32Rows, row_grid(static_cast<int64_t>(NT)), block_threads(p.classes, kRowThreads));
    s.bytes =
        4 * R * C + 4 * NT * C + 4 * (NT - R) * C * (w.post ? 1 : 0) + 20 * R + 4 * NT + 16 * Y + (w.post ? 4 * Y : 0);
    return;
  }
  Step& s = plan->add(Kernel::kCtc32Patch, row_grid((static_cast<int64_t>(NT) + kPatchRows - 1) / kPatchRows),
                      32 * kPatchRows);
  // The rows t >= T_n filled; the label's classes patched: x and y' read, the values written.
  s.bytes = 4 * (NT - R) * C * dense + 12 * R + 4 * NT + 8 * Y + (w.grad ? 8 * Y : 0) + (w.post ? 4 * Y : 0);
}

// Copies: the metadata in; with host memory the dense input in and the dense outputs out; the per-sequence
// results out.
void copies(const seqloss_problem& p, const LabelWants& w, size_t meta_bytes, LaunchPlan* plan) {
  const double N = p.batch, NT = N * p.time, NTC = NT * p.classes;
  plan->copy_bytes = static_cast<double>(meta_bytes);
  if (w.host) {
    plan->copy_bytes += 4 * NTC;
    if (w.grad) plan->copy_bytes += 4 * NTC;
    if (w.post) plan->copy_bytes += 4 * NTC;
  }
  plan->copy_bytes += w.dctc ? 24 * N + 4 * NT : (w.viterbi ? 4 * NT + 8 * N : 16 * N);
}

}  // namespace

LaunchPlan plan_label_op(const seqloss_problem& p, const LabelWants& w, const LabelPlan& q, size_t meta_bytes,
                         int32_t fp64_ratio) {
  (void)fp64_ratio;  // the same plan on every device: the FP32 pipeline is the fast one on all of them
  LaunchPlan plan;
  plan.elements = static_cast<double>(p.batch) * p.time * p.classes;
  plan.states = static_cast<double>(q.atotal);
  plan.blocks_per_sequence = 1;
  plan.checkpoint_interval = w.forward() ? q.ck : 0;
  plan_ctc32(p, w, q, &plan);
  copies(p, w, meta_bytes, &plan);
  LabelBuffers b;
  b.w = w;
  plan.workspace_bytes = static_cast<double>(b.carve(nullptr, p, q, meta_bytes) + kWorkspaceSlack);
  return plan;
}

void plan_ace_host(const seqloss_problem& p, AceHost* hp) {
  AceHost& h = *hp;
  plan_dense(p, &h.d);
  const int32_t N = p.batch, C = p.classes;
  h.koff.resize(static_cast<size_t>(N) + 1);
  h.yoff.resize(static_cast<size_t>(N));
  h.kcls.clear();
  h.kN.clear();
  h.ytotal = 0;
  h.kmax = 0;
  const bool labels = p.counts == nullptr;
  if (labels && h.tally.size() < static_cast<size_t>(C)) h.tally.resize(static_cast<size_t>(C), 0);
  int64_t lab_at = 0;
  for (int32_t n = 0; n < N; ++n) {
    const double tn = static_cast<double>(h.d.Tn[static_cast<size_t>(n)]);
    h.koff[static_cast<size_t>(n)] = h.ktotal();
    h.yoff[static_cast<size_t>(n)] = h.ytotal;
    if (labels) {
      // The distinct labels and the blank (when N_blank > 0) in class order, each label with its count (a float,
      // as a counts array holds it).
      const int32_t L = p.target_lengths[n];
      const int32_t* lab = p.targets + lab_at;
      lab_at += L;
      const double nblank = num::ace_blank_count(tn, static_cast<double>(L));
      h.distinct.clear();
      if (nblank > 0) h.distinct.push_back(p.blank);
      for (int32_t i = 0; i < L; ++i) {
        if (h.tally[static_cast<size_t>(lab[i])]++ == 0) h.distinct.push_back(lab[i]);
      }
      std::sort(h.distinct.begin(), h.distinct.end());
      for (int32_t c : h.distinct) {
        h.kcls.push_back(c);
        h.kN.push_back(c == p.blank ? nblank
                                    : static_cast<double>(static_cast<float>(h.tally[static_cast<size_t>(c)])));
        h.tally[static_cast<size_t>(c)] = 0;
      }
    } else {
      const float* counts = p.counts + static_cast<int64_t>(n) * C;
      double labelled = 0.0;  // in class order, as csrc/cpu/ace.cc
      for (int32_t k = 0; k < C; ++k) {
        if (k != p.blank) labelled += static_cast<double>(counts[k]);
      }
      for (int32_t k = 0; k < C; ++k) {
        const double nk = k == p.blank ? num::ace_blank_count(tn, labelled) : static_cast<double>(counts[k]);
        if (nk > 0) {
          h.kcls.push_back(k);
          h.kN.push_back(nk);
        }
      }
    }
    const int64_t K = h.ktotal() - h.koff[static_cast<size_t>(n)];
    h.ytotal += K * h.d.Tn[static_cast<size_t>(n)];
    h.kmax = K > h.kmax ? static_cast<int32_t>(K) : h.kmax;
  }
  h.koff[static_cast<size_t>(N)] = h.ktotal();
}

namespace {

// The class sums of every class (regression, counting): partial sums per chunk, then the chunks in order.
void plan_sums(const seqloss_problem& p, const DenseHost& h, int32_t G, LaunchPlan* plan) {
  const double NC = static_cast<double>(p.batch) * p.classes, C = p.classes, Rw = static_cast<double>(h.rows);
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const int threads = block_threads(p.classes, 128);
  Step& s = plan->add(Kernel::kAcePartial, 0, threads);
  s.dims[0] = grid_for(p.classes, threads);
  s.dims[1] = static_cast<unsigned>(G < 65535 ? G : 65535);
  s.dims[2] = static_cast<unsigned>(p.batch < 65535 ? p.batch : 65535);
  s.blocks = s.dims[0] * s.dims[1] * s.dims[2];
  s.bytes = 4 * Rw * C + (logits ? 8 * Rw : 0) + 12 * NC * G;
  Step& t = plan->add(Kernel::kAceTotal, grid_for(static_cast<int64_t>(NC), 256), 256);
  t.bytes = 12 * NC * G + 8 * NC;
}

}  // namespace

LaunchPlan plan_ace(const seqloss_problem& p, int32_t memory, bool grad, int32_t variant, const AceHost& h,
                    size_t meta_bytes, int32_t fp64_ratio) {
  (void)fp64_ratio;  // the same plan on every device: no FP64 per element or compact value
  LaunchPlan plan;
  const double N = p.batch, NT = N * p.time, NC = N * p.classes, NTC = NT * p.classes, C = p.classes;
  const double Rw = static_cast<double>(h.d.rows), Y = static_cast<double>(h.ytotal);
  const double Kt = static_cast<double>(h.ktotal());
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  const bool ce = variant != SEQLOSS_ACE_REGRESSION;
  plan.elements = NTC;
  plan.states = Y;
  plan.precision = 32;
  plan.blocks_per_sequence = 1;
  DenseBuffers b;
  ace_buffers(p, memory, grad, variant, h.d, &b);
  if (h.d.rows > 0) {
    // One read of each row; m_t, 1/s_t, ln s_t written; the K_n classes' ln y_k^t (their entries of the row are
    // in cache: the row was just read).
    Step& s = plan.add(Kernel::kAceStats, row_grid(h.d.rows), block_threads(p.classes, kRowThreads));
    s.shared = 68 * 4;
    s.bytes = 4 * Rw * C + (logits ? 20 * Rw : 0) + 8 * Rw + (ce ? 8 * Y : 0);
    s.fp64_other = logits ? Rw * (kFp64Log + 30) : 0;  // 1/s_t and ln s_t, once per row (thread 0)
  }
  if (!ce) plan_sums(p, h.d, b.G, &plan);
  {
    Step& s = plan.add(Kernel::kAceLoss, p.batch, block_threads(ce ? h.kmax : p.classes, kRowThreads));
    s.shared = kSharedSumD;
    // The rows' flags; CE: the compact values read twice (the max, then the sum; per class and frame, in float),
    // the per-class results written; regression: the class sums read, N_k spread and read, g_k written.
    s.bytes = 4 * Rw + 8 * N + (ce ? 2 * 8 * Y + 20 * Kt + 12 * Kt : 8 * NC + 16 * NC + 8 * NC + 12 * Kt);
    s.fp64_other = ce ? Kt * (2 * kFp64Log + kFp64Exp + 20) : NC * 12;
    s.fp64_other += N * 2 * fp64_block_sum(s.threads);
  }
  if (grad) {
    Step& s = plan.add(Kernel::kAceRows, row_grid(static_cast<int64_t>(NT)), block_threads(p.classes, kRowThreads));
    s.shared = 66 * 4 + 32 * 4;
    // The second read of each row and the gradient written (all N·T rows); per row m_t, 1/s_t and (CE) its
    // compact values; the per-sequence arrays (K_n's, or regression's C values of g_k) once per sequence: the rows
    // of a sequence run together and share them from the cache.
    s.bytes =
        (logits || !ce ? 4 * Rw * C : 0) + 4 * NTC + (logits ? 12 * Rw : 0) + (ce ? 8 * Y + 24 * Kt : 8 * NC) + 4 * N;
  }
  // The metadata in (the non-zero counts among it), the losses out; with host memory the input in and the
  // gradient out.
  plan.copy_bytes = static_cast<double>(meta_bytes) + 8 * N;
  if (memory == SEQLOSS_MEMORY_HOST) plan.copy_bytes += 4 * NTC + (grad ? 4 * NTC : 0);
  plan.workspace_bytes =
      static_cast<double>(b.carve(nullptr, p, h.d.rows, h.ytotal, h.ktotal(), meta_bytes) + kWorkspaceSlack);
  return plan;
}

LaunchPlan plan_count(const seqloss_problem& p, int32_t memory, const DenseHost& h, size_t meta_bytes) {
  LaunchPlan plan;
  const double Rw = static_cast<double>(h.rows), C = p.classes, NC = static_cast<double>(p.batch) * p.classes;
  const bool logits = p.input == SEQLOSS_INPUT_LOGITS;
  plan.elements = static_cast<double>(p.batch) * p.time * p.classes;
  plan.precision = 32;
  DenseBuffers b;
  count_buffers(p, memory, h, &b);
  if (logits && h.rows > 0) {
    Step& s = plan.add(Kernel::kAceStats, row_grid(h.rows), block_threads(p.classes, kRowThreads));
    s.shared = 68 * 4;
    s.bytes = 4 * Rw * C + 12 * Rw;
    s.fp64_other = Rw * 10;
  }
  plan_sums(p, h, b.G, &plan);
  plan.copy_bytes = static_cast<double>(meta_bytes) + 8 * NC + (memory == SEQLOSS_MEMORY_HOST ? 4 * plan.elements : 0);
  plan.workspace_bytes = static_cast<double>(b.carve(nullptr, p, h.rows, 0, 0, meta_bytes));
  return plan;
}

}  // namespace cuda
}  // namespace seqloss
