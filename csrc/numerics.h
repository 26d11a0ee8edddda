// numerics.h — the constants and closed forms that the CTC family (CTC, its fit, DCTC, ctcAlign) computes the
// same way on the CPU (csrc/cpu) and on the GPU (cuda/ctc.cu), and that lib/reference mirrors in TypeScript
// (README, "Numerics at the extremes"). Plain C++ that also compiles as CUDA device code.
//
//  - Emissions relative to the frame: rho_tk = ln y_tk - c_t with c_t = max_k ln y_tk over all C classes. Logits:
//    rho = s (x - max x) in double and c_t = -ln sum_k e^rho_tk; log-probs: rho = x - max x, c_t = max x. The rho
//    are the same doubles on every backend; ln p(l|x) = ln p_rho(l) + sum_t c_t (added in double).
//  - rho < kLogZero counts as probability exactly 0 in the recursions.
//  - DCTC's distillation term in log space (Zhang et al., the CE against Q_t = softmax(s a_t - s m e_z)).
//  - ACE's per-class terms and gradients, N_blank, the placement of eps and the reduction scale (at the end).
#ifndef SEQLOSS_NUMERICS_H
#define SEQLOSS_NUMERICS_H

#include <math.h>

#if defined(__CUDACC__)
#define SEQLOSS_HD __host__ __device__
#else
#define SEQLOSS_HD
#endif

namespace seqloss {
namespace num {

// Below this relative log-probability a class has probability 0 (D2). Also keeps the CPU's xfloat exponents
// within |k| < 1.5e8 per frame, so sums over any T < 2^31 frames stay far from int64 overflow.
constexpr double kLogZero = -1e8;
// DCTC z*: keys within a relative 1e-6 of the best are tied (D6).
constexpr double kZTie = 1e-6;
// DCTC 'ratio': y'_k / max(P_k, 1e-8).
constexpr double kRatioFloor = 1e-8;
// DCTC with a margin: where ln(Q_k / P_k) exceeds this, the dense gradient row is formed in double per class
// (a float factor e^ell times a float softmax would lose the classes whose P_k underflows float).
constexpr double kDenseFactorLog = 16.0;

SEQLOSS_HD inline double neg_infinity() { return -HUGE_VAL; }

// rho as the recursions see it: -inf below kLogZero (NaN is screened out before).
SEQLOSS_HD inline double clamp_log_zero(double rho) { return rho < kLogZero ? neg_infinity() : rho; }

// -ln p(l|x) from the relative log-likelihood and the frames' shift (D1); for logits the exact value is >= 0, so a
// rounding artefact below 0 is returned as 0 (D4). +0 for p = 1.
SEQLOSS_HD inline double ctc_nll(double ll_rel, double shift, bool logits) {
  const double v = 0.0 - (ll_rel + shift);
  return logits && !(v > 0.0) ? 0.0 : v;
}

// ln(1 + e^x) and 1 / (1 + e^-x) without overflow.
SEQLOSS_HD inline double softplus(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
SEQLOSS_HD inline double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

// The distillation term at one frame with target z (D7). With rho_k = s (a_k - max a), r = ln sum_k e^rho_k,
// R_z = ln sum_{k != z} e^rho_k and Q = softmax(rho - s m e_z):
//   Delta = R_z - rho_z + s m,  CE = -ln Q_z = softplus(Delta),  q1 = 1 - Q_z = sigmoid(Delta),
//   Q_k = P_k e^ell (k != z) with ell = r - R_z - softplus(-Delta).
// Nothing overflows or cancels for any s m (validated: s in (0, 1e6], m in [0, 1e30]). m = 0: Q = P (ell = 0,
// q1 = 1 - P_z, CE = -ln P_z), the closed form the kernels had before.
struct DistillTerms {
  double ce;   // -ln Q_z
  double q1;   // 1 - Q_z
  double ell;  // ln(Q_k / P_k), k != z
};

// sm = 0. lnPz = rho_z - r.
SEQLOSS_HD inline DistillTerms distill_plain(double lnPz) { return DistillTerms{-lnPz, -expm1(lnPz), 0.0}; }

// sm > 0, with R_z given (-inf when z is the only class with probability: then Q_z = 1).
SEQLOSS_HD inline DistillTerms distill_margin(double rho_z, double r, double Rz, double sm) {
  if (Rz == neg_infinity()) return DistillTerms{0.0, 0.0, 0.0};
  const double d = Rz - rho_z + sm;
  return DistillTerms{softplus(d), sigmoid(d), r - Rz - softplus(-d)};
}

// R_z from r and P_z = e^(rho_z - r) where P_z <= 1/2 (then 1 - P_z does not cancel): R_z = r + ln(1 - P_z).
// Where P_z > 1/2 the caller sums the other classes (z is then the frame's unique maximum).
SEQLOSS_HD inline double rest_from_pz(double r, double Pz) { return r + log1p(-Pz); }

// The gradient bracket of the label's classes (times r s outside): beta (P_k - y'_k) + lambda (Q_k - [k = z]).
SEQLOSS_HD inline double dctc_bracket(double beta, double lambda, double Pk, double lnPk, double yk,
                                      const DistillTerms& d, bool is_z) {
  const double q = is_z ? -d.q1 : (d.ell == 0.0 ? Pk : exp(lnPk + d.ell));
  return beta * (Pk - yk) + lambda * q;
}

// CTC's reduction scale of sequence n: mean 1 / (N max(L_n, 1)), sum and none 1 (F: double on the CPU, float in
// the CUDA backend's FP32 pipeline).
template <class F>
SEQLOSS_HD inline F ctc_reduction_scale(bool mean, F N, F L) {
  return mean ? F(1) / (N * (L > F(1) ? L : F(1))) : F(1);
}

// Li & Wang, Eq. 15: the factor of class k over a scope, from V_k = sum_t y'_tk (Eq. 13), N_k = occurrences of
// label k (Eq. 14) and L = sum_{k != blank} N_k: f_k = alpha N_k / V_k (k != blank), f_blank = (1 - alpha) L /
// V_blank, and 0 where V_k = 0. (The paper's alpha, the share of the labels; not the forward variable alpha_t(s).)
SEQLOSS_HD inline double fit_alpha_factor(double alpha, bool is_blank, double Nk, double L, double Vk) {
  if (Vk == 0.0) return 0.0;
  return is_blank ? (1.0 - alpha) * L / Vk : alpha * Nk / Vk;
}

// Li & Wang, Eq. 17 with the per-sequence normalisation: w^_t = T_n w_t^gamma / sum_{t' < T_n} w_t'^gamma, and 1
// on every frame when that sum is 0.
SEQLOSS_HD inline double fit_gamma_normalised(double wg, double sum, double Tn) {
  return sum == 0.0 ? 1.0 : Tn * wg / sum;
}

// L_n = beta ctc_n + lambda distill_n, the CTC term left out when beta = 0 (no 0 * inf).
SEQLOSS_HD inline double dctc_total(double beta, double lambda, double ctc_n, double distill_n) {
  return (beta == 0.0 ? 0.0 : beta * ctc_n) + lambda * distill_n;
}

// One step of the z* rule (D6) over candidates in any order: first the best key (pass 1), then, among the keys
// >= (1 - kZTie) best, the best posterior (pass 2), then the lowest class among those with posterior >= (1 - kZTie)
// of it (pass 3). tie_floor(best) is the threshold of passes 2 and 3.
SEQLOSS_HD inline double tie_floor(double best) { return best * (1.0 - kZTie); }

// ---- ACE (Xie et al., CVPR 2019), per class k of a sequence of T_n frames (csrc/cpu/ace.cc, cuda/ace.cu) ----

// §3.1: the blank's count is what the labels leave of the frames, N_blank = T_n - sum_{k != blank} N_k.
SEQLOSS_HD inline double ace_blank_count(double Tn, double labelled) { return Tn - labelled; }

// The aggregate with eps (eps enters here only): y_k = sum_t (y_k^t + eps) = sum_t y_k^t + T_n eps; in log space
// ln y_k = ln(e^lsum + T_n eps) for lsum = ln sum_t y_k^t (-inf allowed).
SEQLOSS_HD inline double ace_aggregate(double sum, double Tn, double eps) { return sum + Tn * eps; }
SEQLOSS_HD inline double ace_log_aggregate(double lsum, double Tn, double eps) {
  const double teps = Tn * eps;
  if (!(teps > 0.0)) return lsum;
  const double le = log(teps);
  if (lsum == neg_infinity()) return le;
  const double m = lsum > le ? lsum : le;
  return m + log1p(exp(-fabs(lsum - le)));
}

// CE (Eq. 8), from ln(y_k / T_n) (the caller's log): the term -(N_k/T_n) ln(y_k/T_n) of a class with N_k > 0, and
// g_k = dL/dy_k^t = -N_k / (T_n y_k).
SEQLOSS_HD inline double ace_ce_term(double Nk, double Tn, double ln_ratio) { return -(Nk / Tn) * ln_ratio; }
SEQLOSS_HD inline double ace_ce_grad(double Nk, double Tn, double yk) { return -Nk / (Tn * yk); }
// L_n = sum of the terms; with eps = 0 it is >= 0 in exact arithmetic, so a rounding residue below 0 is 0.
SEQLOSS_HD inline double ace_ce_total(double sum, double eps) { return eps == 0.0 && sum < 0.0 ? 0.0 : sum; }

// Regression (Eq. 4): the term 1/2 (N_k - y_k)^2 and g_k = y_k - N_k.
SEQLOSS_HD inline double ace_regression_term(double Nk, double yk) {
  const double d = Nk - yk;
  return 0.5 * d * d;
}
SEQLOSS_HD inline double ace_regression_grad(double Nk, double yk) { return yk - Nk; }

// ACE's reduction scale: mean 1/N, sum and none 1.
SEQLOSS_HD inline double ace_reduction_scale(bool mean, double N) { return mean ? 1.0 / N : 1.0; }

}  // namespace num
}  // namespace seqloss

#endif  // SEQLOSS_NUMERICS_H
