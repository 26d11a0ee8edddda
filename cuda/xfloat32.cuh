// xfloat32.cuh — probabilities in FP32 arithmetic with the range and (nearly) the precision of the CPU backend's
// xfloats (csrc/cpu/xfloat.h: a double mantissa and an int64 exponent), for the GPU's CTC recursions on devices
// whose FP64 runs at 1/32 or 1/64 of FP32: value = (hi + lo) · 2^k, a float-float mantissa (hi in [1, 2),
// |lo| <= ulp(hi) / 2: 48 bits) and an int32 exponent. +, × and the emissions e^ρ are float and integer operations
// only: no FP64, and no exp or log per state.
//
// Why float-float and not a float mantissa: a gradient entry is scale·(P − y'), and where the model already fits
// its label (P ≈ y') the difference keeps only the digits the two share; a float y' (24 bits) would leave it
// 1e-3 of its value, where the CPU backend's double is exact to 1e-5. With 48 bits the FP32 pipeline agrees with it
// as the FP64 one did.
//
// Range: a value below 2^kFloor = 2^-(2^29) (a sequence log-likelihood below about -3.7e8) counts as zero, so that
// sums and products of exponents never overflow int32 (above, values stay far below 2^(2^29): p_ρ, α and β' count
// alignments, whose number is at most 3^T). The CPU's int64 exponents have no such floor; the README says so
// ("Numerics at the extremes").
#ifndef SEQLOSS_CUDA_XFLOAT32_CUH
#define SEQLOSS_CUDA_XFLOAT32_CUH

#include <cmath>
#include <cstdint>
#include <cstring>

#include "numerics.h"

namespace seqloss {
namespace cuda {

// ---- float-float pairs ----------------------------------------------------------------------------------------

// hi + lo = a + b exactly, for |a| >= |b| (or a = 0).
SEQLOSS_HD inline void fast_two_sum(float a, float b, float* hi, float* lo) {
  const float s = a + b;
  *hi = s;
  *lo = b - (s - a);
}

// A float-float sum plus another (Knuth's two-sum of the leading parts, the trailing parts added to its error).
SEQLOSS_HD inline void ff_add(float ahi, float alo, float bhi, float blo, float* hi, float* lo) {
  const float s = ahi + bhi;
  const float v = s - ahi;
  float e = (ahi - (s - v)) + (bhi - v);
  e += alo + blo;
  fast_two_sum(s, e, hi, lo);
}

// A float-float product (the leading product's rounding error by an FMA).
SEQLOSS_HD inline void ff_mul(float ahi, float alo, float bhi, float blo, float* hi, float* lo) {
  const float p = ahi * bhi;
  const float e = fmaf(ahi, bhi, -p) + (ahi * blo + alo * bhi);
  fast_two_sum(p, e, hi, lo);
}

// a − b for two floats as an exact float-float pair.
SEQLOSS_HD inline void two_diff(float a, float b, float* hi, float* lo) {
  const float s = a - b;
  const float bb = s - a;
  *hi = s;
  *lo = (a - (s - bb)) - (b + bb);
}

// 1 / (hi + lo) as a float-float pair (one Newton step on the float reciprocal).
SEQLOSS_HD inline void ff_recip(float hi, float lo, float* rhi, float* rlo) {
  const float r = 1.0f / hi;
  const float e = fmaf(-hi, r, 1.0f) - lo * r;
  fast_two_sum(r, r * e, rhi, rlo);
}

// Whether a float-float pair is below another (hi first).
SEQLOSS_HD inline bool ff_less(float ah, float al, float bh, float bl) { return ah < bh || (ah == bh && al < bl); }

namespace xf32 {

constexpr int32_t kZero = -(1 << 30);   // the exponent of zero (hi = lo = 0): below every real exponent
constexpr int32_t kFloor = -(1 << 29);  // real values below 2^kFloor are zero

struct X {
  float hi, lo;
  int32_t k;
};

SEQLOSS_HD inline X zero() { return X{0.0f, 0.0f, kZero}; }
SEQLOSS_HD inline X one() { return X{1.0f, 0.0f, 0}; }

SEQLOSS_HD inline int32_t bits(float v) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(v);
#else
  int32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
#endif
}

SEQLOSS_HD inline float from_bits(int32_t b) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(b);
#else
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
#endif
}

// 2^d as a float, d in [-126, 127].
SEQLOSS_HD inline float pow2(int32_t d) { return from_bits((127 + d) * (1 << 23)); }

// (hi + lo) · 2^k for hi in [1/2, 8) or 0: hi brought into [1, 2) by an exact power of two; zero below 2^kFloor.
// An infinite or NaN hi is passed through as it is (pow2 below needs its argument in [-126, 127]).
SEQLOSS_HD inline X normalise(float hi, float lo, int32_t k) {
  const int32_t e = ((bits(hi) >> 23) & 0xFF) - 127;
  if (e == 128) return X{hi, lo, k};
  const int32_t kk = k + e;
  if (hi == 0.0f || kk < kFloor) return zero();
  const float s = pow2(-e);
  return X{hi * s, lo * s, kk};
}

// The mantissa of a at exponent top (>= a.k): (hi, lo) · 2^(a.k − top), exactly; 0 when that is below 2^-50 (under
// the rounding of a float-float sum whose largest term is >= 1) and for zero (whose k is hugely negative, or equal
// to top when every term is zero).
SEQLOSS_HD inline void at_exponent(const X& a, int32_t top, float* hi, float* lo) {
  const int32_t d = a.k - top;
  if (d < -50 || a.hi == 0.0f) {
    *hi = 0.0f;
    *lo = 0.0f;
    return;
  }
  const float s = pow2(d);
  *hi = a.hi * s;
  *lo = a.lo * s;
}

SEQLOSS_HD inline int32_t max3(int32_t a, int32_t b, int32_t c) {
  const int32_t ab = a > b ? a : b;
  return ab > c ? ab : c;
}

// a + b + c.
SEQLOSS_HD inline X add3(const X& a, const X& b, const X& c) {
  const int32_t top = max3(a.k, b.k, c.k);
  float ah, al, bh, bl, ch, cl, h, l;
  at_exponent(a, top, &ah, &al);
  at_exponent(b, top, &bh, &bl);
  at_exponent(c, top, &ch, &cl);
  ff_add(ah, al, bh, bl, &h, &l);
  ff_add(h, l, ch, cl, &h, &l);
  return normalise(h, l, top);
}

// a · b.
SEQLOSS_HD inline X mul(const X& a, const X& b) {
  if (a.hi == 0.0f || b.hi == 0.0f) return zero();
  float h, l;
  ff_mul(a.hi, a.lo, b.hi, b.lo, &h, &l);
  return normalise(h, l, a.k + b.k);
}

// e^(hi + lo) for a relative log-probability hi + lo (<= 0; a little above is fine); below num::kLogZero, -inf and
// NaN give zero (the sequence of a NaN frame is NaN already and never reads its emissions). With
// (hi + lo) log2 e = k + f, |f| <= 1/2, and g = f ln 2: e^g = (e^(g/16))^16, e^(g/16) − 1 by its Taylor series
// (the leading term in float-float, the rest, below 2.4e-4, in float; truncation 4e-16), squared four times as
// a ← 2a + a². Relative error about 1e-9 for |hi + lo| <= 1e4, growing with |hi| (8e-8 at 1e7) through the float
// rounding of hi·(log2 e − fl(log2 e)). Above 128 (a value beyond every float) the result is 2^(2^20), which to_ff
// turns into +inf; the int32 exponent never overflows.
SEQLOSS_HD inline X exp_ff(float hi, float lo) {
  if (!(hi >= static_cast<float>(num::kLogZero))) return zero();
  if (hi > 128.0f) return X{1.0f, 0.0f, 1 << 20};
  const float kLog2eHi = 1.44269502162933349609375f;  // fl(log2 e)
  const float kLog2eLo = 1.925963033500011079e-08f;   // log2 e − fl(log2 e)
  const float kLn2Hi = 0.693147182464599609375f;      // fl(ln 2)
  const float kLn2Lo = -1.904654323148236017e-09f;    // ln 2 − fl(ln 2)
  float yh, yl;
  fast_two_sum(hi * kLog2eHi, fmaf(hi, kLog2eHi, -(hi * kLog2eHi)) + (hi * kLog2eLo + lo * kLog2eHi), &yh, &yl);
  const float k1 = rintf(yh);
  float fh, fl;
  fast_two_sum(yh - k1, yl, &fh, &fl);  // yh − k1 is exact
  const float k2 = rintf(fh);           // only where |yh| >= 2^23 (then yh − k1 = 0 and yl may pass 1/2)
  fast_two_sum(fh - k2, fl, &fh, &fl);
  float gh, gl;
  ff_mul(fh, fl, kLn2Hi, kLn2Lo, &gh, &gl);
  const float h = gh * 0.0625f, hl = gl * 0.0625f;
  const float q = h * h * (0.5f + h * (1.0f / 6 + h * (1.0f / 24 + h * (1.0f / 120 + h * (1.0f / 720)))));
  float ah, al;
  fast_two_sum(h, hl + q, &ah, &al);
  for (int i = 0; i < 4; ++i) {
    float sh, sl;
    ff_mul(ah, al, ah, al, &sh, &sl);
    ff_add(2.0f * ah, 2.0f * al, sh, sl, &ah, &al);
  }
  float mh, ml;
  fast_two_sum(1.0f, ah, &mh, &ml);
  fast_two_sum(mh, ml + al, &mh, &ml);
  return normalise(mh, ml, static_cast<int32_t>(k1) + static_cast<int32_t>(k2));
}

// x as a float-float pair (hi, lo) of ordinary floats: +inf beyond the float range, subnormal (gradual underflow,
// as float arithmetic rounds it) below 2^-126 and 0 below 2^-150; lo loses its digits first, far under the
// rounding of any sum it enters.
SEQLOSS_HD inline void to_ff(const X& x, float* hi, float* lo) {
  if (x.hi == 0.0f || x.k < -150) {
    *hi = 0.0f;
    *lo = 0.0f;
    return;
  }
  if (x.k > 127) {
    *hi = HUGE_VALF;
    *lo = 0.0f;
    return;
  }
  if (x.k >= -126) {
    const float s = pow2(x.k);
    *hi = x.hi * s;
    *lo = x.lo * s;
    return;
  }
  const float s = pow2(x.k + 64), t = pow2(-64);  // two exact steps, the second one rounding into the subnormals
  *hi = x.hi * s * t;
  *lo = x.lo * s * t;
}

// ln x in double (once per sequence); -inf for zero.
SEQLOSS_HD inline double to_log(const X& x) {
  if (x.hi == 0.0f) return -HUGE_VAL;
  return log(static_cast<double>(x.hi) + static_cast<double>(x.lo)) + static_cast<double>(x.k) * 0.69314718055994530942;
}

}  // namespace xf32
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_XFLOAT32_CUH
