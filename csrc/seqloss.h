/*
 * seqloss.h — the C ABI of seqloss: the one contract between every frontend (the N-API addon, the C++ tests,
 * a ctypes benchmark) and every backend (CPU in csrc/cpu, CUDA in cuda/).
 *
 * Conventions
 *  - Plain C types only; every pointer is owned by the caller. Nothing is retained after a call returns.
 *  - Sizes are int64 element counts (not bytes) so that the library can re-check every buffer it touches.
 *  - Every entry returns a seqloss_status and, on failure, writes a NUL-terminated message into
 *    (message, message_size) when message is not NULL. On failure no output is guaranteed to be written.
 *  - Dense inputs are float32 with layout NTC (index (n*T + t)*C + k) or TNC (index (t*N + n)*C + k);
 *    gradients and posteriors are written in the same layout as the input. 2D ACE maps (NHWC) are passed as
 *    1D NTC with T = H*W: the row-major flatten t = h*W + w is exactly that memory order.
 *  - Lengths, targets and counts always live in host memory. The dense N*T*C arrays (`data`, `grad`,
 *    `posterior`) live in host memory unless seqloss_exec.memory says SEQLOSS_MEMORY_DEVICE (CUDA backend only):
 *    then they are device pointers on exec.device (checked: a host pointer is a RANGE error, not a fault). Every
 *    other output (losses, loss, alignment, paths, scores, decoder labels and lengths, counts) is host memory in
 *    both modes.
 *  - Workspace: each operation has a *_workspace_size twin. Pass a buffer of at least that many bytes (host
 *    memory for the CPU backend, device memory on exec.device for the CUDA backend, any alignment: the size
 *    includes the slack to align it), or NULL/0 to let the call allocate its own (CUDA: from seqloss's own
 *    stream-ordered memory pool on the device, which keeps up to 256 MiB of freed memory for the next call and
 *    leaves the device's default pool as it is). With host memory the CUDA workspace also holds the device copies
 *    of the dense arrays. A CUDA workspace, and the dense arrays with memory = device, are checked before use:
 *    device memory of exec.device whose allocation holds the whole range (a RANGE error otherwise).
 *  - CUDA calls run on exec.stream (NULL: the legacy default stream), with no host synchronisation between their
 *    kernels, and synchronise that stream once before returning, on success and on failure (the host outputs are
 *    then written, and nothing queued by the call is left running). An error the caller's own CUDA code left
 *    pending (cudaGetLastError) is cleared at entry, not reported as the call's.
 *  - No output may share memory with an input (data, lengths, targets, counts) or with another output: every
 *    entry checks the byte ranges and answers SEQLOSS_ERROR_RANGE naming both arrays.
 *  - Inputs must not change while a call runs (the library reads some of them more than once).
 *  - Results are deterministic: the same inputs give bitwise the same outputs for any thread count.
 */
#ifndef SEQLOSS_H
#define SEQLOSS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SEQLOSS_API __declspec(dllexport)
#else
#define SEQLOSS_API __attribute__((visibility("default")))
#endif

#define SEQLOSS_ABI_VERSION 7 /* 7: ACE from labels (counts NULL); 6: seqloss_cuda_plan_call */

typedef enum seqloss_status {
  SEQLOSS_OK = 0,
  SEQLOSS_ERROR_TYPE = 1,        /* an argument of the wrong kind (e.g. a NULL pointer where data is needed) */
  SEQLOSS_ERROR_RANGE = 2,       /* a value out of range: sizes, lengths, labels, counts, overflowing products */
  SEQLOSS_ERROR_UNSUPPORTED = 3, /* a valid request this build or backend cannot serve (e.g. CUDA not compiled) */
  SEQLOSS_ERROR_DEVICE = 4,      /* a CUDA runtime failure */
  SEQLOSS_ERROR_ALLOC = 5,       /* out of memory */
  SEQLOSS_ERROR_INTERNAL = 6
} seqloss_status;

typedef enum seqloss_layout { SEQLOSS_LAYOUT_NTC = 0, SEQLOSS_LAYOUT_TNC = 1 } seqloss_layout;

typedef enum seqloss_input_kind {
  SEQLOSS_INPUT_LOGITS = 0,    /* unnormalised scores: softmax is applied inside */
  SEQLOSS_INPUT_LOG_PROBS = 1, /* log-probabilities, used as given (CTC only) */
  SEQLOSS_INPUT_PROBS = 2      /* probabilities, used as given (ACE only) */
} seqloss_input_kind;

typedef enum seqloss_reduction {
  SEQLOSS_REDUCTION_NONE = 0,
  SEQLOSS_REDUCTION_SUM = 1,
  SEQLOSS_REDUCTION_MEAN = 2
} seqloss_reduction;

typedef enum seqloss_backend { SEQLOSS_BACKEND_CPU = 0, SEQLOSS_BACKEND_CUDA = 1 } seqloss_backend;

typedef enum seqloss_memory { SEQLOSS_MEMORY_HOST = 0, SEQLOSS_MEMORY_DEVICE = 1 } seqloss_memory;

/* A persistent pool of CPU threads (seqloss_pool_create); opaque. */
typedef struct seqloss_pool seqloss_pool;

typedef enum seqloss_ace_variant {
  SEQLOSS_ACE_CE = 0,        /* cross-entropy, ACE paper Eq. (8) */
  SEQLOSS_ACE_REGRESSION = 1 /* squared error, ACE paper Eq. (4) */
} seqloss_ace_variant;

/* The shape of a batch and its supervision. Shared by every operation; fields an operation does not use are
 * ignored (documented per entry). */
typedef struct seqloss_problem {
  int32_t batch;                 /* N >= 1 */
  int32_t time;                  /* T >= 1 (H*W for 2D ACE) */
  int32_t classes;               /* C >= 1 (>= 2 when a blank and a label must coexist) */
  int32_t layout;                /* seqloss_layout */
  int32_t input;                 /* seqloss_input_kind */
  int32_t blank;                 /* 0 <= blank < C */
  const float* data;             /* the dense input, N*T*C floats in `layout` */
  int64_t data_size;             /* element count of `data`; must equal N*T*C */
  const int32_t* input_lengths;  /* N values in [0, T] ([1, T] for ACE), or NULL for all T */
  int64_t input_lengths_size;    /* element count of `input_lengths`; must be >= N when it is not NULL */
  const int32_t* targets;        /* CTC (and ACE without counts): concatenated labels, each in [0, C) and != blank */
  int64_t targets_size;          /* element count of `targets`; must be >= sum(target_lengths) */
  const int32_t* target_lengths; /* CTC (and ACE without counts): N values >= 0 (ACE: at most T_n) */
  int64_t target_lengths_size;   /* element count of `target_lengths`; must be >= N */
  const float* counts; /* ACE: N*C per-class counts N_k (finite, >= 0; the blank column is ignored and replaced
                          by T_n - sum of the others, which must not be negative). NULL: N_k is the number of
                          times class k occurs in sequence n's labels (targets, target_lengths), which no backend
                          expands into a dense N*C array (the CUDA host work is then O(N + sum L)) */
  int64_t counts_size; /* element count of `counts`; must equal N*C */
} seqloss_problem;

/* Where and how to run. */
typedef struct seqloss_exec {
  int32_t backend;    /* seqloss_backend */
  int32_t device;     /* CUDA device index (ignored by the CPU backend); past the last device: a RANGE error; a device
                      this build cannot run on: an UNSUPPORTED error */
  int32_t memory;     /* seqloss_memory of `data` and of the dense outputs */
  int32_t threads;    /* CPU threads; 0 = one per hardware thread */
  void* stream;       /* cudaStream_t (CUDA backend), or NULL for the legacy default stream: then a call is ordered
                      after everything queued before it on that stream and on every blocking stream of the device,
                      as the caller's own work on stream 0 is. Code built with --default-stream per-thread passes
                      cudaStreamPerThread explicitly. */
  seqloss_pool* pool; /* CPU backend: the threads to run on (seqloss_pool_create), used by min(threads, pool size)
                         threads, the caller included; NULL: threads are started per call and joined before it
                         returns. Either way a small call (under 16384 = N*T*C elements) runs on the calling
                         thread only. The results do not depend on it. The caller must hold a reference to the
                         pool when the call starts; the call takes its own for its duration. */
} seqloss_exec;

/* The scope of the alpha modification (iterative fitting, Eq. 13-14): sums over the whole batch (as the
 * authors' code) or over each sequence on its own. */
typedef enum seqloss_fit_scope { SEQLOSS_FIT_SCOPE_BATCH = 0, SEQLOSS_FIT_SCOPE_SEQUENCE = 1 } seqloss_fit_scope;

/* The convention of CTC's gradient for input LOG_PROBS (ABI 5). With LOGITS both give d loss / d logits,
 * w_n (y_t - y'_t): the conventions differ only in what they call the gradient of a log-probability.
 *  EXACT:   d loss / d x for free log-probs x, -w_n y'_tk (the loss reads only the label's classes).
 *  PYTORCH: w_n (e^(x_tk) - y'_tk), the log-probs gradient of PyTorch's F.ctc_loss, which assumes x = log_softmax(z):
 *           the two differ by w_n e^(x_t), which log_softmax's backward maps to 0 when the row sums to 1, so both
 *           give the same d loss / d z. Frames t >= T_n are 0 in both; so are impossible sequences (PyTorch writes NaN
 *           for those without zero_infinity, 0 with it) and NaN sequences keep their NaN rows. */
typedef enum seqloss_grad_convention { SEQLOSS_GRAD_EXACT = 0, SEQLOSS_GRAD_PYTORCH = 1 } seqloss_grad_convention;

typedef struct seqloss_ctc_options {
  int32_t reduction;     /* seqloss_reduction: scales `grad` and defines `loss` */
  int32_t zero_infinity; /* infinite losses (impossible alignments) become 0 */
  /* CTC as iterative fitting (Li & Wang): modifications of the fitted target y'. They need input LOGITS and change
   * only grad and posterior; the losses are those of plain CTC. Both zero = plain CTC.
   *  alpha (Eq. 13-16): in (0, 1), the non-blank share of y'. Over the scope (fit_alpha_scope; sequences without a
   *    feasible alignment are left out): V_k = sum of y'_tk over valid frames, N_k = occurrences of label k,
   *    L = sum_{k != blank} N_k. y'_tk *= alpha N_k / V_k (k != blank), (1 - alpha) L / V_blank (blank), 0 where
   *    V_k = 0; then every frame is renormalised to sum 1. A scope with L = 0 is left unchanged.
   *  gamma (Eq. 17-18): >= 0. w_t = max(0, max_k (y'_tk - y_tk)) with y' after alpha; per sequence
   *    w^_t = T_n w_t^gamma / sum_{t' < T_n} w_t'^gamma (1 when the sum is 0); grad row t = w^_t (y_t - y'_t). */
  double fit_alpha;        /* 0 = off, else in (0, 1) */
  double fit_gamma;        /* 0 = off (the identity), else finite > 0 */
  int32_t fit_alpha_scope; /* seqloss_fit_scope */
  int32_t grad_convention; /* seqloss_grad_convention (ABI 5; before it this field was `reserved`, always 0, and 0
                              still means EXACT: an older caller's zeroed struct keeps its meaning) */
} seqloss_ctc_options;

typedef struct seqloss_ctc_outputs {
  float* losses;       /* N: -log p(l|x) per sequence (+inf when impossible, 0 with zero_infinity); required */
  int64_t losses_size; /* must be >= N */
  double* loss;        /* host scalar: the reduced loss; may be NULL */
  float* grad;         /* N*T*C in the input layout, d loss / d input; may be NULL */
  int64_t grad_size;
  float* posterior; /* N*T*C in the input layout, y'_tk = p(pi_t = k | l, x); may be NULL */
  int64_t posterior_size;
} seqloss_ctc_outputs;

typedef struct seqloss_ace_options {
  int32_t reduction; /* seqloss_reduction */
  int32_t variant;   /* seqloss_ace_variant */
  double eps;        /* added to every probability before aggregation (ACE code: 1e-10); finite, >= 0 */
} seqloss_ace_options;

typedef struct seqloss_ace_outputs {
  float* losses;       /* N; required */
  int64_t losses_size; /* must be >= N */
  double* loss;        /* host scalar: the reduced loss; may be NULL */
  float* grad;         /* N*T*C in the input layout; may be NULL */
  int64_t grad_size;
} seqloss_ace_outputs;

typedef enum seqloss_dctc_alignment {
  SEQLOSS_DCTC_RATIO = 0, /* z*_t = argmax_k y'_tk / max(P_tk, 1e-8) (the DCTC code: argmin_k G_tk / max(P_tk, 1e-8)) */
  SEQLOSS_DCTC_POSTERIOR = 1, /* z*_t = argmax_k y'_tk */
  SEQLOSS_DCTC_VITERBI = 2    /* z*_t = the frame labels of the most probable path that collapses to l */
} seqloss_dctc_alignment;

typedef struct seqloss_dctc_options {
  int32_t reduction;     /* seqloss_reduction; mean = batch mean of L_n (no division by L_n, as the DCTC code) */
  int32_t zero_infinity; /* an infinite CTC term (impossible alignment) becomes 0 */
  int32_t alignment;     /* seqloss_dctc_alignment */
  int32_t reserved;      /* must be 0 */
  double lambda;         /* weight of the distillation term; finite >= 0 */
  double ctc_weight;     /* beta, weight of the CTC term; finite >= 0 (0: the CTC term is left out) */
  double scale;          /* s: P = softmax(s a); in (0, 1e6] */
  double margin;         /* m: the distillation target's logit is lowered by s m; in [0, 1e30] (so that s m and
                            s (a - max a) are finite for every float32 logit a) */
} seqloss_dctc_options;

typedef struct seqloss_dctc_outputs {
  float* losses;       /* N: L_n = beta ctc_n + lambda distill_n; required */
  int64_t losses_size; /* must be >= N */
  double* loss;        /* host scalar: the reduced loss; may be NULL */
  float* grad;         /* N*T*C in the input layout, d loss / d logits; may be NULL */
  int64_t grad_size;
  int32_t* alignment; /* N*T: z*_t for t < T_n, -1 after; may be NULL */
  int64_t alignment_size;
  float* ctc_losses; /* N: ctc_n = -ln p(l | P) (+inf when impossible, 0 with zero_infinity); may be NULL */
  int64_t ctc_losses_size;
  float* distill_losses; /* N: distill_n = sum_{t<T_n} -ln softmax(s a_t - s m e_{z*_t})[z*_t]; may be NULL */
  int64_t distill_losses_size;
} seqloss_dctc_outputs;

typedef struct seqloss_align_outputs {
  int32_t* paths;      /* N*T: the class of the best path at each frame t < T_n, -1 after it; a row of -1 when no
                          path collapses to the label; required */
  int64_t paths_size;  /* must be >= N*T */
  float* scores;       /* N: ln p of that path, -inf when none; required */
  int64_t scores_size; /* must be >= N */
} seqloss_align_outputs;

/* ---- version and discovery ------------------------------------------------------------------------------- */

SEQLOSS_API int32_t seqloss_abi_version(void);
SEQLOSS_API const char* seqloss_version(void);
/* Human-readable name of a status code (static storage). */
SEQLOSS_API const char* seqloss_status_name(seqloss_status status);
/* Threads the CPU backend uses when exec.threads == 0. */
SEQLOSS_API int32_t seqloss_cpu_threads(void);

typedef struct seqloss_cuda_device {
  int32_t index;
  char name[256];
  int32_t major, minor; /* compute capability */
  int64_t total_memory; /* bytes */
  int32_t multiprocessors;
  int32_t usable;   /* 1 when this build holds code the device can run (its architecture, or PTX it can
                                  compile); a call on an unusable device is an UNSUPPORTED error naming the reason */
  char reason[256]; /* why the device is not usable, empty when it is */
} seqloss_cuda_device;

typedef struct seqloss_cuda_info {
  int32_t compiled;        /* 1 when this build contains the CUDA backend */
  int32_t emulated;        /* 1 when that backend runs on the SIMT host (a build with SEQLOSS_CUDA_EMULATE): the
                              devices are emulated on the CPU, for testing the kernels' logic, not for speed */
  int32_t runtime_version; /* cudaRuntimeGetVersion, e.g. 13000; 0 when not compiled */
  int32_t driver_version;  /* cudaDriverGetVersion; 0 when no driver is installed */
  int32_t device_count;    /* devices the runtime enumerates (usable or not); 0 when none */
  int32_t usable_devices;  /* how many of them this build can run on */
  char architectures[256]; /* the build's CUDA architectures, e.g. "75;80;86;89;90;100;120" */
  char reason[512];        /* why CUDA is unavailable, empty when usable_devices > 0 */
} seqloss_cuda_info;

/* Fills `info`; never fails when CUDA is absent (it says why in info->reason). */
SEQLOSS_API seqloss_status seqloss_cuda_query(seqloss_cuda_info* info);
/* Fills `device` for 0 <= index < info.device_count (usable or not). Asks only for properties: no CUDA context is
 * created on the device. */
SEQLOSS_API seqloss_status seqloss_cuda_device_query(int32_t index, seqloss_cuda_device* device, char* message,
                                                     size_t message_size);

/* ---- thread pools ---------------------------------------------------------------------------------------- */
/* Starts a pool of `threads` CPU threads (0 = seqloss_cpu_threads(); at most 1024): threads - 1 workers, the thread
 * of each call being the last. Reference counted: *pool holds one reference, owned by the caller. A call with
 * exec.pool = pool takes its own reference for its duration, so the creator may release its reference while calls
 * on other threads still run. Several threads may call with one pool at once: the calls take turns (first come,
 * first served), each with all the pool's threads; a call made from inside a call on the same pool runs on its
 * calling thread alone. No global state: pools are independent of each other. */
SEQLOSS_API seqloss_status seqloss_pool_create(int32_t threads, seqloss_pool** pool, char* message,
                                               size_t message_size);
/* Adds one reference (NULL: nothing), for work that will use the pool later than the caller can vouch for it (an
 * asynchronous call queued now and run on another thread): take it when queueing, release it when done. */
SEQLOSS_API void seqloss_pool_retain(seqloss_pool* pool);
/* Drops one reference (NULL: nothing). The last one stops the workers and joins them, on the calling thread; it
 * must not be dropped by a thread of the pool itself (seqloss never does). */
SEQLOSS_API void seqloss_pool_release(seqloss_pool* pool);

/* ---- CTC ------------------------------------------------------------------------------------------------- */
/* Uses: batch, time, classes, layout, input (LOGITS or LOG_PROBS), blank, data, input_lengths, targets,
 * target_lengths. Loss -log p(l|x) by the forward-backward algorithm (Graves et al. 2006), exact as in log space
 * (extended-range arithmetic: a double mantissa and an int64 exponent on the CPU, a float-float mantissa and an
 * int32 exponent on CUDA, where a likelihood below 2^-(2^29) counts as 0).
 * grad: for LOGITS softmax(x) - y'; for LOG_PROBS -y' (the log-probs taken as free inputs); times the reduction
 * scale (mean: 1 / (N * max(L_n, 1)), sum and none: 1); zero on frames t >= T_n and for impossible sequences.
 * Numerics at the extremes (README), the same on every backend, exact for every float32 input:
 *  - per frame the log-probabilities are taken relative to the frame's largest over all C classes (logits:
 *    (x - max x) - ln sum e^(x - max x), in double); ln p(l|x) adds the frames' shifts back in double, and each
 *    frame's posterior is normalised by its own total;
 *  - a class more than 1e8 below its frame's largest log-probability has probability exactly 0 (a label class at
 *    logit -1e30 on every frame: loss +inf, zero rows, 0 with zero_infinity);
 *  - a NaN or +inf in any class of a frame t < T_n, or (LOGITS) a frame of only -inf: loss NaN (zero_infinity does
 *    not apply), NaN grad and posterior rows t < T_n (rows t >= T_n stay 0); -inf log-probs are probability 0;
 *  - LOGITS: a loss that rounds below 0 is 0 (-ln p >= 0 exactly); LOG_PROBS: as computed. A finite loss beyond
 *    float32 is +inf in losses and exact in the double loss. */
SEQLOSS_API seqloss_status seqloss_ctc_workspace_size(const seqloss_problem* problem,
                                                      const seqloss_ctc_options* options, const seqloss_exec* exec,
                                                      size_t* bytes, char* message, size_t message_size);
SEQLOSS_API seqloss_status seqloss_ctc(const seqloss_problem* problem, const seqloss_ctc_options* options,
                                       const seqloss_exec* exec, const seqloss_ctc_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size);

/* ---- DCTC ------------------------------------------------------------------------------------------------ */
/* Distillation CTC (Zhang et al., AAAI 2024). Uses what seqloss_ctc uses; input must be LOGITS (a).
 * Per sequence, with P = softmax(s a) and y' the CTC posterior under P: z* by options.alignment (frames where
 * y'_t is all zero, i.e. impossible sequences, get the blank); L_n = beta ctc_n + lambda distill_n (see
 * seqloss_dctc_outputs), no gradient through z*.
 * grad_t = r s [beta (P_t - y'_t) + lambda (Q_t - e_{z*_t})] for t < T_n, with Q_t = softmax(s a_t - s m e_{z*_t}),
 * r the reduction scale (mean: 1/N; sum, none: 1); the CTC part is zero for impossible sequences.
 * z* ties ('ratio', 'posterior'): keys (y'_k / max(P_k, 1e-8), or y'_k) within a relative 1e-6 of the largest are
 * tied; among them the posteriors y'_k within a relative 1e-6 of their largest; then the lowest class. The CTC term
 * follows seqloss_ctc's numerics (>= 0; NaN in, NaN out: NaN losses, both terms, NaN rows t < T_n, z* = blank
 * there). s (a - max a) and s m are formed in double and the distillation term in log space
 * (CE = softplus(ln sum_{k != z} e^(s a_k) - s a_z + s m)), exact for every finite logit with s in (0, 1e6] and
 * m in [0, 1e30]. */
SEQLOSS_API seqloss_status seqloss_dctc_workspace_size(const seqloss_problem* problem,
                                                       const seqloss_dctc_options* options, const seqloss_exec* exec,
                                                       size_t* bytes, char* message, size_t message_size);
SEQLOSS_API seqloss_status seqloss_dctc(const seqloss_problem* problem, const seqloss_dctc_options* options,
                                        const seqloss_exec* exec, const seqloss_dctc_outputs* outputs, void* workspace,
                                        size_t workspace_bytes, char* message, size_t message_size);

/* ---- Viterbi alignment ----------------------------------------------------------------------------------- */
/* The single most probable path pi (frames t < T_n) with B(pi) = l: argmax_pi sum_t ln y^t_{pi_t} (as torchaudio's
 * forced_align, batched). The recursion runs in double on the log-probabilities relative to each frame's largest
 * (as seqloss_ctc: the same doubles on every backend, so ties and paths are identical everywhere; below -1e8
 * probability 0), the score then adds the frames' shifts. Ties: staying in a state before advancing before
 * skipping; at the end the final blank before the last label. A NaN or +inf in a frame t < T_n (LOGITS: or a frame
 * of only -inf): score NaN and a path row of -1. Uses: batch, time, classes, layout, input (LOGITS or LOG_PROBS), blank, data,
 * input_lengths, targets, target_lengths. */
SEQLOSS_API seqloss_status seqloss_ctc_align_workspace_size(const seqloss_problem* problem, const seqloss_exec* exec,
                                                            size_t* bytes, char* message, size_t message_size);
SEQLOSS_API seqloss_status seqloss_ctc_align(const seqloss_problem* problem, const seqloss_exec* exec,
                                             const seqloss_align_outputs* outputs, void* workspace,
                                             size_t workspace_bytes, char* message, size_t message_size);

/* ---- ACE ------------------------------------------------------------------------------------------------- */
/* Uses: batch, time, classes, layout, input (LOGITS or PROBS), blank, data, input_lengths, counts (or, with counts
 * NULL, targets and target_lengths: N_k = the occurrences of k in sequence n's labels, bitwise the same results).
 * y_k = sum_{t<T_n} (y_k^t + eps) = sum_t y_k^t + T_n eps; CE (Eq. 8): L = -sum_k (N_k/T_n) ln(y_k/T_n) over classes
 * with N_k > 0; regression (Eq. 4): L = 1/2 sum_k (N_k - y_k)^2; N_blank = T_n - sum_{k != blank} N_k.
 * eps enters only y_k (so the loss, and g_k = dL/dy_k^t: CE -N_k/(T_n y_k), regression y_k - N_k); it has no
 * derivative, so the softmax Jacobian of LOGITS, grad_tk = y_k^t (g_k - sum_j g_j y_j^t) (Eq. 9), sees the plain
 * y_k^t. Reduction scale: mean 1/N, sum and none 1.
 * Extremes (the same on every backend): no softmax value is flushed to 0 and no aggregate underflows: for every
 * finite float input the loss and gradient are those of exact arithmetic rounded (LOGITS: y_k from
 * ln y_k = logsumexp_t ln y_k^t where it is tiny; the gradient's terms y_k^t / y_k <= 1). CE with eps = 0 is >= 0
 * exactly, so a negative rounding residue is returned as 0 (with eps > 0 a slightly negative loss is genuine and
 * kept). A sequence with NaN or +inf in a frame t < T_n, a LOGITS frame that is all -inf, or a non-finite PROBS
 * value there, gets loss NaN and NaN gradient rows t < T_n (rows t >= T_n stay 0). y_k = 0 (only with -inf logits
 * or zero probabilities and eps = 0) gives CE loss +inf. */
SEQLOSS_API seqloss_status seqloss_ace_workspace_size(const seqloss_problem* problem,
                                                      const seqloss_ace_options* options, const seqloss_exec* exec,
                                                      size_t* bytes, char* message, size_t message_size);
SEQLOSS_API seqloss_status seqloss_ace(const seqloss_problem* problem, const seqloss_ace_options* options,
                                       const seqloss_exec* exec, const seqloss_ace_outputs* outputs, void* workspace,
                                       size_t workspace_bytes, char* message, size_t message_size);

/* ---- decoders -------------------------------------------------------------------------------------------- */
/* Greedy CTC decode: per frame t < T_n the argmax class (ties to the lowest index), merge repeats, drop blanks.
 * Uses: batch, time, classes, layout, blank, data, input_lengths.
 * Writes labels of sequence n to labels[n*T ...] (labels_size must be >= N*T) and its length to lengths[n]
 * (lengths_size must be >= N). */
SEQLOSS_API seqloss_status seqloss_ctc_greedy_decode(const seqloss_problem* problem, const seqloss_exec* exec,
                                                     int32_t* labels, int64_t labels_size, int32_t* lengths,
                                                     int64_t lengths_size, char* message, size_t message_size);
/* ACE decode: per position t < T_n (flatten order) the argmax class, drop blanks; repeats merged only when
 * collapse_repeats != 0 (before dropping blanks, as CTC does). Same output convention as the CTC decoder. */
SEQLOSS_API seqloss_status seqloss_ace_decode(const seqloss_problem* problem, int32_t collapse_repeats,
                                              const seqloss_exec* exec, int32_t* labels, int64_t labels_size,
                                              int32_t* lengths, int64_t lengths_size, char* message,
                                              size_t message_size);
/* ACE counting: expected[n*C + k] = sum_{t<T_n} y_k^t (softmax of logits, or the probabilities as given),
 * rounded[n*C + k] = the double sum's nearest integer (half away from zero) saturated to [-2^31, 2^31 - 1] (so
 * +-inf give the bounds), NaN -> 0; the same on every backend. expected_size and rounded_size must be >= N*C;
 * rounded may be NULL. Uses: batch, time, classes, layout, input (LOGITS: softmax; LOG_PROBS: exp; PROBS: as
 * given), data, input_lengths. */
SEQLOSS_API seqloss_status seqloss_ace_count(const seqloss_problem* problem, const seqloss_exec* exec, float* expected,
                                             int64_t expected_size, int32_t* rounded, int64_t rounded_size,
                                             char* message, size_t message_size);

/* ---- the CUDA launch plan (ABI 6) ----------------------------------------------------------------------- */
/* What the CUDA backend would launch for a call, and a cost model of it, without a device and without reading
 * `data` (it may be NULL; data_size must still be N*T*C): the same planning functions the CUDA entries run, so
 * the figures describe the code, not a separate account of it. Available in every build (bench/gpu/model.mjs). */
typedef enum seqloss_op {
  SEQLOSS_OP_CTC = 0,
  SEQLOSS_OP_DCTC = 1,
  SEQLOSS_OP_CTC_ALIGN = 2,
  SEQLOSS_OP_ACE = 3
} seqloss_op;

#define SEQLOSS_PLAN_GRAD 1      /* the call asks for the gradient */
#define SEQLOSS_PLAN_POSTERIOR 2 /* CTC: and for the posterior */
#define SEQLOSS_PLAN_MAX_STEPS 24

typedef struct seqloss_cuda_plan_request {
  int32_t op;         /* seqloss_op */
  int32_t outputs;    /* SEQLOSS_PLAN_GRAD | SEQLOSS_PLAN_POSTERIOR */
  int32_t memory;     /* seqloss_memory: HOST adds the copies of the dense arrays */
  int32_t fp64_ratio; /* the device's single-to-double performance ratio (cudaDevAttrSingleToDoublePrecisionPerfRatio:
                         2 on H100/A100, 32 on GTX 1080 Ti, 64 on RTX 4090); >= 1. The plans are the same for every
                         ratio today; the FP64 counts are those of a device with it */
  const seqloss_ctc_options* ctc;   /* op CTC */
  const seqloss_dctc_options* dctc; /* op DCTC */
  const seqloss_ace_options* ace;   /* op ACE */
} seqloss_cuda_plan_request;

typedef struct seqloss_cuda_step {
  char kernel[32];
  uint64_t blocks;
  int32_t threads;      /* per block */
  int32_t shared_bytes; /* per block */
  double bytes;         /* global memory read and written (each array once per pass; see cuda/plan.h) */
  double fp64_state;    /* FP64 instructions in per-state work (the alpha/beta lattice and the compact arrays) */
  double fp64_element;  /* FP64 instructions in per-element work (the N*T*C dense arrays) */
  double fp64_other;    /* FP64 instructions per frame, sequence or class */
} seqloss_cuda_step;

typedef struct seqloss_cuda_plan {
  int32_t steps_count;
  int32_t host_syncs; /* host synchronisations per call */
  int32_t precision;  /* 32: extended-range FP32 (every operation today); 64 would mean per-element work in double */
  int32_t blocks_per_sequence;
  int32_t
      checkpoint_interval; /* label operations: the alpha lattice keeps every k-th frame (1: every frame); 0 for ACE */
  double copy_bytes;       /* host <-> device copies */
  double states;           /* sum_n T_n (2 L_n + 1): the lattice (0 for ACE) */
  double elements;         /* N*T*C */
  double workspace_bytes;  /* the device workspace of the call (what its *_workspace_size reports) */
  seqloss_cuda_step steps[SEQLOSS_PLAN_MAX_STEPS];
} seqloss_cuda_plan;

SEQLOSS_API seqloss_status seqloss_cuda_plan_call(const seqloss_problem* problem,
                                                  const seqloss_cuda_plan_request* request, seqloss_cuda_plan* plan,
                                                  char* message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif /* SEQLOSS_H */
