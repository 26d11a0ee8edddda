// JavaScript values -> C values, statuses -> JavaScript errors, in plain Node-API. See convert.h.
#include "convert.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace seqloss_napi {

namespace {

const char* TypedArrayName(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "TypedArray";
  }
}

std::string NumberText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  if (d == std::trunc(d) && std::fabs(d) < 1e21) {
    std::snprintf(buf, sizeof buf, "%.0f", d);
  } else {
    std::snprintf(buf, sizeof buf, "%.17g", d);
  }
  return buf;
}

}  // namespace

napi_value MakeError(napi_env env, seqloss_status status, const std::string& text) {
  const char* name = seqloss_status_name(status);
  napi_value code = nullptr, msg = nullptr, error = nullptr;
  if (napi_create_string_utf8(env, name != nullptr ? name : "SEQLOSS_ERROR_INTERNAL", NAPI_AUTO_LENGTH, &code) !=
          napi_ok ||
      napi_create_string_utf8(env, text.c_str(), text.size(), &msg) != napi_ok) {
    return nullptr;
  }
  napi_status s = status == SEQLOSS_ERROR_TYPE    ? napi_create_type_error(env, code, msg, &error)
                  : status == SEQLOSS_ERROR_RANGE ? napi_create_range_error(env, code, msg, &error)
                                                  : napi_create_error(env, code, msg, &error);
  return s == napi_ok ? error : nullptr;
}

bool Throw(napi_env env, seqloss_status status, const std::string& text) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return false;
  napi_value error = MakeError(env, status, text);
  if (error != nullptr) napi_throw(env, error);  // fails only when the environment is going away
  return false;
}

std::string AbiMessage(const Ctx& ctx, seqloss_status status, const char* message) {
  std::string text(message != nullptr ? message : "");
  if (text.empty()) {
    const char* name = seqloss_status_name(status);
    text = name != nullptr ? name : "SEQLOSS_ERROR_INTERNAL";
  }
  return std::string(ctx.fn) + ": " + text;
}

bool TypeErr(const Ctx& ctx, const std::string& what, const std::string& expected, napi_value got) {
  return Throw(ctx.env, SEQLOSS_ERROR_TYPE,
               std::string(ctx.fn) + ": " + what + " must be " + expected + ", got " + Describe(ctx.env, got));
}

bool RangeErr(const Ctx& ctx, const std::string& what, const std::string& expected, const std::string& got) {
  return Throw(ctx.env, SEQLOSS_ERROR_RANGE,
               std::string(ctx.fn) + ": " + what + " must be " + expected + ", got " + got);
}

std::string Describe(napi_env env, napi_value value) {
  napi_valuetype type = napi_undefined;
  if (value == nullptr || napi_typeof(env, value, &type) != napi_ok) return "a value";
  switch (type) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: {
      bool b = false;
      napi_get_value_bool(env, value, &b);
      return std::string("boolean ") + (b ? "true" : "false");
    }
    case napi_number: {
      double d = 0;
      napi_get_value_double(env, value, &d);
      return NumberText(d);
    }
    case napi_string: {
      char buf[48] = {};
      size_t n = 0;
      napi_get_value_string_utf8(env, value, buf, sizeof buf, &n);
      std::string s(buf, n);
      if (n >= 40) s = s.substr(0, 40) + "...";
      return "\"" + s + "\"";
    }
    case napi_symbol: return "a symbol";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    case napi_object: {
      bool is = false;
      if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
        napi_typedarray_type t = napi_uint8_array;
        size_t length = 0;
        if (napi_get_typedarray_info(env, value, &t, &length, nullptr, nullptr, nullptr) == napi_ok) {
          return std::string(TypedArrayName(t)) + "(" + std::to_string(length) + ")";
        }
      }
      if (napi_is_array(env, value, &is) == napi_ok && is) {
        uint32_t length = 0;
        napi_get_array_length(env, value, &length);
        return "Array(" + std::to_string(length) + ")";
      }
      if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) return "an ArrayBuffer";
      if (napi_is_dataview(env, value, &is) == napi_ok && is) return "a DataView";
      return "an object";
    }
    default: return "a value";
  }
}

const char* KeyName(Key key) {
  static const char* const kNames[kKeyCount] = {
#define SEQLOSS_NAPI_KEY_NAME(name) #name,
      SEQLOSS_NAPI_KEYS(SEQLOSS_NAPI_KEY_NAME)
#undef SEQLOSS_NAPI_KEY_NAME
  };
  return key < kKeyCount ? kNames[key] : "";
}

void MakeKeys(napi_env env, Keys* keys) {
  napi_value array = nullptr;
  if (napi_create_array_with_length(env, kKeyCount, &array) != napi_ok) return;
  for (uint32_t i = 0; i < kKeyCount; ++i) {
    napi_value s = nullptr;
    if (napi_create_string_latin1(env, KeyName(static_cast<Key>(i)), NAPI_AUTO_LENGTH, &s) != napi_ok ||
        napi_set_element(env, array, i, s) != napi_ok) {
      return;
    }
  }
  napi_create_reference(env, array, 1, &keys->holder);
}

napi_value KeyArray(napi_env env, const Keys* keys) {
  napi_value array = nullptr;
  if (keys == nullptr || keys->holder == nullptr || napi_get_reference_value(env, keys->holder, &array) != napi_ok) {
    return nullptr;
  }
  return array;
}

namespace {
napi_value KeyValue(const Ctx& ctx, Key key) {
  napi_value v = nullptr;
  if (ctx.keys != nullptr && napi_get_element(ctx.env, ctx.keys, key, &v) == napi_ok && v != nullptr) return v;
  if (napi_create_string_latin1(ctx.env, KeyName(key), NAPI_AUTO_LENGTH, &v) != napi_ok) return nullptr;
  return v;
}
}  // namespace

bool Get(const Ctx& ctx, napi_value obj, Key key, napi_value* out) {
  napi_value k = KeyValue(ctx, key);
  // A failure: the read threw (the exception is pending and propagates) or the environment is going away.
  return k != nullptr && napi_get_property(ctx.env, obj, k, out) == napi_ok;
}

bool Set(const Ctx& ctx, napi_value obj, Key key, napi_value value) {
  napi_value k = KeyValue(ctx, key);
  return k != nullptr && napi_set_property(ctx.env, obj, k, value) == napi_ok;
}

bool ObjectArg(const Ctx& ctx, napi_value value, const char* what) {
  napi_valuetype type = napi_undefined;
  if (napi_typeof(ctx.env, value, &type) != napi_ok) return false;
  if (type != napi_object) return TypeErr(ctx, what, "an object", value);
  return true;
}

bool Int32Prop(const Ctx& ctx, napi_value obj, Key key, const char* what, int32_t* out) {
  napi_value value = nullptr;
  if (!Get(ctx, obj, key, &value)) return false;
  double d = 0;
  if (napi_get_value_double(ctx.env, value, &d) != napi_ok) return TypeErr(ctx, what, "an integer", value);
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(std::numeric_limits<int32_t>::min()) ||
      d > static_cast<double>(std::numeric_limits<int32_t>::max())) {
    return RangeErr(ctx, what, "an integer in int32 range", NumberText(d));
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool OptionalInt32Prop(const Ctx& ctx, napi_value obj, Key key, const char* what, int32_t* out) {
  napi_value value = nullptr;
  if (!Get(ctx, obj, key, &value)) return false;
  napi_valuetype type = napi_undefined;
  if (napi_typeof(ctx.env, value, &type) != napi_ok) return false;
  if (type == napi_undefined) return true;
  return Int32Prop(ctx, obj, key, what, out);
}

bool NumberProp(const Ctx& ctx, napi_value obj, Key key, const char* what, double* out) {
  napi_value value = nullptr;
  if (!Get(ctx, obj, key, &value)) return false;
  if (napi_get_value_double(ctx.env, value, out) != napi_ok) return TypeErr(ctx, what, "a number", value);
  return true;
}

bool ViewOf(const Ctx& ctx, napi_value value, napi_typedarray_type type, const char* type_name, const char* what,
            bool nullable, View* out) {
  *out = View{};
  napi_valuetype vt = napi_undefined;
  if (napi_typeof(ctx.env, value, &vt) != napi_ok) return false;
  if (nullable && (vt == napi_null || vt == napi_undefined)) return true;
  // The message is only built for an error (a small call should not allocate for it).
  auto expected = [&]() {
    return std::string(type_name[0] == 'I' ? "an " : "a ") + type_name + (nullable ? " or null" : "");
  };
  bool is = false;
  if (napi_is_typedarray(ctx.env, value, &is) != napi_ok || !is) return TypeErr(ctx, what, expected(), value);
  napi_typedarray_type t = napi_uint8_array;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  size_t offset = 0;
  if (napi_get_typedarray_info(ctx.env, value, &t, &length, &data, &buffer, &offset) != napi_ok) return false;
  if (t != type) return TypeErr(ctx, what, expected(), value);
  bool plain = false;
  if (napi_is_arraybuffer(ctx.env, buffer, &plain) != napi_ok) return false;
  out->data = length > 0 ? data : nullptr;
  out->length = data != nullptr ? length : 0;  // a detached buffer has no data
  const size_t element = type == napi_float64_array ? 8 : 4;
  out->byte_length = out->length * element;
  out->value = value;
  out->present = true;
  out->shared = !plain;  // a SharedArrayBuffer (napi_is_arraybuffer is false for it)
  return true;
}

bool Overlap(const View& a, const View& b) {
  if (!a.present || !b.present || a.data == nullptr || b.data == nullptr) return false;
  const auto* pa = static_cast<const unsigned char*>(a.data);
  const auto* pb = static_cast<const unsigned char*>(b.data);
  return pa < pb + b.byte_length && pb < pa + a.byte_length;
}

}  // namespace seqloss_napi
