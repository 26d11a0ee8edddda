// plan.h — the launch plan of the CUDA entries: which kernels a call runs, in what order, with how many blocks,
// threads and bytes of shared memory, and a cost model of each (global-memory bytes, FP64 instructions). ctc.cu
// and ace.cu launch exactly the steps of the plan (a kernel not in the plan is not launched; its configuration is
// the step's), and seqloss_cuda_plan_call hands the same plan to bench/gpu/model.mjs, so the model describes the
// code. One refinement: with host arrays in NTC layout the first step, the row statistics, is launched in waves
// over the rows as their upload completes (runtime.cuh, StatsWaves), each wave with the step's threads and at most
// its blocks. Plain C++ (no device code): it is compiled into every build, with or without CUDA.
//
// The cost model, per step:
//  - bytes: global memory read and written, each array counted once per pass over it (a row that one block
//    reads twice in a row, such as a logits row for its max and then its sum, counts once: it is L1/L2-resident);
//    an array written in one frame and read back in the next counts both ways (a global-memory round trip).
//  - fp64_state / fp64_element / fp64_other: FP64 instructions executed in per-state work (the α/β lattice of
//    Σ_n T_n S_n states and the compact arrays of Σ_n T_n U_n values), in per-element work (the N·T·C dense
//    arrays) and in per-frame, per-sequence or per-class work. Counted from the source per operation:
//    kFp64Exp / kFp64Log instructions for a double exp / log (CUDA's libdevice: a range reduction and a
//    polynomial), 1 for an add, multiply, compare, min/max or conversion.
#ifndef SEQLOSS_CUDA_PLAN_H
#define SEQLOSS_CUDA_PLAN_H

#include <cstdint>

#include "labels.h"
#include "seqloss.h"

namespace seqloss {
namespace cuda {

constexpr int kRowThreads = 256;  // a block over one row of C classes
constexpr int kSeqThreads = 512;  // a block over one sequence's states
constexpr unsigned kMaxGrid = 1u << 20;
constexpr int kRowCap = 1024;  // states whose FP32 recursion rows live in shared memory (more: in the workspace)
constexpr int kEmitCap = 512;  // compact classes of a sequence of at most kRowCap states (U <= L + 1 <= 512)
constexpr int kPatchRows = 4;  // rows (one warp each) per block of ctc32_patch_kernel

constexpr double kFp64Exp = 18;  // a double exp: range reduction, degree-11 polynomial, scaling
constexpr double kFp64Log = 24;  // a double log

// Threads for a block that loops over `work` items: a multiple of 32 in [32, cap].
inline int block_threads(int64_t work, int cap) {
  int64_t t = (work + 31) / 32 * 32;
  if (t < 32) t = 32;
  if (t > cap) t = cap;
  return static_cast<int>(t);
}

// Blocks of a grid over `items` items of `per_block` each, at most 2^31 - 1 (the x dimension's limit).
inline unsigned grid_for(int64_t items, int64_t per_block) {
  int64_t g = (items + per_block - 1) / per_block;
  if (g < 1) g = 1;
  if (g > 2147483647) g = 2147483647;
  return static_cast<unsigned>(g);
}

// One block per row, at most kMaxGrid blocks (the kernels loop over the rest).
inline unsigned row_grid(int64_t items) {
  const unsigned g = grid_for(items, 1);
  return g < kMaxGrid ? g : kMaxGrid;
}

// ---- workspace ------------------------------------------------------------------------------------------------

// Hands out 256-byte aligned arrays from one block of device memory, or (base == nullptr) only counts the bytes.
class Carver {
 public:
  explicit Carver(unsigned char* base) : base_(base) {}
  template <class T>
  T* take(int64_t count) {
    if (count < 0) count = 0;
    used_ = (used_ + 255) / 256 * 256;
    T* p = base_ != nullptr ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += static_cast<size_t>(count) * sizeof(T);
    return count > 0 ? p : nullptr;
  }
  size_t used() const { return (used_ + 255) / 256 * 256; }

 private:
  unsigned char* base_;
  size_t used_ = 0;
};

// Workspaces are carved in 256-byte aligned pieces; a caller's workspace may start anywhere, so the sizes the
// *_workspace_size entries report include the slack to align it.
constexpr size_t kWorkspaceAlign = 256;
constexpr size_t kWorkspaceSlack = kWorkspaceAlign - 1;

// Arrays of xfloat32 values (cuda/xfloat32.cuh: mantissa pairs and exponents) and of float-float pairs.
struct XArr {
  float* hi;
  float* lo;
  int32_t* k;
};
struct FFArr {
  float* hi;
  float* lo;
};

enum class Kernel : int32_t {
  kShift,
  kFitBatchL,
  kFitFactor,
  kFitGamma,
  kDctcLosses,
  kAceStats,
  kAcePartial,
  kAceTotal,
  kAceLoss,
  kAceRows,
  kCtc32Stats,
  kAlpha32,
  kBeta32,
  kCtc32Patch,
  kFit32Vsum,
  kFit32Rows,
  kCtc32Rows,
  kDctc32Rows,
  kViterbi32,
};

// The kernel's function name in cuda/.
const char* kernel_name(Kernel k);

struct Step {
  Kernel kernel;
  unsigned blocks;   // grid x (ACE's partial sums: x·y·z, with dims below)
  unsigned dims[3];  // the grid
  int32_t threads;   // per block
  int32_t shared;    // bytes of shared memory per block (static and dynamic)
  double bytes;      // see the file comment
  double fp64_state;
  double fp64_element;
  double fp64_other;
};

struct LaunchPlan {
  Step steps[SEQLOSS_PLAN_MAX_STEPS];
  int32_t count = 0;
  double workspace_bytes = 0;  // what the *_workspace_size entry reports for the call
  int32_t host_syncs = 1;      // Call::finish: one cudaStreamSynchronize per call
  int32_t precision = 64;
  int32_t blocks_per_sequence = 1;
  int32_t checkpoint_interval = 0;  // label operations with a forward recursion: LabelPlan::ck
  double copy_bytes = 0;
  double states = 0;
  double elements = 0;

  Step& add(Kernel k, unsigned blocks, int32_t threads) {
    Step& s = steps[count < SEQLOSS_PLAN_MAX_STEPS ? count++ : SEQLOSS_PLAN_MAX_STEPS - 1];
    s = Step{k, blocks, {blocks, 1, 1}, threads, 0, 0, 0, 0, 0};
    return s;
  }
  // The step of kernel k, nullptr when the call does not run it.
  const Step* find(Kernel k) const {
    for (int32_t i = 0; i < count; ++i) {
      if (steps[i].kernel == k) return &steps[i];
    }
    return nullptr;
  }
};

// What a label operation computes (the outputs asked for and the options), as the plans and buffers need it.
struct LabelWants {
  bool grad = false, post = false, fit_alpha = false, fit_gamma = false, batch_scope = false;
  bool viterbi = false, dctc = false, host = false;
  // Which recursions run: the forward (every operation but ctcAlign), the backward with the posterior (DCTC, and
  // CTC when it writes the gradient or the posterior), the Viterbi recursion (ctcAlign, DCTC 'viterbi').
  bool forward() const { return dctc || !viterbi; }
  bool backward() const { return dctc ? (grad || !viterbi) : (grad || post); }  // DCTC 'viterbi': z* is the path's
};

LabelWants ctc_wants(const seqloss_ctc_options& o, int32_t memory, bool grad, bool post);
LabelWants dctc_wants(const seqloss_dctc_options& o, int32_t memory, bool grad);
LabelWants align_wants(int32_t memory);

// Every device buffer of a label operation; carve() is run once to size (base nullptr) and once to place them.
struct LabelBuffers {
  LabelWants w;
  unsigned char* meta = nullptr;
  float* data = nullptr;    // host memory: the logits copied in
  float* grad_d = nullptr;  // host memory: the dense outputs, copied out
  float* post_d = nullptr;
  // Per valid row: m_t, r_t (or c_t) in double for the shift sum and as a float-float pair for the patches.
  float* M = nullptr;
  double* R = nullptr;
  FFArr R32{};
  // Per sequence: ln p_ρ, Σ_t c_t, and what the forward found (kSolved, kNoPath, kNaN).
  double* logp = nullptr;
  double* shift = nullptr;
  int32_t* status = nullptr;
  // The α lattice's checkpoint rows (every ck-th frame, labels.h), p_ρ(l) per sequence, the segment recomputed
  // between two checkpoints and the β row kept across it (ck > 1), the posterior y' (float-float), the rows and
  // emissions of sequences beyond kRowCap states; ρ itself and the δ lattice for the Viterbi recursion.
  XArr A32{}, P32{}, Bs{}, Seg{};
  FFArr Y32{}, Rho{}, D{};
  float* work32 = nullptr;
  // The fit: V_k, the factors (double and float-float), L over the batch, w_t (double, then ŵ_t as pairs).
  double* V = nullptr;
  double* fac = nullptr;
  double* Lb = nullptr;
  double* W = nullptr;
  FFArr fac32{}, W32{};
  // Viterbi and DCTC outputs.
  int32_t* path = nullptr;
  double* score = nullptr;
  int32_t* align = nullptr;
  double* CE = nullptr;
  double* dout = nullptr;

  size_t carve(unsigned char* base, const seqloss_problem& p, const LabelPlan& q, size_t meta_bytes) {
    Carver c(base);
    const int64_t ntc = static_cast<int64_t>(p.batch) * p.time * p.classes;
    const int64_t nt = static_cast<int64_t>(p.batch) * p.time;
    meta = c.take<unsigned char>(static_cast<int64_t>(meta_bytes));
    data = w.host ? c.take<float>(ntc) : nullptr;
    grad_d = w.host && w.grad ? c.take<float>(ntc) : nullptr;
    post_d = w.host && w.post ? c.take<float>(ntc) : nullptr;
    M = c.take<float>(q.rows);
    R = c.take<double>(q.rows);
    R32 = FFArr{c.take<float>(q.rows), c.take<float>(q.rows)};
    logp = c.take<double>(p.batch);
    shift = c.take<double>(p.batch);
    status = c.take<int32_t>(p.batch);
    if (w.forward()) {
      A32 = XArr{c.take<float>(q.ctotal), c.take<float>(q.ctotal), c.take<int32_t>(q.ctotal)};
      P32 = XArr{c.take<float>(p.batch), c.take<float>(p.batch), c.take<int32_t>(p.batch)};
      work32 = q.smax > kRowCap ? c.take<float>(14 * q.stotal) : nullptr;
    }
    if (w.backward()) {
      Y32 = FFArr{c.take<float>(q.ytotal), c.take<float>(q.ytotal)};
      if (q.ck > 1) {
        const int64_t seg = static_cast<int64_t>(q.ck) * q.stotal;
        Seg = XArr{c.take<float>(seg), c.take<float>(seg), c.take<int32_t>(seg)};
        Bs = XArr{c.take<float>(q.stotal), c.take<float>(q.stotal), c.take<int32_t>(q.stotal)};
      }
    }
    if (w.viterbi) {
      Rho = FFArr{c.take<float>(q.ytotal), c.take<float>(q.ytotal)};
      D = FFArr{c.take<float>(q.atotal), c.take<float>(q.atotal)};
      path = c.take<int32_t>(nt);
      score = c.take<double>(p.batch);
    }
    if (w.fit_alpha) {
      V = c.take<double>(q.utotal);
      fac = c.take<double>(q.utotal);
      fac32 = FFArr{c.take<float>(q.utotal), c.take<float>(q.utotal)};
      Lb = c.take<double>(1);
    }
    if (w.fit_gamma) {
      W = c.take<double>(q.rows);
      W32 = FFArr{c.take<float>(q.rows), c.take<float>(q.rows)};
    }
    if (w.dctc) {
      align = c.take<int32_t>(nt);
      CE = c.take<double>(q.rows);
      dout = c.take<double>(3 * static_cast<int64_t>(p.batch));
    }
    return c.used();
  }
};

// The plans. q: plan_labels of the problem (with batch classes where wants.batch_scope); fp64_ratio: the device's
// single-to-double performance ratio, which no plan depends on today (the FP32 pipeline is the fast one on every
// device); the model reports its FP64 counts for it.
LaunchPlan plan_label_op(const seqloss_problem& p, const LabelWants& w, const LabelPlan& q, size_t meta_bytes,
                         int32_t fp64_ratio);
// ---- the dense operations (ACE, counting, decoders) ----

// The frames of each sequence and their rows (Σ T_n valid rows), copied to the device in one piece.
struct DenseHost {
  std::vector<int32_t> Tn;
  std::vector<int64_t> roff;
  int64_t rows = 0;
  int32_t tmax = 0;
};

// Fills *hp (its vectors' storage reused, as plan_labels').
inline void plan_dense(const seqloss_problem& p, DenseHost* hp) {
  DenseHost& h = *hp;
  h.rows = 0;
  h.tmax = 0;
  h.Tn.resize(static_cast<size_t>(p.batch));
  h.roff.resize(static_cast<size_t>(p.batch) + 1);
  for (int32_t n = 0; n < p.batch; ++n) {
    const int32_t tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
    h.Tn[static_cast<size_t>(n)] = tn;
    h.roff[static_cast<size_t>(n)] = h.rows;
    h.rows += tn;
    h.tmax = tn > h.tmax ? tn : h.tmax;
  }
  h.roff[static_cast<size_t>(p.batch)] = h.rows;
}

inline DenseHost plan_dense(const seqloss_problem& p) {
  DenseHost h;
  plan_dense(p, &h);
  return h;
}

struct DenseMeta {
  HostPack pack;
  size_t Tn, roff;
};

inline void pack_dense(const DenseHost& h, DenseMeta* kp) {
  kp->pack.clear();
  kp->Tn = kp->pack.add(h.Tn);
  kp->roff = kp->pack.add(h.roff);
}

constexpr int32_t kAceChunk = 64;  // frames per partial sum of ACE (more when a sequence would need over 65535 chunks)

// Chunks of kAceChunk frames, or longer ones so that there are at most 65535 (the grid's y limit).
inline void ace_chunks(int32_t tmax, int32_t* chunk, int32_t* G) {
  const int64_t t = tmax > 0 ? tmax : 1;
  int64_t c = kAceChunk;
  if ((t + c - 1) / c > 65535) c = (t + 65534) / 65535;
  *chunk = static_cast<int32_t>(c);
  *G = static_cast<int32_t>((t + c - 1) / c);
}

// ACE's supervision as the device reads it: per sequence the classes K_n = {k : N_k > 0} (the blank with N_blank =
// T_n − Σ_{k≠blank} N_k, num::ace_blank_count) in class order with their N_k, and the offset of its T_n × K_n
// compact values (ln y_k^t of those classes). Only the non-zero counts are uploaded. From a counts array this
// reads the N·C counts once; from labels (counts NULL) it is O(N + ΣL log L): each sequence's distinct labels
// counted in `tally` (C zeros between calls, reset by the entries it set) and sorted into class order.
struct AceHost {
  DenseHost d;
  std::vector<int64_t> koff;             // N + 1
  std::vector<int64_t> yoff;             // N
  std::vector<int32_t> kcls;             // Σ K_n
  std::vector<double> kN;                // Σ K_n
  std::vector<int32_t> tally, distinct;  // scratch of the labels' form (tally: C, all 0 between calls)
  int64_t ytotal = 0;
  int32_t kmax = 0;
  int64_t ktotal() const { return static_cast<int64_t>(kcls.size()); }
};

void plan_ace_host(const seqloss_problem& p, AceHost* h);

struct AceMeta {
  HostPack pack;
  size_t Tn, roff, koff, yoff, kcls, kN;
};

inline void pack_ace(const AceHost& h, AceMeta* kp) {
  AceMeta& k = *kp;
  k.pack.clear();
  k.Tn = k.pack.add(h.d.Tn);
  k.roff = k.pack.add(h.d.roff);
  k.koff = k.pack.add(h.koff);
  k.yoff = k.pack.add(h.yoff);
  k.kcls = k.pack.add(h.kcls);
  k.kN = k.pack.add(h.kN);
}

// Every device buffer of a dense operation (ACE, counting, decoders); carve() as LabelBuffers'.
//  - stats: per valid row m_t, 1 / s_t and ln s_t (s_t = Σ_k e^(x_tk − m_t)); ln s_t's hi is NaN for a row that
//    poisons its sequence (ACE).
//  - compact (ACE): ln y_k^t of the classes of K_n (logits) or y_k^t (probabilities), and per class of K_n its
//    N_k / T_n and ln y_k as float-float pairs and (probabilities) scale·g_k.
//  - sums (ACE regression, counting): Σ_t y_k^t of every class, per chunk of frames and in total.
struct DenseBuffers {
  bool copy_data = false, host_grad = false, stats = false, compact = false, sums = false, regression = false;
  bool ace = false, counts = false, decode = false;
  int32_t G = 1;  // chunks per sequence
  int32_t chunk = kAceChunk;
  unsigned char* meta = nullptr;
  float* data = nullptr;
  float* grad = nullptr;
  float* M = nullptr;
  FFArr inv{};
  FFArr lns{};
  FFArr LY{};
  FFArr part{};
  float* raw = nullptr;
  double* ysum = nullptr;
  double* Nd = nullptr;
  FFArr gd{};
  FFArr kA{}, kLy{};
  float* kG = nullptr;
  double* loss = nullptr;
  int32_t* bad = nullptr;
  float* expected = nullptr;
  int32_t* rounded = nullptr;
  int32_t* am = nullptr;
  int32_t* labels = nullptr;
  int32_t* lengths = nullptr;

  size_t carve(unsigned char* base, const seqloss_problem& p, int64_t rows, int64_t ytotal, int64_t ktotal,
               size_t meta_bytes) {
    Carver c(base);
    const int64_t ntc = static_cast<int64_t>(p.batch) * p.time * p.classes;
    const int64_t nc = static_cast<int64_t>(p.batch) * p.classes;
    meta = c.take<unsigned char>(static_cast<int64_t>(meta_bytes));
    data = copy_data ? c.take<float>(ntc) : nullptr;
    grad = host_grad ? c.take<float>(ntc) : nullptr;
    M = stats ? c.take<float>(rows) : nullptr;
    inv = stats ? FFArr{c.take<float>(rows), c.take<float>(rows)} : FFArr{};
    lns = ace ? FFArr{c.take<float>(rows), c.take<float>(rows)} : FFArr{};
    LY = compact ? FFArr{c.take<float>(ytotal), c.take<float>(ytotal)} : FFArr{};
    part = sums ? FFArr{c.take<float>(nc * G), c.take<float>(nc * G)} : FFArr{};
    raw = sums ? c.take<float>(nc * G) : nullptr;
    ysum = sums && ace ? c.take<double>(nc) : nullptr;
    Nd = regression ? c.take<double>(nc) : nullptr;
    gd = regression ? FFArr{c.take<float>(nc), c.take<float>(nc)} : FFArr{};
    kA = compact ? FFArr{c.take<float>(ktotal), c.take<float>(ktotal)} : FFArr{};
    kLy = compact ? FFArr{c.take<float>(ktotal), c.take<float>(ktotal)} : FFArr{};
    kG = compact ? c.take<float>(ktotal) : nullptr;
    loss = ace ? c.take<double>(p.batch) : nullptr;
    bad = ace ? c.take<int32_t>(p.batch) : nullptr;
    expected = counts ? c.take<float>(nc) : nullptr;
    rounded = counts ? c.take<int32_t>(nc) : nullptr;
    am = decode ? c.take<int32_t>(rows) : nullptr;
    labels = decode ? c.take<int32_t>(static_cast<int64_t>(p.batch) * p.time) : nullptr;
    lengths = decode ? c.take<int32_t>(p.batch) : nullptr;
    return c.used();
  }
};

// ACE's buffers for a call in `memory` with or without the gradient: CE works on the compact classes K_n alone,
// regression on the class sums of every class.
inline void ace_buffers(const seqloss_problem& p, int32_t memory, bool grad, int32_t variant, const DenseHost& h,
                        DenseBuffers* b) {
  const bool host = memory == SEQLOSS_MEMORY_HOST;
  b->copy_data = host;
  b->host_grad = host && grad;
  b->stats = p.input == SEQLOSS_INPUT_LOGITS;
  b->ace = true;
  b->regression = variant == SEQLOSS_ACE_REGRESSION;
  b->compact = !b->regression;
  b->sums = b->regression;
  ace_chunks(h.tmax, &b->chunk, &b->G);
}

// Counting's buffers (the class sums, without eps).
inline void count_buffers(const seqloss_problem& p, int32_t memory, const DenseHost& h, DenseBuffers* b) {
  b->copy_data = memory == SEQLOSS_MEMORY_HOST;
  b->stats = p.input == SEQLOSS_INPUT_LOGITS;
  b->sums = true;
  b->counts = true;
  ace_chunks(h.tmax, &b->chunk, &b->G);
}

// ACE (h from plan_ace_host) and counting (counting: the class sums alone, no loss).
LaunchPlan plan_ace(const seqloss_problem& p, int32_t memory, bool grad, int32_t variant, const AceHost& h,
                    size_t meta_bytes, int32_t fp64_ratio);
LaunchPlan plan_count(const seqloss_problem& p, int32_t memory, const DenseHost& h, size_t meta_bytes);

// What the CUDA entries keep between the calls of one host thread: the host plans and their packed metadata, whose
// vectors keep their storage, so that a call's host work allocates nothing once they have grown to its sizes (and
// is O(N + ΣL): nothing in it scans the C classes). One per thread (a call runs on one thread from start to end and
// never re-enters the library), freed when the thread ends; nothing in it outlives the call that filled it.
struct HostScratch {
  LabelPlan q;
  Packed k;
  AceHost ace;
  AceMeta ak;
  DenseHost dense;
  DenseMeta dk;
  std::vector<double> d0, d1;  // per-sequence results copied back (N values each)
};

inline HostScratch& host_scratch() {
  thread_local HostScratch s;
  return s;
}

// The thread's scratch with p's plan and its packed metadata in it: label operations (q, k), ACE (ace, ak), the
// other dense operations (dense, dk).
inline HostScratch& scratch_labels(const seqloss_problem& p, bool batch_classes) {
  HostScratch& hs = host_scratch();
  plan_labels(p, batch_classes, &hs.q);
  pack_plan(hs.q, &hs.k);
  return hs;
}
inline HostScratch& scratch_ace(const seqloss_problem& p) {
  HostScratch& hs = host_scratch();
  plan_ace_host(p, &hs.ace);
  pack_ace(hs.ace, &hs.ak);
  return hs;
}
inline HostScratch& scratch_dense(const seqloss_problem& p) {
  HostScratch& hs = host_scratch();
  plan_dense(p, &hs.dense);
  pack_dense(hs.dense, &hs.dk);
  return hs;
}

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_PLAN_H
