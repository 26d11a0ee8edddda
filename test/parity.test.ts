// The native CPU backend against the float64 reference on random shapes and at the numeric extremes.
import { describe, expect, it } from 'vitest';
import {
  aceCount,
  aceDecode,
  aceLoss,
  backends,
  ctcGreedyDecode,
  ctcLoss,
  type AceDecodeOptions,
  type AceInputOptions,
  type AceOptions,
  type CtcOptions,
} from '../lib/index.js';
import { normalizeAce, normalizeAceDecode, normalizeCtc, normalizeCtcDecode, ACE_SHAPE_KEYS } from '../lib/options.js';
import * as ref from '../lib/reference/index.js';
import {
  logSoftmaxRows,
  ctcCase,
  type CtcCase,
  expectClose,
  expectLossesClose,
  normalFloats,
  randInt,
  rng,
  sequenceBlocks,
} from './helpers.js';

const TOL = 1e-5;
const native = backends().cpu;

function ctcOptionsOf(c: CtcCase): CtcOptions {
  const { logits: _, ...options } = c;
  return options;
}

function compareCtc(data: Float32Array, options: CtcOptions, what: string) {
  const { problem } = normalizeCtc('test', data, options);
  const want = ref.ctcLoss(data, problem);
  const got = ctcLoss(data, { ...options, backend: 'cpu' });
  expect(got.backend).toBe('cpu');
  expectLossesClose(got.losses, want.losses, TOL, `${what} losses`);
  if (Number.isFinite(want.loss)) expectLossesClose([got.loss], [want.loss], TOL, `${what} loss`);
  else expect(got.loss).toBe(want.loss);
  const blocks = sequenceBlocks(problem.batch, problem.time, problem.classes, problem.layout);
  if (problem.grad) expectClose(got.grad!, want.grad!, TOL, `${what} grad`, blocks);
  else expect(got.grad).toBeUndefined();
  if (problem.posterior) expectClose(got.posterior!, want.posterior!, TOL, `${what} posterior`, blocks);
  else expect(got.posterior).toBeUndefined();
  return { got, want };
}

describe.runIf(native)('CTC: native CPU vs reference', () => {
  it('random shapes, repeats, blank ≠ 0, variable lengths, both layouts, every reduction', () => {
    const reductions = ['mean', 'sum', 'none'] as const;
    for (let seed = 1; seed <= 90; seed++) {
      const c = ctcCase(seed);
      const options: CtcOptions = { ...ctcOptionsOf(c), reduction: reductions[seed % 3], posterior: seed % 2 === 0 };
      compareCtc(c.logits, options, `seed ${seed}`);
      // The same problem with log-probabilities as input (gradient −y').
      compareCtc(
        logSoftmaxRows(c.logits, c.classes),
        { ...options, input: 'logProbs', posterior: true },
        `seed ${seed} logProbs`,
      );
    }
  });

  it('larger shapes: T = 200, C = 300, L up to 60', () => {
    for (let seed = 200; seed < 204; seed++) {
      const c = ctcCase(seed, { maxT: 200, maxC: 300, maxN: 4 });
      compareCtc(c.logits, { ...ctcOptionsOf(c), posterior: true }, `large seed ${seed}`);
    }
  });

  it('impossible alignments: +Infinity and zero gradient, or 0 with zeroInfinity', () => {
    for (let seed = 300; seed < 330; seed++) {
      const c = ctcCase(seed, { allowImpossible: true, maxT: 8 });
      for (const zeroInfinity of [false, true]) {
        compareCtc(
          c.logits,
          { ...ctcOptionsOf(c), zeroInfinity, posterior: true, reduction: 'sum' },
          `impossible seed ${seed}`,
        );
      }
    }
    const { got } = compareCtc(new Float32Array(2 * 3), { batch: 1, time: 2, classes: 3, targets: [[1, 1]] }, 'repeat');
    expect(got.losses[0]).toBe(Infinity);
    expect(got.grad!.every((g) => g === 0)).toBe(true);
  });

  it('a forced frame at log-probability −500', () => {
    // Target [1, 2, 3] in T = 3 frames: the only path is 1 2 3; frame 1 forces class 2 at log-prob −500.
    const C = 5;
    const lp = logSoftmaxRows(normalFloats(rng(7), 3 * C), C);
    lp[1 * C + 2] = -500;
    const { got } = compareCtc(
      lp,
      { batch: 1, time: 3, classes: C, targets: [[1, 2, 3]], input: 'logProbs', posterior: true },
      'lp −500',
    );
    expect(got.losses[0]).toBeGreaterThan(500);
    // Longer: T = 12 with blanks allowed, one frame where every feasible path pays −500 for its label.
    const T = 12;
    const lp2 = logSoftmaxRows(normalFloats(rng(8), T * C), C);
    for (let t = 0; t < T; t++) lp2[t * C + 0] = t === 6 ? -500 : lp2[t * C + 0];
    for (let k = 0; k < C; k++) if (k !== 4) lp2[6 * C + k] = -500;
    compareCtc(
      lp2,
      { batch: 1, time: T, classes: C, targets: [[1, 4, 2]], input: 'logProbs', posterior: true },
      'lp2 −500',
    );
    // The same extreme through logits: one logit 500 below the rest.
    // Target 4 4 4 4 4 4 in 11 frames has the single path 4 ∅ 4 ∅ … 4, so frame 6 must emit 4.
    const x = normalFloats(rng(9), 11 * C);
    x[6 * C + 4] = -500;
    const forced = compareCtc(
      x,
      { batch: 1, time: 11, classes: C, targets: [[4, 4, 4, 4, 4, 4]], posterior: true },
      'logit −500',
    );
    expect(forced.got.losses[0]).toBeGreaterThan(500);
  });

  it('logits of ±1e4', () => {
    for (let seed = 400; seed < 410; seed++) {
      const c = ctcCase(seed, { maxT: 40, maxC: 20 });
      const r = rng(seed);
      const x = c.logits.map(() => (r() < 0.5 ? -1e4 : 1e4) * r());
      compareCtc(x, { ...ctcOptionsOf(c), posterior: true, reduction: 'sum' }, `±1e4 seed ${seed}`);
    }
  });

  it('is deterministic: bitwise the same for repeated runs and any thread count', () => {
    const c = ctcCase(11, { maxT: 60, maxC: 50, maxN: 8 });
    const o = { ...ctcOptionsOf(c), posterior: true, backend: 'cpu' as const };
    const a = ctcLoss(c.logits, { ...o, threads: 1 });
    const b = ctcLoss(c.logits, { ...o, threads: 2 });
    const d = ctcLoss(c.logits, o);
    for (const r of [b, d]) {
      expect(Buffer.from(r.grad!.buffer).equals(Buffer.from(a.grad!.buffer))).toBe(true);
      expect(Buffer.from(r.posterior!.buffer).equals(Buffer.from(a.posterior!.buffer))).toBe(true);
      expect(Buffer.from(r.losses.buffer).equals(Buffer.from(a.losses.buffer))).toBe(true);
      expect(r.loss).toBe(a.loss);
    }
  });

  it('greedy decoding agrees with the reference', () => {
    for (let seed = 500; seed < 540; seed++) {
      const c = ctcCase(seed);
      const o = {
        batch: c.batch,
        time: c.time,
        classes: c.classes,
        layout: c.layout,
        blank: c.blank,
        inputLengths: c.inputLengths,
      };
      // Coarse values make ties (resolved to the lowest class) common.
      const x = c.logits.map((v) => Math.round(v));
      const { problem } = normalizeCtcDecode('test', x, o);
      expect(ctcGreedyDecode(x, { ...o, backend: 'cpu' })).toEqual(ref.ctcGreedyDecode(x, problem));
    }
  });
});

interface AceCaseOptions {
  input: Float32Array;
  options: Record<string, unknown>;
}

function aceCase(seed: number): AceCaseOptions {
  const r = rng(seed);
  const batch = randInt(r, 1, 5);
  const classes = randInt(r, 2, 15);
  const blank = r() < 0.5 ? 0 : randInt(r, 0, classes - 1);
  const twoD = r() < 0.3;
  const height = randInt(r, 1, 6);
  const width = randInt(r, 1, 8);
  const time = twoD ? height * width : randInt(r, 1, 40);
  const layout = twoD ? undefined : r() < 0.5 ? 'NTC' : 'TNC';
  const inputLengths = Int32Array.from({ length: batch }, () => (twoD || r() < 0.4 ? time : randInt(r, 1, time)));
  const probs = r() < 0.3;
  let input = normalFloats(r, batch * time * classes, 2);
  if (probs) {
    // Rows of a softmax: valid probabilities.
    input = input.map(Math.exp);
    for (let i = 0; i < input.length; i += classes) {
      let s = 0;
      for (let k = 0; k < classes; k++) s += input[i + k];
      for (let k = 0; k < classes; k++) input[i + k] /= s;
    }
  }
  const useCounts = r() < 0.5;
  const targets: number[][] = [];
  const counts = new Float32Array(batch * classes);
  for (let n = 0; n < batch; n++) {
    const L = randInt(r, 0, inputLengths[n]);
    const labels: number[] = [];
    for (let j = 0; j < L; j++) {
      let k: number;
      do k = randInt(r, 0, classes - 1);
      while (k === blank);
      labels.push(k);
      counts[n * classes + k] += 1;
    }
    targets.push(labels);
  }
  const options: Record<string, unknown> = {
    batch,
    classes,
    blank,
    input: probs ? 'probs' : 'logits',
    variant: r() < 0.5 ? 'ce' : 'regression',
    reduction: (['mean', 'sum', 'none'] as const)[randInt(r, 0, 2)],
    ...(r() < 0.2 ? { eps: 1e-6 } : {}),
    ...(twoD ? { height, width } : { time, layout, inputLengths }),
    ...(useCounts ? { counts } : { targets }),
  };
  return { input, options };
}

describe.runIf(native)('ACE: native CPU vs reference', () => {
  it('random 1D (both layouts, variable lengths) and 2D, logits and probs, ce and regression', () => {
    for (let seed = 1; seed <= 120; seed++) {
      const { input, options } = aceCase(seed);
      const { problem } = normalizeAce('test', input, options);
      const want = ref.aceLoss(input, problem);
      const got = aceLoss(input, { ...options, backend: 'cpu' } as unknown as AceOptions);
      expectLossesClose(got.losses, want.losses, TOL, `seed ${seed} losses`);
      expectLossesClose([got.loss], [want.loss], TOL, `seed ${seed} loss`);
      expectClose(
        got.grad!,
        want.grad!,
        TOL,
        `seed ${seed} grad`,
        sequenceBlocks(problem.batch, problem.time, problem.classes, problem.layout),
      );
    }
  });

  it('logits of ±1e4', () => {
    for (let seed = 600; seed < 610; seed++) {
      const { input, options } = aceCase(seed);
      if (options.input !== 'logits') continue;
      const r = rng(seed);
      const x = input.map(() => (r() < 0.5 ? -1e4 : 1e4) * r());
      const { problem } = normalizeAce('test', x, options);
      const want = ref.aceLoss(x, problem);
      const got = aceLoss(x, { ...options, backend: 'cpu' } as unknown as AceOptions);
      expectLossesClose(got.losses, want.losses, TOL, `±1e4 seed ${seed} losses`);
      expectClose(
        got.grad!,
        want.grad!,
        TOL,
        `±1e4 seed ${seed} grad`,
        sequenceBlocks(problem.batch, problem.time, problem.classes, problem.layout),
      );
    }
  });

  it('decoding and counting agree with the reference', () => {
    for (let seed = 700; seed < 740; seed++) {
      const { input, options } = aceCase(seed);
      const shape = Object.fromEntries(
        Object.entries(options).filter(([k]) => (ACE_SHAPE_KEYS as readonly string[]).includes(k)),
      );
      const x = input.map((v) => Math.round(v * 4) / 4);
      for (const collapseRepeats of [false, true]) {
        const { problem } = normalizeAceDecode('test', x, { ...shape, collapseRepeats });
        expect(aceDecode(x, { ...shape, collapseRepeats, backend: 'cpu' } as unknown as AceDecodeOptions)).toEqual(
          ref.aceDecode(x, problem, collapseRepeats),
        );
      }
      const { problem } = normalizeAceDecode('test', x, shape, ACE_SHAPE_KEYS);
      const want = ref.aceCount(x, problem);
      const got = aceCount(x, { ...shape, backend: 'cpu' } as unknown as AceInputOptions);
      expectClose(got.expected, want.expected, TOL, `seed ${seed} expected`);
      expect(Array.from(got.rounded)).toEqual(Array.from(want.rounded));
    }
  });
});
