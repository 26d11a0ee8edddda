// cuda_runtime.h (SIMT host) — the subset of the CUDA runtime API that the sources in cuda/ and the C++ tests call,
// for builds with SEQLOSS_CUDA_EMULATE: the same names, types, enum values and signatures as NVIDIA's header,
// implemented on the CPU by runtime.cc (devices, streams, memory, errors) and kernel.cc (the threads of a block).
// The build puts cuda/simt/ first on the include path, so `#include <cuda_runtime.h>` finds this file; no file of
// the CUDA toolkit is used.
//
// Semantics kept where the code relies on them (see runtime.cc for each): streams run their work in order and
// only when the host waits for it (a synchronisation, a blocking copy, cudaFree), so a missing synchronisation
// shows; the legacy default stream is ordered with blocking streams and not with non-blocking ones; device
// allocations are tracked (pointer attributes, range checks, a configurable memory size), filled with 0xFF bytes
// (NaN as float or double) when allocated, and freed in stream order; the last error is per host thread.
// The functions have C++ linkage and hidden visibility, so a process that also loads NVIDIA's runtime sees no clash.
#ifndef SEQLOSS_SIMT_CUDA_RUNTIME_H
#define SEQLOSS_SIMT_CUDA_RUNTIME_H

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#define CUDART_VERSION 13000
#define SEQLOSS_SIMT 1

// ---- qualifiers: nothing on the host ----------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define CUDARTAPI

// ---- types ------------------------------------------------------------------------------------------------------
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

struct CUstream_st;
typedef CUstream_st* cudaStream_t;
struct CUmemPoolHandle_st;
typedef CUmemPoolHandle_st* cudaMemPool_t;
struct CUevent_st;
typedef CUevent_st* cudaEvent_t;

#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02
#define cudaHostAllocDefault 0x00

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaStreamLegacy (reinterpret_cast<cudaStream_t>(0x1))
#define cudaStreamPerThread (reinterpret_cast<cudaStream_t>(0x2))

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

enum cudaMemoryType {
  cudaMemoryTypeUnregistered = 0,
  cudaMemoryTypeHost = 1,
  cudaMemoryTypeDevice = 2,
  cudaMemoryTypeManaged = 3
};

struct cudaPointerAttributes {
  enum cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrSingleToDoublePrecisionPerfRatio = 87,
  cudaDevAttrMemoryPoolsSupported = 115
};

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
  int singleToDoublePrecisionPerfRatio;
};

struct cudaFuncAttributes {
  size_t sharedSizeBytes;
  size_t constSizeBytes;
  size_t localSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int ptxVersion;
  int binaryVersion;
};

enum cudaMemPoolAttr {
  cudaMemPoolReuseFollowEventDependencies = 0x1,
  cudaMemPoolReuseAllowOpportunistic = 0x2,
  cudaMemPoolReuseAllowInternalDependencies = 0x3,
  cudaMemPoolAttrReleaseThreshold = 0x4,
  cudaMemPoolAttrReservedMemCurrent = 0x5,
  cudaMemPoolAttrReservedMemHigh = 0x6,
  cudaMemPoolAttrUsedMemCurrent = 0x7,
  cudaMemPoolAttrUsedMemHigh = 0x8
};
enum cudaMemAllocationType { cudaMemAllocationTypeInvalid = 0x0, cudaMemAllocationTypePinned = 0x1 };
enum cudaMemAllocationHandleType { cudaMemHandleTypeNone = 0x0 };
enum cudaMemLocationType { cudaMemLocationTypeInvalid = 0, cudaMemLocationTypeDevice = 1 };
struct cudaMemLocation {
  enum cudaMemLocationType type;
  int id;
};
struct cudaMemPoolProps {
  enum cudaMemAllocationType allocType;
  enum cudaMemAllocationHandleType handleTypes;
  struct cudaMemLocation location;
  void* win32SecurityAttributes;
  size_t maxSize;
  unsigned short usage;
  unsigned char reserved[54];
};

enum cudaDriverEntryPointQueryResult {
  cudaDriverEntryPointSuccess = 0,
  cudaDriverEntryPointSymbolNotFound = 1,
  cudaDriverEntryPointVersionNotSufficent = 2
};
#define cudaEnableDefault 0x0

// ---- functions --------------------------------------------------------------------------------------------------
#define SEQLOSS_SIMT_API __attribute__((visibility("hidden")))

SEQLOSS_SIMT_API cudaError_t cudaGetLastError();
SEQLOSS_SIMT_API cudaError_t cudaPeekAtLastError();
SEQLOSS_SIMT_API const char* cudaGetErrorString(cudaError_t error);
SEQLOSS_SIMT_API const char* cudaGetErrorName(cudaError_t error);
SEQLOSS_SIMT_API cudaError_t cudaRuntimeGetVersion(int* version);
SEQLOSS_SIMT_API cudaError_t cudaDriverGetVersion(int* version);

SEQLOSS_SIMT_API cudaError_t cudaGetDeviceCount(int* count);
SEQLOSS_SIMT_API cudaError_t cudaGetDevice(int* device);
SEQLOSS_SIMT_API cudaError_t cudaSetDevice(int device);
SEQLOSS_SIMT_API cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
SEQLOSS_SIMT_API cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
SEQLOSS_SIMT_API cudaError_t cudaDeviceSynchronize();
SEQLOSS_SIMT_API cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attr, const void* func);
SEQLOSS_SIMT_API cudaError_t cudaMemGetInfo(size_t* free, size_t* total);

SEQLOSS_SIMT_API cudaError_t cudaStreamCreate(cudaStream_t* stream);
SEQLOSS_SIMT_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
SEQLOSS_SIMT_API cudaError_t cudaStreamDestroy(cudaStream_t stream);
SEQLOSS_SIMT_API cudaError_t cudaStreamSynchronize(cudaStream_t stream);
SEQLOSS_SIMT_API cudaError_t cudaStreamQuery(cudaStream_t stream);

SEQLOSS_SIMT_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
SEQLOSS_SIMT_API cudaError_t cudaEventDestroy(cudaEvent_t event);
SEQLOSS_SIMT_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
SEQLOSS_SIMT_API cudaError_t cudaEventSynchronize(cudaEvent_t event);

// Page-locked host memory: ordinary host memory here (copies from it run when the host waits, as every copy does).
SEQLOSS_SIMT_API cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int flags);
SEQLOSS_SIMT_API cudaError_t cudaFreeHost(void* ptr);

SEQLOSS_SIMT_API cudaError_t cudaMalloc(void** ptr, size_t size);
SEQLOSS_SIMT_API cudaError_t cudaFree(void* ptr);
SEQLOSS_SIMT_API cudaError_t cudaMallocAsync(void** ptr, size_t size, cudaStream_t stream);
SEQLOSS_SIMT_API cudaError_t cudaMallocFromPoolAsync(void** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream);
SEQLOSS_SIMT_API cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
SEQLOSS_SIMT_API cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device);
SEQLOSS_SIMT_API cudaError_t cudaMemPoolCreate(cudaMemPool_t* pool, const cudaMemPoolProps* props);
SEQLOSS_SIMT_API cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool);
SEQLOSS_SIMT_API cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
SEQLOSS_SIMT_API cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
SEQLOSS_SIMT_API cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t min_bytes_to_keep);
SEQLOSS_SIMT_API cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr);

SEQLOSS_SIMT_API cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind kind);
SEQLOSS_SIMT_API cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind kind,
                                             cudaStream_t stream = nullptr);
SEQLOSS_SIMT_API cudaError_t cudaMemset(void* dst, int value, size_t count);
SEQLOSS_SIMT_API cudaError_t cudaMemsetAsync(void* dst, int value, size_t count, cudaStream_t stream = nullptr);

// The driver entry points seqloss asks for: cuMemGetAddressRange (v2), for the range checks of device arrays.
SEQLOSS_SIMT_API cudaError_t cudaGetDriverEntryPointByVersion(const char* symbol, void** func, unsigned int version,
                                                              unsigned long long flags,
                                                              cudaDriverEntryPointQueryResult* status = nullptr);

// The typed overloads of NVIDIA's header (cuda_runtime.h's C++ API).
template <class T>
inline cudaError_t cudaMalloc(T** ptr, size_t size) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), size);
}
template <class T>
inline cudaError_t cudaMallocAsync(T** ptr, size_t size, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(ptr), size, stream);
}
template <class T>
inline cudaError_t cudaMallocFromPoolAsync(T** ptr, size_t size, cudaMemPool_t pool, cudaStream_t stream) {
  return cudaMallocFromPoolAsync(reinterpret_cast<void**>(ptr), size, pool, stream);
}

// ---- device code ------------------------------------------------------------------------------------------------
#include "kernel.h"

#endif  // SEQLOSS_SIMT_CUDA_RUNTIME_H
