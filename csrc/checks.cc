// checks.cc — argument checks shared by every backend (see checks.h). Each check reads only what the caller
// declared: N lengths, targets_size labels, counts_size counts; nothing of `data` or of the outputs.
#include "checks.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstdint>

namespace seqloss {

seqloss_status fail(Message msg, seqloss_status status, const char* fmt, ...) {
  if (msg.buf != nullptr && msg.size > 0) {
    va_list args;
    va_start(args, fmt);
    int n = std::vsnprintf(msg.buf, msg.size, fmt, args);
    va_end(args);
    if (n < 0) msg.buf[0] = '\0';
    msg.buf[msg.size - 1] = '\0';
  }
  return status;
}

void clear(Message msg) {
  if (msg.buf != nullptr && msg.size > 0) msg.buf[0] = '\0';
}

const char* format_double(double v, char* buf, size_t size) {
  if (buf == nullptr || size == 0) return buf;
  if (std::isnan(v)) {
    std::snprintf(buf, size, "NaN");
  } else if (std::isinf(v)) {
    std::snprintf(buf, size, v > 0 ? "Infinity" : "-Infinity");
  } else if (v == std::floor(v) && std::fabs(v) < 1e21) {
    std::snprintf(buf, size, "%.0f", v == 0 ? 0.0 : v);  // no "-0"
  } else {
    // The shortest %g that reads back as the same double.
    for (int precision = 1; precision <= 17; ++precision) {
      std::snprintf(buf, size, "%.*g", precision, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  return buf;
}

const char* format_float(float v, char* buf, size_t size) {
  if (buf == nullptr || size == 0) return buf;
  if (std::isnan(v) || std::isinf(v) || (v == std::floor(v) && std::fabs(v) < 1e21f)) {
    return format_double(v, buf, size);
  }
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(buf, size, "%.*g", precision, static_cast<double>(v));
    if (static_cast<float>(std::strtod(buf, nullptr)) == v) break;
  }
  return buf;
}

const char* data_name(int32_t input) {
  switch (input) {
    case SEQLOSS_INPUT_LOG_PROBS: return "logProbs";
    case SEQLOSS_INPUT_PROBS: return "probs";
    default: return "logits";
  }
}

seqloss_status check_exec(const seqloss_exec* exec, Message msg) {
  if (exec == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "exec must not be NULL (a seqloss_exec)");
  if (exec->backend != SEQLOSS_BACKEND_CPU && exec->backend != SEQLOSS_BACKEND_CUDA) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "backend must be 0 (cpu) or 1 (cuda), got %d", exec->backend);
  }
  if (exec->memory != SEQLOSS_MEMORY_HOST && exec->memory != SEQLOSS_MEMORY_DEVICE) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "memory must be 0 (host) or 1 (device), got %d", exec->memory);
  }
  if (exec->threads < 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "threads must be an integer >= 0 (0 = one per hardware thread), got %d",
                exec->threads);
  }
  if (exec->device < 0) return fail(msg, SEQLOSS_ERROR_RANGE, "device must be an integer >= 0, got %d", exec->device);
  return SEQLOSS_OK;
}

static const char* allowed_inputs(unsigned mask) {
  switch (mask) {
    case kAllowLogits: return "0 (logits)";
    case kAllowLogits | kAllowLogProbs: return "0 (logits) or 1 (logProbs)";
    case kAllowLogits | kAllowProbs: return "0 (logits) or 2 (probs)";
    case kAllowLogits | kAllowLogProbs | kAllowProbs: return "0 (logits), 1 (logProbs) or 2 (probs)";
    default: return "a supported input kind";
  }
}

seqloss_status check_shape(const seqloss_problem* p, const ShapeRules& rules, Extents* ext, Message msg) {
  if (p == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "problem must not be NULL (a seqloss_problem)");
  if (p->batch < 1) return fail(msg, SEQLOSS_ERROR_RANGE, "batch must be an integer >= 1, got %d", p->batch);
  if (p->time < 1) return fail(msg, SEQLOSS_ERROR_RANGE, "time must be an integer >= 1, got %d", p->time);
  if (p->classes < 1) return fail(msg, SEQLOSS_ERROR_RANGE, "classes must be an integer >= 1, got %d", p->classes);
  if (p->layout != SEQLOSS_LAYOUT_NTC && p->layout != SEQLOSS_LAYOUT_TNC) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "layout must be 0 (NTC) or 1 (TNC), got %d", p->layout);
  }
  if (rules.inputs != 0) {
    bool known = p->input >= 0 && p->input <= 2;
    if (!known || (rules.inputs & (1u << p->input)) == 0) {
      return fail(msg, SEQLOSS_ERROR_RANGE, "input must be %s for %s, got %d", allowed_inputs(rules.inputs), rules.op,
                  p->input);
    }
  }
  if (rules.uses_blank && (p->blank < 0 || p->blank >= p->classes)) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "blank must be an integer in [0, %d], got %d", p->classes - 1, p->blank);
  }
  // N*T*C as an element count, and as a byte count of floats (and of doubles, for internal buffers).
  int64_t nt = 0, ntc = 0, nc = 0, bytes = 0;
  if (mul_overflow(static_cast<int64_t>(p->batch), static_cast<int64_t>(p->time), &nt) ||
      mul_overflow(nt, static_cast<int64_t>(p->classes), &ntc) ||
      mul_overflow(ntc, static_cast<int64_t>(sizeof(double)), &bytes) ||
      static_cast<uint64_t>(bytes) > static_cast<uint64_t>(PTRDIFF_MAX)) {
    return fail(msg, SEQLOSS_ERROR_RANGE,
                "batch·time·classes must be a valid element count, got %d·%d·%d, which overflows", p->batch, p->time,
                p->classes);
  }
  nc = static_cast<int64_t>(p->batch) * p->classes;  // <= ntc, no overflow
  const char* name = data_name(rules.inputs != 0 ? p->input : SEQLOSS_INPUT_LOGITS);
  if (rules.need_data && p->data == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "%s must not be NULL (batch·time·classes = %lld floats)", name,
                static_cast<long long>(ntc));
  }
  if (p->data_size != ntc) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "%s.length must be batch·time·classes = %d·%d·%d = %lld, got %lld", name,
                p->batch, p->time, p->classes, static_cast<long long>(ntc), static_cast<long long>(p->data_size));
  }
  if (p->input_lengths != nullptr) {
    if (p->input_lengths_size < p->batch) {
      return fail(msg, SEQLOSS_ERROR_RANGE, "inputLengths must hold batch = %d values, got input_lengths_size = %lld",
                  p->batch, static_cast<long long>(p->input_lengths_size));
    }
    for (int32_t n = 0; n < p->batch; ++n) {
      int32_t v = p->input_lengths[n];
      if (v < rules.min_input_length || v > p->time) {
        return fail(msg, SEQLOSS_ERROR_RANGE, "inputLengths[%d] must be an integer in [%d, %d], got %d", n,
                    rules.min_input_length, p->time, v);
      }
    }
  }
  if (ext != nullptr) *ext = Extents{ntc, nt, nc, p->batch};
  return SEQLOSS_OK;
}

seqloss_status check_ctc_targets(const seqloss_problem* p, Message msg) {
  if (p->target_lengths == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "targetLengths must not be NULL (one length per sequence, %d values)",
                p->batch);
  }
  if (p->target_lengths_size < p->batch) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "targetLengths must hold batch = %d values, got target_lengths_size = %lld",
                p->batch, static_cast<long long>(p->target_lengths_size));
  }
  if (p->targets_size < 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "targets.length must be >= 0, got %lld",
                static_cast<long long>(p->targets_size));
  }
  int64_t total = 0;
  for (int32_t n = 0; n < p->batch; ++n) {
    int32_t v = p->target_lengths[n];
    if (v < 0) return fail(msg, SEQLOSS_ERROR_RANGE, "targetLengths[%d] must be an integer >= 0, got %d", n, v);
    total += v;  // <= 2^31 * 2^31: no overflow
  }
  if (total > p->targets_size) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "the sum of targetLengths must be at most targets.length = %lld, got %lld",
                static_cast<long long>(p->targets_size), static_cast<long long>(total));
  }
  if (p->targets == nullptr && (total > 0 || p->targets_size > 0)) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "targets must not be NULL (targets.length = %lld, targetLengths sum to %lld)",
                static_cast<long long>(p->targets_size), static_cast<long long>(total));
  }
  for (int64_t i = 0; i < total; ++i) {
    int32_t v = p->targets[i];
    if (v < 0 || v >= p->classes || v == p->blank) {
      return fail(msg, SEQLOSS_ERROR_RANGE, "targets[%lld] must be a class in [0, %d) other than the blank %d, got %d",
                  static_cast<long long>(i), p->classes, p->blank, v);
    }
  }
  return SEQLOSS_OK;
}

seqloss_status check_ace_counts(const seqloss_problem* p, Message msg) {
  int64_t nc = static_cast<int64_t>(p->batch) * p->classes;
  if (p->counts == nullptr && p->target_lengths != nullptr) {
    // The labels' counts: CTC's rules for the labels, and at most T_n of them per sequence.
    const seqloss_status st = check_ctc_targets(p, msg);
    if (st != SEQLOSS_OK) return st;
    for (int32_t n = 0; n < p->batch; ++n) {
      const int32_t tn = p->input_lengths != nullptr ? p->input_lengths[n] : p->time;
      if (p->target_lengths[n] > tn) {
        return fail(msg, SEQLOSS_ERROR_RANGE,
                    "the counts of sequence %d must be at most its %d frames in total (blank excluded), got %d", n, tn,
                    p->target_lengths[n]);
      }
    }
    return SEQLOSS_OK;
  }
  if (p->counts == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE,
                "counts must not be NULL (batch·classes = %lld counts), unless targets and targetLengths are given",
                static_cast<long long>(nc));
  }
  if (p->counts_size != nc) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "counts.length must be batch·classes = %lld, got %lld",
                static_cast<long long>(nc), static_cast<long long>(p->counts_size));
  }
  char num[64];
  for (int32_t n = 0; n < p->batch; ++n) {
    const float* row = p->counts + static_cast<int64_t>(n) * p->classes;
    double labelled = 0;
    for (int32_t k = 0; k < p->classes; ++k) {
      if (k == p->blank) continue;  // ignored: replaced by T_n - sum of the others
      float v = row[k];
      if (!std::isfinite(v) || v < 0) {
        return fail(msg, SEQLOSS_ERROR_RANGE, "counts[%lld] must be a finite count >= 0, got %s",
                    static_cast<long long>(static_cast<int64_t>(n) * p->classes + k), format_float(v, num, sizeof num));
      }
      labelled += v;
    }
    int32_t tn = p->input_lengths != nullptr ? p->input_lengths[n] : p->time;
    if (labelled > tn) {
      return fail(msg, SEQLOSS_ERROR_RANGE,
                  "the counts of sequence %d must be at most its %d frames in total (blank excluded), got %s", n, tn,
                  format_double(labelled, num, sizeof num));
    }
  }
  return SEQLOSS_OK;
}

static const char* reduction_expected = "0 (none), 1 (sum) or 2 (mean)";

seqloss_status check_ctc_options(const seqloss_ctc_options* o, Message msg) {
  if (o == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "options must not be NULL (a seqloss_ctc_options)");
  if (o->reduction < SEQLOSS_REDUCTION_NONE || o->reduction > SEQLOSS_REDUCTION_MEAN) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "reduction must be %s, got %d", reduction_expected, o->reduction);
  }
  if (o->zero_infinity != 0 && o->zero_infinity != 1) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "zeroInfinity must be 0 or 1, got %d", o->zero_infinity);
  }
  char num[64];
  if (!(o->fit_alpha == 0 || (o->fit_alpha > 0 && o->fit_alpha < 1))) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "fit.alpha must be a number in (0, 1) (or 0 = off), got %s",
                format_double(o->fit_alpha, num, sizeof num));
  }
  if (!std::isfinite(o->fit_gamma) || o->fit_gamma < 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "fit.gamma must be a finite number >= 0, got %s",
                format_double(o->fit_gamma, num, sizeof num));
  }
  if (o->fit_alpha_scope != SEQLOSS_FIT_SCOPE_BATCH && o->fit_alpha_scope != SEQLOSS_FIT_SCOPE_SEQUENCE) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "fit.alphaScope must be 0 (batch) or 1 (sequence), got %d",
                o->fit_alpha_scope);
  }
  if (o->grad_convention != SEQLOSS_GRAD_EXACT && o->grad_convention != SEQLOSS_GRAD_PYTORCH) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "gradConvention must be 0 (exact) or 1 (pytorch), got %d",
                o->grad_convention);
  }
  return SEQLOSS_OK;
}

seqloss_status check_dctc_options(const seqloss_dctc_options* o, Message msg) {
  if (o == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "options must not be NULL (a seqloss_dctc_options)");
  if (o->reduction < SEQLOSS_REDUCTION_NONE || o->reduction > SEQLOSS_REDUCTION_MEAN) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "reduction must be %s, got %d", reduction_expected, o->reduction);
  }
  if (o->zero_infinity != 0 && o->zero_infinity != 1) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "zeroInfinity must be 0 or 1, got %d", o->zero_infinity);
  }
  if (o->alignment < SEQLOSS_DCTC_RATIO || o->alignment > SEQLOSS_DCTC_VITERBI) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "alignment must be 0 (ratio), 1 (posterior) or 2 (viterbi), got %d",
                o->alignment);
  }
  if (o->reserved != 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "options.reserved must be 0 in ABI version %d, got %d", SEQLOSS_ABI_VERSION,
                o->reserved);
  }
  char num[64];
  if (!std::isfinite(o->lambda) || o->lambda < 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "lambda must be a finite number >= 0, got %s",
                format_double(o->lambda, num, sizeof num));
  }
  if (!std::isfinite(o->ctc_weight) || o->ctc_weight < 0) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "ctcWeight must be a finite number >= 0, got %s",
                format_double(o->ctc_weight, num, sizeof num));
  }
  if (!(o->scale > 0 && o->scale <= kDctcMaxScale)) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "margin.s must be a number in (0, 1000000], got %s",
                format_double(o->scale, num, sizeof num));
  }
  if (!(o->margin >= 0 && o->margin <= kDctcMaxMargin)) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "margin.m must be a number in [0, 1e+30], got %s",
                format_double(o->margin, num, sizeof num));
  }
  return SEQLOSS_OK;
}

seqloss_status check_ace_options(const seqloss_ace_options* o, Message msg) {
  if (o == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "options must not be NULL (a seqloss_ace_options)");
  if (o->reduction < SEQLOSS_REDUCTION_NONE || o->reduction > SEQLOSS_REDUCTION_MEAN) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "reduction must be %s, got %d", reduction_expected, o->reduction);
  }
  if (o->variant != SEQLOSS_ACE_CE && o->variant != SEQLOSS_ACE_REGRESSION) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "variant must be 0 (ce) or 1 (regression), got %d", o->variant);
  }
  if (!std::isfinite(o->eps) || o->eps < 0) {
    char num[64];
    return fail(msg, SEQLOSS_ERROR_RANGE, "eps must be a finite number >= 0, got %s",
                format_double(o->eps, num, sizeof num));
  }
  return SEQLOSS_OK;
}

static seqloss_status check_dense_output(const char* name, const void* ptr, int64_t size, int64_t need,
                                         const char* what, Message msg) {
  if (ptr == nullptr) return SEQLOSS_OK;  // optional
  if (size < need) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "%s must hold %s = %lld values, got %s_size = %lld", name, what,
                static_cast<long long>(need), name, static_cast<long long>(size));
  }
  return SEQLOSS_OK;
}

seqloss_status check_ctc_outputs(const seqloss_ctc_outputs* out, const Extents& ext, Message msg) {
  if (out == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "outputs must not be NULL (a seqloss_ctc_outputs)");
  if (out->losses == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "losses must not be NULL (one float per sequence)");
  }
  if (out->losses_size < ext.n) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "losses must hold batch = %lld values, got losses_size = %lld",
                static_cast<long long>(ext.n), static_cast<long long>(out->losses_size));
  }
  seqloss_status st = check_dense_output("grad", out->grad, out->grad_size, ext.ntc, "batch·time·classes", msg);
  if (st != SEQLOSS_OK) return st;
  return check_dense_output("posterior", out->posterior, out->posterior_size, ext.ntc, "batch·time·classes", msg);
}

seqloss_status check_dctc_outputs(const seqloss_dctc_outputs* out, const Extents& ext, Message msg) {
  if (out == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "outputs must not be NULL (a seqloss_dctc_outputs)");
  if (out->losses == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "losses must not be NULL (one float per sequence)");
  if (out->losses_size < ext.n) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "losses must hold batch = %lld values, got losses_size = %lld",
                static_cast<long long>(ext.n), static_cast<long long>(out->losses_size));
  }
  seqloss_status st = check_dense_output("grad", out->grad, out->grad_size, ext.ntc, "batch·time·classes", msg);
  if (st == SEQLOSS_OK)
    st = check_dense_output("alignment", out->alignment, out->alignment_size, ext.nt, "batch·time", msg);
  if (st == SEQLOSS_OK)
    st = check_dense_output("ctc_losses", out->ctc_losses, out->ctc_losses_size, ext.n, "batch", msg);
  if (st == SEQLOSS_OK) {
    st = check_dense_output("distill_losses", out->distill_losses, out->distill_losses_size, ext.n, "batch", msg);
  }
  return st;
}

seqloss_status check_align_outputs(const seqloss_align_outputs* out, const Extents& ext, Message msg) {
  if (out == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "outputs must not be NULL (a seqloss_align_outputs)");
  if (out->paths == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "paths must not be NULL (batch·time = %lld int32 values)",
                static_cast<long long>(ext.nt));
  }
  if (out->scores == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "scores must not be NULL (one float per sequence)");
  seqloss_status st = check_dense_output("paths", out->paths, out->paths_size, ext.nt, "batch·time", msg);
  if (st == SEQLOSS_OK) st = check_dense_output("scores", out->scores, out->scores_size, ext.n, "batch", msg);
  return st;
}

seqloss_status check_ace_outputs(const seqloss_ace_outputs* out, const Extents& ext, Message msg) {
  if (out == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "outputs must not be NULL (a seqloss_ace_outputs)");
  if (out->losses == nullptr) return fail(msg, SEQLOSS_ERROR_TYPE, "losses must not be NULL (one float per sequence)");
  if (out->losses_size < ext.n) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "losses must hold batch = %lld values, got losses_size = %lld",
                static_cast<long long>(ext.n), static_cast<long long>(out->losses_size));
  }
  return check_dense_output("grad", out->grad, out->grad_size, ext.ntc, "batch·time·classes", msg);
}

namespace {

// A byte range the call reads or writes, by the name its messages give it.
struct Span {
  const char* name;
  const void* ptr;
  size_t bytes;
};

template <typename T>
Span span(const char* name, const T* ptr, int64_t count) {
  return Span{name, ptr, ptr != nullptr && count > 0 ? static_cast<size_t>(count) * sizeof(T) : 0};
}

bool overlap(const Span& a, const Span& b) {
  if (a.bytes == 0 || b.bytes == 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a.ptr), pb = reinterpret_cast<uintptr_t>(b.ptr);
  return pa < pb + b.bytes && pb < pa + a.bytes;
}

// The inputs of a problem that `uses` (targets, counts), at the extents the checks accepted.
int inputs_of(const seqloss_problem* p, bool targets, bool counts, Span* into) {
  int n = 0;
  into[n++] = span(data_name(p->input), p->data, p->data_size);
  if (p->input_lengths != nullptr) into[n++] = span("inputLengths", p->input_lengths, p->batch);
  if (targets) {
    into[n++] = span("targets", p->targets, p->targets_size);
    into[n++] = span("targetLengths", p->target_lengths, p->batch);
  }
  if (counts) into[n++] = span("counts", p->counts, p->counts_size);
  return n;
}

// Every output against every input and every other output: a RANGE error naming both.
seqloss_status check_aliasing(const Span* inputs, int n_inputs, const Span* outputs, int n_outputs, Message msg) {
  for (int i = 0; i < n_outputs; ++i) {
    for (int k = 0; k < n_inputs; ++k) {
      if (overlap(outputs[i], inputs[k])) {
        return fail(msg, SEQLOSS_ERROR_RANGE, "%s must share no memory with %s, got overlapping arrays",
                    outputs[i].name, inputs[k].name);
      }
    }
    for (int k = 0; k < i; ++k) {
      if (overlap(outputs[i], outputs[k])) {
        return fail(msg, SEQLOSS_ERROR_RANGE, "%s must share no memory with %s, got overlapping arrays",
                    outputs[i].name, outputs[k].name);
      }
    }
  }
  return SEQLOSS_OK;
}

}  // namespace

seqloss_status check_ctc_call(const seqloss_problem* p, const seqloss_ctc_options* o, const seqloss_exec* exec,
                              const seqloss_ctc_outputs* out, bool with_outputs, Extents* ext, Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  if ((st = check_ctc_options(o, msg)) != SEQLOSS_OK) return st;
  ShapeRules rules{kAllowLogits | kAllowLogProbs, true, 0, with_outputs, "ctcLoss"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if ((o->fit_alpha != 0 || o->fit_gamma != 0) && p->input != SEQLOSS_INPUT_LOGITS) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "input must be 0 (logits) when fit (alpha or gamma) is on, got %d", p->input);
  }
  if ((st = check_ctc_targets(p, msg)) != SEQLOSS_OK) return st;
  if (!with_outputs) return SEQLOSS_OK;
  if ((st = check_ctc_outputs(out, *ext, msg)) != SEQLOSS_OK) return st;
  Span in[5], outs[4];
  const int n_in = inputs_of(p, true, false, in);
  outs[0] = span("losses", out->losses, ext->n);
  outs[1] = span("loss", out->loss, 1);
  outs[2] = span("grad", out->grad, out->grad != nullptr ? ext->ntc : 0);
  outs[3] = span("posterior", out->posterior, out->posterior != nullptr ? ext->ntc : 0);
  return check_aliasing(in, n_in, outs, 4, msg);
}

seqloss_status check_dctc_call(const seqloss_problem* p, const seqloss_dctc_options* o, const seqloss_exec* exec,
                               const seqloss_dctc_outputs* out, bool with_outputs, Extents* ext, Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  if ((st = check_dctc_options(o, msg)) != SEQLOSS_OK) return st;
  ShapeRules rules{kAllowLogits, true, 0, with_outputs, "dctcLoss"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if ((st = check_ctc_targets(p, msg)) != SEQLOSS_OK) return st;
  if (!with_outputs) return SEQLOSS_OK;
  if ((st = check_dctc_outputs(out, *ext, msg)) != SEQLOSS_OK) return st;
  Span in[5], outs[6];
  const int n_in = inputs_of(p, true, false, in);
  outs[0] = span("losses", out->losses, ext->n);
  outs[1] = span("loss", out->loss, 1);
  outs[2] = span("grad", out->grad, out->grad != nullptr ? ext->ntc : 0);
  outs[3] = span("alignment", out->alignment, out->alignment != nullptr ? ext->nt : 0);
  outs[4] = span("ctc_losses", out->ctc_losses, out->ctc_losses != nullptr ? ext->n : 0);
  outs[5] = span("distill_losses", out->distill_losses, out->distill_losses != nullptr ? ext->n : 0);
  return check_aliasing(in, n_in, outs, 6, msg);
}

seqloss_status check_align_call(const seqloss_problem* p, const seqloss_exec* exec, const seqloss_align_outputs* out,
                                bool with_outputs, Extents* ext, Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  ShapeRules rules{kAllowLogits | kAllowLogProbs, true, 0, with_outputs, "ctcAlign"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if ((st = check_ctc_targets(p, msg)) != SEQLOSS_OK) return st;
  if (!with_outputs) return SEQLOSS_OK;
  if ((st = check_align_outputs(out, *ext, msg)) != SEQLOSS_OK) return st;
  Span in[5], outs[2];
  const int n_in = inputs_of(p, true, false, in);
  outs[0] = span("paths", out->paths, ext->nt);
  outs[1] = span("scores", out->scores, ext->n);
  return check_aliasing(in, n_in, outs, 2, msg);
}

seqloss_status check_ace_call(const seqloss_problem* p, const seqloss_ace_options* o, const seqloss_exec* exec,
                              const seqloss_ace_outputs* out, bool with_outputs, Extents* ext, Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  if ((st = check_ace_options(o, msg)) != SEQLOSS_OK) return st;
  ShapeRules rules{kAllowLogits | kAllowProbs, true, 1, with_outputs, "aceLoss"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if ((st = check_ace_counts(p, msg)) != SEQLOSS_OK) return st;
  if (!with_outputs) return SEQLOSS_OK;
  if ((st = check_ace_outputs(out, *ext, msg)) != SEQLOSS_OK) return st;
  Span in[5], outs[3];
  const int n_in = inputs_of(p, p->counts == nullptr, p->counts != nullptr, in);
  outs[0] = span("losses", out->losses, ext->n);
  outs[1] = span("loss", out->loss, 1);
  outs[2] = span("grad", out->grad, out->grad != nullptr ? ext->ntc : 0);
  return check_aliasing(in, n_in, outs, 3, msg);
}

seqloss_status check_decode_call(const seqloss_problem* p, const seqloss_exec* exec, bool ace, const int32_t* labels,
                                 int64_t labels_size, const int32_t* lengths, int64_t lengths_size, Extents* ext,
                                 Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  ShapeRules rules{0, true, ace ? 1 : 0, true, ace ? "aceDecode" : "ctcGreedyDecode"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if (labels == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "labels must not be NULL (batch·time = %lld int32 values)",
                static_cast<long long>(ext->nt));
  }
  if (labels_size < ext->nt) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "labels must hold batch·time = %lld values, got labels_size = %lld",
                static_cast<long long>(ext->nt), static_cast<long long>(labels_size));
  }
  if (lengths == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "lengths must not be NULL (batch = %d int32 values)", p->batch);
  }
  if (lengths_size < p->batch) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "lengths must hold batch = %d values, got lengths_size = %lld", p->batch,
                static_cast<long long>(lengths_size));
  }
  Span in[5], outs[2];
  const int n_in = inputs_of(p, false, false, in);
  outs[0] = span("labels", labels, ext->nt);
  outs[1] = span("lengths", lengths, p->batch);
  return check_aliasing(in, n_in, outs, 2, msg);
}

seqloss_status check_count_call(const seqloss_problem* p, const seqloss_exec* exec, const float* expected,
                                int64_t expected_size, const int32_t* rounded, int64_t rounded_size, Extents* ext,
                                Message msg) {
  seqloss_status st = check_exec(exec, msg);
  if (st != SEQLOSS_OK) return st;
  ShapeRules rules{kAllowLogits | kAllowLogProbs | kAllowProbs, false, 1, true, "aceCount"};
  if ((st = check_shape(p, rules, ext, msg)) != SEQLOSS_OK) return st;
  if (expected == nullptr) {
    return fail(msg, SEQLOSS_ERROR_TYPE, "expected must not be NULL (batch·classes = %lld floats)",
                static_cast<long long>(ext->nc));
  }
  if (expected_size < ext->nc) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "expected must hold batch·classes = %lld values, got expected_size = %lld",
                static_cast<long long>(ext->nc), static_cast<long long>(expected_size));
  }
  if (rounded != nullptr && rounded_size < ext->nc) {
    return fail(msg, SEQLOSS_ERROR_RANGE, "rounded must hold batch·classes = %lld values, got rounded_size = %lld",
                static_cast<long long>(ext->nc), static_cast<long long>(rounded_size));
  }
  Span in[5], outs[2];
  const int n_in = inputs_of(p, false, false, in);
  outs[0] = span("expected", expected, ext->nc);
  outs[1] = span("rounded", rounded, rounded != nullptr ? ext->nc : 0);
  return check_aliasing(in, n_in, outs, 2, msg);
}

}  // namespace seqloss
