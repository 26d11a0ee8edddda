// seqloss's Node addon: a thin Node-API layer over the C ABI (csrc/seqloss.h). It converts and checks arguments,
// calls the ABI once, and maps statuses onto JavaScript errors. The interface it implements is NativeBinding in
// lib/native.ts: `call` and `callAsync` run one operation of the table kOps below; `info` reports the build.
//
// Written against plain node_api.h, with no C++ exception crossing it, so that nothing a caller does can abort
// the process: every Node-API status is checked, and when the environment can no longer run JavaScript (a worker
// terminated mid-call, or while it loads this addon) a call quietly returns or drops its result instead.
//
// Memory a call touches:
//  - Small inputs (input and target lengths, targets, counts) are copied into the call's own memory when the call
//    begins and validated there (by the C ABI, once), so no other thread and no later JavaScript can change them.
//  - The dense input and caller-owned outputs of a sync call are used in place, unless they live in a
//    SharedArrayBuffer (which another thread may write meanwhile): those are staged through the call's memory.
//  - An async call copies the dense input when it begins and computes into its own memory; when it settles, new
//    outputs are handed to JavaScript without a copy (external ArrayBuffers) and caller-owned outputs are filled,
//    if they are still attached and of their length (a RangeError otherwise). Nothing a caller does meanwhile
//    (changing, transferring or detaching its arrays, terminating the worker) reaches the memory the call uses.
//
// State: per environment (instance data): the CPU thread pool, shared with the calls that use it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "convert.h"

namespace seqloss_napi {
namespace {

// ---- per-environment state ---------------------------------------------------------------------------------------

#if SEQLOSS_ABI_VERSION >= 4
// The environment's CPU thread pool. Calls hold a share of it, so a worker's environment can end (and drop its own
// share) while one of its async calls still runs on the libuv pool; the last share releases the pool.
struct Pool {
  seqloss_pool* pool = nullptr;
  ~Pool() {
    if (pool != nullptr) seqloss_pool_release(pool);
  }
};
#endif

struct AddonState {
  Keys keys;
#if SEQLOSS_ABI_VERSION >= 4
  std::shared_ptr<Pool> pool;  // created on the first call that uses the CPU backend
  bool pool_failed = false;    // creation failed once: calls then start their threads themselves
#endif
};

void DeleteState(napi_env /*env*/, void* data, void* /*hint*/) { delete static_cast<AddonState*>(data); }

AddonState* State(napi_env env) {
  void* data = nullptr;
  if (napi_get_instance_data(env, &data) != napi_ok) return nullptr;
  return static_cast<AddonState*>(data);
}

// ---- the table of operations ---------------------------------------------------------------------------------------

enum class Extent : uint8_t { kN, kNT, kNTC, kNC };
enum class Want : uint8_t { kAlways, kGrad, kPosterior };  // kGrad / kPosterior: as outputs.grad / .posterior say
enum class Options : uint8_t { kNone, kCtc, kDctc, kAce, kDecode };

struct OutSpec {
  const char* name;  // the result's property
  Key key;           // the same, interned
  napi_typedarray_type type;
  Extent extent;
  Want want;
};

struct Job;

// One operation: what it reads, what it returns, and its one ABI call. Adding an operation is a row here, a run
// function below, and its options reader when it has new options.
struct OpTraits {
  const char* resource;  // the async resource name (async_hooks, diagnostics)
  bool targets;          // reads targets and targetLengths
  bool counts;           // reads counts
  Options options;
  bool loss;  // the result has the scalar `loss` (placed after the first output, `losses`)
  uint8_t outs;
  OutSpec out[5];
  seqloss_status (*run)(Job& job);
};

constexpr size_t kMaxOuts = 5;

struct Out {
  void* ptr = nullptr;  // where the ABI writes
  int64_t count = 0;    // elements
  size_t bytes = 0;
  bool present = false;
  bool owned = false;       // ptr is the call's own (malloc) memory
  View caller;              // a caller-owned output (out.grad / out.posterior), else absent
  napi_value js = nullptr;  // sync: the JavaScript array returned
  napi_ref ref = nullptr;   // async: the caller-owned array, held until the call settles
};

// A small input's copy: inline for the sizes of a training loop's calls, on the heap beyond. Not copyable (it may
// point into itself).
template <typename T, size_t kInline = 64>
struct SmallCopy {
  T local[kInline];
  std::unique_ptr<T[]> heap;
  T* ptr = local;
  SmallCopy() = default;
  SmallCopy(const SmallCopy&) = delete;
  SmallCopy& operator=(const SmallCopy&) = delete;
  // Room for n values (at least 1, so that a present but empty array gets a non-NULL pointer); false: no memory.
  bool resize(size_t n) {
    if (n <= kInline) return ptr = local, true;
    heap.reset(new (std::nothrow) T[n]);
    ptr = heap.get();
    return ptr != nullptr;
  }
  T* data() { return ptr; }
};

struct Job {
  const OpTraits* op = nullptr;
  Ctx ctx{};
  seqloss_problem problem{};
  seqloss_exec exec{};
  seqloss_ctc_options ctc{};
  seqloss_dctc_options dctc{};
  seqloss_ace_options ace{};
  int32_t collapse = 0;
  SmallCopy<int32_t> input_lengths, targets, target_lengths;
  SmallCopy<float> counts;
  float* data_copy = nullptr;
  Out out[kMaxOuts];
  double loss = 0.0;
  seqloss_status status = SEQLOSS_OK;
  char message[kMessageSize] = {};
#if SEQLOSS_ABI_VERSION >= 4
  std::shared_ptr<Pool> pool;
#endif
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;

  ~Job() {
    std::free(data_copy);
    for (Out& o : out) {
      if (o.owned) std::free(o.ptr);
    }
  }
};

float* F(Job& j, int i) { return static_cast<float*>(j.out[i].ptr); }
int32_t* I(Job& j, int i) { return static_cast<int32_t*>(j.out[i].ptr); }
int64_t S(Job& j, int i) { return j.out[i].present ? j.out[i].count : 0; }

seqloss_status RunCtc(Job& j) {
  seqloss_ctc_outputs o{};
  o.losses = F(j, 0), o.losses_size = S(j, 0), o.loss = &j.loss;
  o.grad = F(j, 1), o.grad_size = S(j, 1), o.posterior = F(j, 2), o.posterior_size = S(j, 2);
  return seqloss_ctc(&j.problem, &j.ctc, &j.exec, &o, nullptr, 0, j.message, sizeof j.message);
}

seqloss_status RunDctc(Job& j) {
  seqloss_dctc_outputs o{};
  o.losses = F(j, 0), o.losses_size = S(j, 0), o.loss = &j.loss, o.grad = F(j, 1), o.grad_size = S(j, 1);
  o.alignment = I(j, 2), o.alignment_size = S(j, 2), o.ctc_losses = F(j, 3), o.ctc_losses_size = S(j, 3);
  o.distill_losses = F(j, 4), o.distill_losses_size = S(j, 4);
  return seqloss_dctc(&j.problem, &j.dctc, &j.exec, &o, nullptr, 0, j.message, sizeof j.message);
}

seqloss_status RunAlign(Job& j) {
  seqloss_align_outputs o{};
  o.paths = I(j, 0), o.paths_size = S(j, 0), o.scores = F(j, 1), o.scores_size = S(j, 1);
  return seqloss_ctc_align(&j.problem, &j.exec, &o, nullptr, 0, j.message, sizeof j.message);
}

seqloss_status RunAce(Job& j) {
  seqloss_ace_outputs o{};
  o.losses = F(j, 0), o.losses_size = S(j, 0), o.loss = &j.loss, o.grad = F(j, 1), o.grad_size = S(j, 1);
  return seqloss_ace(&j.problem, &j.ace, &j.exec, &o, nullptr, 0, j.message, sizeof j.message);
}

seqloss_status RunGreedyDecode(Job& j) {
  return seqloss_ctc_greedy_decode(&j.problem, &j.exec, I(j, 0), S(j, 0), I(j, 1), S(j, 1), j.message,
                                   sizeof j.message);
}

seqloss_status RunAceDecode(Job& j) {
  return seqloss_ace_decode(&j.problem, j.collapse, &j.exec, I(j, 0), S(j, 0), I(j, 1), S(j, 1), j.message,
                            sizeof j.message);
}

seqloss_status RunAceCount(Job& j) {
  return seqloss_ace_count(&j.problem, &j.exec, F(j, 0), S(j, 0), I(j, 1), S(j, 1), j.message, sizeof j.message);
}

constexpr napi_typedarray_type kF32 = napi_float32_array;
constexpr napi_typedarray_type kI32 = napi_int32_array;

// Indexed by OP in lib/native.ts.
const OpTraits kOps[] = {
    {"seqloss.ctc",
     true,
     false,
     Options::kCtc,
     true,
     3,
     {{"losses", k_losses, kF32, Extent::kN, Want::kAlways},
      {"grad", k_grad, kF32, Extent::kNTC, Want::kGrad},
      {"posterior", k_posterior, kF32, Extent::kNTC, Want::kPosterior}},
     RunCtc},
    {"seqloss.dctc",
     true,
     false,
     Options::kDctc,
     true,
     5,
     {{"losses", k_losses, kF32, Extent::kN, Want::kAlways},
      {"grad", k_grad, kF32, Extent::kNTC, Want::kGrad},
      {"alignment", k_alignment, kI32, Extent::kNT, Want::kAlways},
      {"ctcLosses", k_ctcLosses, kF32, Extent::kN, Want::kAlways},
      {"distillLosses", k_distillLosses, kF32, Extent::kN, Want::kAlways}},
     RunDctc},
    {"seqloss.ctcAlign",
     true,
     false,
     Options::kNone,
     false,
     2,
     {{"paths", k_paths, kI32, Extent::kNT, Want::kAlways}, {"scores", k_scores, kF32, Extent::kN, Want::kAlways}},
     RunAlign},
    {"seqloss.ace",
     true,  // the labels, when the counts are not given (either may be absent; the ABI checks that one is there)
     true,
     Options::kAce,
     true,
     2,
     {{"losses", k_losses, kF32, Extent::kN, Want::kAlways}, {"grad", k_grad, kF32, Extent::kNTC, Want::kGrad}},
     RunAce},
    {"seqloss.ctcGreedyDecode",
     false,
     false,
     Options::kNone,
     false,
     2,
     {{"labels", k_labels, kI32, Extent::kNT, Want::kAlways}, {"lengths", k_lengths, kI32, Extent::kN, Want::kAlways}},
     RunGreedyDecode},
    {"seqloss.aceDecode",
     false,
     false,
     Options::kDecode,
     false,
     2,
     {{"labels", k_labels, kI32, Extent::kNT, Want::kAlways}, {"lengths", k_lengths, kI32, Extent::kN, Want::kAlways}},
     RunAceDecode},
    {"seqloss.aceCount",
     false,
     false,
     Options::kNone,
     false,
     2,
     {{"expected", k_expected, kF32, Extent::kNC, Want::kAlways},
      {"rounded", k_rounded, kI32, Extent::kNC, Want::kAlways}},
     RunAceCount},
};
constexpr int32_t kOpCount = static_cast<int32_t>(sizeof kOps / sizeof kOps[0]);

const char* data_name(int32_t input) {
  return input == SEQLOSS_INPUT_LOG_PROBS ? "logProbs" : input == SEQLOSS_INPUT_PROBS ? "probs" : "logits";
}

// ---- reading a call --------------------------------------------------------------------------------------------

bool ReadOptions(Job& j, napi_value o) {
  const Ctx& c = j.ctx;
  switch (j.op->options) {
    case Options::kNone: return true;
    case Options::kCtc:
      return ObjectArg(c, o, "options") && Int32Prop(c, o, k_reduction, "options.reduction", &j.ctc.reduction) &&
             Int32Prop(c, o, k_zeroInfinity, "options.zeroInfinity", &j.ctc.zero_infinity) &&
             NumberProp(c, o, k_fitAlpha, "options.fitAlpha", &j.ctc.fit_alpha) &&
             NumberProp(c, o, k_fitGamma, "options.fitGamma", &j.ctc.fit_gamma) &&
             Int32Prop(c, o, k_fitAlphaScope, "options.fitAlphaScope", &j.ctc.fit_alpha_scope) &&
             OptionalInt32Prop(c, o, k_gradConvention, "options.gradConvention", &j.ctc.grad_convention);
    case Options::kDctc:
      return ObjectArg(c, o, "options") && Int32Prop(c, o, k_reduction, "options.reduction", &j.dctc.reduction) &&
             Int32Prop(c, o, k_zeroInfinity, "options.zeroInfinity", &j.dctc.zero_infinity) &&
             Int32Prop(c, o, k_alignment, "options.alignment", &j.dctc.alignment) &&
             NumberProp(c, o, k_lambda, "options.lambda", &j.dctc.lambda) &&
             NumberProp(c, o, k_ctcWeight, "options.ctcWeight", &j.dctc.ctc_weight) &&
             NumberProp(c, o, k_scale, "options.scale", &j.dctc.scale) &&
             NumberProp(c, o, k_margin, "options.margin", &j.dctc.margin);
    case Options::kAce:
      return ObjectArg(c, o, "options") && Int32Prop(c, o, k_reduction, "options.reduction", &j.ace.reduction) &&
             Int32Prop(c, o, k_variant, "options.variant", &j.ace.variant) &&
             NumberProp(c, o, k_eps, "options.eps", &j.ace.eps);
    case Options::kDecode:
      return ObjectArg(c, o, "options") && Int32Prop(c, o, k_collapseRepeats, "options.collapseRepeats", &j.collapse);
  }
  return true;
}

// A caller's array that the call reads, by the name errors give it.
struct Input {
  const char* name;
  View view;
};

// The (at most five) arrays a call reads: data, inputLengths, targets, targetLengths, counts.
struct Inputs {
  Input at[5];
  int count = 0;
  void add(const char* name, const View& v) { at[count++] = Input{name, v}; }
  const Input* begin() const { return at; }
  const Input* end() const { return at + count; }
};

// problem.<key>: a typed array of `type` or null, copied into `into` (its length checked against `need` when
// need >= 0). `inputs` collects the caller's arrays, to be checked against caller-owned outputs.
template <typename T>
bool ReadSmall(Job& j, napi_value problem, Key key, const char* what, napi_typedarray_type type, const char* type_name,
               int64_t need, SmallCopy<T>* into, const T** ptr, int64_t* size, Inputs* inputs) {
  napi_value value = nullptr;
  if (!Get(j.ctx, problem, key, &value)) return false;
  View v;
  if (!ViewOf(j.ctx, value, type, type_name, what, true, &v)) return false;
  if (!v.present) return true;
  if (need >= 0 && static_cast<int64_t>(v.length) != need) {
    return RangeErr(j.ctx, std::string(what) + ".length", "batch = " + std::to_string(need), std::to_string(v.length));
  }
  // A present but empty array still needs a non-NULL pointer (the ABI reads NULL as absent).
  if (!into->resize(v.length)) return Throw(j.ctx.env, SEQLOSS_ERROR_ALLOC, std::string(j.ctx.fn) + ": out of memory");
  if (v.length > 0) std::memcpy(into->data(), v.data, v.length * sizeof(T));
  *ptr = into->data();
  *size = static_cast<int64_t>(v.length);
  inputs->add(KeyName(key), v);
  return true;
}

int64_t ExtentCount(const Job& j, Extent e) {
  const int64_t n = j.problem.batch, t = j.problem.time, c = j.problem.classes;
  switch (e) {
    case Extent::kN: return n;
    case Extent::kNT: return n * t;
    case Extent::kNTC: return n * t * c;
    case Extent::kNC: return n * c;
  }
  return 0;
}

void FreeBuffer(napi_env /*env*/, void* data, void* /*hint*/) { std::free(data); }

// Makes a typed array of `type` over a new ArrayBuffer of `bytes`; *data is where to write.
bool NewTypedArray(napi_env env, napi_typedarray_type type, size_t count, void** data, napi_value* out) {
  napi_value buffer = nullptr;
  const size_t bytes = count * 4;
  if (napi_create_arraybuffer(env, bytes, data, &buffer) != napi_ok) return false;
  return napi_create_typedarray(env, type, count, buffer, 0, out) == napi_ok;
}

// The outputs of `j`: fresh arrays (sync: JavaScript's; async, staged: the call's own memory) or the caller's.
bool PrepareOutputs(Job& j, napi_value outputs, const Inputs& inputs, bool async) {
  const Ctx& c = j.ctx;
  for (int i = 0; i < j.op->outs; ++i) {
    const OutSpec& spec = j.op->out[i];
    Out& o = j.out[i];
    napi_value given = nullptr;
    if (spec.want != Want::kAlways) {
      if (!ObjectArg(c, outputs, "outputs") ||
          !Get(c, outputs, spec.want == Want::kGrad ? k_grad : k_posterior, &given)) {
        return false;
      }
      napi_valuetype type = napi_undefined;
      if (napi_typeof(c.env, given, &type) != napi_ok) return false;
      if (type == napi_boolean) {
        bool want = false;
        napi_get_value_bool(c.env, given, &want);
        if (!want) continue;
        given = nullptr;
      } else if (!ViewOf(c, given, napi_float32_array, "Float32Array",
                         spec.want == Want::kGrad ? "out.grad" : "out.posterior", false, &o.caller)) {
        return false;
      }
    }
    o.present = true;
    o.count = ExtentCount(j, spec.extent);
    o.bytes = static_cast<size_t>(o.count) * 4;
    if (o.caller.present) {
      const std::string what = std::string("out.") + spec.name;  // short: within the string's own buffer
      if (static_cast<int64_t>(o.caller.length) != o.count) {
        return RangeErr(c, what + ".length", "batch·time·classes = " + std::to_string(o.count),
                        std::to_string(o.caller.length));
      }
      for (const Input& in : inputs) {
        if (Overlap(o.caller, in.view)) {
          return RangeErr(c, what, std::string("an array that shares no memory with ") + in.name,
                          "an overlapping view");
        }
      }
      for (int k = 0; k < i; ++k) {
        if (Overlap(o.caller, j.out[k].caller)) {
          return RangeErr(c, what, std::string("an array that shares no memory with out.") + j.op->out[k].name,
                          "an overlapping view");
        }
      }
      if (!async && !o.caller.shared) {
        o.ptr = o.caller.data;  // written in place
        continue;
      }
      if (async && napi_create_reference(c.env, o.caller.value, 1, &o.ref) != napi_ok) return false;
    } else if (!async) {
      if (!NewTypedArray(c.env, spec.type, static_cast<size_t>(o.count), &o.ptr, &o.js)) return false;
      continue;
    }
    // Staged through the call's own memory (zeroed, as a fresh JavaScript array is).
    o.ptr = std::calloc(o.bytes > 0 ? o.bytes : 1, 1);
    if (o.ptr == nullptr) return Throw(c.env, SEQLOSS_ERROR_ALLOC, std::string(c.fn) + ": out of memory");
    o.owned = true;
  }
  return true;
}

// Reads (op, fn, data, problem, options, outputs, exec) into `j`, or throws and returns false. With `plan` (the
// `plan` entry), data is absent (null: nothing is read or copied) and `outputs` is not read here.
bool Prepare(napi_env env, napi_callback_info info, bool async, Job& j, bool plan = false) {
  size_t argc = 7;
  napi_value argv[7] = {};
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return false;
  Ctx& c = j.ctx;
  c.env = env;
  AddonState* state = State(env);
  c.keys = KeyArray(env, state != nullptr ? &state->keys : nullptr);
  std::snprintf(c.fn, sizeof c.fn, "seqloss");
  size_t fn_length = 0;
  if (argc >= 2) napi_get_value_string_utf8(env, argv[1], c.fn, sizeof c.fn, &fn_length);
  if (fn_length == 0) std::snprintf(c.fn, sizeof c.fn, "seqloss");
  int32_t op = -1;
  if (argc < 7 || napi_get_value_int32(env, argv[0], &op) != napi_ok || op < 0 || op >= kOpCount) {
    RangeErr(c, "the operation", "one of the table of operations, called with 7 arguments", std::to_string(op));
    return false;
  }
  j.op = &kOps[op];

  // The dense input.
  View data;
  if (!ViewOf(c, argv[2], napi_float32_array, "Float32Array", "data", plan, &data)) return false;
  if (plan && data.present) {
    TypeErr(c, "data", "null (a plan reads no data)", argv[2]);
    return false;
  }
  napi_value problem = argv[3];
  if (!ObjectArg(c, problem, "problem")) return false;
  seqloss_problem& p = j.problem;
  if (!Int32Prop(c, problem, k_batch, "problem.batch", &p.batch) ||
      !Int32Prop(c, problem, k_time, "problem.time", &p.time) ||
      !Int32Prop(c, problem, k_classes, "problem.classes", &p.classes) ||
      !Int32Prop(c, problem, k_layout, "problem.layout", &p.layout) ||
      !Int32Prop(c, problem, k_input, "problem.input", &p.input) ||
      !Int32Prop(c, problem, k_blank, "problem.blank", &p.blank)) {
    return false;
  }
  // The extents sized below: each factor in [1, 2^31), and N·T·C must be the data's length (so it fits).
  if (p.batch < 1 || p.time < 1 || p.classes < 1 || static_cast<int64_t>(p.batch) * p.time > INT64_MAX / p.classes ||
      (!plan && static_cast<int64_t>(p.batch) * p.time * p.classes != static_cast<int64_t>(data.length))) {
    RangeErr(c, "data.length", "batch·time·classes",
             std::to_string(data.length) + " (batch " + std::to_string(p.batch) + ", time " + std::to_string(p.time) +
                 ", classes " + std::to_string(p.classes) + ")");
    return false;
  }
  p.data_size = plan ? static_cast<int64_t>(p.batch) * p.time * p.classes : static_cast<int64_t>(data.length);
  if (plan) {
    p.data = nullptr;
  } else if (async || data.shared) {
    j.data_copy = static_cast<float*>(std::malloc(data.byte_length));
    if (j.data_copy == nullptr) {
      Throw(env, SEQLOSS_ERROR_ALLOC, std::string(c.fn) + ": out of memory (copying the input)");
      return false;
    }
    std::memcpy(j.data_copy, data.data, data.byte_length);
    p.data = j.data_copy;
  } else {
    p.data = static_cast<const float*>(data.data);
  }

  Inputs inputs;
  inputs.add(data_name(p.input), data);
  if (!ReadSmall<int32_t>(j, problem, k_inputLengths, "problem.inputLengths", napi_int32_array, "Int32Array", p.batch,
                          &j.input_lengths, &p.input_lengths, &p.input_lengths_size, &inputs)) {
    return false;
  }
  if (j.op->targets &&
      (!ReadSmall<int32_t>(j, problem, k_targets, "problem.targets", napi_int32_array, "Int32Array", -1, &j.targets,
                           &p.targets, &p.targets_size, &inputs) ||
       !ReadSmall<int32_t>(j, problem, k_targetLengths, "problem.targetLengths", napi_int32_array, "Int32Array",
                           p.batch, &j.target_lengths, &p.target_lengths, &p.target_lengths_size, &inputs))) {
    return false;
  }
  if (j.op->counts && !ReadSmall<float>(j, problem, k_counts, "problem.counts", napi_float32_array, "Float32Array", -1,
                                        &j.counts, &p.counts, &p.counts_size, &inputs)) {
    return false;
  }
  if (!ReadOptions(j, argv[4])) return false;

  napi_value exec = argv[6];
  if (!ObjectArg(c, exec, "exec") || !Int32Prop(c, exec, k_backend, "exec.backend", &j.exec.backend) ||
      !Int32Prop(c, exec, k_device, "exec.device", &j.exec.device) ||
      !Int32Prop(c, exec, k_threads, "exec.threads", &j.exec.threads)) {
    return false;
  }
  j.exec.memory = SEQLOSS_MEMORY_HOST;
  j.exec.stream = nullptr;
#if SEQLOSS_ABI_VERSION >= 4
  j.exec.pool = nullptr;
  if (j.exec.backend == SEQLOSS_BACKEND_CPU && j.exec.threads != 1 && state != nullptr && !state->pool_failed) {
    if (!state->pool) {
      auto pool = std::make_shared<Pool>();
      if (seqloss_pool_create(0, &pool->pool, nullptr, 0) == SEQLOSS_OK) {
        state->pool = std::move(pool);
      } else {
        state->pool_failed = true;
      }
    }
    j.pool = state->pool;
    if (j.pool) j.exec.pool = j.pool->pool;
  }
#endif

  if (!plan && !PrepareOutputs(j, argv[5], inputs, async)) return false;
  return true;
}

// After the ABI call: caller-owned outputs staged through the call's memory get their values (sync calls only:
// those arrays cannot have changed, only been written by other threads if shared).
void CopyBackSync(Job& j) {
  for (int i = 0; i < j.op->outs; ++i) {
    Out& o = j.out[i];
    if (o.present && o.owned && o.caller.present) std::memcpy(o.caller.data, o.ptr, o.bytes);
  }
}

// The result object: every output in table order, `loss` after `losses`. nullptr when the environment cannot.
napi_value Result(Job& j, napi_value* values) {
  napi_env env = j.ctx.env;
  napi_value result = nullptr;
  if (napi_create_object(env, &result) != napi_ok) return nullptr;
  for (int i = 0; i < j.op->outs; ++i) {
    if (!j.out[i].present) continue;
    if (!Set(j.ctx, result, j.op->out[i].key, values[i])) return nullptr;
    if (i == 0 && j.op->loss) {
      napi_value loss = nullptr;
      if (napi_create_double(env, j.loss, &loss) != napi_ok || !Set(j.ctx, result, k_loss, loss)) return nullptr;
    }
  }
  return result;
}

// A stray C++ exception (out of memory in a std::string of a message) never crosses into Node-API.
template <typename F>
napi_value Guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) { Throw(env, SEQLOSS_ERROR_ALLOC, "seqloss: out of memory"); } catch (...) {
    Throw(env, SEQLOSS_ERROR_INTERNAL, "seqloss: internal error");
  }
  return nullptr;
}

napi_value Call(napi_env env, napi_callback_info info) {
  return Guarded(env, [&]() -> napi_value {
    Job j;  // a sync call's state lives on the stack
    if (!Prepare(env, info, false, j)) return nullptr;
    j.status = j.op->run(j);
    j.message[sizeof j.message - 1] = '\0';
    if (j.status != SEQLOSS_OK) {
      Throw(env, j.status, AbiMessage(j.ctx, j.status, j.message));
      return nullptr;
    }
    CopyBackSync(j);
    napi_value values[kMaxOuts] = {};
    for (int i = 0; i < j.op->outs; ++i) {
      Out& o = j.out[i];
      if (!o.present) continue;
      values[i] = o.caller.present ? o.caller.value : o.js;
    }
    return Result(j, values);
  });
}

// ---- async: the ABI call on the libuv thread pool ----------------------------------------------------------------

void Execute(napi_env /*env*/, void* data) {
  // No Node-API here. The ABI converts its own exceptions into statuses.
  Job& j = *static_cast<Job*>(data);
  j.status = j.op->run(j);
  j.message[sizeof j.message - 1] = '\0';
}

void Reject(napi_env env, napi_deferred deferred, napi_value reason) {
  if (reason == nullptr) napi_get_undefined(env, &reason);
  napi_reject_deferred(env, deferred, reason);  // fails only when the environment is going away
}

// Turns an output of a finished async job into its JavaScript array. false (with *error set) when a caller-owned
// output was detached or resized meanwhile; false with no error when the environment cannot.
bool Settle(Job& j, int i, napi_value* value, napi_value* error) {
  napi_env env = j.ctx.env;
  Out& o = j.out[i];
  const OutSpec& spec = j.op->out[i];
  if (o.caller.present) {
    napi_value array = nullptr;
    if (napi_get_reference_value(env, o.ref, &array) != napi_ok || array == nullptr) return false;
    napi_typedarray_type type = napi_uint8_array;
    size_t length = 0;
    void* into = nullptr;
    if (napi_get_typedarray_info(env, array, &type, &length, &into, nullptr, nullptr) != napi_ok ||
        type != napi_float32_array || into == nullptr || static_cast<int64_t>(length) != o.count) {
      const std::string text = std::string(j.ctx.fn) + ": out." + spec.name + " must keep its " +
                               std::to_string(o.count) +
                               " values until the call settles, got a detached or resized array (" +
                               std::to_string(into == nullptr ? 0 : length) + ")";
      *error = MakeError(env, SEQLOSS_ERROR_RANGE, text);
      return false;
    }
    std::memcpy(into, o.ptr, o.bytes);
    *value = array;
    return true;
  }
  // Hand the call's memory to JavaScript as it is; where external buffers are not allowed, copy it.
  napi_value buffer = nullptr;
  if (napi_create_external_arraybuffer(env, o.ptr, o.bytes, FreeBuffer, nullptr, &buffer) == napi_ok) {
    o.owned = false;  // JavaScript frees it now
  } else {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored = nullptr;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    void* copy = nullptr;
    if (napi_create_arraybuffer(env, o.bytes, &copy, &buffer) != napi_ok) return false;
    if (o.bytes > 0) std::memcpy(copy, o.ptr, o.bytes);
  }
  return napi_create_typedarray(env, spec.type, static_cast<size_t>(o.count), buffer, 0, value) == napi_ok;
}

void Complete(napi_env env, napi_status status, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  Job& j = *job;
  // Whatever happens below, the references and the work are released (also when the environment is going away,
  // where every Node-API call may fail: nothing is then left to tell).
  struct Cleanup {
    Job& j;
    napi_env env;
    ~Cleanup() {
      for (Out& o : j.out) {
        if (o.ref != nullptr) napi_delete_reference(env, o.ref);
      }
      if (j.work != nullptr) napi_delete_async_work(env, j.work);
    }
  } cleanup{j, env};
  // The key array read when the call began belonged to that callback's handle scope: read it again here.
  AddonState* state = State(env);
  j.ctx.keys = KeyArray(env, state != nullptr ? &state->keys : nullptr);
  try {
    if (status != napi_ok) {
      Reject(env, j.deferred,
             MakeError(env, SEQLOSS_ERROR_INTERNAL, std::string(j.ctx.fn) + ": the call was cancelled"));
      return;
    }
    if (j.status != SEQLOSS_OK) {
      Reject(env, j.deferred, MakeError(env, j.status, AbiMessage(j.ctx, j.status, j.message)));
      return;
    }
    napi_value values[kMaxOuts] = {};
    for (int i = 0; i < j.op->outs; ++i) {
      if (!j.out[i].present) continue;
      napi_value error = nullptr;
      if (!Settle(j, i, &values[i], &error)) {
        Reject(env, j.deferred, error);
        return;
      }
    }
    napi_value result = Result(j, values);
    if (result == nullptr) {
      Reject(env, j.deferred, nullptr);
      return;
    }
    napi_resolve_deferred(env, j.deferred, result);
  } catch (...) { Reject(env, j.deferred, nullptr); }
}

// Argument errors reject the returned promise (they are not thrown).
napi_value CallAsync(napi_env env, napi_callback_info info) {
  napi_value promise = nullptr;
  napi_deferred deferred = nullptr;
  if (napi_create_promise(env, &deferred, &promise) != napi_ok) return nullptr;
  auto reject_pending = [&]() {
    napi_value error = nullptr;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &error);
    Reject(env, deferred, error);
  };
  std::unique_ptr<Job> job(new (std::nothrow) Job());
  bool ok = false;
  if (!job) {
    Throw(env, SEQLOSS_ERROR_ALLOC, "seqloss: out of memory");
  } else {
    try {
      ok = Prepare(env, info, true, *job);
    } catch (...) { Throw(env, SEQLOSS_ERROR_ALLOC, "seqloss: out of memory"); }
  }
  if (!ok) {
    if (job) {
      for (Out& o : job->out) {
        if (o.ref != nullptr) napi_delete_reference(env, o.ref);
        o.ref = nullptr;
      }
    }
    reject_pending();
    return promise;
  }
  job->deferred = deferred;
  napi_value resource = nullptr;
  if (napi_create_string_utf8(env, job->op->resource, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, nullptr, resource, Execute, Complete, job.get(), &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    for (Out& o : job->out) {
      if (o.ref != nullptr) napi_delete_reference(env, o.ref);
    }
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    Throw(env, SEQLOSS_ERROR_INTERNAL, std::string(job->ctx.fn) + ": could not queue the call");
    reject_pending();
    return promise;
  }
  job.release();  // Complete owns it now
  return promise;
}

// ---- discovery -------------------------------------------------------------------------------------------------

std::string FixedString(const char* chars, size_t capacity) { return std::string(chars, strnlen(chars, capacity)); }

bool SetString(napi_env env, napi_value obj, const char* key, const std::string& s) {
  napi_value v = nullptr;
  return napi_create_string_utf8(env, s.c_str(), s.size(), &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}
bool SetNumber(napi_env env, napi_value obj, const char* key, double d) {
  napi_value v = nullptr;
  return napi_create_double(env, d, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}
bool SetBool(napi_env env, napi_value obj, const char* key, bool b) {
  napi_value v = nullptr;
  return napi_get_boolean(env, b, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

// ---- the CUDA launch plan -----------------------------------------------------------------------------------------

// plan(op, fn, null, problem, options, request, exec): seqloss_cuda_plan_call for the call that `call` would make
// with these arguments; request = { outputs (SEQLOSS_PLAN_* mask), fp64Ratio, memory }. Returns the plan as an
// object.
napi_value Plan(napi_env env, napi_callback_info info) {
  return Guarded(env, [&]() -> napi_value {
    Job j;
    if (!Prepare(env, info, false, j, true)) return nullptr;
    size_t argc = 7;
    napi_value argv[7] = {};
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
    const Ctx& c = j.ctx;
    seqloss_cuda_plan_request r{};
    if (!ObjectArg(c, argv[5], "request") || !Int32Prop(c, argv[5], k_outputs, "request.outputs", &r.outputs) ||
        !Int32Prop(c, argv[5], k_fp64Ratio, "request.fp64Ratio", &r.fp64_ratio) ||
        !Int32Prop(c, argv[5], k_memory, "request.memory", &r.memory)) {
      return nullptr;
    }
    const int32_t ops[] = {SEQLOSS_OP_CTC, SEQLOSS_OP_DCTC, SEQLOSS_OP_CTC_ALIGN, SEQLOSS_OP_ACE};
    const int32_t index = static_cast<int32_t>(j.op - kOps);
    if (index < 0 || index > 3) {
      RangeErr(c, "the operation", "a loss or ctcAlign (0 to 3)", std::to_string(index));
      return nullptr;
    }
    r.op = ops[index];
    r.ctc = &j.ctc;
    r.dctc = &j.dctc;
    r.ace = &j.ace;
    seqloss_cuda_plan plan{};
    const seqloss_status st = seqloss_cuda_plan_call(&j.problem, &r, &plan, j.message, sizeof j.message);
    j.message[sizeof j.message - 1] = '\0';
    if (st != SEQLOSS_OK) {
      Throw(env, st, AbiMessage(j.ctx, st, j.message));
      return nullptr;
    }
    napi_value steps = nullptr, result = nullptr;
    if (napi_create_array(env, &steps) != napi_ok) return nullptr;
    for (int32_t i = 0; i < plan.steps_count; ++i) {
      const seqloss_cuda_step& s = plan.steps[i];
      napi_value o = nullptr;
      if (napi_create_object(env, &o) != napi_ok ||
          !SetString(env, o, "kernel", FixedString(s.kernel, sizeof s.kernel)) ||
          !SetNumber(env, o, "blocks", static_cast<double>(s.blocks)) || !SetNumber(env, o, "threads", s.threads) ||
          !SetNumber(env, o, "sharedBytes", s.shared_bytes) || !SetNumber(env, o, "bytes", s.bytes) ||
          !SetNumber(env, o, "fp64State", s.fp64_state) || !SetNumber(env, o, "fp64Element", s.fp64_element) ||
          !SetNumber(env, o, "fp64Other", s.fp64_other) ||
          napi_set_element(env, steps, static_cast<uint32_t>(i), o) != napi_ok) {
        return nullptr;
      }
    }
    if (napi_create_object(env, &result) != napi_ok ||
        napi_set_named_property(env, result, "steps", steps) != napi_ok ||
        !SetNumber(env, result, "hostSyncs", plan.host_syncs) || !SetNumber(env, result, "precision", plan.precision) ||
        !SetNumber(env, result, "blocksPerSequence", plan.blocks_per_sequence) ||
        !SetNumber(env, result, "checkpointInterval", plan.checkpoint_interval) ||
        !SetNumber(env, result, "copyBytes", plan.copy_bytes) || !SetNumber(env, result, "states", plan.states) ||
        !SetNumber(env, result, "elements", plan.elements) ||
        !SetNumber(env, result, "workspaceBytes", plan.workspace_bytes)) {
      return nullptr;
    }
    return result;
  });
}

napi_value Info(napi_env env, napi_callback_info /*info*/) {
  return Guarded(env, [&]() -> napi_value {
    seqloss_cuda_info cuda{};
    if (seqloss_cuda_query(&cuda) != SEQLOSS_OK) {
      Throw(env, SEQLOSS_ERROR_INTERNAL, "info: seqloss_cuda_query failed");
      return nullptr;
    }
    napi_value devices = nullptr;
    if (napi_create_array(env, &devices) != napi_ok) return nullptr;
    for (int32_t i = 0; i < cuda.device_count; ++i) {
      seqloss_cuda_device d{};
      char message[kMessageSize] = {};
      const seqloss_status s = seqloss_cuda_device_query(i, &d, message, sizeof message);
      message[sizeof message - 1] = '\0';
      if (s != SEQLOSS_OK) {
        Throw(env, s, std::string("info: ") + message);
        return nullptr;
      }
      napi_value device = nullptr;
      if (napi_create_object(env, &device) != napi_ok || !SetNumber(env, device, "index", d.index) ||
          !SetString(env, device, "name", FixedString(d.name, sizeof d.name)) ||
          !SetNumber(env, device, "major", d.major) || !SetNumber(env, device, "minor", d.minor) ||
          !SetNumber(env, device, "totalMemory", static_cast<double>(d.total_memory)) ||
          !SetNumber(env, device, "multiprocessors", d.multiprocessors) ||
          !SetBool(env, device, "usable", d.usable != 0) ||
          !SetString(env, device, "reason", FixedString(d.reason, sizeof d.reason)) ||
          napi_set_element(env, devices, static_cast<uint32_t>(i), device) != napi_ok) {
        return nullptr;
      }
    }
    napi_value c = nullptr, result = nullptr;
    const char* version = seqloss_version();
    if (napi_create_object(env, &c) != napi_ok || !SetBool(env, c, "compiled", cuda.compiled != 0) ||
        !SetBool(env, c, "emulated", cuda.emulated != 0) || !SetNumber(env, c, "usableDevices", cuda.usable_devices) ||
        !SetNumber(env, c, "runtimeVersion", cuda.runtime_version) ||
        !SetNumber(env, c, "driverVersion", cuda.driver_version) ||
        !SetString(env, c, "architectures", FixedString(cuda.architectures, sizeof cuda.architectures)) ||
        !SetString(env, c, "reason", FixedString(cuda.reason, sizeof cuda.reason)) ||
        napi_set_named_property(env, c, "devices", devices) != napi_ok || napi_create_object(env, &result) != napi_ok ||
        !SetString(env, result, "version", version != nullptr ? version : "") ||
        !SetNumber(env, result, "abi", seqloss_abi_version()) ||
        !SetNumber(env, result, "threads", seqloss_cpu_threads()) ||
        napi_set_named_property(env, result, "cuda", c) != napi_ok) {
      return nullptr;
    }
    return result;
  });
}

}  // namespace
}  // namespace seqloss_napi

// One AddonState per environment (main thread, each worker thread), deleted with it. If the environment cannot
// take the exports (a worker terminated while it loads the addon), the module returns what it has, quietly.
NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  using namespace seqloss_napi;
  auto* state = new (std::nothrow) AddonState();
  if (state != nullptr) {
    MakeKeys(env, &state->keys);  // without it, the names are looked up per call
    if (napi_set_instance_data(env, state, DeleteState, nullptr) != napi_ok) delete state;
  }
  // Writable, enumerable, configurable: visible to Object.keys, replaceable by tests that stub them.
  const auto attributes = static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);
  const napi_property_descriptor methods[] = {
      {"call", nullptr, Call, nullptr, nullptr, nullptr, attributes, nullptr},
      {"callAsync", nullptr, CallAsync, nullptr, nullptr, nullptr, attributes, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, attributes, nullptr},
      {"plan", nullptr, Plan, nullptr, nullptr, nullptr, attributes, nullptr},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}
