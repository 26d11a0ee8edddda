// cuda_parity_test.cc — the CUDA backend against the CPU backend through the C ABI, on hundreds of random problems
// and the extremes (log-prob −500 on forced frames, logits ±1e4, T = 10 000, C = 20 000, L = 1 000), for every
// operation and option: CTC (reductions, zero_infinity, posterior, α in both scopes, γ), DCTC (every alignment,
// margin, β, λ), ctcAlign, ACE (CE and regression, logits and probabilities, 1D and flattened 2D), the decoders and
// counting. Also: run-to-run determinism (bitwise), device-memory calls equal to host-memory calls, a caller
// workspace, and bad device pointers refused. Needs no Node: built by CMake, run by ctest (and by npm test).
//
// The CUDA host side too: the legacy default stream's ordering, the checks of a caller's workspace and device
// arrays, the memory pool left alone, errors the caller left pending, several devices, DCTC's scale in double,
// and (on the SIMT host, which can inject failures) every runtime call failing in turn: a clean error, nothing left
// queued, no memory kept.
//
// On the SIMT host (SEQLOSS_CUDA_EMULATE) the long case is T = 2000 with L = 500 instead of 10 000 and 1 000 (the
// host runs each GPU thread as a fiber); everything else is the same. Without the CUDA backend or without a device
// it prints why and exits 0 ("skipped"); a run prints the number of checks, so a log shows that it ran.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../cuda/labels.h"
#include "check.h"
#include "seqloss.h"

#if defined(SEQLOSS_WITH_CUDA)
#include <cuda_runtime.h>

#include <thread>
#endif
#if defined(SEQLOSS_CUDA_EMULATE)
#include "../../cuda/simt/control.h"
#endif

namespace {

constexpr double kTol = 1e-5;  // relative, the bound

// |a - b| <= tol·max(|a|, |b|) (inf only equal to itself).
bool rel_close(double a, double b, double tol = kTol, double floor = 0.0) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::fabs(a - b) <= floor + tol * std::max(std::fabs(a), std::fabs(b));
}

// After every CUDA call on the SIMT host: nothing it queued is left to run (it synchronised on every path).
void check_settled(const std::string& what) {
#if defined(SEQLOSS_CUDA_EMULATE)
  check(seqloss::simt::pending_operations() == 0, "nothing left queued after " + what);
#else
  (void)what;
#endif
}

// max |a - b| / max |a| over arrays (the rule of the JS parity suites).
double array_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0.0, d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    m = std::max(m, static_cast<double>(std::fabs(a[i])));
    d = std::max(d, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  return m == 0.0 ? d : d / m;
}

std::string str(const char* f, double a = 0, double b = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

struct Case {
  int32_t N = 1, T = 1, C = 2, layout = SEQLOSS_LAYOUT_NTC, input = SEQLOSS_INPUT_LOGITS, blank = 0;
  std::vector<float> x;
  std::vector<int32_t> il, targets, tl;
  std::vector<float> counts;
  std::string name;

  seqloss_problem problem(const float* data = nullptr) const {
    seqloss_problem p;
    std::memset(&p, 0, sizeof p);
    p.batch = N;
    p.time = T;
    p.classes = C;
    p.layout = layout;
    p.input = input;
    p.blank = blank;
    p.data = data != nullptr ? data : x.data();
    p.data_size = static_cast<int64_t>(x.size());
    p.input_lengths = il.data();
    p.input_lengths_size = static_cast<int64_t>(il.size());
    p.targets = targets.data();
    p.targets_size = static_cast<int64_t>(targets.size());
    p.target_lengths = tl.data();
    p.target_lengths_size = static_cast<int64_t>(tl.size());
    p.counts = counts.empty() ? nullptr : counts.data();
    p.counts_size = static_cast<int64_t>(counts.size());
    return p;
  }
  int64_t idx(int n, int t, int k) const {
    return layout == SEQLOSS_LAYOUT_NTC ? (static_cast<int64_t>(n) * T + t) * C + k
                                        : (static_cast<int64_t>(t) * N + n) * C + k;
  }
};

seqloss_exec exec_of(int32_t backend, int32_t memory = SEQLOSS_MEMORY_HOST) {
  seqloss_exec e;
  std::memset(&e, 0, sizeof e);
  e.backend = backend;
  e.memory = memory;
  return e;
}

// Random labels (repeats included), lengths in [0, T], logits N(0, scale); `impossible` allows labels that do not fit.
Case random_case(std::mt19937& rng, int maxN, int maxT, int maxC, int maxL, bool impossible) {
  std::uniform_int_distribution<int> dn(1, maxN), dt(1, maxT), dc(2, maxC);
  Case c;
  c.N = dn(rng);
  c.T = dt(rng);
  c.C = dc(rng);
  c.layout = rng() % 2 == 0 ? SEQLOSS_LAYOUT_NTC : SEQLOSS_LAYOUT_TNC;
  c.blank = static_cast<int32_t>(rng() % static_cast<unsigned>(c.C));
  std::normal_distribution<float> nd(0.0f, 1.0f + static_cast<float>(rng() % 4));
  c.x.resize(static_cast<size_t>(c.N) * c.T * c.C);
  for (auto& v : c.x) v = nd(rng);
  for (int n = 0; n < c.N; ++n) {
    const int tn = rng() % 5 == 0 ? static_cast<int>(rng() % static_cast<unsigned>(c.T + 1)) : c.T;
    c.il.push_back(tn);
    int lmax = std::min(maxL, impossible ? tn + 2 : tn / 2);
    int L = lmax > 0 ? static_cast<int>(rng() % static_cast<unsigned>(lmax + 1)) : 0;
    c.tl.push_back(L);
    int prev = -1;
    for (int i = 0; i < L; ++i) {
      int k;
      do {
        k = (rng() % 3 == 0 && prev >= 0) ? prev : static_cast<int>(rng() % static_cast<unsigned>(c.C));
      } while (k == c.blank);
      c.targets.push_back(k);
      prev = k;
    }
  }
  if (c.targets.empty()) c.targets.push_back(c.blank == 0 ? 1 : 0);  // a non-empty array (no label reads it)
  return c;
}

// log-softmax of every row (for the log-probs input).
void to_log_probs(Case& c) {
  for (int n = 0; n < c.N; ++n) {
    for (int t = 0; t < c.T; ++t) {
      double m = -1e300, s = 0.0;
      for (int k = 0; k < c.C; ++k) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, k)]));
      for (int k = 0; k < c.C; ++k) s += std::exp(c.x[c.idx(n, t, k)] - m);
      for (int k = 0; k < c.C; ++k) c.x[c.idx(n, t, k)] = static_cast<float>(c.x[c.idx(n, t, k)] - m - std::log(s));
    }
  }
  c.input = SEQLOSS_INPUT_LOG_PROBS;
}

// ACE counts from the labels (the blank column is ignored by the ABI).
void ace_counts(Case& c) {
  c.counts.assign(static_cast<size_t>(c.N) * c.C, 0.0f);
  size_t at = 0;
  for (int n = 0; n < c.N; ++n) {
    if (c.il[n] == 0) c.il[n] = 1;  // ACE needs T_n >= 1
    int L = std::min(c.tl[n], c.il[n]);
    for (int i = 0; i < c.tl[n]; ++i, ++at) {
      if (i < L) c.counts[static_cast<size_t>(n) * c.C + c.targets[at]] += 1.0f;
    }
  }
}

// ---- the operations, run on one backend -----------------------------------------------------------------------

struct CtcOut {
  seqloss_status st;
  std::vector<float> losses, grad, post;
  double loss = 0;
};

// `alone`: no other thread calls at the same time (then the call must leave nothing queued on the SIMT host).
CtcOut run_ctc(const Case& c, const seqloss_ctc_options& o, const seqloss_exec& e, bool grad, bool post,
               bool alone = true) {
  CtcOut r;
  const size_t ntc = c.x.size();
  r.losses.assign(static_cast<size_t>(c.N), -7.0f);
  if (grad) r.grad.assign(ntc, 9.0f);
  if (post) r.post.assign(ntc, 9.0f);
  seqloss_ctc_outputs out{r.losses.data(),
                          c.N,
                          &r.loss,
                          grad ? r.grad.data() : nullptr,
                          static_cast<int64_t>(grad ? ntc : 0),
                          post ? r.post.data() : nullptr,
                          static_cast<int64_t>(post ? ntc : 0)};
  seqloss_problem p = c.problem();
  char msg[512] = {0};
  r.st = seqloss_ctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  if (e.backend == SEQLOSS_BACKEND_CUDA && alone) check_settled(c.name);
  if (r.st != SEQLOSS_OK) std::printf("  [%s] %s: %s\n", c.name.c_str(), seqloss_status_name(r.st), msg);
  return r;
}

struct DctcOut {
  seqloss_status st;
  std::vector<float> losses, grad, ctc, distill;
  std::vector<int32_t> align;
  double loss = 0;
};

DctcOut run_dctc(const Case& c, const seqloss_dctc_options& o, const seqloss_exec& e, bool grad) {
  DctcOut r;
  const size_t ntc = c.x.size(), nt = static_cast<size_t>(c.N) * c.T;
  r.losses.assign(static_cast<size_t>(c.N), -7.0f);
  r.ctc.assign(static_cast<size_t>(c.N), -7.0f);
  r.distill.assign(static_cast<size_t>(c.N), -7.0f);
  r.align.assign(nt, -9);
  if (grad) r.grad.assign(ntc, 9.0f);
  seqloss_dctc_outputs out{r.losses.data(),
                           c.N,
                           &r.loss,
                           grad ? r.grad.data() : nullptr,
                           static_cast<int64_t>(grad ? ntc : 0),
                           r.align.data(),
                           static_cast<int64_t>(nt),
                           r.ctc.data(),
                           c.N,
                           r.distill.data(),
                           c.N};
  seqloss_problem p = c.problem();
  char msg[512] = {0};
  r.st = seqloss_dctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  if (e.backend == SEQLOSS_BACKEND_CUDA) check_settled(c.name);
  if (r.st != SEQLOSS_OK) std::printf("  [%s] %s: %s\n", c.name.c_str(), seqloss_status_name(r.st), msg);
  return r;
}

struct AlignOut {
  seqloss_status st;
  std::vector<int32_t> paths;
  std::vector<float> scores;
};

AlignOut run_align(const Case& c, const seqloss_exec& e) {
  AlignOut r;
  r.paths.assign(static_cast<size_t>(c.N) * c.T, -9);
  r.scores.assign(static_cast<size_t>(c.N), -7.0f);
  seqloss_align_outputs out{r.paths.data(), static_cast<int64_t>(r.paths.size()), r.scores.data(), c.N};
  seqloss_problem p = c.problem();
  char msg[512] = {0};
  r.st = seqloss_ctc_align(&p, &e, &out, nullptr, 0, msg, sizeof msg);
  if (e.backend == SEQLOSS_BACKEND_CUDA) check_settled(c.name);
  if (r.st != SEQLOSS_OK) std::printf("  [%s] %s: %s\n", c.name.c_str(), seqloss_status_name(r.st), msg);
  return r;
}

struct AceOut {
  seqloss_status st;
  std::vector<float> losses, grad;
  double loss = 0;
};

AceOut run_ace(const Case& c, const seqloss_ace_options& o, const seqloss_exec& e) {
  AceOut r;
  r.losses.assign(static_cast<size_t>(c.N), -7.0f);
  r.grad.assign(c.x.size(), 9.0f);
  seqloss_ace_outputs out{r.losses.data(), c.N, &r.loss, r.grad.data(), static_cast<int64_t>(r.grad.size())};
  seqloss_problem p = c.problem();
  char msg[512] = {0};
  r.st = seqloss_ace(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  if (e.backend == SEQLOSS_BACKEND_CUDA) check_settled(c.name);
  if (r.st != SEQLOSS_OK) std::printf("  [%s] %s: %s\n", c.name.c_str(), seqloss_status_name(r.st), msg);
  return r;
}

// ---- comparisons ----------------------------------------------------------------------------------------------

// The largest disagreements of CTC's losses (relative) and dense outputs (max |Δ| / max |g|) seen, printed at the
// end: how close the CUDA backend's arithmetic (FP32 for plain CTC) comes to the CPU's double.
double g_worst_loss = 0.0, g_worst_dense = 0.0, g_worst_dctc_loss = 0.0, g_worst_dctc_dense = 0.0;
double g_worst_ace_loss = 0.0, g_worst_ace_dense = 0.0;
int g_ace_labels = 0;                        // ACE cases also run from labels
int g_ctc_full = 0, g_ctc_checkpointed = 0;  // CTC cases by their α lattice (labels.h: every frame, or checkpoints)

double rel_diff(double a, double b) {
  if (a == b || !(std::isfinite(a) && std::isfinite(b))) return 0.0;
  return std::fabs(a - b) / std::max(std::fabs(b), 1e-6);
}

// The launch plan (seqloss_cuda_plan_call) reports the workspace the call's *_workspace_size entry asks for, in both
// memory kinds: the plan and the code it describes carve the same buffers.
void check_plan_workspace(const Case& c, const std::string& at, int32_t op, const seqloss_ctc_options* ctc,
                          const seqloss_dctc_options* dctc, const seqloss_ace_options* ace) {
  for (int32_t memory : {SEQLOSS_MEMORY_HOST, SEQLOSS_MEMORY_DEVICE}) {
    seqloss_problem p = c.problem();
    seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA, memory);
    size_t need = 0;
    seqloss_status st = SEQLOSS_ERROR_INTERNAL;
    if (op == SEQLOSS_OP_CTC) st = seqloss_ctc_workspace_size(&p, ctc, &e, &need, nullptr, 0);
    if (op == SEQLOSS_OP_DCTC) st = seqloss_dctc_workspace_size(&p, dctc, &e, &need, nullptr, 0);
    if (op == SEQLOSS_OP_CTC_ALIGN) st = seqloss_ctc_align_workspace_size(&p, &e, &need, nullptr, 0);
    if (op == SEQLOSS_OP_ACE) st = seqloss_ace_workspace_size(&p, ace, &e, &need, nullptr, 0);
    seqloss_cuda_plan_request r{};
    r.op = op;
    r.outputs = op == SEQLOSS_OP_CTC_ALIGN ? 0 : (op == SEQLOSS_OP_CTC ? 3 : 1);
    r.memory = memory;
    r.fp64_ratio = 32;
    r.ctc = ctc;
    r.dctc = dctc;
    r.ace = ace;
    seqloss_cuda_plan plan{};
    char msg[256] = {0};
    const seqloss_status ps = seqloss_cuda_plan_call(&p, &r, &plan, msg, sizeof msg);
    check(st == SEQLOSS_OK && ps == SEQLOSS_OK && static_cast<double>(need) == plan.workspace_bytes,
          "plan workspace = workspace size: " + at + " (memory " + std::to_string(memory) + ": " +
              std::to_string(need) + " vs " + std::to_string(plan.workspace_bytes) + "; " + msg + ")");
  }
}

void compare_ctc(const Case& c, const std::string& what, const seqloss_ctc_options& o, bool grad, bool post) {
  const CtcOut a = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CPU), grad, post);
  const CtcOut b = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), grad, post);
  const std::string at = c.name + " " + what;
  check(a.st == SEQLOSS_OK && b.st == SEQLOSS_OK, "ctc runs: " + at);
  if (grad || post) ++(seqloss::cuda::plan_labels(c.problem(), false).ck > 1 ? g_ctc_checkpointed : g_ctc_full);
  if (a.st != SEQLOSS_OK || b.st != SEQLOSS_OK) return;
  bool ok = rel_close(a.loss, b.loss);
  for (int n = 0; n < c.N; ++n) ok = ok && rel_close(a.losses[n], b.losses[n], kTol, 1e-6);
  check(ok, "ctc losses: " + at + str(" (%g vs %g)", a.loss, b.loss));
  check_plan_workspace(c, at, SEQLOSS_OP_CTC, &o, nullptr, nullptr);
  for (int n = 0; n < c.N; ++n) g_worst_loss = std::max(g_worst_loss, rel_diff(b.losses[n], a.losses[n]));
  if (grad) g_worst_dense = std::max(g_worst_dense, array_diff(a.grad, b.grad));
  if (post) g_worst_dense = std::max(g_worst_dense, array_diff(a.post, b.post));
  if (grad)
    check(array_diff(a.grad, b.grad) <= kTol, "ctc grad: " + at + str(" (max rel %g)", array_diff(a.grad, b.grad)));
  if (post)
    check(array_diff(a.post, b.post) <= kTol,
          "ctc posterior: " + at + str(" (max rel %g)", array_diff(a.post, b.post)));
  // Run to run: bitwise.
  const CtcOut b2 = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), grad, post);
  check(b2.losses == b.losses && b2.grad == b.grad && b2.post == b.post && b2.loss == b.loss,
        "ctc deterministic: " + at);
}

seqloss_ctc_options ctc_options(int32_t reduction, int32_t zero_inf, double alpha, int32_t scope, double gamma) {
  seqloss_ctc_options o;
  std::memset(&o, 0, sizeof o);
  o.reduction = reduction;
  o.zero_infinity = zero_inf;
  o.fit_alpha = alpha;
  o.fit_alpha_scope = scope;
  o.fit_gamma = gamma;
  return o;
}

seqloss_dctc_options dctc_options(int32_t alignment, int32_t reduction, double lambda, double beta, double s,
                                  double m) {
  seqloss_dctc_options o;
  std::memset(&o, 0, sizeof o);
  o.alignment = alignment;
  o.reduction = reduction;
  o.zero_infinity = 1;
  o.lambda = lambda;
  o.ctc_weight = beta;
  o.scale = s;
  o.margin = m;
  return o;
}

// The log-probability of a path under the CPU's ln y (for paths that differ only at exact ties).
double path_score(const Case& c, int n, const std::vector<int32_t>& paths) {
  double s = 0.0;
  for (int t = 0; t < c.il[n]; ++t) {
    double m = -1e300, z = 0.0;
    for (int k = 0; k < c.C; ++k) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, k)]));
    for (int k = 0; k < c.C; ++k) z += std::exp(c.x[c.idx(n, t, k)] - m);
    const int k = paths[static_cast<size_t>(n) * c.T + t];
    s += c.input == SEQLOSS_INPUT_LOGITS ? c.x[c.idx(n, t, k)] - m - std::log(z) : c.x[c.idx(n, t, k)];
  }
  return s;
}

void compare_dctc(const Case& c, const std::string& what, const seqloss_dctc_options& o, bool grad) {
  const DctcOut a = run_dctc(c, o, exec_of(SEQLOSS_BACKEND_CPU), grad);
  const DctcOut b = run_dctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), grad);
  const std::string at = c.name + " " + what;
  check(a.st == SEQLOSS_OK && b.st == SEQLOSS_OK, "dctc runs: " + at);
  if (a.st != SEQLOSS_OK || b.st != SEQLOSS_OK) return;
  bool ok = rel_close(a.loss, b.loss);
  for (int n = 0; n < c.N; ++n) {
    ok = ok && rel_close(a.losses[n], b.losses[n], kTol, 1e-6) && rel_close(a.ctc[n], b.ctc[n], kTol, 1e-6) &&
         rel_close(a.distill[n], b.distill[n], kTol, 1e-6);
  }
  check(ok, "dctc losses: " + at + str(" (%g vs %g)", a.loss, b.loss));
  for (int n = 0; n < c.N; ++n) g_worst_dctc_loss = std::max(g_worst_dctc_loss, rel_diff(b.losses[n], a.losses[n]));
  if (grad) g_worst_dctc_dense = std::max(g_worst_dctc_dense, array_diff(a.grad, b.grad));
  check_plan_workspace(c, at, SEQLOSS_OP_DCTC, nullptr, &o, nullptr);
  check(a.align == b.align, "dctc z*: " + at);
  if (grad)
    check(array_diff(a.grad, b.grad) <= kTol, "dctc grad: " + at + str(" (max rel %g)", array_diff(a.grad, b.grad)));
  const DctcOut b2 = run_dctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), grad);
  check(b2.losses == b.losses && b2.grad == b.grad && b2.align == b.align, "dctc deterministic: " + at);
}

void compare_align(const Case& c, const std::string& what) {
  const AlignOut a = run_align(c, exec_of(SEQLOSS_BACKEND_CPU));
  const AlignOut b = run_align(c, exec_of(SEQLOSS_BACKEND_CUDA));
  const std::string at = c.name + " " + what;
  check(a.st == SEQLOSS_OK && b.st == SEQLOSS_OK, "align runs: " + at);
  if (a.st != SEQLOSS_OK || b.st != SEQLOSS_OK) return;
  check_plan_workspace(c, at, SEQLOSS_OP_CTC_ALIGN, nullptr, nullptr, nullptr);
  for (int n = 0; n < c.N; ++n) {
    check(rel_close(a.scores[n], b.scores[n], kTol, 1e-6),
          "align score: " + at + str(" (%g vs %g)", a.scores[n], b.scores[n]));
    const bool same =
        std::equal(a.paths.begin() + static_cast<int64_t>(n) * c.T, a.paths.begin() + static_cast<int64_t>(n + 1) * c.T,
                   b.paths.begin() + static_cast<int64_t>(n) * c.T);
    // Equal paths, or (at an exact tie broken by the last bit of a row's log-sum-exp) equally good ones.
    check(same || rel_close(path_score(c, n, a.paths), path_score(c, n, b.paths), 1e-12, 1e-12), "align path: " + at);
  }
}

void compare_ace(const Case& c, const std::string& what, const seqloss_ace_options& o) {
  const AceOut a = run_ace(c, o, exec_of(SEQLOSS_BACKEND_CPU));
  const AceOut b = run_ace(c, o, exec_of(SEQLOSS_BACKEND_CUDA));
  const std::string at = c.name + " " + what;
  check(a.st == SEQLOSS_OK && b.st == SEQLOSS_OK, "ace runs: " + at);
  if (a.st != SEQLOSS_OK || b.st != SEQLOSS_OK) return;
  bool ok = rel_close(a.loss, b.loss);
  for (int n = 0; n < c.N; ++n) ok = ok && rel_close(a.losses[n], b.losses[n], kTol, 1e-6);
  check(ok, "ace losses: " + at + str(" (%g vs %g)", a.loss, b.loss));
  for (int n = 0; n < c.N; ++n) {
    if (std::isfinite(a.losses[n])) g_worst_ace_loss = std::max(g_worst_ace_loss, rel_diff(b.losses[n], a.losses[n]));
  }
  g_worst_ace_dense = std::max(g_worst_ace_dense, array_diff(a.grad, b.grad));
  check_plan_workspace(c, at, SEQLOSS_OP_ACE, nullptr, nullptr, &o);
  check(array_diff(a.grad, b.grad) <= kTol, "ace grad: " + at + str(" (max rel %g)", array_diff(a.grad, b.grad)));
  const AceOut b2 = run_ace(c, o, exec_of(SEQLOSS_BACKEND_CUDA));
  check(b2.losses == b.losses && b2.grad == b.grad, "ace deterministic: " + at);
  // The same supervision as labels (counts NULL) gives bitwise the same results on each backend, where every
  // sequence's labels fit in its frames (the counts form drops those beyond T_n).
  bool fits = !c.counts.empty();
  for (int n = 0; n < c.N; ++n) fits = fits && c.tl[n] <= c.il[n];
  if (fits) {
    Case d = c;
    d.counts.clear();
    const AceOut a3 = run_ace(d, o, exec_of(SEQLOSS_BACKEND_CPU));
    const AceOut b3 = run_ace(d, o, exec_of(SEQLOSS_BACKEND_CUDA));
    check(a3.st == SEQLOSS_OK && a3.losses == a.losses && a3.grad == a.grad,
          "ace from labels = from counts, cpu: " + at);
    check(b3.st == SEQLOSS_OK && b3.losses == b.losses && b3.grad == b.grad,
          "ace from labels = from counts, cuda: " + at);
    check_plan_workspace(d, at + " (labels)", SEQLOSS_OP_ACE, nullptr, nullptr, &o);
    ++g_ace_labels;
  }
}

void compare_decoders(const Case& c0, const std::string& what) {
  const std::string at = c0.name + " " + what;
  const size_t nt = static_cast<size_t>(c0.N) * c0.T, nc = static_cast<size_t>(c0.N) * c0.C;
  Case ace = c0;  // the ACE decoder and counting need T_n >= 1
  for (auto& l : ace.il) l = std::max(l, 1);
  for (int kind = 0; kind < 3; ++kind) {
    const Case& c = kind == 0 ? c0 : ace;
    seqloss_problem p = c.problem();
    std::vector<int32_t> la(nt), lb(nt), na(static_cast<size_t>(c.N)), nb(static_cast<size_t>(c.N));
    seqloss_exec cpu = exec_of(SEQLOSS_BACKEND_CPU), gpu = exec_of(SEQLOSS_BACKEND_CUDA);
    seqloss_status sa, sb;
    if (kind == 0) {
      sa = seqloss_ctc_greedy_decode(&p, &cpu, la.data(), static_cast<int64_t>(nt), na.data(), c.N, nullptr, 0);
      sb = seqloss_ctc_greedy_decode(&p, &gpu, lb.data(), static_cast<int64_t>(nt), nb.data(), c.N, nullptr, 0);
    } else {
      sa = seqloss_ace_decode(&p, kind - 1, &cpu, la.data(), static_cast<int64_t>(nt), na.data(), c.N, nullptr, 0);
      sb = seqloss_ace_decode(&p, kind - 1, &gpu, lb.data(), static_cast<int64_t>(nt), nb.data(), c.N, nullptr, 0);
    }
    check(sa == SEQLOSS_OK && sb == SEQLOSS_OK && la == lb && na == nb, "decode " + std::to_string(kind) + ": " + at);
  }
  std::vector<float> ea(nc), eb(nc);
  std::vector<int32_t> ra(nc), rb(nc);
  seqloss_problem p = ace.problem();
  seqloss_exec cpu = exec_of(SEQLOSS_BACKEND_CPU), gpu = exec_of(SEQLOSS_BACKEND_CUDA);
  const seqloss_status sa =
      seqloss_ace_count(&p, &cpu, ea.data(), static_cast<int64_t>(nc), ra.data(), static_cast<int64_t>(nc), nullptr, 0);
  const seqloss_status sb =
      seqloss_ace_count(&p, &gpu, eb.data(), static_cast<int64_t>(nc), rb.data(), static_cast<int64_t>(nc), nullptr, 0);
  check(sa == SEQLOSS_OK && sb == SEQLOSS_OK, "count runs: " + at);
  bool ok = true;
  for (size_t i = 0; i < nc; ++i) {
    ok = ok && rel_close(ea[i], eb[i], kTol, 1e-6);
    // Rounded counts agree unless the sum sits on a .5 boundary within the tolerance.
    const double frac = std::fabs(std::fmod(static_cast<double>(ea[i]), 1.0));
    if (std::fabs(frac - 0.5) > 1e-4) ok = ok && ra[i] == rb[i];
  }
  check(ok, "count: " + at);
}

// ---- the suites -----------------------------------------------------------------------------------------------

void test_random(std::mt19937& rng) {
  for (int i = 0; i < 120; ++i) {
    Case c = random_case(rng, 6, 40, 30, 12, i % 5 == 0);
    c.name = "random " + std::to_string(i);
    if (i % 4 == 3) to_log_probs(c);
    const int32_t red = static_cast<int32_t>(i % 3);
    compare_ctc(c, "plain", ctc_options(red, i % 2, 0, 0, 0), true, true);
    compare_align(c, "align");
    compare_decoders(c, "decoders");
    if (c.input == SEQLOSS_INPUT_LOGITS) {
      const double gammas[] = {0.5, 1.0, 2.0};
      compare_ctc(c, "alpha batch", ctc_options(red, 0, 0.4, SEQLOSS_FIT_SCOPE_BATCH, 0), true, true);
      compare_ctc(c, "alpha sequence", ctc_options(red, 0, 0.6, SEQLOSS_FIT_SCOPE_SEQUENCE, 0), true, true);
      compare_ctc(c, "gamma", ctc_options(red, 0, 0, 0, gammas[i % 3]), true, false);
      compare_ctc(c, "alpha+gamma", ctc_options(red, 0, 0.5, static_cast<int32_t>(i % 2), gammas[(i + 1) % 3]), true,
                  true);
      compare_ctc(c, "alpha, posterior only", ctc_options(red, 0, 0.5, 0, 0), false, true);
      const int32_t modes[] = {SEQLOSS_DCTC_RATIO, SEQLOSS_DCTC_POSTERIOR, SEQLOSS_DCTC_VITERBI};
      for (int32_t mode : modes) {
        compare_dctc(c, "dctc mode " + std::to_string(mode), dctc_options(mode, red, 0.05, 1.0, 1.0, 0.0), true);
        compare_dctc(c, "dctc margin mode " + std::to_string(mode), dctc_options(mode, red, 0.3, 0.7, 2.0, 0.5),
                     i % 2 == 0);
      }
      compare_dctc(c, "dctc beta 0", dctc_options(SEQLOSS_DCTC_RATIO, red, 0.5, 0.0, 1.0, 0.2), true);
    }
    // ACE on the same logits (and as probabilities).
    Case a = c;
    if (a.input == SEQLOSS_INPUT_LOG_PROBS) {
      for (auto& v : a.x) v = std::exp(v);
      a.input = SEQLOSS_INPUT_PROBS;
    }
    ace_counts(a);
    seqloss_ace_options ao{red, static_cast<int32_t>(i % 2), i % 3 == 0 ? 0.0 : 1e-10};
    compare_ace(a, "ace", ao);
  }
}

void test_extremes(std::mt19937& rng) {
  // Log-prob −500 on forced frames and logits ±1e4.
  for (int i = 0; i < 8; ++i) {
    Case c = random_case(rng, 4, 30, 12, 8, false);
    c.name = "extreme " + std::to_string(i);
    for (auto& v : c.x) v = (rng() % 2 == 0 ? 1e4f : -1e4f) * (i % 2 == 0 ? 1.0f : 0.0f) + v;
    if (i % 2 == 1) {
      to_log_probs(c);
      for (int n = 0; n < c.N; ++n) {
        for (int t = 0; t < c.il[n]; t += 3) {
          for (int k = 0; k < c.C; ++k) c.x[c.idx(n, t, k)] = k == c.blank ? 0.0f : -500.0f;
        }
      }
    }
    compare_ctc(c, "plain", ctc_options(SEQLOSS_REDUCTION_SUM, 0, 0, 0, 0), true, true);
    compare_align(c, "align");
    if (c.input == SEQLOSS_INPUT_LOGITS) {
      compare_ctc(c, "alpha+gamma", ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 1.0), true, true);
      compare_dctc(c, "dctc", dctc_options(SEQLOSS_DCTC_RATIO, SEQLOSS_REDUCTION_MEAN, 0.1, 1.0, 1.0, 0.0), true);
      Case a = c;
      ace_counts(a);
      seqloss_ace_options ao{SEQLOSS_REDUCTION_MEAN, SEQLOSS_ACE_CE, 1e-10};
      compare_ace(a, "ace", ao);
    }
  }
  // Long: T = 10 000 frames, L = 1 000 labels (on the SIMT host T = 2000, L = 500).
  {
#if defined(SEQLOSS_CUDA_EMULATE)
    const int T = 2000, L = 500;
#else
    const int T = 10000, L = 1000;
#endif
    std::mt19937 r2(11);
    Case c;
    c.name = "T=" + std::to_string(T) + " L=" + std::to_string(L);
    c.N = 2;
    c.T = T;
    c.C = 40;
    c.blank = 0;
    std::normal_distribution<float> nd(0.0f, 2.0f);
    c.x.resize(static_cast<size_t>(c.N) * c.T * c.C);
    for (auto& v : c.x) v = nd(r2);
    c.il = {T, T * 9 / 10};
    c.tl = {L, L * 8 / 10};
    for (int i = 0; i < c.tl[0] + c.tl[1]; ++i) c.targets.push_back(1 + static_cast<int>(r2() % 39));
    compare_ctc(c, "plain", ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), true, true);
    compare_ctc(c, "alpha+gamma", ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 1.0), true, false);
    compare_dctc(c, "dctc viterbi", dctc_options(SEQLOSS_DCTC_VITERBI, SEQLOSS_REDUCTION_MEAN, 0.01, 1.0, 1.0, 0.0),
                 true);
    compare_align(c, "align");
  }
  // Log-probs with PyTorch's gradient convention, scale·(e^x − y'): unnormalised log-probs from −100 (a subnormal
  // e^x) to 1e30 (+inf, as the CPU's float of e^x), in the label's classes and elsewhere: element by element, the
  // same infinities and the finite values to 1e-5 of their own size (or 1e-30 absolute below the normal range).
  {
    // One sequence, label (1), blank 0: each frame's largest value is the blank's and the label's (so that the
    // sequence has a path and their gradient entries are patched), the other classes below it.
    Case c;
    c.name = "log-probs beyond the float range, pytorch convention";
    c.N = 1;
    c.T = 5;
    c.C = 4;
    c.layout = SEQLOSS_LAYOUT_NTC;
    c.input = SEQLOSS_INPUT_LOG_PROBS;
    c.blank = 0;
    c.il = {5};
    c.tl = {1};
    c.targets = {1};
    c.x = {88.0f, 88.0f, -3.0f, -100.0f, 100.0f, 100.0f, 0.5f,   -87.0f, 2e9f,    2e9f,
           -3.0f, 0.5f,  1e30f, 1e30f,   0.0f,   0.0f,   -87.0f, -87.0f, -100.0f, -95.0f};
    seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_SUM, 0, 0, 0, 0);
    o.grad_convention = SEQLOSS_GRAD_PYTORCH;
    const CtcOut a = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CPU), true, false);
    const CtcOut b = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), true, false);
    bool same = a.st == SEQLOSS_OK && b.st == SEQLOSS_OK && a.grad.size() == b.grad.size();
    for (size_t i = 0; same && i < a.grad.size(); ++i) {
      const double x = a.grad[i], y = b.grad[i];
      same = std::isinf(x) || std::isinf(y)
                 ? x == y
                 : std::isnan(x) == std::isnan(y) && (std::isnan(x) || std::fabs(x - y) <= 1e-5 * std::fabs(x) + 1e-30);
    }
    check(same, "ctc: " + c.name);
  }
  // The FP32 recursion rows beyond shared memory (kRowCap = 1024 states, cuda/plan.h): S = 1201 in the workspace
  // beside S = 961 in shared memory, in one batch.
  {
    std::mt19937 r4(17);
    Case c;
    c.name = "S=1201 and S=961";
    c.N = 2;
    c.T = 1300;
    c.C = 30;
    c.blank = 0;
    std::normal_distribution<float> nd(0.0f, 2.0f);
    c.x.resize(static_cast<size_t>(c.N) * c.T * c.C);
    for (auto& v : c.x) v = nd(r4);
    c.il = {1300, 1200};
    c.tl = {600, 480};
    for (int i = 0; i < c.tl[0] + c.tl[1]; ++i) c.targets.push_back(1 + static_cast<int>(r4() % 29));
    compare_ctc(c, "plain", ctc_options(SEQLOSS_REDUCTION_SUM, 0, 0, 0, 0), true, true);
  }
  // Wide: C = 20 000 classes.
  {
    std::mt19937 r3(13);
    Case c = random_case(r3, 3, 30, 2, 10, false);
    c.name = "C=20000";
    c.C = 20000;
    std::normal_distribution<float> nd(0.0f, 3.0f);
    c.x.resize(static_cast<size_t>(c.N) * c.T * c.C);
    for (auto& v : c.x) v = nd(r3);
    c.targets.clear();
    for (int n = 0; n < c.N; ++n) {
      c.tl[n] = std::min(10, c.il[n] / 2);
      for (int i = 0; i < c.tl[n]; ++i) c.targets.push_back(1 + static_cast<int>(r3() % 19999));
    }
    c.blank = 0;
    if (c.targets.empty()) c.targets.push_back(1);
    compare_ctc(c, "plain", ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), true, true);
    compare_ctc(c, "alpha batch", ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 0), true, false);
    compare_dctc(c, "dctc", dctc_options(SEQLOSS_DCTC_RATIO, SEQLOSS_REDUCTION_MEAN, 0.01, 1.0, 1.0, 0.0), true);
    compare_align(c, "align");
    compare_decoders(c, "decoders");
    Case a = c;
    ace_counts(a);
    seqloss_ace_options ao{SEQLOSS_REDUCTION_MEAN, SEQLOSS_ACE_CE, 1e-10};
    compare_ace(a, "ace", ao);
  }
}

#if defined(SEQLOSS_WITH_CUDA)
// Device-memory calls give bitwise the host-memory results; a caller workspace is used; host pointers passed as
// device memory are refused.
void test_device_memory(std::mt19937& rng) {
  Case c = random_case(rng, 4, 30, 20, 8, false);
  c.name = "device memory";
  const seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 1.0);
  const CtcOut host = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), true, true);
  const size_t bytes = sizeof(float) * c.x.size();
  float *dx = nullptr, *dg = nullptr, *dp = nullptr;
  check(cudaMalloc(&dx, bytes) == cudaSuccess && cudaMalloc(&dg, bytes) == cudaSuccess &&
            cudaMalloc(&dp, bytes) == cudaSuccess,
        "cudaMalloc");
  cudaMemcpy(dx, c.x.data(), bytes, cudaMemcpyHostToDevice);
  seqloss_problem p = c.problem(dx);
  std::vector<float> losses(static_cast<size_t>(c.N));
  double loss = 0;
  seqloss_ctc_outputs out{
      losses.data(), c.N, &loss, dg, static_cast<int64_t>(c.x.size()), dp, static_cast<int64_t>(c.x.size())};
  seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA, SEQLOSS_MEMORY_DEVICE);
  size_t ws_bytes = 0;
  check(seqloss_ctc_workspace_size(&p, &o, &e, &ws_bytes, nullptr, 0) == SEQLOSS_OK && ws_bytes > 0, "workspace size");
  void* ws = nullptr;
  cudaMalloc(&ws, ws_bytes);
  char msg[512] = {0};
  const seqloss_status st = seqloss_ctc(&p, &o, &e, &out, ws, ws_bytes, msg, sizeof msg);
  check(st == SEQLOSS_OK, std::string("ctc on device memory with a caller workspace: ") + msg);
  std::vector<float> g(c.x.size()), q(c.x.size());
  cudaMemcpy(g.data(), dg, bytes, cudaMemcpyDeviceToHost);
  cudaMemcpy(q.data(), dp, bytes, cudaMemcpyDeviceToHost);
  check(losses == host.losses && loss == host.loss && g == host.grad && q == host.post,
        "device memory = host memory, bitwise");
  // A workspace one byte short is refused.
  check(seqloss_ctc(&p, &o, &e, &out, ws, ws_bytes - 1, msg, sizeof msg) == SEQLOSS_ERROR_RANGE,
        "short workspace refused");
  // Host arrays as device memory.
  seqloss_problem hp = c.problem();
  check(seqloss_ctc(&hp, &o, &e, &out, nullptr, 0, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "device memory"),
        "host logits as device memory refused");
  cudaFree(ws);
  cudaFree(dx);
  cudaFree(dg);
  cudaFree(dp);
}

// A CTC call on device memory (data copied to a fresh allocation by `fill`, which may leave the copy queued),
// compared bitwise with the host-memory call.
struct DeviceCtc {
  Case c;
  seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_SUM, 0, 0, 0, 0);
  CtcOut host;
  size_t bytes = 0;
  float *dx = nullptr, *dg = nullptr;
  std::vector<float> losses;
  double loss = 0;

  explicit DeviceCtc(std::mt19937& rng) : c(random_case(rng, 3, 20, 12, 6, false)) {
    c.name = "device ctc";
    host = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), true, false);
    bytes = sizeof(float) * c.x.size();
    cudaMalloc(&dx, bytes);
    cudaMalloc(&dg, bytes);
    losses.assign(static_cast<size_t>(c.N), 0.0f);
  }
  ~DeviceCtc() {
    cudaFree(dx);
    cudaFree(dg);
  }
  seqloss_status run(void* stream, void* ws = nullptr, size_t ws_bytes = 0, float* data = nullptr,
                     float* grad = nullptr, int32_t device = 0, char* msg = nullptr, size_t msg_size = 0) {
    seqloss_problem p = c.problem(data != nullptr ? data : dx);
    seqloss_ctc_outputs out{losses.data(), c.N, &loss, grad != nullptr ? grad : dg, static_cast<int64_t>(c.x.size()),
                            nullptr,       0};
    seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA, SEQLOSS_MEMORY_DEVICE);
    e.stream = stream;
    e.device = device;
    return seqloss_ctc(&p, &o, &e, &out, ws, ws_bytes, msg, msg_size);
  }
  bool same_as_host(const float* grad = nullptr) {
    std::vector<float> g(c.x.size());
    cudaMemcpy(g.data(), grad != nullptr ? grad : dg, bytes, cudaMemcpyDeviceToHost);
    return losses == host.losses && loss == host.loss && g == host.grad;
  }
};

// The checkpointed α lattice gives bitwise the results of the whole one: the same sequence alone (12·T·S > N·T·C:
// checkpoints) and beside empty sequences (T_n = 0, which add N·T·C but no states: the whole lattice).
void test_checkpoint_invariance(std::mt19937& rng) {
  Case a;
  a.name = "checkpoints vs the whole lattice";
  a.N = 1;
  a.T = 40;
  a.C = 9;
  a.blank = 0;
  std::normal_distribution<float> nd(0.0f, 2.0f);
  a.x.resize(static_cast<size_t>(a.T) * a.C);
  for (auto& v : a.x) v = nd(rng);
  a.il = {40};
  a.tl = {4};
  a.targets = {3, 5, 5, 1};
  Case b = a;
  b.N = 12;
  b.x.resize(static_cast<size_t>(b.N) * b.T * b.C, 0.0f);  // NTC: sequence 0 first, the others empty
  b.il.assign(12, 0);
  b.il[0] = 40;
  b.tl.assign(12, 0);
  b.tl[0] = 4;
  check(seqloss::cuda::plan_labels(a.problem(), false).ck > 1 && seqloss::cuda::plan_labels(b.problem(), false).ck == 1,
        "the two batches have the two kinds of α lattice");
  for (const bool fit : {false, true}) {
    const seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_SUM, 0, fit ? 0.5 : 0, fit ? 1 : 0, 0);
    const CtcOut ra = run_ctc(a, o, exec_of(SEQLOSS_BACKEND_CUDA), true, true);
    const CtcOut rb = run_ctc(b, o, exec_of(SEQLOSS_BACKEND_CUDA), true, true);
    const size_t row = static_cast<size_t>(a.T) * a.C;
    check(ra.st == SEQLOSS_OK && rb.st == SEQLOSS_OK && ra.losses[0] == rb.losses[0] &&
              std::equal(ra.grad.begin(), ra.grad.end(), rb.grad.begin()) &&
              std::equal(ra.post.begin(), ra.post.begin() + static_cast<std::ptrdiff_t>(row), rb.post.begin()),
          std::string("checkpointed = whole lattice, bitwise") + (fit ? " (fit)" : ""));
  }
}

// Host arrays that are page-locked already (a C caller's cudaHostAlloc) are copied directly, not staged: the results
// are those of ordinary host arrays, which go through the staging pair.
void test_pinned_host(std::mt19937& rng) {
  // 4 × 120 × 300 floats, 576 KB: staged under the suites' SEQLOSS_CUDA_STAGE_BYTES=65536.
  Case c;
  c.name = "pinned host arrays";
  c.N = 4;
  c.T = 120;
  c.C = 300;
  c.blank = 0;
  std::normal_distribution<float> nd(0.0f, 2.0f);
  c.x.resize(static_cast<size_t>(c.N) * c.T * c.C);
  for (auto& v : c.x) v = nd(rng);
  c.il = {120, 100, 90, 120};
  c.tl = {20, 15, 1, 30};
  for (int i = 0; i < 66; ++i) c.targets.push_back(1 + static_cast<int>(rng() % 299));
  const size_t bytes = c.x.size() * sizeof(float);
  float* px = nullptr;
  float* pg = nullptr;
  check(cudaHostAlloc(reinterpret_cast<void**>(&px), bytes, cudaHostAllocDefault) == cudaSuccess &&
            cudaHostAlloc(reinterpret_cast<void**>(&pg), bytes, cudaHostAllocDefault) == cudaSuccess,
        "cudaHostAlloc for the pinned case");
  if (px == nullptr || pg == nullptr) return;
  std::memcpy(px, c.x.data(), bytes);
  const seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0);
  const CtcOut plain = run_ctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), true, false);
  std::vector<float> losses(static_cast<size_t>(c.N));
  double loss = 0;
  seqloss_ctc_outputs out{losses.data(), c.N, &loss, pg, static_cast<int64_t>(c.x.size()), nullptr, 0};
  seqloss_problem p = c.problem(px);
  seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
  char msg[256] = {0};
  const seqloss_status st = seqloss_ctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  check_settled(c.name);
  check(st == SEQLOSS_OK && plain.st == SEQLOSS_OK && losses == plain.losses && loss == plain.loss &&
            std::equal(plain.grad.begin(), plain.grad.end(), pg),
        "pinned host arrays give the staged arrays' results");
  cudaFreeHost(px);
  cudaFreeHost(pg);
}

// Defect 1: exec.stream NULL runs on the legacy default stream, so the call sees what the caller queued there (or on
// a blocking stream) before it. On the SIMT host a queued copy runs only when something waits for it, so a call on
// a stream of its own would read the allocation's NaN fill.
void test_default_stream(std::mt19937& rng) {
  DeviceCtc d(rng);
  cudaMemcpyAsync(d.dx, d.c.x.data(), d.bytes, cudaMemcpyHostToDevice, nullptr);  // the legacy stream, not waited for
  check(d.run(nullptr) == SEQLOSS_OK && d.same_as_host(), "stream NULL: ordered after the caller's copy on stream 0");
  cudaStream_t blocking;
  cudaStreamCreate(&blocking);
  cudaMemsetAsync(d.dx, 0xFF, d.bytes, nullptr);
  cudaMemcpyAsync(d.dx, d.c.x.data(), d.bytes, cudaMemcpyHostToDevice, blocking);
  check(d.run(nullptr) == SEQLOSS_OK && d.same_as_host(), "stream NULL: ordered after a blocking stream's copy");
  cudaStream_t own;
  cudaStreamCreateWithFlags(&own, cudaStreamNonBlocking);
  cudaMemsetAsync(d.dx, 0xFF, d.bytes, own);
  cudaMemcpyAsync(d.dx, d.c.x.data(), d.bytes, cudaMemcpyHostToDevice, own);
  check(d.run(own) == SEQLOSS_OK && d.same_as_host(), "a caller's non-blocking stream: ordered after its copy");
  cudaStreamDestroy(blocking);
  cudaStreamDestroy(own);
}

// Defect 2: a caller's workspace is checked (device memory of this device, large enough) and aligned; so are the
// dense arrays with memory = device.
void test_workspace_checks(std::mt19937& rng) {
  DeviceCtc d(rng);
  cudaMemcpy(d.dx, d.c.x.data(), d.bytes, cudaMemcpyHostToDevice);
  seqloss_problem p = d.c.problem(d.dx);
  seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA, SEQLOSS_MEMORY_DEVICE);
  size_t need = 0;
  seqloss_ctc_workspace_size(&p, &d.o, &e, &need, nullptr, 0);
  char msg[512] = {0};
  std::vector<unsigned char> host_ws(need);
  check(d.run(nullptr, host_ws.data(), need, nullptr, nullptr, 0, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "workspace must be device memory on CUDA device 0") != nullptr,
        std::string("a host workspace is refused: ") + msg);
  unsigned char* ws = nullptr;
  cudaMalloc(&ws, need + 1);
  check(d.run(nullptr, ws + 1, need) == SEQLOSS_OK && d.same_as_host(),
        "a misaligned workspace is aligned (bitwise the same)");
  cudaFree(ws);
  unsigned char* half = nullptr;
  cudaMalloc(&half, need / 2);
  const seqloss_status st = d.run(nullptr, half, need, nullptr, nullptr, 0, msg, sizeof msg);
  check(st == SEQLOSS_ERROR_RANGE && std::strstr(msg, "workspace must hold") != nullptr,
        std::string("a workspace whose allocation is shorter than workspace_bytes is refused: ") + msg);
  cudaFree(half);
  float* short_grad = nullptr;
  cudaMalloc(&short_grad, d.bytes - 4);
  check(d.run(nullptr, nullptr, 0, nullptr, short_grad, 0, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "grad must hold") != nullptr,
        std::string("a grad allocation one float short is refused: ") + msg);
  check(d.run(nullptr, nullptr, 0, d.dx + 1, nullptr, 0, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "logits must hold") != nullptr,
        std::string("logits that run past their allocation are refused: ") + msg);
  cudaFree(short_grad);
  int count = 0;
  cudaGetDeviceCount(&count);
  if (count >= 2) {
    cudaSetDevice(1);
    unsigned char* other = nullptr;
    cudaMalloc(&other, need);
    cudaSetDevice(0);
    check(d.run(nullptr, other, need, nullptr, nullptr, 0, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
              std::strstr(msg, "memory of another device") != nullptr,
          std::string("a workspace on another device is refused: ") + msg);
    cudaFree(other);
  }
}

// Defect 4: calls without a workspace leave the device's default pool as it was (their memory comes from
// seqloss's own pool).
void test_pool(std::mt19937& rng) {
  int pools = 0;
  cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, 0);
  if (pools == 0) return;
  cudaMemPool_t def = nullptr;
  cudaDeviceGetDefaultMemPool(&def, 0);
  uint64_t before = 12345, reserved0 = 0, after = 0, reserved1 = 0;
  uint64_t saved = 0;
  cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &saved);
  cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &before);
  cudaMemPoolGetAttribute(def, cudaMemPoolAttrReservedMemCurrent, &reserved0);
  Case c = random_case(rng, 4, 30, 20, 8, false);
  c.name = "pool";
  const CtcOut r =
      run_ctc(c, ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), exec_of(SEQLOSS_BACKEND_CUDA), true, true);
  check(r.st == SEQLOSS_OK, "pool: the call runs");
  cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &after);
  cudaMemPoolGetAttribute(def, cudaMemPoolAttrReservedMemCurrent, &reserved1);
  check(after == before, "the default pool's release threshold is left as the caller set it");
  check(reserved1 == reserved0, "the default pool holds no memory of the call");
  cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &saved);
}

// Defect 5: an error the caller's own code left pending is not reported as the call's.
void test_pending_error(std::mt19937& rng) {
  void* huge = nullptr;
  check(cudaMalloc(&huge, static_cast<size_t>(1) << 62) != cudaSuccess, "a 4 EiB allocation fails");
  check(cudaPeekAtLastError() != cudaSuccess, "and leaves its error pending");
  Case c = random_case(rng, 3, 20, 10, 5, false);
  c.name = "after a pending error";
  const CtcOut r =
      run_ctc(c, ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), exec_of(SEQLOSS_BACKEND_CUDA), true, false);
  check(r.st == SEQLOSS_OK, "a call after the caller's failed cudaMalloc succeeds");
}

// Several devices: the same call on device 1 gives bitwise device 0's results, also from two host threads at once;
// device memory is checked against exec.device.
void test_devices(std::mt19937& rng) {
  int count = 0;
  cudaGetDeviceCount(&count);
  if (count < 2) return;
  Case c = random_case(rng, 4, 30, 16, 8, false);
  c.name = "devices";
  const seqloss_ctc_options o = ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 1.0);
  seqloss_exec e0 = exec_of(SEQLOSS_BACKEND_CUDA), e1 = exec_of(SEQLOSS_BACKEND_CUDA);
  e1.device = 1;
  const CtcOut a = run_ctc(c, o, e0, true, true);
  const CtcOut b = run_ctc(c, o, e1, true, true);
  check(a.st == SEQLOSS_OK && b.st == SEQLOSS_OK && a.grad == b.grad && a.post == b.post && a.loss == b.loss,
        "device 1 gives device 0's results, bitwise");
  int cur = -1;
  cudaGetDevice(&cur);
  check(cur == 0, "the caller's current device is restored");
  CtcOut t0, t1;
  std::thread w0([&] { t0 = run_ctc(c, o, e0, true, true, false); });
  std::thread w1([&] { t1 = run_ctc(c, o, e1, true, true, false); });
  w0.join();
  w1.join();
  check(t0.grad == a.grad && t1.grad == a.grad && t0.loss == a.loss && t1.loss == a.loss,
        "two host threads on two devices at once give the same results");
  DeviceCtc d(rng);
  cudaMemcpy(d.dx, d.c.x.data(), d.bytes, cudaMemcpyHostToDevice);
  char msg[512] = {0};
  check(d.run(nullptr, nullptr, 0, nullptr, nullptr, 1, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "memory of another device") != nullptr,
        std::string("device 0 memory with exec.device 1 is refused: ") + msg);
}

// Defect 7: DCTC's logit scale s is used in double for the log-probabilities, as the CPU backend does. With
// s = 1 + 2^-25 (1 in float) and labels 10^6 below the row maximum, a float s moves every label frame's ln P by
// about 0.03: far outside the tolerance below.
void test_dctc_scale() {
  Case c;
  c.name = "dctc s = 1 + 2^-25";
  c.N = 2;
  c.T = 6;
  c.C = 4;
  c.x.assign(static_cast<size_t>(c.N) * c.T * c.C, 0.0f);
  for (int n = 0; n < c.N; ++n) {
    for (int t = 0; t < c.T; ++t) {
      for (int k = 1; k < c.C; ++k) c.x[c.idx(n, t, k)] = -1e6f * static_cast<float>(k) / 3.0f;
    }
  }
  c.il = {6, 5};
  c.tl = {2, 1};
  c.targets = {1, 2, 3};
  const double s = 1.0 + std::ldexp(1.0, -25);
  for (int32_t mode : {SEQLOSS_DCTC_RATIO, SEQLOSS_DCTC_VITERBI}) {
    const seqloss_dctc_options o = dctc_options(mode, SEQLOSS_REDUCTION_SUM, 0.1, 1.0, s, 0.0);
    const DctcOut a = run_dctc(c, o, exec_of(SEQLOSS_BACKEND_CPU), true);
    const DctcOut b = run_dctc(c, o, exec_of(SEQLOSS_BACKEND_CUDA), true);
    bool ok = a.st == SEQLOSS_OK && b.st == SEQLOSS_OK;
    for (int n = 0; ok && n < c.N; ++n) {
      ok = std::fabs(static_cast<double>(a.ctc[n]) - b.ctc[n]) <= 1e-7 * std::fabs(a.ctc[n]) + 1e-3 &&
           std::fabs(static_cast<double>(a.distill[n]) - b.distill[n]) <= 1e-7 * std::fabs(a.distill[n]) + 1e-3;
    }
    check(ok, c.name + " (mode " + std::to_string(mode) + "): the CPU's losses to 1e-3 absolute" +
                  str(" (ctc %.9g vs %.9g)", a.ctc.empty() ? 0 : a.ctc[0], b.ctc.empty() ? 0 : b.ctc[0]));
  }
}

#if defined(SEQLOSS_CUDA_EMULATE)
// Defects 5 and 6, on the SIMT host: every runtime call of an operation fails in turn (failure injection). Each
// time the operation returns an error naming the call (never OK with partial results), leaves nothing queued and
// no allocation behind; afterwards it runs normally.
void test_failures(std::mt19937& rng) {
  Case c = random_case(rng, 3, 16, 10, 4, false);
  c.name = "failure injection";
  Case a = c;
  ace_counts(a);
  const seqloss_ctc_options co = ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0.5, 0, 1.0);
  const seqloss_dctc_options dopt = dctc_options(SEQLOSS_DCTC_VITERBI, SEQLOSS_REDUCTION_MEAN, 0.1, 1.0, 1.5, 0.2);
  const seqloss_ace_options ao{SEQLOSS_REDUCTION_MEAN, SEQLOSS_ACE_CE, 1e-10};
  DeviceCtc dev(rng);
  cudaMemcpy(dev.dx, dev.c.x.data(), dev.bytes, cudaMemcpyHostToDevice);
  size_t need = 0;
  {
    seqloss_problem p = dev.c.problem(dev.dx);
    seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA, SEQLOSS_MEMORY_DEVICE);
    seqloss_ctc_workspace_size(&p, &dev.o, &e, &need, nullptr, 0);
  }
  void* ws = nullptr;
  cudaMalloc(&ws, need);
  struct Op {
    const char* name;
    std::function<seqloss_status(char*, size_t)> run;
  };
  const std::vector<Op> ops = {
      {"ctc (host memory)",
       [&](char* m, size_t n) {
         seqloss_problem p = c.problem();
         std::vector<float> losses(static_cast<size_t>(c.N)), grad(c.x.size()), post(c.x.size());
         double loss = 0;
         seqloss_ctc_outputs out{losses.data(),
                                 c.N,
                                 &loss,
                                 grad.data(),
                                 static_cast<int64_t>(grad.size()),
                                 post.data(),
                                 static_cast<int64_t>(post.size())};
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_ctc(&p, &co, &e, &out, nullptr, 0, m, n);
       }},
      {"ctc (device memory, caller workspace)",
       [&](char* m, size_t n) { return dev.run(nullptr, ws, need, nullptr, nullptr, 0, m, n); }},
      {"dctc",
       [&](char* m, size_t n) {
         seqloss_problem p = c.problem();
         std::vector<float> losses(static_cast<size_t>(c.N)), grad(c.x.size());
         std::vector<int32_t> align(static_cast<size_t>(c.N) * c.T);
         double loss = 0;
         seqloss_dctc_outputs out{losses.data(),
                                  c.N,
                                  &loss,
                                  grad.data(),
                                  static_cast<int64_t>(grad.size()),
                                  align.data(),
                                  static_cast<int64_t>(align.size()),
                                  nullptr,
                                  0,
                                  nullptr,
                                  0};
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_dctc(&p, &dopt, &e, &out, nullptr, 0, m, n);
       }},
      {"ctcAlign",
       [&](char* m, size_t n) {
         seqloss_problem p = c.problem();
         std::vector<int32_t> paths(static_cast<size_t>(c.N) * c.T);
         std::vector<float> scores(static_cast<size_t>(c.N));
         seqloss_align_outputs out{paths.data(), static_cast<int64_t>(paths.size()), scores.data(), c.N};
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_ctc_align(&p, &e, &out, nullptr, 0, m, n);
       }},
      {"ace",
       [&](char* m, size_t n) {
         seqloss_problem p = a.problem();
         std::vector<float> losses(static_cast<size_t>(a.N)), grad(a.x.size());
         double loss = 0;
         seqloss_ace_outputs out{losses.data(), a.N, &loss, grad.data(), static_cast<int64_t>(grad.size())};
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_ace(&p, &ao, &e, &out, nullptr, 0, m, n);
       }},
      {"ctc greedy decode",
       [&](char* m, size_t n) {
         seqloss_problem p = c.problem();
         std::vector<int32_t> labels(static_cast<size_t>(c.N) * c.T), lengths(static_cast<size_t>(c.N));
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_ctc_greedy_decode(&p, &e, labels.data(), static_cast<int64_t>(labels.size()), lengths.data(),
                                          c.N, m, n);
       }},
      {"ace count",
       [&](char* m, size_t n) {
         seqloss_problem p = a.problem();
         std::vector<float> expected(static_cast<size_t>(a.N) * a.C);
         std::vector<int32_t> rounded(expected.size());
         seqloss_exec e = exec_of(SEQLOSS_BACKEND_CUDA);
         return seqloss_ace_count(&p, &e, expected.data(), static_cast<int64_t>(expected.size()), rounded.data(),
                                  static_cast<int64_t>(rounded.size()), m, n);
       }},
  };
  for (const Op& op : ops) {
    char msg[512];
    check(op.run(msg, sizeof msg) == SEQLOSS_OK, std::string(op.name) + " runs before the injections: " + msg);
    const uint64_t allocs = seqloss::simt::live_allocations(0);
    int failures = 0;
    for (uint64_t k = 1; k < 200; ++k) {
      seqloss::simt::fail_nth_call(k);
      std::memset(msg, 0, sizeof msg);
      const seqloss_status st = op.run(msg, sizeof msg);
      const std::string failed = seqloss::simt::failed_call();
      seqloss::simt::fail_nth_call(0);
      cudaGetLastError();
      if (failed.empty()) {
        check(st == SEQLOSS_OK, std::string(op.name) + ": with no call failed the call succeeds");
        break;
      }
      ++failures;
      const std::string at = std::string(op.name) + ", " + failed + " (call " + std::to_string(k) + ") fails: " + msg;
      const bool named = failed == "kernel launch" ? std::strstr(msg, "_kernel failed") != nullptr
                                                   : std::strstr(msg, failed.c_str()) != nullptr;
      check((st == SEQLOSS_ERROR_DEVICE || st == SEQLOSS_ERROR_ALLOC) && named, at + " -> a device error naming it");
      check(seqloss::simt::pending_operations() == 0, at + " -> nothing left queued");
      check(seqloss::simt::live_allocations(0) == allocs, at + " -> no allocation left behind");
    }
    check(failures >= 8,
          std::string(op.name) + ": at least 8 runtime calls were failed in turn (" + std::to_string(failures) + ")");
    std::printf("  failure injection: %-40s %d runtime calls failed in turn\n", op.name, failures);
    check(op.run(msg, sizeof msg) == SEQLOSS_OK, std::string(op.name) + " runs after the injections");
  }
  cudaFree(ws);
}

// Out of device memory: the allocation error is SEQLOSS_ERROR_ALLOC with the runtime's words. (The problem is larger
// than any before it, so that the memory seqloss's pool keeps cached cannot serve it.)
void test_out_of_memory(std::mt19937& rng) {
  Case c = random_case(rng, 3, 20, 10, 5, false);
  c.name = "out of memory";
  Case big;  // 16 M values, 128 MB of workspace (the logits and the gradient copied): more than any case before (the
             // largest, the long case's DCTC 'viterbi' with its α and δ lattices, takes about 70 MB)
  big.name = "out of memory, 2 x 40 x 200000";
  big.N = 2;
  big.T = 40;
  big.C = 200000;
  big.x.assign(static_cast<size_t>(big.N) * big.T * big.C, 0.5f);
  big.il = {40, 40};
  big.tl = {2, 1};
  big.targets = {1, 2, 3};
  seqloss::simt::set_memory_limit(0, seqloss::simt::device_bytes_in_use(0) + 1024);
  const CtcOut r =
      run_ctc(big, ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), exec_of(SEQLOSS_BACKEND_CUDA), true, false);
  seqloss::simt::set_memory_limit(0, 0);
  check(r.st == SEQLOSS_ERROR_ALLOC, "a device without memory for the workspace: SEQLOSS_ERROR_ALLOC");
  const CtcOut again =
      run_ctc(c, ctc_options(SEQLOSS_REDUCTION_MEAN, 0, 0, 0, 0), exec_of(SEQLOSS_BACKEND_CUDA), true, false);
  check(again.st == SEQLOSS_OK, "with the memory back the call runs");
}
#endif
#endif

}  // namespace

// cuda_parity_test [--host]: --host runs only the host-side tests (streams, workspaces, pools, errors, devices).
int main(int argc, char** argv) {
  const bool host_only = argc > 1 && std::strcmp(argv[1], "--host") == 0;
  seqloss_cuda_info info;
  seqloss_cuda_query(&info);
  if (info.compiled == 0 || info.device_count == 0) {
    std::printf("cuda_parity_test: skipped (%s)\n",
                info.compiled == 0 ? "this build has no CUDA backend" : info.reason);
    return 0;
  }
  seqloss_cuda_device dev;
  seqloss_cuda_device_query(0, &dev, nullptr, 0);
  std::printf("cuda_parity_test on %s (compute %d.%d), runtime %d, driver %d, %d device(s)%s\n", dev.name, dev.major,
              dev.minor, info.runtime_version, info.driver_version, info.device_count,
              info.emulated != 0 ? ", emulated" : "");
  std::mt19937 rng(4242);
  if (!host_only) {
    test_random(rng);
    test_extremes(rng);
  }
#if defined(SEQLOSS_WITH_CUDA)
  test_device_memory(rng);
  test_default_stream(rng);
  test_pinned_host(rng);
  test_checkpoint_invariance(rng);
  test_workspace_checks(rng);
  test_pool(rng);
  test_pending_error(rng);
  test_devices(rng);
  test_dctc_scale();
#if defined(SEQLOSS_CUDA_EMULATE)
  seqloss::simt::set_report(false);  // the injected failures are expected
  test_failures(rng);
  test_out_of_memory(rng);
#endif
#endif
  std::printf("ctc against the CPU backend: worst loss %.3g (relative), worst grad/posterior %.3g (of max |g|)\n",
              g_worst_loss, g_worst_dense);
  std::printf("dctc against the CPU backend: worst loss %.3g (relative), worst grad %.3g (of max |g|)\n",
              g_worst_dctc_loss, g_worst_dctc_dense);
  std::printf("ace against the CPU backend: worst loss %.3g (relative), worst grad %.3g (of max |g|)\n",
              g_worst_ace_loss, g_worst_ace_dense);
  std::printf("ctc cases with the gradient: %d with the whole α lattice, %d with checkpoints\n", g_ctc_full,
              g_ctc_checkpointed);
  check(g_ctc_full > 0 && g_ctc_checkpointed > 0, "the parity cases cover both kinds of α lattice");
  std::printf("ace cases also run from labels: %d\n", g_ace_labels);
  check(g_ace_labels > 0, "the parity cases cover ACE from labels");
  std::printf("cuda_parity_test: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
