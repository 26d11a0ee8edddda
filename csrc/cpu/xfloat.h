// xfloat.h — probabilities as (mantissa, exponent) pairs: value = m · 2^k with m a double in [1, 2) (or 0) and k
// an int64. The range is unlimited in practice (|k| < 2^61), the precision is that of a double, and +, × need no
// exp or log: they are a few integer and floating-point operations that vectorise (AVX-512, AVX2, SSE2).
//
// This is what lets the CTC forward-backward run in "linear space" without underflow: a state whose probability
// is e^-20000 (logits of ±1e4) or a frame forced through log-prob −500 keeps its exact value, where per-frame
// scaling would flush it to zero, and without the two exps and one log per state of a log-space log-add.
//
// Zero is m = 0, k = kZero (a huge negative exponent, far from any reachable one, so that max() picks real
// values and differences never overflow int64).
#ifndef SEQLOSS_CPU_XFLOAT_H
#define SEQLOSS_CPU_XFLOAT_H

#include <cmath>
#include <cstdint>

#include "cpu/vmath.h"
#include "numerics.h"

namespace seqloss {
namespace cpu {
namespace xf {

constexpr int64_t kZero = INT64_MIN / 4;
// An exponent for a term that must not count at all (a forbidden transition): any difference to a real or zero
// exponent is < -60, so shift_down() returns 0 whatever the mantissa.
constexpr int64_t kMasked = INT64_MIN / 2;
constexpr uint64_t kMantissa = 0x000FFFFFFFFFFFFFull;
constexpr uint64_t kOneBits = 0x3FF0000000000000ull;

// m · 2^d for m in [1, 16) and d <= 0, exactly; 0 when d < -60, where the term is below the rounding of a sum
// whose largest term is >= 1. (m = 0 only comes with k = kZero, so then d is hugely negative or, when every term
// is zero, d = 0 and the bits stay 0.)
SEQLOSS_INLINE double shift_down(double m, int64_t d) {
  double v = vm::double_from(vm::bits(m) + (static_cast<uint64_t>(d) << 52));
  return d < -60 ? 0.0 : v;
}

// Normalises v · 2^k for v >= 0 (v in [1, 64) or 0, or NaN) into (m, k'): m in [1, 2).
SEQLOSS_INLINE void normalise(double v, int64_t k, double* m, int64_t* kout) {
  uint64_t b = vm::bits(v);
  int64_t e = static_cast<int64_t>(b >> 52) - 1023;
  double mm = vm::double_from((b & kMantissa) | kOneBits);
  bool zero = v == 0.0;
  mm = v != v ? v : mm;  // NaN stays NaN
  *m = zero ? 0.0 : mm;
  *kout = zero ? kZero : k + e;
}

SEQLOSS_INLINE int64_t max3(int64_t a, int64_t b, int64_t c) {
  int64_t ab = a > b ? a : b;
  return ab > c ? ab : c;
}

// e^x as (m, k), for x a natural log. x = (k + f) ln 2 with k an integer and |f| <= 1/2, and 2^f by its Taylor
// series (degree 11, relative error < 1e-14). x < num::kLogZero (-1e8) and -inf give exactly zero (the CTC rule
// for probabilities below the extended range, numerics.h), so |k| < 1.5e8 and sums of T < 2^31 exponents stay far
// from int64 overflow; x above 1e8 (never passed: the kernels' logs are <= 0) is clamped there. NaN gives a NaN
// mantissa with exponent 0 (no NaN reaches the integer arithmetic).
SEQLOSS_INLINE void from_log(double x, double* m, int64_t* k) {
  const double magic = 6755399441055744.0;  // 1.5·2^52
  const double ln2 = 0.69314718055994530942;
  bool zero = x < num::kLogZero;
  bool nan = x != x;
  double xc = x > 1e8 ? 1e8 : x;
  xc = (zero || nan) ? 0.0 : xc;
  double l2 = xc * 1.4426950408889634074;
  double t = l2 + magic;
  double kr = t - magic;
  int64_t kk = static_cast<int64_t>(vm::bits(t) - vm::bits(magic));
  double r = (l2 - kr) * ln2;  // |r| <= ln2 / 2
  double p = 1.0 / 39916800;   // 1/11!
  p = p * r + 1.0 / 3628800;
  p = p * r + 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;  // in [0.70, 1.42]
  normalise(p, kk, m, k);
  *m = nan ? x : *m;
  *m = zero ? 0.0 : *m;
  *k = zero ? kZero : *k;
}

// m · 2^k as a double (0 below 2^-1000, for results that are at most ~1: posteriors, probabilities).
SEQLOSS_INLINE double to_double(double m, int64_t k) {
  double v = vm::double_from(vm::bits(m) + (static_cast<uint64_t>(k) << 52));
  return (m == 0.0 || k < -1000) ? 0.0 : v;
}

// ln(m · 2^k); -inf for zero.
inline double to_log(double m, int64_t k) {
  if (m == 0.0) return vm::kNegInf;
  return std::log(m) + static_cast<double>(k) * 0.69314718055994530942;
}

}  // namespace xf
}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_XFLOAT_H
