// fit.h — "CTC as iterative fitting" (Li & Wang): the alpha and gamma modifications of the fitted target y'
// (the CTC frame posterior). The formulas, each once; ctc.cc does the bookkeeping (scopes, frames, rows).
// Arrays are over a sequence's compact classes (the distinct classes of its extended label, blank first), padded
// with zeros to UP (a multiple of 8, for the vector helpers of rows.h): every other class has y' = 0, so sums and
// maxima over them are exact.
#ifndef SEQLOSS_CPU_FIT_H
#define SEQLOSS_CPU_FIT_H

#include <cstdint>

#include "cpu/rows.h"
#include "cpu/vmath.h"
#include "cpu/xfloat.h"
#include "numerics.h"

namespace seqloss {
namespace cpu {
namespace fit {

// Eq. 15: num::fit_alpha_factor (csrc/numerics.h, shared with the CUDA backend).
using num::fit_alpha_factor;

// Eq. 15-16 on one frame: y''_k = f_k y'_k, then y'_k <- y''_k / sum_k' y''_k' (left 0 when that sum is 0).
// f is padded with zeros.
template <int W>
SEQLOSS_INLINE void alpha_renormalise(double* __restrict y, const double* __restrict f, int64_t UP) {
  const double sum = dot8<W>(y, f, UP);
  const double inv = sum == 0.0 ? 0.0 : 1.0 / sum;
  for (int64_t j = 0; j < UP; ++j) y[j] = y[j] * f[j] * inv;
}

// Eq. 18: w_t = max_k (y'_tk - y_tk), clamped at 0 (exactly what the max over all classes gives, as
// sum_k (y' - y) = 0; the classes outside the compact set only contribute -y_tk <= 0).
template <int W>
SEQLOSS_INLINE double gamma_frame_weight(const double* yfit, const double* y, int64_t UP) {
  return max_diff8<W>(yfit, y, UP);
}

// w_t^gamma for w_t in [0, 1]: e^(gamma ln w_t) (xfloat.h's exp, relative error < 1e-14; 0 for w_t = 0).
// Branch-free, so a loop over the frames vectorises. (gamma = 1 is the identity: the caller skips it.)
SEQLOSS_INLINE double gamma_power(double w, double gamma) {
  double m;
  int64_t k;
  xf::from_log(gamma * vm::log_f64(w), &m, &k);
  return xf::to_double(m, k);
}

// Eq. 17's normalisation: num::fit_gamma_normalised.
using num::fit_gamma_normalised;

}  // namespace fit
}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_FIT_H
