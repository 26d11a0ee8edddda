// checks.h — the argument checks every entry of seqloss.h runs before a backend touches memory.
//
// The checks read only host memory that the contract says is host memory (lengths, targets, counts, the option
// and exec structs); they never dereference `data` or an output pointer, so they are also valid for the CUDA
// backend with device pointers. Every index they read is within a size the caller declared. Messages name the
// argument in the public JavaScript spelling (inputLengths, targetLengths, ...) and say what was expected and
// what came.
#ifndef SEQLOSS_CHECKS_H
#define SEQLOSS_CHECKS_H

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "seqloss.h"

namespace seqloss {

// Overflow-checked size arithmetic: true when the result does not fit (then *r is unspecified).
template <class T>
inline bool mul_overflow(T a, T b, T* r) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_mul_overflow(a, b, r);
#else
  static_assert(std::is_integral<T>::value, "integers only");
  if (a != 0 && b != 0) {
    if (std::is_signed<T>::value) {
      if ((a > 0 && b > 0 && a > std::numeric_limits<T>::max() / b) ||
          (a < 0 && b < 0 && a < std::numeric_limits<T>::max() / b) ||
          (a > 0 && b < 0 && b < std::numeric_limits<T>::min() / a) ||
          (a < 0 && b > 0 && a < std::numeric_limits<T>::min() / b)) {
        return true;
      }
    } else if (a > std::numeric_limits<T>::max() / b) {
      return true;
    }
  }
  *r = a * b;
  return false;
#endif
}
template <class T>
inline bool add_overflow(T a, T b, T* r) {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_add_overflow(a, b, r);
#else
  static_assert(std::is_unsigned<T>::value, "unsigned only in the fallback");
  *r = a + b;
  return *r < a;
#endif
}

// DCTC's valid softmax scale s and margin m (seqloss_dctc_options): inside them s·m and s·(a − max a) are finite
// for every float32 logit a, in double and (s·m) in float.
constexpr double kDctcMaxScale = 1e6;
constexpr double kDctcMaxMargin = 1e30;

// The caller's message buffer. Writes are always bounded and NUL-terminated (snprintf).
struct Message {
  char* buf;
  size_t size;
};

// Writes a formatted message (when buf is not NULL) and returns `status`.
seqloss_status fail(Message msg, seqloss_status status, const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
// Writes an empty message (success).
void clear(Message msg);

// Formats a number the way JavaScript's String(x) would for common values (NaN, Infinity, shortest round-trip).
// Returns buf.
const char* format_double(double v, char* buf, size_t size);
const char* format_float(float v, char* buf, size_t size);

// The element count N*T*C and the N*C product, checked for int64 overflow (byte counts included).
struct Extents {
  int64_t ntc;
  int64_t nt;
  int64_t nc;
  int64_t n;  // batch
};

// Which fields a shape check looks at.
enum InputMask : unsigned {
  kAllowLogits = 1u << SEQLOSS_INPUT_LOGITS,
  kAllowLogProbs = 1u << SEQLOSS_INPUT_LOG_PROBS,
  kAllowProbs = 1u << SEQLOSS_INPUT_PROBS,
};

struct ShapeRules {
  unsigned inputs;           // allowed input kinds (bit mask); 0 = `input` is ignored
  bool uses_blank;           // blank must be in [0, C)
  int32_t min_input_length;  // 0 (CTC, CTC decoder) or 1 (ACE)
  bool need_data;            // data must not be NULL (false for the *_workspace_size entries)
  const char* op;            // e.g. "ctcLoss", used in messages about the input kind
};

// exec: not NULL, backend / memory known, threads >= 0, device >= 0.
seqloss_status check_exec(const seqloss_exec* exec, Message msg);

// problem: not NULL, sizes >= 1, layout, input kind, blank, N*T*C without overflow, data and data_size,
// input_lengths. Fills `ext`.
seqloss_status check_shape(const seqloss_problem* p, const ShapeRules& rules, Extents* ext, Message msg);

// CTC supervision: target_lengths (not NULL, >= 0), their sum <= targets_size, every label in [0, C) and != blank.
seqloss_status check_ctc_targets(const seqloss_problem* p, Message msg);

// ACE supervision: counts (not NULL, counts_size == N*C, finite >= 0 off the blank column, sum <= T_n), or without
// counts the labels (check_ctc_targets, and L_n <= T_n).
seqloss_status check_ace_counts(const seqloss_problem* p, Message msg);

seqloss_status check_ctc_options(const seqloss_ctc_options* o, Message msg);
seqloss_status check_dctc_options(const seqloss_dctc_options* o, Message msg);
seqloss_status check_ace_options(const seqloss_ace_options* o, Message msg);

seqloss_status check_ctc_outputs(const seqloss_ctc_outputs* out, const Extents& ext, Message msg);
seqloss_status check_ace_outputs(const seqloss_ace_outputs* out, const Extents& ext, Message msg);
seqloss_status check_dctc_outputs(const seqloss_dctc_outputs* out, const Extents& ext, Message msg);
seqloss_status check_align_outputs(const seqloss_align_outputs* out, const Extents& ext, Message msg);

// Whole-entry checks (everything the entry reads). `outputs` checks are skipped when the pointer argument is the
// workspace-size form (with_outputs = false).
seqloss_status check_ctc_call(const seqloss_problem* p, const seqloss_ctc_options* o, const seqloss_exec* exec,
                              const seqloss_ctc_outputs* out, bool with_outputs, Extents* ext, Message msg);
seqloss_status check_dctc_call(const seqloss_problem* p, const seqloss_dctc_options* o, const seqloss_exec* exec,
                               const seqloss_dctc_outputs* out, bool with_outputs, Extents* ext, Message msg);
seqloss_status check_align_call(const seqloss_problem* p, const seqloss_exec* exec, const seqloss_align_outputs* out,
                                bool with_outputs, Extents* ext, Message msg);
seqloss_status check_ace_call(const seqloss_problem* p, const seqloss_ace_options* o, const seqloss_exec* exec,
                              const seqloss_ace_outputs* out, bool with_outputs, Extents* ext, Message msg);
// Decoders. `ace` selects the ACE rules (input lengths in [1, T]).
seqloss_status check_decode_call(const seqloss_problem* p, const seqloss_exec* exec, bool ace, const int32_t* labels,
                                 int64_t labels_size, const int32_t* lengths, int64_t lengths_size, Extents* ext,
                                 Message msg);
seqloss_status check_count_call(const seqloss_problem* p, const seqloss_exec* exec, const float* expected,
                                int64_t expected_size, const int32_t* rounded, int64_t rounded_size, Extents* ext,
                                Message msg);

// The public name of the dense input for an input kind: "logits", "logProbs" or "probs".
const char* data_name(int32_t input);

}  // namespace seqloss

#endif  // SEQLOSS_CHECKS_H
