#!/usr/bin/env node
// npm run bench: CTC (plain, with the iterative-fitting α/γ), DCTC, ctcAlign and ACE timed side by side in one run —
// the native CPU backend (backend 'cpu'), the float64 TypeScript reference through the public API (backend 'js') and
// PyTorch CPU (bench/torch_bench.py, when /usr/bin/python3 can import torch; for α/γ and DCTC a transcription of the
// formulas in torch, none for DCTC viterbi and ctcAlign). Every implementation gets the same float32 logits and
// labels: generated here with a seeded PRNG and written to a temp dir as raw little-endian files that torch_bench.py
// reads back. A second table gives each new row's CPU time relative to plain CTC's (same shape, same run).
//
//   node bench/run.mjs [--quick] [--shapes 64x26x37,64x144x37,64x144x7357] [--cases LIST] [--json FILE]
//                      [--min-time S] [--retries N] [--no-torch] [--only overhead]
//
// Options: --quick (no TypeScript reference on the 7357-class shape), --shapes LIST and --cases LIST (subsets of the
// shapes and rows), --json FILE (the raw numbers), --min-time S (seconds of timed runs per implementation and case,
// default 1), --retries N (re-time a case disturbed by other processes, default 2), --no-torch (no PyTorch column),
// --only overhead (only the call-overhead section: no shapes, no PyTorch), --help.
//
// Call overhead (in every run, first): the time of one call on a tiny problem (N = 1, T = 4, C = 3, out.grad given,
// backend 'cpu'), where the computation is negligible and what is measured is the call path (option checks, N-API,
// the ABI's checks): ctcLoss and aceLoss sync (goal ≤ 10 µs each) and ctcLossAsync awaited one at a time (goal
// ≤ 30 µs: the thread-pool round trip included). Median over 31 rounds of 1000 calls (200 for async) after 2000
// warm-up calls, each printed next to its goal with a pass/miss marker. The summary then lists the ≥ 3× goal against
// PyTorch CPU for CTC and ACE on each shape.
//
// Needs the compiled package (npx tsc -p tsconfig.json) and, for the 'cpu' column, the addon in build/Release.
// The table goes to stdout, progress to stderr. See bench/README.md.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.SEQLOSS_BENCH_PYTHON || '/usr/bin/python3';
const GOAL = 3; // native CPU at least 3× faster than PyTorch CPU
const TOLERANCE = 1e-4; // relative, losses
// Gradients, as max |Δ| / max |g|: float32 PyTorch keeps log α, log β (down to about −1400 on the 7357-class shape)
// in float32, whose spacing there is 1.2e-4, so its CTC gradient is only that close; ours accumulate in double.
const GRAD_TOLERANCE = { ours: 1e-4, torch: 1e-3 };
const GRAD_SAMPLES = 4096;
const BUSY = 0.1; // warn when other processes used more than this share of the CPU time while we timed
const QUIET = 0.05; // ... and before timing again, wait until they use less than this
const RETRY_WAIT = 30; // seconds of waiting for a quiet machine before one retry, at most
const RETRY_BUDGET = 60; // seconds of retrying (waits and timings) per process (ours, PyTorch's), at most

/** The benchmark shapes: N×T×C with label lengths L drawn uniformly from [lMin, lMax]. */
const SHAPES = [
  { name: '64x26x37', N: 64, T: 26, C: 37, lMin: 1, lMax: 10 },
  { name: '64x144x37', N: 64, T: 144, C: 37, lMin: 25, lMax: 25 },
  { name: '64x144x7357', N: 64, T: 144, C: 7357, lMin: 40, lMax: 40, big: true },
];

/** The rows per shape. kind: which function; fit / dctc: its extra options; torch: whether torch_bench.py has it
 * ('native' = PyTorch's own loss, 'transcription' = our transcription of the formulas in torch); vsCtc: the row's
 * CPU time is compared with plain CTC's, against `goal` (× CTC) when given. The α/γ and DCTC rows take the CTC row's
 * options (reduction 'mean', logits, grad). */
const CASES = [
  { key: 'ctc', label: 'CTC', kind: 'ctc', torch: 'native' },
  {
    key: 'ctc-alpha',
    label: 'CTC α',
    kind: 'ctc',
    fit: { alpha: 0.5 },
    torch: 'transcription',
    vsCtc: true,
    goal: 1.1,
  },
  { key: 'ctc-gamma', label: 'CTC γ', kind: 'ctc', fit: { gamma: 1 }, torch: 'transcription', vsCtc: true, goal: 1.1 },
  {
    key: 'ctc-alpha-gamma',
    label: 'CTC α+γ',
    kind: 'ctc',
    fit: { alpha: 0.5, gamma: 1 },
    torch: 'transcription',
    vsCtc: true,
    goal: 1.1,
  },
  { key: 'dctc', label: 'DCTC', kind: 'dctc', dctc: { lambda: 0.01 }, torch: 'transcription', vsCtc: true, goal: 1.3 },
  {
    key: 'dctc-viterbi',
    label: 'DCTC viterbi',
    kind: 'dctc',
    dctc: { lambda: 0.01, alignment: 'viterbi' },
    torch: null,
    vsCtc: true,
    goal: null,
    why: "report only: the 1.3× goal is for the default 'ratio' alignment",
  },
  { key: 'ctc-align', label: 'ctcAlign', kind: 'align', torch: null, vsCtc: true, goal: null, why: 'report only' },
  { key: 'ace', label: 'ACE', kind: 'ace', torch: 'native' },
];
const TORCH_NONE = { 'dctc-viterbi': 'n/a (no transcription)', 'ctc-align': 'n/a (no forced_align in torch 1.13)' };

// ---- arguments ------------------------------------------------------------------------------------------------

function usage(code) {
  const text = `usage: node bench/run.mjs [options]
  --quick          skip the TypeScript reference on the 7357-class shape
  --shapes LIST    comma-separated subset of: ${SHAPES.map((s) => s.name).join(', ')} (or 1-based indices)
  --cases LIST     comma-separated subset of the rows: ${CASES.map((c) => c.key).join(', ')}
                   (ctc is always added when a row compared with it is picked)
  --json FILE      also write the raw numbers (every run's time, losses, agreement) to FILE
  --min-time S     minimum seconds of timed runs per implementation and case (default 1)
  --retries N      time a case again, up to N times (default 2), when other processes used more than
                   ${100 * BUSY}% of the CPU meanwhile (after waiting up to ${RETRY_WAIT} s for a quieter machine;
                   at most ${RETRY_BUDGET} s of retrying per process); 0 turns it off
  --no-torch       do not run PyTorch (its column says n/a)
  --only overhead  only the call-overhead section (tiny problem, backend 'cpu'; no shapes, no PyTorch)
  --help           this text`;
  (code ? console.error : console.log)(text);
  process.exit(code);
}

function parseArgs(argv) {
  const opts = {
    quick: false,
    shapes: SHAPES,
    cases: CASES,
    json: null,
    minTime: 1,
    torch: true,
    retries: 2,
    only: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const [flag, inline] = a.split(/=(.*)/s);
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) {
        console.error(`bench: ${flag} needs a value`);
        usage(2);
      }
      return argv[++i];
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--no-torch') opts.torch = false;
    else if (a === '--help' || a === '-h') usage(0);
    else if (a === '--json' || a.startsWith('--json=')) opts.json = value();
    else if (a === '--only' || a.startsWith('--only=')) {
      opts.only = value();
      if (opts.only !== 'overhead') {
        console.error(`bench: --only takes 'overhead', got '${opts.only}'`);
        usage(2);
      }
    } else if (a === '--min-time' || a.startsWith('--min-time=')) {
      opts.minTime = Number(value());
      if (!(opts.minTime >= 0)) {
        console.error('bench: --min-time must be a number of seconds >= 0');
        usage(2);
      }
    } else if (a === '--retries' || a.startsWith('--retries=')) {
      opts.retries = Number(value());
      if (!Number.isInteger(opts.retries) || opts.retries < 0) {
        console.error('bench: --retries must be an integer >= 0');
        usage(2);
      }
    } else if (a === '--shapes' || a.startsWith('--shapes=')) {
      const picked = [];
      for (const raw of value()
        .split(',')
        .map((s) => s.trim().toLowerCase().replace(/[×*]/g, 'x'))) {
        if (!raw) continue;
        const s = /^\d$/.test(raw) ? SHAPES[Number(raw) - 1] : SHAPES.find((x) => x.name === raw);
        if (!s) {
          console.error(`bench: unknown shape '${raw}' (known: ${SHAPES.map((x) => x.name).join(', ')})`);
          usage(2);
        }
        if (!picked.includes(s)) picked.push(s);
      }
      if (picked.length === 0) usage(2);
      opts.shapes = SHAPES.filter((s) => picked.includes(s)); // keep the table's order
    } else if (a === '--cases' || a.startsWith('--cases=')) {
      const picked = new Set();
      for (const raw of value()
        .split(',')
        .map((s) => s.trim().toLowerCase())) {
        if (!raw) continue;
        const c = CASES.find((x) => x.key === raw);
        if (!c) {
          console.error(`bench: unknown case '${raw}' (known: ${CASES.map((x) => x.key).join(', ')})`);
          usage(2);
        }
        picked.add(c);
        if (c.vsCtc) picked.add(CASES[0]);
      }
      if (picked.size === 0) usage(2);
      opts.cases = CASES.filter((c) => picked.has(c));
    } else {
      console.error(`bench: unknown argument '${a}'`);
      usage(2);
    }
  }
  return opts;
}

// ---- inputs -----------------------------------------------------------------------------------------------------

/** Standard-normal float32 logits (Box–Muller), random labels in [1, C) (blank 0), lengths in [lMin, lMax]. */
function makeInputs(shape, seed) {
  const { N, T, C, lMin, lMax } = shape;
  const rand = mulberry32(seed);
  const logits = new Float32Array(N * T * C);
  for (let i = 0; i < logits.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const phi = 2 * Math.PI * rand();
    logits[i] = r * Math.cos(phi);
    if (i + 1 < logits.length) logits[i + 1] = r * Math.sin(phi);
  }
  const targetLengths = new Int32Array(N);
  for (let n = 0; n < N; n++) targetLengths[n] = lMin + Math.floor(rand() * (lMax - lMin + 1));
  const total = targetLengths.reduce((a, b) => a + b, 0);
  const targets = new Int32Array(total);
  for (let i = 0; i < total; i++) targets[i] = 1 + Math.floor(rand() * (C - 1));
  // Every CTC alignment must be possible: T >= L + adjacent repeats.
  let off = 0;
  for (let n = 0; n < N; n++) {
    let need = targetLengths[n];
    for (let j = 1; j < targetLengths[n]; j++) if (targets[off + j] === targets[off + j - 1]) need++;
    if (need > T) throw new Error(`bench: shape ${shape.name} drew an impossible alignment`);
    off += targetLengths[n];
  }
  // Where the gradients are compared with PyTorch's: evenly spread flat indices.
  const k = Math.min(GRAD_SAMPLES, logits.length);
  const gradSample = new Int32Array(k);
  for (let i = 0; i < k; i++) gradSample[i] = Math.floor(((2 * i + 1) * logits.length) / (2 * k));
  return { logits, targets, targetLengths, gradSample };
}

function writeRaw(file, typed) {
  // Typed arrays are in host order; the files are little-endian (x86-64 and arm64 hosts are).
  if (os.endianness() !== 'LE') throw new Error('bench: a little-endian host is needed for the raw files');
  fs.writeFileSync(file, new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
}

// ---- timing -----------------------------------------------------------------------------------------------------

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Warm-up runs, then timed runs until both minRuns and minTime are reached (at most maxRuns); also the share of
 * the machine's CPU time that other processes used meanwhile. */
function timeIt(fn, { warmup, minRuns, maxRuns, minTime }) {
  const m0 = machineCpu();
  const own0 = process.cpuUsage();
  let last;
  for (let i = 0; i < warmup; i++) last = fn();
  const times = [];
  const start = performance.now();
  while (times.length < minRuns || (performance.now() - start < minTime * 1e3 && times.length < maxRuns)) {
    const t0 = performance.now();
    last = fn();
    times.push(performance.now() - t0);
  }
  const own = process.cpuUsage(own0);
  const others = othersShare(m0, machineCpu(), (own.user + own.system) / 1e6);
  return { times, median: median(times), result: last, others };
}

function timingFor(shape, impl, opts) {
  const { minTime, retries } = opts;
  // The reference on the 7357-class shape takes seconds per call (8 rows): 2 runs, no warm-up (the smaller shapes,
  // timed before it, have already warmed the same code up).
  if (impl === 'js' && shape.big) return { warmup: 0, minRuns: 2, maxRuns: 2, minTime: 0, retries: 0 };
  if (shape.big) return { warmup: 2, minRuns: 5, maxRuns: 50, minTime, retries };
  return { warmup: 5, minRuns: 10, maxRuns: 2000, minTime, retries };
}

const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Waits, in 1-s samples, until other processes use less than QUIET of the CPU time (or `seconds` have passed). */
function waitQuiet(seconds) {
  const end = performance.now() + seconds * 1e3;
  while (performance.now() < end) {
    const m0 = machineCpu();
    const own0 = process.cpuUsage();
    sleepSync(1000);
    const own = process.cpuUsage(own0);
    const share = othersShare(m0, machineCpu(), (own.user + own.system) / 1e6);
    if (share == null || share < QUIET) return;
  }
}

/** timeIt, repeated (after waiting for a quieter machine) while other processes used more than BUSY of the CPU time
 * and the run's retry budget lasts; keeps the least disturbed attempt. */
function timeQuiet(fn, timing, label, budget) {
  let best = timeIt(fn, timing);
  let attempts = 1;
  while (attempts <= timing.retries && best.others != null && best.others > BUSY && budget.left > 0) {
    const started = performance.now();
    console.error(
      `[bench] ${label}: other processes used ${(100 * best.others).toFixed(0)}% of the CPU; waiting for a quieter machine and timing again`,
    );
    waitQuiet(Math.min(RETRY_WAIT, budget.left));
    const again = timeIt(fn, timing);
    attempts++;
    if (again.others == null || again.others < best.others) best = again;
    budget.left -= (performance.now() - started) / 1e3;
  }
  best.attempts = attempts;
  return best;
}

/** The time of `fn` relative to `base`, measured interleaved: warm-up, then pairs of calls (the order alternating from
 * pair to pair) until both minRuns pairs and minTime seconds per function are reached (at most maxRuns pairs). The
 * ratio is the median of the per-pair ratios, so a machine that slows down or speeds up during the run moves both
 * calls of a pair alike. Also the medians of each, and the share of CPU time other processes used meanwhile. */
function pairedRatio(base, fn, { warmup, minRuns, maxRuns, minTime }) {
  const m0 = machineCpu();
  const own0 = process.cpuUsage();
  for (let i = 0; i < warmup; i++) {
    base();
    fn();
  }
  const tb = [];
  const tf = [];
  const ratios = [];
  const start = performance.now();
  const time = (f) => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  };
  while (ratios.length < minRuns || (performance.now() - start < 2 * minTime * 1e3 && ratios.length < maxRuns)) {
    let b;
    let f;
    if (ratios.length % 2 === 0) {
      b = time(base);
      f = time(fn);
    } else {
      f = time(fn);
      b = time(base);
    }
    tb.push(b);
    tf.push(f);
    ratios.push(f / b);
  }
  const own = process.cpuUsage(own0);
  const others = othersShare(m0, machineCpu(), (own.user + own.system) / 1e6);
  return { ratio: median(ratios), baseMedian: median(tb), median: median(tf), pairs: ratios.length, others };
}

// ---- comparisons ------------------------------------------------------------------------------------------------

const relDiff = (a, b) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)));

function maxRelDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, relDiff(a[i], b[i]));
  return m;
}

/** max |a − b| / max |b|: a gradient difference relative to the gradient's scale. */
function gradDiff(a, b) {
  let d = 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return s === 0 ? d : d / s;
}

const pick = (arr, idx) => Array.from(idx, (i) => arr[i]);

/** The package (dist/index.js), loaded in main. */
let seqloss;
let mulberry32; // the package's seeded generator (lib/random.ts), loaded with it

const NEAR_TIE = 1e-3; // relative gap of y'/P below which PyTorch's float32 z* may pick the other class

/**
 * DCTC z* of implementation `a` vs PyTorch's on `frames` (flat n·T + t): the relative gap between y'/max(P, 1e-8) of
 * the two classes (y' from ctcLoss's posterior, backend 'cpu' when built), and a's per-sequence losses, distillation
 * terms and reduced loss recomputed with PyTorch's class on those frames (CE_t(z) = logsumexp(a_t) − a_{t,z}; the
 * bench's DCTC has s = 1, m = 0) compared with PyTorch's. explained: every frame is a near-tie and they then agree.
 */
function nearTies(cs, c, a, frames, { logits, common, shape }) {
  const { N, T, C } = shape;
  const backend = c.cpu ? 'cpu' : 'js';
  const post = seqloss.ctcLoss(logits, {
    ...common,
    reduction: 'sum',
    grad: false,
    posterior: true,
    backend,
  }).posterior;
  const za = c[a].result.alignment;
  const zt = c.torch.result.alignment;
  const lambda = cs.dctc.lambda;
  const distill = Float64Array.from(c[a].result.distill);
  const losses = Float64Array.from(c[a].result.losses);
  let loss = c[a].result.loss;
  let maxGap = 0;
  for (const q of frames) {
    const n = Math.floor(q / T);
    const row = logits.subarray(q * C, (q + 1) * C); // NTC: frame (n, t) is row n·T + t
    let mx = -Infinity;
    for (let k = 0; k < C; k++) mx = Math.max(mx, row[k]);
    let sum = 0;
    for (let k = 0; k < C; k++) sum += Math.exp(row[k] - mx);
    const lse = mx + Math.log(sum);
    const ratio = (k) => post[q * C + k] / Math.max(Math.exp(row[k] - lse), 1e-8);
    const ra = ratio(za[q]);
    const rt = ratio(zt[q]);
    maxGap = Math.max(maxGap, Math.abs(ra - rt) / Math.max(Math.abs(ra), Math.abs(rt)));
    const delta = row[za[q]] - row[zt[q]]; // CE_t(z_torch) − CE_t(z_a)
    distill[n] += delta;
    losses[n] += lambda * delta;
    loss += (lambda * delta) / N;
  }
  const t = c.torch.result;
  const rel = Math.max(relDiff(loss, t.loss), maxRelDiff(losses, t.losses), maxRelDiff(distill, t.distill));
  return { frames: frames.length, backend, maxGap, rel, explained: maxGap < NEAR_TIE && rel <= TOLERANCE };
}

// ---- formatting ---------------------------------------------------------------------------------------------------

const fmtMs = (ms) => (ms == null ? 'n/a' : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const fmtRatio = (r) => (r == null ? 'n/a' : r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(1)}×`);
const fmtExp = (x) => (x == null ? 'n/a' : x === 0 ? '0' : x.toExponential(1));

function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function cpuModel() {
  try {
    const out = spawnSync('lscpu', [], { encoding: 'utf8' }).stdout || '';
    const m = /^Model name:\s*(.+)$/m.exec(out);
    if (m) return m[1].trim();
  } catch {
    // fall through
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

/** Machine-wide CPU seconds (busy, and all) from /proc/stat; null off Linux. */
function machineCpu() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    const hz = 100; // USER_HZ (sysconf(_SC_CLK_TCK)), 100 on Linux
    return {
      busy: (user + nice + system + irq + softirq) / hz,
      total: (user + nice + system + idle + iowait + irq + softirq + steal) / hz,
    };
  } catch {
    return null;
  }
}

/** Share of the machine's CPU time that processes other than ours (ownSeconds) used between two readings. */
function othersShare(m0, m1, ownSeconds) {
  if (!m0 || !m1 || m1.total <= m0.total) return null;
  return Math.max(0, m1.busy - m0.busy - ownSeconds) / (m1.total - m0.total);
}

// ---- main ---------------------------------------------------------------------------------------------------------

// ---- call overhead ----------------------------------------------------------------------------------------------

const OVERHEAD_GOALS = { ctcLoss: 10, aceLoss: 10, ctcLossAsync: 30 }; // µs per call

/** Per-call time (µs) of the public API on a tiny problem: the call path, not the computation. Median of `rounds`
 * rounds of `batch` calls each (async: awaited one after the other), after `warmup` calls. */
async function measureOverhead() {
  const N = 1,
    T = 4,
    C = 3;
  const logits = new Float32Array(N * T * C).map((_, i) => Math.sin(i));
  const grad = new Float32Array(N * T * C);
  const base = { batch: N, time: T, classes: C, backend: 'cpu', out: { grad } };
  const ctc = { ...base, targets: new Int32Array([1, 2]), targetLengths: new Int32Array([2]) };
  const ace = { ...base, counts: new Float32Array([0, 1, 1]) };
  const runs = {
    ctcLoss: { call: () => seqloss.ctcLoss(logits, ctc), batch: 1000 },
    aceLoss: { call: () => seqloss.aceLoss(logits, ace), batch: 1000 },
    ctcLossAsync: { call: () => seqloss.ctcLossAsync(logits, ctc), batch: 200, async: true },
  };
  const rounds = 31;
  const out = {};
  for (const [name, r] of Object.entries(runs)) {
    for (let i = 0; i < 2000; i++)
      if (r.async) await r.call();
      else r.call();
    const per = [];
    for (let k = 0; k < rounds; k++) {
      const t0 = performance.now();
      if (r.async) for (let i = 0; i < r.batch; i++) await r.call();
      else for (let i = 0; i < r.batch; i++) r.call();
      per.push(((performance.now() - t0) * 1000) / r.batch);
    }
    per.sort((a, b) => a - b);
    out[name] = {
      us: median(per),
      p10: per[Math.floor(rounds * 0.1)],
      p90: per[Math.floor(rounds * 0.9)],
      goal: OVERHEAD_GOALS[name],
      rounds,
      batch: r.batch,
    };
  }
  return out;
}

function overheadLines(overhead, why) {
  const lines = [
    `call overhead (N=1, T=4, C=3, out.grad given, backend 'cpu'; µs per call, median of 31 rounds [p10–p90]):`,
  ];
  if (!overhead) return [...lines, `  n/a (${why})`];
  for (const [name, m] of Object.entries(overhead)) {
    const ok = m.us <= m.goal;
    lines.push(
      `  ${name.padEnd(13)} ${m.us.toFixed(2).padStart(7)} µs  [${m.p10.toFixed(2)}–${m.p90.toFixed(2)}]  goal ≤ ${m.goal} µs  ${ok ? 'PASS' : `MISS (${(m.us / m.goal).toFixed(1)}× the goal)`}`,
    );
  }
  return lines;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const progress = (msg) => console.error(`[bench] ${msg}`);

  const dist = path.join(here, '..', 'dist', 'index.js');
  if (!fs.existsSync(dist)) {
    console.error(`bench: ${path.relative(process.cwd(), dist)} not found; build it first: npx tsc -p tsconfig.json`);
    process.exit(1);
  }
  seqloss = await import(pathToFileURL(dist).href);
  ({ mulberry32 } = await import(pathToFileURL(path.join(here, '..', 'dist', 'random.js')).href));
  const info = seqloss.backends();
  const haveCpu = info.cpu === true;
  if (!haveCpu) progress(`native backend unavailable (${info.reason}); its column says n/a`);

  progress('call overhead');
  const overhead = haveCpu ? await measureOverhead() : null;
  if (opts.only === 'overhead') {
    console.log(
      [
        `seqloss bench, ${new Date().toISOString()}: ${cpuModel()}; Node ${process.version}; command: node bench/run.mjs ${process.argv.slice(2).join(' ')}`,
        '',
        ...overheadLines(overhead, info.reason),
      ].join('\n'),
    );
    if (opts.json)
      fs.writeFileSync(
        opts.json,
        `${JSON.stringify({ date: new Date().toISOString(), cpu: cpuModel(), node: process.version, overhead }, null, 2)}\n`,
      );
    return;
  }

  let torchOk = false;
  let torchWhy = 'disabled by --no-torch';
  if (opts.torch) {
    const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8' });
    torchOk = probe.status === 0;
    torchWhy = torchOk ? '' : `${PYTHON} cannot import torch and numpy`;
    if (!torchOk) progress(`PyTorch unavailable (${torchWhy}); its column says n/a`);
  }

  const started = new Date();
  const load = os.loadavg()[0];
  const machine0 = machineCpu();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seqloss-bench-'));
  const cases = [];
  let torch = null;
  try {
    // 1. Inputs, shared by every implementation.
    const inputs = new Map();
    // losses: the rows torch_bench.py times, with their options.
    const header = {
      losses: opts.cases.filter((c) => c.torch).map((c) => c.key),
      cases: Object.fromEntries(
        opts.cases
          .filter((c) => c.torch)
          .map((c) => [c.key, { kind: c.kind, fit: c.fit ?? null, dctc: c.dctc ?? null }]),
      ),
      shapes: [],
    };
    for (const shape of opts.shapes) {
      progress(`generating ${shape.name}`);
      const seed = 0x5eed + SHAPES.indexOf(shape);
      const data = makeInputs(shape, seed);
      inputs.set(shape, data);
      const files = {
        logits: `${shape.name}.logits.f32`,
        targets: `${shape.name}.targets.i32`,
        targetLengths: `${shape.name}.target_lengths.i32`,
        gradSample: `${shape.name}.grad_sample.i32`,
      };
      for (const key of Object.keys(files)) writeRaw(path.join(tmp, files[key]), data[key]);
      header.shapes.push({
        name: shape.name,
        N: shape.N,
        T: shape.T,
        C: shape.C,
        seed,
        files,
        timing: timingFor(shape, 'torch', opts),
      });
    }
    Object.assign(header, { busy: BUSY, quiet: QUIET, retryWait: RETRY_WAIT, retryBudget: RETRY_BUDGET });
    fs.writeFileSync(path.join(tmp, 'header.json'), JSON.stringify(header, null, 2));

    // 2. PyTorch, in its own process (not concurrently with ours: both use every core).
    if (torchOk) {
      progress('running PyTorch (bench/torch_bench.py)');
      const r = spawnSync(PYTHON, [path.join(here, 'torch_bench.py'), tmp], {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 600e3,
      });
      if (r.status === 0) {
        torch = JSON.parse(fs.readFileSync(path.join(tmp, 'torch.json'), 'utf8'));
      } else {
        torchOk = false;
        torchWhy = `torch_bench.py failed (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})`;
        progress(torchWhy);
      }
    }

    // 3. Ours, through the public API.
    const budget = { left: RETRY_BUDGET };
    for (const shape of opts.shapes) {
      const { logits, targets, targetLengths, gradSample } = inputs.get(shape);
      const common = { batch: shape.N, time: shape.T, classes: shape.C, targets, targetLengths, input: 'logits' };
      // 'cpu' is timed as a training loop calls it, writing into one gradient array reused across steps
      // (out.grad); 'cpu fresh' lets every call allocate its own (the first touch of a new N·T·C array costs
      // page faults: at 7357 classes more than the kernel itself). ctcAlign has no N·T·C output: 'cpu' only.
      const reused = { grad: new Float32Array(logits.length) };
      const withOut = (out) => (out ? { out } : {});
      const call = {
        ctc: (cs, backend, out) => () =>
          seqloss.ctcLoss(logits, {
            ...common,
            reduction: 'mean',
            grad: true,
            backend,
            ...(cs.fit ? { fit: cs.fit } : {}),
            ...withOut(out),
          }),
        ace: (_cs, backend, out) => () =>
          seqloss.aceLoss(logits, {
            ...common,
            variant: 'ce',
            reduction: 'mean',
            grad: true,
            backend,
            ...withOut(out),
          }),
        dctc: (cs, backend, out) => () =>
          seqloss.dctcLoss(logits, { ...common, reduction: 'mean', grad: true, backend, ...cs.dctc, ...withOut(out) }),
        align: (_cs, backend) => () => seqloss.ctcAlign(logits, { ...common, backend }),
      };
      // What is compared: the reduced loss, per-sequence values (ctcAlign: the path scores), the gradient, DCTC's
      // unweighted distillation terms and the frame labels (DCTC's z*, ctcAlign's paths).
      const view = (cs, r) => {
        if (cs.kind === 'align') return { loss: null, losses: r.scores, alignment: r.paths };
        const v = { loss: r.loss, losses: r.losses, grad: r.grad };
        if (cs.kind === 'dctc') Object.assign(v, { distill: r.distillLosses, alignment: r.alignment });
        return v;
      };
      for (const cs of opts.cases) {
        const label = `${cs.key} ${shape.name}`;
        const c = { cs, loss: cs.key, shape, cpu: null, cpuFresh: null, js: null, torch: null, notes: [], infos: [] };
        if (haveCpu) {
          if (cs.kind !== 'align') {
            c.cpuFresh = timeQuiet(
              call[cs.kind](cs, 'cpu'),
              timingFor(shape, 'cpu', opts),
              `${label} cpu fresh`,
              budget,
            );
            progress(`${label} cpu fresh: median ${fmtMs(c.cpuFresh.median)} ms over ${c.cpuFresh.times.length} runs`);
            c.cpuFresh.result = null;
          }
          c.cpu = timeQuiet(call[cs.kind](cs, 'cpu', reused), timingFor(shape, 'cpu', opts), `${label} cpu`, budget);
          c.cpu.result = view(cs, c.cpu.result);
          progress(`${label} cpu: median ${fmtMs(c.cpu.median)} ms over ${c.cpu.times.length} runs`);
        }
        if (opts.quick && shape.big) {
          c.jsSkipped = true;
        } else {
          c.js = timeQuiet(call[cs.kind](cs, 'js'), timingFor(shape, 'js', opts), `${label} js`, budget);
          c.js.result = view(cs, c.js.result);
          progress(`${label} js: median ${fmtMs(c.js.median)} ms over ${c.js.times.length} runs`);
        }
        const t = torch?.shapes?.[shape.name]?.[cs.key];
        if (t) {
          const result = { loss: t.loss, losses: t.losses, gradSample: t.gradSample };
          if (t.distillLosses)
            Object.assign(result, { distill: t.distillLosses, alignment: Int32Array.from(t.alignment) });
          c.torch = { times: t.times, median: t.median, result, others: t.others, attempts: t.attempts };
        }

        // Agreement, pairwise: reduced losses, per-sequence losses, gradients, distillation terms, frame labels.
        const impls = ['cpu', 'js', 'torch'].filter((k) => c[k]);
        const R = (k) => c[k].result;
        c.agreement = { loss: {}, losses: {}, grad: {} };
        if (cs.kind === 'dctc') c.agreement.distill = {};
        if (cs.kind === 'dctc' || cs.kind === 'align') c.agreement.alignment = {};
        let worst = 0;
        const what = cs.kind === 'align' ? 'path scores' : 'losses';
        for (let i = 0; i < impls.length; i++) {
          for (let j = i + 1; j < impls.length; j++) {
            const a = impls[i];
            const b = impls[j];
            const key = `${a}-${b}`;
            const bad = [];
            if (R(a).loss != null) {
              c.agreement.loss[key] = relDiff(R(a).loss, R(b).loss);
              worst = Math.max(worst, c.agreement.loss[key]);
              if (c.agreement.loss[key] > TOLERANCE)
                bad.push(`loss ${R(a).loss} vs ${R(b).loss} (rel ${fmtExp(c.agreement.loss[key])})`);
            }
            c.agreement.losses[key] = maxRelDiff(R(a).losses, R(b).losses);
            worst = Math.max(worst, c.agreement.losses[key]);
            if (c.agreement.losses[key] > TOLERANCE)
              bad.push(`per-sequence max rel ${fmtExp(c.agreement.losses[key])}`);
            if (c.agreement.distill) {
              c.agreement.distill[key] = maxRelDiff(R(a).distill, R(b).distill);
              worst = Math.max(worst, c.agreement.distill[key]);
              if (c.agreement.distill[key] > TOLERANCE)
                bad.push(`distillation terms max rel ${fmtExp(c.agreement.distill[key])}`);
            }
            if (bad.length) c.notes.push(`${what} disagree, ${a} vs ${b}: ${bad.join(', ')}`);
            if (R(a).grad !== undefined || R(a).gradSample) {
              const ga = a === 'torch' ? R(a).gradSample : pick(R(a).grad, gradSample);
              const gb = b === 'torch' ? R(b).gradSample : pick(R(b).grad, gradSample);
              c.agreement.grad[key] = gradDiff(ga, gb);
              if (c.agreement.grad[key] > (b === 'torch' ? GRAD_TOLERANCE.torch : GRAD_TOLERANCE.ours)) {
                c.notes.push(
                  `gradients differ, ${a} vs ${b}: max |Δ| / max |g| = ${fmtExp(c.agreement.grad[key])} ` +
                    `over ${gradSample.length} sampled entries`,
                );
              }
            }
            if (c.agreement.alignment) {
              // Frames (t < T_n) whose label differs; every frame is valid here (T_n = T).
              const pa = R(a).alignment;
              const pb = R(b).alignment;
              const frames = [];
              for (let q = 0; q < pa.length; q++) if (pa[q] !== pb[q]) frames.push(q);
              c.agreement.alignment[key] = frames.length;
              if (frames.length && b === 'torch' && cs.kind === 'dctc') {
                // PyTorch's z* comes from float32 y'/P (its log α, β in float32): a near-tie can go the other way.
                // Check that every such frame is one, and that our terms agree once its z* is used there.
                const nt = nearTies(cs, c, a, frames, { logits, common, shape, gradSample });
                c.agreement.nearTies = { ...(c.agreement.nearTies ?? {}), [key]: nt };
                if (nt.explained) {
                  c.notes = c.notes.filter((n) => !n.includes(`, ${a} vs ${b}:`) || n.startsWith('gradients'));
                  c.explained = true;
                  c.infos.push(
                    `z* ${a} vs ${b}: ${frames.length} of ${pa.length} frames differ, all near-ties (y'/P of the two classes ` +
                      `within ${fmtExp(nt.maxGap)} relative in our posterior (ctcLoss, backend '${nt.backend}'); PyTorch's comes ` +
                      'from float32 log α, β); ' +
                      `with PyTorch's z* on them, ${a}'s losses and distillation terms agree within ${fmtExp(nt.rel)} ` +
                      `(unadjusted: ${fmtExp(Math.max(c.agreement.losses[key], c.agreement.distill[key]))})`,
                  );
                  continue;
                }
              }
              if (frames.length)
                c.notes.push(
                  `${cs.kind === 'align' ? 'paths' : 'z*'} differ, ${a} vs ${b}: ${frames.length} of ${pa.length} frames`,
                );
            }
          }
        }
        // cpu vs js on every entry, not only the sample.
        if (c.cpu?.result.grad && c.js?.result.grad)
          c.agreement.grad['cpu-js (all entries)'] = gradDiff(c.cpu.result.grad, c.js.result.grad);
        if (!Object.keys(c.agreement.grad).length) delete c.agreement.grad;
        c.worst = impls.length > 1 ? worst : null;
        cases.push(c);
        // Drop the big outputs before the next case.
        for (const k of ['cpu', 'js']) if (c[k]) c[k].result = { loss: c[k].result.loss, losses: c[k].result.losses };
      }
      // The rows against plain CTC: interleaved with it, call by call (a 10 % goal is within what a shared machine
      // drifts between two timings taken one after the other).
      const ctcCase = opts.cases.find((cs) => cs.key === 'ctc');
      if (haveCpu && ctcCase) {
        const base = call.ctc(ctcCase, 'cpu', reused);
        for (const c of cases) {
          if (c.shape !== shape || !c.cs.vsCtc) continue;
          c.paired = pairedRatio(base, call[c.cs.kind](c.cs, 'cpu', reused), timingFor(shape, 'cpu', opts));
          progress(
            `${c.cs.key} ${shape.name} vs ctc, interleaved: ${c.paired.ratio.toFixed(3)}× over ${c.paired.pairs} pairs`,
          );
        }
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  // 4. The table. Other processes' CPU use during the run (a busy machine distorts every column, PyTorch's OpenMP
  // threads most: a parallel region waits for its slowest thread).
  const elapsed = (performance.now() - t0) / 1e3;
  const machine1 = machineCpu();
  const own = process.cpuUsage(own0);
  let otherShare = null;
  if (machine0 && machine1) {
    otherShare = othersShare(machine0, machine1, (own.user + own.system) / 1e6 + (torch?.cpuSeconds ?? 0));
  }
  const retried = cases.reduce(
    (sum, c) => sum + ['cpu', 'js', 'torch'].reduce((s2, k) => s2 + Math.max(0, (c[k]?.attempts ?? 1) - 1), 0),
    0,
  );
  const threads = info.threads ?? os.availableParallelism?.() ?? os.cpus().length;
  const torchLabel = torchOk ? `torch ms (${torch.threads} thr)` : 'torch ms';
  const head = [
    'loss+grad (ctcAlign: paths)',
    'N×T×C',
    'L',
    'cpu ms',
    'cpu fresh ms',
    'js ms',
    torchLabel,
    'torch/cpu',
    'js/cpu',
    `goal: cpu ≥ ${GOAL}× torch`,
    'max rel Δ loss',
  ];
  const rows = [];
  const warnings = [];
  const infos = [];
  let marked = false;
  const busyMark = (m) => {
    if (m.others == null || m.others <= BUSY) return '';
    marked = true;
    return ` *${(100 * m.others).toFixed(0)}%`;
  };
  for (const c of cases) {
    const torchRatio = c.cpu && c.torch ? c.torch.median / c.cpu.median : null;
    const jsRatio = c.cpu && c.js ? c.js.median / c.cpu.median : null;
    let goal;
    if (c.cs.vsCtc) goal = '—';
    else if (!c.cpu) goal = 'n/a (no addon)';
    else if (!c.torch) goal = 'n/a (no torch)';
    else goal = torchRatio >= GOAL ? 'goal met' : `goal missed by ${(GOAL / torchRatio).toFixed(2)}×`;
    if (!c.cs.vsCtc && c.cpu && c.torch && [c.cpu, c.torch].some((m) => m.others != null && m.others > BUSY))
      goal += ' (busy: unsure)';
    const s = c.shape;
    c.torchOverCpu = torchRatio;
    c.jsOverCpu = jsRatio;
    c.goal = goal;
    let torchCell = 'n/a';
    if (c.torch) torchCell = fmtMs(c.torch.median) + (c.cs.torch === 'transcription' ? ' †' : '') + busyMark(c.torch);
    else if (torchOk && TORCH_NONE[c.cs.key]) torchCell = TORCH_NONE[c.cs.key];
    rows.push([
      c.cs.label,
      `${s.N}×${s.T}×${s.C}`,
      s.lMin === s.lMax ? String(s.lMin) : `${s.lMin}..${s.lMax}`,
      c.cpu ? fmtMs(c.cpu.median) + busyMark(c.cpu) : 'n/a',
      c.cpuFresh ? fmtMs(c.cpuFresh.median) + busyMark(c.cpuFresh) : 'n/a',
      c.jsSkipped ? 'skipped' : c.js ? fmtMs(c.js.median) + busyMark(c.js) : 'n/a',
      torchCell,
      fmtRatio(torchRatio),
      fmtRatio(jsRatio),
      goal,
      c.worst == null
        ? 'n/a'
        : `${fmtExp(c.worst)}${c.worst <= TOLERANCE ? '' : c.notes.some((n) => n.includes('disagree')) ? ' ⚠' : ' ‡'}`,
    ]);
    for (const note of c.notes) warnings.push(`WARNING ${c.cs.label} ${s.name}: ${note}`);
    for (const info of c.infos) infos.push(`‡ ${c.cs.label} ${s.name}: ${info}`);
  }

  // The new rows against plain CTC, same shape, same run: cpu (the goal), and for context js and torch each against
  // their own CTC time.
  const ratioHead = ['vs CTC', 'N×T×C', 'cpu ms', 'CTC cpu ms', 'cpu ×CTC', 'goal', 'verdict', 'js ×CTC', 'torch ×CTC'];
  const ratioRows = [];
  const fmtX = (r) => (r == null ? 'n/a' : `${r.toFixed(2)}×`);
  for (const c of cases) {
    if (!c.cs.vsCtc) continue;
    const base = cases.find((b) => b.cs.key === 'ctc' && b.shape === c.shape);
    const over = (k) => (c[k] && base?.[k] ? c[k].median / base[k].median : null);
    const r = c.paired ? c.paired.ratio : null;
    let verdict;
    if (r == null) verdict = 'n/a (no addon)';
    else if (c.cs.goal == null) verdict = c.cs.why;
    else verdict = r <= c.cs.goal ? 'goal met' : `goal missed (${fmtX(r)} > ${fmtX(c.cs.goal)})`;
    if (r != null && c.cs.goal != null && c.paired.others != null && c.paired.others > BUSY)
      verdict += ' (busy: unsure)';
    c.cpuOverCtc = r;
    c.ctcGoal = c.cs.goal;
    c.ctcVerdict = verdict;
    ratioRows.push([
      c.cs.label,
      `${c.shape.N}×${c.shape.T}×${c.shape.C}`,
      c.paired ? fmtMs(c.paired.median) : 'n/a',
      c.paired ? fmtMs(c.paired.baseMedian) : 'n/a',
      fmtX(r),
      c.cs.goal == null ? '—' : `≤ ${fmtX(c.cs.goal)} CTC`,
      verdict,
      fmtX(over('js')),
      fmtX(over('torch')),
    ]);
  }
  const command = `node bench/run.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const env = {
    date: started.toISOString(),
    cpu: cpuModel(),
    hardwareThreads: os.availableParallelism?.() ?? os.cpus().length,
    node: process.version,
    seqloss: info.version,
    torch: torch ? `${torch.torch} (numpy ${torch.numpy}, Python ${torch.python})` : `n/a (${torchWhy})`,
    command,
    elapsedSeconds: elapsed,
    loadAverageBefore: load,
    otherProcessesCpuShare: otherShare,
  };
  const out = [
    `seqloss bench, ${env.date}: ${env.cpu}, ${env.hardwareThreads} hardware threads; Node ${env.node}; torch ${env.torch}`,
    `command: ${command}`,
    `median ms per call of loss + gradient (reduction 'mean', float32 logits in, NTC; ctcAlign: paths + scores). cpu = backend 'cpu' ` +
      `(${haveCpu ? `${threads} threads` : `unavailable: ${info.reason}`}) writing into a reused out.grad, as a ` +
      `training loop does; cpu fresh = the same allocating a new gradient array per call; js = backend 'js' (float64 TypeScript ` +
      `reference, 1 thread, with validation); torch = ` +
      (torchOk
        ? `PyTorch CPU, torch.set_num_threads(${torch.threads}), log_softmax/softmax + loss + backward to the logits ` +
          `(CTC, its α/γ and DCTC on a contiguous (T, N, C) tensor, ctc_loss's documented layout; ACE batch-first as the ACE code).`
        : `PyTorch CPU: n/a (${torchWhy}).`),
    `run took ${elapsed.toFixed(0)} s; load average before it ${load.toFixed(2)}; ` +
      (otherShare == null
        ? 'CPU use of other processes unknown.'
        : `other processes used ${(100 * otherShare).toFixed(1)}% of the CPU time during it` +
          (retried ? `; ${retried} timing(s) repeated because of them (the least disturbed attempt is shown).` : '.')),
    '',
    table(head, rows),
  ];
  if (cases.some((c) => c.cs.torch === 'transcription' && c.torch)) {
    out.push(
      '',
      '† torch = a transcription in torch of the formulas (bench/torch_bench.py), not a PyTorch loss: CTC α/γ from ' +
        "F.ctc_loss's autograd gradient (y' = y − ∂Σctc/∂x, α over the batch, γ frame weights); DCTC as the authors' " +
        "code ('ratio' z* from a second ctc_loss backward). The ≥ 3× goal applies to the CTC and ACE rows only (—).",
    );
  }
  if (ratioRows.length) {
    out.push(
      '',
      'Against plain CTC (same shape, same run): the row and plain CTC timed again, interleaved call by call (backend ' +
        "'cpu', reused out.grad both); cpu ms and CTC cpu ms are their medians there, cpu ×CTC the median of the " +
        "per-pair ratios. js and torch ×CTC: the first table's medians against their own CTC time, for context. DCTC " +
        'reduces by the batch mean only.',
      '',
      table(ratioHead, ratioRows),
    );
  }
  if (marked) {
    out.push(
      '',
      `WARNING the machine was busy: *N% = other processes used N% of the machine's CPU time while this was timed ` +
        `(more than ${100 * BUSY}%; PyTorch's OpenMP threads suffer most). Those timings are not representative: ` +
        're-run on an idle machine.',
    );
  }
  const gradLines = cases
    .filter((c) => c.agreement.grad)
    .map(
      (c) =>
        `  ${c.cs.label} ${c.shape.name}: ${Object.entries(c.agreement.grad)
          .map(([k, v]) => `${k} ${fmtExp(v)}`)
          .join(', ')}`,
    );
  if (gradLines.length) {
    out.push('', `gradients, max |Δ| / max |g| (${GRAD_SAMPLES} sampled entries unless noted):`, ...gradLines);
  }
  out.push('', ...overheadLines(overhead, info.reason));
  // The ≥ 3× goal against PyTorch CPU, CTC and ACE on each shape (the rows the goal applies to).
  const goalRows = cases.filter((c) => c.cs.key === 'ctc' || c.cs.key === 'ace');
  if (goalRows.length) {
    out.push('', `goal: native CPU ≥ ${GOAL}× faster than PyTorch CPU (CTC and ACE, each shape):`);
    for (const c of goalRows) {
      const ratio = c.torchOverCpu;
      const mark = ratio == null ? 'n/a' : ratio >= GOAL ? 'PASS' : 'MISS';
      out.push(
        `  ${c.cs.label.padEnd(4)} ${c.shape.name.padEnd(12)} ${ratio == null ? '—' : `${ratio.toFixed(2)}×`}  ${mark}  (${c.goal})`,
      );
    }
  }
  if (infos.length) out.push('', ...infos);
  if (warnings.length) out.push('', ...warnings);
  else if (cases.some((c) => c.worst != null)) {
    out.push(
      '',
      `all implementations agree: losses within ${TOLERANCE} relative (per sequence and reduced; DCTC's distillation ` +
        `terms and ctcAlign's path scores too), gradients within ${GRAD_TOLERANCE.ours} (ours) and ` +
        `${GRAD_TOLERANCE.torch} (vs PyTorch) of max |g|, identical DCTC z* and ctcAlign paths on every frame` +
        (infos.length
          ? " (PyTorch's DCTC z* except on the near-ties marked ‡, where the terms agree once adjusted)."
          : '.'),
    );
  }
  console.log(out.join('\n'));

  if (opts.json) {
    const raw = {
      ...env,
      tolerance: TOLERANCE,
      goal: GOAL,
      overhead,
      threads: { cpu: haveCpu ? threads : null, js: 1, torch: torch?.threads ?? null },
      options: {
        quick: opts.quick,
        minTime: opts.minTime,
        retries: opts.retries,
        shapes: opts.shapes.map((s) => s.name),
        cases: opts.cases.map((c) => c.key),
      },
      results: cases.map((c) => ({
        loss: c.loss,
        label: c.cs.label,
        call: { kind: c.cs.kind, ...(c.cs.fit ? { fit: c.cs.fit } : {}), ...(c.cs.dctc ? { dctc: c.cs.dctc } : {}) },
        torchImpl: c.torch ? c.cs.torch : null,
        shape: { name: c.shape.name, N: c.shape.N, T: c.shape.T, C: c.shape.C, lMin: c.shape.lMin, lMax: c.shape.lMax },
        ...Object.fromEntries(
          ['cpu', 'js', 'torch'].map((k) => [
            k,
            c[k]
              ? {
                  median: c[k].median,
                  times: c[k].times,
                  loss: c[k].result.loss,
                  othersCpuShare: c[k].others,
                  attempts: c[k].attempts,
                }
              : c.jsSkipped && k === 'js'
                ? 'skipped'
                : null,
          ]),
        ),
        cpuFresh: c.cpuFresh
          ? { median: c.cpuFresh.median, times: c.cpuFresh.times, othersCpuShare: c.cpuFresh.others }
          : null,
        torchOverCpu: c.torchOverCpu,
        jsOverCpu: c.jsOverCpu,
        goal: c.goal,
        ...(c.cs.vsCtc
          ? { cpuOverCtc: c.cpuOverCtc, paired: c.paired ?? null, ctcGoal: c.ctcGoal, ctcVerdict: c.ctcVerdict }
          : {}),
        agreement: c.agreement,
        warnings: c.notes,
        notes: c.infos,
      })),
    };
    fs.writeFileSync(opts.json, `${JSON.stringify(raw, null, 2)}\n`);
    progress(`raw numbers written to ${opts.json}`);
  }
}

main().catch((err) => {
  console.error(err?.stack ?? String(err));
  process.exit(1);
});
