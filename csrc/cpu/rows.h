// rows.h — what every CPU kernel does with one frame of C scores: address it (NTC or TNC), take its max, its
// softmax, sums and dot products, and carve per-thread scratch out of a workspace.
//
#ifndef SEQLOSS_CPU_ROWS_H
#define SEQLOSS_CPU_ROWS_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "checks.h"
#include "cpu/vmath.h"
#include "seqloss.h"

namespace seqloss {
namespace cpu {

// The frames of sequence n: frame t starts at base + t * stride.
template <class T>
struct SeqRows {
  T* base;
  int64_t stride;
  T* row(int64_t t) const { return base + t * stride; }
};

template <class T>
inline SeqRows<T> seq_rows(T* data, const seqloss_problem& p, int64_t n) {
  const int64_t C = p.classes;
  if (p.layout == SEQLOSS_LAYOUT_TNC) return SeqRows<T>{data + n * C, static_cast<int64_t>(p.batch) * C};
  return SeqRows<T>{data + n * static_cast<int64_t>(p.time) * C, C};
}

inline int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Hands out 64-byte aligned arrays from a workspace, or (base == nullptr) only counts the bytes.
class Carver {
 public:
  explicit Carver(unsigned char* base) : base_(base) {}
  template <class T>
  T* take(int64_t count) {
    size_t bytes = 0, start = 0, end = 0;
    if (!ok_ || count < 0 || mul_overflow(static_cast<size_t>(count), sizeof(T), &bytes) ||
        add_overflow(used_, size_t{63}, &start)) {
      ok_ = false;
      return nullptr;
    }
    start &= ~size_t{63};
    if (add_overflow(start, bytes, &end)) {
      ok_ = false;
      return nullptr;
    }
    used_ = end;
    return base_ != nullptr ? reinterpret_cast<T*>(base_ + start) : nullptr;
  }
  bool ok() const { return ok_; }
  size_t used() const { return used_; }

 private:
  unsigned char* base_;
  size_t used_ = 0;
  bool ok_ = true;
};

// The total for `slots` copies of a per-thread layout after a shared part, plus 64 bytes of alignment slack.
inline bool total_bytes(size_t shared, size_t per_slot, int slots, size_t* bytes) {
  size_t slot_bytes = 0, all = 0;
  size_t aligned = (per_slot + 63) & ~size_t{63};
  if (aligned < per_slot || mul_overflow(aligned, static_cast<size_t>(slots), &slot_bytes) ||
      add_overflow(slot_bytes, (shared + 63) & ~size_t{63}, &all) || add_overflow(all, size_t{128}, &all)) {
    return false;
  }
  *bytes = all;
  return true;
}

// Lays out `threads` 64-byte-aligned copies of a per-thread slot after the shared part the caller has already
// carved from `shared`. `carve(Carver&)` carves one slot and returns its pointers. With base == nullptr it only
// measures (*bytes); otherwise it also fills slots[0 .. threads). False when a size overflows.
template <class Slot, class Carve>
bool layout_slots(const Carver& shared, unsigned char* base, int threads, size_t* bytes, Slot* slots, Carve&& carve) {
  if (!shared.ok()) return false;
  Carver one(nullptr);
  carve(one);
  if (!one.ok()) return false;
  const size_t per_slot = (one.used() + 63) & ~size_t{63};
  if (!total_bytes(shared.used(), per_slot, threads, bytes)) return false;
  if (base != nullptr) {
    unsigned char* slot_base = base + ((shared.used() + 63) & ~size_t{63});
    for (int i = 0; i < threads; ++i) {
      Carver c(slot_base + per_slot * static_cast<size_t>(i));
      slots[i] = carve(c);
    }
  }
  return true;
}

inline unsigned char* align64(void* p) {
  uintptr_t u = reinterpret_cast<uintptr_t>(p);
  return reinterpret_cast<unsigned char*>((u + 63) & ~uintptr_t{63});
}

// Asks for the cache lines of a row of C floats (a hint; rows of strided layouts are not prefetched by the
// hardware). Only the first few lines of long rows: their rest streams.
SEQLOSS_INLINE void prefetch_row(const float* p, int64_t C) {
#if defined(__GNUC__) || defined(__clang__)
  const int64_t n = C < 64 ? C : 64;
  for (int64_t k = 0; k < n; k += 16) __builtin_prefetch(p + k);
  __builtin_prefetch(p + n - 1);
#else
  (void)p;
  (void)C;
#endif
}

// Asks for the cache line holding *p, to be written (a hint).
SEQLOSS_INLINE void prefetch_for_write(const float* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p, 1);
#else
  (void)p;
#endif
}

// ---- row kernels --------------------------------------------------------------------------------------------
//
// Written with GCC/Clang vector extensions, as templates on the width W (floats per vector: 16 for AVX-512, 8 for
// AVX2, 4 for SSE2 or NEON; see isa.h, which compiles each kernel once per width with the matching target). The
// loop vectoriser would not vectorise reductions without -ffast-math; here sums run in W/2-double lanes that are
// combined in a fixed order, so a given build and CPU always gives the same bits.
// A row ends with one vector at C - W that overlaps the previous one: maxima and elementwise results are simply
// recomputed, sums mask the overlapping lanes out. Rows shorter than W go through element loads into a padded
// vector. No scalar remainder loop evaluating exp, and no read or write outside the row.

#if defined(__GNUC__) || defined(__clang__)
#define SEQLOSS_VECTOR_EXT 1

template <int W>
struct Pack;
template <>
struct Pack<4> {
  typedef vm::vf4 F;
  typedef vm::vi4 I;
  typedef vm::vd4h D;
  typedef vm::vl4h L;
};
template <>
struct Pack<8> {
  typedef vm::vf8 F;
  typedef vm::vi8 I;
  typedef vm::vd8h D;
  typedef vm::vl8h L;
};
template <>
struct Pack<16> {
  typedef vm::vf16 F;
  typedef vm::vi16 I;
  typedef vm::vd16h D;
  typedef vm::vl16h L;
};

template <class V>
SEQLOSS_INLINE V vload(const void* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class V>
SEQLOSS_INLINE void vstore(void* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
// n < W values, the other lanes `pad`.
template <int W>
SEQLOSS_INLINE typename Pack<W>::F load_part(const float* p, int64_t n, float pad) {
  typename Pack<W>::F v = typename Pack<W>::F{} + pad;
  for (int64_t j = 0; j < n; ++j) v[j] = p[j];
  return v;
}
template <int W>
SEQLOSS_INLINE void store_part(float* p, typename Pack<W>::F v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) p[j] = v[j];
}
// 0, 1, ..., W - 1
template <class I, size_t... J>
SEQLOSS_INLINE I iota_impl(std::index_sequence<J...>) {
  return I{static_cast<typename std::remove_reference<decltype(I{}[0])>::type>(J)...};
}
template <class I>
SEQLOSS_INLINE I iota() {
  return iota_impl<I>(std::make_index_sequence<sizeof(I) / sizeof(I{}[0])>());
}
// Half-width vector types.
typedef float vf2 __attribute__((vector_size(8)));
template <class V>
struct Half;
template <>
struct Half<vm::vf16> {
  typedef vm::vf8 T;
};
template <>
struct Half<vm::vf8> {
  typedef vm::vf4 T;
};
template <>
struct Half<vm::vf4> {
  typedef vf2 T;
};
template <>
struct Half<vm::vd16h> {
  typedef vm::vd8h T;
};
template <>
struct Half<vm::vd8h> {
  typedef vm::vd4h T;
};
// Lanes [Off, Off + n/2) of v (built from its lanes: the compiler emits the extract or shuffle).
template <size_t Off, class V, size_t... J>
SEQLOSS_INLINE typename Half<V>::T half_of(V v, std::index_sequence<J...>) {
#if defined(__clang__) || __GNUC__ >= 12
  return __builtin_shufflevector(v, v, (Off + J)...);
#else
  return typename Half<V>::T{v[Off + J]...};
#endif
}
template <size_t Off, class V>
SEQLOSS_INLINE typename Half<V>::T half(V v) {
  return half_of<Off>(v, std::make_index_sequence<sizeof(V) / sizeof(v[0]) / 2>());
}
// The lower and upper halves of a float vector, widened to double.
template <int W>
SEQLOSS_INLINE typename Pack<W>::D lo(typename Pack<W>::F v) {
  return __builtin_convertvector(half<0>(v), typename Pack<W>::D);
}
template <int W>
SEQLOSS_INLINE typename Pack<W>::D hi(typename Pack<W>::F v) {
  return __builtin_convertvector(half<W / 2>(v), typename Pack<W>::D);
}
// Lanes j >= first kept, the others zeroed.
template <int W>
SEQLOSS_INLINE typename Pack<W>::F keep_from(typename Pack<W>::F v, int64_t first) {
  typedef typename Pack<W>::I I;
  return iota<I>() >= static_cast<int32_t>(first) ? v : typename Pack<W>::F{};
}
// Sum of the lanes by halving (lanes j and j + n/2 first): a fixed order.
template <class V>
SEQLOSS_INLINE double hsum(V a) {
  constexpr size_t n = sizeof(V) / sizeof(a[0]);
  if constexpr (n == 2) {
    return a[0] + a[1];
  } else {
    return hsum(half<0>(a) + half<n / 2>(a));
  }
}
template <class D>
SEQLOSS_INLINE double reduce(D a0, D a1) {
  return hsum(a0 + a1);
}
// The largest lane (NaN lanes lose, as in row_max).
template <class F>
SEQLOSS_INLINE float hmax(F a) {
  constexpr size_t n = sizeof(F) / sizeof(float);
  if constexpr (n == 2) {
    return a[1] > a[0] ? a[1] : a[0];
  } else {
    auto l = half<0>(a);
    auto h = half<n / 2>(a);
    return hmax(h > l ? h : l);
  }
}

// max_k x[k] (NaN entries after the first are skipped, as `x > best` skips them).
template <int W>
SEQLOSS_INLINE float row_max(const float* x, int64_t C) {
  typedef typename Pack<W>::F F;
  F acc = F{} + x[0];
  if (C < W) {
    F v = load_part<W>(x, C, x[0]);
    acc = v > acc ? v : acc;
  } else {
    for (int64_t k = 0; k + W <= C; k += W) {
      F v = vload<F>(x + k);
      acc = v > acc ? v : acc;
    }
    F v = vload<F>(x + C - W);  // overlaps: harmless for a max
    acc = v > acc ? v : acc;
  }
  return hmax(acc);
}

// out[k] = e^(x[k] - shift)
template <int W>
SEQLOSS_INLINE void exp_row(const float* __restrict x, int64_t C, float shift, float* __restrict out) {
  typedef typename Pack<W>::F F;
  if (C < W) {
    store_part<W>(out, vm::exp_f32(load_part<W>(x, C, shift) - shift), C);
    return;
  }
  for (int64_t k = 0; k + W <= C; k += W) vstore(out + k, vm::exp_f32(vload<F>(x + k) - shift));
  vstore(out + C - W, vm::exp_f32(vload<F>(x + C - W) - shift));  // rewrites equal values
}

// out[k] = e^((x[k] - m) - r) * scale: the softmax with m = max and r = ln sum e^(x - m) (or r = 0 and scale
// 1 / sum).
template <int W>
SEQLOSS_INLINE void softmax_row(const float* __restrict x, int64_t C, float m, float r, float scale,
                                float* __restrict out) {
  typedef typename Pack<W>::F F;
  if (C < W) {
    store_part<W>(out, vm::exp_neg_f32((load_part<W>(x, C, m) - m) - r) * scale, C);
    return;
  }
  for (int64_t k = 0; k + W <= C; k += W) vstore(out + k, vm::exp_neg_f32((vload<F>(x + k) - m) - r) * scale);
  vstore(out + C - W, vm::exp_neg_f32((vload<F>(x + C - W) - m) - r) * scale);
}

// The same for the logits scaled by s > 0 (softmax(s x), max_k s x[k] = s m): e^((x[k] - m) s - r) * scale.
template <int W>
SEQLOSS_INLINE void softmax_row_scaled(const float* __restrict x, int64_t C, float m, float s, float r, float scale,
                                       float* __restrict out) {
  typedef typename Pack<W>::F F;
  if (C < W) {
    store_part<W>(out, vm::exp_neg_f32((load_part<W>(x, C, m) - m) * s - r) * scale, C);
    return;
  }
  for (int64_t k = 0; k + W <= C; k += W) vstore(out + k, vm::exp_neg_f32((vload<F>(x + k) - m) * s - r) * scale);
  vstore(out + C - W, vm::exp_neg_f32((vload<F>(x + C - W) - m) * s - r) * scale);
}

// Sums of f(block) over a row, in double: f gets whole vectors (the short or overlapping last one masked to 0
// by `mask`, a pad-or-keep function).
template <int W, class Load>
SEQLOSS_INLINE double sum_blocks(int64_t C, Load&& load) {
  typedef typename Pack<W>::D D;
  typedef typename Pack<W>::F F;
  D a0 = {}, a1 = {};
  if (C < W) {
    F b = load(0, C);
    a0 += lo<W>(b);
    a1 += hi<W>(b);
  } else {
    int64_t k = 0;
    for (; k + W <= C; k += W) {
      F b = load(k, W);
      a0 += lo<W>(b);
      a1 += hi<W>(b);
    }
    if (k < C) {
      F b = keep_from<W>(load(C - W, W), k - (C - W));
      a0 += lo<W>(b);
      a1 += hi<W>(b);
    }
  }
  return reduce(a0, a1);
}

// sum_k v[k] in double.
template <int W>
SEQLOSS_INLINE double sum_row(const float* v, int64_t C) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    return n == W ? vload<F>(v + k) : load_part<W>(v + k, n, 0.0f);
  });
}

// The number of entries of a row that are NaN or +inf (in double; 0 for a row of finite and -inf values).
template <int W>
SEQLOSS_INLINE double count_nan_inf(const float* v, int64_t C) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    F b = n == W ? vload<F>(v + k) : load_part<W>(v + k, n, 0.0f);
    return (b != b) | (b == vm::kInfF) ? F{} + 1.0f : F{};
  });
}

// sum_k e^(x[k] - m) in double (m = max_k x[k]).
template <int W>
SEQLOSS_INLINE double expsum_row(const float* x, int64_t C, float m) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    return vm::exp_neg_f32((n == W ? vload<F>(x + k) : load_part<W>(x + k, n, -vm::kInfF)) - m);
  });
}

// sum_k e^((x[k] - m) s) in double (m = max_k x[k], s > 0): the softmax denominator of s x.
template <int W>
SEQLOSS_INLINE double expsum_row_scaled(const float* x, int64_t C, float m, float s) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    return vm::exp_neg_f32(((n == W ? vload<F>(x + k) : load_part<W>(x + k, n, -vm::kInfF)) - m) * s);
  });
}

// out[k] = e^(x[k] - m); returns sum_k out[k] in double (from registers, no reload).
template <int W>
SEQLOSS_INLINE double exp_sum_row(const float* __restrict x, int64_t C, float m, float* __restrict out) {
  typedef typename Pack<W>::F F;
  return sum_blocks<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    if (n < W) {
      F e = vm::exp_neg_f32(load_part<W>(x + k, n, -vm::kInfF) - m);
      store_part<W>(out + k, e, n);
      return e;
    }
    F e = vm::exp_neg_f32(vload<F>(x + k) - m);
    vstore(out + k, e);
    return e;
  });
}

// Read-modify-write passes over a row (C >= W) cover it with disjoint pieces: whole vectors up to the last one,
// a few single values, then the vector [C - W, C). Every wide load then either matches the last wide store to
// the same place or touches nothing stored in this pass, so it never waits on a failed store-to-load forward.
// body(k, W) for vectors, body(k, 1) for single values.
template <int W, class Body>
SEQLOSS_INLINE void disjoint_cover(int64_t C, Body&& body) {
  const int64_t q = C / W, rem = C - q * W;
  const int64_t full = rem == 0 ? q : q - 1;
  for (int64_t b = 0; b < full; ++b) body(b * W, W);
  if (rem != 0) {
    for (int64_t k = full * W; k < C - W; ++k) body(k, 1);
    body(C - W, W);
  }
}

// acc[k] += e[k] * scale in double.
template <int W>
SEQLOSS_INLINE void accumulate_scaled(const float* __restrict e, int64_t C, double scale, double* __restrict acc) {
  typedef typename Pack<W>::F F;
  typedef typename Pack<W>::D D;
  if (C < W) {
    for (int64_t k = 0; k < C; ++k) acc[k] += static_cast<double>(e[k]) * scale;
    return;
  }
  disjoint_cover<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    if (n == 1) {
      acc[k] += static_cast<double>(e[k]) * scale;
    } else {
      F v = vload<F>(e + k);
      vstore(acc + k, vload<D>(acc + k) + lo<W>(v) * scale);
      vstore(acc + k + W / 2, vload<D>(acc + k + W / 2) + hi<W>(v) * scale);
    }
  });
}

// v[k] *= c
template <int W>
SEQLOSS_INLINE void scale_row(float* v, int64_t C, float c) {
  typedef typename Pack<W>::F F;
  if (C < W) {
    for (int64_t k = 0; k < C; ++k) v[k] *= c;
    return;
  }
  disjoint_cover<W>(C, [&](int64_t k, int64_t n) SEQLOSS_LAMBDA_INLINE {
    if (n == 1) {
      v[k] *= c;
    } else {
      vstore(v + k, vload<F>(v + k) * c);
    }
  });
}

// sum_k (g[k] - shift) * v[k] in double.
template <int W>
SEQLOSS_INLINE double dot_row_shifted(const double* g, double shift, const float* v, int64_t C) {
  typedef typename Pack<W>::F F;
  typedef typename Pack<W>::D D;
  D a0 = {}, a1 = {};
  int64_t k = 0;
  for (; k + W <= C; k += W) {
    F b = vload<F>(v + k);
    a0 += (vload<D>(g + k) - shift) * lo<W>(b);
    a1 += (vload<D>(g + k + W / 2) - shift) * hi<W>(b);
  }
  if (k < C) {
    double tg[W] = {};
    for (int64_t j = 0; k + j < C; ++j) tg[j] = g[k + j] - shift;
    F b = load_part<W>(v + k, C - k, 0.0f);
    a0 += vload<D>(tg) * lo<W>(b);
    a1 += vload<D>(tg + W / 2) * hi<W>(b);
  }
  return reduce(a0, a1);
}

// Arrays over K, padded to a multiple of 8 (a multiple of W / 2 for every W).
// sum_j a_j b_j
template <int W>
SEQLOSS_INLINE double dot8(const double* a, const double* b, int64_t KP) {
  typedef typename Pack<W>::D D;
  D acc = {};
  for (int64_t j = 0; j < KP; j += W / 2) acc += vload<D>(a + j) * vload<D>(b + j);
  return reduce(acc, D{});
}

// The largest lane of a double vector, by halving.
template <class D>
SEQLOSS_INLINE double hmax_d(D a) {
  constexpr size_t n = sizeof(D) / sizeof(double);
  if constexpr (n == 2) {
    return a[1] > a[0] ? a[1] : a[0];
  } else {
    auto l = half<0>(a);
    auto h = half<n / 2>(a);
    return hmax_d(h > l ? h : l);
  }
}
// max(0, max_j a_j) (NaN entries lose)
template <int W>
SEQLOSS_INLINE double max8(const double* a, int64_t KP) {
  typedef typename Pack<W>::D D;
  D acc = {};
  for (int64_t j = 0; j < KP; j += W / 2) {
    D v = vload<D>(a + j);
    acc = v > acc ? v : acc;
  }
  return hmax_d(acc);
}
// max(0, max_j (a_j - b_j)) (NaN entries lose)
template <int W>
SEQLOSS_INLINE double max_diff8(const double* a, const double* b, int64_t KP) {
  typedef typename Pack<W>::D D;
  D acc = {};
  for (int64_t j = 0; j < KP; j += W / 2) {
    D v = vload<D>(a + j) - vload<D>(b + j);
    acc = v > acc ? v : acc;
  }
  return hmax_d(acc);
}

// out[j] = e[kc[j]] * inv for j < K, 0 up to KP (kc padded with a valid index).
template <int W>
SEQLOSS_INLINE void gather_scaled(const float* __restrict e, const int32_t* __restrict kc, int64_t K, int64_t KP,
                                  double inv, double* __restrict out) {
  typedef typename Pack<W>::D D;
  typedef typename Pack<W>::L L;
  constexpr int H = W / 2;
  for (int64_t j = 0; j < KP; j += H) {
    D v;
    for (int l = 0; l < H; ++l) v[l] = e[kc[j + l]];
    v = iota<L>() + j < K ? v * inv : D{};
    vstore(out + j, v);
  }
}

#else
// Plain loops for compilers without vector extensions (same results up to the order of the sums).
template <int W>
SEQLOSS_INLINE float row_max(const float* x, int64_t C) {
  float m = x[0];
  for (int64_t k = 1; k < C; ++k) m = x[k] > m ? x[k] : m;
  return m;
}
template <int W>
SEQLOSS_INLINE void exp_row(const float* x, int64_t C, float shift, float* out) {
  for (int64_t k = 0; k < C; ++k) out[k] = vm::exp_f32(x[k] - shift);
}
template <int W>
SEQLOSS_INLINE void softmax_row(const float* x, int64_t C, float m, float r, float scale, float* out) {
  for (int64_t k = 0; k < C; ++k) out[k] = vm::exp_neg_f32((x[k] - m) - r) * scale;
}
template <int W>
SEQLOSS_INLINE void softmax_row_scaled(const float* x, int64_t C, float m, float s, float r, float scale, float* out) {
  for (int64_t k = 0; k < C; ++k) out[k] = vm::exp_neg_f32((x[k] - m) * s - r) * scale;
}
template <int W>
SEQLOSS_INLINE double expsum_row_scaled(const float* x, int64_t C, float m, float s) {
  double sum = 0;
  for (int64_t k = 0; k < C; ++k) sum += vm::exp_neg_f32((x[k] - m) * s);
  return sum;
}
template <int W>
SEQLOSS_INLINE double sum_row(const float* v, int64_t C) {
  double s = 0;
  for (int64_t k = 0; k < C; ++k) s += v[k];
  return s;
}
template <int W>
SEQLOSS_INLINE double count_nan_inf(const float* v, int64_t C) {
  double s = 0;
  for (int64_t k = 0; k < C; ++k) s += (v[k] != v[k] || v[k] == vm::kInfF) ? 1.0 : 0.0;
  return s;
}
template <int W>
SEQLOSS_INLINE double expsum_row(const float* x, int64_t C, float m) {
  double s = 0;
  for (int64_t k = 0; k < C; ++k) s += vm::exp_neg_f32(x[k] - m);
  return s;
}
template <int W>
SEQLOSS_INLINE double exp_sum_row(const float* x, int64_t C, float m, float* out) {
  double s = 0;
  for (int64_t k = 0; k < C; ++k) {
    out[k] = vm::exp_neg_f32(x[k] - m);
    s += out[k];
  }
  return s;
}
template <int W>
SEQLOSS_INLINE void accumulate_scaled(const float* e, int64_t C, double scale, double* acc) {
  for (int64_t k = 0; k < C; ++k) acc[k] += static_cast<double>(e[k]) * scale;
}
template <int W>
SEQLOSS_INLINE void scale_row(float* v, int64_t C, float c) {
  for (int64_t k = 0; k < C; ++k) v[k] *= c;
}
template <int W>
SEQLOSS_INLINE double dot_row_shifted(const double* g, double shift, const float* v, int64_t C) {
  double s = 0;
  for (int64_t k = 0; k < C; ++k) s += (g[k] - shift) * v[k];
  return s;
}
template <int W>
SEQLOSS_INLINE double dot8(const double* a, const double* b, int64_t KP) {
  double s = 0;
  for (int64_t j = 0; j < KP; ++j) s += a[j] * b[j];
  return s;
}
template <int W>
SEQLOSS_INLINE double max8(const double* a, int64_t KP) {
  double m = 0.0;
  for (int64_t j = 0; j < KP; ++j) m = a[j] > m ? a[j] : m;
  return m;
}
template <int W>
SEQLOSS_INLINE double max_diff8(const double* a, const double* b, int64_t KP) {
  double m = 0.0;
  for (int64_t j = 0; j < KP; ++j) m = a[j] - b[j] > m ? a[j] - b[j] : m;
  return m;
}
template <int W>
SEQLOSS_INLINE void gather_scaled(const float* e, const int32_t* kc, int64_t K, int64_t KP, double inv, double* out) {
  for (int64_t j = 0; j < KP; ++j) out[j] = j < K ? static_cast<double>(e[kc[j]]) * inv : 0.0;
}
#endif

// The first k with x[k] == max (ties to the lowest index): the same answer as the sequential rule
// best = x[0]; for k: if (x[k] > best) {best = x[k]; arg = k}.
template <int W>
SEQLOSS_INLINE int32_t row_argmax(const float* x, int64_t C) {
  if (x[0] != x[0]) return 0;  // a NaN first: nothing compares greater
  float m = row_max<W>(x, C);
  for (int64_t k = 0; k < C; ++k) {
    if (x[k] == m) return static_cast<int32_t>(k);
  }
  return 0;
}

}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_ROWS_H
