// JavaScript values -> C ABI structs, statuses -> JavaScript errors. See convert.h.
#include "convert.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace seqloss_napi {

namespace {

// Stands in for the data pointer of a present but empty typed array (which N-API may report as NULL).
// Read-only and never written through: empty arrays are only ever inputs.
alignas(64) const unsigned char kEmpty[64] = {};

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

template <typename T>
HostArray<T> FromTypedArray(const Napi::Value& value) {
  Napi::TypedArrayOf<T> array = value.As<Napi::TypedArrayOf<T>>();
  HostArray<T> out;
  out.size = static_cast<int64_t>(array.ElementLength());
  out.data = array.Data();  // already advanced by the view's byteOffset
  if (out.data == nullptr || out.size == 0) {
    out.data = reinterpret_cast<const T*>(kEmpty);
    out.size = 0;
  }
  out.keep = value;
  out.present = true;
  return out;
}

bool IsTypedArrayOf(const Napi::Value& value, napi_typedarray_type type) {
  return value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == type;
}

template <typename T>
HostArray<T> TypedArrayOrNullProp(const Napi::Object& obj, const char* key, napi_typedarray_type type,
                                  const char* type_name, const std::string& fn, const std::string& what) {
  Napi::Value value = obj.Get(key);
  if (value.IsNull() || value.IsUndefined()) return HostArray<T>{};
  if (!IsTypedArrayOf(value, type)) {
    throw TypeErr(obj.Env(), fn, what, std::string(type_name[0] == 'I' ? "an " : "a ") + type_name + " or null", value);
  }
  return FromTypedArray<T>(value);
}

}  // namespace

Napi::Error StatusError(Napi::Env env, seqloss_status status, const std::string& message) {
  const char* name = seqloss_status_name(status);
  const std::string code = name != nullptr ? name : "SEQLOSS_ERROR_INTERNAL";
  const std::string text = message.empty() ? code : message;
  Napi::Error error = status == SEQLOSS_ERROR_TYPE    ? Napi::TypeError::New(env, text)
                      : status == SEQLOSS_ERROR_RANGE ? Napi::RangeError::New(env, text)
                                                      : Napi::Error::New(env, text);
  error.Value().Set("code", Napi::String::New(env, code));
  return error;
}

std::string Describe(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return std::string("boolean ") + (value.As<Napi::Boolean>().Value() ? "true" : "false");
    case napi_number: return NumberText(value.As<Napi::Number>().DoubleValue());
    case napi_string: {
      std::string s = value.As<Napi::String>().Utf8Value();
      if (s.size() > 40) s = s.substr(0, 40) + "...";
      return "\"" + s + "\"";
    }
    case napi_symbol: return "a symbol";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    case napi_object:
      if (value.IsTypedArray()) {
        Napi::TypedArray a = value.As<Napi::TypedArray>();
        return std::string(TypedArrayName(a.TypedArrayType())) + "(" + std::to_string(a.ElementLength()) + ")";
      }
      if (value.IsArray()) return "Array(" + std::to_string(value.As<Napi::Array>().Length()) + ")";
      if (value.IsArrayBuffer()) return "an ArrayBuffer";
      if (value.IsDataView()) return "a DataView";
      return "an object";
    default: return "a value";
  }
}

Napi::Error TypeErr(Napi::Env env, const std::string& fn, const std::string& what, const std::string& expected,
                    const Napi::Value& got) {
  return StatusError(env, SEQLOSS_ERROR_TYPE, fn + ": " + what + " must be " + expected + ", got " + Describe(got));
}

Napi::Error RangeErr(Napi::Env env, const std::string& fn, const std::string& what, const std::string& expected,
                     const std::string& got) {
  return StatusError(env, SEQLOSS_ERROR_RANGE, fn + ": " + what + " must be " + expected + ", got " + got);
}

Napi::Object ObjectArg(const Napi::CallbackInfo& args, size_t index, const std::string& fn, const std::string& what) {
  Napi::Value value = args[index];
  if (value.Type() != napi_object) throw TypeErr(args.Env(), fn, what, "an object", value);
  return value.As<Napi::Object>();
}

int32_t Int32Prop(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what) {
  Napi::Value value = obj.Get(key);
  if (!value.IsNumber()) throw TypeErr(obj.Env(), fn, what, "an integer", value);
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(std::numeric_limits<int32_t>::min()) ||
      d > static_cast<double>(std::numeric_limits<int32_t>::max())) {
    throw RangeErr(obj.Env(), fn, what, "an integer in int32 range", NumberText(d));
  }
  return static_cast<int32_t>(d);
}

bool BoolProp(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what) {
  Napi::Value value = obj.Get(key);
  if (!value.IsBoolean()) throw TypeErr(obj.Env(), fn, what, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

bool BoolArg(const Napi::CallbackInfo& args, size_t index, const std::string& fn, const std::string& what) {
  Napi::Value value = args[index];
  if (!value.IsBoolean()) throw TypeErr(args.Env(), fn, what, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

double NumberProp(const Napi::Object& obj, const char* key, const std::string& fn, const std::string& what) {
  Napi::Value value = obj.Get(key);
  if (!value.IsNumber()) throw TypeErr(obj.Env(), fn, what, "a number", value);
  return value.As<Napi::Number>().DoubleValue();
}

double OptionalNumberProp(const Napi::Object& obj, const char* key, double fallback, const std::string& fn,
                          const std::string& what) {
  if (obj.Get(key).IsUndefined()) return fallback;
  return NumberProp(obj, key, fn, what);
}

int32_t OptionalInt32Prop(const Napi::Object& obj, const char* key, int32_t fallback, const std::string& fn,
                          const std::string& what) {
  if (obj.Get(key).IsUndefined()) return fallback;
  return Int32Prop(obj, key, fn, what);
}

HostArray<float> Float32Arg(const Napi::CallbackInfo& args, size_t index, const std::string& fn,
                            const std::string& what) {
  Napi::Value value = args[index];
  if (!IsTypedArrayOf(value, napi_float32_array)) throw TypeErr(args.Env(), fn, what, "a Float32Array", value);
  return FromTypedArray<float>(value);
}

HostArray<int32_t> Int32ArrayOrNullProp(const Napi::Object& obj, const char* key, const std::string& fn,
                                        const std::string& what) {
  return TypedArrayOrNullProp<int32_t>(obj, key, napi_int32_array, "Int32Array", fn, what);
}

HostArray<float> Float32ArrayOrNullProp(const Napi::Object& obj, const char* key, const std::string& fn,
                                        const std::string& what) {
  return TypedArrayOrNullProp<float>(obj, key, napi_float32_array, "Float32Array", fn, what);
}

Problem ReadProblem(const Napi::CallbackInfo& args, const std::string& fn, bool uses_target_lengths) {
  Napi::Env env = args.Env();
  HostArray<float> data = Float32Arg(args, 0, fn, "data");
  Napi::Object o = ObjectArg(args, 1, fn, "problem");

  Problem out;
  seqloss_problem& p = out.problem;
  p.batch = Int32Prop(o, "batch", fn, "problem.batch");
  p.time = Int32Prop(o, "time", fn, "problem.time");
  p.classes = Int32Prop(o, "classes", fn, "problem.classes");
  p.layout = Int32Prop(o, "layout", fn, "problem.layout");
  p.input = Int32Prop(o, "input", fn, "problem.input");
  p.blank = Int32Prop(o, "blank", fn, "problem.blank");
  HostArray<int32_t> input_lengths = Int32ArrayOrNullProp(o, "inputLengths", fn, "problem.inputLengths");
  HostArray<int32_t> targets = Int32ArrayOrNullProp(o, "targets", fn, "problem.targets");
  HostArray<int32_t> target_lengths = Int32ArrayOrNullProp(o, "targetLengths", fn, "problem.targetLengths");
  HostArray<float> counts = Float32ArrayOrNullProp(o, "counts", fn, "problem.counts");

  p.data = data.data;
  p.data_size = data.size;
  out.keep.push_back(data.keep);

  // The ABI re-checks every array against its *_size; the lengths are also checked here so that the message
  // names the JavaScript argument. When the shape itself is invalid (a dimension < 1, an
  // overflowing N*T*C, or data of another length) the call will fail anyway: the arrays are then withheld (NULL)
  // so that the ABI can report the shape, whatever order it checks things in, without reading past them.
  const bool shape_ok = DenseCount(p) >= 0;
  if (shape_ok && input_lengths.present && input_lengths.size != p.batch) {
    throw RangeErr(env, fn, "problem.inputLengths.length", "batch = " + std::to_string(p.batch),
                   std::to_string(input_lengths.size));
  }
  if (shape_ok && uses_target_lengths && target_lengths.present && target_lengths.size != p.batch) {
    throw RangeErr(env, fn, "problem.targetLengths.length", "batch = " + std::to_string(p.batch),
                   std::to_string(target_lengths.size));
  }
  if (!shape_ok) {
    input_lengths = HostArray<int32_t>{};
    target_lengths = HostArray<int32_t>{};
  }
  if (input_lengths.present) {
    p.input_lengths = input_lengths.data;
    p.input_lengths_size = input_lengths.size;
    out.keep.push_back(input_lengths.keep);
  }
  if (targets.present) {
    p.targets = targets.data;
    p.targets_size = targets.size;
    out.keep.push_back(targets.keep);
  }
  if (uses_target_lengths && target_lengths.present) {
    p.target_lengths = target_lengths.data;
    p.target_lengths_size = target_lengths.size;
    out.keep.push_back(target_lengths.keep);
  }
  if (counts.present) {
    p.counts = counts.data;
    p.counts_size = counts.size;
    out.keep.push_back(counts.keep);
  }
  return out;
}

seqloss_exec ReadExec(const Napi::CallbackInfo& args, size_t index, const std::string& fn) {
  Napi::Object o = ObjectArg(args, index, fn, "exec");
  seqloss_exec exec{};
  exec.backend = Int32Prop(o, "backend", fn, "exec.backend");
  exec.device = Int32Prop(o, "device", fn, "exec.device");
  exec.threads = Int32Prop(o, "threads", fn, "exec.threads");
  exec.memory = SEQLOSS_MEMORY_HOST;
  exec.stream = nullptr;
  return exec;
}

int64_t DenseCount(const seqloss_problem& p) {
  if (p.batch < 1 || p.time < 1 || p.classes < 1) return -1;
  // Each factor < 2^31: N*T < 2^62 fits, and (N*T)*C is checked before it is formed.
  const int64_t nt = static_cast<int64_t>(p.batch) * p.time;
  if (nt > std::numeric_limits<int64_t>::max() / p.classes) return -1;
  const int64_t ntc = nt * p.classes;
  return ntc == p.data_size ? ntc : -1;
}

}  // namespace seqloss_napi
