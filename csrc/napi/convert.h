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

// One public function's context: its environment and its name, which starts every message ("ctcLoss: ...").
struct Ctx {
  napi_env env;
  char fn[64];
};

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
bool Get(const Ctx& ctx, napi_value obj, const char* key, napi_value* out);
// An object argument (TypeError otherwise).
bool ObjectArg(const Ctx& ctx, napi_value value, const char* what);
// obj[key] must be a number with an integral value in int32 range (TypeError for a non-number, RangeError else).
bool Int32Prop(const Ctx& ctx, napi_value obj, const char* key, const char* what, int32_t* out);
// obj[key] must be a number (its value is for the ABI to check).
bool NumberProp(const Ctx& ctx, napi_value obj, const char* key, const char* what, double* out);

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
