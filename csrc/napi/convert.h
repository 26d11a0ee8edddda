// The N-API layer's conversions: JavaScript values -> the C ABI's structs, and C ABI statuses -> JavaScript errors.
// Nothing here computes anything; the C ABI re-checks every size and value it receives.
#ifndef SEQLOSS_NAPI_CONVERT_H
#define SEQLOSS_NAPI_CONVERT_H

// Backstop: any C++ exception escaping a callback becomes a JavaScript Error instead of std::terminate. (Every
// entry also converts exceptions itself, with a status code; this only guards what those miss.)
#ifndef NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#define NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#endif
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "seqloss.h"

namespace seqloss_napi {

// Room for the ABI's messages.
constexpr size_t kMessageSize = 1024;

// A JavaScript error for a status: SEQLOSS_ERROR_TYPE -> TypeError, SEQLOSS_ERROR_RANGE -> RangeError, anything
// else -> Error; err.code = seqloss_status_name(status). An empty message falls back to the status name.
Napi::Error StatusError(Napi::Env env, seqloss_status status, const std::string& message);

// Shorthands for the layer's own argument errors (code SEQLOSS_ERROR_TYPE / SEQLOSS_ERROR_RANGE).
Napi::Error TypeErr(Napi::Env env, const std::string& fn, const std::string& what, const std::string& expected,
                    const Napi::Value& got);
Napi::Error RangeErr(Napi::Env env, const std::string& fn, const std::string& what, const std::string& expected,
                     const std::string& got);

// A short description of a received value, for messages ("undefined", "Float64Array(12)", "1.5", ...).
std::string Describe(const Napi::Value& value);

// The object argument `args[index]` named `what`; TypeError unless it is a non-null object.
Napi::Object ObjectArg(const Napi::CallbackInfo& args, size_t index, const std::string& fn, const std::string& what);

// A property that must be a number with an integral value in int32 range: TypeError for a non-number (missing
// included), RangeError for NaN, infinities, fractions and values outside int32.
int32_t Int32Prop(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what);
// A property that must be a boolean (TypeError otherwise).
bool BoolProp(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what);
bool BoolArg(const Napi::CallbackInfo& args, size_t index, const std::string& fn, const std::string& what);
// A property that must be a number (TypeError otherwise; its value is for the ABI to check).
double NumberProp(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what);
// As NumberProp / Int32Prop, but an absent (undefined) property gives `fallback`.
double OptionalNumberProp(const Napi::Object& obj, const char* key, double fallback, const std::string& fn,
                          const std::string& what);
int32_t OptionalInt32Prop(const Napi::Object& obj, const char* key, int32_t fallback, const std::string& fn,
                          const std::string& what);

// A host array handed to the ABI as (pointer, element count). `keep` is the typed array itself, held by async
// calls until they settle. A present but empty array gets a non-NULL pointer so that the ABI does not mistake it
// for an absent one.
template <typename T>
struct HostArray {
  const T* data = nullptr;
  int64_t size = 0;
  Napi::Value keep;
  bool present = false;
};

// `args[index]` must be a Float32Array (TypeError otherwise).
HostArray<float> Float32Arg(const Napi::CallbackInfo& args, size_t index, const std::string& fn,
                            const std::string& what);
// A property that must be an Int32Array, or null (undefined counts as null).
HostArray<int32_t> Int32ArrayOrNullProp(const Napi::Object& obj, const char* key, const std::string& fn,
                                        const std::string& what);
// A property that must be a Float32Array, or null (undefined counts as null).
HostArray<float> Float32ArrayOrNullProp(const Napi::Object& obj, const char* key, const std::string& fn,
                                        const std::string& what);

// The problem object + the dense input, converted. `keep` lists every JavaScript value the raw pointers of
// `problem` point into.
struct Problem {
  seqloss_problem problem{};
  std::vector<Napi::Value> keep;
};

// Reads args[0] (data: Float32Array) and args[1] (the problem object). The arrays that seqloss_problem carries
// without an element count (inputLengths, targetLengths: N values each) are checked against `batch` here, since
// the ABI cannot; all other sizes are passed on for the ABI to check. Operations that do not use target_lengths
// (everything but CTC) get it type-checked but not passed on (so its length does not matter).
Problem ReadProblem(const Napi::CallbackInfo& args, const std::string& fn, bool uses_target_lengths);

// Reads args[index] (the exec object); memory is always host and stream NULL from JavaScript.
seqloss_exec ReadExec(const Napi::CallbackInfo& args, size_t index, const std::string& fn);

// Element count N*T*C of the problem's dense input, or -1 when a dimension is < 1, the product overflows, or it
// differs from data_size (the ABI reports such problems; this only guards the allocation of outputs).
int64_t DenseCount(const seqloss_problem& p);

}  // namespace seqloss_napi

#endif  // SEQLOSS_NAPI_CONVERT_H
