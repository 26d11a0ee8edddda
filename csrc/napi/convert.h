// The N-API layer's conversions: JavaScript values -> C values, and C ABI statuses -> JavaScript errors, in plain
// Node-API (node_api.h) with no C++ exceptions across it: every function that can fail returns false after
// throwing the JavaScript error (or after finding the environment unable to take one: a terminating worker), and
// nothing here aborts the process. Nothing here computes anything; the C ABI re-checks every size and value.
#ifndef SEQLOSS_NAPI_CONVERT_H
#define SEQLOSS_NAPI_CONVERT_H

#include <node_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "seqloss.h"

namespace seqloss_napi {

// Room for the ABI's messages.
constexpr size_t kMessageSize = 1024;

// The property names the layer reads and writes, interned once per environment (a name given as a C string is
// looked up in V8's string table on every access, which is a fair share of a small call's cost).
// (clang-format finds no stable layout for this list)
// clang-format off
#define SEQLOSS_NAPI_KEYS(X)                                                                             \
  X(batch) X(time) X(classes) X(layout) X(input) X(blank) X(inputLengths) X(targets) X(targetLengths)    \
  X(counts) X(reduction) X(zeroInfinity) X(fitAlpha) X(fitGamma) X(fitAlphaScope) X(gradConvention)      \
  X(alignment) X(lambda) X(ctcWeight) X(scale) X(margin) X(variant) X(eps) X(collapseRepeats) X(grad)    \
  X(posterior) X(backend) X(device) X(threads) X(losses) X(loss) X(ctcLosses) X(distillLosses) X(paths)  \
  X(scores) X(labels) X(lengths) X(expected) X(rounded) X(outputs) X(fp64Ratio) X(memory)
// clang-format on

enum Key : uint8_t {
#define SEQLOSS_NAPI_KEY_ENUM(name) k_##name,
  SEQLOSS_NAPI_KEYS(SEQLOSS_NAPI_KEY_ENUM)
#undef SEQLOSS_NAPI_KEY_ENUM
      kKeyCount
};

// The JavaScript name of a key.
const char* KeyName(Key key);

// The interned keys of one environment: an array of the key strings, held by a reference (Node-API 8 cannot
// reference a string itself), made once by MakeKeys.
struct Keys {
  napi_ref holder = nullptr;
};
void MakeKeys(napi_env env, Keys* keys);

// One public function's context: its environment, the environment's key array for this call (nullptr: names are
// then looked up each time) and the function's name, which starts every message ("ctcLoss: ...").
struct Ctx {
  napi_env env;
  napi_value keys;
  char fn[64];
};
// The key array of `keys` for one call (nullptr when there is none).
napi_value KeyArray(napi_env env, const Keys* keys);

// A JavaScript error for a status: SEQLOSS_ERROR_TYPE -> TypeError, SEQLOSS_ERROR_RANGE -> RangeError, anything
// else -> Error; err.code = seqloss_status_name(status). nullptr when the environment cannot make one.
napi_value MakeError(napi_env env, seqloss_status status, const std::string& text);
// Throws MakeError(...) (quietly does nothing when the environment cannot take it); returns false.
bool Throw(napi_env env, seqloss_status status, const std::string& text);
// The ABI's message for a failed call, prefixed with the function ("ctcLoss: targets[1] must be ...").
std::string AbiMessage(const Ctx& ctx, seqloss_status status, const char* message);
// `fn: what must be expected, got <description of got>` as a TypeError / RangeError; return false.
bool TypeErr(const Ctx& ctx, const std::string& what, const std::string& expected, napi_value got);
bool RangeErr(const Ctx& ctx, const std::string& what, const std::string& expected, const std::string& got);

// A short description of a received value, for messages ("undefined", "Float64Array(12)", "1.5", ...).
std::string Describe(napi_env env, napi_value value);

// Reads obj[key] (false when the read itself threw: a getter, a revoked Proxy).
bool Get(const Ctx& ctx, napi_value obj, Key key, napi_value* out);
// Sets obj[key] = value.
bool Set(const Ctx& ctx, napi_value obj, Key key, napi_value value);
// An object argument (TypeError otherwise).
bool ObjectArg(const Ctx& ctx, napi_value value, const char* what);
// obj[key] must be a number with an integral value in int32 range (TypeError for a non-number, RangeError else).
bool Int32Prop(const Ctx& ctx, napi_value obj, Key key, const char* what, int32_t* out);
// As Int32Prop, but an undefined obj[key] leaves *out as it is (an option that older callers do not pass).
bool OptionalInt32Prop(const Ctx& ctx, napi_value obj, Key key, const char* what, int32_t* out);
// obj[key] must be a number (its value is for the ABI to check).
bool NumberProp(const Ctx& ctx, napi_value obj, Key key, const char* what, double* out);

// A typed array as the ABI sees it: its elements (already advanced by the view's byteOffset), its element count,
// whether its buffer is shared (a SharedArrayBuffer, which other threads may write while a call reads it).
struct View {
  void* data = nullptr;
  size_t length = 0;
  size_t byte_length = 0;
  napi_value value = nullptr;
  bool present = false;
  bool shared = false;
};
// `value` must be a typed array of `type` (type name `type_name` for the message); null and undefined are allowed
// (an absent View) when `nullable`.
bool ViewOf(const Ctx& ctx, napi_value value, napi_typedarray_type type, const char* type_name, const char* what,
            bool nullable, View* out);
// Two views' bytes overlap (both present).
bool Overlap(const View& a, const View& b);

}  // namespace seqloss_napi

#endif  // SEQLOSS_NAPI_CONVERT_H
