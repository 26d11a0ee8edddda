// labels_test.cc — the host side of the CUDA label operations (cuda/labels.h), which needs no GPU: the extended
// labels, compact classes, per-state tables, per-class state lists, buffer offsets and batch class lists that the
// kernels index with, checked against a direct recomputation on random batches (repeats, blank anywhere, zero and
// infeasible lengths).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../../cuda/labels.h"
#include "check.h"
#include "seqloss.h"

namespace {

struct Batch {
  int32_t N, T, C, blank;
  std::vector<int32_t> il, tl, targets;
  seqloss_problem problem() const {
    seqloss_problem p;
    std::memset(&p, 0, sizeof p);
    p.batch = N;
    p.time = T;
    p.classes = C;
    p.blank = blank;
    p.input_lengths = il.data();
    p.input_lengths_size = N;
    p.targets = targets.data();
    p.targets_size = static_cast<int64_t>(targets.size());
    p.target_lengths = tl.data();
    p.target_lengths_size = N;
    return p;
  }
};

Batch random_batch(std::mt19937& rng) {
  Batch b;
  b.N = 1 + static_cast<int32_t>(rng() % 6);
  b.T = 1 + static_cast<int32_t>(rng() % 20);
  b.C = 2 + static_cast<int32_t>(rng() % 8);
  b.blank = static_cast<int32_t>(rng() % static_cast<unsigned>(b.C));
  for (int n = 0; n < b.N; ++n) {
    const int32_t tn = static_cast<int32_t>(rng() % static_cast<unsigned>(b.T + 1));
    const int32_t L = static_cast<int32_t>(rng() % static_cast<unsigned>(tn + 3));
    b.il.push_back(tn);
    b.tl.push_back(L);
    for (int i = 0; i < L; ++i) {
      int32_t k;
      do { k = static_cast<int32_t>(rng() % static_cast<unsigned>(b.C)); } while (k == b.blank);
      b.targets.push_back(k);
    }
  }
  return b;
}

void check_plan(const Batch& b, bool batch_classes, const std::string& at) {
  const seqloss_problem p = b.problem();
  const seqloss::cuda::LabelPlan q = seqloss::cuda::plan_labels(p, batch_classes);
  int64_t rows = 0, y = 0, a = 0, st = 0, u = 0, lab_at = 0;
  for (int32_t n = 0; n < b.N; ++n) {
    const std::string w = at + " n=" + std::to_string(n);
    const int32_t Tn = b.il[n], L = b.tl[n];
    const int32_t* lab = b.targets.data() + lab_at;
    lab_at += L;
    int32_t repeats = 0;
    for (int i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1] ? 1 : 0;
    const bool feasible = L + repeats <= Tn;
    check(q.Tn[n] == Tn && q.L[n] == L, "lengths " + w);
    check(q.roff[n] == rows && q.yoff[n] == y && q.aoff[n] == a && q.soff[n] == st && q.uoff[n] == u, "offsets " + w);
    rows += Tn;
    check(q.feasible(n) == feasible, "feasibility " + w);
    if (!feasible) {
      check(q.S[n] == 0 && q.U[n] == 0, "infeasible: no states " + w);
      continue;
    }
    const int32_t S = 2 * L + 1;
    check(q.S[n] == S, "S " + w);
    std::vector<int32_t> order;  // distinct classes in order of first appearance, blank first
    for (int s = 0; s < S; ++s) {
      const int32_t c = (s & 1) != 0 ? lab[(s - 1) / 2] : b.blank;
      if (std::find(order.begin(), order.end(), c) == order.end()) order.push_back(c);
    }
    const int32_t U = static_cast<int32_t>(order.size());
    check(q.U[n] == U, "U " + w);
    for (int32_t j = 0; j < U; ++j) {
      check(q.ucls[static_cast<size_t>(u + j)] == order[static_cast<size_t>(j)], "compact class " + w);
      check(q.cseq[static_cast<size_t>(u + j)] == n, "cseq " + w);
      const int32_t count = static_cast<int32_t>(std::count(lab, lab + L, order[static_cast<size_t>(j)]));
      check(q.ncount[static_cast<size_t>(u + j)] == (j == 0 ? 0 : count), "ncount " + w);
      // The label states of class j, in state order (none for the blank).
      std::vector<int32_t> want;
      for (int s = 1; s < S; s += 2) {
        if (j > 0 && lab[(s - 1) / 2] == order[static_cast<size_t>(j)]) want.push_back(s);
      }
      const std::vector<int32_t> got(q.cs_state.begin() + q.cs_start[static_cast<size_t>(u + j)],
                                     q.cs_state.begin() + q.cs_start[static_cast<size_t>(u + j + 1)]);
      check(got == want, "class states " + w);
    }
    check(q.ucls[static_cast<size_t>(u)] == b.blank, "blank is compact class 0 " + w);
    for (int s = 0; s < S; ++s) {
      const int32_t c = (s & 1) != 0 ? lab[(s - 1) / 2] : b.blank;
      const int32_t j = q.cidx[static_cast<size_t>(st + s)];
      check(j >= 0 && j < U && q.ucls[static_cast<size_t>(u + j)] == c, "state class " + w);
      const bool skip = (s & 1) != 0 && s >= 3 && lab[(s - 1) / 2] != lab[(s - 3) / 2];
      check((q.skip[static_cast<size_t>(st + s)] != 0) == skip, "skip " + w);
    }
    y += static_cast<int64_t>(Tn) * U;
    a += static_cast<int64_t>(Tn) * S;
    st += S;
    u += U;
  }
  check(q.rows == rows && q.roff[static_cast<size_t>(b.N)] == rows && q.ytotal == y && q.atotal == a &&
            q.stotal == st && q.utotal == u,
        "totals " + at);
  // The α lattice's checkpoints: every frame when the lattice is at most a quarter of the logits' bytes, else every
  // ⌈√T_max⌉-th; ⌈T_n / ck⌉ rows of S per sequence.
  int32_t tmax = 0;
  for (int32_t n = 0; n < b.N; ++n) tmax = std::max(tmax, b.il[n]);
  int32_t ck = 1;
  if (12.0 * static_cast<double>(a) > static_cast<double>(b.N) * b.T * b.C) {
    while (static_cast<int64_t>(ck) * ck < tmax) ++ck;
  }
  check(q.ck == ck && q.tmax == tmax, "checkpoint interval " + at + " (" + std::to_string(q.ck) + ")");
  int64_t c = 0;
  for (int32_t n = 0; n < b.N; ++n) {
    check(q.coff[static_cast<size_t>(n)] == c, "checkpoint offsets " + at);
    c += static_cast<int64_t>((b.il[n] + ck - 1) / ck) * q.S[static_cast<size_t>(n)];
  }
  check(q.ctotal == c, "checkpoint total " + at);
  // A plan filled over another one (HostScratch reuses them) is the plan made afresh, and leaves cmap all −1.
  seqloss::cuda::LabelPlan r;
  seqloss::cuda::plan_labels(p, !batch_classes, &r);
  seqloss::cuda::plan_labels(p, batch_classes, &r);
  check(r.ucls == q.ucls && r.cidx == q.cidx && r.skip == q.skip && r.cs_state == q.cs_state &&
            r.cs_start == q.cs_start && r.bitem == q.bitem && r.bclass == q.bclass && r.coff == q.coff &&
            r.ytotal == q.ytotal && r.ck == q.ck,
        "a reused plan equals a fresh one " + at);
  check(std::all_of(r.cmap.begin(), r.cmap.end(), [](int32_t v) { return v == -1; }), "cmap reset " + at);
  if (batch_classes) {
    // Every compact class of the batch appears once, under its class, in increasing global order.
    std::vector<int> seen(static_cast<size_t>(q.utotal), 0);
    check(std::is_sorted(q.bclass.begin(), q.bclass.end()) &&
              std::set<int32_t>(q.bclass.begin(), q.bclass.end()).size() == q.bclass.size(),
          "batch classes sorted and distinct " + at);
    for (size_t i = 0; i < q.bclass.size(); ++i) {
      for (int32_t k = q.bstart[i]; k < q.bstart[i + 1]; ++k) {
        const int32_t g = q.bitem[static_cast<size_t>(k)];
        seen[static_cast<size_t>(g)]++;
        check(q.ucls[static_cast<size_t>(g)] == q.bclass[i], "batch item class " + at);
        if (k > q.bstart[i]) check(q.bitem[static_cast<size_t>(k - 1)] < g, "batch items in order " + at);
      }
    }
    check(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }), "every compact class once " + at);
  } else {
    check(q.bclass.empty() && q.bitem.empty(), "no batch lists unless asked " + at);
  }
}

}  // namespace

int main() {
  std::mt19937 rng(99);
  for (int i = 0; i < 400; ++i) {
    const Batch b = random_batch(rng);
    check_plan(b, i % 2 == 0, "batch " + std::to_string(i));
  }
  std::printf("labels_test: %d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
