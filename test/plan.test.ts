// The CUDA launch plan (seqloss_cuda_plan_call through the addon's `plan`) and the cost model built on it
// (bench/gpu/model.mjs). The plan is host code, in every build: these run without a GPU and without CUDA.
import { execFileSync } from 'node:child_process';
import { findNvcc, fp64PerKernel } from '../bench/gpu/fp64-ptx.mjs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BACKEND,
  DCTC_ALIGNMENT,
  FIT_SCOPE,
  INPUT,
  LAYOUT,
  loadNative,
  type NativeBinding,
  type NativePlan,
  type NativeProblem,
  OP,
  packageRoot,
  REDUCTION,
} from '../lib/native.js';

const native = loadNative();
const exec = { backend: BACKEND.cuda, device: 0, threads: 0 };

function problem(N: number, T: number, C: number, L: number[]): NativeProblem {
  const targets = Int32Array.from(
    L.flatMap((l, n) => Array.from({ length: l }, (_, j) => 1 + ((n + 3 * j) % (C - 1)))),
  );
  const counts = new Float32Array(N * C);
  let at = 0;
  L.forEach((l, n) => {
    for (let j = 0; j < l; j++) counts[n * C + targets[at++]] += 1;
  });
  return {
    batch: N,
    time: T,
    classes: C,
    layout: LAYOUT.NTC,
    input: INPUT.logits,
    blank: 0,
    inputLengths: null,
    targets,
    targetLengths: Int32Array.from(L),
    counts,
  };
}

const ctc = (fitAlpha = 0, fitGamma = 0) => ({
  reduction: REDUCTION.mean,
  zeroInfinity: 0,
  fitAlpha,
  fitGamma,
  fitAlphaScope: FIT_SCOPE.batch,
  gradConvention: 0,
});

describe.runIf(native.ok)('the CUDA launch plan', () => {
  const addon = (native.ok ? native.binding : null) as NativeBinding;
  const plan = (op: number, p: NativeProblem, options: object | null, outputs: number, fp64Ratio = 32): NativePlan =>
    addon.plan(op, 'plan', null, p, options, { outputs, fp64Ratio, memory: 1 }, exec);
  const kernels = (pl: NativePlan) => pl.steps.map((s) => s.kernel);
  const total = (pl: NativePlan, f: 'bytes' | 'fp64State' | 'fp64Element') => pl.steps.reduce((a, s) => a + s[f], 0);

  it('ctcLoss: the FP32 pipeline in order, one block per sequence, one host synchronisation, no FP64 per state or element', () => {
    const p = problem(3, 12, 9, [2, 4, 3]);
    for (const ratio of [1, 2, 32, 64]) {
      const pl = plan(OP.ctc, p, ctc(), 1, ratio);
      expect(kernels(pl)).toEqual([
        'ctc32_stats_kernel',
        'shift_kernel',
        'alpha32_kernel',
        'beta32_kernel',
        'ctc32_patch_kernel',
      ]);
      expect(pl.precision).toBe(32);
      expect(pl.hostSyncs).toBe(1);
      expect(total(pl, 'fp64State')).toBe(0);
      expect(total(pl, 'fp64Element')).toBe(0);
    }
    const pl = plan(OP.ctc, p, ctc(), 1);
    expect(pl.elements).toBe(3 * 12 * 9);
    expect(pl.states).toBe(12 * (5 + 9 + 7));
    const alpha = pl.steps[2];
    expect(alpha.blocks).toBe(3);
    expect(alpha.threads % 32).toBe(0);
    expect(alpha.sharedBytes).toBeGreaterThan(0);
    // The one read of the logits writes the dense gradient: at least 8 bytes per element there.
    expect(pl.steps[0].bytes).toBeGreaterThanOrEqual(8 * pl.elements);
    // Without the gradient and the posterior: the forward only.
    expect(kernels(plan(OP.ctc, p, ctc(), 0))).toEqual(['ctc32_stats_kernel', 'shift_kernel', 'alpha32_kernel']);
  });

  it('the α lattice: every frame where it is at most a quarter of the logits, else every ⌈√T⌉-th (a smaller workspace)', () => {
    // 12·Σ T(2L + 1) = 12·40·(9 + 9) = 8640 > N·T·C = 2·40·9 = 720: checkpoints every ⌈√40⌉ = 7 frames.
    const narrow = plan(OP.ctc, problem(2, 40, 9, [4, 4]), ctc(), 1);
    expect(narrow.checkpointInterval).toBe(7);
    // 8640 <= 2·40·2000: every frame.
    const wide = plan(OP.ctc, problem(2, 40, 2000, [4, 4]), ctc(), 1);
    expect(wide.checkpointInterval).toBe(1);
    // ctcAlign runs no forward recursion, ACE none at all.
    expect(plan(OP.align, problem(2, 40, 9, [4, 4]), null, 0).checkpointInterval).toBe(0);
    expect(
      plan(OP.ace, problem(2, 40, 9, [4, 4]), { reduction: REDUCTION.mean, variant: 0, eps: 1e-10 }, 1)
        .checkpointInterval,
    ).toBe(0);
  });

  it('the fit, DCTC in every alignment mode and ctcAlign run on the FP32 pipeline too', () => {
    const p = problem(2, 10, 6, [3, 2]);
    const fit = plan(OP.ctc, p, ctc(0.5, 1), 1);
    expect(fit.precision).toBe(32);
    expect(kernels(fit)).toEqual([
      'ctc32_stats_kernel',
      'shift_kernel',
      'alpha32_kernel',
      'beta32_kernel',
      'fit32_vsum_kernel',
      'fit_batch_l_kernel',
      'fit_factor_kernel',
      'fit32_rows_kernel',
      'fit_gamma_kernel',
      'ctc32_rows_kernel',
    ]);
    expect(total(fit, 'fp64State') + total(fit, 'fp64Element')).toBe(0);
    // α alone: the dense rows from the one read, the label's classes patched.
    expect(kernels(plan(OP.ctc, p, ctc(0.5, 0), 1)).at(-1)).toBe('ctc32_patch_kernel');
    const dctcOptions = (alignment: number) => ({
      reduction: REDUCTION.mean,
      zeroInfinity: 0,
      alignment,
      lambda: 0.01,
      ctcWeight: 1,
      scale: 2,
      margin: 0.5,
    });
    for (const alignment of [DCTC_ALIGNMENT.ratio, DCTC_ALIGNMENT.posterior]) {
      const dctc = plan(OP.dctc, p, dctcOptions(alignment), 1);
      expect(dctc.precision).toBe(32);
      expect(kernels(dctc)).toEqual([
        'ctc32_stats_kernel',
        'shift_kernel',
        'alpha32_kernel',
        'beta32_kernel',
        'dctc32_rows_kernel',
        'dctc_losses_kernel',
      ]);
      expect(total(dctc, 'fp64State') + total(dctc, 'fp64Element')).toBe(0);
    }
    const viterbi = plan(OP.dctc, p, dctcOptions(DCTC_ALIGNMENT.viterbi), 1);
    expect(viterbi.precision).toBe(32);
    expect(kernels(viterbi)).toEqual([
      'ctc32_stats_kernel',
      'shift_kernel',
      'alpha32_kernel',
      'beta32_kernel',
      'viterbi32_kernel',
      'dctc32_rows_kernel',
      'dctc_losses_kernel',
    ]);
    expect(total(viterbi, 'fp64State') + total(viterbi, 'fp64Element')).toBe(0);
  });

  it('the posterior adds its dense write; ctcAlign runs no backward; ACE: CE on K_n, regression with class sums', () => {
    const p = problem(2, 10, 6, [3, 2]);
    const g = plan(OP.ctc, p, ctc(), 1);
    const gp = plan(OP.ctc, p, ctc(), 3);
    expect(total(gp, 'bytes') - total(g, 'bytes')).toBeGreaterThanOrEqual(4 * g.elements);
    const align = plan(OP.align, p, null, 0);
    expect(kernels(align)).toEqual(['ctc32_stats_kernel', 'shift_kernel', 'viterbi32_kernel']);
    expect(total(align, 'fp64State') + total(align, 'fp64Element')).toBe(0);
    const ace = plan(OP.ace, p, { reduction: REDUCTION.mean, variant: 0, eps: 1e-10 }, 1);
    expect(kernels(ace)).toEqual(['ace32_stats_kernel', 'ace32_loss_kernel', 'ace32_rows_kernel']);
    expect(total(ace, 'fp64State') + total(ace, 'fp64Element')).toBe(0);
    const reg = plan(OP.ace, p, { reduction: REDUCTION.mean, variant: 1, eps: 1e-10 }, 1);
    expect(kernels(reg)).toEqual([
      'ace32_stats_kernel',
      'ace32_partial_kernel',
      'ace32_total_kernel',
      'ace32_loss_kernel',
      'ace32_rows_kernel',
    ]);
    expect(total(reg, 'fp64State') + total(reg, 'fp64Element')).toBe(0);
    // Without the gradient there are no rows.
    expect(kernels(plan(OP.ace, p, { reduction: REDUCTION.mean, variant: 0, eps: 1e-10 }, 0))).toEqual([
      'ace32_stats_kernel',
      'ace32_loss_kernel',
    ]);
  });

  it('checks its arguments as the call would', () => {
    const p = problem(2, 10, 6, [3, 2]);
    expect(() =>
      addon.plan(
        OP.ctc,
        'plan',
        new Float32Array(120) as never,
        p,
        ctc(),
        { outputs: 1, fp64Ratio: 32, memory: 1 },
        exec,
      ),
    ).toThrow(TypeError);
    expect(() => plan(OP.ctc, p, ctc(), 1, 0)).toThrow(/fp64_ratio must be >= 1, got 0/);
    expect(() => plan(OP.ctc, p, ctc(), 4)).toThrow(RangeError);
    const bad = { ...p, targets: Int32Array.from([1, 2, 9, 1, 1]) };
    expect(() => plan(OP.ctc, bad, ctc(), 1)).toThrow(RangeError);
  });

  it('bench/gpu/model.mjs --json: a row per shape and operation with the fields the issue names', () => {
    const out = execFileSync(process.execPath, [join(packageRoot, 'bench', 'gpu', 'model.mjs'), '--json'], {
      encoding: 'utf8',
    });
    const rows = JSON.parse(out) as Record<string, unknown>[];
    expect(rows).toHaveLength(25);
    const shapes = new Set(rows.map((r) => r.shape));
    expect([...shapes]).toEqual(['64x26x37', '64x144x37', '64x144x7357', '64x150x5000', '32x1000x1000']);
    expect(new Set(rows.map((r) => r.op))).toEqual(
      new Set(['ctcLoss', 'ctcLoss α+γ', 'dctcLoss', 'ctcAlign', 'aceLoss']),
    );
    for (const r of rows) {
      for (const f of ['bytes', 'floorBytes', 'launches', 'hostSyncs', 'fp64PerState', 'fp64PerElement'])
        expect(typeof r[f], `${r.shape} ${r.op} ${f}`).toBe('number');
      expect(r.hostSyncs).toBe(1);
    }
    const big = rows.find((r) => r.shape === '64x144x7357' && r.op === 'ctcLoss')!;
    expect(big.floorBytes).toBe(12 * 64 * 144 * 7357);
  });

  const nvcc = findNvcc() as string | null;
  it.runIf(nvcc)(
    'the PTX of beta32, ctc32_patch and ctc32_rows holds no FP64 instruction (the others: per row or sequence)',
    () => {
      const rows = fp64PerKernel(nvcc, 'cuda/ctc.cu') as { kernel: string; fp64: number }[];
      const of = (k: string) => rows.find((r) => r.kernel === k)?.fp64;
      expect(of('beta32_kernel')).toBe(0);
      expect(of('ctc32_patch_kernel')).toBe(0);
      expect(of('ctc32_rows_kernel')).toBe(0);
    },
    120_000,
  );
});
