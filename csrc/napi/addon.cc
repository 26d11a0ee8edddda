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

// ---- the ABI call of a loss, as plain C data (runs on the main thread or on the thread pool) ----------------------

struct LossJob {
  bool ctc = true;
  seqloss_problem problem{};
  seqloss_exec exec{};
  seqloss_ctc_options ctc_options{};
  seqloss_ace_options ace_options{};
  size_t workspace_bytes = 0;
  float* losses = nullptr;
  float* grad = nullptr;
  int64_t grad_size = 0;
  float* posterior = nullptr;
  int64_t posterior_size = 0;
  double loss = 0.0;
  seqloss_status status = SEQLOSS_OK;
  char message[kMessageSize] = {};

  // The ABI call with a workspace of its own. Touches no JavaScript value.
  void Run() noexcept {
    message[0] = '\0';
    void* workspace = nullptr;
    if (workspace_bytes > 0) {
      workspace = ::operator new(workspace_bytes, kWorkspaceAlign, std::nothrow);
      if (workspace == nullptr) {
        status = SEQLOSS_ERROR_ALLOC;
        std::snprintf(message, sizeof message, "%s: could not allocate a workspace of %zu bytes",
                      ctc ? "seqloss_ctc" : "seqloss_ace", workspace_bytes);
        return;
      }
    }
    if (ctc) {
      seqloss_ctc_outputs out{};
      out.losses = losses;
      out.losses_size = problem.batch;
      out.loss = &loss;
      out.grad = grad;
      out.grad_size = grad_size;
      out.posterior = posterior;
      out.posterior_size = posterior_size;
      status = seqloss_ctc(&problem, &ctc_options, &exec, &out, workspace, workspace_bytes, message, sizeof message);
    } else {
      seqloss_ace_outputs out{};
      out.losses = losses;
      out.losses_size = problem.batch;
      out.loss = &loss;
      out.grad = grad;
      out.grad_size = grad_size;
      status = seqloss_ace(&problem, &ace_options, &exec, &out, workspace, workspace_bytes, message, sizeof message);
    }
    if (workspace != nullptr) ::operator delete(workspace, kWorkspaceAlign);
    message[sizeof message - 1] = '\0';
  }
};

// A loss call converted and ready: the job plus the JavaScript values its pointers point into.
struct LossCall {
  LossJob job;
  std::vector<Napi::Value> inputs;
  Napi::Float32Array losses;
  Napi::Float32Array grad;       // empty when not requested
  Napi::Float32Array posterior;  // empty when not requested
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

// Reads (data, problem, options, exec), asks the ABI for the workspace size (which validates the problem and
// options), and allocates the outputs. Throws Napi::Error on any argument error.
LossCall PrepareLoss(const Napi::CallbackInfo& info, bool ctc, bool async, const std::string& fn) {
  Napi::Env env = info.Env();
  LossCall call;
  LossJob& job = call.job;
  job.ctc = ctc;

  Problem problem = ReadProblem(info, fn, ctc);
  job.problem = problem.problem;
  call.inputs = std::move(problem.keep);
  if (async) RefuseResizable(env, fn, call.inputs);

  Napi::Object o = ObjectArg(info, 2, fn, "options");
  bool want_grad = false;
  bool want_posterior = false;
  if (ctc) {
    job.ctc_options.reduction = Int32Prop(o, "reduction", fn, "options.reduction");
    job.ctc_options.zero_infinity = BoolProp(o, "zeroInfinity", fn, "options.zeroInfinity") ? 1 : 0;
    want_grad = BoolProp(o, "grad", fn, "options.grad");
    want_posterior = BoolProp(o, "posterior", fn, "options.posterior");
  } else {
    job.ace_options.reduction = Int32Prop(o, "reduction", fn, "options.reduction");
    job.ace_options.variant = Int32Prop(o, "variant", fn, "options.variant");
    job.ace_options.eps = NumberProp(o, "eps", fn, "options.eps");
    want_grad = BoolProp(o, "grad", fn, "options.grad");
  }
  job.exec = ReadExec(info, 3, fn);

  char message[kMessageSize] = {};
  size_t bytes = 0;
  const seqloss_status status =
      ctc ? seqloss_ctc_workspace_size(&job.problem, &job.ctc_options, &job.exec, &bytes, message, sizeof message)
          : seqloss_ace_workspace_size(&job.problem, &job.ace_options, &job.exec, &bytes, message, sizeof message);
  message[sizeof message - 1] = '\0';
  if (status != SEQLOSS_OK) throw StatusError(env, status, message);
  job.workspace_bytes = bytes;

  // The ABI has accepted the shape; this only makes sure the output sizes below cannot be wrong.
  const int64_t count = DenseCount(job.problem);
  if (count < 0) {
    throw RangeErr(env, fn, "data.length", "batch*time*classes",
                   std::to_string(job.problem.data_size) + " (batch " + std::to_string(job.problem.batch) +
                       ", time " + std::to_string(job.problem.time) + ", classes " +
                       std::to_string(job.problem.classes) + ")");
  }

  call.losses = Napi::Float32Array::New(env, static_cast<size_t>(job.problem.batch));
  job.losses = call.losses.Data();
  // options.gradOut / options.posteriorOut: caller-owned arrays, reused across calls, save the allocation and
  // the first-touch page faults of a fresh N·T·C buffer (more than the kernel itself costs at large C). They must
  // hold exactly N·T·C floats and share no memory with the input or with each other.
  auto output = [&](const char* key) -> Napi::Float32Array {
    const std::string what = std::string("options.") + key;
    HostArray<float> given = Float32ArrayOrNullProp(o, key, fn, what);
    if (!given.present) return Napi::Float32Array::New(env, static_cast<size_t>(count));
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
    return given.keep.As<Napi::Float32Array>();
  };
  if (want_grad) {
    call.grad = output("gradOut");
    job.grad = call.grad.Data();
    job.grad_size = count;
  }
  if (want_posterior) {
    call.posterior = output("posteriorOut");
    job.posterior = call.posterior.Data();
    job.posterior_size = count;
  }
  if (async) {
    std::vector<Napi::Value> outs;
    if (want_grad) outs.push_back(call.grad);
    if (want_posterior) outs.push_back(call.posterior);
    RefuseResizable(env, fn, outs);
  }
  return call;
}

Napi::Object LossResult(Napi::Env env, const Napi::Float32Array& losses, double loss, const Napi::Float32Array& grad,
                        const Napi::Float32Array& posterior) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("losses", losses);
  result.Set("loss", Napi::Number::New(env, loss));
  if (!grad.IsEmpty()) result.Set("grad", grad);
  if (!posterior.IsEmpty()) result.Set("posterior", posterior);
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

class LossWorker final : public Napi::AsyncWorker {
 public:
  LossWorker(Napi::Env env, const Napi::Promise::Deferred& deferred, LossCall& call)
      : Napi::AsyncWorker(env, call.job.ctc ? "seqloss.ctcAsync" : "seqloss.aceAsync"),
        deferred_(deferred),
        job_(call.job) {
    // Everything the job's pointers point into stays alive (and unmoved) until the promise settles.
    inputs_.reserve(call.inputs.size());
    for (const Napi::Value& v : call.inputs) inputs_.push_back(Napi::Persistent(v));
    losses_ = Napi::Persistent(call.losses);
    if (!call.grad.IsEmpty()) grad_ = Napi::Persistent(call.grad);
    if (!call.posterior.IsEmpty()) posterior_ = Napi::Persistent(call.posterior);
  }

 protected:
  void Execute() override { job_.Run(); }

  void OnOK() override {
    Napi::Env env = Env();
    Settle(env, [&]() -> std::pair<bool, Napi::Value> {
      if (job_.status != SEQLOSS_OK) return {false, StatusError(env, job_.status, job_.message).Value()};
      Napi::Float32Array grad = grad_.IsEmpty() ? Napi::Float32Array() : grad_.Value();
      Napi::Float32Array posterior = posterior_.IsEmpty() ? Napi::Float32Array() : posterior_.Value();
      return {true, LossResult(env, losses_.Value(), job_.loss, grad, posterior)};
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
  LossJob job_;
  std::vector<Napi::Reference<Napi::Value>> inputs_;
  Napi::Reference<Napi::Float32Array> losses_;
  Napi::Reference<Napi::Float32Array> grad_;
  Napi::Reference<Napi::Float32Array> posterior_;
  bool settled_ = false;
};

Napi::Value LossSync(const Napi::CallbackInfo& info, bool ctc, const char* fn) {
  Napi::Env env = info.Env();
  return Guarded(env, [&]() -> Napi::Value {
    LossCall call = PrepareLoss(info, ctc, false, fn);
    call.job.Run();
    if (call.job.status != SEQLOSS_OK) throw StatusError(env, call.job.status, call.job.message);
    return LossResult(env, call.losses, call.job.loss, call.grad, call.posterior);
  });
}

// Argument errors reject the returned promise (they are not thrown); only a failure to create the promise itself
// throws.
Napi::Value LossAsync(const Napi::CallbackInfo& info, bool ctc, const char* fn) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  try {
    LossCall call = PrepareLoss(info, ctc, true, fn);
    auto worker = std::make_unique<LossWorker>(env, deferred, call);
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
      devices.Set(static_cast<uint32_t>(i), device);
    }

    Napi::Object c = Napi::Object::New(env);
    c.Set("compiled", Napi::Boolean::New(env, cuda.compiled != 0));
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
                             InstanceMethod("ctcGreedyDecode", &SeqlossAddon::CtcGreedyDecode, kMethodAttributes),
                             InstanceMethod("aceDecode", &SeqlossAddon::AceDecode, kMethodAttributes),
                             InstanceMethod("aceCount", &SeqlossAddon::AceCountMethod, kMethodAttributes),
                             InstanceMethod("info", &SeqlossAddon::InfoMethod, kMethodAttributes),
                         });
  }

 private:
  Napi::Value Ctc(const Napi::CallbackInfo& info) { return LossSync(info, true, "ctc"); }
  Napi::Value CtcAsync(const Napi::CallbackInfo& info) { return LossAsync(info, true, "ctcAsync"); }
  Napi::Value Ace(const Napi::CallbackInfo& info) { return LossSync(info, false, "ace"); }
  Napi::Value AceAsync(const Napi::CallbackInfo& info) { return LossAsync(info, false, "aceAsync"); }
  Napi::Value CtcGreedyDecode(const Napi::CallbackInfo& info) { return Decode(info, false, "ctcGreedyDecode"); }
  Napi::Value AceDecode(const Napi::CallbackInfo& info) { return Decode(info, true, "aceDecode"); }
  Napi::Value AceCountMethod(const Napi::CallbackInfo& info) { return AceCount(info); }
  Napi::Value InfoMethod(const Napi::CallbackInfo& info) { return Info(info); }
};

}  // namespace seqloss_napi

// NODE_API_ADDON pastes the class name into an identifier, so it needs an unqualified name.
using SeqlossAddon = seqloss_napi::SeqlossAddon;
NODE_API_ADDON(SeqlossAddon)
