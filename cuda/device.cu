// device.cu — CUDA device discovery (see device.h): the runtime and driver versions, the device count and each
// device's properties, with the runtime's own words (cudaGetErrorString) when something is missing; whether a
// device can run this build; seqloss's memory pool and pinned staging buffers per device.
#include "device.h"

#include "runtime.cuh"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

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
#if defined(SEQLOSS_CUDA_EMULATE)
  copy_string(dst, size, "emulated (SIMT host, compute 7.5)");
  return;
#endif
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

// What the build holds for a device of compute capability major.minor (from the CMake architecture list: "XY-real"
// is SASS, "XY-virtual" PTX, a bare "XY" both; "XYa" SASS for exactly X.Y). Writes why not into `why`.
bool runs_on(int major, int minor, char* why, size_t size) {
  const char* list = SEQLOSS_CUDA_ARCHITECTURES;
  const int cc = 10 * major + minor;
  char sass[128] = "", ptx[128] = "";
  size_t ns = 0, np = 0;
  for (const char* c = list; *c != '\0';) {
    const char* end = c;
    while (*end != '\0' && *end != ',' && *end != ';') ++end;
    char tok[32];
    const size_t len = static_cast<size_t>(end - c) < sizeof tok - 1 ? static_cast<size_t>(end - c) : sizeof tok - 1;
    std::memcpy(tok, c, len);
    tok[len] = '\0';
    c = *end != '\0' ? end + 1 : end;
    if (len == 0) continue;
    char* rest = nullptr;
    const long v = std::strtol(tok, &rest, 10);
    if (rest == tok) return true;  // "native", "all", ...: chosen by CMake for this machine; nothing to check
    const bool specific = *rest == 'a' || *rest == 'f';
    const bool is_real = std::strstr(rest, "-real") != nullptr, is_virtual = std::strstr(rest, "-virtual") != nullptr;
    const bool has_sass = !is_virtual, has_ptx = !is_real;
    if (has_sass && (specific ? v == cc : (v / 10 == major && v % 10 <= minor))) return true;
    if (has_ptx && !specific && v <= cc) return true;
    auto append = [v](char* list, size_t size, size_t* at) {
      if (*at + 8 < size) *at += static_cast<size_t>(std::snprintf(list + *at, size - *at, "%s%ld", *at ? ";" : "", v));
    };
    if (has_sass) append(sass, sizeof sass, &ns);
    if (has_ptx) append(ptx, sizeof ptx, &np);
  }
  std::snprintf(why, size,
                "no kernel image for compute %d.%d in this build (SASS for %s, PTX for %s); rebuild for it with "
                "SEQLOSS_CUDA_ARCHS=%d%d (CUDA 12 reaches sm_61, CUDA 13 starts at sm_75)",
                major, minor, ns ? sass : "none", np ? ptx : "none", major, minor);
  return false;
}

// Compute capability of `device` from two attributes (cheap, and no context).
cudaError_t capability(int device, int* major, int* minor) {
  cudaError_t e = cudaDeviceGetAttribute(major, cudaDevAttrComputeCapabilityMajor, device);
  if (e == cudaSuccess) e = cudaDeviceGetAttribute(minor, cudaDevAttrComputeCapabilityMinor, device);
  if (e != cudaSuccess) cudaGetLastError();
  return e;
}

struct PoolSlot {
  std::mutex mu;
  cudaMemPool_t pool = nullptr;
};
constexpr int kMaxDevices = 64;

// The staging pairs of one device that no call holds.
struct StageSlot {
  std::mutex mu;
  Staging* free[kStageKeep] = {};
  int count = 0;
};

StageSlot* stage_slots() {
  static StageSlot slots[kMaxDevices];
  return slots;
}

void destroy_staging(Staging* s) {
  for (int i = 0; i < 2; ++i) {
    if (s->done[i] != nullptr) cudaEventDestroy(s->done[i]);
  }
  if (s->base != nullptr) cudaFreeHost(s->base);
  delete s;
}

// SEQLOSS_CUDA_STAGE_BYTES (a test's knob, read once per process): the bytes of each buffer, at least 4 KiB;
// kStageChunk otherwise.
size_t stage_chunk() {
  static const size_t chunk = [] {
    if (const char* e = std::getenv("SEQLOSS_CUDA_STAGE_BYTES")) {
      const long long v = std::atoll(e);
      if (v >= 4096) return static_cast<size_t>(v) / 256 * 256;
    }
    return kStageChunk;
  }();
  return chunk;
}

}  // namespace

void query(seqloss_cuda_info* info) {
  std::memset(info, 0, sizeof *info);
  info->compiled = 1;
#if defined(SEQLOSS_CUDA_EMULATE)
  info->emulated = 1;
#endif
  format_architectures(info->architectures, sizeof info->architectures);
  int runtime = 0, driver = 0;
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) info->runtime_version = runtime;
  cudaError_t derr = cudaDriverGetVersion(&driver);
  if (derr == cudaSuccess) info->driver_version = driver;
  cudaGetLastError();
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the (non-sticky) error so later calls start clean
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
    return;
  }
  char first[sizeof info->reason - 32] = "";
  for (int i = 0; i < count; ++i) {
    seqloss_cuda_device d;
    char msg[256];
    if (device_query(i, &d, msg, sizeof msg) != SEQLOSS_OK) {
      if (first[0] == '\0') std::snprintf(first, sizeof first, "device %d: %.400s", i, msg);
      continue;
    }
    if (d.usable != 0) {
      info->usable_devices++;
    } else if (first[0] == '\0') {
      std::snprintf(first, sizeof first, "device %d (%.100s): %.300s", i, d.name, d.reason);
    }
  }
  if (info->usable_devices == 0) {
    std::snprintf(info->reason, sizeof info->reason, "no usable CUDA device: %.470s", first);
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
  device->usable = runs_on(prop.major, prop.minor, device->reason, sizeof device->reason) ? 1 : 0;
  if (device->usable != 0) device->reason[0] = '\0';
  if (message != nullptr && message_size > 0) message[0] = '\0';
  return SEQLOSS_OK;
}

seqloss_status check_usable(int32_t device, Message msg) {
  int major = 0, minor = 0;
  const cudaError_t e = capability(device, &major, &minor);
  if (e != cudaSuccess) {
    return fail(msg, SEQLOSS_ERROR_DEVICE, "CUDA cudaDeviceGetAttribute (compute capability of device %d) failed: %s",
                device, cudaGetErrorString(e));
  }
  char why[256];
  if (!runs_on(major, minor, why, sizeof why)) {
    return fail(msg, SEQLOSS_ERROR_UNSUPPORTED, "CUDA device %d cannot run this build: %s", device, why);
  }
  return SEQLOSS_OK;
}

cudaError_t device_pool(int32_t device, cudaMemPool_t* pool) {
  static PoolSlot slots[kMaxDevices];
  if (device < 0 || device >= kMaxDevices) return cudaErrorInvalidDevice;
  PoolSlot& s = slots[device];
  std::lock_guard<std::mutex> lk(s.mu);
  if (s.pool == nullptr) {
    // Created once per device and kept for the process (a failure is retried by the next call).
    cudaMemPoolProps props;
    std::memset(&props, 0, sizeof props);
    props.allocType = cudaMemAllocationTypePinned;
    props.handleTypes = cudaMemHandleTypeNone;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = device;
    cudaMemPool_t p = nullptr;
    cudaError_t e = cudaMemPoolCreate(&p, &props);
    if (e != cudaSuccess) return e;
    uint64_t keep = kPoolKeepBytes;
    e = cudaMemPoolSetAttribute(p, cudaMemPoolAttrReleaseThreshold, &keep);
    if (e != cudaSuccess) {
      cudaMemPoolDestroy(p);
      return e;
    }
    s.pool = p;
  }
  *pool = s.pool;
  return cudaSuccess;
}

cudaError_t take_staging(int32_t device, Staging** out) {
  *out = nullptr;
  if (device < 0 || device >= kMaxDevices) return cudaErrorInvalidDevice;
  StageSlot& slot = stage_slots()[device];
  {
    std::lock_guard<std::mutex> lk(slot.mu);
    if (slot.count > 0) {
      *out = slot.free[--slot.count];
      return cudaSuccess;
    }
  }
  // A new pair (the caller has made `device` current: the events belong to it).
  Staging* s = new Staging;
  s->device = device;
  s->chunk = stage_chunk();
  void* base = nullptr;
  cudaError_t e = cudaHostAlloc(&base, 2 * s->chunk, cudaHostAllocDefault);
  s->base = static_cast<unsigned char*>(base);
  for (int i = 0; i < 2 && e == cudaSuccess; ++i) e = cudaEventCreateWithFlags(&s->done[i], cudaEventDisableTiming);
  if (e != cudaSuccess) {
    destroy_staging(s);
    return e;
  }
  s->buf[0] = s->base;
  s->buf[1] = s->base + s->chunk;
  *out = s;
  return cudaSuccess;
}

size_t stage_threshold() {
  static const size_t t = [] {
    const size_t c = stage_chunk();
    return c < kStageMin ? c : kStageMin;
  }();
  return t;
}

void drop_staging(Staging* s) {
  if (s != nullptr) destroy_staging(s);
}

void give_staging(Staging* s) {
  if (s == nullptr) return;
  if (s->device >= 0 && s->device < kMaxDevices) {
    StageSlot& slot = stage_slots()[s->device];
    std::lock_guard<std::mutex> lk(slot.mu);
    if (slot.count < kStageKeep) {
      slot.free[slot.count++] = s;
      return;
    }
  }
  destroy_staging(s);
}

}  // namespace cuda
}  // namespace seqloss
