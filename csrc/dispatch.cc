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

#include "../cuda/plan.h"
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
  } catch (...) { return fail(msg, SEQLOSS_ERROR_INTERNAL, "internal error: unknown exception"); }
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

// Runs `body(workspace)` with the caller's workspace (checked against `need`) or one of our own.
template <class F>
seqloss_status with_workspace(size_t need, void* workspace, size_t workspace_bytes, const char* size_fn, Message msg,
                              F&& body) {
  if (workspace == nullptr || workspace_bytes == 0) {
    // Small calls (a training loop's frequent ones) take theirs from the stack: no allocation at all.
    alignas(64) unsigned char local[4096];
    if (need <= sizeof local) {
      body(static_cast<void*>(local));
      clear(msg);
      return SEQLOSS_OK;
    }
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

// ---- the operations, one traits struct each -----------------------------------------------------------------
// An operation is its arguments plus: check (checks.h, everything it reads), the CPU workspace size and run, and
// the CUDA ones. `workspace_entry` and `run_entry` below are the only places where the steps are sequenced, so
// every entry of seqloss.h checks once, gates the backend the same way and owns its workspace the same way.
// Decoders and counting have no workspace (cpu_bytes gives 0).

struct CtcOp {
  static constexpr const char* kSizeFn = "seqloss_ctc_workspace_size";
  const seqloss_problem* p;
  const seqloss_ctc_options* o;
  const seqloss_ctc_outputs* out;
  seqloss_status check(const seqloss_exec* e, bool with_outputs, Message msg) const {
    Extents ext{};
    return check_ctc_call(p, o, e, out, with_outputs, &ext, msg);
  }
  bool cpu_bytes(int threads, size_t* bytes) const { return cpu::ctc_workspace_bytes(*p, *o, threads, bytes); }
  void cpu_run(int threads, void* ws) const { cpu::ctc(*p, *o, threads, *out, ws); }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec& e, size_t* bytes, Message msg) const {
    return cuda::ctc_workspace_bytes(*p, *o, e, nullptr, bytes, msg);
  }
  seqloss_status cuda_run(const seqloss_exec& e, void* ws, size_t wsb, Message msg) const {
    return cuda::ctc(*p, *o, e, *out, ws, wsb, msg);
  }
#endif
};

struct DctcOp {
  static constexpr const char* kSizeFn = "seqloss_dctc_workspace_size";
  const seqloss_problem* p;
  const seqloss_dctc_options* o;
  const seqloss_dctc_outputs* out;
  seqloss_status check(const seqloss_exec* e, bool with_outputs, Message msg) const {
    Extents ext{};
    return check_dctc_call(p, o, e, out, with_outputs, &ext, msg);
  }
  bool cpu_bytes(int threads, size_t* bytes) const { return cpu::dctc_workspace_bytes(*p, *o, threads, bytes); }
  void cpu_run(int threads, void* ws) const { cpu::dctc(*p, *o, threads, *out, ws); }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec& e, size_t* bytes, Message msg) const {
    return cuda::dctc_workspace_bytes(*p, *o, e, nullptr, bytes, msg);
  }
  seqloss_status cuda_run(const seqloss_exec& e, void* ws, size_t wsb, Message msg) const {
    return cuda::dctc(*p, *o, e, *out, ws, wsb, msg);
  }
#endif
};

struct AlignOp {
  static constexpr const char* kSizeFn = "seqloss_ctc_align_workspace_size";
  const seqloss_problem* p;
  const seqloss_align_outputs* out;
  seqloss_status check(const seqloss_exec* e, bool with_outputs, Message msg) const {
    Extents ext{};
    return check_align_call(p, e, out, with_outputs, &ext, msg);
  }
  bool cpu_bytes(int threads, size_t* bytes) const { return cpu::align_workspace_bytes(*p, threads, bytes); }
  void cpu_run(int threads, void* ws) const { cpu::ctc_align(*p, threads, *out, ws); }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec& e, size_t* bytes, Message msg) const {
    return cuda::align_workspace_bytes(*p, e, bytes, msg);
  }
  seqloss_status cuda_run(const seqloss_exec& e, void* ws, size_t wsb, Message msg) const {
    return cuda::ctc_align(*p, e, *out, ws, wsb, msg);
  }
#endif
};

struct AceOp {
  static constexpr const char* kSizeFn = "seqloss_ace_workspace_size";
  const seqloss_problem* p;
  const seqloss_ace_options* o;
  const seqloss_ace_outputs* out;
  seqloss_status check(const seqloss_exec* e, bool with_outputs, Message msg) const {
    Extents ext{};
    return check_ace_call(p, o, e, out, with_outputs, &ext, msg);
  }
  bool cpu_bytes(int threads, size_t* bytes) const { return cpu::ace_workspace_bytes(*p, threads, bytes); }
  void cpu_run(int threads, void* ws) const { cpu::ace(*p, *o, threads, *out, ws); }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec& e, size_t* bytes, Message msg) const {
    return cuda::ace_workspace_bytes(*p, *o, e, nullptr, bytes, msg);
  }
  seqloss_status cuda_run(const seqloss_exec& e, void* ws, size_t wsb, Message msg) const {
    return cuda::ace(*p, *o, e, *out, ws, wsb, msg);
  }
#endif
};

// Greedy CTC decoding (ace = false) and ACE decoding (ace = true).
struct DecodeOp {
  static constexpr const char* kSizeFn = nullptr;
  const seqloss_problem* p;
  bool ace;
  bool collapse;
  int32_t* labels;
  int64_t labels_size;
  int32_t* lengths;
  int64_t lengths_size;
  seqloss_status check(const seqloss_exec* e, bool, Message msg) const {
    Extents ext{};
    return check_decode_call(p, e, ace, labels, labels_size, lengths, lengths_size, &ext, msg);
  }
  bool cpu_bytes(int, size_t* bytes) const { return *bytes = 0, true; }
  void cpu_run(int threads, void*) const {
    if (ace) {
      cpu::ace_decode(*p, collapse, threads, labels, lengths);
    } else {
      cpu::ctc_greedy_decode(*p, threads, labels, lengths);
    }
  }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec&, size_t* bytes, Message) const { return *bytes = 0, SEQLOSS_OK; }
  seqloss_status cuda_run(const seqloss_exec& e, void*, size_t, Message msg) const {
    return cuda::greedy_decode(*p, e, ace, ace ? collapse : true, labels, lengths, msg);
  }
#endif
};

struct CountOp {
  static constexpr const char* kSizeFn = nullptr;
  const seqloss_problem* p;
  float* expected;
  int64_t expected_size;
  int32_t* rounded;
  int64_t rounded_size;
  seqloss_status check(const seqloss_exec* e, bool, Message msg) const {
    Extents ext{};
    return check_count_call(p, e, expected, expected_size, rounded, rounded_size, &ext, msg);
  }
  bool cpu_bytes(int, size_t* bytes) const { return *bytes = 0, true; }
  void cpu_run(int threads, void*) const { cpu::ace_count(*p, threads, expected, rounded); }
#if defined(SEQLOSS_WITH_CUDA)
  seqloss_status cuda_bytes(const seqloss_exec&, size_t* bytes, Message) const { return *bytes = 0, SEQLOSS_OK; }
  seqloss_status cuda_run(const seqloss_exec& e, void*, size_t, Message msg) const {
    return cuda::ace_count(*p, e, expected, rounded, msg);
  }
#endif
};

// A *_workspace_size entry: the checks (outputs excluded), the backend gate, the backend's size.
template <class Op>
seqloss_status workspace_entry(const Op& op, const seqloss_exec* exec, size_t* bytes, Message msg) {
  return guarded(msg, [&]() -> seqloss_status {
    if (bytes == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "bytes must not be NULL");
    seqloss_status st = op.check(exec, false, msg);
    if (st == SEQLOSS_OK) st = backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
#if defined(SEQLOSS_WITH_CUDA)
    if (exec->backend == SEQLOSS_BACKEND_CUDA) return op.cuda_bytes(*exec, bytes, msg);
#endif
    if (!op.cpu_bytes(cpu::resolve_threads(exec->threads, op.p->batch), bytes)) return too_large(msg);
    clear(msg);
    return SEQLOSS_OK;
  });
}

// An operation's entry: the checks (once), the backend gate, then the backend with the caller's workspace
// (checked against the size) or one of its own.
template <class Op>
seqloss_status run_entry(const Op& op, const seqloss_exec* exec, void* workspace, size_t workspace_bytes, Message msg) {
  return guarded(msg, [&]() -> seqloss_status {
    seqloss_status st = op.check(exec, true, msg);
    if (st == SEQLOSS_OK) st = backend_gate(exec, msg);
    if (st != SEQLOSS_OK) return st;
#if defined(SEQLOSS_WITH_CUDA)
    if (exec->backend == SEQLOSS_BACKEND_CUDA) return op.cuda_run(*exec, workspace, workspace_bytes, msg);
#endif
    // The call's thread pool (exec->pool, or threads of its own when NULL) and its size, for run_threads.
    cpu::PoolScope scope(exec->pool, op.p);
    const int threads = cpu::resolve_threads(exec->threads, op.p->batch);
    size_t need = 0;
    if (!op.cpu_bytes(threads, &need)) return too_large(msg);
    if (need == 0) {
      op.cpu_run(threads, nullptr);
      clear(msg);
      return SEQLOSS_OK;
    }
    return with_workspace(need, workspace, workspace_bytes, Op::kSizeFn, msg,
                          [&](void* ws) { op.cpu_run(threads, ws); });
  });
}

}  // namespace
}  // namespace seqloss

using seqloss::Extents;
using seqloss::fail;
using seqloss::guarded;
using seqloss::Message;

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

// ---- the operations --------------------------------------------------------------------------------------------

SEQLOSS_API seqloss_status seqloss_ctc_workspace_size(const seqloss_problem* problem,
                                                      const seqloss_ctc_options* options, const seqloss_exec* exec,
                                                      size_t* bytes, char* message, size_t message_size) {
  return seqloss::workspace_entry(seqloss::CtcOp{problem, options, nullptr}, exec, bytes,
                                  Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ctc(const seqloss_problem* problem, const seqloss_ctc_options* options,
                                       const seqloss_exec* exec, const seqloss_ctc_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::CtcOp{problem, options, outputs}, exec, workspace, workspace_bytes,
                            Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_dctc_workspace_size(const seqloss_problem* problem,
                                                       const seqloss_dctc_options* options, const seqloss_exec* exec,
                                                       size_t* bytes, char* message, size_t message_size) {
  return seqloss::workspace_entry(seqloss::DctcOp{problem, options, nullptr}, exec, bytes,
                                  Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_dctc(const seqloss_problem* problem, const seqloss_dctc_options* options,
                                        const seqloss_exec* exec, const seqloss_dctc_outputs* outputs, void* workspace,
                                        size_t workspace_bytes, char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::DctcOp{problem, options, outputs}, exec, workspace, workspace_bytes,
                            Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ctc_align_workspace_size(const seqloss_problem* problem, const seqloss_exec* exec,
                                                            size_t* bytes, char* message, size_t message_size) {
  return seqloss::workspace_entry(seqloss::AlignOp{problem, nullptr}, exec, bytes, Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ctc_align(const seqloss_problem* problem, const seqloss_exec* exec,
                                             const seqloss_align_outputs* outputs, void* workspace,
                                             size_t workspace_bytes, char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::AlignOp{problem, outputs}, exec, workspace, workspace_bytes,
                            Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ace_workspace_size(const seqloss_problem* problem,
                                                      const seqloss_ace_options* options, const seqloss_exec* exec,
                                                      size_t* bytes, char* message, size_t message_size) {
  return seqloss::workspace_entry(seqloss::AceOp{problem, options, nullptr}, exec, bytes,
                                  Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ace(const seqloss_problem* problem, const seqloss_ace_options* options,
                                       const seqloss_exec* exec, const seqloss_ace_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::AceOp{problem, options, outputs}, exec, workspace, workspace_bytes,
                            Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ctc_greedy_decode(const seqloss_problem* problem, const seqloss_exec* exec,
                                                     int32_t* labels, int64_t labels_size, int32_t* lengths,
                                                     int64_t lengths_size, char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::DecodeOp{problem, false, true, labels, labels_size, lengths, lengths_size}, exec,
                            nullptr, 0, Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ace_decode(const seqloss_problem* problem, int32_t collapse_repeats,
                                              const seqloss_exec* exec, int32_t* labels, int64_t labels_size,
                                              int32_t* lengths, int64_t lengths_size, char* message,
                                              size_t message_size) {
  return seqloss::run_entry(
      seqloss::DecodeOp{problem, true, collapse_repeats != 0, labels, labels_size, lengths, lengths_size}, exec,
      nullptr, 0, Message{message, message_size});
}

SEQLOSS_API seqloss_status seqloss_ace_count(const seqloss_problem* problem, const seqloss_exec* exec, float* expected,
                                             int64_t expected_size, int32_t* rounded, int64_t rounded_size,
                                             char* message, size_t message_size) {
  return seqloss::run_entry(seqloss::CountOp{problem, expected, expected_size, rounded, rounded_size}, exec, nullptr, 0,
                            Message{message, message_size});
}

}  // extern "C"

namespace seqloss {
namespace {

// seqloss_cuda_plan_call: the request checked as the call it describes would be (outputs excluded, data not read),
// then the CUDA backend's own plan of it.
seqloss_status plan_call(const seqloss_problem* p, const seqloss_cuda_plan_request* r, seqloss_cuda_plan* out,
                         Message msg) {
  if (r == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "request must not be NULL (a seqloss_cuda_plan_request)");
  if (out == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "plan must not be NULL (a seqloss_cuda_plan)");
  if (r->fp64_ratio < 1) return fail(msg, SEQLOSS_ERROR_RANGE, "fp64_ratio must be >= 1, got %d", r->fp64_ratio);
  if ((r->outputs & ~(SEQLOSS_PLAN_GRAD | SEQLOSS_PLAN_POSTERIOR)) != 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE,
                "outputs must be a mask of SEQLOSS_PLAN_GRAD (1) and SEQLOSS_PLAN_POSTERIOR (2), got %d", r->outputs);
  }
  seqloss_exec e{};
  e.backend = SEQLOSS_BACKEND_CUDA;
  e.memory = r->memory;
  const bool grad = (r->outputs & SEQLOSS_PLAN_GRAD) != 0, post = (r->outputs & SEQLOSS_PLAN_POSTERIOR) != 0;
  Extents ext{};
  seqloss_status st = SEQLOSS_OK;
  cuda::LaunchPlan plan;
  switch (r->op) {
    case SEQLOSS_OP_CTC:
    case SEQLOSS_OP_DCTC:
    case SEQLOSS_OP_CTC_ALIGN: {
      cuda::LabelWants w;
      if (r->op == SEQLOSS_OP_CTC) {
        if (r->ctc == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "request.ctc must not be NULL for op 0 (CTC)");
        st = check_ctc_call(p, r->ctc, &e, nullptr, false, &ext, msg);
        if (st == SEQLOSS_OK) w = cuda::ctc_wants(*r->ctc, e.memory, grad, post);
      } else if (r->op == SEQLOSS_OP_DCTC) {
        if (r->dctc == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "request.dctc must not be NULL for op 1 (DCTC)");
        st = check_dctc_call(p, r->dctc, &e, nullptr, false, &ext, msg);
        if (st == SEQLOSS_OK) w = cuda::dctc_wants(*r->dctc, e.memory, grad);
      } else {
        st = check_align_call(p, &e, nullptr, false, &ext, msg);
        if (st == SEQLOSS_OK) w = cuda::align_wants(e.memory);
      }
      if (st != SEQLOSS_OK) return st;
      const cuda::HostScratch& hs = cuda::scratch_labels(*p, w.batch_scope);
      plan = cuda::plan_label_op(*p, w, hs.q, hs.k.pack.size(), r->fp64_ratio);
      break;
    }
    case SEQLOSS_OP_ACE: {
      if (r->ace == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "request.ace must not be NULL for op 3 (ACE)");
      st = check_ace_call(p, r->ace, &e, nullptr, false, &ext, msg);
      if (st != SEQLOSS_OK) return st;
      const cuda::HostScratch& hs = cuda::scratch_ace(*p);
      plan = cuda::plan_ace(*p, e.memory, grad, r->ace->variant, hs.ace, hs.ak.pack.size(), r->fp64_ratio);
      break;
    }
    default:
      return fail(msg, SEQLOSS_ERROR_RANGE, "op must be 0 (CTC), 1 (DCTC), 2 (CTC align) or 3 (ACE), got %d", r->op);
  }
  std::memset(out, 0, sizeof *out);
  out->steps_count = plan.count;
  out->host_syncs = plan.host_syncs;
  out->precision = plan.precision;
  out->blocks_per_sequence = plan.blocks_per_sequence;
  out->checkpoint_interval = plan.checkpoint_interval;
  out->copy_bytes = plan.copy_bytes;
  out->states = plan.states;
  out->elements = plan.elements;
  out->workspace_bytes = plan.workspace_bytes;
  for (int32_t i = 0; i < plan.count; ++i) {
    const cuda::Step& s = plan.steps[i];
    seqloss_cuda_step& o = out->steps[i];
    std::snprintf(o.kernel, sizeof o.kernel, "%s", cuda::kernel_name(s.kernel));
    o.blocks = s.blocks;
    o.threads = s.threads;
    o.shared_bytes = s.shared;
    o.bytes = s.bytes;
    o.fp64_state = s.fp64_state;
    o.fp64_element = s.fp64_element;
    o.fp64_other = s.fp64_other;
  }
  clear(msg);
  return SEQLOSS_OK;
}

}  // namespace
}  // namespace seqloss

extern "C" SEQLOSS_API seqloss_status seqloss_cuda_plan_call(const seqloss_problem* problem,
                                                             const seqloss_cuda_plan_request* request,
                                                             seqloss_cuda_plan* plan, char* message,
                                                             size_t message_size) {
  Message msg{message, message_size};
  return guarded(msg, [&]() { return seqloss::plan_call(problem, request, plan, msg); });
}
