// backend.h — the CUDA backend as dispatch.cc sees it (the counterpart of csrc/cpu/cpu.h). Every function expects
// arguments that passed the checks of checks.h; it sets the device, runs on exec.stream (or a stream of its own),
// and returns SEQLOSS_ERROR_DEVICE / SEQLOSS_ERROR_ALLOC with a message when the CUDA runtime fails.
//
// Memory (exec.memory): with SEQLOSS_MEMORY_DEVICE, `data`, `grad` and `posterior` are device pointers on
// exec.device; every other array (lengths, targets, counts, losses, alignments, paths, scores, decoder outputs) is
// host memory in both modes. With SEQLOSS_MEMORY_HOST the dense arrays are copied in and out.
// Workspace: device memory of at least the *_workspace_bytes size, or NULL to use the device's stream-ordered
// memory pool (cudaMallocAsync; freed memory stays cached in the pool for the next call).
// Every call ends with a synchronisation of its stream (the host outputs are written when it returns); there is
// none between the kernels of one call.
#ifndef SEQLOSS_CUDA_BACKEND_H
#define SEQLOSS_CUDA_BACKEND_H

#include <cstddef>
#include <cstdint>

#include "checks.h"
#include "seqloss.h"

namespace seqloss {
namespace cuda {

seqloss_status ctc_workspace_bytes(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                                   const seqloss_ctc_outputs* out, size_t* bytes, Message msg);
seqloss_status ctc(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                   const seqloss_ctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg);

seqloss_status dctc_workspace_bytes(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                                    const seqloss_dctc_outputs* out, size_t* bytes, Message msg);
seqloss_status dctc(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                    const seqloss_dctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg);

seqloss_status align_workspace_bytes(const seqloss_problem& p, const seqloss_exec& e, size_t* bytes, Message msg);
seqloss_status ctc_align(const seqloss_problem& p, const seqloss_exec& e, const seqloss_align_outputs& out,
                         void* workspace, size_t workspace_bytes, Message msg);

seqloss_status ace_workspace_bytes(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                                   const seqloss_ace_outputs* out, size_t* bytes, Message msg);
seqloss_status ace(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                   const seqloss_ace_outputs& out, void* workspace, size_t workspace_bytes, Message msg);

// Decoders and counting allocate their (small) scratch from the pool.
seqloss_status greedy_decode(const seqloss_problem& p, const seqloss_exec& e, bool ace, bool merge, int32_t* labels,
                             int32_t* lengths, Message msg);
seqloss_status ace_count(const seqloss_problem& p, const seqloss_exec& e, float* expected, int32_t* rounded,
                         Message msg);

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_BACKEND_H
