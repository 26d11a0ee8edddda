// abi_test.cc — the C ABI of seqloss.h exercised directly: closed forms, a float64 reference, finite differences,
// determinism, and every argument error. Plain main, no framework: prints "N passed, N failed" and exits non-zero
// on any failure. Runs clean under -fsanitize=address,undefined and valgrind.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.h"
#include "cpu/pool.h"  // test_pool: PoolScope and Pool::run, to hold a reference and to nest calls deterministically
#include "seqloss.h"

namespace {

bool close(double a, double b, double rel, double abs = 0.0) {
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= abs + rel * std::max(std::fabs(a), std::fabs(b));
}

std::string fmt(const char* f, double a, double b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b);
  return buf;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- problem builders ------------------------------------------------------------------------------------------

struct Case {
  int32_t N = 1, T = 1, C = 2, layout = SEQLOSS_LAYOUT_NTC, input = SEQLOSS_INPUT_LOGITS, blank = 0;
  std::vector<float> x;
  std::vector<int32_t> il, targets, tl;
  std::vector<float> counts;
  bool use_il = false;

  seqloss_problem problem() const {
    seqloss_problem p;
    std::memset(&p, 0, sizeof p);
    p.batch = N;
    p.time = T;
    p.classes = C;
    p.layout = layout;
    p.input = input;
    p.blank = blank;
    p.data = x.data();
    p.data_size = static_cast<int64_t>(x.size());
    p.input_lengths = use_il ? il.data() : nullptr;
    p.input_lengths_size = use_il ? static_cast<int64_t>(il.size()) : 0;
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
  int tn(int n) const { return use_il ? il[n] : T; }
};

seqloss_exec cpu_exec(int threads = 0) {
  seqloss_exec e;
  std::memset(&e, 0, sizeof e);
  e.backend = SEQLOSS_BACKEND_CPU;
  e.memory = SEQLOSS_MEMORY_HOST;
  e.threads = threads;
  return e;
}

seqloss_ctc_options ctc_opts(int reduction = SEQLOSS_REDUCTION_SUM, int zero_inf = 0) {
  seqloss_ctc_options o;
  std::memset(&o, 0, sizeof o);
  o.reduction = reduction;
  o.zero_infinity = zero_inf;
  return o;
}

seqloss_ace_options ace_opts(int reduction = SEQLOSS_REDUCTION_SUM, int variant = SEQLOSS_ACE_CE, double eps = 1e-10) {
  seqloss_ace_options o;
  o.reduction = reduction;
  o.variant = variant;
  o.eps = eps;
  return o;
}

struct CtcResult {
  seqloss_status status = SEQLOSS_OK;
  std::string message;
  std::vector<float> losses, grad, posterior;
  double loss = 0;
};

CtcResult run_ctc(const Case& c, const seqloss_ctc_options& o, int threads = 0, bool want_post = true,
                  bool want_grad = true) {
  CtcResult r;
  r.losses.assign(c.N, -1.0f);
  r.grad.assign(c.x.size(), -7.0f);
  r.posterior.assign(c.x.size(), -7.0f);
  seqloss_problem p = c.problem();
  seqloss_exec e = cpu_exec(threads);
  seqloss_ctc_outputs out;
  out.losses = r.losses.data();
  out.losses_size = static_cast<int64_t>(r.losses.size());
  out.loss = &r.loss;
  out.grad = want_grad ? r.grad.data() : nullptr;
  out.grad_size = static_cast<int64_t>(r.grad.size());
  out.posterior = want_post ? r.posterior.data() : nullptr;
  out.posterior_size = static_cast<int64_t>(r.posterior.size());
  char msg[512];
  r.status = seqloss_ctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  r.message = msg;
  return r;
}

struct AceResult {
  seqloss_status status = SEQLOSS_OK;
  std::string message;
  std::vector<float> losses, grad;
  double loss = 0;
};

AceResult run_ace(const Case& c, const seqloss_ace_options& o, int threads = 0) {
  AceResult r;
  r.losses.assign(c.N, -1.0f);
  r.grad.assign(c.x.size(), -7.0f);
  seqloss_problem p = c.problem();
  seqloss_exec e = cpu_exec(threads);
  seqloss_ace_outputs out;
  out.losses = r.losses.data();
  out.losses_size = static_cast<int64_t>(r.losses.size());
  out.loss = &r.loss;
  out.grad = r.grad.data();
  out.grad_size = static_cast<int64_t>(r.grad.size());
  char msg[512];
  r.status = seqloss_ace(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  r.message = msg;
  return r;
}

// ---- a float64 reference (log space, straight from Graves et al. 2006) ------------------------------------------

double lse(double a, double b) {
  if (a == -kInf) return b;
  if (b == -kInf) return a;
  double m = std::max(a, b);
  return m + std::log(std::exp(a - m) + std::exp(b - m));
}

struct RefCtc {
  std::vector<double> loss;       // N
  std::vector<double> posterior;  // N*T*C in the case's layout
};

RefCtc ref_ctc(const Case& c) {
  RefCtc r;
  r.loss.assign(c.N, 0.0);
  r.posterior.assign(c.x.size(), 0.0);
  int64_t off = 0;
  for (int n = 0; n < c.N; ++n) {
    const int T = c.tn(n), L = c.tl[n];
    std::vector<int> l(c.targets.begin() + off, c.targets.begin() + off + L);
    off += L;
    const int S = 2 * L + 1;
    std::vector<std::vector<double>> lp(T, std::vector<double>(c.C));
    for (int t = 0; t < T; ++t) {
      double m = -kInf;
      for (int k = 0; k < c.C; ++k) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, k)]));
      double s = 0;
      for (int k = 0; k < c.C; ++k) s += std::exp(static_cast<double>(c.x[c.idx(n, t, k)]) - m);
      for (int k = 0; k < c.C; ++k) {
        double v = c.x[c.idx(n, t, k)];
        lp[t][k] = c.input == SEQLOSS_INPUT_LOGITS ? v - m - std::log(s) : v;
      }
    }
    auto cls = [&](int s) { return (s & 1) ? l[(s - 1) / 2] : c.blank; };
    auto skip = [&](int s) { return (s & 1) && s >= 3 && l[(s - 1) / 2] != l[(s - 3) / 2]; };
    if (T == 0) {
      r.loss[n] = L == 0 ? 0.0 : kInf;
      continue;
    }
    std::vector<std::vector<double>> a(T, std::vector<double>(S, -kInf)), b(T, std::vector<double>(S, -kInf));
    a[0][0] = lp[0][cls(0)];
    if (S > 1) a[0][1] = lp[0][cls(1)];
    for (int t = 1; t < T; ++t) {
      for (int s = 0; s < S; ++s) {
        double v = a[t - 1][s];
        if (s >= 1) v = lse(v, a[t - 1][s - 1]);
        if (skip(s)) v = lse(v, a[t - 1][s - 2]);
        a[t][s] = v == -kInf ? -kInf : v + lp[t][cls(s)];
      }
    }
    b[T - 1][S - 1] = lp[T - 1][cls(S - 1)];
    if (S > 1) b[T - 1][S - 2] = lp[T - 1][cls(S - 2)];
    for (int t = T - 2; t >= 0; --t) {
      for (int s = 0; s < S; ++s) {
        double v = b[t + 1][s];
        if (s + 1 < S) v = lse(v, b[t + 1][s + 1]);
        if (s + 2 < S && skip(s + 2)) v = lse(v, b[t + 1][s + 2]);
        b[t][s] = v == -kInf ? -kInf : v + lp[t][cls(s)];
      }
    }
    double logp = a[T - 1][S - 1];
    if (S > 1) logp = lse(logp, a[T - 1][S - 2]);
    r.loss[n] = -logp;
    if (logp == -kInf) continue;
    for (int t = 0; t < T; ++t) {
      for (int s = 0; s < S; ++s) {
        if (a[t][s] == -kInf || b[t][s] == -kInf) continue;
        r.posterior[c.idx(n, t, cls(s))] += std::exp(a[t][s] + b[t][s] - lp[t][cls(s)] - logp);
      }
    }
  }
  return r;
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

Case random_ctc_case(std::mt19937& rng, int N, int T, int C, float scale, int layout, int input, bool lengths) {
  Case c;
  c.N = N;
  c.T = T;
  c.C = C;
  c.layout = layout;
  c.input = input;
  c.blank = static_cast<int>(rng() % C);
  c.x = random_floats(rng, static_cast<size_t>(N) * T * C, scale);
  if (input == SEQLOSS_INPUT_LOG_PROBS) {
    for (int n = 0; n < N; ++n) {
      for (int t = 0; t < T; ++t) {
        double m = -kInf, s = 0;
        for (int k = 0; k < C; ++k) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, k)]));
        for (int k = 0; k < C; ++k) s += std::exp(c.x[c.idx(n, t, k)] - m);
        for (int k = 0; k < C; ++k) c.x[c.idx(n, t, k)] = static_cast<float>(c.x[c.idx(n, t, k)] - m - std::log(s));
      }
    }
  }
  c.use_il = lengths;
  for (int n = 0; n < N; ++n) {
    int tn = lengths ? 1 + static_cast<int>(rng() % T) : T;
    c.il.push_back(tn);
    int L = static_cast<int>(rng() % (tn / 2 + 2));
    c.tl.push_back(L);
    for (int j = 0; j < L; ++j) {
      int k = static_cast<int>(rng() % (C - 1));
      c.targets.push_back(k >= c.blank ? k + 1 : k);
    }
  }
  return c;
}

// ---- closed forms --------------------------------------------------------------------------------------------

void test_ctc_closed_forms() {
  // T = 1, one label: loss = -log softmax(x)_label.
  {
    Case c;
    c.N = 1, c.T = 1, c.C = 4;
    c.x = {0.5f, -1.0f, 2.0f, 0.25f};
    c.targets = {2};
    c.tl = {1};
    CtcResult r = run_ctc(c, ctc_opts());
    double s = 0;
    for (float v : c.x) s += std::exp(static_cast<double>(v));
    double want = -(2.0 - std::log(s));
    check(r.status == SEQLOSS_OK, "T=1 single label runs");
    check(close(r.loss, want, 1e-7), fmt("T=1 single label loss %.17g vs %.17g", r.loss, want));
    check(close(r.losses[0], want, 1e-6), "T=1 losses[0]");
    // grad = softmax - onehot; posterior = onehot.
    for (int k = 0; k < 4; ++k) {
      double sm = std::exp(static_cast<double>(c.x[k])) / s;
      check(close(r.grad[k], sm - (k == 2), 1e-6, 1e-7), "T=1 grad[" + std::to_string(k) + "]");
      check(r.posterior[k] == (k == 2 ? 1.0f : 0.0f), "T=1 posterior one-hot");
    }
  }
  // Uniform logits: p(l|x) = (number of alignments) / C^T, the alignments counted by brute force.
  {
    const int T = 6, C = 3;
    const std::vector<std::vector<int>> labels = {{1}, {1, 2}, {1, 1}, {2, 1, 2}, {}, {1, 1, 1}};
    for (const auto& l : labels) {
      Case c;
      c.N = 1, c.T = T, c.C = C;
      c.x.assign(T * C, 0.3f);
      c.targets = l.empty() ? std::vector<int32_t>{} : std::vector<int32_t>(l.begin(), l.end());
      c.tl = {static_cast<int32_t>(l.size())};
      int64_t count = 0, total = 1;
      for (int t = 0; t < T; ++t) total *= C;
      for (int64_t code = 0; code < total; ++code) {
        std::vector<int> path;
        int64_t v = code;
        int prev = -1;
        for (int t = 0; t < T; ++t) {
          int k = static_cast<int>(v % C);
          v /= C;
          if (k != prev && k != 0) path.push_back(k);
          prev = k;
        }
        if (path == l) ++count;
      }
      CtcResult r = run_ctc(c, ctc_opts());
      double want = count == 0 ? kInf : -std::log(static_cast<double>(count) / static_cast<double>(total));
      check(close(r.loss, want, 1e-12), fmt("uniform logits: loss %.17g vs brute force %.17g", r.loss, want));
      // Posterior rows sum to 1.
      for (int t = 0; t < T && count > 0; ++t) {
        double s = 0;
        for (int k = 0; k < C; ++k) s += r.posterior[t * C + k];
        check(close(s, 1.0, 1e-6), "uniform logits: posterior row sums to 1");
      }
    }
  }
  // Empty target: loss = -sum_t log y_blank^t; T_n = 0 and L = 0: loss 0.
  {
    Case c;
    c.N = 2, c.T = 3, c.C = 3, c.blank = 1;
    c.x = {0.1f, 0.7f, -0.2f, 1.0f, 0.0f, 0.5f, -1.0f, 2.0f, 0.3f, /* n = 1 */ 1, 2, 3, 4, 5, 6, 7, 8, 9};
    c.tl = {0, 0};
    c.use_il = true;
    c.il = {3, 0};
    CtcResult r = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_NONE));
    double want = 0;
    for (int t = 0; t < 3; ++t) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += std::exp(static_cast<double>(c.x[t * 3 + k]));
      want -= c.x[t * 3 + 1] - std::log(s);
    }
    check(close(r.losses[0], want, 1e-6), "empty target: -sum log y_blank");
    check(r.losses[1] == 0.0f && !std::signbit(r.losses[1]), "T_n = 0, L = 0: loss +0");
    bool zero = true;
    for (int i = 9; i < 18; ++i) zero = zero && r.grad[i] == 0.0f && r.posterior[i] == 0.0f;
    check(zero, "T_n = 0: zero grad and posterior");
  }
}

void test_ctc_impossible() {
  // Repeated label needs a blank between: T = 2, l = (1, 1) is impossible; T = 1 with L = 2 too (L > T).
  for (int zinf = 0; zinf <= 1; ++zinf) {
    Case c;
    c.N = 3, c.T = 2, c.C = 3;
    std::mt19937 rng(5);
    c.x = random_floats(rng, 3 * 2 * 3, 1.0f);
    c.targets = {1, 1, 1, 2, 2};
    c.tl = {2, 1, 2};
    c.use_il = true;
    c.il = {2, 2, 1};
    for (int red = 0; red <= 2; ++red) {
      CtcResult r = run_ctc(c, ctc_opts(red, zinf));
      check(r.status == SEQLOSS_OK, "impossible: runs");
      check(zinf ? r.losses[0] == 0.0f : std::isinf(r.losses[0]) && r.losses[0] > 0, "impossible (repeat): +inf / 0");
      check(zinf ? r.losses[2] == 0.0f : std::isinf(r.losses[2]) && r.losses[2] > 0, "impossible (L > T): +inf / 0");
      check(std::isfinite(r.losses[1]) && r.losses[1] > 0, "possible neighbour is finite");
      check(zinf ? std::isfinite(r.loss) : std::isinf(r.loss), "reduced loss: inf unless zero_infinity");
      bool zero = true;
      for (int t = 0; t < 2; ++t) {
        for (int k = 0; k < 3; ++k) {
          zero = zero && r.grad[c.idx(0, t, k)] == 0.0f && r.posterior[c.idx(0, t, k)] == 0.0f;
          zero = zero && r.grad[c.idx(2, t, k)] == 0.0f && r.posterior[c.idx(2, t, k)] == 0.0f;
        }
      }
      check(zero, "impossible: zero grad and posterior");
      bool finite = true;
      for (float v : r.grad) finite = finite && std::isfinite(v);
      check(finite, "impossible: no NaN or inf anywhere in grad");
    }
  }
}

void test_ctc_reference(std::mt19937& rng) {
  // Random shapes, layouts, input kinds, blanks and lengths against the float64 reference.
  double worst_loss = 0, worst_post = 0, worst_grad = 0;
  for (int trial = 0; trial < 60; ++trial) {
    int N = 1 + static_cast<int>(rng() % 4), T = 1 + static_cast<int>(rng() % 20), C = 2 + static_cast<int>(rng() % 9);
    float scale = trial % 4 == 3 ? 1e4f : (trial % 4 == 2 ? 30.0f : 1.0f);
    int input = trial % 2 == 0 ? SEQLOSS_INPUT_LOGITS : SEQLOSS_INPUT_LOG_PROBS;
    Case c = random_ctc_case(rng, N, T, C, scale, trial % 3 == 0 ? SEQLOSS_LAYOUT_TNC : SEQLOSS_LAYOUT_NTC, input,
                             trial % 2 == 1);
    int red = trial % 3;
    CtcResult r = run_ctc(c, ctc_opts(red), 2);
    RefCtc ref = ref_ctc(c);
    check(r.status == SEQLOSS_OK, "reference case runs: " + r.message);
    double total = 0;
    for (int n = 0; n < N; ++n) {
      double rel = std::isinf(ref.loss[n])
                       ? (std::isinf(r.losses[n]) ? 0 : 1)
                       : std::fabs(r.losses[n] - ref.loss[n]) / std::max(1e-3, std::fabs(ref.loss[n]));
      worst_loss = std::max(worst_loss, rel);
      total += red == SEQLOSS_REDUCTION_MEAN ? ref.loss[n] / std::max(c.tl[n], 1) : ref.loss[n];
    }
    if (red == SEQLOSS_REDUCTION_MEAN) total /= N;
    if (std::isfinite(total))
      worst_loss = std::max(worst_loss, std::fabs(r.loss - total) / std::max(1e-3, std::fabs(total)));
    for (int n = 0; n < N; ++n) {
      double sc = red == SEQLOSS_REDUCTION_MEAN ? 1.0 / (N * std::max(c.tl[n], 1)) : 1.0;
      for (int t = 0; t < T; ++t) {
        for (int k = 0; k < C; ++k) {
          int64_t i = c.idx(n, t, k);
          double post = std::isinf(ref.loss[n]) || t >= c.tn(n) ? 0.0 : ref.posterior[i];
          worst_post = std::max(worst_post, std::fabs(r.posterior[i] - post));
          double want;
          if (std::isinf(ref.loss[n]) || t >= c.tn(n)) {
            want = 0;
          } else if (input == SEQLOSS_INPUT_LOGITS) {
            double m = -kInf, s = 0;
            for (int j = 0; j < C; ++j) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, j)]));
            for (int j = 0; j < C; ++j) s += std::exp(c.x[c.idx(n, t, j)] - m);
            want = sc * (std::exp(c.x[i] - m) / s - post);
          } else {
            want = -sc * post;
          }
          worst_grad = std::max(worst_grad, std::fabs(r.grad[i] - want) / sc);
        }
      }
    }
  }
  check(worst_loss < 1e-6, fmt("CTC vs float64 reference: loss rel err %.3g (%g)", worst_loss, 0));
  check(worst_post < 1e-6, fmt("CTC vs float64 reference: posterior abs err %.3g (%g)", worst_post, 0));
  check(worst_grad < 1e-6, fmt("CTC vs float64 reference: grad abs err %.3g (%g)", worst_grad, 0));
}

void test_ctc_extremes() {
  // A frame forced through log-prob -500, and logits of +-1e4: the posterior stays exact.
  Case c;
  c.N = 1, c.T = 12, c.C = 4, c.input = SEQLOSS_INPUT_LOG_PROBS;
  std::mt19937 rng(11);
  c.x = random_floats(rng, 12 * 4, 1.0f);
  for (int t = 0; t < 12; ++t) {
    double m = -kInf, s = 0;
    for (int k = 0; k < 4; ++k) m = std::max(m, static_cast<double>(c.x[t * 4 + k]));
    for (int k = 0; k < 4; ++k) s += std::exp(c.x[t * 4 + k] - m);
    for (int k = 0; k < 4; ++k) c.x[t * 4 + k] = static_cast<float>(c.x[t * 4 + k] - m - std::log(s));
  }
  for (int k = 0; k < 4; ++k) c.x[5 * 4 + k] = -500.0f;      // frame 5: every class at -500
  c.x[7 * 4 + 0] = -std::numeric_limits<float>::infinity();  // frame 7: the blank impossible
  c.targets = {1, 2, 3, 1};
  c.tl = {4};
  CtcResult r = run_ctc(c, ctc_opts());
  RefCtc ref = ref_ctc(c);
  check(close(r.losses[0], ref.loss[0], 1e-6), fmt("forced -500 frame: loss %.9g vs %.9g", r.losses[0], ref.loss[0]));
  double werr = 0;
  for (size_t i = 0; i < c.x.size(); ++i) werr = std::max(werr, std::fabs(r.posterior[i] - ref.posterior[i]));
  check(werr < 1e-6, fmt("forced -500 frame: posterior err %.3g (%g)", werr, 0));

  Case d;
  d.N = 2, d.T = 30, d.C = 5;
  d.x = random_floats(rng, 2 * 30 * 5, 1.0f);
  for (auto& v : d.x) v = v > 0 ? 1e4f * std::fabs(v) / (1 + std::fabs(v)) : -1e4f * std::fabs(v) / (1 + std::fabs(v));
  d.targets = {1, 2, 3, 4, 1, 2, 2, 3, 3, 4};
  d.tl = {5, 5};
  CtcResult rd = run_ctc(d, ctc_opts());
  RefCtc refd = ref_ctc(d);
  for (int n = 0; n < 2; ++n) {
    check(close(rd.losses[n], refd.loss[n], 1e-6), fmt("logits +-1e4: loss %.9g vs %.9g", rd.losses[n], refd.loss[n]));
  }
  double perr = 0;
  for (size_t i = 0; i < d.x.size(); ++i) perr = std::max(perr, std::fabs(rd.posterior[i] - refd.posterior[i]));
  check(perr < 1e-6, fmt("logits +-1e4: posterior err %.3g (%g)", perr, 0));
  bool finite = true;
  for (float v : rd.grad) finite = finite && std::isfinite(v);
  check(finite, "logits +-1e4: finite gradient");
}

void test_ctc_finite_differences() {
  std::mt19937 rng(3);
  for (int input = 0; input <= 1; ++input) {
    Case c = random_ctc_case(rng, 2, 7, 5, 1.0f, SEQLOSS_LAYOUT_TNC, input, true);
    c.il = {7, 5};
    c.targets = {1, 2, 2, 3};
    c.tl = {3, 1};
    if (c.blank == 1 || c.blank == 2 || c.blank == 3) c.blank = 0;
    if (c.blank != 0) c.blank = 0;
    CtcResult r = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN));
    double worst = 0;
    for (size_t i = 0; i < c.x.size(); ++i) {
      Case p = c, m = c;
      float h = 1e-2f;
      p.x[i] = c.x[i] + h;
      m.x[i] = c.x[i] - h;
      double dx = static_cast<double>(p.x[i]) - static_cast<double>(m.x[i]);
      double fd =
          (run_ctc(p, ctc_opts(SEQLOSS_REDUCTION_MEAN)).loss - run_ctc(m, ctc_opts(SEQLOSS_REDUCTION_MEAN)).loss) / dx;
      worst = std::max(worst, std::fabs(fd - r.grad[i]));
    }
    check(worst < 2e-4, fmt(input ? "CTC grad (log-probs) vs finite differences: %.3g (%g)"
                                  : "CTC grad (logits) vs finite differences: %.3g (%g)",
                            worst, 0));
    // Posterior rows sum to 1 on valid frames, 0 beyond.
    for (int n = 0; n < 2; ++n) {
      for (int t = 0; t < 7; ++t) {
        double s = 0;
        for (int k = 0; k < 5; ++k) s += r.posterior[c.idx(n, t, k)];
        check(close(s, t < c.il[n] ? 1.0 : 0.0, 1e-6, 1e-7), "posterior row sum");
      }
    }
  }
}

void test_ctc_layouts_and_inputs() {
  std::mt19937 rng(17);
  Case a = random_ctc_case(rng, 3, 9, 6, 2.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, true);
  Case b = a;
  b.layout = SEQLOSS_LAYOUT_TNC;
  for (int n = 0; n < a.N; ++n) {
    for (int t = 0; t < a.T; ++t) {
      for (int k = 0; k < a.C; ++k) b.x[b.idx(n, t, k)] = a.x[a.idx(n, t, k)];
    }
  }
  CtcResult ra = run_ctc(a, ctc_opts(SEQLOSS_REDUCTION_MEAN)), rb = run_ctc(b, ctc_opts(SEQLOSS_REDUCTION_MEAN));
  bool same = ra.loss == rb.loss && ra.losses == rb.losses;
  for (int n = 0; n < a.N; ++n) {
    for (int t = 0; t < a.T; ++t) {
      for (int k = 0; k < a.C; ++k) {
        same = same && ra.grad[a.idx(n, t, k)] == rb.grad[b.idx(n, t, k)] &&
               ra.posterior[a.idx(n, t, k)] == rb.posterior[b.idx(n, t, k)];
      }
    }
  }
  check(same, "NTC and TNC give bitwise the same results");
  // Log-probs in: the same loss and posterior; grad = -y'.
  Case lp = a;
  for (int n = 0; n < a.N; ++n) {
    for (int t = 0; t < a.T; ++t) {
      double m = -kInf, s = 0;
      for (int k = 0; k < a.C; ++k) m = std::max(m, static_cast<double>(a.x[a.idx(n, t, k)]));
      for (int k = 0; k < a.C; ++k) s += std::exp(a.x[a.idx(n, t, k)] - m);
      for (int k = 0; k < a.C; ++k) lp.x[a.idx(n, t, k)] = static_cast<float>(a.x[a.idx(n, t, k)] - m - std::log(s));
    }
  }
  lp.input = SEQLOSS_INPUT_LOG_PROBS;
  CtcResult rl = run_ctc(lp, ctc_opts(SEQLOSS_REDUCTION_SUM));
  CtcResult rs = run_ctc(a, ctc_opts(SEQLOSS_REDUCTION_SUM));
  check(close(rl.loss, rs.loss, 1e-6), "log-probs and logits: same loss");
  double err = 0;
  for (size_t i = 0; i < a.x.size(); ++i) {
    err = std::max(err, std::fabs(static_cast<double>(rl.grad[i]) + rl.posterior[i]));
    err = std::max(err, std::fabs(static_cast<double>(rl.posterior[i]) - rs.posterior[i]));
  }
  check(err < 1e-6, "log-probs: grad = -posterior, posterior as for logits");
  // PyTorch's convention (grad_convention = PYTORCH): log-probs rows w_n (e^x - y') on frames t < T_n, 0 after, with
  // w_n = 1 / (N max(L_n, 1)) for 'mean'; the losses and the posterior unchanged; logits rows unchanged.
  seqloss_ctc_options pt = ctc_opts(SEQLOSS_REDUCTION_MEAN);
  pt.grad_convention = SEQLOSS_GRAD_PYTORCH;
  CtcResult rpe = run_ctc(lp, ctc_opts(SEQLOSS_REDUCTION_MEAN)), rpt = run_ctc(lp, pt);
  check(rpt.status == SEQLOSS_OK && rpt.losses == rpe.losses && rpt.loss == rpe.loss && rpt.posterior == rpe.posterior,
        "pytorch convention: the same losses, loss and posterior");
  err = 0;
  bool padded_zero = true;
  for (int n = 0; n < lp.N; ++n) {
    const double w = 1.0 / (lp.N * std::max(lp.tl[n], 1));
    for (int t = 0; t < lp.T; ++t) {
      for (int k = 0; k < lp.C; ++k) {
        const int64_t i = lp.idx(n, t, k);
        if (t >= lp.tn(n)) {
          padded_zero = padded_zero && rpt.grad[i] == 0.0f;
          continue;
        }
        // An impossible sequence has zero rows in both conventions.
        const bool possible = std::isfinite(rpe.losses[n]);
        const double want = possible ? rpe.grad[i] + w * std::exp(static_cast<double>(lp.x[i])) : 0.0;
        err = std::max(err, std::fabs(rpt.grad[i] - want));
      }
    }
  }
  check(err < 1e-7 && padded_zero,
        "pytorch convention: log-probs grad = exact grad + w_n e^x on t < T_n (0 when impossible), 0 after");
  CtcResult rlt = run_ctc(a, pt), rlm = run_ctc(a, ctc_opts(SEQLOSS_REDUCTION_MEAN));
  check(rlt.grad == rlm.grad && rlt.posterior == rlm.posterior, "pytorch convention: logits rows bitwise unchanged");
  // Only the posterior, only the gradient.
  CtcResult only_post = run_ctc(a, ctc_opts(), 0, true, false);
  CtcResult only_grad = run_ctc(a, ctc_opts(), 0, false, true);
  check(only_post.posterior == rs.posterior && only_grad.grad == rs.grad && only_post.loss == rs.loss,
        "posterior-only and grad-only calls give the same values");
  bool untouched = true;
  for (float v : only_post.grad) untouched = untouched && v == -7.0f;
  check(untouched, "grad NULL: nothing written");
}

// ---- ACE ------------------------------------------------------------------------------------------------------

void test_ace_closed_forms() {
  // Probabilities as given: y_k = sum_t p + T eps, CE loss and grad by hand.
  Case c;
  c.N = 1, c.T = 2, c.C = 3, c.input = SEQLOSS_INPUT_PROBS, c.blank = 0;
  c.x = {0.5f, 0.25f, 0.25f, 0.125f, 0.75f, 0.125f};
  c.counts = {99.0f /* ignored */, 1.0f, 0.0f};
  const double eps = 1e-3;
  AceResult r = run_ace(c, ace_opts(SEQLOSS_REDUCTION_SUM, SEQLOSS_ACE_CE, eps));
  double y0 = 0.5 + 0.125 + 2 * eps, y1 = 0.25 + 0.75 + 2 * eps;
  double want = -(1.0 / 2) * std::log(y0 / 2) - (1.0 / 2) * std::log(y1 / 2);  // N_blank = 2 - 1 = 1
  check(r.status == SEQLOSS_OK, "ACE probs runs: " + r.message);
  check(close(r.loss, want, 1e-6), fmt("ACE CE closed form: %.9g vs %.9g", r.loss, want));
  check(close(r.grad[0], -1.0 / (2 * y0), 1e-6) && close(r.grad[1], -1.0 / (2 * y1), 1e-6) && r.grad[2] == 0.0f &&
            close(r.grad[3], -1.0 / (2 * y0), 1e-6),
        "ACE CE grad w.r.t. probabilities");
  AceResult g = run_ace(c, ace_opts(SEQLOSS_REDUCTION_MEAN, SEQLOSS_ACE_REGRESSION, 0.0));
  double ry0 = 0.625, ry1 = 1.0, ry2 = 0.375;
  double wantr = 0.5 * ((1 - ry0) * (1 - ry0) + (1 - ry1) * (1 - ry1) + (0 - ry2) * (0 - ry2));
  check(close(g.loss, wantr, 1e-6), fmt("ACE regression closed form: %.9g vs %.9g", g.loss, wantr));
  check(close(g.grad[2], ry2, 1e-6) && close(g.grad[0], ry0 - 1, 1e-6), "ACE regression grad");
  // Uniform logits: y_k = T / C.
  Case u;
  u.N = 2, u.T = 4, u.C = 4;
  u.x.assign(2 * 4 * 4, 1.5f);
  u.counts = {0, 2, 1, 0, 0, 0, 0, 4};
  AceResult ru = run_ace(u, ace_opts(SEQLOSS_REDUCTION_MEAN, SEQLOSS_ACE_CE, 0.0));
  double l0 = -(1.0 / 4 * std::log(0.25) + 2.0 / 4 * std::log(0.25) + 1.0 / 4 * std::log(0.25));
  double l1 = -(1.0 * std::log(0.25));
  check(close(ru.losses[0], l0, 1e-6) && close(ru.losses[1], l1, 1e-6) && close(ru.loss, (l0 + l1) / 2, 1e-6),
        "ACE uniform logits: losses");
}

// A float64 ACE reference: loss and gradient straight from the formulas of the header comment.
void ref_ace(const Case& c, const seqloss_ace_options& o, std::vector<double>* losses, std::vector<double>* grad) {
  losses->assign(c.N, 0.0);
  grad->assign(c.x.size(), 0.0);
  const double scale = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / c.N : 1.0;
  for (int n = 0; n < c.N; ++n) {
    const int T = c.tn(n), C = c.C;
    std::vector<std::vector<double>> y(T, std::vector<double>(C));
    for (int t = 0; t < T; ++t) {
      if (c.input == SEQLOSS_INPUT_PROBS) {
        for (int k = 0; k < C; ++k) y[t][k] = c.x[c.idx(n, t, k)];
      } else {
        double m = -kInf, s = 0;
        for (int k = 0; k < C; ++k) m = std::max(m, static_cast<double>(c.x[c.idx(n, t, k)]));
        for (int k = 0; k < C; ++k) s += std::exp(c.x[c.idx(n, t, k)] - m);
        for (int k = 0; k < C; ++k) y[t][k] = std::exp(c.x[c.idx(n, t, k)] - m) / s;
      }
    }
    std::vector<double> Y(C, 0.0), Nk(C), g(C);
    double labelled = 0;
    for (int k = 0; k < C; ++k) {
      if (k != c.blank) labelled += c.counts[static_cast<size_t>(n) * C + k];
    }
    for (int k = 0; k < C; ++k) {
      for (int t = 0; t < T; ++t) Y[k] += y[t][k] + o.eps;
      Nk[k] = k == c.blank ? T - labelled : c.counts[static_cast<size_t>(n) * C + k];
      if (o.variant == SEQLOSS_ACE_CE) {
        if (Nk[k] > 0) (*losses)[n] -= Nk[k] / T * std::log(Y[k] / T);
        g[k] = Nk[k] > 0 ? -Nk[k] / (T * Y[k]) : 0.0;
      } else {
        (*losses)[n] += 0.5 * (Nk[k] - Y[k]) * (Nk[k] - Y[k]);
        g[k] = Y[k] - Nk[k];
      }
    }
    for (int t = 0; t < T; ++t) {
      double dot = 0;
      for (int k = 0; k < C; ++k) dot += g[k] * y[t][k];
      for (int k = 0; k < C; ++k) {
        (*grad)[c.idx(n, t, k)] = scale * (c.input == SEQLOSS_INPUT_PROBS ? g[k] : y[t][k] * (g[k] - dot));
      }
    }
  }
}

void test_ace_reference(std::mt19937& rng) {
  double worst_loss = 0, worst_grad = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Case c;
    c.N = 1 + static_cast<int>(rng() % 4);
    c.T = 1 + static_cast<int>(rng() % 30);
    c.C = trial % 5 == 4 ? 150 + static_cast<int>(rng() % 100) : 1 + static_cast<int>(rng() % 40);  // K > 64 too
    c.layout = trial % 2 ? SEQLOSS_LAYOUT_TNC : SEQLOSS_LAYOUT_NTC;
    c.input = trial % 3 == 2 ? SEQLOSS_INPUT_PROBS : SEQLOSS_INPUT_LOGITS;
    c.blank = static_cast<int>(rng() % c.C);
    c.x = random_floats(rng, static_cast<size_t>(c.N) * c.T * c.C, trial % 4 == 3 ? 20.0f : 2.0f);
    if (c.input == SEQLOSS_INPUT_PROBS) {
      for (auto& v : c.x) v = 0.01f + std::fabs(v);
    }
    c.use_il = trial % 2 == 0;
    c.counts.assign(static_cast<size_t>(c.N) * c.C, 0.0f);
    for (int n = 0; n < c.N; ++n) {
      int tn = c.use_il ? 1 + static_cast<int>(rng() % c.T) : c.T;
      c.il.push_back(tn);
      if (c.C >= 150) {
        // Many classes with small counts: K > 64, the path that does not keep y^t on K between passes.
        for (int k = 0; k < c.C; k += 2) {
          if (k != c.blank) c.counts[static_cast<size_t>(n) * c.C + k] = 0.25f * tn / c.C;
        }
        continue;
      }
      int items = static_cast<int>(rng() % (tn + 1));
      for (int i = 0; i < items; ++i) {
        int k = static_cast<int>(rng() % c.C);
        if (k != c.blank) c.counts[static_cast<size_t>(n) * c.C + k] += trial % 7 == 6 ? 0.5f : 1.0f;
      }
    }
    for (int variant = 0; variant <= 1; ++variant) {
      seqloss_ace_options o = ace_opts(trial % 3, variant, trial % 2 ? 1e-10 : 1e-3);
      AceResult r = run_ace(c, o, 2);
      check(r.status == SEQLOSS_OK, "ACE reference case runs: " + r.message);
      std::vector<double> rl, rg;
      ref_ace(c, o, &rl, &rg);
      double total = 0, gmax = 0;
      for (int n = 0; n < c.N; ++n) {
        worst_loss = std::max(worst_loss, std::fabs(r.losses[n] - rl[n]) / std::max(1e-3, std::fabs(rl[n])));
        total += rl[n];
      }
      if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= c.N;
      worst_loss = std::max(worst_loss, std::fabs(r.loss - total) / std::max(1e-3, std::fabs(total)));
      for (double v : rg) gmax = std::max(gmax, std::fabs(v));
      for (size_t i = 0; i < rg.size(); ++i) {
        worst_grad = std::max(worst_grad, std::fabs(r.grad[i] - rg[i]) / std::max(gmax, 1e-30));
      }
    }
  }
  check(worst_loss < 1e-6, fmt("ACE vs float64 reference: loss rel err %.3g (%g)", worst_loss, 0));
  check(worst_grad < 1e-6, fmt("ACE vs float64 reference: grad err / max %.3g (%g)", worst_grad, 0));
}

void test_ace_finite_differences() {
  std::mt19937 rng(21);
  for (int variant = 0; variant <= 1; ++variant) {
    for (int input : {SEQLOSS_INPUT_LOGITS, SEQLOSS_INPUT_PROBS}) {
      Case c;
      c.N = 2, c.T = 5, c.C = 4, c.input = input, c.blank = 2, c.layout = SEQLOSS_LAYOUT_TNC;
      c.x = random_floats(rng, 2 * 5 * 4, 1.0f);
      if (input == SEQLOSS_INPUT_PROBS) {
        for (auto& v : c.x) v = 0.2f + std::fabs(v);
      }
      c.use_il = true;
      c.il = {5, 3};
      c.counts = {1, 2, 0, 0.5f, 0, 0, 7, 1};
      AceResult r = run_ace(c, ace_opts(SEQLOSS_REDUCTION_MEAN, variant, 1e-10));
      double worst = 0;
      for (size_t i = 0; i < c.x.size(); ++i) {
        Case p = c, m = c;
        float h = 1e-2f;
        p.x[i] += h;
        m.x[i] -= h;
        double dx = static_cast<double>(p.x[i]) - static_cast<double>(m.x[i]);
        double fd = (run_ace(p, ace_opts(SEQLOSS_REDUCTION_MEAN, variant)).loss -
                     run_ace(m, ace_opts(SEQLOSS_REDUCTION_MEAN, variant)).loss) /
                    dx;
        worst = std::max(worst, std::fabs(fd - r.grad[i]));
      }
      check(worst < 2e-4, fmt("ACE grad vs finite differences: %.3g (variant %g)", worst, variant));
    }
  }
}

// ---- decoders -------------------------------------------------------------------------------------------------

void test_decoders() {
  // Frames' argmaxes (C = 4, blank 0): 1 1 0 1 2 2 3 0 — with a tie (ties go to the lowest index).
  const int T = 8, C = 4;
  const int arg[T] = {1, 1, 0, 1, 2, 2, 3, 0};
  Case c;
  c.N = 2, c.T = T, c.C = C;
  c.x.assign(2 * T * C, 0.0f);
  for (int n = 0; n < 2; ++n) {
    for (int t = 0; t < T; ++t) c.x[c.idx(n, t, arg[t])] = 1.0f;
  }
  c.x[c.idx(0, 6, 2)] = 1.0f;  // frame 6 of sequence 0: classes 2 and 3 tie -> 2
  c.use_il = true;
  c.il = {8, 5};
  seqloss_problem p = c.problem();
  seqloss_exec e = cpu_exec(2);
  std::vector<int32_t> labels(2 * T, -1), lengths(2, -1);
  char msg[256];
  check(seqloss_ctc_greedy_decode(&p, &e, labels.data(), 2 * T, lengths.data(), static_cast<int64_t>(lengths.size()),
                                  msg, sizeof msg) == SEQLOSS_OK,
        "ctc greedy decode runs");
  std::vector<int32_t> l0(labels.begin(), labels.begin() + lengths[0]),
      l1(labels.begin() + T, labels.begin() + T + lengths[1]);
  check(l0 == std::vector<int32_t>({1, 1, 2}), "ctc greedy: merge repeats, drop blanks, ties low");
  check(l1 == std::vector<int32_t>({1, 1, 2}), "ctc greedy: input length");
  check(seqloss_ace_decode(&p, 0, &e, labels.data(), 2 * T, lengths.data(), static_cast<int64_t>(lengths.size()), msg,
                           sizeof msg) == SEQLOSS_OK,
        "ace decode runs");
  l0.assign(labels.begin(), labels.begin() + lengths[0]);
  check(l0 == std::vector<int32_t>({1, 1, 1, 2, 2, 2}), "ace decode: drop blanks only");
  check(seqloss_ace_decode(&p, 1, &e, labels.data(), 2 * T, lengths.data(), static_cast<int64_t>(lengths.size()), msg,
                           sizeof msg) == SEQLOSS_OK,
        "ace decode (collapse) runs");
  l0.assign(labels.begin(), labels.begin() + lengths[0]);
  check(l0 == std::vector<int32_t>({1, 1, 2}), "ace decode: collapse repeats");
  // NaN first: class 0; NaN later: skipped.
  Case nn;
  nn.N = 1, nn.T = 2, nn.C = 3, nn.blank = 2;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  nn.x = {nan, 5.0f, 6.0f, 1.0f, nan, 0.5f};
  seqloss_problem pn = nn.problem();
  check(seqloss_ctc_greedy_decode(&pn, &e, labels.data(), 2, lengths.data(), static_cast<int64_t>(lengths.size()), msg,
                                  sizeof msg) == SEQLOSS_OK &&
            lengths[0] == 1 && labels[0] == 0,
        "argmax: NaN first gives 0, NaN later is skipped");
  // ace_count: softmax sums and rounding.
  Case k;
  k.N = 1, k.T = 3, k.C = 2;
  k.x = {0.0f, 0.0f, 0.0f, 0.0f, 10.0f, -10.0f};
  seqloss_problem pk = k.problem();
  std::vector<float> expected(2);
  std::vector<int32_t> rounded(2);
  check(seqloss_ace_count(&pk, &e, expected.data(), 2, rounded.data(), 2, msg, sizeof msg) == SEQLOSS_OK,
        "ace count runs");
  double e0 = 0.5 + 0.5 + 1.0 / (1.0 + std::exp(-20.0));
  check(close(expected[0], e0, 1e-6) && close(expected[0] + expected[1], 3.0, 1e-6), "ace count: expected");
  check(rounded[0] == 2 && rounded[1] == 1, "ace count: rounded");
  k.input = SEQLOSS_INPUT_PROBS;
  k.x = {0.25f, 0.75f, 0.25f, 0.75f, 1.0f, 0.0f};
  pk = k.problem();
  check(seqloss_ace_count(&pk, &e, expected.data(), 2, nullptr, 0, msg, sizeof msg) == SEQLOSS_OK &&
            expected[0] == 1.5f && expected[1] == 1.5f,
        "ace count: probabilities, rounded NULL");
  k.input = SEQLOSS_INPUT_LOG_PROBS;
  k.x = {std::log(0.25f), std::log(0.75f), std::log(0.25f), std::log(0.75f), 0.0f, -1e30f};
  pk = k.problem();
  check(seqloss_ace_count(&pk, &e, expected.data(), 2, rounded.data(), 2, msg, sizeof msg) == SEQLOSS_OK &&
            close(expected[0], 1.5, 1e-6) && close(expected[1], 1.5, 1e-6) && rounded[0] == 2 && rounded[1] == 2,
        "ace count: log-probabilities, half away from zero");
}

// ---- determinism and workspaces -------------------------------------------------------------------------------

void test_determinism() {
  std::mt19937 rng(99);
  Case c = random_ctc_case(rng, 13, 40, 30, 3.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, true);
  CtcResult r1 = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN), 1);
  CtcResult r1b = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN), 1);
  CtcResult r2 = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN), 2);
  CtcResult r3 = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN), 3);
  CtcResult r0 = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN), 0);
  auto same = [](const CtcResult& a, const CtcResult& b) {
    return std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 &&
           std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * 4) == 0 &&
           std::memcmp(a.grad.data(), b.grad.data(), a.grad.size() * 4) == 0 &&
           std::memcmp(a.posterior.data(), b.posterior.data(), a.posterior.size() * 4) == 0;
  };
  check(same(r1, r1b), "CTC: two runs bitwise equal");
  check(same(r1, r2) && same(r1, r3) && same(r1, r0), "CTC: threads 1, 2, 3, 0 bitwise equal");

  Case a = c;
  a.counts.assign(static_cast<size_t>(a.N) * a.C, 0.0f);
  int64_t off = 0;
  for (int n = 0; n < a.N; ++n) {
    for (int j = 0; j < a.tl[n]; ++j) a.counts[static_cast<size_t>(n) * a.C + a.targets[off + j]] += 1;
    off += a.tl[n];
  }
  for (int variant = 0; variant <= 1; ++variant) {
    AceResult x1 = run_ace(a, ace_opts(SEQLOSS_REDUCTION_MEAN, variant), 1);
    AceResult x1b = run_ace(a, ace_opts(SEQLOSS_REDUCTION_MEAN, variant), 1);
    AceResult x2 = run_ace(a, ace_opts(SEQLOSS_REDUCTION_MEAN, variant), 2);
    AceResult x5 = run_ace(a, ace_opts(SEQLOSS_REDUCTION_MEAN, variant), 5);
    auto same_ace = [](const AceResult& p, const AceResult& q) {
      return std::memcmp(&p.loss, &q.loss, sizeof p.loss) == 0 && p.losses == q.losses &&
             std::memcmp(p.grad.data(), q.grad.data(), p.grad.size() * 4) == 0;
    };
    check(same_ace(x1, x1b) && same_ace(x1, x2) && same_ace(x1, x5), "ACE: bitwise equal across runs and threads");
  }

  // A caller's workspace (sized by the size function, deliberately misaligned) gives the same bits.
  seqloss_problem p = c.problem();
  seqloss_ctc_options o = ctc_opts(SEQLOSS_REDUCTION_MEAN);
  seqloss_exec e = cpu_exec(2);
  size_t bytes = 0;
  char msg[256];
  check(seqloss_ctc_workspace_size(&p, &o, &e, &bytes, msg, sizeof msg) == SEQLOSS_OK && bytes > 0,
        "CTC workspace size");
  std::vector<unsigned char> ws(bytes + 1);
  CtcResult rw;
  rw.losses.assign(c.N, 0);
  rw.grad.assign(c.x.size(), 0);
  rw.posterior.assign(c.x.size(), 0);
  seqloss_ctc_outputs out{rw.losses.data(),
                          static_cast<int64_t>(rw.losses.size()),
                          &rw.loss,
                          rw.grad.data(),
                          static_cast<int64_t>(rw.grad.size()),
                          rw.posterior.data(),
                          static_cast<int64_t>(rw.posterior.size())};
  check(seqloss_ctc(&p, &o, &e, &out, ws.data() + 1, bytes, msg, sizeof msg) == SEQLOSS_OK,
        "CTC with a caller workspace");
  check(same(rw, r2), "CTC: caller workspace gives the same bits");
  check(seqloss_ctc(&p, &o, &e, &out, ws.data(), bytes - 1, msg, sizeof msg) == SEQLOSS_ERROR_RANGE &&
            std::strstr(msg, "workspace") != nullptr,
        "CTC: a workspace one byte short is a RANGE error");

  seqloss_problem pa = a.problem();
  seqloss_ace_options ao = ace_opts();
  check(seqloss_ace_workspace_size(&pa, &ao, &e, &bytes, msg, sizeof msg) == SEQLOSS_OK && bytes > 0,
        "ACE workspace size");
  ws.assign(bytes + 3, 0);
  std::vector<float> losses(a.N), grad(a.x.size());
  double loss = 0;
  seqloss_ace_outputs aout{losses.data(), static_cast<int64_t>(losses.size()), &loss, grad.data(),
                           static_cast<int64_t>(grad.size())};
  check(seqloss_ace(&pa, &ao, &e, &aout, ws.data() + 3, bytes, msg, sizeof msg) == SEQLOSS_OK,
        "ACE with a caller workspace");
  AceResult ar = run_ace(a, ao, 2);
  check(loss == ar.loss && grad == ar.grad, "ACE: caller workspace gives the same bits");
  check(seqloss_ace(&pa, &ao, &e, &aout, ws.data(), bytes - 1, msg, sizeof msg) == SEQLOSS_ERROR_RANGE,
        "ACE: a workspace one byte short is a RANGE error");
}

// ---- errors ---------------------------------------------------------------------------------------------------

// What a call on the CUDA backend gives on this machine when it cannot run there: UNSUPPORTED (mentioning CUDA) in
// a build without CUDA, DEVICE (mentioning CUDA) in a CUDA build without a usable device. With a device the calls
// run (cuda_parity_test checks their results); then only device indices past the last one are errors here.
struct CudaState {
  bool compiled;
  int devices;
  seqloss_status unavailable;  // the status of a CUDA call without a device
};
CudaState cuda_state() {
  seqloss_cuda_info info{};
  seqloss_cuda_query(&info);
  return CudaState{info.compiled != 0, info.device_count,
                   info.compiled != 0 ? SEQLOSS_ERROR_DEVICE : SEQLOSS_ERROR_UNSUPPORTED};
}

// Runs `call` (which returns a status and writes into msg) and checks the status and a substring of the message.
void expect_error(const std::string& what, seqloss_status want, const char* needle,
                  const std::function<seqloss_status(char*, size_t)>& call) {
  char msg[512];
  std::memset(msg, 'x', sizeof msg);
  seqloss_status st = call(msg, sizeof msg);
  bool terminated = std::memchr(msg, '\0', sizeof msg) != nullptr;
  bool ok = st == want && terminated && (needle == nullptr || std::strstr(msg, needle) != nullptr);
  if (!ok)
    std::printf("  [%s] got %s: %s\n", what.c_str(), seqloss_status_name(st), terminated ? msg : "(unterminated)");
  check(ok, "error: " + what);
  // The same call with a tiny message buffer and with none must not overflow or crash.
  char tiny[4] = {'a', 'b', 'c', 'd'};
  check(call(tiny, 3) == want && tiny[2] == '\0' && tiny[3] == 'd', "error (3-byte message buffer): " + what);
  check(call(nullptr, 0) == want, "error (no message buffer): " + what);
}

void test_errors() {
  std::mt19937 rng(7);
  Case base = random_ctc_case(rng, 2, 4, 3, 1.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, false);
  base.blank = 0;
  base.targets = {1, 2, 2};
  base.tl = {2, 1};
  base.counts = {0, 1, 1, 0, 2, 0};
  base.il = {4, 3};
  base.use_il = true;

  std::vector<float> losses(2), grad(base.x.size()), post(base.x.size());
  double loss;
  seqloss_ctc_outputs cout_{
      losses.data(), static_cast<int64_t>(losses.size()), &loss, grad.data(), static_cast<int64_t>(grad.size()),
      post.data(),   static_cast<int64_t>(post.size())};
  seqloss_ace_outputs aout{losses.data(), static_cast<int64_t>(losses.size()), &loss, grad.data(),
                           static_cast<int64_t>(grad.size())};

  // CTC: mutate one thing at a time.
  auto ctc_err =
      [&](const std::string& what, seqloss_status want, const char* needle,
          const std::function<void(seqloss_problem&, seqloss_ctc_options&, seqloss_exec&, seqloss_ctc_outputs&)>&
              mutate) {
        expect_error("ctc " + what, want, needle, [&](char* m, size_t ms) {
          Case c = base;
          seqloss_problem p = c.problem();
          seqloss_ctc_options o = ctc_opts();
          seqloss_exec e = cpu_exec();
          seqloss_ctc_outputs out = cout_;
          mutate(p, o, e, out);
          return seqloss_ctc(&p, &o, &e, &out, nullptr, 0, m, ms);
        });
        // The workspace-size twin checks the same problem/options/exec (outputs aside).
        if (what.find("outputs") == std::string::npos && what.find("losses") == std::string::npos &&
            what.find("grad") == std::string::npos && what.find("posterior") == std::string::npos &&
            what.find("data NULL") == std::string::npos) {
          expect_error("ctc_workspace_size " + what, want, needle, [&](char* m, size_t ms) {
            Case c = base;
            seqloss_problem p = c.problem();
            seqloss_ctc_options o = ctc_opts();
            seqloss_exec e = cpu_exec();
            seqloss_ctc_outputs out = cout_;
            mutate(p, o, e, out);
            size_t bytes = 0;
            return seqloss_ctc_workspace_size(&p, &o, &e, &bytes, m, ms);
          });
        }
      };
  using P = seqloss_problem;
  using O = seqloss_ctc_options;
  using E = seqloss_exec;
  using Out = seqloss_ctc_outputs;
  ctc_err("batch 0", SEQLOSS_ERROR_RANGE, "batch must be an integer >= 1, got 0",
          [](P& p, O&, E&, Out&) { p.batch = 0; });
  ctc_err("time -1", SEQLOSS_ERROR_RANGE, "time must be", [](P& p, O&, E&, Out&) { p.time = -1; });
  ctc_err("classes 0", SEQLOSS_ERROR_RANGE, "classes must be", [](P& p, O&, E&, Out&) { p.classes = 0; });
  ctc_err("layout 2", SEQLOSS_ERROR_RANGE, "layout", [](P& p, O&, E&, Out&) { p.layout = 2; });
  ctc_err("input probs", SEQLOSS_ERROR_RANGE, "input must be",
          [](P& p, O&, E&, Out&) { p.input = SEQLOSS_INPUT_PROBS; });
  ctc_err("input -1", SEQLOSS_ERROR_RANGE, "input must be", [](P& p, O&, E&, Out&) { p.input = -1; });
  ctc_err("blank 3", SEQLOSS_ERROR_RANGE, "blank must be an integer in [0, 2], got 3",
          [](P& p, O&, E&, Out&) { p.blank = 3; });
  ctc_err("blank -1", SEQLOSS_ERROR_RANGE, "blank", [](P& p, O&, E&, Out&) { p.blank = -1; });
  ctc_err("N*T*C overflow", SEQLOSS_ERROR_RANGE, "overflows", [](P& p, O&, E&, Out&) {
    p.batch = INT32_MAX;
    p.time = INT32_MAX;
    p.classes = INT32_MAX;
  });
  ctc_err("N*T*C bytes overflow", SEQLOSS_ERROR_RANGE, "overflows", [](P& p, O&, E&, Out&) {
    p.batch = INT32_MAX;
    p.time = INT32_MAX;
    p.classes = 4;
  });
  ctc_err("data NULL", SEQLOSS_ERROR_TYPE, "logits must not be NULL", [](P& p, O&, E&, Out&) { p.data = nullptr; });
  ctc_err("data_size wrong", SEQLOSS_ERROR_RANGE, "logits.length must be batch·time·classes = 2·4·3 = 24, got 23",
          [](P& p, O&, E&, Out&) { p.data_size = 23; });
  ctc_err("logProbs size wrong", SEQLOSS_ERROR_RANGE, "logProbs.length", [](P& p, O&, E&, Out&) {
    p.input = SEQLOSS_INPUT_LOG_PROBS;
    p.data_size = 25;
  });
  ctc_err("inputLengths over T", SEQLOSS_ERROR_RANGE, "inputLengths[1] must be an integer in [0, 4], got 5",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.input_lengths)[1] = 5; });
  ctc_err("inputLengths negative", SEQLOSS_ERROR_RANGE, "inputLengths[0]",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.input_lengths)[0] = -1; });
  ctc_err("targetLengths NULL", SEQLOSS_ERROR_TYPE, "targetLengths must not be NULL",
          [](P& p, O&, E&, Out&) { p.target_lengths = nullptr; });
  ctc_err("targetLengths negative", SEQLOSS_ERROR_RANGE, "targetLengths[1] must be an integer >= 0, got -2",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.target_lengths)[1] = -2; });
  ctc_err("targetLengths sum too large", SEQLOSS_ERROR_RANGE,
          "the sum of targetLengths must be at most targets.length = 3, got 4",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.target_lengths)[1] = 2; });
  ctc_err("targets_size negative", SEQLOSS_ERROR_RANGE, "targets.length",
          [](P& p, O&, E&, Out&) { p.targets_size = -1; });
  ctc_err("targets NULL", SEQLOSS_ERROR_TYPE, "targets must not be NULL",
          [](P& p, O&, E&, Out&) { p.targets = nullptr; });
  ctc_err("label is the blank", SEQLOSS_ERROR_RANGE,
          "targets[1] must be a class in [0, 3) other than the blank 0, got 0",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.targets)[1] = 0; });
  ctc_err("label too large", SEQLOSS_ERROR_RANGE, "targets[2] must be a class in [0, 3) other than the blank 0, got 3",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.targets)[2] = 3; });
  ctc_err("label negative", SEQLOSS_ERROR_RANGE, "got -4",
          [](P& p, O&, E&, Out&) { const_cast<int32_t*>(p.targets)[0] = -4; });
  ctc_err("reduction 3", SEQLOSS_ERROR_RANGE, "reduction must be", [](P&, O& o, E&, Out&) { o.reduction = 3; });
  ctc_err("zeroInfinity 2", SEQLOSS_ERROR_RANGE, "zeroInfinity", [](P&, O& o, E&, Out&) { o.zero_infinity = 2; });
  ctc_err("gradConvention 2", SEQLOSS_ERROR_RANGE, "gradConvention must be 0 (exact) or 1 (pytorch), got 2",
          [](P&, O& o, E&, Out&) { o.grad_convention = 2; });
  ctc_err("fit alpha 1", SEQLOSS_ERROR_RANGE, "fit.alpha must be a number in (0, 1) (or 0 = off), got 1",
          [](P&, O& o, E&, Out&) { o.fit_alpha = 1; });
  ctc_err("fit alpha -0.5", SEQLOSS_ERROR_RANGE, "fit.alpha must be", [](P&, O& o, E&, Out&) { o.fit_alpha = -0.5; });
  ctc_err("fit alpha NaN", SEQLOSS_ERROR_RANGE, "got NaN", [](P&, O& o, E&, Out&) { o.fit_alpha = std::nan(""); });
  ctc_err("fit gamma -1", SEQLOSS_ERROR_RANGE, "fit.gamma must be a finite number >= 0, got -1",
          [](P&, O& o, E&, Out&) { o.fit_gamma = -1; });
  ctc_err("fit gamma inf", SEQLOSS_ERROR_RANGE, "got Infinity", [](P&, O& o, E&, Out&) { o.fit_gamma = kInf; });
  ctc_err("fit scope 2", SEQLOSS_ERROR_RANGE, "fit.alphaScope must be 0 (batch) or 1 (sequence), got 2",
          [](P&, O& o, E&, Out&) { o.fit_alpha_scope = 2; });
  ctc_err("fit with logProbs", SEQLOSS_ERROR_RANGE, "input must be 0 (logits) when fit", [](P& p, O& o, E&, Out&) {
    p.input = SEQLOSS_INPUT_LOG_PROBS;
    o.fit_gamma = 1;
  });
  ctc_err("backend 7", SEQLOSS_ERROR_RANGE, "backend must be", [](P&, O&, E& e, Out&) { e.backend = 7; });
  ctc_err("memory 3", SEQLOSS_ERROR_RANGE, "memory must be", [](P&, O&, E& e, Out&) { e.memory = 3; });
  ctc_err("threads -1", SEQLOSS_ERROR_RANGE, "threads must be", [](P&, O&, E& e, Out&) { e.threads = -1; });
  ctc_err("device -1", SEQLOSS_ERROR_RANGE, "device must be", [](P&, O&, E& e, Out&) { e.device = -1; });
  ctc_err("device memory on the CPU", SEQLOSS_ERROR_UNSUPPORTED, "CPU backend",
          [](P&, O&, E& e, Out&) { e.memory = SEQLOSS_MEMORY_DEVICE; });
  const CudaState cuda = cuda_state();
  if (cuda.devices == 0) {
    ctc_err("CUDA backend", cuda.unavailable, "CUDA", [](P&, O&, E& e, Out&) { e.backend = SEQLOSS_BACKEND_CUDA; });
    ctc_err("CUDA backend, device memory", cuda.unavailable, "CUDA", [](P&, O&, E& e, Out&) {
      e.backend = SEQLOSS_BACKEND_CUDA;
      e.memory = SEQLOSS_MEMORY_DEVICE;
      e.device = 3;
    });
  } else {
    ctc_err("CUDA device past the last", SEQLOSS_ERROR_RANGE, "device must be a CUDA device index",
            [](P&, O&, E& e, Out&) {
              e.backend = SEQLOSS_BACKEND_CUDA;
              e.device = 1000;
            });
    // Host arrays passed as device memory are refused before any kernel reads them.
    expect_error("ctc host pointers as device memory", SEQLOSS_ERROR_RANGE, "must be device memory",
                 [&](char* m, size_t ms) {
                   Case c = base;
                   seqloss_problem p = c.problem();
                   seqloss_ctc_options o = ctc_opts();
                   seqloss_exec e = cpu_exec();
                   e.backend = SEQLOSS_BACKEND_CUDA;
                   e.memory = SEQLOSS_MEMORY_DEVICE;
                   seqloss_ctc_outputs out = cout_;
                   return seqloss_ctc(&p, &o, &e, &out, nullptr, 0, m, ms);
                 });
  }
  ctc_err("losses NULL", SEQLOSS_ERROR_TYPE, "losses must not be NULL", [](P&, O&, E&, Out& o) { o.losses = nullptr; });
  ctc_err("losses too small", SEQLOSS_ERROR_RANGE, "losses must hold batch = 2",
          [](P&, O&, E&, Out& o) { o.losses_size = 1; });
  ctc_err("targetLengths too short", SEQLOSS_ERROR_RANGE, "targetLengths must hold batch = 2",
          [](P& p, O&, E&, Out&) { p.target_lengths_size = 1; });
  ctc_err("inputLengths too short", SEQLOSS_ERROR_RANGE, "inputLengths must hold batch = 2", [](P& p, O&, E&, Out&) {
    static const int32_t one[1] = {3};
    p.input_lengths = one;
    p.input_lengths_size = 1;
  });
  ctc_err("grad too small", SEQLOSS_ERROR_RANGE, "grad must hold", [](P&, O&, E&, Out& o) { o.grad_size = 23; });
  ctc_err("posterior too small", SEQLOSS_ERROR_RANGE, "posterior must hold",
          [](P&, O&, E&, Out& o) { o.posterior_size = 0; });

  // NULL structs.
  {
    Case c = base;
    seqloss_problem p = c.problem();
    seqloss_ctc_options o = ctc_opts();
    seqloss_exec e = cpu_exec();
    size_t bytes;
    expect_error("ctc problem NULL", SEQLOSS_ERROR_TYPE, "problem must not be NULL",
                 [&](char* m, size_t ms) { return seqloss_ctc(nullptr, &o, &e, &cout_, nullptr, 0, m, ms); });
    expect_error("ctc options NULL", SEQLOSS_ERROR_TYPE, "options must not be NULL",
                 [&](char* m, size_t ms) { return seqloss_ctc(&p, nullptr, &e, &cout_, nullptr, 0, m, ms); });
    expect_error("ctc exec NULL", SEQLOSS_ERROR_TYPE, "exec must not be NULL",
                 [&](char* m, size_t ms) { return seqloss_ctc(&p, &o, nullptr, &cout_, nullptr, 0, m, ms); });
    expect_error("ctc outputs NULL", SEQLOSS_ERROR_TYPE, "outputs must not be NULL",
                 [&](char* m, size_t ms) { return seqloss_ctc(&p, &o, &e, nullptr, nullptr, 0, m, ms); });
    expect_error("ctc_workspace_size bytes NULL", SEQLOSS_ERROR_TYPE, "bytes",
                 [&](char* m, size_t ms) { return seqloss_ctc_workspace_size(&p, &o, &e, nullptr, m, ms); });
    expect_error("ctc_workspace_size problem NULL", SEQLOSS_ERROR_TYPE, "problem",
                 [&](char* m, size_t ms) { return seqloss_ctc_workspace_size(nullptr, &o, &e, &bytes, m, ms); });
    // Workspace too small, with a real problem.
    std::vector<unsigned char> ws(16);
    expect_error("ctc small workspace", SEQLOSS_ERROR_RANGE, "workspace must be at least",
                 [&](char* m, size_t ms) { return seqloss_ctc(&p, &o, &e, &cout_, ws.data(), ws.size(), m, ms); });
  }

  // ACE.
  auto ace_err =
      [&](const std::string& what, seqloss_status want, const char* needle,
          const std::function<void(seqloss_problem&, seqloss_ace_options&, seqloss_exec&, seqloss_ace_outputs&)>&
              mutate) {
        expect_error("ace " + what, want, needle, [&](char* m, size_t ms) {
          Case c = base;
          seqloss_problem p = c.problem();
          seqloss_ace_options o = ace_opts();
          seqloss_exec e = cpu_exec();
          seqloss_ace_outputs out = aout;
          mutate(p, o, e, out);
          return seqloss_ace(&p, &o, &e, &out, nullptr, 0, m, ms);
        });
      };
  using AO = seqloss_ace_options;
  using AOut = seqloss_ace_outputs;
  ace_err("input logProbs", SEQLOSS_ERROR_RANGE, "input must be 0 (logits) or 2 (probs)",
          [](P& p, AO&, E&, AOut&) { p.input = SEQLOSS_INPUT_LOG_PROBS; });
  ace_err("inputLengths 0", SEQLOSS_ERROR_RANGE, "inputLengths[0] must be an integer in [1, 4], got 0",
          [](P& p, AO&, E&, AOut&) { const_cast<int32_t*>(p.input_lengths)[0] = 0; });
  ace_err("counts NULL without labels", SEQLOSS_ERROR_TYPE,
          "counts must not be NULL (batch·classes = 6 counts), unless targets and targetLengths are given",
          [](P& p, AO&, E&, AOut&) {
            p.counts = nullptr;
            p.target_lengths = nullptr;
          });
  ace_err("labels with a blank", SEQLOSS_ERROR_RANGE,
          "targets[0] must be a class in [0, 3) other than the blank 0, got 0", [](P& p, AO&, E&, AOut&) {
            p.counts = nullptr;
            const_cast<int32_t*>(p.targets)[0] = 0;
          });
  ace_err("labels beyond T_n", SEQLOSS_ERROR_RANGE,
          "the counts of sequence 0 must be at most its 1 frames in total (blank excluded), got 2",
          [](P& p, AO&, E&, AOut&) {
            p.counts = nullptr;
            const_cast<int32_t*>(p.input_lengths)[0] = 1;
          });
  ace_err("labels: targetLengths short", SEQLOSS_ERROR_RANGE, "targetLengths must hold batch = 2 values",
          [](P& p, AO&, E&, AOut&) {
            p.counts = nullptr;
            p.target_lengths_size = 1;
          });
  {
    // The labels' form gives bitwise the counts' results (CE and regression).
    for (int32_t variant : {SEQLOSS_ACE_CE, SEQLOSS_ACE_REGRESSION}) {
      Case c = base;
      c.counts = {0, 1, 1, 0, 0, 1};  // the labels {1, 2}, {2}
      seqloss_ace_options o = ace_opts();
      o.variant = variant;
      seqloss_exec e = cpu_exec();
      std::vector<float> l1(2), g1(c.x.size()), l2(2), g2(c.x.size());
      double s1 = 0, s2 = 0;
      seqloss_ace_outputs o1{l1.data(), 2, &s1, g1.data(), static_cast<int64_t>(g1.size())};
      seqloss_ace_outputs o2{l2.data(), 2, &s2, g2.data(), static_cast<int64_t>(g2.size())};
      seqloss_problem p = c.problem();
      const seqloss_status a = seqloss_ace(&p, &o, &e, &o1, nullptr, 0, nullptr, 0);
      p.counts = nullptr;
      const seqloss_status b = seqloss_ace(&p, &o, &e, &o2, nullptr, 0, nullptr, 0);
      check(a == SEQLOSS_OK && b == SEQLOSS_OK && l1 == l2 && g1 == g2 && s1 == s2,
            "ace from labels = ace from counts, variant " + std::to_string(variant));
    }
  }
  ace_err("counts size", SEQLOSS_ERROR_RANGE, "counts.length must be batch·classes = 6, got 5",
          [](P& p, AO&, E&, AOut&) { p.counts_size = 5; });
  ace_err("counts negative", SEQLOSS_ERROR_RANGE, "counts[1] must be a finite count >= 0, got -1",
          [](P& p, AO&, E&, AOut&) { const_cast<float*>(p.counts)[1] = -1.0f; });
  ace_err("counts NaN", SEQLOSS_ERROR_RANGE, "counts[2] must be a finite count >= 0, got NaN",
          [](P& p, AO&, E&, AOut&) { const_cast<float*>(p.counts)[2] = std::numeric_limits<float>::quiet_NaN(); });
  ace_err("counts inf", SEQLOSS_ERROR_RANGE, "got Infinity",
          [](P& p, AO&, E&, AOut&) { const_cast<float*>(p.counts)[4] = std::numeric_limits<float>::infinity(); });
  ace_err("counts over T_n", SEQLOSS_ERROR_RANGE,
          "the counts of sequence 1 must be at most its 3 frames in total (blank excluded), got 3.5",
          [](P& p, AO&, E&, AOut&) { const_cast<float*>(p.counts)[5] = 1.5f; });
  ace_err("variant 2", SEQLOSS_ERROR_RANGE, "variant must be", [](P&, AO& o, E&, AOut&) { o.variant = 2; });
  ace_err("eps negative", SEQLOSS_ERROR_RANGE, "eps must be a finite number >= 0, got -1e-10",
          [](P&, AO& o, E&, AOut&) { o.eps = -1e-10; });
  ace_err("eps NaN", SEQLOSS_ERROR_RANGE, "got NaN", [](P&, AO& o, E&, AOut&) { o.eps = std::nan(""); });
  ace_err("eps inf", SEQLOSS_ERROR_RANGE, "got Infinity", [](P&, AO& o, E&, AOut&) { o.eps = kInf; });
  ace_err("reduction -1", SEQLOSS_ERROR_RANGE, "reduction", [](P&, AO& o, E&, AOut&) { o.reduction = -1; });
  ace_err("probs size", SEQLOSS_ERROR_RANGE, "probs.length", [](P& p, AO&, E&, AOut&) {
    p.input = SEQLOSS_INPUT_PROBS;
    p.data_size = 1;
  });
  ace_err("losses NULL", SEQLOSS_ERROR_TYPE, "losses", [](P&, AO&, E&, AOut& o) { o.losses = nullptr; });
  ace_err("grad small", SEQLOSS_ERROR_RANGE, "grad must hold", [](P&, AO&, E&, AOut& o) { o.grad_size = 3; });
  if (cuda.devices == 0) {
    ace_err("CUDA", cuda.unavailable, "CUDA", [](P&, AO&, E& e, AOut&) { e.backend = SEQLOSS_BACKEND_CUDA; });
  }
  {
    Case c = base;
    seqloss_problem p = c.problem();
    seqloss_ace_options o = ace_opts();
    seqloss_exec e = cpu_exec();
    size_t bytes;
    expect_error("ace options NULL", SEQLOSS_ERROR_TYPE, "options",
                 [&](char* m, size_t ms) { return seqloss_ace(&p, nullptr, &e, &aout, nullptr, 0, m, ms); });
    expect_error("ace outputs NULL", SEQLOSS_ERROR_TYPE, "outputs",
                 [&](char* m, size_t ms) { return seqloss_ace(&p, &o, &e, nullptr, nullptr, 0, m, ms); });
    if (cuda.devices == 0) {
      expect_error("ace_workspace_size CUDA", cuda.unavailable, "CUDA", [&](char* m, size_t ms) {
        seqloss_exec ec = e;
        ec.backend = SEQLOSS_BACKEND_CUDA;
        return seqloss_ace_workspace_size(&p, &o, &ec, &bytes, m, ms);
      });
    }
    expect_error("ace_workspace_size counts", SEQLOSS_ERROR_RANGE, "counts", [&](char* m, size_t ms) {
      seqloss_problem q = p;
      q.counts_size = 2;
      return seqloss_ace_workspace_size(&q, &o, &e, &bytes, m, ms);
    });
    std::vector<unsigned char> ws(8);
    expect_error("ace small workspace", SEQLOSS_ERROR_RANGE, "workspace",
                 [&](char* m, size_t ms) { return seqloss_ace(&p, &o, &e, &aout, ws.data(), ws.size(), m, ms); });
  }

  // Decoders and counting.
  {
    Case c = base;
    seqloss_problem p = c.problem();
    seqloss_exec e = cpu_exec();
    std::vector<int32_t> labels(8), lengths(2), rounded(6);
    std::vector<float> expected(6);
    expect_error("ctc decode labels NULL", SEQLOSS_ERROR_TYPE, "labels", [&](char* m, size_t ms) {
      return seqloss_ctc_greedy_decode(&p, &e, nullptr, 8, lengths.data(), static_cast<int64_t>(lengths.size()), m, ms);
    });
    expect_error("ctc decode labels small", SEQLOSS_ERROR_RANGE, "labels must hold batch·time = 8",
                 [&](char* m, size_t ms) {
                   return seqloss_ctc_greedy_decode(&p, &e, labels.data(), 7, lengths.data(),
                                                    static_cast<int64_t>(lengths.size()), m, ms);
                 });
    expect_error("ctc decode lengths NULL", SEQLOSS_ERROR_TYPE, "lengths", [&](char* m, size_t ms) {
      return seqloss_ctc_greedy_decode(&p, &e, labels.data(), 8, nullptr, 0, m, ms);
    });
    expect_error("ctc decode lengths small", SEQLOSS_ERROR_RANGE, "lengths must hold batch = 2",
                 [&](char* m, size_t ms) {
                   return seqloss_ctc_greedy_decode(&p, &e, labels.data(), 8, lengths.data(), 1, m, ms);
                 });
    expect_error(
        "ace decode lengths small", SEQLOSS_ERROR_RANGE, "lengths must hold batch = 2",
        [&](char* m, size_t ms) { return seqloss_ace_decode(&p, 0, &e, labels.data(), 8, lengths.data(), 0, m, ms); });
    expect_error("ctc decode problem NULL", SEQLOSS_ERROR_TYPE, "problem", [&](char* m, size_t ms) {
      return seqloss_ctc_greedy_decode(nullptr, &e, labels.data(), 8, lengths.data(),
                                       static_cast<int64_t>(lengths.size()), m, ms);
    });
    expect_error("ctc decode exec NULL", SEQLOSS_ERROR_TYPE, "exec", [&](char* m, size_t ms) {
      return seqloss_ctc_greedy_decode(&p, nullptr, labels.data(), 8, lengths.data(),
                                       static_cast<int64_t>(lengths.size()), m, ms);
    });
    expect_error("ctc decode data size", SEQLOSS_ERROR_RANGE, "logits.length", [&](char* m, size_t ms) {
      seqloss_problem q = p;
      q.data_size = 3;
      return seqloss_ctc_greedy_decode(&q, &e, labels.data(), 8, lengths.data(), static_cast<int64_t>(lengths.size()),
                                       m, ms);
    });
    if (cuda.devices == 0) {
      expect_error("ctc decode CUDA", cuda.unavailable, "CUDA", [&](char* m, size_t ms) {
        seqloss_exec ec = e;
        ec.backend = SEQLOSS_BACKEND_CUDA;
        return seqloss_ctc_greedy_decode(&p, &ec, labels.data(), 8, lengths.data(),
                                         static_cast<int64_t>(lengths.size()), m, ms);
      });
    }
    expect_error("ace decode blank", SEQLOSS_ERROR_RANGE, "blank", [&](char* m, size_t ms) {
      seqloss_problem q = p;
      q.blank = 9;
      return seqloss_ace_decode(&q, 0, &e, labels.data(), 8, lengths.data(), static_cast<int64_t>(lengths.size()), m,
                                ms);
    });
    expect_error("ace decode input length 0", SEQLOSS_ERROR_RANGE, "inputLengths[1] must be an integer in [1, 4]",
                 [&](char* m, size_t ms) {
                   Case d = base;
                   d.il = {4, 0};
                   seqloss_problem q = d.problem();
                   return seqloss_ace_decode(&q, 1, &e, labels.data(), 8, lengths.data(),
                                             static_cast<int64_t>(lengths.size()), m, ms);
                 });
    expect_error("ace decode labels small", SEQLOSS_ERROR_RANGE, "labels", [&](char* m, size_t ms) {
      return seqloss_ace_decode(&p, 0, &e, labels.data(), 1, lengths.data(), static_cast<int64_t>(lengths.size()), m,
                                ms);
    });
    expect_error("ace count expected NULL", SEQLOSS_ERROR_TYPE, "expected",
                 [&](char* m, size_t ms) { return seqloss_ace_count(&p, &e, nullptr, 6, rounded.data(), 6, m, ms); });
    expect_error(
        "ace count expected small", SEQLOSS_ERROR_RANGE, "expected must hold batch·classes = 6",
        [&](char* m, size_t ms) { return seqloss_ace_count(&p, &e, expected.data(), 5, rounded.data(), 6, m, ms); });
    expect_error("ace count rounded small", SEQLOSS_ERROR_RANGE, "rounded must hold", [&](char* m, size_t ms) {
      return seqloss_ace_count(&p, &e, expected.data(), 6, rounded.data(), 2, m, ms);
    });
    expect_error("ace count input 3", SEQLOSS_ERROR_RANGE, "input must be", [&](char* m, size_t ms) {
      seqloss_problem q = p;
      q.input = 3;
      return seqloss_ace_count(&q, &e, expected.data(), 6, rounded.data(), 6, m, ms);
    });
    expect_error("ace count device memory", SEQLOSS_ERROR_UNSUPPORTED, nullptr, [&](char* m, size_t ms) {
      seqloss_exec ed = e;
      ed.memory = SEQLOSS_MEMORY_DEVICE;
      return seqloss_ace_count(&p, &ed, expected.data(), 6, rounded.data(), 6, m, ms);
    });
  }
}

void test_discovery() {
  check(seqloss_abi_version() == SEQLOSS_ABI_VERSION, "abi version");
  check(seqloss_version() != nullptr && std::strlen(seqloss_version()) > 0, "version string");
  check(seqloss_cpu_threads() >= 1, "cpu threads >= 1");
  check(std::strcmp(seqloss_status_name(SEQLOSS_OK), "SEQLOSS_OK") == 0 &&
            std::strcmp(seqloss_status_name(SEQLOSS_ERROR_ALLOC), "SEQLOSS_ERROR_ALLOC") == 0 &&
            std::strlen(seqloss_status_name(static_cast<seqloss_status>(42))) > 0,
        "status names");
  seqloss_cuda_info info;
  std::memset(&info, 0x5a, sizeof info);
  check(seqloss_cuda_query(&info) == SEQLOSS_OK, "cuda query never fails");
  check(std::memchr(info.reason, '\0', sizeof info.reason) != nullptr &&
            std::memchr(info.architectures, '\0', sizeof info.architectures) != nullptr,
        "cuda query strings terminated");
  check(info.device_count > 0 || std::strlen(info.reason) > 0, "no CUDA device: a reason is given");
  check(info.compiled == 1 || (info.device_count == 0 && info.runtime_version == 0), "not compiled: no devices");
  std::printf("  cuda: compiled=%d runtime=%d driver=%d devices=%d archs='%s' reason='%s'\n", info.compiled,
              info.runtime_version, info.driver_version, info.device_count, info.architectures, info.reason);
  check(seqloss_cuda_query(nullptr) == SEQLOSS_ERROR_TYPE, "cuda query NULL");
  seqloss_cuda_device dev;
  char msg[256];
  seqloss_status st = seqloss_cuda_device_query(0, &dev, msg, sizeof msg);
  check(info.device_count > 0 ? st == SEQLOSS_OK : st != SEQLOSS_OK, "cuda device 0 query matches the count");
  check(seqloss_cuda_device_query(info.device_count, &dev, msg, sizeof msg) != SEQLOSS_OK, "cuda device out of range");
  check(seqloss_cuda_device_query(-1, &dev, msg, sizeof msg) != SEQLOSS_OK, "cuda device -1");
  check(seqloss_cuda_device_query(0, nullptr, msg, sizeof msg) == SEQLOSS_ERROR_TYPE, "cuda device NULL");
  for (int i = 0; i < info.device_count; ++i) {
    check(seqloss_cuda_device_query(i, &dev, msg, sizeof msg) == SEQLOSS_OK && dev.index == i && dev.major > 0,
          "cuda device properties");
  }
}

}  // namespace

// ---- iterative fitting (alpha / gamma), DCTC, Viterbi alignment (ABI version 2) --------------------------------

double softmax_at(const Case& c, int n, int t, int k, double s = 1.0) {
  double m = -kInf, z = 0;
  for (int j = 0; j < c.C; ++j) m = std::max(m, s * c.x[c.idx(n, t, j)]);
  for (int j = 0; j < c.C; ++j) z += std::exp(s * c.x[c.idx(n, t, j)] - m);
  return std::exp(s * c.x[c.idx(n, t, k)] - m) / z;
}

std::vector<int> labels_of(const Case& c, int n) {
  int64_t off = 0;
  for (int i = 0; i < n; ++i) off += c.tl[i];
  return std::vector<int>(c.targets.begin() + off, c.targets.begin() + off + c.tl[n]);
}

// Eq. 13-16 applied by hand to the float64 reference posterior, over the whole batch or per sequence.
std::vector<double> fitted_alpha(const Case& c, const RefCtc& r, double alpha, bool batch_scope) {
  std::vector<double> y = r.posterior;
  auto apply = [&](int n0, int n1) {
    std::vector<double> V(c.C, 0.0), Nk(c.C, 0.0);
    double L = 0;
    for (int n = n0; n < n1; ++n) {
      if (std::isinf(r.loss[n]) || c.tn(n) == 0) continue;
      for (int l : labels_of(c, n)) Nk[l] += 1, L += 1;
      for (int t = 0; t < c.tn(n); ++t)
        for (int k = 0; k < c.C; ++k) V[k] += y[c.idx(n, t, k)];
    }
    if (L == 0) return;
    std::vector<double> f(c.C, 0.0);
    for (int k = 0; k < c.C; ++k) {
      if (V[k] == 0) continue;
      f[k] = k == c.blank ? (1 - alpha) * L / V[k] : alpha * Nk[k] / V[k];
    }
    for (int n = n0; n < n1; ++n) {
      if (std::isinf(r.loss[n])) continue;
      for (int t = 0; t < c.tn(n); ++t) {
        double z = 0;
        for (int k = 0; k < c.C; ++k) z += f[k] * y[c.idx(n, t, k)];
        for (int k = 0; k < c.C; ++k) y[c.idx(n, t, k)] = z > 0 ? f[k] * y[c.idx(n, t, k)] / z : 0.0;
      }
    }
  };
  if (batch_scope) {
    apply(0, c.N);
  } else {
    for (int n = 0; n < c.N; ++n) apply(n, n + 1);
  }
  return y;
}

bool bitwise_same(const CtcResult& a, const CtcResult& b) {
  return std::memcmp(&a.loss, &b.loss, sizeof a.loss) == 0 &&
         std::memcmp(a.losses.data(), b.losses.data(), a.losses.size() * 4) == 0 &&
         std::memcmp(a.grad.data(), b.grad.data(), a.grad.size() * 4) == 0 &&
         std::memcmp(a.posterior.data(), b.posterior.data(), a.posterior.size() * 4) == 0;
}

void test_fit() {
  std::mt19937 rng(31);
  for (int trial = 0; trial < 6; ++trial) {
    Case c = random_ctc_case(rng, 5, 14, 6, 2.0f, trial % 2 ? SEQLOSS_LAYOUT_TNC : SEQLOSS_LAYOUT_NTC,
                             SEQLOSS_INPUT_LOGITS, true);
    if (trial == 0) c.tl[1] = c.tn(1) + 1, c.targets.resize(c.targets.size() + 0);  // may be impossible
    int64_t need = 0;
    for (int v : c.tl) need += v;
    while (static_cast<int64_t>(c.targets.size()) < need) c.targets.push_back(c.blank == 1 ? 2 : 1);
    RefCtc ref = ref_ctc(c);
    CtcResult plain = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN));
    for (int scope = 0; scope <= 1; ++scope) {
      for (double gamma : {0.0, 0.5, 2.0}) {
        for (double alpha : {0.0, 0.3}) {
          if (alpha == 0 && gamma == 0) continue;
          seqloss_ctc_options o = ctc_opts(SEQLOSS_REDUCTION_MEAN);
          o.fit_alpha = alpha;
          o.fit_gamma = gamma;
          o.fit_alpha_scope = scope;
          CtcResult r = run_ctc(c, o);
          std::string tag = fmt("fit alpha %g gamma %g", alpha, gamma) + (scope ? " (sequence)" : " (batch)");
          check(r.status == SEQLOSS_OK, tag + ": runs (" + r.message + ")");
          check(std::memcmp(r.losses.data(), plain.losses.data(), 4 * r.losses.size()) == 0 && r.loss == plain.loss,
                tag + ": losses unchanged");
          std::vector<double> y = alpha > 0 ? fitted_alpha(c, ref, alpha, scope == 0) : ref.posterior;
          double err = 0, gerr = 0, wsum_err = 0;
          for (int n = 0; n < c.N; ++n) {
            const int Tn = c.tn(n);
            const double scale = 1.0 / (c.N * std::max(c.tl[n], 1));
            std::vector<double> w(Tn, 0.0);
            double wsum = 0;
            for (int t = 0; t < Tn; ++t) {
              double m = 0;
              for (int k = 0; k < c.C; ++k) m = std::max(m, y[c.idx(n, t, k)] - softmax_at(c, n, t, k));
              w[t] = gamma == 0 ? 1.0 : std::pow(m, gamma);
              wsum += w[t];
            }
            double mean_w = 0;
            for (int t = 0; t < Tn; ++t) {
              double wt = wsum > 0 ? Tn * w[t] / wsum : 1.0;
              for (int k = 0; k < c.C; ++k) {
                int64_t i = c.idx(n, t, k);
                err = std::max(err, std::fabs(r.posterior[i] - y[i]));
                double g = std::isinf(ref.loss[n]) ? 0.0 : scale * wt * (softmax_at(c, n, t, k) - y[i]);
                gerr = std::max(gerr, std::fabs(r.grad[i] - g));
              }
              mean_w += wt;
            }
            if (Tn > 0 && !std::isinf(ref.loss[n])) wsum_err = std::max(wsum_err, std::fabs(mean_w / Tn - 1));
          }
          check(err < 2e-6, tag + fmt(": posterior = fitted target (max err %g)%.0f", err, 0));
          check(gerr < 2e-6, tag + fmt(": grad = w (y - y') (max err %g)%.0f", gerr, 0));
          check(wsum_err < 1e-9, tag + ": frame weights average 1");
          CtcResult r1 = run_ctc(c, o, 1), r3 = run_ctc(c, o, 3);
          check(bitwise_same(r, r1) && bitwise_same(r, r3), tag + ": threads 0, 1, 3 bitwise equal");
        }
      }
    }
  }
}

struct DctcResult {
  seqloss_status status = SEQLOSS_OK;
  std::string message;
  std::vector<float> losses, grad, ctc, distill;
  std::vector<int32_t> alignment;
  double loss = 0;
};

seqloss_dctc_options dctc_opts(int reduction, int alignment, double lambda, double beta, double s, double m) {
  seqloss_dctc_options o;
  std::memset(&o, 0, sizeof o);
  o.reduction = reduction;
  o.zero_infinity = 1;
  o.alignment = alignment;
  o.lambda = lambda;
  o.ctc_weight = beta;
  o.scale = s;
  o.margin = m;
  return o;
}

DctcResult run_dctc(const Case& c, const seqloss_dctc_options& o, int threads = 0) {
  DctcResult r;
  r.losses.assign(c.N, -1.0f);
  r.ctc.assign(c.N, -1.0f);
  r.distill.assign(c.N, -1.0f);
  r.grad.assign(c.x.size(), -7.0f);
  r.alignment.assign(static_cast<size_t>(c.N) * c.T, -7);
  seqloss_problem p = c.problem();
  seqloss_exec e = cpu_exec(threads);
  seqloss_dctc_outputs out{r.losses.data(),
                           c.N,
                           &r.loss,
                           r.grad.data(),
                           static_cast<int64_t>(r.grad.size()),
                           r.alignment.data(),
                           static_cast<int64_t>(r.alignment.size()),
                           r.ctc.data(),
                           c.N,
                           r.distill.data(),
                           c.N};
  char msg[512];
  r.status = seqloss_dctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg);
  r.message = msg;
  return r;
}

void test_dctc() {
  std::mt19937 rng(47);
  for (int trial = 0; trial < 4; ++trial) {
    Case c = random_ctc_case(rng, 4, 12, 6, 2.0f, trial % 2 ? SEQLOSS_LAYOUT_TNC : SEQLOSS_LAYOUT_NTC,
                             SEQLOSS_INPUT_LOGITS, true);
    // lambda = 0, beta = 1, s = 1 is CTC with the 'sum' reduction.
    DctcResult d0 = run_dctc(c, dctc_opts(SEQLOSS_REDUCTION_SUM, SEQLOSS_DCTC_RATIO, 0.0, 1.0, 1.0, 0.0));
    CtcResult plain = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_SUM, 1));
    double gerr = 0, lerr = 0;
    for (size_t i = 0; i < c.x.size(); ++i)
      gerr = std::max(gerr, static_cast<double>(std::fabs(d0.grad[i] - plain.grad[i])));
    for (int n = 0; n < c.N; ++n)
      lerr = std::max(lerr, static_cast<double>(std::fabs(d0.losses[n] - plain.losses[n]) / (1 + plain.losses[n])));
    check(d0.status == SEQLOSS_OK && gerr < 1e-6 && lerr < 1e-6,
          fmt("DCTC lambda 0 = CTC (grad %g, loss %g)", gerr, lerr));

    for (int mode = 0; mode <= 2; ++mode) {
      for (int margin = 0; margin <= 1; ++margin) {
        const double s = margin ? 2.0 : 1.0, m = margin ? 0.3 : 0.0, lambda = 0.4, beta = 0.7;
        Case sc = c;  // s·a, for the float64 reference posterior under P = softmax(s a)
        for (auto& v : sc.x) v = static_cast<float>(s * v);
        RefCtc ref = ref_ctc(sc);
        seqloss_dctc_options o = dctc_opts(SEQLOSS_REDUCTION_MEAN, mode, lambda, beta, s, m);
        DctcResult d = run_dctc(c, o);
        std::string tag = fmt("DCTC mode %g margin %g", mode, margin);
        check(d.status == SEQLOSS_OK, tag + ": runs (" + d.message + ")");
        double err = 0, total = 0;
        bool align_ok = true;
        for (int n = 0; n < c.N; ++n) {
          const int Tn = c.tn(n);
          double distill = 0;
          for (int t = 0; t < c.T; ++t) {
            int z = d.alignment[static_cast<size_t>(n) * c.T + t];
            if (t >= Tn) {
              align_ok = align_ok && z == -1;
              continue;
            }
            if (mode != SEQLOSS_DCTC_VITERBI) {  // the argmax of its definition, ties to the lowest class
              int best = c.blank;
              double bv = 0;
              for (int k = 0; k < c.C; ++k) {
                double yp = ref.posterior[c.idx(n, t, k)];
                double v = mode == SEQLOSS_DCTC_RATIO ? yp / std::max(softmax_at(c, n, t, k, s), 1e-8) : yp;
                if (v > bv * (1 + 1e-9) + 1e-300) bv = v, best = k;
              }
              align_ok = align_ok && z == best;
            }
            // -ln softmax(s a_t - s m e_z)[z] directly.
            double mx = -kInf, zs = 0;
            for (int k = 0; k < c.C; ++k) mx = std::max(mx, s * c.x[c.idx(n, t, k)] - (k == z ? s * m : 0));
            for (int k = 0; k < c.C; ++k) zs += std::exp(s * c.x[c.idx(n, t, k)] - (k == z ? s * m : 0) - mx);
            distill += -(s * c.x[c.idx(n, t, z)] - s * m - mx - std::log(zs));
          }
          double ctc = std::isinf(ref.loss[n]) ? 0.0 : ref.loss[n];
          err = std::max(err, std::fabs(d.distill[n] - distill) / (1 + distill));
          err = std::max(err, std::fabs(d.ctc[n] - ctc) / (1 + ctc));
          err = std::max(err, std::fabs(d.losses[n] - (beta * ctc + lambda * distill)) / (1 + ctc + distill));
          total += beta * ctc + lambda * distill;
        }
        check(align_ok, tag + ": z* by its definition, -1 on padded frames");
        check(err < 2e-6 && std::fabs(d.loss - total / c.N) < 1e-5 * (1 + total),
              tag + fmt(": losses (max rel err %g), loss = batch mean%.0f", err, 0));
        DctcResult d1 = run_dctc(c, o, 1), d3 = run_dctc(c, o, 3);
        bool same = d1.grad == d.grad && d3.grad == d.grad && d1.losses == d.losses && d1.alignment == d.alignment &&
                    std::memcmp(&d1.loss, &d.loss, 8) == 0;
        check(same, tag + ": threads 0, 1, 3 bitwise equal");
      }
    }
  }
}

struct AlignResult {
  seqloss_status status = SEQLOSS_OK;
  std::string message;
  std::vector<int32_t> paths;
  std::vector<float> scores;
};

AlignResult run_align(const Case& c, int threads = 0) {
  AlignResult r;
  r.paths.assign(static_cast<size_t>(c.N) * c.T, -7);
  r.scores.assign(c.N, 7.0f);
  seqloss_problem p = c.problem();
  seqloss_exec e = cpu_exec(threads);
  seqloss_align_outputs out{r.paths.data(), static_cast<int64_t>(r.paths.size()), r.scores.data(), c.N};
  char msg[512];
  r.status = seqloss_ctc_align(&p, &e, &out, nullptr, 0, msg, sizeof msg);
  r.message = msg;
  return r;
}

std::vector<int> collapse(const std::vector<int>& path, int blank) {
  std::vector<int> out;
  int prev = -1;
  for (int k : path) {
    if (k != prev && k != blank) out.push_back(k);
    prev = k;
  }
  return out;
}

void test_align() {
  std::mt19937 rng(53);
  int cases = 0, agree = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Case c = random_ctc_case(rng, 3, 5, 3, 2.0f, trial % 2 ? SEQLOSS_LAYOUT_TNC : SEQLOSS_LAYOUT_NTC,
                             trial % 3 == 0 ? SEQLOSS_INPUT_LOG_PROBS : SEQLOSS_INPUT_LOGITS, true);
    AlignResult a = run_align(c);
    RefCtc ref = ref_ctc(c);
    if (a.status != SEQLOSS_OK) {
      check(false, "ctc_align runs: " + a.message);
      continue;
    }
    for (int n = 0; n < c.N; ++n) {
      const int Tn = c.tn(n);
      std::vector<int> l = labels_of(c, n);
      // Brute force over all C^Tn paths.
      double best = -kInf;
      std::vector<int> best_path;
      std::vector<int> path(Tn, 0);
      int64_t total = 1;
      for (int t = 0; t < Tn; ++t) total *= c.C;
      for (int64_t code = 0; code < total; ++code) {
        int64_t v = code;
        for (int t = 0; t < Tn; ++t) path[t] = static_cast<int>(v % c.C), v /= c.C;
        if (collapse(path, c.blank) != l) continue;
        double sc = 0;
        for (int t = 0; t < Tn; ++t) {
          double x = c.x[c.idx(n, t, path[t])];
          sc += c.input == SEQLOSS_INPUT_LOGITS ? std::log(softmax_at(c, n, t, path[t])) : x;
        }
        if (sc > best) best = sc, best_path = path;
      }
      ++cases;
      std::vector<int> got(a.paths.begin() + static_cast<int64_t>(n) * c.T,
                           a.paths.begin() + static_cast<int64_t>(n) * c.T + Tn);
      bool pad_ok = true;
      for (int t = Tn; t < c.T; ++t) pad_ok = pad_ok && a.paths[static_cast<size_t>(n) * c.T + t] == -1;
      bool ok;
      if (best == -kInf) {
        ok = std::isinf(a.scores[n]) && a.scores[n] < 0 &&
             std::all_of(got.begin(), got.end(), [](int k) { return k == -1; });
      } else {
        ok = got == best_path && std::fabs(a.scores[n] - best) < 1e-5 * (1 + std::fabs(best)) &&
             collapse(got, c.blank) == l && a.scores[n] <= -ref.loss[n] + 1e-5;
      }
      if (ok && pad_ok) ++agree;
    }
  }
  check(agree == cases, fmt("ctc_align = brute force on %g of %g sequences", agree, cases));
}

// seqloss_cuda_plan_call: the plan exists in every build (no device, no data read), is deterministic, and checks its
// request as the call it describes would be checked.
void test_cuda_plan() {
  std::mt19937 rng(67);
  Case c = random_ctc_case(rng, 2, 6, 5, 1.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, false);
  c.blank = 0;
  c.targets = {1, 2, 3};
  c.tl = {2, 1};
  seqloss_problem p = c.problem();
  p.data = nullptr;  // a plan reads no data
  const seqloss_ctc_options o = ctc_opts(SEQLOSS_REDUCTION_MEAN);
  seqloss_cuda_plan_request r{};
  r.op = SEQLOSS_OP_CTC;
  r.outputs = SEQLOSS_PLAN_GRAD;
  r.memory = SEQLOSS_MEMORY_DEVICE;
  r.fp64_ratio = 32;
  r.ctc = &o;
  seqloss_cuda_plan a{}, b{};
  char msg[256] = {0};
  check(seqloss_cuda_plan_call(&p, &r, &a, msg, sizeof msg) == SEQLOSS_OK, std::string("cuda plan: ") + msg);
  check(seqloss_cuda_plan_call(&p, &r, &b, msg, sizeof msg) == SEQLOSS_OK && std::memcmp(&a, &b, sizeof a) == 0,
        "cuda plan: deterministic");
  check(a.steps_count == 5 && std::strcmp(a.steps[0].kernel, "ctc32_stats_kernel") == 0 &&
            std::strcmp(a.steps[4].kernel, "ctc32_patch_kernel") == 0 && a.host_syncs == 1 && a.precision == 32,
        "cuda plan: ctc's five steps");
  double bytes = 0, fp64 = 0;
  for (int i = 0; i < a.steps_count; ++i) {
    bytes += a.steps[i].bytes;
    fp64 += a.steps[i].fp64_state + a.steps[i].fp64_element;
  }
  check(a.elements == 2.0 * 6 * 5 && a.states == 6.0 * (5 + 3) && bytes >= 8 * a.elements && fp64 == 0 &&
            a.workspace_bytes > 0,
        "cuda plan: elements, states, bytes, no FP64 per state or element, a workspace" + std::string(" (") +
            std::to_string(a.elements) + ", " + std::to_string(a.states) + ", " + std::to_string(bytes) + ", " +
            std::to_string(fp64) + ", " + std::to_string(a.workspace_bytes) + ")");
  expect_error("cuda plan: request NULL", SEQLOSS_ERROR_TYPE, "request must not be NULL",
               [&](char* m, size_t ms) { return seqloss_cuda_plan_call(&p, nullptr, &a, m, ms); });
  expect_error("cuda plan: plan NULL", SEQLOSS_ERROR_TYPE, "plan must not be NULL",
               [&](char* m, size_t ms) { return seqloss_cuda_plan_call(&p, &r, nullptr, m, ms); });
  expect_error("cuda plan: op 7", SEQLOSS_ERROR_RANGE, "op must be 0 (CTC), 1 (DCTC), 2 (CTC align) or 3 (ACE), got 7",
               [&](char* m, size_t ms) {
                 seqloss_cuda_plan_request q = r;
                 q.op = 7;
                 return seqloss_cuda_plan_call(&p, &q, &a, m, ms);
               });
  expect_error("cuda plan: fp64_ratio 0", SEQLOSS_ERROR_RANGE, "fp64_ratio must be >= 1, got 0",
               [&](char* m, size_t ms) {
                 seqloss_cuda_plan_request q = r;
                 q.fp64_ratio = 0;
                 return seqloss_cuda_plan_call(&p, &q, &a, m, ms);
               });
  expect_error("cuda plan: outputs 4", SEQLOSS_ERROR_RANGE, "outputs must be a mask", [&](char* m, size_t ms) {
    seqloss_cuda_plan_request q = r;
    q.outputs = 4;
    return seqloss_cuda_plan_call(&p, &q, &a, m, ms);
  });
  expect_error("cuda plan: ctc options NULL", SEQLOSS_ERROR_TYPE, "request.ctc must not be NULL",
               [&](char* m, size_t ms) {
                 seqloss_cuda_plan_request q = r;
                 q.ctc = nullptr;
                 return seqloss_cuda_plan_call(&p, &q, &a, m, ms);
               });
  expect_error("cuda plan: a label out of range", SEQLOSS_ERROR_RANGE, nullptr, [&](char* m, size_t ms) {
    Case d = c;
    d.targets = {1, 9, 3};
    seqloss_problem q = d.problem();
    q.data = nullptr;
    return seqloss_cuda_plan_call(&q, &r, &a, m, ms);
  });
}

void test_new_errors() {
  std::mt19937 rng(61);
  Case base = random_ctc_case(rng, 2, 4, 3, 1.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, false);
  base.blank = 0;
  base.targets = {1, 2, 2};
  base.tl = {2, 1};
  std::vector<float> losses(2), grad(base.x.size()), ctc(2), distill(2), scores(2);
  std::vector<int32_t> alignment(8), paths(8);
  double loss = 0;
  using P = seqloss_problem;
  using D = seqloss_dctc_options;
  using DO = seqloss_dctc_outputs;
  using AO = seqloss_align_outputs;
  auto dctc_err = [&](const std::string& what, seqloss_status want, const char* needle,
                      const std::function<void(P&, D&, DO&)>& mutate) {
    expect_error("dctc " + what, want, needle, [&](char* m, size_t ms) {
      Case c = base;
      P p = c.problem();
      D o = dctc_opts(SEQLOSS_REDUCTION_MEAN, SEQLOSS_DCTC_RATIO, 0.01, 1.0, 1.0, 0.0);
      seqloss_exec e = cpu_exec();
      DO out{
          losses.data(),  2, &loss, grad.data(), static_cast<int64_t>(grad.size()), alignment.data(), 8, ctc.data(), 2,
          distill.data(), 2};
      mutate(p, o, out);
      return seqloss_dctc(&p, &o, &e, &out, nullptr, 0, m, ms);
    });
    if (what.find("out") != std::string::npos) return;
    expect_error("dctc_workspace_size " + what, want, needle, [&](char* m, size_t ms) {
      Case c = base;
      P p = c.problem();
      D o = dctc_opts(SEQLOSS_REDUCTION_MEAN, SEQLOSS_DCTC_RATIO, 0.01, 1.0, 1.0, 0.0);
      seqloss_exec e = cpu_exec();
      DO out{};
      mutate(p, o, out);
      size_t bytes = 0;
      return seqloss_dctc_workspace_size(&p, &o, &e, &bytes, m, ms);
    });
  };
  dctc_err("lambda -1", SEQLOSS_ERROR_RANGE, "lambda must be a finite number >= 0, got -1",
           [](P&, D& o, DO&) { o.lambda = -1; });
  dctc_err("lambda NaN", SEQLOSS_ERROR_RANGE, "lambda must be a finite number >= 0, got NaN",
           [](P&, D& o, DO&) { o.lambda = std::nan(""); });
  dctc_err("ctcWeight inf", SEQLOSS_ERROR_RANGE, "ctcWeight must be a finite number >= 0, got Infinity",
           [](P&, D& o, DO&) { o.ctc_weight = kInf; });
  dctc_err("scale 0", SEQLOSS_ERROR_RANGE, "margin.s must be a number in (0, 1000000], got 0",
           [](P&, D& o, DO&) { o.scale = 0; });
  dctc_err("scale 1e20", SEQLOSS_ERROR_RANGE, "margin.s must be a number in (0, 1000000], got 100000000000000000000",
           [](P&, D& o, DO&) { o.scale = 1e20; });
  dctc_err("margin -0.5", SEQLOSS_ERROR_RANGE, "margin.m must be a number in [0, 1e+30], got -0.5",
           [](P&, D& o, DO&) { o.margin = -0.5; });
  dctc_err("margin 1e31", SEQLOSS_ERROR_RANGE, "margin.m must be a number in [0, 1e+30], got 1e+31",
           [](P&, D& o, DO&) { o.margin = 1e31; });
  dctc_err("alignment 3", SEQLOSS_ERROR_RANGE, "alignment must be 0 (ratio), 1 (posterior) or 2 (viterbi), got 3",
           [](P&, D& o, DO&) { o.alignment = 3; });
  dctc_err("reduction 5", SEQLOSS_ERROR_RANGE, "reduction must be", [](P&, D& o, DO&) { o.reduction = 5; });
  dctc_err("reserved", SEQLOSS_ERROR_RANGE, "options.reserved must be 0", [](P&, D& o, DO&) { o.reserved = 9; });
  dctc_err("logProbs", SEQLOSS_ERROR_RANGE, "input must be 0 (logits) for dctcLoss, got 1",
           [](P& p, D&, DO&) { p.input = SEQLOSS_INPUT_LOG_PROBS; });
  dctc_err("label is the blank", SEQLOSS_ERROR_RANGE, "targets[0] must be a class in [0, 3) other than the blank 0",
           [](P& p, D&, DO&) { const_cast<int32_t*>(p.targets)[0] = 0; });
  dctc_err("out losses NULL", SEQLOSS_ERROR_TYPE, "losses must not be NULL", [](P&, D&, DO& o) { o.losses = nullptr; });
  dctc_err("out alignment short", SEQLOSS_ERROR_RANGE,
           "alignment must hold batch·time = 8 values, got alignment_size = 7",
           [](P&, D&, DO& o) { o.alignment_size = 7; });
  dctc_err("out ctc_losses short", SEQLOSS_ERROR_RANGE, "ctc_losses must hold batch = 2 values",
           [](P&, D&, DO& o) { o.ctc_losses_size = 1; });
  dctc_err("out distill_losses short", SEQLOSS_ERROR_RANGE, "distill_losses must hold batch = 2 values",
           [](P&, D&, DO& o) { o.distill_losses_size = 0; });
  dctc_err("out grad short", SEQLOSS_ERROR_RANGE, "grad must hold batch·time·classes = 24 values",
           [](P&, D&, DO& o) { o.grad_size = 3; });
  expect_error("dctc options NULL", SEQLOSS_ERROR_TYPE, "options must not be NULL", [&](char* m, size_t ms) {
    P p = base.problem();
    seqloss_exec e = cpu_exec();
    DO out{losses.data(), 2, &loss, nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 0};
    return seqloss_dctc(&p, nullptr, &e, &out, nullptr, 0, m, ms);
  });
  {  // optional outputs may all be NULL
    P p = base.problem();
    D o = dctc_opts(SEQLOSS_REDUCTION_SUM, SEQLOSS_DCTC_VITERBI, 0.01, 1.0, 1.0, 0.0);
    seqloss_exec e = cpu_exec();
    DO out{losses.data(), 2, nullptr, nullptr, 0, nullptr, 0, nullptr, 0, nullptr, 0};
    char msg[256];
    check(seqloss_dctc(&p, &o, &e, &out, nullptr, 0, msg, sizeof msg) == SEQLOSS_OK, "dctc with losses only");
  }

  auto align_err = [&](const std::string& what, seqloss_status want, const char* needle,
                       const std::function<void(P&, AO&)>& mutate) {
    expect_error("ctc_align " + what, want, needle, [&](char* m, size_t ms) {
      Case c = base;
      P p = c.problem();
      seqloss_exec e = cpu_exec();
      AO out{paths.data(), 8, scores.data(), 2};
      mutate(p, out);
      return seqloss_ctc_align(&p, &e, &out, nullptr, 0, m, ms);
    });
    if (what.find("out") != std::string::npos) return;
    expect_error("ctc_align_workspace_size " + what, want, needle, [&](char* m, size_t ms) {
      Case c = base;
      P p = c.problem();
      seqloss_exec e = cpu_exec();
      AO out{};
      mutate(p, out);
      size_t bytes = 0;
      return seqloss_ctc_align_workspace_size(&p, &e, &bytes, m, ms);
    });
  };
  align_err("probs", SEQLOSS_ERROR_RANGE, "input must be 0 (logits) or 1 (logProbs) for ctcAlign, got 2",
            [](P& p, AO&) { p.input = SEQLOSS_INPUT_PROBS; });
  align_err("label too large", SEQLOSS_ERROR_RANGE, "targets[2] must be a class in [0, 3)",
            [](P& p, AO&) { const_cast<int32_t*>(p.targets)[2] = 3; });
  align_err("inputLengths over T", SEQLOSS_ERROR_RANGE, "inputLengths[0] must be an integer in [0, 4], got 9",
            [](P& p, AO&) {
              static int32_t il[2] = {9, 1};
              p.input_lengths = il;
              p.input_lengths_size = 2;
            });
  align_err("data size", SEQLOSS_ERROR_RANGE, "logits.length must be", [](P& p, AO&) { p.data_size = 1; });
  align_err("out paths NULL", SEQLOSS_ERROR_TYPE, "paths must not be NULL", [](P&, AO& o) { o.paths = nullptr; });
  align_err("out scores NULL", SEQLOSS_ERROR_TYPE, "scores must not be NULL", [](P&, AO& o) { o.scores = nullptr; });
  align_err("out paths short", SEQLOSS_ERROR_RANGE, "paths must hold batch·time = 8 values, got paths_size = 5",
            [](P&, AO& o) { o.paths_size = 5; });
  align_err("out scores short", SEQLOSS_ERROR_RANGE, "scores must hold batch = 2 values",
            [](P&, AO& o) { o.scores_size = 1; });
  const CudaState cuda = cuda_state();
  if (cuda.devices == 0) {
    expect_error("ctc_align on cuda", cuda.unavailable, "CUDA", [&](char* m, size_t ms) {
      P p = base.problem();
      seqloss_exec e = cpu_exec();
      e.backend = SEQLOSS_BACKEND_CUDA;
      AO out{paths.data(), 8, scores.data(), 2};
      return seqloss_ctc_align(&p, &e, &out, nullptr, 0, m, ms);
    });
  }
}

// Outputs sharing memory with an input or another output: a RANGE error naming both, before anything is written
// (the labels survive), for every operation.
void test_aliasing() {
  std::mt19937 rng(71);
  Case c = random_ctc_case(rng, 2, 4, 3, 1.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, false);
  c.blank = 0;
  c.targets = {1, 2};
  c.tl = {1, 1};
  c.il = {4, 4};
  c.use_il = true;
  // One arena: the gradient (24 floats) placed over the labels, the lengths or the losses.
  std::vector<float> arena(64);
  std::vector<float> losses(2), grad(48), posterior(24);  // grad holds room for a posterior placed over its end
  double loss = 0;
  auto ctc_alias = [&](const char* what, const char* needle,
                       const std::function<void(seqloss_problem&, seqloss_ctc_outputs&)>& place) {
    expect_error(std::string("alias ") + what, SEQLOSS_ERROR_RANGE, needle, [&](char* m, size_t ms) {
      seqloss_problem p = c.problem();
      seqloss_ctc_options o{};
      o.reduction = SEQLOSS_REDUCTION_SUM;
      seqloss_exec e = cpu_exec();
      seqloss_ctc_outputs out{losses.data(), 2, &loss, grad.data(), 24, posterior.data(), 24};
      place(p, out);
      return seqloss_ctc(&p, &o, &e, &out, nullptr, 0, m, ms);
    });
  };
  auto* ints = reinterpret_cast<int32_t*>(arena.data());
  ctc_alias("grad over targets", "grad must share no memory with targets",
            [&](seqloss_problem& p, seqloss_ctc_outputs& out) {
              ints[0] = 1, ints[1] = 2;
              p.targets = ints;
              out.grad = arena.data();
            });
  ctc_alias("grad over targetLengths", "grad must share no memory with targetLengths",
            [&](seqloss_problem& p, seqloss_ctc_outputs& out) {
              ints[30] = 1, ints[31] = 1;
              p.target_lengths = ints + 30;
              out.grad = arena.data() + 10;
            });
  ctc_alias("posterior over inputLengths", "posterior must share no memory with inputLengths",
            [&](seqloss_problem& p, seqloss_ctc_outputs& out) {
              ints[40] = 4, ints[41] = 4;
              p.input_lengths = ints + 40;
              out.posterior = arena.data() + 20;
            });
  ctc_alias("grad over logits", "grad must share no memory with logits",
            [&](seqloss_problem& p, seqloss_ctc_outputs& out) { out.grad = const_cast<float*>(p.data) + 1; });
  ctc_alias("posterior over grad", "posterior must share no memory with grad",
            [&](seqloss_problem&, seqloss_ctc_outputs& out) { out.posterior = grad.data() + 23; });
  ctc_alias("losses inside grad", "grad must share no memory with losses",
            [&](seqloss_problem&, seqloss_ctc_outputs& out) { out.losses = grad.data() + 3; });
  ctc_alias(
      "loss inside posterior", "posterior must share no memory with loss",
      [&](seqloss_problem&, seqloss_ctc_outputs& out) { out.loss = reinterpret_cast<double*>(posterior.data() + 2); });
  check(ints[0] == 1 && ints[1] == 2 && ints[30] == 1 && ints[40] == 4, "alias: the inputs are left as they were");

  // ACE: the gradient over the counts.
  Case a = c;
  a.counts = {0, 1, 1, 0, 1, 0};
  expect_error("alias ace grad over counts", SEQLOSS_ERROR_RANGE, "grad must share no memory with counts",
               [&](char* m, size_t ms) {
                 seqloss_problem p = a.problem();
                 std::vector<float> shared(30);
                 std::copy(a.counts.begin(), a.counts.end(), shared.begin());
                 p.counts = shared.data();
                 seqloss_ace_options o{SEQLOSS_REDUCTION_SUM, SEQLOSS_ACE_CE, 0.0};
                 seqloss_exec e = cpu_exec();
                 seqloss_ace_outputs out{losses.data(), 2, &loss, shared.data() + 4, 24};
                 std::vector<float> big(40);
                 std::copy(a.counts.begin(), a.counts.end(), big.begin());
                 p.counts = big.data();
                 out.grad = big.data() + 5;
                 return seqloss_ace(&p, &o, &e, &out, nullptr, 0, m, ms);
               });
  // Decoders and counting: outputs over the input lengths, and over each other.
  expect_error("alias greedy lengths over labels", SEQLOSS_ERROR_RANGE, "lengths must share no memory with labels",
               [&](char* m, size_t ms) {
                 seqloss_problem p = c.problem();
                 seqloss_exec e = cpu_exec();
                 std::vector<int32_t> labels(8);
                 return seqloss_ctc_greedy_decode(&p, &e, labels.data(), 8, labels.data() + 6, 2, m, ms);
               });
  expect_error("alias count expected over logits", SEQLOSS_ERROR_RANGE, "expected must share no memory with logits",
               [&](char* m, size_t ms) {
                 seqloss_problem p = c.problem();
                 seqloss_exec e = cpu_exec();
                 return seqloss_ace_count(&p, &e, const_cast<float*>(p.data), 6, nullptr, 0, m, ms);
               });
  expect_error("alias align paths over targets", SEQLOSS_ERROR_RANGE, "paths must share no memory with targets",
               [&](char* m, size_t ms) {
                 seqloss_problem p = c.problem();
                 std::vector<int32_t> both(16, 1);
                 p.targets = both.data() + 8;
                 seqloss_exec e = cpu_exec();
                 std::vector<float> scores(2);
                 seqloss_align_outputs out{both.data() + 2, 8, scores.data(), 2};
                 return seqloss_ctc_align(&p, &e, &out, nullptr, 0, m, ms);
               });
}

// ---- numerics at the extremes (README, "Numerics at the extremes"; D2-D4 at the ABI) ---------------------------

// The number of CTC alignments of length T collapsing to l (no repeats needed here), as a double.
double count_alignments(int T, const std::vector<int32_t>& l) {
  const int S = 2 * static_cast<int>(l.size()) + 1;
  auto cls = [&](int s) { return (s & 1) ? l[(s - 1) / 2] : -1; };
  std::vector<double> a(S, 0.0);
  a[0] = 1;
  if (S > 1) a[1] = 1;
  for (int t = 1; t < T; ++t) {
    std::vector<double> b(S, 0.0);
    for (int s = 0; s < S; ++s) {
      b[s] = a[s] + (s >= 1 ? a[s - 1] : 0) + (s >= 2 && cls(s) != -1 && cls(s) != cls(s - 2) ? a[s - 2] : 0);
    }
    a = b;
  }
  return S == 1 ? a[0] : a[S - 1] + a[S - 2];
}

void test_numerics_extremes() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto all_of = [](const std::vector<float>& v, size_t from, size_t to, auto pred) {
    for (size_t i = from; i < to; ++i) {
      if (!pred(v[i])) return false;
    }
    return true;
  };
  auto is_nan = [](float v) { return v != v; };
  auto is_zero = [](float v) { return v == 0.0f; };
  auto finite = [](float v) { return std::isfinite(v); };

  // D1/D2: logits all -3e38 (and +3e38): T ln C - ln #alignments.
  for (float v : {-3e38f, 3e38f}) {
    Case c;
    c.N = 1, c.T = 12, c.C = 6;
    c.x.assign(12 * 6, v);
    c.targets = {1, 2, 3, 2};
    c.tl = {4};
    CtcResult r = run_ctc(c, ctc_opts());
    const double want = 12 * std::log(6.0) - std::log(count_alignments(12, c.targets));
    check(r.status == SEQLOSS_OK && close(r.loss, want, 1e-12), fmt("logits all %g: loss %.12g", v, r.loss));
    AlignResult a = run_align(c);
    check(a.status == SEQLOSS_OK && close(a.scores[0], -12 * std::log(6.0), 1e-6),
          fmt("logits all %g: align score %.9g", v, a.scores[0]));
  }

  // D2: one label class at logit -1e30 on every frame: +inf, zero rows (0 with zero_infinity).
  {
    Case c;
    c.N = 2, c.T = 6, c.C = 5;
    c.x.resize(2 * 6 * 5);
    for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = static_cast<float>(std::sin(static_cast<double>(i)));
    for (int t = 0; t < 6; ++t) c.x[c.idx(0, t, 3)] = -1e30f;
    c.targets = {1, 3, 2};
    c.tl = {2, 1};
    for (int zi = 0; zi <= 1; ++zi) {
      CtcResult r = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_SUM, zi));
      check(r.losses[0] == (zi ? 0.0f : inf) && std::isfinite(r.losses[1]) && r.losses[1] > 0,
            fmt("-1e30 label class: losses %g, %g", r.losses[0], r.losses[1]));
      check(all_of(r.grad, 0, 30, is_zero) && all_of(r.posterior, 0, 30, is_zero), "-1e30 label class: zero rows");
    }
  }

  // D2: logits +-3e38: a label class 6e38 below the frame max is impossible; a path on the maxima costs 0.
  {
    Case c;
    c.N = 2, c.T = 4, c.C = 3;
    const int maxima[2][4] = {{0, 0, 0, 0}, {1, 0, 2, 0}};
    for (int n = 0; n < 2; ++n) {
      for (int t = 0; t < 4; ++t) {
        for (int k = 0; k < 3; ++k) c.x.push_back(k == maxima[n][t] ? 3e38f : -3e38f);
      }
    }
    c.targets = {1, 1, 2};
    c.tl = {1, 2};
    CtcResult r = run_ctc(c, ctc_opts());
    check(r.losses[0] == inf && r.losses[1] == 0.0f, fmt("+-3e38: losses %g, %g", r.losses[0], r.losses[1]));
    check(all_of(r.grad, 0, r.grad.size(), is_zero), "+-3e38: zero gradient");
  }

  // D2: beyond float32: log-probs all -3e38, T = 2, C = 2, l = [1]: +inf in losses, 6e38 - ln 3 in loss.
  {
    Case c;
    c.N = 1, c.T = 2, c.C = 2, c.input = SEQLOSS_INPUT_LOG_PROBS;
    c.x.assign(4, -3e38f);
    c.targets = {1};
    c.tl = {1};
    CtcResult r = run_ctc(c, ctc_opts());
    const double want = -2.0 * static_cast<double>(-3e38f) - std::log(3.0);
    check(r.losses[0] == inf && close(r.loss, want, 1e-15), fmt("beyond float32: %g, %.17g", r.losses[0], r.loss));
  }

  // D3: NaN, +inf, a logits frame of -inf in t < T_n: NaN losses and rows; t >= T_n ignored; no UB (UBSan).
  {
    Case c;
    c.N = 4, c.T = 5, c.C = 4, c.use_il = true;
    c.il = {5, 5, 3, 2};
    c.x.resize(4 * 5 * 4);
    for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = static_cast<float>(std::cos(0.7 * static_cast<double>(i)));
    c.x[c.idx(0, 2, 3)] = nan;
    c.x[c.idx(1, 1, 0)] = inf;
    c.x[c.idx(2, 4, 1)] = nan;  // t >= T_2
    for (int k = 0; k < 4; ++k) c.x[c.idx(3, 1, k)] = -inf;
    c.targets = {1, 2, 2, 3, 1, 2, 3, 1, 2};
    c.tl = {2, 1, 1, 5};
    for (int zi = 0; zi <= 1; ++zi) {
      CtcResult r = run_ctc(c, ctc_opts(SEQLOSS_REDUCTION_MEAN, zi));
      check(is_nan(r.losses[0]) && is_nan(r.losses[1]) && std::isfinite(r.losses[2]) && is_nan(r.losses[3]) &&
                std::isnan(r.loss),
            fmt("NaN inputs: losses %g, %g", r.losses[0], r.losses[2]));
      check(all_of(r.grad, 0, 40, is_nan) && all_of(r.posterior, 0, 40, is_nan), "NaN inputs: NaN rows");
      check(all_of(r.grad, 40, 52, finite) && all_of(r.grad, 52, 60, is_zero),
            "NaN inputs: a NaN at t >= T_n is ignored");
      check(all_of(r.grad, 60, 68, is_nan) && all_of(r.grad, 68, 80, is_zero), "NaN inputs: rows t >= T_n stay 0");
    }
    AlignResult a = run_align(c);
    check(is_nan(a.scores[0]) && is_nan(a.scores[1]) && std::isfinite(a.scores[2]) && is_nan(a.scores[3]),
          "NaN inputs: align scores");
    bool rows = true;
    for (int t = 0; t < 5; ++t) rows = rows && a.paths[t] == -1 && a.paths[5 + t] == -1;
    check(rows, "NaN inputs: align rows of -1");
    for (int mode = 0; mode <= 2; ++mode) {
      DctcResult d = run_dctc(c, dctc_opts(SEQLOSS_REDUCTION_SUM, mode, 0.5, 1.0, 1.0, 0.0));
      check(d.status == SEQLOSS_OK && is_nan(d.losses[0]) && is_nan(d.ctc[0]) && is_nan(d.distill[0]) &&
                is_nan(d.losses[3]) && std::isfinite(d.losses[2]),
            fmt("NaN inputs: DCTC mode %g losses (%g)", mode, d.losses[0]));
      bool z = true;
      for (int t = 0; t < 5; ++t) z = z && d.alignment[t] == 0 && d.alignment[15 + t] == (t < 2 ? 0 : -1);
      check(z && all_of(d.grad, 0, 40, is_nan) && all_of(d.grad, 60, 68, is_nan), "NaN inputs: DCTC rows, z* = blank");
    }
  }

  // D4: logits with a near-certain alignment: -ln p >= 0 (a rounding artefact below 0 is 0).
  {
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    bool ok = true;
    for (int trial = 0; trial < 30; ++trial) {
      Case c;
      c.N = 1, c.T = 1 + trial % 17, c.C = 2 + trial % 4;
      const int lab = 1 + trial % (c.C - 1);
      for (int t = 0; t < c.T; ++t) {
        for (int k = 0; k < c.C; ++k) c.x.push_back((t == 0 ? k == lab : k == 0) ? 20 + 30 * u(rng) : -20 * u(rng));
      }
      c.targets = {lab};
      c.tl = {1};
      CtcResult r = run_ctc(c, ctc_opts());
      DctcResult d = run_dctc(c, dctc_opts(SEQLOSS_REDUCTION_SUM, SEQLOSS_DCTC_RATIO, 0.01, 1.0, 1.0, 0.0));
      ok = ok && r.losses[0] >= 0 && r.loss >= 0 && d.ctc[0] >= 0;
    }
    check(ok, "near-certain logits: losses >= 0");
  }
}

// ---- thread pools ----------------------------------------------------------------------------------------------

// One CPU call of each kind (CTC with grad and posterior, ACE, decoders) on exec `e`; everything they write.
struct PoolRun {
  std::vector<float> ctc_losses, ctc_grad, ctc_post, ace_losses, ace_grad, expected;
  std::vector<int32_t> labels, lengths, rounded;
  double ctc_loss = 0, ace_loss = 0;
  bool ok = true;
  bool operator==(const PoolRun& o) const {
    return ok && o.ok && std::memcmp(&ctc_loss, &o.ctc_loss, sizeof ctc_loss) == 0 &&
           std::memcmp(&ace_loss, &o.ace_loss, sizeof ace_loss) == 0 && ctc_losses == o.ctc_losses &&
           std::memcmp(ctc_grad.data(), o.ctc_grad.data(), ctc_grad.size() * 4) == 0 &&
           std::memcmp(ctc_post.data(), o.ctc_post.data(), ctc_post.size() * 4) == 0 && ace_losses == o.ace_losses &&
           std::memcmp(ace_grad.data(), o.ace_grad.data(), ace_grad.size() * 4) == 0 && expected == o.expected &&
           labels == o.labels && lengths == o.lengths && rounded == o.rounded;
  }
};

PoolRun pool_run(const Case& c, const seqloss_exec& e) {
  PoolRun r;
  const size_t n = c.x.size();
  r.ctc_losses.assign(c.N, -1.0f);
  r.ctc_grad.assign(n, -7.0f);
  r.ctc_post.assign(n, -7.0f);
  r.ace_losses.assign(c.N, -1.0f);
  r.ace_grad.assign(n, -7.0f);
  r.expected.assign(static_cast<size_t>(c.N) * c.C, -1.0f);
  r.rounded.assign(static_cast<size_t>(c.N) * c.C, -1);
  r.labels.assign(static_cast<size_t>(c.N) * c.T, -1);
  r.lengths.assign(c.N, -1);
  seqloss_problem p = c.problem();
  seqloss_ctc_options co = ctc_opts(SEQLOSS_REDUCTION_MEAN);
  seqloss_ctc_outputs out{
      r.ctc_losses.data(),    c.N, &r.ctc_loss, r.ctc_grad.data(), static_cast<int64_t>(n), r.ctc_post.data(),
      static_cast<int64_t>(n)};
  r.ok &= seqloss_ctc(&p, &co, &e, &out, nullptr, 0, nullptr, 0) == SEQLOSS_OK;
  seqloss_ace_options ao = ace_opts(SEQLOSS_REDUCTION_MEAN);
  seqloss_ace_outputs aout{r.ace_losses.data(), c.N, &r.ace_loss, r.ace_grad.data(), static_cast<int64_t>(n)};
  r.ok &= seqloss_ace(&p, &ao, &e, &aout, nullptr, 0, nullptr, 0) == SEQLOSS_OK;
  const int64_t nt = static_cast<int64_t>(c.N) * c.T, nc = static_cast<int64_t>(c.N) * c.C;
  r.ok &= seqloss_ctc_greedy_decode(&p, &e, r.labels.data(), nt, r.lengths.data(), c.N, nullptr, 0) == SEQLOSS_OK;
  r.ok &= seqloss_ace_count(&p, &e, r.expected.data(), nc, r.rounded.data(), nc, nullptr, 0) == SEQLOSS_OK;
  return r;
}

// A case above the inline threshold (kInlineWork), so that its calls really run on several threads.
Case pool_case(std::mt19937& rng) {
  Case c = random_ctc_case(rng, 24, 40, 30, 3.0f, SEQLOSS_LAYOUT_TNC, SEQLOSS_INPUT_LOGITS, true);
  c.counts.assign(static_cast<size_t>(c.N) * c.C, 0.0f);
  int64_t off = 0;
  for (int n = 0; n < c.N; ++n) {
    for (int j = 0; j < c.tl[n]; ++j) c.counts[static_cast<size_t>(n) * c.C + c.targets[off + j]] += 1;
    off += c.tl[n];
  }
  return c;
}

void test_pool() {
  // Creation and its errors.
  char msg[512];
  seqloss_pool* bad = reinterpret_cast<seqloss_pool*>(&msg);
  check(seqloss_pool_create(2, nullptr, msg, sizeof msg) == SEQLOSS_ERROR_TYPE, "pool: NULL out pointer");
  check(seqloss_pool_create(-1, &bad, msg, sizeof msg) == SEQLOSS_ERROR_RANGE && bad == nullptr &&
            std::strstr(msg, "threads") != nullptr,
        "pool: threads < 0 is a RANGE error naming threads, *pool = NULL");
  check(seqloss_pool_create(100000, &bad, msg, sizeof msg) == SEQLOSS_ERROR_RANGE, "pool: threads > 1024");
  seqloss_pool_release(nullptr);  // a no-op
  seqloss_pool *p1 = nullptr, *p3 = nullptr, *p0 = nullptr;
  check(seqloss_pool_create(1, &p1, msg, sizeof msg) == SEQLOSS_OK && p1 != nullptr && msg[0] == '\0', "pool: 1");
  check(seqloss_pool_create(3, &p3, msg, sizeof msg) == SEQLOSS_OK && p3 != nullptr, "pool: 3 threads");
  check(seqloss_pool_create(0, &p0, nullptr, 0) == SEQLOSS_OK && p0 != nullptr, "pool: hardware threads");

  // With and without a pool, any thread count: the same bits. Small calls (inline) as well.
  std::mt19937 rng(4242);
  const Case c = pool_case(rng);
  const PoolRun want = pool_run(c, cpu_exec(1));
  check(want.ok, "pool: reference run");
  for (int threads : {0, 2, 3, 7}) {
    seqloss_exec e = cpu_exec(threads);
    check(pool_run(c, e) == want, "pool: threads per call (no pool), threads " + std::to_string(threads));
    for (seqloss_pool* p : {p1, p3, p0}) {
      e.pool = p;
      check(pool_run(c, e) == want, "pool: with a pool, threads " + std::to_string(threads));
    }
  }
  Case small = random_ctc_case(rng, 3, 5, 4, 2.0f, SEQLOSS_LAYOUT_NTC, SEQLOSS_INPUT_LOGITS, false);
  small.counts.assign(static_cast<size_t>(small.N) * small.C, 0.0f);
  seqloss_exec es = cpu_exec(3);
  es.pool = p3;
  check(pool_run(small, es) == pool_run(small, cpu_exec(1)), "pool: a small call (inline) gives the same bits");

  // Several host threads on one pool at once: every call's own bits, no deadlock.
  {
    std::vector<std::thread> callers;
    std::vector<int> good(4, 0);
    for (int i = 0; i < 4; ++i) {
      callers.emplace_back([&, i] {
        seqloss_exec e = cpu_exec(i == 0 ? 0 : 3);
        e.pool = p3;
        for (int rep = 0; rep < 6; ++rep) good[static_cast<size_t>(i)] += pool_run(c, e) == want ? 1 : 0;
      });
    }
    for (auto& t : callers) t.join();
    for (int i = 0; i < 4; ++i)
      check(good[static_cast<size_t>(i)] == 6, "pool: concurrent caller " + std::to_string(i));
  }

  // A call made from inside a job of the same pool (on its workers and on its caller) runs inline.
  {
    struct Nest {
      const Case* c;
      seqloss_pool* pool;
      const PoolRun* want;
      std::atomic<int> good{0};
    } nest{&c, p3, &want};
    auto fn = [](void* ctx, int, int) {
      Nest& n = *static_cast<Nest*>(ctx);
      seqloss_exec e = cpu_exec(3);
      e.pool = n.pool;
      if (pool_run(*n.c, e) == *n.want) n.good.fetch_add(1);
    };
    p3->pool.run(3, fn, &nest);
    check(nest.good.load() == p3->pool.size(), "pool: nested calls complete inline with the same bits");
  }

  // The creator's reference released while a call holds its own: the call completes, the last release (at the
  // end of the call's scope, on the calling thread) joins the workers.
  {
    seqloss_pool* pr = nullptr;
    check(seqloss_pool_create(3, &pr, nullptr, 0) == SEQLOSS_OK, "pool: create for release");
    std::atomic<int> stage{0};
    bool same = false;
    std::thread caller([&] {
      seqloss::cpu::PoolScope hold(pr, nullptr);  // what a call's entry takes
      stage.store(1);
      while (stage.load() != 2) std::this_thread::yield();
      seqloss_exec e = cpu_exec(3);
      e.pool = pr;
      same = pool_run(c, e) == want;
    });
    while (stage.load() != 1) std::this_thread::yield();
    seqloss_pool_release(pr);  // the creator's reference
    stage.store(2);
    caller.join();
    check(same, "pool: a call outlives the creator's release");
  }
  // seqloss_pool_retain: a reference for queued work, taken by the queueing thread and dropped by the worker.
  {
    seqloss_pool* pr = nullptr;
    check(seqloss_pool_create(2, &pr, nullptr, 0) == SEQLOSS_OK, "pool: create for retain");
    seqloss_pool_retain(nullptr);  // a no-op
    seqloss_pool_retain(pr);       // for the queued work
    bool same = false;
    std::thread queued([&] {
      seqloss_exec e = cpu_exec(2);
      e.pool = pr;
      same = pool_run(c, e) == want;
      seqloss_pool_release(pr);  // the work's reference: the last one when the creator's went first
    });
    seqloss_pool_release(pr);  // the creator's, possibly before the work has started
    queued.join();
    check(same, "pool: retained for queued work");
  }
  // Release while a call runs on another thread (the creator's reference dropped as soon as the call started).
  {
    seqloss_pool* pr = nullptr;
    check(seqloss_pool_create(2, &pr, nullptr, 0) == SEQLOSS_OK, "pool: create for release 2");
    std::atomic<bool> go{false};
    bool same = false;
    std::thread caller([&] {
      seqloss::cpu::PoolScope hold(pr, nullptr);
      go.store(true);
      seqloss_exec e = cpu_exec(2);
      e.pool = pr;
      for (int rep = 0; rep < 3; ++rep) same = pool_run(c, e) == want;
    });
    while (!go.load()) std::this_thread::yield();
    seqloss_pool_release(pr);
    caller.join();
    check(same, "pool: released while calls run");
  }

  seqloss_pool_release(p1);
  seqloss_pool_release(p3);
  seqloss_pool_release(p0);
}

int main() {
  std::mt19937 rng(2024);
  test_discovery();
  test_ctc_closed_forms();
  test_ctc_impossible();
  test_ctc_reference(rng);
  test_ctc_extremes();
  test_ctc_finite_differences();
  test_ctc_layouts_and_inputs();
  test_ace_closed_forms();
  test_ace_reference(rng);
  test_ace_finite_differences();
  test_decoders();
  test_determinism();
  test_errors();
  test_fit();
  test_dctc();
  test_align();
  test_new_errors();
  test_cuda_plan();
  test_aliasing();
  test_numerics_extremes();
  test_pool();
  std::printf("abi_test: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
