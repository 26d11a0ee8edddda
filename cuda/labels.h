// labels.h — the host side of the label-driven CUDA operations (CTC, DCTC, ctcAlign): from the host-memory
// lengths and targets, the per-sequence layout of the extended labels and the offsets of every per-sequence
// buffer, built once per call and copied to the device in one piece. Plain C++ (no device code).
//
// For sequence n with T_n frames and L labels: S = 2L + 1 states of l' = (blank, l_1, blank, ..., l_L, blank),
// U distinct ("compact") classes, blank first, in order of first appearance; state s emits compact class
// cidx[s]. A sequence whose label cannot fit (L + repeats > T_n) is statically infeasible: S = U = 0, no buffer,
// no work (its loss is +inf, its rows zero). Every sequence with T_n > 0 has T_n rows of row statistics.
//
// The α lattice (what the backward recursion reads of the forward one) keeps every ck-th frame of each sequence,
// checkpoints from which beta32 recomputes the frames between them, ck at a time (Griewank's checkpointing, one
// level): ck = 1, the whole lattice, when it takes at most a quarter of the logits' bytes (12 Σ T_n S_n <= N·T·C);
// else ck = ⌈√T_max⌉, which keeps ⌈T_n / ck⌉ + ck rows of each sequence instead of T_n, for one more forward pass
// of the recursion.
#ifndef SEQLOSS_CUDA_LABELS_H
#define SEQLOSS_CUDA_LABELS_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "seqloss.h"

namespace seqloss {
namespace cuda {

struct LabelPlan {
  int32_t N = 0;
  std::vector<int32_t> Tn, L, S, U;
  std::vector<int64_t> roff;      // N + 1: first row of sequence n among the sum of T_n valid rows
  std::vector<int64_t> yoff;      // N: first value of its T_n x U compact rows (lp, y')
  std::vector<int64_t> aoff;      // N: first value of its T_n x S state rows (delta)
  std::vector<int64_t> coff;      // N: first value of its ⌈T_n / ck⌉ x S checkpoint rows of α
  std::vector<int64_t> soff;      // N: first state (cidx, skip, scratch rows)
  std::vector<int64_t> uoff;      // N: first compact class (ucls, ncount, ...)
  std::vector<int32_t> ucls;      // sum U: compact class -> class
  std::vector<int32_t> ncount;    // sum U: occurrences in the label (0 for the blank)
  std::vector<int32_t> cseq;      // sum U: the sequence of each compact class
  std::vector<int32_t> cidx;      // sum S: state -> compact index
  std::vector<uint8_t> skip;      // sum S: 1 where s - 2 -> s is allowed
  std::vector<int32_t> cs_start;  // sum U + 1: the label states of each compact class (the blank's: none)
  std::vector<int32_t> cs_state;  // sum L
  int64_t rows = 0, ytotal = 0, atotal = 0, stotal = 0, utotal = 0, ctotal = 0;
  int32_t smax = 0, umax = 0, tmax = 0;
  int32_t ck = 1;  // the checkpoint interval of the α lattice (see the file comment)

  // Batch sums per class (CTC with alpha over the batch): the classes that occur, and for each the global compact
  // indices (and their sequences) in sequence order.
  std::vector<int32_t> bclass, bstart, bitem;
  std::vector<int32_t> cmap;  // C: −1 between calls (plan_labels' scratch)

  bool feasible(int32_t n) const { return S[static_cast<size_t>(n)] > 0; }
};

// Fills *qp with the plan of problem p, reusing its vectors' storage: a LabelPlan kept between calls (HostScratch)
// makes the host work O(N + ΣL) with no heap allocation once its vectors have grown to the batch's sizes. cmap (a
// class -> compact index map, all −1 between calls) is the one array of C values; it is sized once per C and reset
// by the entries it set, never scanned.
inline void plan_labels(const seqloss_problem& p, bool batch_classes, LabelPlan* qp) {
  LabelPlan& q = *qp;
  const int32_t N = p.batch;
  q.N = N;
  q.rows = q.ytotal = q.atotal = q.stotal = q.utotal = q.ctotal = 0;
  q.smax = q.umax = q.tmax = 0;
  q.ck = 1;
  q.Tn.resize(N);
  q.L.resize(N);
  q.S.resize(N);
  q.U.resize(N);
  q.roff.resize(static_cast<size_t>(N) + 1);
  q.yoff.resize(N);
  q.aoff.resize(N);
  q.coff.resize(N);
  q.soff.resize(N);
  q.uoff.resize(N);
  for (auto* v : {&q.ucls, &q.ncount, &q.cseq, &q.cidx, &q.cs_start, &q.cs_state, &q.bclass, &q.bstart, &q.bitem})
    v->clear();
  q.skip.clear();
  if (q.cmap.size() < static_cast<size_t>(p.classes)) q.cmap.resize(static_cast<size_t>(p.classes), -1);
  std::vector<int32_t>& cmap = q.cmap;
  int64_t lab_at = 0;
  for (int32_t n = 0; n < N; ++n) {
    const int32_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
    const int32_t L = p.target_lengths[n];
    const int32_t* lab = p.targets + lab_at;
    lab_at += L;
    q.Tn[n] = Tn;
    q.L[n] = L;
    q.tmax = std::max(q.tmax, Tn);
    q.roff[n] = q.rows;
    q.rows += Tn;
    q.yoff[n] = q.ytotal;
    q.aoff[n] = q.atotal;
    q.soff[n] = q.stotal;
    q.uoff[n] = q.utotal;
    int64_t repeats = 0;
    if (L <= Tn) {
      for (int32_t i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1] ? 1 : 0;
    }
    if (L > Tn || L + repeats > Tn) {
      q.S[n] = q.U[n] = 0;
      continue;
    }
    const int32_t S = 2 * L + 1;
    const int64_t first = q.utotal;
    int32_t U = 0;
    for (int32_t s = 0; s < S; ++s) {
      const int32_t c = (s & 1) != 0 ? lab[(s - 1) / 2] : p.blank;
      if (cmap[static_cast<size_t>(c)] < 0) {
        cmap[static_cast<size_t>(c)] = U++;
        q.ucls.push_back(c);
        q.ncount.push_back(0);
        q.cseq.push_back(n);
      }
      const int32_t j = cmap[static_cast<size_t>(c)];
      q.cidx.push_back(j);
      q.skip.push_back((s & 1) != 0 && s >= 3 && lab[(s - 1) / 2] != lab[(s - 3) / 2] ? 1 : 0);
      if ((s & 1) != 0) q.ncount[static_cast<size_t>(first + j)] += 1;
    }
    // The label states of each compact class, in state order (CSR over the global compact index). Class j has
    // ncount[j] of them (the blank none), so its row starts at the running sum of the counts; cmap, indexed by
    // class, then serves as each row's fill cursor, and is reset to -1 for the next sequence. No allocation per
    // class.
    int32_t at = static_cast<int32_t>(q.cs_state.size());
    for (int32_t j = 0; j < U; ++j) {
      const size_t g = static_cast<size_t>(first + j);
      q.cs_start.push_back(at);
      cmap[static_cast<size_t>(q.ucls[g])] = at;
      at += q.ncount[g];
    }
    q.cs_state.resize(static_cast<size_t>(at));
    for (int32_t s = 1; s < S; s += 2)
      q.cs_state[static_cast<size_t>(cmap[static_cast<size_t>(lab[(s - 1) / 2])]++)] = s;
    for (int32_t j = 0; j < U; ++j) cmap[static_cast<size_t>(q.ucls[static_cast<size_t>(first + j)])] = -1;
    q.S[n] = S;
    q.U[n] = U;
    q.ytotal += static_cast<int64_t>(Tn) * U;
    q.atotal += static_cast<int64_t>(Tn) * S;
    q.stotal += S;
    q.utotal += U;
    q.smax = std::max(q.smax, S);
    q.umax = std::max(q.umax, U);
  }
  q.roff[static_cast<size_t>(N)] = q.rows;
  q.cs_start.push_back(static_cast<int32_t>(q.cs_state.size()));
  const double logits_bytes = 4.0 * static_cast<double>(N) * p.time * p.classes;
  if (12.0 * static_cast<double>(q.atotal) > logits_bytes / 4) {
    int32_t k = 1;
    while (static_cast<int64_t>(k) * k < q.tmax) ++k;
    q.ck = k;
  }
  for (int32_t n = 0; n < N; ++n) {
    q.coff[n] = q.ctotal;
    q.ctotal += static_cast<int64_t>((q.Tn[n] + q.ck - 1) / q.ck) * q.S[n];
  }
  if (batch_classes) {
    // A counting sort of the global compact indices by class, classes ascending and indices in sequence order:
    // cmap holds each class's count, then its fill cursor, and is reset to -1 at the end.
    for (int64_t g = 0; g < q.utotal; ++g) {
      const size_t c = static_cast<size_t>(q.ucls[static_cast<size_t>(g)]);
      if (cmap[c] < 0) {
        cmap[c] = 0;
        q.bclass.push_back(static_cast<int32_t>(c));
      }
      cmap[c] += 1;
    }
    std::sort(q.bclass.begin(), q.bclass.end());
    int32_t at = 0;
    for (int32_t c : q.bclass) {
      q.bstart.push_back(at);
      const int32_t count = cmap[static_cast<size_t>(c)];
      cmap[static_cast<size_t>(c)] = at;
      at += count;
    }
    q.bstart.push_back(at);
    q.bitem.resize(static_cast<size_t>(at));
    for (int64_t g = 0; g < q.utotal; ++g)
      q.bitem[static_cast<size_t>(cmap[static_cast<size_t>(q.ucls[static_cast<size_t>(g)])]++)] =
          static_cast<int32_t>(g);
    for (int32_t c : q.bclass) cmap[static_cast<size_t>(c)] = -1;
  }
}

inline LabelPlan plan_labels(const seqloss_problem& p, bool batch_classes) {
  LabelPlan q;
  plan_labels(p, batch_classes, &q);
  return q;
}

// Host arrays packed into one buffer for a single copy to the device (the metadata of a call).
class HostPack {
 public:
  template <class T>
  size_t add(const std::vector<T>& v) {
    size_t at = (bytes_.size() + 15) / 16 * 16;
    bytes_.resize(at + v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(bytes_.data() + at, v.data(), v.size() * sizeof(T));
    return at;
  }
  void clear() { bytes_.clear(); }  // keeps the storage
  const unsigned char* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<unsigned char> bytes_;
};

// The metadata of a plan, packed for one copy; `meta` then points into the device copy.
struct Packed {
  HostPack pack;
  size_t Tn, L, S, U, roff, yoff, aoff, coff, soff, uoff, ucls, ncount, cseq, cidx, skip, cs_start, cs_state, bclass,
      bstart, bitem;
};

inline void pack_plan(const LabelPlan& q, Packed* kp) {
  Packed& k = *kp;
  k.pack.clear();
  k.Tn = k.pack.add(q.Tn);
  k.L = k.pack.add(q.L);
  k.S = k.pack.add(q.S);
  k.U = k.pack.add(q.U);
  k.roff = k.pack.add(q.roff);
  k.yoff = k.pack.add(q.yoff);
  k.aoff = k.pack.add(q.aoff);
  k.coff = k.pack.add(q.coff);
  k.soff = k.pack.add(q.soff);
  k.uoff = k.pack.add(q.uoff);
  k.ucls = k.pack.add(q.ucls);
  k.ncount = k.pack.add(q.ncount);
  k.cseq = k.pack.add(q.cseq);
  k.cidx = k.pack.add(q.cidx);
  k.skip = k.pack.add(q.skip);
  k.cs_start = k.pack.add(q.cs_start);
  k.cs_state = k.pack.add(q.cs_state);
  k.bclass = k.pack.add(q.bclass);
  k.bstart = k.pack.add(q.bstart);
  k.bitem = k.pack.add(q.bitem);
}

inline Packed pack_plan(const LabelPlan& q) {
  Packed k;
  pack_plan(q, &k);
  return k;
}

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_LABELS_H
