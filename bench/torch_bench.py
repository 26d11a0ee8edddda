#!/usr/bin/python3
"""PyTorch CPU side of `npm run bench` (bench/run.mjs writes the inputs; this script times PyTorch on them).

    /usr/bin/python3 bench/torch_bench.py DIR

DIR/header.json (written by run.mjs) lists the shapes and the timing settings; each shape's arrays are raw
little-endian files in DIR: float32 logits (N×T×C, NTC order), int32 concatenated targets, int32 target lengths and
int32 indices at which the gradient is sampled for the cross-check. The results go to DIR/torch.json; progress to
stderr.

What is timed, per run (the logits are a leaf tensor with requires_grad; its .grad is cleared before each run):
  CTC: log_softmax(logits) -> F.ctc_loss(reduction='mean') -> backward to the logits. The logits are given to PyTorch
       as a contiguous (T, N, C) tensor, ctc_loss's documented layout (transposed once, outside the timing): on a
       transposed (N, T, C) view PyTorch's CTC is up to 2x slower on the 7357-class shape, and the comparison should
       not handicap PyTorch.
  ACE: an autograd transcription of the ACE code (Xie et al. 2019): softmax, + 1e-10, sum over T, / T,
       label / T with N_blank = T - |S|, -sum(N_bar * ln y_bar), / N (batch) -> backward to the logits.
  CTC alpha/gamma (Li & Wang, iterative fitting; a transcription, PyTorch has no such loss): log_softmax ->
       F.ctc_loss(reduction='none'); y' = y - d(sum ctc)/dx by autograd (y = exp(log_softmax)); alpha: V_k = sum over
       the batch's frames of y'_k, factors alpha*N_k/V_k (labels), (1-alpha)*L/V_blank, 0 where V_k = 0, renormalised
       per frame (Eq. 13-16); gamma: w_t = max(0, max_k (y' - y)), w_hat = T*w^gamma / sum_t w^gamma (Eq. 17-18);
       x.backward(w_hat * (y - y') / (N * max(L_n, 1))) (the 'mean' scale); the loss is ctc_loss's 'mean'.
  DCTC (Zhang et al. 2024; a transcription of the authors' formulas): u = s*x, lp = log_softmax(u),
       ctc = F.ctc_loss(lp, reduction='none', zero_infinity=True); G from a second ctc_loss (reduction 'sum') on
       lp.detach() with .backward() (PyTorch's CTC gradient w.r.t. its input is P - y'); z* = argmin_k
       G / clamp(softmax(u), 1e-8); CE_t = -log_softmax(u - s*m*onehot(z*))[z*] (= -lp[z*] when m = 0, which the
       bench uses), summed over t; L = beta*ctc + lambda*CE, mean over the batch -> backward to the logits.
Targets are int64 (PyTorch's native CPU ctc_loss path); the per-class counts of ACE and alpha are built outside the
timing. Every sequence of the bench is full-length (T_n = T), which these transcriptions assume.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def log(msg):
    print(f"[torch] {msg}", file=sys.stderr, flush=True)


def ctc_step(x, targets, input_lengths, target_lengths):
    lp = torch.log_softmax(x, dim=2)  # x: contiguous (T, N, C)
    loss = F.ctc_loss(lp, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False)
    loss.backward()
    return loss


def fit_step(x, targets, input_lengths, target_lengths, label_counts, alpha, gamma):
    """CTC with alpha/gamma (see the module docstring). x: contiguous (T, N, C) leaf; label_counts: N_k over the
    batch's labels (float32, C, 0 at the blank). Returns (loss, the per-sequence ctc losses)."""
    t, n, _ = x.shape
    lp = torch.log_softmax(x, dim=2)
    ctc = F.ctc_loss(lp, targets, input_lengths, target_lengths, blank=0, reduction="none", zero_infinity=False)
    (g,) = torch.autograd.grad(ctc.sum(), x)  # = y - y' on every frame (T_n = T)
    with torch.no_grad():
        y = torch.exp(lp)
        yp = y - g
        if alpha:
            v = yp.sum(dim=(0, 1))  # V_k over the batch (Eq. 13)
            big_l = label_counts.sum()  # L (Eq. 14)
            safe_v = torch.where(v > 0, v, torch.ones_like(v))
            f = torch.where(v > 0, alpha * label_counts / safe_v, torch.zeros_like(v))  # Eq. 15
            f[0] = (1 - alpha) * big_l / safe_v[0] if v[0] > 0 else 0.0
            yp = yp * f
            norm = yp.sum(dim=2, keepdim=True)  # Eq. 16
            yp = yp / torch.where(norm > 0, norm, torch.ones_like(norm))
        scale = 1.0 / (n * target_lengths.clamp(min=1).to(x.dtype))  # reduction 'mean'
        diff = y - yp
        if gamma:
            w = (-diff).amax(dim=2).clamp(min=0) ** gamma  # (T, N), Eq. 18
            total = w.sum(dim=0)
            w_hat = torch.where(total > 0, t * w / torch.where(total > 0, total, torch.ones_like(total)), torch.ones_like(w))
            grad = diff * (w_hat * scale).unsqueeze(2)  # Eq. 17
        else:
            grad = diff * scale.view(1, n, 1)
    x.backward(grad)
    return (ctc / target_lengths.clamp(min=1)).mean(), ctc.detach()


def dctc_step(x, targets, input_lengths, target_lengths, lam, beta=1.0, s=1.0, m=0.0):
    """DCTC (see the module docstring). x: contiguous (T, N, C) leaf. Returns (loss, L_n, CE_n, z* as (T, N))."""
    u = s * x if s != 1.0 else x
    lp = torch.log_softmax(u, dim=2)
    ctc = F.ctc_loss(lp, targets, input_lengths, target_lengths, blank=0, reduction="none", zero_infinity=True)
    # G: PyTorch's CTC gradient w.r.t. its (detached) log-prob input, P - y'.
    lpd = lp.detach().requires_grad_(True)
    F.ctc_loss(lpd, targets, input_lengths, target_lengths, blank=0, reduction="sum", zero_infinity=True).backward()
    with torch.no_grad():
        z = torch.argmin(lpd.grad / torch.exp(lpd).clamp(min=1e-8), dim=2)  # (T, N)
    if m:
        onehot = torch.zeros_like(u).scatter_(2, z.unsqueeze(2), 1.0)
        lq = torch.log_softmax(u - s * m * onehot, dim=2)
    else:
        lq = lp
    ce = -lq.gather(2, z.unsqueeze(2)).squeeze(2).sum(dim=0)  # (N,), every frame valid (T_n = T)
    losses = beta * ctc + lam * ce
    loss = losses.mean()
    loss.backward()
    return loss, losses.detach(), ce.detach(), z


def ace_step(x, counts):
    # The ACE code (1D; T = H*W for 2D): input = softmax + 1e-10; input = sum over T; input /= T; label /= T;
    # loss = -sum(log(input) * label) / batch_size.
    n, t, _ = x.shape
    y = torch.softmax(x, dim=2) + 1e-10
    y = torch.sum(y, 1) / t
    nbar = counts / t
    loss = -torch.sum(torch.log(y) * nbar) / n
    loss.backward()
    return loss


def machine_cpu():
    """Machine-wide (busy, total) CPU seconds from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        v += [0] * (8 - len(v))
        user, nice, system, idle, iowait, irq, softirq, steal = v
        hz = os.sysconf("SC_CLK_TCK")
        return (user + nice + system + irq + softirq) / hz, sum(v) / hz
    except (OSError, ValueError):
        return None


def own_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def others_share(m0, m1, own):
    """Share of the machine's CPU time used by other processes between two machine_cpu() readings."""
    if m0 is None or m1 is None or m1[1] <= m0[1]:
        return None
    return max(0.0, (m1[0] - m0[0]) - own) / (m1[1] - m0[1])


def wait_quiet(seconds, quiet):
    """Waits, in 1-s samples, until other processes use less than `quiet` of the CPU time (or `seconds` passed)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        m0, c0 = machine_cpu(), own_cpu()
        time.sleep(1)
        share = others_share(m0, machine_cpu(), own_cpu() - c0)
        if share is None or share < quiet:
            return


def time_quiet(fn, x, timing, header, label, budget):
    """time_it, repeated (after waiting for a quieter machine) while other processes used more than header['busy']
    of the CPU time and the retry budget lasts; keeps the least disturbed attempt. Returns (times, others, attempts)."""

    def once():
        m0, c0 = machine_cpu(), own_cpu()
        times = time_it(fn, x, timing["warmup"], timing["minRuns"], timing["maxRuns"], timing["minTime"])
        return times, others_share(m0, machine_cpu(), own_cpu() - c0)

    best = once()
    attempts = 1
    while attempts <= timing["retries"] and best[1] is not None and best[1] > header["busy"] and budget[0] > 0:
        started = time.perf_counter()
        log(f"{label}: other processes used {100 * best[1]:.0f}% of the CPU; waiting for a quieter machine and timing again")
        wait_quiet(min(header["retryWait"], budget[0]), header["quiet"])
        again = once()
        attempts += 1
        if again[1] is None or again[1] < best[1]:
            best = again
        budget[0] -= time.perf_counter() - started
    return best[0], best[1], attempts


def time_it(fn, x, warmup, min_runs, max_runs, min_time):
    for _ in range(warmup):
        x.grad = None
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < min_time and len(times) < max_runs):
        x.grad = None
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    root = sys.argv[1]
    with open(os.path.join(root, "header.json")) as f:
        header = json.load(f)
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    out = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "shapes": {},
    }
    budget = [header["retryBudget"]]  # seconds of retrying left
    for shape in header["shapes"]:
        name, n, t, c = shape["name"], shape["N"], shape["T"], shape["C"]
        files = shape["files"]
        logits = np.fromfile(os.path.join(root, files["logits"]), dtype="<f4").reshape(n, t, c)
        targets32 = np.fromfile(os.path.join(root, files["targets"]), dtype="<i4")
        lengths32 = np.fromfile(os.path.join(root, files["targetLengths"]), dtype="<i4")
        sample = torch.from_numpy(np.fromfile(os.path.join(root, files["gradSample"]), dtype="<i4").astype(np.int64))
        x_ntc = torch.from_numpy(logits).requires_grad_(True)  # ACE: batch-first, as the ACE code
        x_tnc = torch.from_numpy(logits).transpose(0, 1).contiguous().requires_grad_(True)  # CTC: (T, N, C)
        targets = torch.from_numpy(targets32.astype(np.int64))
        target_lengths = torch.from_numpy(lengths32.astype(np.int64))
        input_lengths = torch.full((n,), t, dtype=torch.int64)
        # alpha: N_k over the batch's labels (blank 0 excluded).
        label_counts = torch.from_numpy(np.bincount(targets32, minlength=c).astype(np.float32))
        label_counts[0] = 0
        # ACE counts: N_k per class from the labels, N_blank = T - |S|.
        counts = torch.zeros(n, c, dtype=torch.float32)
        offsets = np.concatenate([[0], np.cumsum(lengths32)[:-1]])
        for i in range(n):
            seq = targets32[offsets[i] : offsets[i] + lengths32[i]]
            counts[i] = torch.from_numpy(np.bincount(seq, minlength=c).astype(np.float32))
            counts[i, 0] = t - len(seq)
        res = {}
        timing = shape["timing"]

        for loss_name in header["losses"]:
            spec = header["cases"][loss_name]
            kind = spec["kind"]
            x = x_ntc if kind == "ace" else x_tnc
            if kind == "ace":
                fn = lambda: ace_step(x_ntc, counts)
            elif kind == "dctc":
                d = spec["dctc"]
                assert set(d) <= {"lambda"}, "torch_bench.py transcribes DCTC's default ('ratio', beta 1, s 1, m 0)"
                fn = lambda d=d: dctc_step(x_tnc, targets, input_lengths, target_lengths, d["lambda"])
            elif spec["fit"]:
                f = spec["fit"]
                assert set(f) <= {"alpha", "gamma"}, "torch_bench.py transcribes alpha over the batch only"
                fn = lambda f=f: fit_step(x_tnc, targets, input_lengths, target_lengths, label_counts, f.get("alpha", 0), f.get("gamma", 0))
            else:
                fn = lambda: ctc_step(x_tnc, targets, input_lengths, target_lengths)
            times, others, attempts = time_quiet(fn, x, timing, header, f"{loss_name} {name}", budget)
            x.grad = None
            r = fn()
            extra = {}
            if kind == "dctc":
                loss, losses, ce, z = r
                extra = {"distillLosses": ce.tolist(), "alignment": z.transpose(0, 1).reshape(-1).tolist()}  # NTC order
            elif kind == "ctc" and spec["fit"]:
                loss, losses = r
            else:
                loss = r
            loss = loss.item()
            grad = (x.grad if kind == "ace" else x.grad.transpose(0, 1)).reshape(-1)  # NTC order
            # Per-sequence losses (not timed), for the cross-check.
            with torch.no_grad():
                if kind == "ctc" and not spec["fit"]:
                    lp = torch.log_softmax(x, dim=2)
                    losses = F.ctc_loss(lp, targets, input_lengths, target_lengths, blank=0, reduction="none")
                elif kind == "ace":
                    y = torch.sum(torch.softmax(x, dim=2) + 1e-10, 1) / t
                    losses = -torch.sum(torch.log(y) * (counts / t), 1)
            res[loss_name] = {
                "times": times,
                "median": statistics.median(times),
                "loss": loss,
                "losses": losses.tolist(),
                "gradSample": grad[sample].tolist(),
                "others": others,
                "attempts": attempts,
                **extra,
            }
            log(f"{loss_name} {name}: median {statistics.median(times):.3f} ms over {len(times)} runs, loss {loss:.6f}")
            x.grad = None
            del grad, r
        out["shapes"][name] = res
        del x, x_ntc, x_tnc, logits
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpuSeconds"] = usage.ru_utime + usage.ru_stime  # for run.mjs's count of other processes' CPU use
    with open(os.path.join(root, "torch.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
