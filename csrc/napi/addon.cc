// seqloss's Node addon: a thin N-API layer over the C ABI (csrc/seqloss.h). It converts and checks arguments,
// allocates the results in JavaScript-owned ArrayBuffers, calls the ABI, and maps statuses onto JavaScript errors.
// The interface it implements is NativeBinding in lib/native.ts.
//
// State: none that is mutable and shared. The addon is a Napi::Addon (its instance lives in the environment's
// instance data), so every worker thread that loads it gets its own; async calls own all they touch.
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "convert.h"

namespace seqloss_napi {
namespace {

constexpr std::align_val_t kWorkspaceAlign{64};

// Properties of the exports object: visible to Object.keys, replaceable by tests that stub them.
constexpr napi_property_attributes kMethodAttributes =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

// ---- one ABI call (a loss or an alignment), as plain C data (runs on the main thread or on the thread pool) -------

enum class Op { kCtc, kAce, kDctc, kAlign };

const char* AbiName(Op op) {
  switch (op) {
    case Op::kCtc: return "seqloss_ctc";
    case Op::kAce: return "seqloss_ace";
    case Op::kDctc: return "seqloss_dctc";
    case Op::kAlign: return "seqloss_ctc_align";
  }
  return "seqloss";
}

// The async resource name (shown by async_hooks and diagnostics).
const char* ResourceName(Op op) {
  switch (op) {
    case Op::kCtc: return "seqloss.ctcAsync";
    case Op::kAce: return "seqloss.aceAsync";
    case Op::kDctc: return "seqloss.dctcAsync";
    case Op::kAlign: return "seqloss.ctcAlignAsync";
  }
  return "seqloss.async";
}

struct Job {
  Op op = Op::kCtc;
  seqloss_problem problem{};
  seqloss_exec exec{};
  seqloss_ctc_options ctc_options{};
  seqloss_ace_options ace_options{};
  seqloss_dctc_options dctc_options{};
  size_t workspace_bytes = 0;
  // Outputs; each points into a JavaScript-owned array (or is NULL when not requested / not used by `op`).
  float* losses = nullptr;  // N (losses; scores for kAlign)
  float* grad = nullptr;
  int64_t grad_size = 0;
  float* posterior = nullptr;
  int64_t posterior_size = 0;
  int32_t* frames = nullptr;  // N*T: DCTC's alignment z*, or ctcAlign's paths
  int64_t frames_size = 0;
  float* ctc_losses = nullptr;      // N (DCTC)
  float* distill_losses = nullptr;  // N (DCTC)
  double loss = 0.0;
  seqloss_status status = SEQLOSS_OK;
  char message[kMessageSize] = {};

  // The ABI call with a workspace of its own (host memory, for the CPU backend; the CUDA backend takes its device
  // workspace from its own pool, so it gets none). Touches no JavaScript value.
  void Run() noexcept {
    message[0] = '\0';
    void* workspace = nullptr;
    if (exec.backend == SEQLOSS_BACKEND_CUDA) workspace_bytes = 0;
    if (workspace_bytes > 0) {
      workspace = ::operator new(workspace_bytes, kWorkspaceAlign, std::nothrow);
      if (workspace == nullptr) {
        status = SEQLOSS_ERROR_ALLOC;
        std::snprintf(message, sizeof message, "%s: could not allocate a workspace of %zu bytes", AbiName(op),
                      workspace_bytes);
        return;
      }
    }
    switch (op) {
      case Op::kCtc: {
        seqloss_ctc_outputs out{};
        out.losses = losses;
        out.losses_size = problem.batch;
        out.loss = &loss;
        out.grad = grad;
        out.grad_size = grad_size;
        out.posterior = posterior;
        out.posterior_size = posterior_size;
        status = seqloss_ctc(&problem, &ctc_options, &exec, &out, workspace, workspace_bytes, message, sizeof message);
        break;
      }
      case Op::kAce: {
        seqloss_ace_outputs out{};
        out.losses = losses;
        out.losses_size = problem.batch;
        out.loss = &loss;
        out.grad = grad;
        out.grad_size = grad_size;
        status = seqloss_ace(&problem, &ace_options, &exec, &out, workspace, workspace_bytes, message, sizeof message);
        break;
      }
      case Op::kDctc: {
        seqloss_dctc_outputs out{};
        out.losses = losses;
        out.losses_size = problem.batch;
        out.loss = &loss;
        out.grad = grad;
        out.grad_size = grad_size;
        out.alignment = frames;
        out.alignment_size = frames_size;
        out.ctc_losses = ctc_losses;
        out.ctc_losses_size = problem.batch;
        out.distill_losses = distill_losses;
        out.distill_losses_size = problem.batch;
        status =
            seqloss_dctc(&problem, &dctc_options, &exec, &out, workspace, workspace_bytes, message, sizeof message);
        break;
      }
      case Op::kAlign: {
        seqloss_align_outputs out{};
        out.paths = frames;
        out.paths_size = frames_size;
        out.scores = losses;
        out.scores_size = problem.batch;
        status = seqloss_ctc_align(&problem, &exec, &out, workspace, workspace_bytes, message, sizeof message);
        break;
      }
    }
    if (workspace != nullptr) ::operator delete(workspace, kWorkspaceAlign);
    message[sizeof message - 1] = '\0';
  }
};

// A call converted and ready: the job plus the JavaScript values its pointers point into. `outputs` are the
// properties of the result object, in order; a loss's scalar `loss` is added after `losses`.
struct OpCall {
  Job job;
  std::vector<Napi::Value> inputs;
  std::vector<std::pair<const char*, Napi::Value>> outputs;
};

// An async call reads its inputs while JavaScript runs. A view on a resizable ArrayBuffer could be shrunk under
// it (and the freed pages unmapped), so such views are refused there; fixed-length buffers stay put while the
// call holds a reference. (Detaching a buffer by transferring it during the call cannot be detected through
// N-API: lib/native.ts documents that inputs must not change until the promise settles.)
void RefuseResizable(Napi::Env env, const std::string& fn, const std::vector<Napi::Value>& inputs) {
  for (const Napi::Value& v : inputs) {
    if (!v.IsTypedArray()) continue;
    Napi::Value resizable = v.As<Napi::TypedArray>().ArrayBuffer().Get("resizable");
    if (resizable.IsBoolean() && resizable.As<Napi::Boolean>().Value()) {
      throw TypeErr(env, fn, "every array of an async call",
                    "backed by a fixed-length ArrayBuffer (not a resizable one)", v);
    }
  }
}

// Asks the ABI for the workspace size of the job (which validates the problem and the options).
void QueryWorkspace(Napi::Env env, Job& job) {
  char message[kMessageSize] = {};
  size_t bytes = 0;
  seqloss_status status = SEQLOSS_OK;
  switch (job.op) {
    case Op::kCtc:
      status = seqloss_ctc_workspace_size(&job.problem, &job.ctc_options, &job.exec, &bytes, message, sizeof message);
      break;
    case Op::kAce:
      status = seqloss_ace_workspace_size(&job.problem, &job.ace_options, &job.exec, &bytes, message, sizeof message);
      break;
    case Op::kDctc:
      status =
          seqloss_dctc_workspace_size(&job.problem, &job.dctc_options, &job.exec, &bytes, message, sizeof message);
      break;
    case Op::kAlign:
      status = seqloss_ctc_align_workspace_size(&job.problem, &job.exec, &bytes, message, sizeof message);
      break;
  }
  message[sizeof message - 1] = '\0';
  if (status != SEQLOSS_OK) throw StatusError(env, status, message);
  job.workspace_bytes = bytes;
}

// The ABI has accepted the shape; this only makes sure the output sizes allocated from it cannot be wrong.
int64_t CheckedDenseCount(Napi::Env env, const std::string& fn, const seqloss_problem& p) {
  const int64_t count = DenseCount(p);
  if (count < 0) {
    throw RangeErr(env, fn, "data.length", "batch*time*classes",
                   std::to_string(p.data_size) + " (batch " + std::to_string(p.batch) + ", time " +
                       std::to_string(p.time) + ", classes " + std::to_string(p.classes) + ")");
  }
  return count;
}

// Reads (data, problem[, options], exec), validates through the ABI's workspace query, and allocates the outputs.
// Throws Napi::Error on any argument error.
OpCall Prepare(const Napi::CallbackInfo& info, Op op, bool async, const std::string& fn) {
  Napi::Env env = info.Env();
  OpCall call;
  Job& job = call.job;
  job.op = op;

  Problem problem = ReadProblem(info, fn, op != Op::kAce);
  job.problem = problem.problem;
  call.inputs = std::move(problem.keep);
  if (async) RefuseResizable(env, fn, call.inputs);

  bool want_grad = false;
  bool want_posterior = false;
  Napi::Object o;
  if (op != Op::kAlign) o = ObjectArg(info, 2, fn, "options");
  switch (op) {
    case Op::kCtc:
      job.ctc_options.reduction = Int32Prop(o, "reduction", fn, "options.reduction");
      job.ctc_options.zero_infinity = BoolProp(o, "zeroInfinity", fn, "options.zeroInfinity") ? 1 : 0;
      // Absent in callers that predate iterative fitting: plain CTC.
      job.ctc_options.fit_alpha = OptionalNumberProp(o, "fitAlpha", 0.0, fn, "options.fitAlpha");
      job.ctc_options.fit_gamma = OptionalNumberProp(o, "fitGamma", 0.0, fn, "options.fitGamma");
      job.ctc_options.fit_alpha_scope = OptionalInt32Prop(o, "fitScope", 0, fn, "options.fitScope");
      want_grad = BoolProp(o, "grad", fn, "options.grad");
      want_posterior = BoolProp(o, "posterior", fn, "options.posterior");
      break;
    case Op::kAce:
      job.ace_options.reduction = Int32Prop(o, "reduction", fn, "options.reduction");
      job.ace_options.variant = Int32Prop(o, "variant", fn, "options.variant");
      job.ace_options.eps = NumberProp(o, "eps", fn, "options.eps");
      want_grad = BoolProp(o, "grad", fn, "options.grad");
      break;
    case Op::kDctc:
      job.dctc_options.reduction = Int32Prop(o, "reduction", fn, "options.reduction");
      job.dctc_options.zero_infinity = BoolProp(o, "zeroInfinity", fn, "options.zeroInfinity") ? 1 : 0;
      job.dctc_options.alignment = Int32Prop(o, "alignment", fn, "options.alignment");
      job.dctc_options.lambda = NumberProp(o, "lambda", fn, "options.lambda");
      job.dctc_options.ctc_weight = NumberProp(o, "ctcWeight", fn, "options.ctcWeight");
      job.dctc_options.scale = NumberProp(o, "scale", fn, "options.scale");
      job.dctc_options.margin = NumberProp(o, "margin", fn, "options.margin");
      want_grad = BoolProp(o, "grad", fn, "options.grad");
      break;
    case Op::kAlign:
      break;
  }
  job.exec = ReadExec(info, op == Op::kAlign ? 2 : 3, fn);
  QueryWorkspace(env, job);

  const int64_t count = CheckedDenseCount(env, fn, job.problem);
  const size_t batch = static_cast<size_t>(job.problem.batch);
  const int64_t frames = static_cast<int64_t>(job.problem.batch) * job.problem.time;  // <= count: no overflow

  auto f32 = [&](const char* name, size_t n) -> float* {
    Napi::Float32Array a = Napi::Float32Array::New(env, n);
    call.outputs.emplace_back(name, a);
    return a.Data();
  };
  // options.gradOut / options.posteriorOut: caller-owned arrays, reused across calls, save the allocation and
  // the first-touch page faults of a fresh N·T·C buffer (more than the kernel itself costs at large C). They must
  // hold exactly N·T·C floats and share no memory with the input or with each other.
  auto dense = [&](const char* name, const char* key) -> float* {
    const std::string what = std::string("options.") + key;
    HostArray<float> given = Float32ArrayOrNullProp(o, key, fn, what);
    if (!given.present) return f32(name, static_cast<size_t>(count));
    if (given.size != count) {
      throw RangeErr(env, fn, what + ".length", "batch*time*classes = " + std::to_string(count),
                     std::to_string(given.size));
    }
    const float* lo = given.data;
    auto overlaps = [&](const float* other) { return other != nullptr && lo < other + count && other < lo + count; };
    if (overlaps(job.problem.data) || overlaps(job.grad)) {
      throw RangeErr(env, fn, what, "an array sharing no memory with the input or the other output",
                     "an overlapping view");
    }
    call.outputs.emplace_back(name, given.keep);
    return given.keep.As<Napi::Float32Array>().Data();
  };
  auto i32 = [&](const char* name, size_t n) -> int32_t* {
    Napi::Int32Array a = Napi::Int32Array::New(env, n);
    call.outputs.emplace_back(name, a);
    return a.Data();
  };

  if (op == Op::kAlign) {
    job.frames = i32("paths", static_cast<size_t>(frames));
    job.frames_size = frames;
    job.losses = f32("scores", batch);
  } else {
    job.losses = f32("losses", batch);
    if (want_grad) {
      job.grad = dense("grad", "gradOut");
      job.grad_size = count;
    }
    if (want_posterior) {
      job.posterior = dense("posterior", "posteriorOut");
      job.posterior_size = count;
    }
    if (op == Op::kDctc) {
      job.frames = i32("alignment", static_cast<size_t>(frames));
      job.frames_size = frames;
      job.ctc_losses = f32("ctcLosses", batch);
      job.distill_losses = f32("distillLosses", batch);
    }
  }
  if (async) {
    std::vector<Napi::Value> outs;
    for (const auto& kv : call.outputs) outs.push_back(kv.second);
    RefuseResizable(env, fn, outs);
  }
  return call;
}

template <typename Outputs, typename Get>
Napi::Object Result(Napi::Env env, const Job& job, const Outputs& outputs, Get&& get) {
  Napi::Object result = Napi::Object::New(env);
  for (const auto& kv : outputs) {
    result.Set(kv.first, get(kv.second));
    if (job.op != Op::kAlign && std::strcmp(kv.first, "losses") == 0) {
      result.Set("loss", Napi::Number::New(env, job.loss));
    }
  }
  return result;
}

// Converts a stray C++ exception into a JavaScript error with a status code.
Napi::Error ExceptionError(Napi::Env env, const std::exception* e, bool bad_alloc) {
  if (bad_alloc) return StatusError(env, SEQLOSS_ERROR_ALLOC, "seqloss: out of memory");
  return StatusError(env, SEQLOSS_ERROR_INTERNAL,
                     std::string("seqloss: internal error: ") + (e != nullptr ? e->what() : "unknown exception"));
}

// Runs a synchronous entry; Napi::Error passes through (node-addon-api throws it into JavaScript), any other
// exception becomes one.
template <typename F>
Napi::Value Guarded(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw ExceptionError(env, nullptr, true);
  } catch (const std::exception& e) {
    throw ExceptionError(env, &e, false);
  } catch (...) {
    throw ExceptionError(env, nullptr, false);
  }
}

// ---- async: the ABI call on the libuv thread pool ----------------------------------------------------------------

class OpWorker final : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const Napi::Promise::Deferred& deferred, OpCall& call)
      : Napi::AsyncWorker(env, ResourceName(call.job.op)), deferred_(deferred), job_(call.job) {
    // Everything the job's pointers point into stays alive (and unmoved) until the promise settles.
    inputs_.reserve(call.inputs.size());
    for (const Napi::Value& v : call.inputs) inputs_.push_back(Napi::Persistent(v));
    outputs_.reserve(call.outputs.size());
    for (const auto& kv : call.outputs) outputs_.emplace_back(kv.first, Napi::Persistent(kv.second));
  }

 protected:
  void Execute() override { job_.Run(); }

  void OnOK() override {
    Napi::Env env = Env();
    Settle(env, [&]() -> std::pair<bool, Napi::Value> {
      if (job_.status != SEQLOSS_OK) return {false, StatusError(env, job_.status, job_.message).Value()};
      return {true, Result(env, job_, outputs_, [](const Napi::Reference<Napi::Value>& r) { return r.Value(); })};
    });
  }

  // Only reached when Execute threw (it does not: Run is noexcept); kept for completeness.
  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Settle(env, [&]() -> std::pair<bool, Napi::Value> {
      return {false, StatusError(env, SEQLOSS_ERROR_INTERNAL, e.Message()).Value()};
    });
  }

 private:
  // Resolves or rejects exactly once; an exception while building the result rejects with it.
  template <typename F>
  void Settle(Napi::Env env, F&& outcome) {
    if (settled_) return;
    try {
      std::pair<bool, Napi::Value> r = outcome();
      settled_ = true;
      if (r.first) {
        deferred_.Resolve(r.second);
      } else {
        deferred_.Reject(r.second);
      }
      return;
    } catch (const Napi::Error& e) {
      if (!settled_) RejectQuietly(e.Value());
    } catch (const std::bad_alloc&) {
      if (!settled_) RejectQuietly(ExceptionError(env, nullptr, true).Value());
    } catch (const std::exception& e) {
      if (!settled_) RejectQuietly(ExceptionError(env, &e, false).Value());
    } catch (...) {
      if (!settled_) RejectQuietly(ExceptionError(env, nullptr, false).Value());
    }
  }

  void RejectQuietly(const Napi::Value& reason) {
    settled_ = true;
    try {
      deferred_.Reject(reason);
    } catch (...) {
      // The environment is going away (e.g. a terminating worker): nobody is left to tell.
    }
  }

  Napi::Promise::Deferred deferred_;
  Job job_;
  std::vector<Napi::Reference<Napi::Value>> inputs_;
  std::vector<std::pair<const char*, Napi::Reference<Napi::Value>>> outputs_;
  bool settled_ = false;
};

Napi::Value RunSync(const Napi::CallbackInfo& info, Op op, const char* fn) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    OpCall call = Prepare(info, op, false, fn);
    call.job.Run();
    if (call.job.status != SEQLOSS_OK) throw StatusError(env, call.job.status, call.job.message);
    return Result(env, call.job, call.outputs, [](const Napi::Value& v) { return v; });
  });
}

// Argument errors reject the returned promise (they are not thrown); only a failure to create the promise itself
// throws.
Napi::Value RunAsync(const Napi::CallbackInfo& info, Op op, const char* fn) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    OpCall call = Prepare(info, op, true, fn);
    auto worker = std::make_unique<OpWorker>(env, deferred, call);
    worker->Queue();
    worker.release();  // deletes itself after OnOK / OnError
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  } catch (const std::bad_alloc&) {
    deferred.Reject(ExceptionError(env, nullptr, true).Value());
  } catch (const std::exception& e) {
    deferred.Reject(ExceptionError(env, &e, false).Value());
  } catch (...) {
    deferred.Reject(ExceptionError(env, nullptr, false).Value());
  }
  return deferred.Promise();
}

// ---- decoders and counting ---------------------------------------------------------------------------------------

// When the shape does not describe `data` (a dimension < 1, an overflowing product, or the wrong data length),
// outputs cannot be sized: the ABI is asked with no outputs so that its own message reports the problem.
template <typename Call>
[[noreturn]] void ThrowShapeError(Napi::Env env, const std::string& fn, const seqloss_problem& p, Call&& call) {
  char message[kMessageSize] = {};
  const seqloss_status status = call(message, sizeof message);
  message[sizeof message - 1] = '\0';
  if (status != SEQLOSS_OK) throw StatusError(env, status, message);
  throw RangeErr(env, fn, "data.length", "batch*time*classes",
                 std::to_string(p.data_size) + " (batch " + std::to_string(p.batch) + ", time " +
                     std::to_string(p.time) + ", classes " + std::to_string(p.classes) + ")");
}

Napi::Value Decode(const Napi::CallbackInfo& info, bool ace, const char* fn) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    Problem problem = ReadProblem(info, fn, false);
    const seqloss_problem& p = problem.problem;
    int32_t collapse = 0;
    if (ace) collapse = BoolArg(info, 2, fn, "collapseRepeats") ? 1 : 0;
    const seqloss_exec exec = ReadExec(info, ace ? 3 : 2, fn);

    auto abi = [&](int32_t* labels, int64_t labels_size, int32_t* lengths, int64_t lengths_size, char* message,
                   size_t message_size) {
      return ace ? seqloss_ace_decode(&p, collapse, &exec, labels, labels_size, lengths, lengths_size, message,
                                      message_size)
                 : seqloss_ctc_greedy_decode(&p, &exec, labels, labels_size, lengths, lengths_size, message,
                                             message_size);
    };
    if (DenseCount(p) < 0) {
      ThrowShapeError(env, fn, p, [&](char* m, size_t ms) { return abi(nullptr, 0, nullptr, 0, m, ms); });
    }
    const int64_t nt = static_cast<int64_t>(p.batch) * p.time;
    Napi::Int32Array labels = Napi::Int32Array::New(env, static_cast<size_t>(nt));
    Napi::Int32Array lengths = Napi::Int32Array::New(env, static_cast<size_t>(p.batch));
    char message[kMessageSize] = {};
    const seqloss_status status = abi(labels.Data(), nt, lengths.Data(), p.batch, message, sizeof message);
    message[sizeof message - 1] = '\0';
    if (status != SEQLOSS_OK) throw StatusError(env, status, message);
    Napi::Object result = Napi::Object::New(env);
    result.Set("labels", labels);
    result.Set("lengths", lengths);
    return result;
  });
}

Napi::Value AceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "aceCount";
  return Guarded(env, [&]() -> Napi::Value {
    Problem problem = ReadProblem(info, fn, false);
    const seqloss_problem& p = problem.problem;
    const seqloss_exec exec = ReadExec(info, 2, fn);
    if (DenseCount(p) < 0) {
      ThrowShapeError(env, fn, p, [&](char* m, size_t ms) {
        return seqloss_ace_count(&p, &exec, nullptr, 0, nullptr, 0, m, ms);
      });
    }
    const int64_t nc = static_cast<int64_t>(p.batch) * p.classes;
    Napi::Float32Array expected = Napi::Float32Array::New(env, static_cast<size_t>(nc));
    Napi::Int32Array rounded = Napi::Int32Array::New(env, static_cast<size_t>(nc));
    char message[kMessageSize] = {};
    const seqloss_status status =
        seqloss_ace_count(&p, &exec, expected.Data(), nc, rounded.Data(), nc, message, sizeof message);
    message[sizeof message - 1] = '\0';
    if (status != SEQLOSS_OK) throw StatusError(env, status, message);
    Napi::Object result = Napi::Object::New(env);
    result.Set("expected", expected);
    result.Set("rounded", rounded);
    return result;
  });
}

// ---- discovery ---------------------------------------------------------------------------------------------------

std::string FixedString(const char* chars, size_t capacity) {
  return std::string(chars, strnlen(chars, capacity));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    seqloss_cuda_info cuda{};
    const seqloss_status status = seqloss_cuda_query(&cuda);
    if (status != SEQLOSS_OK) throw StatusError(env, status, "info: seqloss_cuda_query failed");

    Napi::Array devices = Napi::Array::New(env);
    for (int32_t i = 0; i < cuda.device_count; ++i) {
      seqloss_cuda_device d{};
      char message[kMessageSize] = {};
      const seqloss_status s = seqloss_cuda_device_query(i, &d, message, sizeof message);
      message[sizeof message - 1] = '\0';
      if (s != SEQLOSS_OK) throw StatusError(env, s, message);
      Napi::Object device = Napi::Object::New(env);
      device.Set("index", Napi::Number::New(env, d.index));
      device.Set("name", Napi::String::New(env, FixedString(d.name, sizeof d.name)));
      device.Set("major", Napi::Number::New(env, d.major));
      device.Set("minor", Napi::Number::New(env, d.minor));
      device.Set("totalMemory", Napi::Number::New(env, static_cast<double>(d.total_memory)));
      device.Set("multiprocessors", Napi::Number::New(env, d.multiprocessors));
      device.Set("usable", Napi::Boolean::New(env, d.usable != 0));
      device.Set("reason", Napi::String::New(env, FixedString(d.reason, sizeof d.reason)));
      devices.Set(static_cast<uint32_t>(i), device);
    }

    Napi::Object c = Napi::Object::New(env);
    c.Set("compiled", Napi::Boolean::New(env, cuda.compiled != 0));
    c.Set("emulated", Napi::Boolean::New(env, cuda.emulated != 0));
    c.Set("usableDevices", Napi::Number::New(env, cuda.usable_devices));
    c.Set("runtimeVersion", Napi::Number::New(env, cuda.runtime_version));
    c.Set("driverVersion", Napi::Number::New(env, cuda.driver_version));
    c.Set("architectures", Napi::String::New(env, FixedString(cuda.architectures, sizeof cuda.architectures)));
    c.Set("reason", Napi::String::New(env, FixedString(cuda.reason, sizeof cuda.reason)));
    c.Set("devices", devices);

    const char* version = seqloss_version();
    Napi::Object result = Napi::Object::New(env);
    result.Set("version", Napi::String::New(env, version != nullptr ? version : ""));
    result.Set("abi", Napi::Number::New(env, seqloss_abi_version()));
    result.Set("threads", Napi::Number::New(env, seqloss_cpu_threads()));
    result.Set("cuda", c);
    return result;
  });
}

}  // namespace

// One instance per environment (main thread, each worker thread), kept by Napi::Addon in the environment's
// instance data and deleted with it. It holds nothing mutable: every call owns its own state.
class SeqlossAddon final : public Napi::Addon<SeqlossAddon> {
 public:
  SeqlossAddon(Napi::Env /*env*/, Napi::Object exports) {
    DefineAddon(exports, {
                             InstanceMethod("ctc", &SeqlossAddon::Ctc, kMethodAttributes),
                             InstanceMethod("ctcAsync", &SeqlossAddon::CtcAsync, kMethodAttributes),
                             InstanceMethod("ace", &SeqlossAddon::Ace, kMethodAttributes),
                             InstanceMethod("aceAsync", &SeqlossAddon::AceAsync, kMethodAttributes),
                             InstanceMethod("dctc", &SeqlossAddon::Dctc, kMethodAttributes),
                             InstanceMethod("dctcAsync", &SeqlossAddon::DctcAsync, kMethodAttributes),
                             InstanceMethod("ctcAlign", &SeqlossAddon::CtcAlign, kMethodAttributes),
                             InstanceMethod("ctcAlignAsync", &SeqlossAddon::CtcAlignAsync, kMethodAttributes),
                             InstanceMethod("ctcGreedyDecode", &SeqlossAddon::CtcGreedyDecode, kMethodAttributes),
                             InstanceMethod("aceDecode", &SeqlossAddon::AceDecode, kMethodAttributes),
                             InstanceMethod("aceCount", &SeqlossAddon::AceCountMethod, kMethodAttributes),
                             InstanceMethod("info", &SeqlossAddon::InfoMethod, kMethodAttributes),
                         });
  }

 private:
  Napi::Value Ctc(const Napi::CallbackInfo& info) { return RunSync(info, Op::kCtc, "ctc"); }
  Napi::Value CtcAsync(const Napi::CallbackInfo& info) { return RunAsync(info, Op::kCtc, "ctcAsync"); }
  Napi::Value Ace(const Napi::CallbackInfo& info) { return RunSync(info, Op::kAce, "ace"); }
  Napi::Value AceAsync(const Napi::CallbackInfo& info) { return RunAsync(info, Op::kAce, "aceAsync"); }
  Napi::Value Dctc(const Napi::CallbackInfo& info) { return RunSync(info, Op::kDctc, "dctc"); }
  Napi::Value DctcAsync(const Napi::CallbackInfo& info) { return RunAsync(info, Op::kDctc, "dctcAsync"); }
  Napi::Value CtcAlign(const Napi::CallbackInfo& info) { return RunSync(info, Op::kAlign, "ctcAlign"); }
  Napi::Value CtcAlignAsync(const Napi::CallbackInfo& info) { return RunAsync(info, Op::kAlign, "ctcAlignAsync"); }
  Napi::Value CtcGreedyDecode(const Napi::CallbackInfo& info) { return Decode(info, false, "ctcGreedyDecode"); }
  Napi::Value AceDecode(const Napi::CallbackInfo& info) { return Decode(info, true, "aceDecode"); }
  Napi::Value AceCountMethod(const Napi::CallbackInfo& info) { return AceCount(info); }
  Napi::Value InfoMethod(const Napi::CallbackInfo& info) { return Info(info); }
};

}  // namespace seqloss_napi

// NODE_API_ADDON pastes the class name into an identifier, so it needs an unqualified name.
using SeqlossAddon = seqloss_napi::SeqlossAddon;
NODE_API_ADDON(SeqlossAddon)
