// ctc.cu — CTC (Graves et al. 2006) with its gradient and posterior, the iterative-fitting modifications α and γ
// (Li & Wang, Eq. 13–18), DCTC (Zhang et al., AAAI 2024) and the Viterbi alignment, on the GPU. Which kernels a
// call runs, and how, is its launch plan (plan.h, plan.cc); run_label_op launches the plan's steps in order.
//
// The logits are the big array; everything else works on per-sequence compact arrays (labels.h), in extended-range
// FP32 on every device (xfloat32.cuh; "CTC in extended-range FP32" below): ctc32_stats (the one read of the logits
// before the gradient: row statistics, for plain CTC the dense gradient rows), shift, then alpha32 / beta32 (the
// forward variable α_t(s) and β'_t(s), rows in shared memory, emissions computed a frame ahead from the logits, α
// checkpointed as labels.h says) and, by operation:
//  - CTC: ctc32_patch (the label's classes), or for the fit fit32_vsum, fit_batch_l, fit_factor, fit32_rows,
//    fit_gamma and then ctc32_patch or, with γ (ŵ_t scales whole rows), ctc32_rows;
//  - DCTC: [viterbi32,] dctc32_rows (z*, the distillation term, the gradient row) and dctc_losses;
//  - ctcAlign: viterbi32 alone.
// No FP64 in any per-state or per-element step; what runs in double runs once per row, class or sequence.
// (The forward variable α_t(s) is not the paper's α of the fit, the labels' share of y': the code calls that one
// fit_alpha.)
#include <cmath>
#include <cstdint>
#include <vector>

#include "align.cuh"
#include "backend.h"
#include "ctc_kernels.cuh"
#include "dctc.cuh"
#include "fit.cuh"
#include "label_common.cuh"

namespace seqloss {
namespace cuda {
namespace {

// ---- host side ------------------------------------------------------------------------------------------------

inline Meta device_meta(const seqloss_problem& p, const LabelPlan& q, const Packed& k, const unsigned char* d) {
  Meta m;
  static_cast<Shape&>(m) = shape_of(p, q.rows);
  m.utotal = q.utotal;
  m.stotal = q.stotal;
  m.Tn = reinterpret_cast<const int32_t*>(d + k.Tn);
  m.L = reinterpret_cast<const int32_t*>(d + k.L);
  m.S = reinterpret_cast<const int32_t*>(d + k.S);
  m.U = reinterpret_cast<const int32_t*>(d + k.U);
  m.roff = reinterpret_cast<const int64_t*>(d + k.roff);
  m.yoff = reinterpret_cast<const int64_t*>(d + k.yoff);
  m.aoff = reinterpret_cast<const int64_t*>(d + k.aoff);
  m.coff = reinterpret_cast<const int64_t*>(d + k.coff);
  m.ck = q.ck;
  m.soff = reinterpret_cast<const int64_t*>(d + k.soff);
  m.uoff = reinterpret_cast<const int64_t*>(d + k.uoff);
  m.ucls = reinterpret_cast<const int32_t*>(d + k.ucls);
  m.ncount = reinterpret_cast<const int32_t*>(d + k.ncount);
  m.cseq = reinterpret_cast<const int32_t*>(d + k.cseq);
  m.cidx = reinterpret_cast<const int32_t*>(d + k.cidx);
  m.skip = reinterpret_cast<const uint8_t*>(d + k.skip);
  m.cs_start = reinterpret_cast<const int32_t*>(d + k.cs_start);
  m.cs_state = reinterpret_cast<const int32_t*>(d + k.cs_state);
  m.bclass = reinterpret_cast<const int32_t*>(d + k.bclass);
  m.bstart = reinterpret_cast<const int32_t*>(d + k.bstart);
  m.bitem = reinterpret_cast<const int32_t*>(d + k.bitem);
  m.nbclass = static_cast<int32_t>(q.bclass.size());
  return m;
}

// The label plan's global compact indices are int32 on the device.
seqloss_status plan_fits(const LabelPlan& q, Message msg) {
  if (q.utotal > INT32_MAX || static_cast<int64_t>(q.cs_state.size()) > INT32_MAX) {
    return fail(msg, SEQLOSS_ERROR_RANGE,
                "the labels of this batch are too many for the CUDA backend (%lld compact classes)",
                static_cast<long long>(q.utotal));
  }
  return SEQLOSS_OK;
}

// Sizes the workspace of a label operation.
seqloss_status label_workspace(const seqloss_problem& p, const seqloss_exec& e, const LabelWants& w, size_t* bytes,
                               Message msg) {
  const seqloss_status dev = check_device(e, msg);
  if (dev != SEQLOSS_OK) return dev;
  HostScratch& hs = scratch_labels(p, w.batch_scope);
  const LabelPlan& q = hs.q;
  const seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed& k = hs.k;
  LabelBuffers b;
  b.w = w;
  *bytes = b.carve(nullptr, p, q, k.pack.size()) + kWorkspaceSlack;
  return SEQLOSS_OK;
}

// The parameters of the kernels that are not in the metadata.
struct LabelParams {
  // CTC
  int32_t mean = 0, pytorch = 0, fit_scope = 0;
  double fit_alpha = 0.0, fit_gamma = 0.0;
  // DCTC
  Dctc32Params dctc32{};
  double beta = 0.0, lambda = 0.0;
  int32_t zero_infinity = 0;
  double s = 1.0;  // the logit scale of the row statistics
};

// A double of the call as a float-float pair (host side, once per call).
FFPair ff_of(double v) {
  const float h = static_cast<float>(v);
  return FFPair{h, static_cast<float>(v - static_cast<double>(h))};
}

// A label operation's call: its workspace placed, the metadata and logits uploaded, then every step of the plan
// launched in order with the step's grid and block. False when the call failed (its status says why).
bool run_label_op(Call& call, const seqloss_problem& p, const LabelPlan& q, const Packed& k, const LaunchPlan& plan,
                  LabelBuffers& b, const LabelParams& prm, void* workspace, size_t workspace_bytes, const char* size_fn,
                  float* out_grad, float* out_post) {
  if (!call.ok()) return false;
  const size_t need = b.carve(nullptr, p, q, k.pack.size());
  unsigned char* ws = call.workspace(need, workspace, workspace_bytes, size_fn);
  if (ws == nullptr) return false;
  b.carve(ws, p, q, k.pack.size());
  if (!call.to_device(b.meta, k.pack.data(), k.pack.size(), "cudaMemcpyAsync (metadata)")) return false;
  const Meta m = device_meta(p, q, k, b.meta);
  const float* x = b.w.host ? b.data : p.data;
  // With host memory the dense outputs are written to the workspace and copied out by the caller of this.
  float* grad = b.w.grad ? (b.w.host ? b.grad_d : out_grad) : nullptr;
  float* post = b.w.post ? (b.w.host ? b.post_d : out_post) : nullptr;
  cudaStream_t st = call.stream();
  // The stats step over valid rows [r0, r1), with the step's configuration (at most one block per row).
  auto stats = [&](const Step& s, int64_t r0, int64_t r1) {
    const unsigned g = row_grid(r1 - r0);
    SEQLOSS_LAUNCH(ctc32_stats_kernel, g < s.blocks ? g : s.blocks, s.threads, st, x, m, r0, r1, prm.mean, prm.pytorch,
                   ff_of(prm.s), b.M, b.R, b.R32, b.Rho, b.w.fit_gamma || b.w.dctc ? nullptr : grad, post);
    return call.launched(kernel_name(s.kernel));
  };
  // Host memory: the logits uploaded, the stats step in waves behind them where it can (wave_step).
  const Step* waves = b.w.host ? wave_step(p, plan, Kernel::kCtc32Stats) : nullptr;
  if (b.w.host && !upload_dense(call, p, b.data, q.roff.data(), q.Tn.data(), waves, "cudaMemcpyAsync (logits)",
                                [&](int64_t r0, int64_t r1) { return stats(*waves, r0, r1); })) {
    return false;
  }
  for (int32_t i = 0; i < plan.count; ++i) {
    const Step& s = plan.steps[i];
    const unsigned g = s.blocks;
    const int th = s.threads;
    switch (s.kernel) {
      case Kernel::kShift: SEQLOSS_LAUNCH(shift_kernel, g, th, st, m, b.R, b.shift); break;
      case Kernel::kFitBatchL: SEQLOSS_LAUNCH(fit_batch_l_kernel, g, th, st, m, b.logp, b.Lb); break;
      case Kernel::kFitFactor:
        SEQLOSS_LAUNCH(fit_factor_kernel, g, th, st, m, prm.fit_alpha, prm.fit_scope, b.logp, b.V, b.Lb, b.fac,
                       b.fac32);
        break;
      case Kernel::kFitGamma: SEQLOSS_LAUNCH(fit_gamma_kernel, g, th, st, m, b.logp, prm.fit_gamma, b.W, b.W32); break;
      case Kernel::kFit32Vsum: SEQLOSS_LAUNCH(fit32_vsum_kernel, g, th, st, m, b.Y32, b.V); break;
      case Kernel::kFit32Rows:
        SEQLOSS_LAUNCH(fit32_rows_kernel, g, th, st, x, m, b.w.fit_alpha ? 1 : 0, prm.fit_scope, b.Lb, b.status, b.M,
                       b.R32, b.fac32, b.Y32, b.W);
        break;
      case Kernel::kCtc32Rows:
        SEQLOSS_LAUNCH(ctc32_rows_kernel, g, th, st, x, m, b.M, b.R32, b.Y32, b.W32, b.status, prm.mean, grad, post);
        break;
      case Kernel::kViterbi32:
        SEQLOSS_LAUNCH(viterbi32_kernel, g, th, st, m, b.Rho, b.shift, b.D, b.path, b.score);
        break;
      case Kernel::kCtc32Stats:
        if (waves == nullptr && !stats(s, 0, q.rows)) return false;
        continue;
      case Kernel::kAlpha32:
        SEQLOSS_LAUNCH(alpha32_kernel, g, th, st, x, m, b.M, ff_of(prm.s), b.shift, b.A32, b.P32, b.work32, b.logp,
                       b.status);
        break;
      case Kernel::kBeta32:
        SEQLOSS_LAUNCH(beta32_kernel, g, th, st, x, m, b.M, ff_of(prm.s), b.A32, b.P32, b.Seg, b.Bs, b.status, b.Y32,
                       b.work32);
        break;
      case Kernel::kCtc32Patch:
        SEQLOSS_LAUNCH(ctc32_patch_kernel, g, th, st, x, m, b.M, b.R32, b.Y32, b.status, prm.mean, prm.pytorch, grad,
                       post);
        break;
      case Kernel::kDctc32Rows:
        SEQLOSS_LAUNCH(dctc32_rows_kernel, g, th, st, x, m, b.M, b.R, b.R32, b.Y32, b.status, b.path, prm.dctc32, grad,
                       b.align, b.CE);
        break;
      case Kernel::kDctcLosses:
        SEQLOSS_LAUNCH(dctc_losses_kernel, g, th, st, m, b.logp, b.shift, b.CE, prm.beta, prm.lambda, prm.zero_infinity,
                       b.dout);
        break;
      default: return call.fail_with(SEQLOSS_ERROR_INTERNAL, "a step that no label operation has"), false;
    }
    if (!call.launched(kernel_name(s.kernel))) return false;
  }
  return true;
}

}  // namespace

// ---- CTC ------------------------------------------------------------------------------------------------------

seqloss_status ctc_workspace_bytes(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                                   const seqloss_ctc_outputs* out, size_t* bytes, Message msg) {
  const bool grad = out == nullptr || out->grad != nullptr, post = out == nullptr || out->posterior != nullptr;
  return label_workspace(p, e, ctc_wants(o, e.memory, grad, post), bytes, msg);
}

seqloss_status ctc(const seqloss_problem& p, const seqloss_ctc_options& o, const seqloss_exec& e,
                   const seqloss_ctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = ctc_wants(o, e.memory, out.grad != nullptr, out.posterior != nullptr);
  HostScratch& hs = scratch_labels(p, b.w.batch_scope);
  const LabelPlan& q = hs.q;
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed& k = hs.k;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
    call.device_array(out.posterior, dense_bytes(p), "posterior");
  }
  if (!call.ok()) return call.finish();
  // The same plan on every device (the fp64 ratio only labels the model's figures).
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), 0);
  const int32_t N = p.batch;
  LabelParams prm;
  prm.mean = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1 : 0;
  prm.pytorch = o.grad_convention == SEQLOSS_GRAD_PYTORCH ? 1 : 0;
  prm.fit_alpha = o.fit_alpha;
  prm.fit_gamma = o.fit_gamma;
  prm.fit_scope = o.fit_alpha_scope;
  if (!run_label_op(call, p, q, k, plan, b, prm, workspace, workspace_bytes, "seqloss_ctc_workspace_size", out.grad,
                    out.posterior)) {
    return call.finish();
  }
  const size_t ntc_bytes = dense_bytes(p);
  if (b.w.host && out.grad != nullptr) call.download(out.grad, b.grad_d, ntc_bytes, "cudaMemcpyAsync (grad)");
  if (b.w.host && out.posterior != nullptr) {
    call.download(out.posterior, b.post_d, ntc_bytes, "cudaMemcpyAsync (posterior)");
  }
  std::vector<double>& logp = hs.d0;
  std::vector<double>& shift = hs.d1;
  logp.resize(static_cast<size_t>(N));
  shift.resize(static_cast<size_t>(N));
  call.to_host(logp.data(), b.logp, sizeof(double) * N, "cudaMemcpyAsync (log p)");
  call.to_host(shift.data(), b.shift, sizeof(double) * N, "cudaMemcpyAsync (shift)");
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  // The losses and their reduction, in sequence order (as the CPU backend): −(ln p_ρ + Σ c_t), ≥ 0 for logits;
  // NaN for a NaN sequence whatever zero_infinity says.
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    const double lp = logp[static_cast<size_t>(n)], sh = shift[static_cast<size_t>(n)];
    const bool ok = q.feasible(n) && lp != -HUGE_VAL;
    double l = sh != sh ? sh
               : ok     ? num::ctc_nll(lp, sh, p.input == SEQLOSS_INPUT_LOGITS)
                        : (o.zero_infinity != 0 ? 0.0 : HUGE_VAL);
    out.losses[n] = static_cast<float>(l);
    if (o.reduction == SEQLOSS_REDUCTION_MEAN) l /= (p.target_lengths[n] > 1 ? p.target_lengths[n] : 1);
    total += l;
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- DCTC -----------------------------------------------------------------------------------------------------

seqloss_status dctc_workspace_bytes(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                                    const seqloss_dctc_outputs* out, size_t* bytes, Message msg) {
  return label_workspace(p, e, dctc_wants(o, e.memory, out == nullptr || out->grad != nullptr), bytes, msg);
}

seqloss_status dctc(const seqloss_problem& p, const seqloss_dctc_options& o, const seqloss_exec& e,
                    const seqloss_dctc_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = dctc_wants(o, e.memory, out.grad != nullptr);
  HostScratch& hs = scratch_labels(p, false);
  const LabelPlan& q = hs.q;
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed& k = hs.k;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
  }
  if (!call.ok()) return call.finish();
  // The same plan on every device (the fp64 ratio only labels the model's figures).
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), 0);
  const int32_t N = p.batch;
  const double r = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / N : 1.0;
  LabelParams prm;
  prm.dctc32 = Dctc32Params{o.alignment,     o.ctc_weight,       o.lambda,       o.scale,
                            r * o.scale,     o.scale * o.margin, ff_of(o.scale), ff_of(o.ctc_weight),
                            ff_of(o.lambda), ff_of(r * o.scale)};
  prm.beta = o.ctc_weight;
  prm.lambda = o.lambda;
  prm.zero_infinity = o.zero_infinity;
  prm.s = o.scale;
  if (!run_label_op(call, p, q, k, plan, b, prm, workspace, workspace_bytes, "seqloss_dctc_workspace_size", out.grad,
                    nullptr)) {
    return call.finish();
  }
  if (b.w.host && out.grad != nullptr) call.download(out.grad, b.grad_d, dense_bytes(p), "cudaMemcpyAsync (grad)");
  std::vector<double>& d = hs.d0;
  d.resize(3 * static_cast<size_t>(N));
  call.to_host(d.data(), b.dout, sizeof(double) * d.size(), "cudaMemcpyAsync (losses)");
  if (out.alignment != nullptr) {
    call.download(out.alignment, b.align, sizeof(int32_t) * static_cast<size_t>(N) * p.time,
                  "cudaMemcpyAsync (alignment)");
  }
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    const double ln = d[static_cast<size_t>(n)];
    out.losses[n] = static_cast<float>(ln);
    if (out.ctc_losses != nullptr) out.ctc_losses[n] = static_cast<float>(d[static_cast<size_t>(N + n)]);
    if (out.distill_losses != nullptr) out.distill_losses[n] = static_cast<float>(d[static_cast<size_t>(2 * N + n)]);
    total += ln;
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- Viterbi alignment ----------------------------------------------------------------------------------------

seqloss_status align_workspace_bytes(const seqloss_problem& p, const seqloss_exec& e, size_t* bytes, Message msg) {
  return label_workspace(p, e, align_wants(e.memory), bytes, msg);
}

seqloss_status ctc_align(const seqloss_problem& p, const seqloss_exec& e, const seqloss_align_outputs& out,
                         void* workspace, size_t workspace_bytes, Message msg) {
  LabelBuffers b;
  b.w = align_wants(e.memory);
  HostScratch& hs = scratch_labels(p, false);
  const LabelPlan& q = hs.q;
  seqloss_status st = plan_fits(q, msg);
  if (st != SEQLOSS_OK) return st;
  const Packed& k = hs.k;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  if (!call.ok()) return call.finish();
  // The same plan on every device (the fp64 ratio only labels the model's figures).
  const LaunchPlan plan = plan_label_op(p, b.w, q, k.pack.size(), 0);
  const int32_t N = p.batch;
  if (!run_label_op(call, p, q, k, plan, b, LabelParams{}, workspace, workspace_bytes,
                    "seqloss_ctc_align_workspace_size", nullptr, nullptr)) {
    return call.finish();
  }
  call.download(out.paths, b.path, sizeof(int32_t) * static_cast<size_t>(N) * p.time, "cudaMemcpyAsync (paths)");
  std::vector<double>& score = hs.d0;
  score.resize(static_cast<size_t>(N));
  call.to_host(score.data(), b.score, sizeof(double) * N, "cudaMemcpyAsync (scores)");
  st = call.finish();
  if (st != SEQLOSS_OK) return st;
  for (int32_t n = 0; n < N; ++n) out.scores[n] = static_cast<float>(score[static_cast<size_t>(n)]);
  return SEQLOSS_OK;
}

}  // namespace cuda
}  // namespace seqloss
