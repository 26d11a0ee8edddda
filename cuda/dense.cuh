// dense.cuh — what the dense operations (ACE and counting in ace.cu, the decoders in decode.cu) share on the host
// and device side: the device view of their metadata and the start of a call (workspace, metadata, input).
#ifndef SEQLOSS_CUDA_DENSE_CUH
#define SEQLOSS_CUDA_DENSE_CUH

#include <cstdint>

#include "runtime.cuh"

namespace seqloss {
namespace cuda {
namespace {

// Per sequence T_n and its first valid row; ACE also K_n (koff), its classes and counts and the offset of its
// compact values (null for the others).
struct Dense : Shape {
  const int32_t* Tn;    // N
  const int64_t* roff;  // N + 1
  const int64_t* koff;  // N + 1
  const int64_t* yoff;  // N
  const int32_t* kcls;  // Σ K_n
  const double* kN;     // Σ K_n
};

// Carves the workspace (the caller's, or one from the pool when `workspace` is null) and uploads the metadata `pack`.
// False (with the call's status) on failure.
inline bool place_dense(Call& call, const seqloss_problem& p, const HostPack& pack, int64_t rows, int64_t ytotal,
                        int64_t ktotal, DenseBuffers& b, void* workspace, size_t workspace_bytes, const char* size_fn) {
  const size_t need = b.carve(nullptr, p, rows, ytotal, ktotal, pack.size());
  unsigned char* ws = call.workspace(need, workspace, workspace_bytes, size_fn);
  if (ws == nullptr) return false;
  b.carve(ws, p, rows, ytotal, ktotal, pack.size());
  return call.to_device(b.meta, pack.data(), pack.size(), "cudaMemcpyAsync (metadata)");
}

// place_dense, then with host memory the input uploaded; *x is then the input on the device.
inline bool start_dense(Call& call, const seqloss_problem& p, const HostPack& pack, int64_t rows, int64_t ytotal,
                        int64_t ktotal, DenseBuffers& b, void* workspace, size_t workspace_bytes, const char* size_fn,
                        const float** x) {
  if (!place_dense(call, p, pack, rows, ytotal, ktotal, b, workspace, workspace_bytes, size_fn)) return false;
  *x = p.data;
  if (b.copy_data) {
    if (!call.upload(b.data, p.data, dense_bytes(p), "cudaMemcpyAsync (input)")) return false;
    *x = b.data;
  }
  return true;
}

}  // namespace
}  // namespace cuda
}  // namespace seqloss

#endif  // SEQLOSS_CUDA_DENSE_CUH
