// viterbi.h — the most probable path of one sequence through its extended label l' = (blank, l_1, blank, ...,
// l_L, blank): the max-product form of the CTC forward recursion, with back-pointers. Shared by align.cc
// (ctcAlign) and dctc.cc (alignment 'viterbi'), so both give the same path.
//   delta_t(s) = ln y^t_{l'_s} + max(delta_{t-1}(s), delta_{t-1}(s-1), delta_{t-1}(s-2) if l'_s != blank and
//                l'_s != l'_{s-2}),  delta_0(0), delta_0(1) from the start;  best = max(delta_{T-1}(S-1), delta_{T-1}(S-2)).
// Ties: stay (s) before advance (s-1) before skip (s-2); at the end the final blank (S-1) before the last label.
#ifndef SEQLOSS_CPU_VITERBI_H
#define SEQLOSS_CPU_VITERBI_H

#include <cstddef>
#include <cstdint>

namespace seqloss {
namespace cpu {

// Bytes of scratch for one sequence of at most tmax frames and lmax labels (any alignment is accepted by
// viterbi(); it aligns internally, the count includes the slack).
size_t viterbi_scratch_bytes(int64_t tmax, int64_t lmax);

// logy: for t < Tn, row t at logy + t * ld holds ln y^t of the sequence's compact classes (the distinct classes of
// l'); state s (0 <= s < 2L + 1) emits compact class cidx[s]. lab: the L labels, blank: the blank class.
// Writes path[t], t < Tn, = the class of the best path's state at frame t and returns that path's ln-probability
// (a sum of the ln y in double). When no path collapses to the label (L + repeats > Tn, or every path has
// probability 0) returns -infinity and leaves path untouched. Tn = 0: returns 0 for L = 0, -infinity otherwise.
double viterbi(const double* logy, int64_t ld, int64_t Tn, const int32_t* lab, int64_t L, int32_t blank,
               const int32_t* cidx, void* scratch, int32_t* path);

}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_VITERBI_H
