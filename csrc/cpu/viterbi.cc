// viterbi.cc — the most probable CTC path of one sequence (viterbi.h): delta_t(s) in double over the reachable
// band of the extended label, then a backtrack.
//
// Layout: one row of delta per frame (row stride RS >= S + 4: two -inf pads before state 0, two after the band).
// No back-pointers are stored: the backtrack recomputes the choice at each (t, s) from the stored row t - 1 with
// the very comparisons of the forward pass (candidate order stay, advance, skip; replace only when strictly
// greater), so it picks exactly the predecessor the forward max came from. The forward row is then a plain
// gather + two selects + add per state, which vectorises (no mixed-width back-pointer stores).
// Band at frame t: states lo(t) = max(0, S - 2 (T_n - t)) .. hi(t) = min(S - 1, 2 t + 1); everything the next row
// or the backtrack reads outside it is a -inf pad. -inf emissions just give -inf deltas: such a path never wins a
// strict comparison against a real one, and a best total of -inf is "no path".
#include "cpu/viterbi.h"

#include <algorithm>
#include <cstring>

#include "cpu/isa.h"
#include "cpu/rows.h"
#include "cpu/vmath.h"

namespace seqloss {
namespace cpu {
namespace {

constexpr double kNegInf = vm::kNegInf;

inline int64_t row_stride(int64_t S) { return round_up(S + 4, 8); }

struct Scratch {
  double* D;      // T_n x RS: delta rows, state s of frame t at D[t * RS + 2 + s]
  int64_t* skip;  // RS: 1 where s - 2 -> s is allowed (state s at skip[s])
  double* e;      // RS: emissions of one frame per state
};

inline Scratch carve(Carver& c, int64_t tmax, int64_t rs) {
  Scratch s;
  s.D = c.take<double>(tmax * rs);
  s.skip = c.take<int64_t>(rs);
  s.e = c.take<double>(rs);
  return s;
}

// One state of delta_t: the best of stay (a), advance (b), skip (c, -inf where not allowed), ties to the earlier.
template <class V>
SEQLOSS_INLINE V best_of(V a, V b, V c) {
  V m = b > a ? b : a;
  return c > m ? c : m;
}

// delta_t for t = 1 .. T_n - 1 (row 0 and its pads are set). Rows at D + t * RS (state 0 at offset 0, pads at
// -2, -1 and after the band).
template <int W>
SEQLOSS_INLINE void forward_rows_impl(const double* logy, int64_t ld, int64_t Tn, int64_t S, int64_t RS,
                                      const int32_t* __restrict cidx, const int64_t* __restrict skip, double* D,
                                      double* __restrict e) {
  for (int64_t t = 1; t < Tn; ++t) {
    const double* __restrict P = D + (t - 1) * RS;
    double* __restrict R = D + t * RS;
    const double* __restrict ly = logy + t * ld;
    const int64_t lo = std::max<int64_t>(0, S - 2 * (Tn - t)), hi = std::min<int64_t>(S - 1, 2 * t + 1);
    R[-2] = R[-1] = kNegInf;
    for (int64_t s = lo; s <= hi; ++s) e[s] = ly[cidx[s]];
    auto scalar = [&](int64_t s) SEQLOSS_LAMBDA_INLINE {
      R[s] = e[s] + best_of(P[s], P[s - 1], skip[s] != 0 ? P[s - 2] : kNegInf);
    };
#if defined(SEQLOSS_VECTOR_EXT)
    typedef typename Pack<W>::D V;
    typedef typename Pack<W>::L M;
    constexpr int64_t H = W / 2;
    if (hi + 1 - lo >= H) {
      // Whole vectors, the last one overlapping the previous (recomputing equal values: P and e are only read).
      auto vec = [&](int64_t s) SEQLOSS_LAMBDA_INLINE {
        const V c = vload<V>(P + s - 2);
        const V none = V{} + kNegInf;
        vstore(R + s,
               vload<V>(e + s) + best_of(vload<V>(P + s), vload<V>(P + s - 1), vload<M>(skip + s) != 0 ? c : none));
      };
      int64_t s = lo;
      for (; s + H <= hi + 1; s += H) vec(s);
      if (s <= hi) vec(hi + 1 - H);
    } else {
      for (int64_t s = lo; s <= hi; ++s) scalar(s);
    }
#else
    for (int64_t s = lo; s <= hi; ++s) scalar(s);
#endif
    R[hi + 1] = kNegInf;
    R[hi + 2] = kNegInf;
  }
}

SEQLOSS_MULTIVERSION(void, forward_rows,
                     (const double* logy, int64_t ld, int64_t Tn, int64_t S, int64_t RS, const int32_t* cidx,
                      const int64_t* skip, double* D, double* e),
                     (logy, ld, Tn, S, RS, cidx, skip, D, e))

inline int64_t state_class(int64_t s, const int32_t* lab, int32_t blank) {
  return (s & 1) != 0 ? lab[(s - 1) / 2] : blank;
}

}  // namespace

size_t viterbi_scratch_bytes(int64_t tmax, int64_t lmax) {
  if (tmax < 0) tmax = 0;
  if (lmax < 0) lmax = 0;
  if (lmax > (INT64_MAX - 16) / 2) return ~size_t{0};
  const int64_t rs = row_stride(2 * lmax + 1);
  if (tmax > 0 && rs > INT64_MAX / tmax) return ~size_t{0};
  Carver c(nullptr);
  carve(c, tmax, rs);
  return c.ok() ? c.used() + 64 : ~size_t{0};
}

double viterbi(const double* logy, int64_t ld, int64_t Tn, const int32_t* lab, int64_t L, int32_t blank,
               const int32_t* cidx, void* scratch, int32_t* path) {
  if (L > Tn) return kNegInf;
  if (Tn == 0) return 0.0;  // L = 0 here: the empty alignment
  int64_t repeats = 0;
  for (int64_t i = 1; i < L; ++i) repeats += lab[i] == lab[i - 1] ? 1 : 0;
  if (L + repeats > Tn) return kNegInf;

  const int64_t S = 2 * L + 1;
  const int64_t RS = row_stride(S);
  Carver c(align64(scratch));
  const Scratch w = carve(c, Tn, RS);
  int64_t* __restrict skip = w.skip;
  for (int64_t s = 0; s < S; ++s) {
    skip[s] = ((s & 1) != 0 && s >= 3 && lab[(s - 1) / 2] != lab[(s - 3) / 2]) ? 1 : 0;
  }
  auto row = [&](int64_t t) SEQLOSS_LAMBDA_INLINE { return w.D + t * RS + 2; };
  auto lo_of = [&](int64_t t) SEQLOSS_LAMBDA_INLINE { return std::max<int64_t>(0, S - 2 * (Tn - t)); };
  auto hi_of = [&](int64_t t) SEQLOSS_LAMBDA_INLINE { return std::min<int64_t>(S - 1, 2 * t + 1); };

  // Frame 0: the start states.
  {
    double* R = row(0);
    const double* ly = logy;
    R[-2] = R[-1] = kNegInf;
    R[0] = ly[cidx[0]];
    if (S > 1) R[1] = ly[cidx[1]];
    const int64_t hi = hi_of(0);
    R[hi + 1] = kNegInf;
    R[hi + 2] = kNegInf;
  }
  static const int width = dispatch_width();
  forward_rows(width, logy, ld, Tn, S, RS, cidx, skip, w.D + 2, w.e);

  // The end: the final blank before the last label.
  const double* last = row(Tn - 1);
  int64_t s = S - 1;
  double best = last[S - 1];
  if (S > 1 && last[S - 2] > best) {
    s = S - 2;
    best = last[S - 2];
  }
  if (best == kNegInf) return kNegInf;

  // Backtrack. With finite (or -inf) emissions every step lands inside the band; the clamp only keeps NaN or +inf
  // inputs (whose comparisons can pick a -inf pad) on defined cells.
  for (int64_t t = Tn - 1; t > 0; --t) {
    path[t] = static_cast<int32_t>(state_class(s, lab, blank));
    const double* P = row(t - 1);
    int64_t from = s;
    double m = P[s];
    if (P[s - 1] > m) {
      from = s - 1;
      m = P[s - 1];
    }
    if (skip[s] != 0 && P[s - 2] > m) from = s - 2;
    s = std::min(std::max(from, lo_of(t - 1)), hi_of(t - 1));
  }
  path[0] = static_cast<int32_t>(state_class(s, lab, blank));
  return best;
}

}  // namespace cpu
}  // namespace seqloss
