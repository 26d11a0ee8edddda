// device.h — CUDA device discovery for the C ABI (seqloss_cuda_query, seqloss_cuda_device_query). No kernels, and
// no CUDA types (dispatch.cc includes it); what the kernels' hosts need of device.cu is declared in runtime.cuh.
// Compiled only when the build has the CUDA backend (SEQLOSS_WITH_CUDA); the runtime is linked statically and
// opens the driver at run time, so these functions also work (and say why not) on machines with no GPU or driver.
#ifndef SEQLOSS_CUDA_DEVICE_H
#define SEQLOSS_CUDA_DEVICE_H

#include <cstddef>
#include <cstdint>

#include "seqloss.h"

namespace seqloss {
namespace cuda {

// Fills every field of `info` (compiled = 1). Never fails: when no device can be used, reason says why.
void query(seqloss_cuda_info* info);

// Fills `device` for 0 <= index < device count; SEQLOSS_ERROR_RANGE for another index, SEQLOSS_ERROR_DEVICE when
// the runtime fails (no driver, ...), with a message.
seqloss_status device_query(int32_t index, seqloss_cuda_device* device, char* message, size_t message_size);

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_DEVICE_H
