// dispatch.cc — the extern "C" entries of seqloss.h: check every argument (checks.h), pick the backend, size or
// allocate the workspace, run, and turn every C++ exception into a status at the boundary.
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>

#include "checks.h"
#include "cpu/cpu.h"
#include "cpu/parallel.h"
#include "seqloss.h"

#if defined(SEQLOSS_WITH_CUDA)
#include "../cuda/backend.h"
#include "../cuda/device.h"
#endif

#ifndef SEQLOSS_VERSION_STRING
#define SEQLOSS_VERSION_STRING "0.0.0"
#endif

namespace seqloss {
namespace {

constexpr const char* kNoCudaBuild = "this build has no CUDA backend (nvcc was not found at build time)";

template <class F>
seqloss_status guarded(Message msg, F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(msg, SEQLOSS_ERROR_ALLOC, "out of memory");
  } catch (const std::exception& e) {
    return fail(msg, SEQLOSS_ERROR_INTERNAL, "internal error: %s", e.what());
  } catch (...) {
    return fail(msg, SEQLOSS_ERROR_INTERNAL, "internal error: unknown exception");
  }
}

// After the checks: the CUDA backend needs a build with CUDA; the CPU backend reads host memory only.
seqloss_status backend_gate(const seqloss_exec* exec, Message msg) {
  if (exec->backend == SEQLOSS_BACKEND_CUDA) {
#if defined(SEQLOSS_WITH_CUDA)
    return SEQLOSS_OK;
#else
    return fail(msg, SEQLOSS_ERROR_UNSUPPORTED, "%s", kNoCudaBuild);
#endif
  }
  if (exec->memory == SEQLOSS_MEMORY_DEVICE) {
    return fail(msg, SEQLOSS_ERROR_UNSUPPORTED,
                "memory 1 (device) needs the CUDA backend; the CPU backend reads and writes host memory only");
  }
  return SEQLOSS_OK;
}

// Runs `cuda_call()` when exec asks for the CUDA backend (after backend_gate, so only in CUDA builds).
#if defined(SEQLOSS_WITH_CUDA)
#define SEQLOSS_ON_CUDA(exec, expr) \
  if ((exec)->backend == SEQLOSS_BACKEND_CUDA) return (expr)
#else
#define SEQLOSS_ON_CUDA(exec, expr) \
  do {                              \
  } while (0)
#endif

// Runs `body(workspace)` with the caller's workspace (checked against `need`) or one of our own.
template <class F>
seqloss_status with_workspace(size_t need, void* workspace, size_t workspace_bytes, const char* size_fn, Message msg,
                              F&& body) {
  if (workspace == nullptr || workspace_bytes == 0) {
    std::unique_ptr<unsigned char[]> own(new (std::nothrow) unsigned char[need]);
    if (!own) return fail(msg, SEQLOSS_ERROR_ALLOC, "could not allocate %zu bytes of workspace", need);
    body(own.get());
  } else {
    if (workspace_bytes < need) {
      return fail(msg, SEQLOSS_ERROR_RANGE, "workspace must be at least %zu bytes (%s), got workspace_bytes = %zu",
                  need, size_fn, workspace_bytes);
    }
    body(workspace);
  }
  clear(msg);
  return SEQLOSS_OK;
}

seqloss_status too_large(Message msg) {
  return fail(msg, SEQLOSS_ERROR_RANGE, "the workspace for this problem would not fit in the address space");
}

}  // namespace
}  // namespace seqloss

using seqloss::Extents;
using seqloss::Message;
using seqloss::fail;
using seqloss::guarded;

extern "C" {

SEQLOSS_API int32_t seqloss_abi_version(void) { return SEQLOSS_ABI_VERSION; }

SEQLOSS_API const char* seqloss_version(void) { return SEQLOSS_VERSION_STRING; }

SEQLOSS_API const char* seqloss_status_name(seqloss_status status) {
  switch (status) {
    case SEQLOSS_OK: return "SEQLOSS_OK";
    case SEQLOSS_ERROR_TYPE: return "SEQLOSS_ERROR_TYPE";
    case SEQLOSS_ERROR_RANGE: return "SEQLOSS_ERROR_RANGE";
    case SEQLOSS_ERROR_UNSUPPORTED: return "SEQLOSS_ERROR_UNSUPPORTED";
    case SEQLOSS_ERROR_DEVICE: return "SEQLOSS_ERROR_DEVICE";
    case SEQLOSS_ERROR_ALLOC: return "SEQLOSS_ERROR_ALLOC";
    case SEQLOSS_ERROR_INTERNAL: return "SEQLOSS_ERROR_INTERNAL";
  }
  return "SEQLOSS_UNKNOWN_STATUS";
}

SEQLOSS_API int32_t seqloss_cpu_threads(void) { return seqloss::cpu::hardware_threads(); }

SEQLOSS_API seqloss_status seqloss_cuda_query(seqloss_cuda_info* info) {
  if (info == nullptr) return SEQLOSS_ERROR_TYPE;
  return guarded(Message{nullptr, 0}, [&]() -> seqloss_status {
#if defined(SEQLOSS_WITH_CUDA)
    seqloss::cuda::query(info);
#else
    std::memset(info, 0, sizeof *info);
    info->compiled = 0;
    std::snprintf(info->reason, sizeof info->reason, "%s", seqloss::kNoCudaBuild);
#endif
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_cuda_device_query(int32_t index, seqloss_cuda_device* device, char* message,
                                                     size_t message_size) {
  Message msg{message, message_size};
  if (device == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "device must not be NULL (a seqloss_cuda_device)");
  return guarded(msg, [&]() -> seqloss_status {
#if defined(SEQLOSS_WITH_CUDA)
    return seqloss::cuda::device_query(index, device, message, message_size);
#else
    (void)index;
    return fail(msg, SEQLOSS_ERROR_UNSUPPORTED, "%s", seqloss::kNoCudaBuild);
#endif
  });
}

// ---- CTC ------------------------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_ctc_workspace_size(const seqloss_problem* problem, const seqloss_ctc_options* options,
                                                      const seqloss_exec* exec, size_t* bytes, char* message,
                                                      size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    if (bytes == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "bytes must not be NULL");
    Extents ext{};
    seqloss_status st = seqloss::check_ctc_call(problem, options, exec, nullptr, false, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ctc_workspace_bytes(*problem, *options, *exec, nullptr, bytes, msg));
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    if (!seqloss::cpu::ctc_workspace_bytes(*problem, *options, threads, bytes)) return seqloss::too_large(msg);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_ctc(const seqloss_problem* problem, const seqloss_ctc_options* options,
                                       const seqloss_exec* exec, const seqloss_ctc_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_ctc_call(problem, options, exec, outputs, true, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ctc(*problem, *options, *exec, *outputs, workspace, workspace_bytes, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    size_t need = 0;
    if (!seqloss::cpu::ctc_workspace_bytes(*problem, *options, threads, &need)) return seqloss::too_large(msg);
    return seqloss::with_workspace(need, workspace, workspace_bytes, "seqloss_ctc_workspace_size", msg, [&](void* ws) {
      seqloss::cpu::ctc(*problem, *options, threads, *outputs, ws);
    });
  });
}

// ---- DCTC -----------------------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_dctc_workspace_size(const seqloss_problem* problem,
                                                       const seqloss_dctc_options* options, const seqloss_exec* exec,
                                                       size_t* bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    if (bytes == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "bytes must not be NULL");
    Extents ext{};
    seqloss_status st = seqloss::check_dctc_call(problem, options, exec, nullptr, false, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::dctc_workspace_bytes(*problem, *options, *exec, nullptr, bytes, msg));
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    if (!seqloss::cpu::dctc_workspace_bytes(*problem, *options, threads, bytes)) return seqloss::too_large(msg);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_dctc(const seqloss_problem* problem, const seqloss_dctc_options* options,
                                        const seqloss_exec* exec, const seqloss_dctc_outputs* outputs, void* workspace,
                                        size_t workspace_bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_dctc_call(problem, options, exec, outputs, true, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::dctc(*problem, *options, *exec, *outputs, workspace, workspace_bytes, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    size_t need = 0;
    if (!seqloss::cpu::dctc_workspace_bytes(*problem, *options, threads, &need)) return seqloss::too_large(msg);
    return seqloss::with_workspace(need, workspace, workspace_bytes, "seqloss_dctc_workspace_size", msg, [&](void* ws) {
      seqloss::cpu::dctc(*problem, *options, threads, *outputs, ws);
    });
  });
}

// ---- Viterbi alignment ----------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_ctc_align_workspace_size(const seqloss_problem* problem, const seqloss_exec* exec,
                                                            size_t* bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    if (bytes == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "bytes must not be NULL");
    Extents ext{};
    seqloss_status st = seqloss::check_align_call(problem, exec, nullptr, false, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::align_workspace_bytes(*problem, *exec, bytes, msg));
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    if (!seqloss::cpu::align_workspace_bytes(*problem, threads, bytes)) return seqloss::too_large(msg);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_ctc_align(const seqloss_problem* problem, const seqloss_exec* exec,
                                             const seqloss_align_outputs* outputs, void* workspace,
                                             size_t workspace_bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_align_call(problem, exec, outputs, true, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ctc_align(*problem, *exec, *outputs, workspace, workspace_bytes, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    size_t need = 0;
    if (!seqloss::cpu::align_workspace_bytes(*problem, threads, &need)) return seqloss::too_large(msg);
    return seqloss::with_workspace(need, workspace, workspace_bytes, "seqloss_ctc_align_workspace_size", msg,
                                   [&](void* ws) { seqloss::cpu::ctc_align(*problem, threads, *outputs, ws); });
  });
}

// ---- ACE ------------------------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_ace_workspace_size(const seqloss_problem* problem, const seqloss_ace_options* options,
                                                      const seqloss_exec* exec, size_t* bytes, char* message,
                                                      size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    if (bytes == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "bytes must not be NULL");
    Extents ext{};
    seqloss_status st = seqloss::check_ace_call(problem, options, exec, nullptr, false, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ace_workspace_bytes(*problem, *options, *exec, nullptr, bytes, msg));
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    if (!seqloss::cpu::ace_workspace_bytes(*problem, threads, bytes)) return seqloss::too_large(msg);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_ace(const seqloss_problem* problem, const seqloss_ace_options* options,
                                       const seqloss_exec* exec, const seqloss_ace_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_ace_call(problem, options, exec, outputs, true, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ace(*problem, *options, *exec, *outputs, workspace, workspace_bytes, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    size_t need = 0;
    if (!seqloss::cpu::ace_workspace_bytes(*problem, threads, &need)) return seqloss::too_large(msg);
    return seqloss::with_workspace(need, workspace, workspace_bytes, "seqloss_ace_workspace_size", msg, [&](void* ws) {
      seqloss::cpu::ace(*problem, *options, threads, *outputs, ws);
    });
  });
}

// ---- decoders -------------------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_ctc_greedy_decode(const seqloss_problem* problem, const seqloss_exec* exec,
                                                     int32_t* labels, int64_t labels_size, int32_t* lengths,
                                                     int64_t lengths_size, char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_decode_call(problem, exec, false, labels, labels_size, lengths, lengths_size, &ext,
                                                      msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::greedy_decode(*problem, *exec, false, true, labels, lengths, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    seqloss::cpu::ctc_greedy_decode(*problem, threads, labels, lengths);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_ace_decode(const seqloss_problem* problem, int32_t collapse_repeats,
                                              const seqloss_exec* exec, int32_t* labels, int64_t labels_size,
                                              int32_t* lengths, int64_t lengths_size, char* message,
                                              size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st = seqloss::check_decode_call(problem, exec, true, labels, labels_size, lengths, lengths_size, &ext,
                                                      msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec,
                    seqloss::cuda::greedy_decode(*problem, *exec, true, collapse_repeats != 0, labels, lengths, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    seqloss::cpu::ace_decode(*problem, collapse_repeats != 0, threads, labels, lengths);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

SEQLOSS_API seqloss_status seqloss_ace_count(const seqloss_problem* problem, const seqloss_exec* exec, float* expected,
                                             int64_t expected_size, int32_t* rounded, int64_t rounded_size,
                                             char* message, size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() -> seqloss_status {
    Extents ext{};
    seqloss_status st =
        seqloss::check_count_call(problem, exec, expected, expected_size, rounded, rounded_size, &ext, msg);
    if (st == SEQLOSS_OK) st = seqloss::backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
    SEQLOSS_ON_CUDA(exec, seqloss::cuda::ace_count(*problem, *exec, expected, rounded, msg));
    seqloss::cpu::PoolScope scope(exec->pool, problem);
    int threads = seqloss::cpu::resolve_threads(exec->threads, problem->batch);
    seqloss::cpu::ace_count(*problem, threads, expected, rounded);
    seqloss::clear(msg);
    return SEQLOSS_OK;
  });
}

}  // extern "C"
