// cpu.h — the CPU backend as dispatch.cc sees it. Every function here expects arguments that passed the checks
// of checks.h (sizes consistent, lengths and labels in range, outputs large enough) and host memory.
// One file per algorithm: ctc.cc (with fit.h: the alpha/gamma modifications), dctc.cc, align.cc (with viterbi.h),
// ace.cc, decode.cc; shared helpers in rows.h, vmath.h, parallel.h.
#ifndef SEQLOSS_CPU_CPU_H
#define SEQLOSS_CPU_CPU_H

#include <cstddef>
#include <cstdint>

#include "seqloss.h"

namespace seqloss {
namespace cpu {

// Workspace bytes for a call on `threads` threads (resolve_threads); false when the size overflows size_t.
bool ctc_workspace_bytes(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, size_t* bytes);
bool dctc_workspace_bytes(const seqloss_problem& p, const seqloss_dctc_options& o, int threads, size_t* bytes);
bool align_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes);
bool ace_workspace_bytes(const seqloss_problem& p, int threads, size_t* bytes);

// `workspace` holds at least *_workspace_bytes(p, threads) bytes (any alignment).
void ctc(const seqloss_problem& p, const seqloss_ctc_options& o, int threads, const seqloss_ctc_outputs& out,
         void* workspace);
void dctc(const seqloss_problem& p, const seqloss_dctc_options& o, int threads, const seqloss_dctc_outputs& out,
          void* workspace);
void ctc_align(const seqloss_problem& p, int threads, const seqloss_align_outputs& out, void* workspace);
void ace(const seqloss_problem& p, const seqloss_ace_options& o, int threads, const seqloss_ace_outputs& out,
         void* workspace);

void ctc_greedy_decode(const seqloss_problem& p, int threads, int32_t* labels, int32_t* lengths);
void ace_decode(const seqloss_problem& p, bool collapse_repeats, int threads, int32_t* labels, int32_t* lengths);
// Allocates its per-thread accumulators (may throw std::bad_alloc).
void ace_count(const seqloss_problem& p, int threads, float* expected, int32_t* rounded);

}  // namespace cpu
}  // namespace seqloss

#endif  // SEQLOSS_CPU_CPU_H
