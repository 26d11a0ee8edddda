// internal.h (SIMT host) — what runtime.cc and kernel.cc share: running one launch, and the host's counters.
#ifndef SEQLOSS_SIMT_INTERNAL_H
#define SEQLOSS_SIMT_INTERNAL_H

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "cuda_runtime.h"

namespace seqloss {
namespace simt {

// Runs every block of a launch on the calling OS thread, blocks in order (x fastest), the threads of a block as
// fibers. False when a hazard stopped it; *why then holds the message (kernel, block, thread, what happened).
bool run_kernel(const char* name, dim3 grid, dim3 block, const std::function<void()>& body, std::string* why);

struct Counters {
  std::atomic<uint64_t> launches{0}, blocks{0}, threads{0}, switches{0}, hazards{0};
};
Counters& counters();

// Whether hazards are also printed to stderr (on by default; SEQLOSS_EMULATE_QUIET=1 or set_report(false) turns
// it off).
bool reporting();

}  // namespace simt
}  // namespace seqloss

#endif  // SEQLOSS_SIMT_INTERNAL_H
