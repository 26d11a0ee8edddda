#!/usr/bin/env python3
"""bench/gpu/bench.py — the CUDA backend against PyTorch on the GPU, on the same tensors.

Ours is called through the C ABI (ctypes on libseqloss.so) on GPU-resident torch tensors (memory = device, torch's
current stream, a caller workspace allocated once). PyTorch is timed doing the same job: for CTC,
log_softmax + ctc_loss + backward to the logits, on its native path (int64 targets on the GPU) and on the cuDNN path
where it is eligible (blank 0, int32 targets and lengths on the CPU, every T_n = T, every L < 256); for ACE an
autograd transcription of the ACE code. Every timing: CUDA events around the call, after warm-up, median over many
runs. Also: the bandwidth floor (a device-to-device copy moving 12·N·T·C bytes, what reading the logits twice and
writing the gradient once costs), our workspace against PyTorch's peak memory for its step, and the host-array API
(memory = host) against the pure copy of its inputs and outputs.

  python3 bench/gpu/bench.py --lib build-gpu/libseqloss.so [--out DIR] [--shapes 1,2] [--reps 50]
"""
import argparse
import ctypes as C
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

SHAPES = [  # N, T, C, L (L: fixed, or "<= L" when var)
    dict(N=64, T=26, C=37, L=10, var=True),
    dict(N=64, T=144, C=37, L=25),
    dict(N=64, T=144, C=7357, L=40),
    dict(N=64, T=150, C=5000, L=20),
    dict(N=32, T=1000, C=1000, L=200),
]

LAYOUT_TNC, INPUT_LOGITS, BACKEND_CUDA, MEMORY_HOST, MEMORY_DEVICE = 1, 0, 1, 0, 1
RED_MEAN, ACE_CE = 2, 0


class Problem(C.Structure):
    _fields_ = [("batch", C.c_int32), ("time", C.c_int32), ("classes", C.c_int32), ("layout", C.c_int32),
                ("input", C.c_int32), ("blank", C.c_int32), ("data", C.c_void_p), ("data_size", C.c_int64),
                ("input_lengths", C.c_void_p), ("input_lengths_size", C.c_int64), ("targets", C.c_void_p),
                ("targets_size", C.c_int64), ("target_lengths", C.c_void_p), ("target_lengths_size", C.c_int64),
                ("counts", C.c_void_p), ("counts_size", C.c_int64)]


class Exec(C.Structure):
    _fields_ = [("backend", C.c_int32), ("device", C.c_int32), ("memory", C.c_int32), ("threads", C.c_int32),
                ("stream", C.c_void_p), ("pool", C.c_void_p)]


class CtcOptions(C.Structure):
    _fields_ = [("reduction", C.c_int32), ("zero_infinity", C.c_int32), ("fit_alpha", C.c_double),
                ("fit_gamma", C.c_double), ("fit_alpha_scope", C.c_int32), ("grad_convention", C.c_int32)]


class CtcOutputs(C.Structure):
    _fields_ = [("losses", C.c_void_p), ("losses_size", C.c_int64), ("loss", C.c_void_p), ("grad", C.c_void_p),
                ("grad_size", C.c_int64), ("posterior", C.c_void_p), ("posterior_size", C.c_int64)]


class AceOptions(C.Structure):
    _fields_ = [("reduction", C.c_int32), ("variant", C.c_int32), ("eps", C.c_double)]


class AceOutputs(C.Structure):
    _fields_ = [("losses", C.c_void_p), ("losses_size", C.c_int64), ("loss", C.c_void_p), ("grad", C.c_void_p),
                ("grad_size", C.c_int64)]


ABI_VERSION = 5  # the structs above are those of csrc/seqloss.h since this SEQLOSS_ABI_VERSION (later ABIs only add)


def load(path):
    lib = C.CDLL(path)
    lib.seqloss_abi_version.restype = C.c_int32
    if lib.seqloss_abi_version() < ABI_VERSION:
        raise RuntimeError(f"{path} has C ABI {lib.seqloss_abi_version()}, this script needs {ABI_VERSION} or later")
    for name in ("seqloss_ctc", "seqloss_ace"):
        getattr(lib, name).restype = C.c_int
    lib.seqloss_ctc_workspace_size.restype = C.c_int
    lib.seqloss_ace_workspace_size.restype = C.c_int
    return lib


def events_median(fn, reps, warmup=5):
    """Median ms of fn() between CUDA events on the current stream, after warm-up."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times), times


def host_median(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def check(status, msg):
    if status != 0:
        raise RuntimeError(f"seqloss status {status}: {msg.value.decode(errors='replace')}")


def make_case(s, gen):
    N, T, Cn, L = s["N"], s["T"], s["C"], s["L"]
    x = torch.randn(T, N, Cn, device="cuda", generator=gen)  # (T, N, C): ctc_loss's layout, ours with TNC
    if s.get("var"):
        tl = torch.randint(1, L + 1, (N,), generator=torch.Generator().manual_seed(7), dtype=torch.int32)
    else:
        tl = torch.full((N,), L, dtype=torch.int32)
    targets = torch.randint(1, Cn, (int(tl.sum()),), generator=torch.Generator().manual_seed(8), dtype=torch.int32)
    il = torch.full((N,), T, dtype=torch.int32)
    return x, targets, tl, il


def ours_ctc(lib, x, targets, tl, il, memory, stream):
    """A callable running seqloss_ctc (mean, logits, TNC) into a reused gradient; returns (fn, grad, losses, ws)."""
    T, N, Cn = x.shape
    host = memory == MEMORY_HOST
    xh = x.cpu().contiguous() if host else x
    grad = torch.empty_like(xh)
    losses = (C.c_float * N)()
    loss = C.c_double()
    p = Problem(N, T, Cn, LAYOUT_TNC, INPUT_LOGITS, 0, xh.data_ptr(), x.numel(), il.data_ptr(), N, targets.data_ptr(),
                targets.numel(), tl.data_ptr(), N, None, 0)
    o = CtcOptions(RED_MEAN, 0, 0.0, 0.0, 0, 0)
    e = Exec(BACKEND_CUDA, torch.cuda.current_device(), memory, 0, stream)
    out = CtcOutputs(C.addressof(losses), N, C.addressof(loss), grad.data_ptr(), grad.numel(), None, 0)
    msg = C.create_string_buffer(512)
    ws_bytes = C.c_size_t()
    check(lib.seqloss_ctc_workspace_size(C.byref(p), C.byref(o), C.byref(e), C.byref(ws_bytes), msg, 512), msg)
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device="cuda")

    def run():
        check(lib.seqloss_ctc(C.byref(p), C.byref(o), C.byref(e), C.byref(out), C.c_void_p(ws.data_ptr()),
                              C.c_size_t(ws_bytes.value), msg, 512), msg)

    return run, grad, losses, loss, ws_bytes.value


def torch_ctc(x, targets, tl, il, cudnn):
    """log_softmax + ctc_loss (mean) + backward; cudnn: int32 CPU targets (eligible cases), else int64 GPU targets."""
    xr = x.detach().clone().requires_grad_(True)
    if cudnn:
        tgt, tls, ils = targets.cpu(), tl.cpu(), il.cpu()
    else:
        tgt, tls, ils = targets.long().cuda(), tl.long().cuda(), il.long().cuda()
    state = {}

    def run():
        xr.grad = None
        with torch.backends.cudnn.flags(enabled=cudnn):
            lp = F.log_softmax(xr, 2)
            loss = F.ctc_loss(lp, tgt, ils, tls, blank=0, reduction="mean", zero_infinity=False)
        loss.backward()
        state["loss"] = loss
    return run, xr, state


def ace_case(x, targets, tl):
    T, N, Cn = x.shape
    counts = torch.zeros(N, Cn)
    at = 0
    for n in range(N):
        for k in targets[at:at + int(tl[n])].tolist():
            counts[n, k] += 1
        at += int(tl[n])
    counts[:, 0] = T - counts[:, 1:].sum(1)
    return counts


def ours_ace(lib, x, counts, stream):
    T, N, Cn = x.shape
    grad = torch.empty_like(x)
    losses = (C.c_float * N)()
    loss = C.c_double()
    ch = counts.contiguous()
    p = Problem(N, T, Cn, LAYOUT_TNC, INPUT_LOGITS, 0, x.data_ptr(), x.numel(), None, 0, None, 0, None, 0,
                ch.data_ptr(), ch.numel())
    o = AceOptions(RED_MEAN, ACE_CE, 1e-10)
    e = Exec(BACKEND_CUDA, torch.cuda.current_device(), MEMORY_DEVICE, 0, stream)
    out = AceOutputs(C.addressof(losses), N, C.addressof(loss), grad.data_ptr(), grad.numel())
    msg = C.create_string_buffer(512)
    ws_bytes = C.c_size_t()
    check(lib.seqloss_ace_workspace_size(C.byref(p), C.byref(o), C.byref(e), C.byref(ws_bytes), msg, 512), msg)
    ws = torch.empty(max(ws_bytes.value, 1), dtype=torch.uint8, device="cuda")

    def run():
        check(lib.seqloss_ace(C.byref(p), C.byref(o), C.byref(e), C.byref(out), C.c_void_p(ws.data_ptr()),
                              C.c_size_t(ws_bytes.value), msg, 512), msg)

    return run, grad, loss, ws_bytes.value, ch


def torch_ace(x, counts):
    """The ACE code's loss on (T, N, C) logits: softmax + 1e-10, sum over T, / T, −Σ N̄ ln ȳ, / N, backward."""
    T, N, Cn = x.shape
    xr = x.detach().clone().requires_grad_(True)
    nbar = (counts / T).cuda()
    state = {}

    def run():
        xr.grad = None
        y = (F.softmax(xr, 2) + 1e-10).sum(0) / T
        loss = -(nbar * torch.log(y)).sum() / N
        loss.backward()
        state["loss"] = loss
    return run, xr, state


def peak_mb(fn):
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def grad_diff(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build-gpu/libseqloss.so")
    ap.add_argument("--out", default=os.environ.get("OUT", "bench/gpu/out"))
    ap.add_argument("--shapes", default="")
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    lib = load(args.lib)
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.cuda.get_device_properties(0)
    stream = C.c_void_p(torch.cuda.current_stream().cuda_stream)
    pick = [int(i) for i in args.shapes.split(",") if i] or list(range(1, len(SHAPES) + 1))
    gen = torch.Generator(device="cuda").manual_seed(1234)
    rows, raw = [], []
    for i in pick:
        s = SHAPES[i - 1]
        x, targets, tl, il = make_case(s, gen)
        T, N, Cn = x.shape
        name = f"{N}×{T}×{Cn}"
        r = dict(shape=name, L=("≤" if s.get("var") else "") + str(s["L"]))
        # Ours, device memory.
        run, grad, losses, loss, ws = ours_ctc(lib, x, targets, tl, il, MEMORY_DEVICE, stream)
        r["ours_ms"], r["ours_times"] = events_median(run, args.reps)
        r["ws_mb"] = ws / 2**20
        # PyTorch, native path.
        trun, xr, st = torch_ctc(x, targets, tl, il, cudnn=False)
        r["torch_ms"], _ = events_median(trun, args.reps)
        r["torch_peak_mb"] = peak_mb(trun)
        r["loss_rel"] = rel(loss.value, float(st["loss"]))
        r["grad_diff"] = grad_diff(grad, xr.grad)
        # PyTorch, cuDNN path where eligible (blank 0, all T equal, L < 256, int32 CPU targets).
        if s["L"] < 256 and torch.backends.cudnn.is_available():
            crun, cxr, cst = torch_ctc(x, targets, tl, il, cudnn=True)
            r["cudnn_ms"], _ = events_median(crun, args.reps)
            r["cudnn_grad_diff"] = grad_diff(grad, cxr.grad)
        else:
            r["cudnn_ms"] = None
        best = min(v for v in (r["torch_ms"], r["cudnn_ms"]) if v is not None)
        r["speedup"] = best / r["ours_ms"]
        # Deterministic: two runs, bitwise.
        g1 = grad.clone()
        run()
        torch.cuda.synchronize()
        r["deterministic"] = bool(torch.equal(g1, grad))
        # The bandwidth floor: a copy that reads and writes 12·N·T·C bytes in all.
        src = torch.empty(int(1.5 * x.numel()), device="cuda")
        dst = torch.empty_like(src)
        r["floor_ms"], _ = events_median(lambda: dst.copy_(src), args.reps)
        r["over_floor"] = r["ours_ms"] / r["floor_ms"]
        del src, dst
        # Host arrays: our call with memory = host, against copying the logits in and the gradient out.
        hrun, _, _, _, _ = ours_ctc(lib, x, targets, tl, il, MEMORY_HOST, stream)
        r["host_ms"] = host_median(hrun, max(5, args.reps // 5))
        xc = x.cpu()
        gpu_buf = torch.empty_like(x)

        def copies():
            gpu_buf.copy_(xc)
            gpu_buf.cpu()
        r["copy_ms"] = host_median(copies, max(5, args.reps // 5))
        # ACE on the same logits.
        counts = ace_case(x, targets, tl)
        arun, agrad, aloss, aws, _ = ours_ace(lib, x, counts, stream)
        r["ace_ms"], _ = events_median(arun, args.reps)
        trun2, axr, ast = torch_ace(x, counts)
        r["ace_torch_ms"], _ = events_median(trun2, args.reps)
        r["ace_speedup"] = r["ace_torch_ms"] / r["ace_ms"]
        r["ace_loss_rel"] = rel(aloss.value, float(ast["loss"]))
        r["ace_grad_diff"] = grad_diff(agrad, axr.grad)
        r["ace_ws_mb"] = aws / 2**20
        r["ace_torch_peak_mb"] = peak_mb(trun2)
        rows.append(r)
        raw.append(r)
        print(f"[bench] {name}: ours {r['ours_ms']:.3f} ms, torch {r['torch_ms']:.3f} ms, cudnn "
              f"{r['cudnn_ms'] if r['cudnn_ms'] is None else round(r['cudnn_ms'], 3)} ms, floor {r['floor_ms']:.3f} ms",
              flush=True)
        del x, grad, xr
        torch.cuda.empty_cache()

    f = lambda v, d=3: "n/a" if v is None else f"{v:.{d}f}"
    head = ("| CTC loss+grad | L | ours ms | torch native ms | torch cuDNN ms | best torch / ours | copy floor ms | ours / floor "
            "| ws MB | torch peak MB | rel Δ loss | max Δ grad / max g | bitwise repeat |")
    sep = lambda h: "|" + "|".join(["---"] * (h.count("|") - 1)) + "|"
    lines = [head, sep(head)]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['L']} | {f(r['ours_ms'])} | {f(r['torch_ms'])} | {f(r['cudnn_ms'])} | "
                     f"{r['speedup']:.2f}× | {f(r['floor_ms'])} | {r['over_floor']:.2f}× | {r['ws_mb']:.1f} | "
                     f"{r['torch_peak_mb']:.1f} | {r['loss_rel']:.1e} | {r['grad_diff']:.1e} | {r['deterministic']} |")
    head2 = "| ACE loss+grad | ours ms | torch ms | torch / ours | ws MB | torch peak MB | rel Δ loss | max Δ grad / max g |"
    lines += ["", head2, sep(head2)]
    for r in rows:
        lines.append(f"| {r['shape']} | {f(r['ace_ms'])} | {f(r['ace_torch_ms'])} | {r['ace_speedup']:.2f}× | "
                     f"{r['ace_ws_mb']:.1f} | {r['ace_torch_peak_mb']:.1f} | {r['ace_loss_rel']:.1e} | {r['ace_grad_diff']:.1e} |")
    head3 = "| host arrays (CTC) | ours ms (memory = host) | copy in + out ms | ours / copies |"
    lines += ["", head3, sep(head3)]
    for r in rows:
        lines.append(f"| {r['shape']} | {f(r['host_ms'])} | {f(r['copy_ms'])} | {r['host_ms'] / r['copy_ms']:.2f}× |")
    meta = (f"{dev.name}, {dev.multi_processor_count} SMs, {dev.total_memory / 2**30:.0f} GiB; torch {torch.__version__} "
            f"(CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}); median of {args.reps} runs after 5 warm-ups, "
            f"CUDA events; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    table = "\n".join([meta, "", *lines])
    print("\n" + table)
    with open(os.path.join(args.out, "bench-gpu.md"), "w") as fh:
        fh.write(table + "\n")
    with open(os.path.join(args.out, "bench-gpu.json"), "w") as fh:
        json.dump(dict(device=dev.name, torch=torch.__version__, rows=raw), fh, indent=1, default=str)


if __name__ == "__main__":
    main()
