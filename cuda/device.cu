// device.cu — CUDA device discovery only (see device.h): the runtime and driver versions, the device count and
// each device's properties, with the runtime's own words (cudaGetErrorString) when something is missing.
#include "device.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>

#ifndef SEQLOSS_CUDA_ARCHITECTURES
#define SEQLOSS_CUDA_ARCHITECTURES ""
#endif

namespace seqloss {
namespace cuda {

namespace {

void copy_string(char* dst, size_t size, const char* src) {
  if (size == 0) return;
  std::snprintf(dst, size, "%s", src != nullptr ? src : "");
}

// CMake passes the architectures comma-separated ("75-real,80-real,120"); report them as the header's example
// does, ';'-separated, without the -real / -virtual suffixes.
void format_architectures(char* dst, size_t size) {
  const char* src = SEQLOSS_CUDA_ARCHITECTURES;
  size_t o = 0;
  bool skipping = false;
  for (const char* c = src; *c != '\0' && o + 1 < size; ++c) {
    if (*c == ',' || *c == ';') {
      skipping = false;
      dst[o++] = ';';
    } else if (*c == '-') {
      skipping = true;  // "-real" / "-virtual"
    } else if (!skipping) {
      dst[o++] = *c;
    }
  }
  dst[o < size ? o : size - 1] = '\0';
}

}  // namespace

void query(seqloss_cuda_info* info) {
  std::memset(info, 0, sizeof *info);
  info->compiled = 1;
  format_architectures(info->architectures, sizeof info->architectures);
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) info->runtime_version = runtime;
  cudaError_t derr = cudaDriverGetVersion(&driver);
  if (derr == cudaSuccess) info->driver_version = driver;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    info->device_count = 0;
    if (driver == 0) {
      std::snprintf(info->reason, sizeof info->reason, "no CUDA driver is installed (cudaGetDeviceCount: %s)",
                    cudaGetErrorString(err));
    } else {
      std::snprintf(info->reason, sizeof info->reason, "cudaGetDeviceCount failed: %s (driver %d, runtime %d)",
                    cudaGetErrorString(err), driver, runtime);
    }
    return;
  }
  info->device_count = count;
  if (count == 0) {
    copy_string(info->reason, sizeof info->reason, "the CUDA driver reports no devices");
  }
}

seqloss_status device_query(int32_t index, seqloss_cuda_device* device, char* message, size_t message_size) {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (message != nullptr && message_size > 0) {
      std::snprintf(message, message_size, "no CUDA device can be used: %s", cudaGetErrorString(err));
    }
    return SEQLOSS_ERROR_DEVICE;
  }
  if (index < 0 || index >= count) {
    if (message != nullptr && message_size > 0) {
      std::snprintf(message, message_size, "device must be an integer in [0, %d), got %d", count, index);
    }
    return SEQLOSS_ERROR_RANGE;
  }
  cudaDeviceProp prop;
  std::memset(&prop, 0, sizeof prop);
  err = cudaGetDeviceProperties(&prop, index);
  if (err != cudaSuccess) {
    cudaGetLastError();
    if (message != nullptr && message_size > 0) {
      std::snprintf(message, message_size, "cudaGetDeviceProperties(%d) failed: %s", index, cudaGetErrorString(err));
    }
    return SEQLOSS_ERROR_DEVICE;
  }
  std::memset(device, 0, sizeof *device);
  device->index = index;
  copy_string(device->name, sizeof device->name, prop.name);
  device->major = prop.major;
  device->minor = prop.minor;
  device->total_memory = static_cast<int64_t>(prop.totalGlobalMem);
  device->multiprocessors = prop.multiProcessorCount;
  if (message != nullptr && message_size > 0) message[0] = '\0';
  return SEQLOSS_OK;
}

}  // namespace cuda
}  // namespace seqloss
