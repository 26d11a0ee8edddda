// ace.cu — ACE (Xie et al., CVPR 2019), the greedy decoders and ACE counting on the GPU.
//
// ACE, per call:
//  1. stats: one block per valid row (n, t < T_n): m_t and 1 / Σ_k e^(x_tk − m_t) (logits only).
//  2. partial: Σ_t y_k^t in chunks of kChunk frames, one thread per (n, chunk, class), frames in order;
//     total: the chunks summed in order (a fixed two-level sum, so the result does not depend on the hardware).
//  3. loss: one block per sequence: y_k = Σ_t y_k^t + T_n eps (eps enters here only), N_blank = T_n − Σ_{k≠blank} N_k
//     (a fixed-tree sum on the device), CE (Eq. 8) L = −Σ_{N_k>0} (N_k/T_n) ln(y_k/T_n) with g_k = −N_k/(T_n y_k)
//     (L = 0 when eps = 0 and rounding leaves it below 0), or regression (Eq. 4) L = ½ Σ (N_k − y_k)² with
//     g_k = y_k − N_k;
//     L_n by a fixed-tree block sum.
//  4. rows: one block per row: probabilities scale·g_k; logits through the softmax (Eq. 9) as
//     scale·y_k ((g_k − g_r) − Σ_j y_j (g_j − g_r)) with r the row's first most likely class (the same number since
//     Σ_j y_j = 1, without losing 1 − y_r on nearly certain frames).
// At the extremes, as ace.cc (README, "ACE at the extremes"): with logits, a CE class whose Σ_t y_k^t is below
// kTiny = 2^-60 is aggregated again in log space by its loss thread, ln y_k = logsumexp_t (x_tk − m_t − ln s_t)
// (⊕ ln(T_n eps)); its g_k is stored as 0 and the rows add its terms from ρ_tk = y_k^t / y_k = e^(ln y_k^t − ln y_k)
// (y_k^t g_k = −(N_k/T_n) ρ_tk, bounded). A sequence whose y has a non-finite entry (a NaN or +∞ in a valid frame,
// a logits frame all −∞, a non-finite probability) gets loss NaN and NaN rows t < T_n.
// Decoders: the argmax of every valid row (ties to the lowest class; x[0] NaN decodes to 0, other NaNs never win),
// then one thread per sequence merges and drops blanks. Counting: y summed per class as in 2, without eps.
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend.h"
#include "runtime.cuh"

namespace seqloss {
namespace cuda {
namespace {

constexpr double kTiny = 0x1p-60;  // see the file comment

struct Dense : Shape {
  const int32_t* Tn;    // N
  const int64_t* roff;  // N + 1
};

// m_t and 1 / Σ_k e^(x_tk − m_t) (the softmax is e^(x − m) times it, as ace.cc and decode.cc compute it).
__global__ void softmax_stats_kernel(const float* __restrict__ x, Dense d, float* __restrict__ M,
                                     double* __restrict__ inv) {
  SEQLOSS_SHARED(double, shd, 33);
  SEQLOSS_SHARED(float, shf, 33);
  for (int64_t r = blockIdx.x; r < d.rows; r += gridDim.x) {
    const int32_t n = seq_of_row(d.roff, d.N, r);
    const int64_t t = r - d.roff[n];
    const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
    float v = -HUGE_VALF;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) v = fmaxf(v, row[k]);
    const float mx = block_max(v, shf);
    double acc = 0.0;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) acc += static_cast<double>(expf(row[k] - mx));
    const double sum = block_sum(acc, shd);
    if (threadIdx.x == 0) {
      M[r] = mx;
      inv[r] = 1.0 / sum;
    }
  }
}

// y^t_k of row t of sequence n for each input kind (log-probs: e^x, as decode.cc's counting).
__device__ inline double prob_at(const float* row, int k, int32_t input, float mx, double inv) {
  if (input == SEQLOSS_INPUT_LOGITS) return static_cast<double>(expf(row[k] - mx)) * inv;
  if (input == SEQLOSS_INPUT_LOG_PROBS) return static_cast<double>(expf(row[k]));
  return static_cast<double>(row[k]);
}

// Chunk sums: part[(n·G + g)·C + k] = Σ_{t in chunk g, t < T_n} y^t_k, chunks of `chunk` frames.
// Grid (class blocks, chunks, sequences), the last two looping when there are more than the grid holds.
__global__ void partial_kernel(const float* __restrict__ x, Dense d, const float* __restrict__ M,
                               const double* __restrict__ inv, int32_t G, int32_t chunk, double* __restrict__ part) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= d.C) return;
  for (int32_t n = blockIdx.z; n < d.N; n += gridDim.z) {
    const int32_t Tn = d.Tn[n];
    for (int32_t g = blockIdx.y; g < G; g += gridDim.y) {
      const int64_t t0 = static_cast<int64_t>(g) * chunk;
      const int64_t t1 = t0 + chunk < Tn ? t0 + chunk : Tn;
      double acc = 0.0;
      for (int64_t t = t0; t < t1; ++t) {
        const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
        const int64_t r = d.roff[n] + t;
        const float mx = M != nullptr ? M[r] : 0.0f;
        const double iv = inv != nullptr ? inv[r] : 1.0;
        acc += prob_at(row, k, d.input, mx, iv);
      }
      part[(static_cast<int64_t>(n) * G + g) * d.C + k] = acc;
    }
  }
}

// y[n·C + k] = Σ_g part (chunks in order); with `expected`/`rounded` also the counting outputs.
__global__ void total_kernel(Dense d, int32_t G, const double* __restrict__ part, double* __restrict__ y,
                             float* __restrict__ expected, int32_t* __restrict__ rounded) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<int64_t>(d.N) * d.C) return;
  const int64_t n = i / d.C, k = i - n * d.C;
  double acc = 0.0;
  for (int32_t g = 0; g < G; ++g) acc += part[(n * G + g) * d.C + k];
  if (y != nullptr) y[i] = acc;
  if (expected != nullptr) expected[i] = static_cast<float>(acc);
  if (rounded != nullptr) {
    int32_t r = 0;
    if (acc != acc) {
      r = 0;
    } else if (acc >= 2147483647.0) {
      r = INT32_MAX;
    } else if (acc <= -2147483648.0) {
      r = INT32_MIN;
    } else {
      r = static_cast<int32_t>(llround(acc));
    }
    rounded[i] = r;
  }
}

// ln(e^a + e^b) for a, b < +∞ (−∞ allowed).
__device__ inline double log_add(double a, double b) {
  if (a == -HUGE_VAL) return b;
  if (b == -HUGE_VAL) return a;
  const double m = a > b ? a : b;
  return m + log1p(exp(-fabs(a - b)));
}

// Per sequence: L_n and g_k (see the file comment). counts: N x C floats (the blank column ignored); N_blank =
// T_n − Σ_{k≠blank} N_k from them, in a fixed-tree double sum (exact for integer counts, as the CPU's sequential one).
// y: the class sums Σ_t y_k^t. Out: G = g_k (0 for log-space classes), A = N_k/T_n for log-space classes (else 0)
// with lny their ln y_k, loss = L_n, bad = 1 for a poisoned sequence.
__global__ void ace_loss_kernel(const float* __restrict__ x, Dense d, const float* __restrict__ M,
                                const double* __restrict__ inv, int32_t variant, double eps,
                                const float* __restrict__ counts, const double* __restrict__ y, double* __restrict__ G,
                                double* __restrict__ A, double* __restrict__ lny, double* __restrict__ loss,
                                int32_t* __restrict__ bad) {
  SEQLOSS_SHARED(double, sh, 33);
  const int32_t n = blockIdx.x;
  const int32_t Tn = d.Tn[n];
  const double tn = static_cast<double>(Tn);
  const double teps = tn * eps;
  double labelled = 0.0;
  for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
    if (k != d.blank) labelled += static_cast<double>(counts[static_cast<int64_t>(n) * d.C + k]);
  }
  const double nblank = tn - block_sum(labelled, sh);
  double part = 0.0, probe = 0.0;
  for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
    const int64_t i = static_cast<int64_t>(n) * d.C + k;
    const double nk = k == d.blank ? nblank : static_cast<double>(counts[i]);
    const double sum = y[i];
    const double yk = sum + teps;
    probe += sum - sum;
    double g = 0.0, a = 0.0, l = 0.0;
    if (variant == SEQLOSS_ACE_REGRESSION) {
      const double diff = nk - yk;
      part += 0.5 * diff * diff;
      g = yk - nk;
    } else if (nk > 0 && d.input == SEQLOSS_INPUT_LOGITS && sum < kTiny) {
      // ln y_k = logsumexp_t (x_tk − m_t − ln s_t) ⊕ ln(T_n eps), max-shifted in two passes over the frames.
      double mx = -HUGE_VAL;
      for (int32_t t = 0; t < Tn; ++t) {
        const int64_t r = d.roff[n] + t;
        const double v = static_cast<double>(x[row_offset(d.layout, n, t, d.N, d.T, d.C) + k]) -
                         static_cast<double>(M[r]) + log(inv[r]);
        mx = v > mx ? v : mx;
      }
      double acc = 0.0;
      if (mx > -HUGE_VAL) {
        for (int32_t t = 0; t < Tn; ++t) {
          const int64_t r = d.roff[n] + t;
          acc += exp(static_cast<double>(x[row_offset(d.layout, n, t, d.N, d.T, d.C) + k]) - static_cast<double>(M[r]) +
                     log(inv[r]) - mx);
        }
      }
      l = log_add(mx > -HUGE_VAL ? mx + log(acc) : -HUGE_VAL, teps > 0 ? log(teps) : -HUGE_VAL);
      a = nk / tn;
      part += -a * (l - log(tn));
    } else if (nk > 0) {
      part += -(nk / tn) * log(yk / tn);
      g = -nk / (tn * yk);
    }
    G[i] = g;
    A[i] = a;
    lny[i] = l;
  }
  const double lsum = block_sum(part, sh);
  const double psum = block_sum(probe, sh);
  if (threadIdx.x == 0) {
    const bool poisoned = !(psum == 0.0);
    double l = lsum;
    if (variant != SEQLOSS_ACE_REGRESSION && eps == 0.0 && l < 0.0) l = 0.0;  // a rounding residue
    loss[n] = poisoned ? HUGE_VAL - HUGE_VAL : l;
    bad[n] = poisoned ? 1 : 0;
  }
}

// The gradient rows (all N x T; zero for t >= T_n).
__global__ void ace_rows_kernel(const float* __restrict__ x, Dense d, const float* __restrict__ M,
                                const double* __restrict__ inv, const double* __restrict__ G,
                                const double* __restrict__ A, const double* __restrict__ lny,
                                const int32_t* __restrict__ bad, double scale, float* __restrict__ grad) {
  SEQLOSS_SHARED(double, sh, 33);
  SEQLOSS_SHARED(int32_t, shi, 32);
  const int64_t total = static_cast<int64_t>(d.N) * d.T;
  for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
    const int32_t n = static_cast<int32_t>(b / d.T);
    const int64_t t = b - static_cast<int64_t>(n) * d.T;
    const int64_t off = row_offset(d.layout, n, t, d.N, d.T, d.C);
    float* gr = grad + off;
    if (t >= d.Tn[n] || bad[n] != 0) {
      const float fill = t >= d.Tn[n] ? 0.0f : HUGE_VALF - HUGE_VALF;
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) gr[k] = fill;
      continue;
    }
    const double* g = G + static_cast<int64_t>(n) * d.C;
    const double* a = A + static_cast<int64_t>(n) * d.C;
    const double* ly = lny + static_cast<int64_t>(n) * d.C;
    if (d.input != SEQLOSS_INPUT_LOGITS) {
      for (int k = threadIdx.x; k < d.C; k += blockDim.x) gr[k] = static_cast<float>(scale * g[k]);
      continue;
    }
    const float* row = x + off;
    const int64_t r = d.roff[n] + t;
    const float mx = M[r];
    const double iv = inv[r];
    // The first class with x == m (a block minimum over the indices).
    int32_t first = INT32_MAX;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      if (row[k] == mx && k < first) first = k;
    }
    for (int o = 16; o > 0; o >>= 1) first = min(first, __shfl_down_sync(0xffffffffu, first, o));
    if ((threadIdx.x & 31) == 0) shi[threadIdx.x >> 5] = first;
    __syncthreads();
    if (threadIdx.x == 0) {
      int32_t f = INT32_MAX;
      for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) f = min(f, shi[w]);
      shi[0] = f == INT32_MAX ? 0 : f;
    }
    __syncthreads();
    const double gr0 = g[shi[0]];
    __syncthreads();
    // Log-space classes (a > 0): y_k^t g_k = −a ρ_tk, ρ_tk = e^(x_tk − m_t − ln s_t − ln y_k).
    const double lp0 = log(iv) - static_cast<double>(mx);
    double part = 0.0;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      part += static_cast<double>(expf(row[k] - mx)) * iv * (g[k] - gr0);
      if (a[k] > 0) part -= a[k] * exp(static_cast<double>(row[k]) + lp0 - ly[k]);
    }
    const double dd = block_sum(part, sh);
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      const double yk = static_cast<double>(expf(row[k] - mx)) * iv;
      double v = yk * ((g[k] - gr0) - dd);
      if (a[k] > 0) v -= a[k] * exp(static_cast<double>(row[k]) + lp0 - ly[k]);
      gr[k] = static_cast<float>(scale * v);
    }
  }
}

// ---- decoders -------------------------------------------------------------------------------------------------

// The argmax of every valid row: the sequential rule best = x[0]; if (x[k] > x[best]) best = k.
__global__ void argmax_kernel(const float* __restrict__ x, Dense d, int32_t* __restrict__ am) {
  SEQLOSS_SHARED(float, shv, 32);
  SEQLOSS_SHARED(int32_t, shk, 32);
  for (int64_t r = blockIdx.x; r < d.rows; r += gridDim.x) {
    const int32_t n = seq_of_row(d.roff, d.N, r);
    const int64_t t = r - d.roff[n];
    const float* row = x + row_offset(d.layout, n, t, d.N, d.T, d.C);
    // Candidates: non-NaN values; (v, k) beats (v', k') when v > v', or v == v' and k < k'.
    float bv = -HUGE_VALF;
    int32_t bk = INT32_MAX;
    for (int k = threadIdx.x; k < d.C; k += blockDim.x) {
      const float v = row[k];
      if (v == v && (bk == INT32_MAX || v > bv)) {
        bv = v;
        bk = k;
      }
    }
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_down_sync(0xffffffffu, bv, o);
      const int32_t ok = __shfl_down_sync(0xffffffffu, bk, o);
      if (ok != INT32_MAX && (bk == INT32_MAX || ov > bv || (ov == bv && ok < bk))) {
        bv = ov;
        bk = ok;
      }
    }
    if ((threadIdx.x & 31) == 0) {
      shv[threadIdx.x >> 5] = bv;
      shk[threadIdx.x >> 5] = bk;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float v = shv[0];
      int32_t k = shk[0];
      for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
        if (shk[w] != INT32_MAX && (k == INT32_MAX || shv[w] > v || (shv[w] == v && shk[w] < k))) {
          v = shv[w];
          k = shk[w];
        }
      }
      // x[0] NaN: nothing is larger than it. No candidate at all (every value NaN): 0.
      const float x0 = row[0];
      am[r] = (x0 != x0 || k == INT32_MAX) ? 0 : k;
    }
    __syncthreads();
  }
}

// One thread per sequence: merge repeats (when `merge`), drop blanks; zeros after the decoded labels.
__global__ void collapse_kernel(Dense d, const int32_t* __restrict__ am, int32_t merge, int32_t* __restrict__ labels,
                                int32_t* __restrict__ lengths) {
  const int32_t n = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (n >= d.N) return;
  int32_t* out = labels + static_cast<int64_t>(n) * d.T;
  int32_t len = 0, prev = -1;
  for (int64_t r = d.roff[n]; r < d.roff[n + 1]; ++r) {
    const int32_t k = am[r];
    const bool repeat = merge != 0 && k == prev;
    prev = k;
    if (repeat || k == d.blank) continue;
    out[len++] = k;
  }
  for (int32_t j = len; j < d.T; ++j) out[j] = 0;
  lengths[n] = len;
}

// ---- host side ------------------------------------------------------------------------------------------------

Dense device_dense(const seqloss_problem& p, const DenseHost& h, const DenseMeta& k, const unsigned char* d) {
  Dense m;
  static_cast<Shape&>(m) = shape_of(p, h.rows);
  m.Tn = reinterpret_cast<const int32_t*>(d + k.Tn);
  m.roff = reinterpret_cast<const int64_t*>(d + k.roff);
  return m;
}

// Workspace, metadata and logits for a dense operation, and the softmax statistics when `plan` has that step;
// false (with the call's status set) on failure.
bool start(Call& call, const seqloss_problem& p, const DenseHost& h, const DenseMeta& k, DenseBuffers& b,
           void* workspace, size_t workspace_bytes, const char* size_fn, const LaunchPlan* plan, Dense* m,
           const float** x) {
  const size_t need = b.carve(nullptr, p, h, k.pack.size());
  unsigned char* ws = call.workspace(need, workspace, workspace_bytes, size_fn);
  if (ws == nullptr) return false;
  b.carve(ws, p, h, k.pack.size());
  if (!call.to_device(b.meta, k.pack.data(), k.pack.size(), "cudaMemcpyAsync (metadata)")) return false;
  *m = device_dense(p, h, k, b.meta);
  *x = p.data;
  if (b.copy_data) {
    const size_t bytes = sizeof(float) * static_cast<size_t>(p.batch) * p.time * p.classes;
    if (!call.to_device(b.data, p.data, bytes, "cudaMemcpyAsync (input)")) return false;
    *x = b.data;
  }
  if (const Step* s = plan != nullptr ? plan->find(Kernel::kAceStats) : nullptr) {
    SEQLOSS_LAUNCH(softmax_stats_kernel, s->blocks, s->threads, call.stream(), *x, *m, b.M, b.inv);
    if (!call.launched(kernel_name(s->kernel))) return false;
  }
  return true;
}

// The chunked class sums Σ_t y_k^t (ACE adds T_n eps in its loss kernel), with the plan's two steps.
bool class_sums(Call& call, const LaunchPlan& plan, const Dense& m, const DenseBuffers& b, const float* x, double* y,
                float* expected, int32_t* rounded) {
  const Step* part = plan.find(Kernel::kAcePartial);
  const Step* tot = plan.find(Kernel::kAceTotal);
  if (part == nullptr || tot == nullptr)
    return call.fail_with(SEQLOSS_ERROR_INTERNAL, "no class sums in the plan"), false;
  const dim3 grid(part->dims[0], part->dims[1], part->dims[2]);
  SEQLOSS_LAUNCH(partial_kernel, grid, part->threads, call.stream(), x, m, b.M, b.inv, b.G, b.chunk, b.part);
  if (!call.launched(kernel_name(part->kernel))) return false;
  SEQLOSS_LAUNCH(total_kernel, tot->blocks, tot->threads, call.stream(), m, b.G, b.part, y, expected, rounded);
  return call.launched(kernel_name(tot->kernel));
}

// Chunks of kChunk frames, or longer ones so that there are at most 65535 (the grid's y limit).
void set_chunks(const DenseHost& h, DenseBuffers* b) { ace_chunks(h.tmax, &b->chunk, &b->G); }

void plan_ace_buffers(const seqloss_problem& p, const seqloss_exec& e, const seqloss_ace_outputs* out,
                      const DenseHost& h, DenseBuffers* b) {
  ace_buffers(p, e.memory, out == nullptr || out->grad != nullptr, h, b);
}

}  // namespace

// ---- ACE ------------------------------------------------------------------------------------------------------

seqloss_status ace_workspace_bytes(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                                   const seqloss_ace_outputs* out, size_t* bytes, Message msg) {
  (void)o;
  const seqloss_status dev = check_device(e, msg);
  if (dev != SEQLOSS_OK) return dev;
  const DenseHost h = plan_dense(p);
  const DenseMeta k = pack_dense(h);
  DenseBuffers b;
  plan_ace_buffers(p, e, out, h, &b);
  *bytes = b.carve(nullptr, p, h, k.pack.size()) + kWorkspaceSlack;
  return SEQLOSS_OK;
}

seqloss_status ace(const seqloss_problem& p, const seqloss_ace_options& o, const seqloss_exec& e,
                   const seqloss_ace_outputs& out, void* workspace, size_t workspace_bytes, Message msg) {
  const DenseHost h = plan_dense(p);
  const DenseMeta k = pack_dense(h);
  DenseBuffers b;
  plan_ace_buffers(p, e, &out, h, &b);
  const int32_t N = p.batch;
  const int64_t nc = static_cast<int64_t>(N) * p.classes;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) {
    call.device_array(p.data, dense_bytes(p), data_name(p.input));
    call.device_array(out.grad, dense_bytes(p), "grad");
  }
  if (!call.ok()) return call.finish();
  const LaunchPlan plan = plan_ace(p, e.memory, out.grad != nullptr, h, b.G, k.pack.size(), 0);
  Dense m;
  const float* x = nullptr;
  if (!start(call, p, h, k, b, workspace, workspace_bytes, "seqloss_ace_workspace_size", &plan, &m, &x)) {
    return call.finish();
  }
  call.to_device(b.cnt, p.counts, sizeof(float) * static_cast<size_t>(nc), "cudaMemcpyAsync (counts)");
  if (!call.ok()) return call.finish();
  if (!class_sums(call, plan, m, b, x, b.y, nullptr, nullptr)) return call.finish();
  const Step* loss_step = plan.find(Kernel::kAceLoss);
  SEQLOSS_LAUNCH(ace_loss_kernel, loss_step->blocks, loss_step->threads, call.stream(), x, m, b.M, b.inv, o.variant,
                 o.eps, b.cnt, b.y, b.G_, b.A, b.lny, b.loss, b.bad);
  if (!call.launched(kernel_name(loss_step->kernel))) return call.finish();
  float* grad = out.grad == nullptr ? nullptr : (b.host_grad ? b.grad : out.grad);
  const double scale = o.reduction == SEQLOSS_REDUCTION_MEAN ? 1.0 / N : 1.0;
  if (const Step* rows = plan.find(Kernel::kAceRows)) {
    SEQLOSS_LAUNCH(ace_rows_kernel, rows->blocks, rows->threads, call.stream(), x, m, b.M, b.inv, b.G_, b.A, b.lny,
                   b.bad, scale, grad);
    if (!call.launched(kernel_name(rows->kernel))) return call.finish();
    if (b.host_grad) {
      call.to_host(out.grad, b.grad, sizeof(float) * static_cast<size_t>(N) * p.time * p.classes,
                   "cudaMemcpyAsync (grad)");
    }
  }
  std::vector<double> loss(static_cast<size_t>(N));
  call.to_host(loss.data(), b.loss, sizeof(double) * N, "cudaMemcpyAsync (losses)");
  const seqloss_status st = call.finish();
  if (st != SEQLOSS_OK) return st;
  double total = 0.0;
  for (int32_t n = 0; n < N; ++n) {
    out.losses[n] = static_cast<float>(loss[static_cast<size_t>(n)]);
    total += loss[static_cast<size_t>(n)];
  }
  if (o.reduction == SEQLOSS_REDUCTION_MEAN) total /= N;
  if (out.loss != nullptr) *out.loss = total;
  return SEQLOSS_OK;
}

// ---- decoders and counting ------------------------------------------------------------------------------------

seqloss_status greedy_decode(const seqloss_problem& p, const seqloss_exec& e, bool ace, bool merge, int32_t* labels,
                             int32_t* lengths, Message msg) {
  (void)ace;
  const DenseHost h = plan_dense(p);
  const DenseMeta k = pack_dense(h);
  DenseBuffers b;
  b.copy_data = e.memory == SEQLOSS_MEMORY_HOST;
  b.decode = true;
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  Dense m;
  const float* x = nullptr;
  if (!start(call, p, h, k, b, nullptr, 0, "", nullptr, &m, &x)) return call.finish();
  if (h.rows > 0) {
    SEQLOSS_LAUNCH(argmax_kernel, row_grid(h.rows), block_threads(p.classes, kRowThreads), call.stream(), x, m, b.am);
    if (!call.launched("argmax_kernel")) return call.finish();
  }
  SEQLOSS_LAUNCH(collapse_kernel, grid_for(p.batch, 128), 128, call.stream(), m, b.am, merge ? 1 : 0, b.labels,
                 b.lengths);
  if (!call.launched("collapse_kernel")) return call.finish();
  call.to_host(labels, b.labels, sizeof(int32_t) * static_cast<size_t>(p.batch) * p.time, "cudaMemcpyAsync (labels)");
  call.to_host(lengths, b.lengths, sizeof(int32_t) * static_cast<size_t>(p.batch), "cudaMemcpyAsync (lengths)");
  return call.finish();
}

seqloss_status ace_count(const seqloss_problem& p, const seqloss_exec& e, float* expected, int32_t* rounded,
                         Message msg) {
  const DenseHost h = plan_dense(p);
  const DenseMeta k = pack_dense(h);
  DenseBuffers b;
  b.copy_data = e.memory == SEQLOSS_MEMORY_HOST;
  b.stats = p.input == SEQLOSS_INPUT_LOGITS;
  b.counts = true;
  set_chunks(h, &b);
  Call call(e, msg);
  if (e.memory == SEQLOSS_MEMORY_DEVICE) call.device_array(p.data, dense_bytes(p), data_name(p.input));
  if (!call.ok()) return call.finish();
  // Counting runs the class sums of ACE's plan (and its softmax statistics for logits).
  const LaunchPlan plan = plan_ace(p, e.memory, false, h, b.G, k.pack.size(), 0);
  Dense m;
  const float* x = nullptr;
  if (!start(call, p, h, k, b, nullptr, 0, "", &plan, &m, &x)) return call.finish();
  if (!class_sums(call, plan, m, b, x, nullptr, b.expected, b.rounded)) return call.finish();
  const size_t nc = static_cast<size_t>(p.batch) * p.classes;
  call.to_host(expected, b.expected, sizeof(float) * nc, "cudaMemcpyAsync (expected)");
  if (rounded != nullptr) call.to_host(rounded, b.rounded, sizeof(int32_t) * nc, "cudaMemcpyAsync (rounded)");
  return call.finish();
}

}  // namespace cuda
}  // namespace seqloss
