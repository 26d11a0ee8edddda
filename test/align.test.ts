// ctcAlign (CTC forced alignment): the native CPU backend against the float64 reference, against brute force on
// tiny problems, and the documented tie rules.
import { describe, expect, it } from 'vitest';
import { backends, ctcAlign, ctcAlignAsync, type CtcAlignOptions } from '../lib/index.js';
import { normalizeAlign } from '../lib/options.js';
import * as ref from '../lib/reference/index.js';
import { logSoftmaxRows, ctcCase, type CtcCase, expectLossesClose, normalFloats, rng } from './helpers.js';

const TOL = 1e-5;
const native = backends().cpu;
const available = (['js', 'cpu'] as const).filter((b) => b === 'js' || native);

function optionsOf(c: CtcCase): CtcAlignOptions {
  const { logits: _, ...options } = c;
  return options;
}

function row(layout: 'NTC' | 'TNC', N: number, T: number, C: number, n: number, t: number): number {
  return layout === 'NTC' ? (n * T + t) * C : (t * N + n) * C;
}

/** B(π): merge repeats, drop blanks. */
function collapse(path: ArrayLike<number>, blank: number): number[] {
  const out: number[] = [];
  let prev = -1;
  for (let i = 0; i < path.length; i++) {
    const k = path[i];
    if (k !== prev && k !== blank) out.push(k);
    prev = k;
  }
  return out;
}

function compareAlign(data: Float32Array, options: CtcAlignOptions, what: string) {
  const { problem } = normalizeAlign('test', data, options);
  const want = ref.ctcAlign(data, problem);
  const got = ctcAlign(data, { ...options, backend: 'cpu' });
  expect(got.backend).toBe('cpu');
  expect(Array.from(got.paths), `${what} paths`).toEqual(Array.from(want.paths));
  expectLossesClose(got.scores, want.scores, TOL, `${what} scores`);
  return { got, want };
}

/** Checks the documented form of a result: padding, collapse to the target, score = Σ ln y along the path. */
function checkForm(
  r: { paths: Int32Array; scores: Float32Array },
  data: Float32Array,
  o: CtcAlignOptions & { targets: number[][] },
  logProbs: boolean,
) {
  const N = o.batch,
    T = o.time,
    C = o.classes,
    layout = o.layout ?? 'NTC',
    blank = o.blank ?? 0;
  const lp = logProbs ? data : logSoftmaxRows(data, C);
  const lengths = o.inputLengths ? Array.from(o.inputLengths as ArrayLike<number>) : new Array(N).fill(T);
  for (let n = 0; n < N; n++) {
    const p = r.paths.subarray(n * T, (n + 1) * T);
    if (r.scores[n] === -Infinity || (lengths[n] === 0 && o.targets[n].length === 0)) {
      expect(Array.from(p)).toEqual(new Array(T).fill(-1));
      continue;
    }
    const Tn = lengths[n];
    expect(Array.from(p.subarray(Tn))).toEqual(new Array(T - Tn).fill(-1));
    expect(collapse(p.subarray(0, Tn), blank)).toEqual(o.targets[n]);
    let score = 0;
    for (let t = 0; t < Tn; t++) score += lp[row(layout, N, T, C, n, t) + p[t]];
    expectLossesClose([r.scores[n]], [score], 1e-5, `score ${n}`);
  }
}

describe.runIf(native)('ctcAlign: native CPU vs reference', () => {
  it('random shapes, repeats, blank ≠ 0, variable lengths, both layouts', () => {
    for (let seed = 1; seed <= 80; seed++) {
      const c = ctcCase(seed);
      const { got } = compareAlign(c.logits, optionsOf(c), `seed ${seed}`);
      checkForm(got, c.logits, c, false);
    }
  });

  it('larger shapes', () => {
    for (let seed = 100; seed < 105; seed++) {
      const c = ctcCase(seed, { maxT: 200, maxC: 300, maxN: 4 });
      compareAlign(c.logits, optionsOf(c), `large seed ${seed}`);
    }
  });

  it('impossible rows: all −1 and score −Infinity; T_n = 0 with an empty target: score 0', () => {
    for (let seed = 300; seed < 330; seed++) {
      const c = ctcCase(seed, { allowImpossible: true, maxT: 8 });
      const { got } = compareAlign(c.logits, optionsOf(c), `impossible seed ${seed}`);
      checkForm(got, c.logits, c, false);
    }
    const o = { batch: 3, time: 3, classes: 3, targets: [[1, 1, 2], [], [2]], inputLengths: [3, 0, 0] };
    const { got } = compareAlign(new Float32Array(27), o, 'explicit');
    expect(Array.from(got.paths)).toEqual([-1, -1, -1, -1, -1, -1, -1, -1, -1]);
    expect(Array.from(got.scores)).toEqual([-Infinity, 0, -Infinity]);
  });

  it('logProbs input: as given (normalised or not)', () => {
    for (let seed = 400; seed < 430; seed++) {
      const c = ctcCase(seed);
      const lp = logSoftmaxRows(c.logits, c.classes);
      const { got } = compareAlign(lp, { ...optionsOf(c), input: 'logProbs' }, `logProbs seed ${seed}`);
      checkForm(got, lp, c, true);
      const fromLogits = ctcAlign(c.logits, { ...optionsOf(c), backend: 'cpu' });
      expect(Array.from(got.paths)).toEqual(Array.from(fromLogits.paths));
      expectLossesClose(got.scores, fromLogits.scores, 1e-5, `logProbs seed ${seed} vs logits`);
      // Unnormalised scores are used as given.
      const raw = c.logits.map((v) => v - 3);
      const r = compareAlign(raw, { ...optionsOf(c), input: 'logProbs' }, `raw seed ${seed}`);
      checkForm(r.got, raw, c, true);
    }
  });

  it('finds the best path: brute force over every path on tiny problems', () => {
    for (let seed = 500; seed < 560; seed++) {
      const r = rng(seed);
      const T = 1 + Math.floor(r() * 6),
        C = 2 + Math.floor(r() * 2);
      const blank = Math.floor(r() * C);
      const labels: number[] = [];
      const L = Math.floor(r() * (T + 1) * 0.7);
      for (let j = 0; j < L; j++) {
        let k: number;
        do k = Math.floor(r() * C);
        while (k === blank);
        labels.push(k);
      }
      const x = normalFloats(r, T * C, 2);
      const lp = logSoftmaxRows(x, C);
      let best = -Infinity;
      const path = new Array(T).fill(0);
      for (let code = 0; code < C ** T; code++) {
        let v = code,
          score = 0;
        for (let t = 0; t < T; t++) {
          path[t] = v % C;
          v = Math.floor(v / C);
          score += lp[t * C + path[t]];
        }
        const b = collapse(path, blank);
        if (b.length === labels.length && b.every((k, i) => k === labels[i])) best = Math.max(best, score);
      }
      const got = ctcAlign(x, { batch: 1, time: T, classes: C, blank, targets: [labels], backend: 'cpu' });
      if (best === -Infinity) expect(got.scores[0]).toBe(-Infinity);
      else expectLossesClose(got.scores, [best], 1e-5, `seed ${seed}`);
    }
  });

  it('threads 1 and 2 give bitwise the same outputs; async gives the sync result', async () => {
    const c = ctcCase(11, { maxT: 60, maxC: 50, maxN: 8 });
    const o = { ...optionsOf(c), backend: 'cpu' as const };
    const a = ctcAlign(c.logits, { ...o, threads: 1 });
    const b = ctcAlign(c.logits, { ...o, threads: 2 });
    const d = await ctcAlignAsync(c.logits, o);
    for (const r of [b, d]) {
      expect(Array.from(r.paths)).toEqual(Array.from(a.paths));
      expect(Array.from(r.scores)).toEqual(Array.from(a.scores));
    }
    expect(d.backend).toBe('cpu');
  });
});

describe.each(available)("ctcAlign tie rules on backend '%s'", (backend) => {
  // Uniform scores: every path ties, so the tie rules alone pick it, in any precision.
  const uniform = (N: number, T: number, C: number) => new Float32Array(N * T * C);

  it('stay before advance; the final blank before the last label', async () => {
    // Backwards from the final blank, staying wins until only advancing is possible: 1 ∅ ∅ ∅ ∅.
    let r = ctcAlign(uniform(1, 5, 3), { batch: 1, time: 5, classes: 3, targets: [[1]], backend });
    expect(Array.from(r.paths)).toEqual([1, 0, 0, 0, 0]);
    expect(r.scores[0]).toBeCloseTo(5 * -Math.log(3), 5);
    // Two labels: 1 2 ∅ ∅ ∅.
    r = ctcAlign(uniform(1, 5, 3), { batch: 1, time: 5, classes: 3, targets: [[1, 2]], backend });
    expect(Array.from(r.paths)).toEqual([1, 2, 0, 0, 0]);
    // Exactly as many frames as needed: the only path.
    r = await ctcAlignAsync(uniform(1, 3, 3), { batch: 1, time: 3, classes: 3, targets: [[1, 1]], backend });
    expect(Array.from(r.paths)).toEqual([1, 0, 1]);
    expect(r.backend).toBe(backend);
  });

  it('the reference and the native backend agree on ties', () => {
    for (let seed = 600; seed < 620; seed++) {
      const c = ctcCase(seed);
      // Log-probabilities (used as given) of 0 and −1 only: paths tie exactly in any precision, and often.
      const r = rng(seed);
      const x = new Float32Array(c.logits.length);
      for (let i = 0; i < x.length; i += c.classes) {
        const frame: number[] = Array.from({ length: c.classes }, (_, k) => (k < c.classes / 2 ? 0 : -1));
        for (let k = c.classes - 1; k > 0; k--) {
          const j = Math.floor(r() * (k + 1));
          [frame[k], frame[j]] = [frame[j], frame[k]];
        }
        x.set(frame, i);
      }
      const o = { ...optionsOf(c), input: 'logProbs' as const };
      const { problem } = normalizeAlign('test', x, o);
      const want = ref.ctcAlign(x, problem);
      const got = ctcAlign(x, { ...o, backend });
      expect(Array.from(got.paths), `seed ${seed}`).toEqual(Array.from(want.paths));
    }
  });
});
