// portable.cuh — the three spellings that let every source in cuda/ compile both under nvcc and, with
// SEQLOSS_CUDA_EMULATE, as plain C++ against the SIMT host in cuda/simt/ (one kernel body, two compilers):
//
//   SEQLOSS_SHARED(T, name, count);   a block's __shared__ T name[count]. Under the host, a checked view: every
//                                     access is bounds- and race-checked; under nvcc, exactly the __shared__ array.
//   Smem<T>                           how a device function takes such an array: T* under nvcc.
//   SEQLOSS_LAUNCH(kernel, grid, block, stream, args...)
//                                     kernel<<<grid, block, 0, stream>>>(args...); launch errors are read with
//                                     cudaGetLastError() afterwards, in both builds.
//
// Under nvcc all three cost nothing: they expand to what one would have written by hand.
#ifndef SEQLOSS_CUDA_PORTABLE_CUH
#define SEQLOSS_CUDA_PORTABLE_CUH

#include <cuda_runtime.h>  // NVIDIA's, or cuda/simt/cuda_runtime.h in an emulated build

namespace seqloss {
namespace cuda {

#if defined(SEQLOSS_CUDA_EMULATE)

template <class T>
using Smem = ::seqloss::simt::Shared<T>;

#define SEQLOSS_SHARED(T, name, count)                                              \
  static const ::seqloss::simt::SharedSite name##_site_{#name, __FILE__, __LINE__}; \
  const ::seqloss::simt::Shared<T> name(&name##_site_, (count))

#define SEQLOSS_LAUNCH(kernel, grid, block, stream, ...) \
  ::seqloss::simt::launch(#kernel, kernel, (grid), (block), (stream), __VA_ARGS__)

#else

template <class T>
using Smem = T*;

#define SEQLOSS_SHARED(T, name, count) __shared__ T name[count]

#define SEQLOSS_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)

#endif

}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_PORTABLE_CUH
