#!/usr/bin/env python3
"""CTC loss and gradient from Python through seqloss's C ABI (ctypes on libseqloss.so), on NumPy arrays.

    python3 examples/python/ctc_numpy.py [path/to/libseqloss.so]

Without an argument the library is looked for where the npm package puts it: build/Release/ (compiled at install)
or prebuilds/linux-x64/ (the prebuilt one), relative to the package root (this file's ../..). The structs mirror
csrc/seqloss.h at SEQLOSS_ABI_VERSION 5; the script refuses a library of another ABI version. Prints the losses,
the mean loss and the gradient's sum per frame (0 for logits input: softmax minus a distribution).
"""
import ctypes as C
import os
import sys

import numpy as np

ABI_VERSION = 5
LAYOUT_NTC, INPUT_LOGITS, BACKEND_CPU, MEMORY_HOST, REDUCTION_MEAN = 0, 0, 0, 0, 2


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


def find_library():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    for rel in ("build/Release/libseqloss.so", "prebuilds/linux-x64/libseqloss.so"):
        path = os.path.join(root, rel)
        if os.path.exists(path):
            return path
    raise FileNotFoundError("libseqloss.so not found under build/Release or prebuilds/linux-x64; pass its path")


def ptr(a):
    return a.ctypes.data_as(C.c_void_p)


def ctc_loss(lib, logits, targets, target_lengths, input_lengths=None, blank=0):
    """logits: float32 (N, T, C) logits; targets: int32 concatenated labels; target_lengths, input_lengths: int32 (N,).
    Returns (losses (N,), mean loss, grad (N, T, C)) with PyTorch's 'mean' reduction."""
    x = np.ascontiguousarray(logits, dtype=np.float32)
    tg = np.ascontiguousarray(targets, dtype=np.int32)
    tl = np.ascontiguousarray(target_lengths, dtype=np.int32)
    il = None if input_lengths is None else np.ascontiguousarray(input_lengths, dtype=np.int32)
    n, t, c = x.shape
    problem = Problem(batch=n, time=t, classes=c, layout=LAYOUT_NTC, input=INPUT_LOGITS, blank=blank,
                      data=ptr(x), data_size=x.size,
                      input_lengths=None if il is None else ptr(il), input_lengths_size=0 if il is None else il.size,
                      targets=ptr(tg), targets_size=tg.size, target_lengths=ptr(tl), target_lengths_size=tl.size)
    options = CtcOptions(reduction=REDUCTION_MEAN)
    exe = Exec(backend=BACKEND_CPU, memory=MEMORY_HOST, threads=0)
    losses = np.zeros(n, dtype=np.float32)
    loss = C.c_double(0)
    grad = np.zeros_like(x)
    outputs = CtcOutputs(losses=ptr(losses), losses_size=n, loss=C.cast(C.pointer(loss), C.c_void_p),
                         grad=ptr(grad), grad_size=grad.size)
    message = C.create_string_buffer(512)
    size = C.c_size_t(0)
    status = lib.seqloss_ctc_workspace_size(C.byref(problem), C.byref(options), C.byref(exe), C.byref(size),
                                            message, len(message))
    if status != 0:
        raise ValueError(message.value.decode())
    workspace = np.zeros(max(size.value, 1), dtype=np.uint8)
    status = lib.seqloss_ctc(C.byref(problem), C.byref(options), C.byref(exe), C.byref(outputs), ptr(workspace),
                             size.value, message, len(message))
    if status != 0:
        raise ValueError(message.value.decode())
    return losses, loss.value, grad


def main():
    lib = C.CDLL(sys.argv[1] if len(sys.argv) > 1 else find_library())
    lib.seqloss_abi_version.restype = C.c_int32
    lib.seqloss_version.restype = C.c_char_p
    if lib.seqloss_abi_version() < ABI_VERSION:
        raise SystemExit(f"libseqloss has C ABI {lib.seqloss_abi_version()}, this example needs {ABI_VERSION} or later")
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 12, 5)).astype(np.float32)
    targets = np.array([1, 2, 2, 3, 4], dtype=np.int32)  # sequence 0: 1 2 2; sequence 1: 3 4
    losses, loss, grad = ctc_loss(lib, logits, targets, [3, 2], input_lengths=[12, 9])
    print(f"seqloss {lib.seqloss_version().decode()} (C ABI {lib.seqloss_abi_version()})")
    print("losses", " ".join(f"{v:.6f}" for v in losses))
    print(f"loss {loss:.6f}")
    print("max |sum_k grad| per frame", f"{np.abs(grad.sum(axis=2)).max():.2e}")


if __name__ == "__main__":
    main()
