#!/usr/bin/env node
// FP64 instructions in each CUDA kernel, counted in the PTX that nvcc makes of cuda/*.cu (a static count: every
// FP64 arithmetic, compare or conversion instruction of the kernel and of the functions it calls, however often it
// runs). A kernel with 0 runs no FP64 at all; the cost model (bench/gpu/model.mjs) says how often the others run
// theirs (per state, per element, or per row and sequence).
//
//   node bench/gpu/fp64-ptx.mjs [--json]
//
// Needs nvcc (on PATH, in $CUDACXX, or /usr/local/cuda/bin); exits 3 without it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function findNvcc() {
  const candidates = [process.env.CUDACXX, 'nvcc', '/usr/local/cuda/bin/nvcc'].filter(Boolean);
  for (const c of candidates) {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return c;
    } catch {}
  }
  return null;
}

// FP64 arithmetic, compares and conversions (moves, loads, stores and selects are not FP64 instructions).
const FP64 =
  /^\s*(?:@!?%p\d+\s+)?((?:add|sub|mul|fma|div|rcp|sqrt|rsqrt|min|max|abs|neg|setp|cvt|testp|copysign)[.\w]*\.f64[.\w]*)\s/;

// The kernel's own name in its mangled one: every kernel's name ends in `_kernel`, preceded by its length (and,
// for kernels in an anonymous namespace, by a hash that may end in digits: the length that fits is the one).
function kernelName(mangled) {
  const end = mangled.indexOf('_kernelE');
  if (end < 0) return mangled;
  const stop = end + '_kernel'.length;
  for (let j = stop - 1; j > 0; j--) {
    if (!/[A-Za-z_]/.test(mangled[j]) || !/\d/.test(mangled[j - 1])) continue;
    let i = j;
    while (i > 0 && /\d/.test(mangled[i - 1])) i--;
    for (let d = i; d < j; d++) if (Number(mangled.slice(d, j)) === stop - j) return mangled.slice(j, stop);
  }
  return mangled;
}

/** Per kernel of `file` (cuda/...): its FP64 instruction count, its own and its callees'. */
export function fp64PerKernel(nvcc, file) {
  const dir = mkdtempSync(join(tmpdir(), 'seqloss-ptx-'));
  try {
    const out = join(dir, 'k.ptx');
    execFileSync(
      nvcc,
      [
        '-ptx',
        '-arch=compute_75',
        '-std=c++17',
        '-I',
        join(root, 'csrc'),
        '-I',
        join(root, 'cuda'),
        '-DSEQLOSS_WITH_CUDA=1',
        join(root, file),
        '-o',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const text = readFileSync(out, 'utf8');
    // Split into functions: `.entry name(` (kernels) and `.func ... name(` (device functions).
    const heads = [...text.matchAll(/^(?:\.visible\s+|\.weak\s+)?(\.entry|\.func)\s+(?:\([^)]*\)\s*)?([\w$]+)\s*\(/gm)];
    const fns = new Map();
    heads.forEach((h, i) => {
      const body = text.slice(h.index, i + 1 < heads.length ? heads[i + 1].index : text.length);
      let own = 0;
      for (const line of body.split('\n')) if (FP64.test(line)) own++;
      const calls = new Set([...body.matchAll(/\bcall(?:\.uni)?\s+(?:\([^)]*\),\s*)?([\w$]+)/g)].map((m) => m[1]));
      fns.set(h[2], { entry: h[1] === '.entry', own, calls });
    });
    const total = (name, seen = new Set()) => {
      if (seen.has(name) || !fns.has(name)) return 0;
      seen.add(name);
      const f = fns.get(name);
      let n = f.own;
      for (const c of f.calls) n += total(c, seen);
      return n;
    };
    const rows = [];
    for (const [name, f] of fns) {
      if (!f.entry) continue;
      rows.push({ file, kernel: kernelName(name), fp64: total(name) });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const nvcc = findNvcc();
  if (!nvcc) {
    process.stderr.write('fp64-ptx.mjs: nvcc was not found (PATH, $CUDACXX, /usr/local/cuda/bin)\n');
    process.exit(3);
  }
  const rows = ['cuda/ctc.cu', 'cuda/ace.cu']
    .filter((f) => existsSync(join(root, f)))
    .flatMap((f) => fp64PerKernel(nvcc, f));
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
  } else {
    const lines = ['| file | kernel | FP64 instructions (static, PTX) |', '| --- | --- | --- |'];
    for (const r of rows) lines.push(`| ${r.file} | ${r.kernel} | ${r.fp64} |`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}
