// decode.cc — greedy decoders and ACE counting on the CPU.
//
// Argmax per frame t < T_n with ties to the lowest index (row_argmax: the sequential rule best = x[0];
// if (x[k] > best) ...). CTC: merge repeats, then drop blanks. ACE: drop blanks; with collapse_repeats, merge
// adjacent equal argmaxes first (as CTC does). Counting: expected_k = sum_{t<T_n} y_k^t in double, rounded half
// away from zero.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/cpu.h"
#include "cpu/isa.h"
#include "cpu/parallel.h"
#include "cpu/rows.h"
#include "cpu/vmath.h"

namespace seqloss {
namespace cpu {
namespace detail {

template <int W>
SEQLOSS_INLINE void decode_sequence_impl(const seqloss_problem& p, int64_t n, bool merge, int32_t* labels,
                                         int32_t* lengths) {
  const int64_t T = p.time, C = p.classes;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : T;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  int32_t* outl = labels + n * T;
  int64_t len = 0;
  int32_t prev = -1;
  for (int64_t t = 0; t < Tn; ++t) {
    int32_t k = row_argmax<W>(x.row(t), C);
    bool repeat = merge && k == prev;
    prev = k;
    if (repeat || k == p.blank) continue;
    outl[len++] = k;
  }
  for (int64_t j = len; j < T; ++j) outl[j] = 0;
  lengths[n] = static_cast<int32_t>(len);
}

template <int W>
SEQLOSS_INLINE void count_sequence_impl(const seqloss_problem& p, int64_t n, double* acc, float* buf, float* expected,
                                        int32_t* rounded) {
  const int64_t C = p.classes;
  const int64_t Tn = p.input_lengths != nullptr ? p.input_lengths[n] : p.time;
  const SeqRows<const float> x = seq_rows(p.data, p, n);
  for (int64_t k = 0; k < C; ++k) acc[k] = 0.0;
  for (int64_t t = 0; t < Tn; ++t) {
    const float* row = x.row(t);
    if (p.input == SEQLOSS_INPUT_LOGITS) {
      float m = row_max<W>(row, C);
      exp_row<W>(row, C, m, buf);
      double inv = 1.0 / sum_row<W>(buf, C);
      for (int64_t k = 0; k < C; ++k) acc[k] += static_cast<double>(buf[k]) * inv;
    } else if (p.input == SEQLOSS_INPUT_LOG_PROBS) {
      exp_row<W>(row, C, 0.0f, buf);
      for (int64_t k = 0; k < C; ++k) acc[k] += static_cast<double>(buf[k]);
    } else {
      for (int64_t k = 0; k < C; ++k) acc[k] += static_cast<double>(row[k]);
    }
  }
  for (int64_t k = 0; k < C; ++k) {
    expected[n * C + k] = static_cast<float>(acc[k]);
    if (rounded != nullptr) {
      double v = acc[k];
      int32_t r = 0;
      if (v != v) {
        r = 0;
      } else if (v >= 2147483647.0) {
        r = INT32_MAX;
      } else if (v <= -2147483648.0) {
        r = INT32_MIN;
      } else {
        r = static_cast<int32_t>(std::llround(v));
      }
      rounded[n * C + k] = r;
    }
  }
}

SEQLOSS_MULTIVERSION(void, decode_sequence,
                     (const seqloss_problem& p, int64_t n, bool merge, int32_t* labels, int32_t* lengths),
                     (p, n, merge, labels, lengths))
SEQLOSS_MULTIVERSION(void, count_sequence,
                     (const seqloss_problem& p, int64_t n, double* acc, float* buf, float* expected, int32_t* rounded),
                     (p, n, acc, buf, expected, rounded))

}  // namespace detail

void ctc_greedy_decode(const seqloss_problem& p, int threads, int32_t* labels, int32_t* lengths) {
  const int width = dispatch_width();
  // Decoders: ~0.5 ns per input element on one thread (a max per frame); counting ~1.5 ns (a softmax).
  parallel_for(worth_threads(threads, 0.5), p.batch,
               [&](int64_t n, int) { detail::decode_sequence(width, p, n, true, labels, lengths); });
}

void ace_decode(const seqloss_problem& p, bool collapse_repeats, int threads, int32_t* labels, int32_t* lengths) {
  const int width = dispatch_width();
  parallel_for(worth_threads(threads, 0.5), p.batch,
               [&](int64_t n, int) { detail::decode_sequence(width, p, n, collapse_repeats, labels, lengths); });
}

void ace_count(const seqloss_problem& p, int threads, float* expected, int32_t* rounded) {
  const int width = dispatch_width();
  const size_t C = static_cast<size_t>(p.classes);
  std::vector<std::unique_ptr<double[]>> acc(static_cast<size_t>(threads));
  std::vector<std::unique_ptr<float[]>> buf(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    acc[static_cast<size_t>(i)].reset(new double[C]);
    buf[static_cast<size_t>(i)].reset(new float[C]);
  }
  parallel_for(worth_threads(threads, 1.5), p.batch, [&](int64_t n, int slot) {
    detail::count_sequence(width, p, n, acc[static_cast<size_t>(slot)].get(), buf[static_cast<size_t>(slot)].get(),
                           expected, rounded);
  });
}

}  // namespace cpu
}  // namespace seqloss
