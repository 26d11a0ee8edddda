#!/usr/bin/env bash
# bench/gpu/run.sh — everything the CUDA backend needs a GPU for, in one call (see bench/gpu/README.md):
#   1. build the C ABI with CMake alone for this GPU's architecture (no Node needed),
#   2. the C++ parity suite (ctest: cuda_parity_test against the CPU backend, and abi_test),
#   3. the vitest GPU suite through the public API (when node and node_modules are there: .device/unpack.sh):
#      the vitest project 'cuda-gpu' (test/gpu, the golden fixtures and the argument errors on backend 'cuda'),
#      the same files that every npm test runs on the SIMT host, and test/native.test.ts,
#   4. the timings against PyTorch on the same tensors (bench/gpu/bench.py, through ctypes on libseqloss.so).
# Usage, from the repository root:  bash bench/gpu/run.sh [OUT_DIR]    (default: $OUT, else bench/gpu/out)
# Logs and the raw numbers go to OUT_DIR, seven files (the device tool returns at most eight): machine.txt,
# build.log, ctest.log, vitest.log, bench.txt, bench-gpu.md, bench-gpu.json. The tables are printed last.
# Exit status: non-zero when a suite failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${OUT:-bench/gpu/out}}
mkdir -p "$out"
status=0
say() { printf '\n== %s\n' "$*"; }

say "machine"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1
  nvcc --version | tail -2
} | tee "$out/machine.txt"

arch=$(python3 -c 'import torch; m, n = torch.cuda.get_device_capability(); print(f"{m}{n}")' 2>/dev/null || echo 90)
say "build (CMake, CUDA architecture $arch)"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEQLOSS_CUDA=ON -DSEQLOSS_CUDA_ARCHS="$arch" \
  >"$out/build.log" 2>&1 || cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DSEQLOSS_CUDA=ON \
  -DSEQLOSS_CUDA_ARCHS="$arch" >>"$out/build.log" 2>&1
if ! cmake --build build-gpu -j "$(nproc)" >>"$out/build.log" 2>&1; then
  tail -40 "$out/build.log"
  echo "build failed"
  exit 2
fi
tail -2 "$out/build.log"

say "C++ suites (ctest)"
ctest --test-dir build-gpu --output-on-failure >"$out/ctest.log" 2>&1 || status=1
grep -E "passed|failed|skipped|cuda_parity_test on|Test +#" "$out/ctest.log" | tail -12

say "vitest GPU suite"
if command -v node >/dev/null 2>&1 && [[ -x node_modules/.bin/vitest ]]; then
  SEQLOSS_GPU=1 node_modules/.bin/vitest run --project cuda-gpu >"$out/vitest.log" 2>&1 || status=1
  node_modules/.bin/vitest run --project unit test/native.test.ts >>"$out/vitest.log" 2>&1 || status=1
  grep -E "Test Files|Tests|tests:|✓|×" "$out/vitest.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -25
else
  echo "skipped: no node (source .device/unpack.sh first)"
fi

say "timings against PyTorch (bench/gpu/bench.py)"
python3 bench/gpu/bench.py --lib build-gpu/libseqloss.so --out "$out" 2>&1 | tee "$out/bench.txt" || status=1
exit $status
