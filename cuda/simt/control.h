// control.h (SIMT host) — what tests ask of the emulated devices beyond the CUDA API: counters, the work still
// queued, the memory held, a smaller device memory, failure injection, and whether hazards are printed.
// Only in builds with SEQLOSS_CUDA_EMULATE.
//
// Configuration from the environment, read at the first runtime call:
//   SEQLOSS_EMULATE_DEVICES=2       number of emulated devices (default 1; 0: none, cudaGetDeviceCount fails)
//   SEQLOSS_EMULATE_MEMORY=512M     memory of each device (default 4G; suffixes K, M, G)
//   SEQLOSS_EMULATE_NO_IMAGE=1,3    devices that hold no kernel image for this build (as a GPU too old for it)
//   SEQLOSS_EMULATE_QUIET=1         do not print hazards to stderr (they are still returned as errors)
#ifndef SEQLOSS_SIMT_CONTROL_H
#define SEQLOSS_SIMT_CONTROL_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace seqloss {
namespace simt {

struct Stats {
  uint64_t launches, blocks, threads, switches, hazards;
};
Stats stats();

// Operations queued on any stream of any device and not yet run (a call that returns with work still queued on
// caller memory leaves this above zero).
size_t pending_operations();
// Bytes of device memory in use on `device`: live allocations plus what memory pools keep cached.
uint64_t device_bytes_in_use(int device);
// Live allocations on `device` (cudaMalloc and stream-ordered ones not yet freed).
uint64_t live_allocations(int device);
// The memory of `device` in bytes (0: back to the configured size).
void set_memory_limit(int device, uint64_t bytes);

// Failure injection: the n-th runtime call (kernel launches included) counted from now fails without effect
// (allocations with cudaErrorMemoryAllocation, everything else with cudaErrorUnknown); a failed synchronisation
// still completes the stream's work, as a GPU whose context dies leaves nothing running. n = 0 turns it off.
void fail_nth_call(uint64_t n);
// The name of the call the injection failed, "" when none has failed since fail_nth_call.
std::string failed_call();
// Runtime calls counted since the last fail_nth_call.
uint64_t calls_since_arming();

void set_report(bool print_hazards);
const char* fiber_mechanism();

}  // namespace simt
}  // namespace seqloss

#endif  // SEQLOSS_SIMT_CONTROL_H
