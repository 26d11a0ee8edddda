// vmath.h — exp and log written as plain arithmetic on bit patterns, so that GCC and Clang vectorise the loops
// that call them (libm's expf/exp/log are opaque calls that block vectorisation unless glibc's libmvec is used,
// which is neither portable nor available without -ffast-math). Every function here is branch-free (selects
// only) and always inlined, so it is compiled for the instruction set of the function it is inlined into (the
// AVX-512 / AVX2+FMA / SSE2 versions of each kernel, isa.h). The exps also take vector-extension
// types (the same source for a float and for 4, 8 or 16 lanes).
//
// Accuracy: exp_f32 ~1 ulp over the whole float range (gradual underflow below 2^-126; exp_neg_f32, for the
// x <= 0 of softmax numerators, flushes results below 2^-126 to 0); log_f64 ~2 ulp (relative error < 5e-16).
// Special values: exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN, log(0) = -inf, log(+inf) = +inf,
// log(x < 0) = NaN. (The double-precision exp of the CTC recursions is xf::from_log, xfloat.h.)
//
// The rounding trick (x + 1.5·2^p) − 1.5·2^p needs round-to-nearest and no re-association: the library is
// compiled without -ffast-math (see CMakeLists.txt: only -fno-math-errno and -fno-trapping-math).
#ifndef SEQLOSS_CPU_VMATH_H
#define SEQLOSS_CPU_VMATH_H

#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__GNUC__) || defined(__clang__)
#define SEQLOSS_INLINE inline __attribute__((always_inline))
#else
#define SEQLOSS_INLINE inline
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SEQLOSS_LAMBDA_INLINE __attribute__((always_inline))
#else
#define SEQLOSS_LAMBDA_INLINE
#endif

namespace seqloss {
namespace cpu {
namespace vm {

SEQLOSS_INLINE uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
SEQLOSS_INLINE float float_from(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
SEQLOSS_INLINE uint64_t bits(double x) {
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
SEQLOSS_INLINE double double_from(uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

constexpr double kNegInf = -std::numeric_limits<double>::infinity();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();

// Integer types of the same width as a float type: int32_t/uint32_t for float, and 16-lane vectors for the
// vector-extension type used by rows.h (so that the same exp_f32 source serves scalar and explicit-vector code).
template <class F>
struct FloatBits;
template <>
struct FloatBits<float> {
  typedef int32_t I;
  typedef uint32_t U;
};
template <>
struct FloatBits<double> {
  typedef int64_t I;
  typedef uint64_t U;
};
#if defined(__GNUC__) || defined(__clang__)
// Vector-extension types, 4 / 8 / 16 floats and their double, int32 and int64 companions (SSE2, AVX2, AVX-512).
#define SEQLOSS_VEC_TYPES(W, B)                              \
  typedef float vf##W __attribute__((vector_size(B)));       \
  typedef int32_t vi##W __attribute__((vector_size(B)));     \
  typedef uint32_t vu##W __attribute__((vector_size(B)));    \
  typedef double vd##W##h __attribute__((vector_size(B)));   \
  typedef int64_t vl##W##h __attribute__((vector_size(B)));  \
  typedef uint64_t vq##W##h __attribute__((vector_size(B))); \
  template <>                                                \
  struct FloatBits<vf##W> {                                  \
    typedef vi##W I;                                         \
    typedef vu##W U;                                         \
  };                                                         \
  template <>                                                \
  struct FloatBits<vd##W##h> {                               \
    typedef vl##W##h I;                                      \
    typedef vq##W##h U;                                      \
  };
SEQLOSS_VEC_TYPES(4, 16)
SEQLOSS_VEC_TYPES(8, 32)
SEQLOSS_VEC_TYPES(16, 64)
#undef SEQLOSS_VEC_TYPES
#endif
template <class To, class From>
SEQLOSS_INLINE To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of one size");
  To y;
  std::memcpy(&y, &x, sizeof y);
  return y;
}

// e^x in float (x a float or a vf16). x = k·ln2 + r with |r| <= ln2/2, e^r by the Cephes expf polynomial, 2^k
// applied in two halves so that results down to the smallest subnormal come out right.
template <class F>
SEQLOSS_INLINE F exp_f32(F x) {
  typedef typename FloatBits<F>::I I;
  typedef typename FloatBits<F>::U U;
  const float hi = 88.7228317f;     // largest x with a finite e^x (rounded down)
  const float lo = -103.972076f;    // below: e^x rounds to 0
  const float magic = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  const F zero = F{} * 0.0f;
  F xc = x < lo ? zero + lo : x;
  xc = xc > hi ? zero + hi : xc;
  F t = xc * 1.44269504088896341f + magic;
  F kf = t - magic;
  I k = bit_cast<I>(bit_cast<U>(t) - bit_cast<uint32_t>(magic));  // the integer kf, from the mantissa bits
  F r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  F p = zero + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  I k1 = k >> 1;  // arithmetic shift: k in [-150, 128]
  I k2 = k - k1;
  F s1 = bit_cast<F>(bit_cast<U>(k1 + 127) << 23);
  F s2 = bit_cast<F>(bit_cast<U>(k2 + 127) << 23);
  F y = (p * s1) * s2;
  y = x < lo ? zero : y;
  y = x > hi ? zero + std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

// e^x for x <= 0 (or NaN), as softmax numerators e^(x - max) are: exp_f32 without the overflow branch, and
// results below 2^-126 (x < -87.3) flushed to 0 instead of made subnormal: one scaling step instead of two.
template <class F>
SEQLOSS_INLINE F exp_neg_f32(F x) {
  typedef typename FloatBits<F>::I I;
  typedef typename FloatBits<F>::U U;
  const float lo = -87.3365402f;    // e^lo = 2^-126
  const float magic = 12582912.0f;  // 1.5·2^23
  const F zero = F{} * 0.0f;
  F xc = x < lo ? zero + lo : x;
  F t = xc * 1.44269504088896341f + magic;
  F kf = t - magic;
  I k = bit_cast<I>(bit_cast<U>(t) - bit_cast<uint32_t>(magic));
  F r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  F p = zero + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  F y = p * bit_cast<F>(bit_cast<U>(k + 127) << 23);
  return x < lo ? zero : y;  // NaN stays NaN through p
}

// ln x in double for x >= 2^-1022 (normal numbers), with the special values of the header comment.
// x = 2^e·m with m in [sqrt(1/2), sqrt(2)); ln m = 2·atanh(z), z = (m−1)/(m+1), |z| <= 0.1716, by its series.
SEQLOSS_INLINE double log_f64(double x) {
  uint64_t u = bits(x);
  const double two52 = 4503599627370496.0;  // 2^52: exponent field to double without an int64 conversion
  double e = double_from((u >> 52) | bits(two52)) - two52 - 1023.0;
  double m = double_from((u & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
  bool big = m > 1.41421356237309504880;
  m = big ? m * 0.5 : m;
  e = big ? e + 1.0 : e;
  double z = (m - 1.0) / (m + 1.0);
  double w = z * z;
  double s = 1.0 / 21;
  s = s * w + 1.0 / 19;
  s = s * w + 1.0 / 17;
  s = s * w + 1.0 / 15;
  s = s * w + 1.0 / 13;
  s = s * w + 1.0 / 11;
  s = s * w + 1.0 / 9;
  s = s * w + 1.0 / 7;
  s = s * w + 1.0 / 5;
  s = s * w + 1.0 / 3;
  double lnm = 2.0 * z + (2.0 * z) * (w * s);
  double y = e * 6.93147180369123816490e-01 + (lnm + e * 1.90821492927058770002e-10);
  y = x == 0.0 ? kNegInf : y;
  y = x == kInf ? kInf : y;
  y = x < 0.0 ? std::numeric_limits<double>::quiet_NaN() : y;
  return x != x ? x : y;
}

}  // namespace vm
}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_VMATH_H
