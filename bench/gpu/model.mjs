#!/usr/bin/env node
// The cost model of the CUDA backend, without a GPU: for the benchmark shapes (bench/gpu/bench.py) and each
// operation, the launch plan the CUDA entries run (seqloss_cuda_plan_call, cuda/plan.cc) summed up: bytes of
// global memory moved against the floor, kernel launches, host synchronisations, FP64 instructions per state and
// per element on a device with FP64 at 1/32 of FP32 (GTX 1080 Ti, TITAN X), shared memory per block and blocks per
// sequence.
//
//   node bench/gpu/model.mjs [--json] [--fp64-ratio R]
//
// The floor of a loss with gradient is reading the logits twice and writing the gradient once, 12·N·T·C bytes
// (bench/gpu/README.md); of ctcAlign, which writes no dense output, reading them once, 4·N·T·C. Device memory, as the
// benchmark calls it (host memory adds the copies, reported as copyBytes).
//
// torchPeakBytes: PyTorch's peak memory for the same step as bench/gpu/bench.py measures it (log_softmax, then the
// loss and its backward; the input itself not counted), modelled from the tensors its CUDA code allocates
// (LossCTC.cu: log_alpha and log_beta of N·T·(2·Lmax + 1) floats, the gradient of the log-probs and of the logits,
// N·T·C floats each; log_alpha and log_beta are freed before log_softmax's backward makes the logits' gradient):
// 4·max(2·NTC + 2·N·T·(2·Lmax + 1), 3·NTC). ACE's autograd (softmax, + eps, its backward): 4·3·NTC. No PyTorch
// counterpart for ctcAlign (null).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadNative, OP, LAYOUT, INPUT, REDUCTION, FIT_SCOPE, DCTC_ALIGNMENT, ACE_VARIANT, BACKEND } = await import(
  join(root, 'dist', 'native.js')
);
const { mulberry32 } = await import(join(root, 'dist', 'random.js'));

const args = process.argv.slice(2);
const json = args.includes('--json');
const ratioAt = args.indexOf('--fp64-ratio');
const fp64Ratio = ratioAt >= 0 ? Number(args[ratioAt + 1]) : 32;
if (!Number.isInteger(fp64Ratio) || fp64Ratio < 1) {
  process.stderr.write(`model.mjs: --fp64-ratio must be an integer >= 1, got ${args[ratioAt + 1]}\n`);
  process.exit(2);
}

const native = loadNative();
if (!native.ok) {
  process.stderr.write(`model.mjs: the native addon is needed (npm install): ${native.reason}\n`);
  process.exit(1);
}
const addon = native.binding;

// bench/gpu/bench.py's shapes: N, T, C and L (every sequence L labels, or 1..L when `upTo`).
export const SHAPES = [
  { N: 64, T: 26, C: 37, L: 10, upTo: true },
  { N: 64, T: 144, C: 37, L: 25 },
  { N: 64, T: 144, C: 7357, L: 40 },
  { N: 64, T: 150, C: 5000, L: 20 },
  { N: 32, T: 1000, C: 1000, L: 200 },
];

function problemOf(s) {
  const rand = mulberry32(7 + s.C);
  const targetLengths = Int32Array.from({ length: s.N }, () => (s.upTo ? 1 + Math.floor(rand() * s.L) : s.L));
  const total = targetLengths.reduce((a, b) => a + b, 0);
  const targets = Int32Array.from({ length: total }, () => 1 + Math.floor(rand() * (s.C - 1)));
  const counts = new Float32Array(s.N * s.C);
  let at = 0;
  for (let n = 0; n < s.N; n++) for (let i = 0; i < targetLengths[n]; i++) counts[n * s.C + targets[at++]] += 1;
  return {
    batch: s.N,
    time: s.T,
    classes: s.C,
    layout: LAYOUT.TNC,
    input: INPUT.logits,
    blank: 0,
    inputLengths: null,
    targets,
    targetLengths,
    counts,
  };
}

const ctcOptions = (fit) => ({
  reduction: REDUCTION.mean,
  zeroInfinity: 0,
  fitAlpha: fit ? 0.5 : 0,
  fitGamma: fit ? 1 : 0,
  fitAlphaScope: FIT_SCOPE.batch,
  gradConvention: 0,
});

// Each operation as the benchmark (or a training step) calls it: the gradient, defaults otherwise.
const OPS = [
  { op: 'ctcLoss', index: OP.ctc, options: ctcOptions(false), outputs: 1, withGrad: true },
  { op: 'ctcLoss α+γ', index: OP.ctc, options: ctcOptions(true), outputs: 1, withGrad: true },
  {
    op: 'dctcLoss',
    index: OP.dctc,
    options: {
      reduction: REDUCTION.mean,
      zeroInfinity: 0,
      alignment: DCTC_ALIGNMENT.ratio,
      lambda: 0.01,
      ctcWeight: 1,
      scale: 1,
      margin: 0,
    },
    outputs: 1,
    withGrad: true,
  },
  { op: 'ctcAlign', index: OP.align, options: null, outputs: 0, withGrad: false },
  {
    op: 'aceLoss',
    index: OP.ace,
    options: { reduction: REDUCTION.mean, variant: ACE_VARIANT.ce, eps: 1e-10 },
    outputs: 1,
    withGrad: true,
  },
];

const exec = { backend: BACKEND.cuda, device: 0, threads: 0 };
const rows = [];
for (const s of SHAPES) {
  const p = problemOf(s);
  const NTC = s.N * s.T * s.C;
  for (const o of OPS) {
    const plan = addon.plan(o.index, 'model', null, p, o.options, { outputs: o.outputs, fp64Ratio, memory: 1 }, exec);
    const sum = (f) => plan.steps.reduce((a, st) => a + st[f], 0);
    const bytes = sum('bytes');
    const floorBytes = (o.withGrad ? 12 : 4) * NTC;
    const lattice = s.N * s.T * (2 * s.L + 1);
    const torchPeakBytes =
      o.op === 'ctcAlign' ? null : o.op === 'aceLoss' ? 12 * NTC : 4 * Math.max(2 * NTC + 2 * lattice, 3 * NTC);
    rows.push({
      shape: `${s.N}x${s.T}x${s.C}`,
      L: s.upTo ? `<=${s.L}` : String(s.L),
      op: o.op,
      bytes,
      floorBytes,
      overFloor: bytes / floorBytes,
      launches: plan.steps.length,
      hostSyncs: plan.hostSyncs,
      fp64Ratio,
      precision: plan.precision,
      fp64PerState: plan.states > 0 ? sum('fp64State') / plan.states : 0,
      fp64PerElement: sum('fp64Element') / plan.elements,
      fp64Total: sum('fp64State') + sum('fp64Element') + sum('fp64Other'),
      sharedBytesPerBlock: Math.max(0, ...plan.steps.map((st) => st.sharedBytes)),
      blocksPerSequence: plan.blocksPerSequence,
      checkpointInterval: plan.checkpointInterval,
      workspaceBytes: plan.workspaceBytes,
      torchPeakBytes,
      workspaceOverTorch: torchPeakBytes === null ? null : plan.workspaceBytes / torchPeakBytes,
      copyBytes: plan.copyBytes,
      kernels: plan.steps.map((st) => st.kernel),
    });
  }
}

if (json) {
  process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
} else {
  const mb = (b) => (b / 1e6).toFixed(b < 1e7 ? 2 : 1);
  const head = [
    'shape',
    'L',
    'op',
    'MB moved',
    'floor MB',
    '× floor',
    'launches',
    'host syncs',
    `FP64/state (1/${fp64Ratio})`,
    `FP64/element (1/${fp64Ratio})`,
    'shared B/block',
    'blocks/seq',
    'α every k-th frame',
    'workspace MB',
    'torch peak MB',
    'ws / torch',
  ];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    lines.push(
      `| ${[
        r.shape,
        r.L,
        r.op,
        mb(r.bytes),
        mb(r.floorBytes),
        `${r.overFloor.toFixed(2)}×`,
        r.launches,
        r.hostSyncs,
        r.fp64PerState.toFixed(1),
        r.fp64PerElement.toFixed(2),
        r.sharedBytesPerBlock,
        r.blocksPerSequence,
        r.checkpointInterval || '—',
        mb(r.workspaceBytes),
        r.torchPeakBytes === null ? '—' : mb(r.torchPeakBytes),
        r.workspaceOverTorch === null ? '—' : `${r.workspaceOverTorch.toFixed(2)}×`,
      ].join(' | ')} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
