// The CTC family at the extremes (README, "Numerics at the extremes"), on every backend under test ('js' and 'cpu'
// in the unit project, 'cuda' on the SIMT host in cuda-emulated): large magnitudes (D1), probabilities below the
// extended range (D2), NaN and +∞ inputs (D3), losses that round below 0 (D4), Viterbi ties (D5), DCTC's z* on
// near-ties (D6) and large margins (D7). Expected values are closed forms computed here, independently of the
// kernels (alignment counts by an integer recursion, brute force over paths, the softmax without z).
import { describe, expect, it } from 'vitest';
import { ctcAlign, ctcLoss, dctcLoss } from '../lib/index.js';
import { nearTieArgmax } from '../lib/reference/dctc.js';
import { backendsUnderTest, rng } from './helpers.js';

const BACKENDS = backendsUnderTest();

/** The number of CTC alignments of length T that collapse to `label` (exact, BigInt). */
function countAlignments(T: number, label: number[]): bigint {
  const S = 2 * label.length + 1;
  const cls = (s: number) => (s % 2 === 0 ? -1 : label[(s - 1) / 2]);
  let a = new Array<bigint>(S).fill(0n);
  a[0] = 1n;
  if (S > 1) a[1] = 1n;
  for (let t = 1; t < T; t++) {
    const b = new Array<bigint>(S).fill(0n);
    for (let s = 0; s < S; s++) {
      b[s] = a[s] + (s >= 1 ? a[s - 1] : 0n) + (s >= 2 && cls(s) !== -1 && cls(s) !== cls(s - 2) ? a[s - 2] : 0n);
    }
    a = b;
  }
  return S === 1 ? a[0] : a[S - 1] + a[S - 2];
}

/** B(π): merge repeats, drop blanks. */
function collapse(path: ArrayLike<number>, blank = 0): number[] {
  const out: number[] = [];
  let prev = -1;
  for (let i = 0; i < path.length; i++) {
    if (path[i] !== prev && path[i] !== blank) out.push(path[i]);
    prev = path[i];
  }
  return out;
}

const relClose = (got: number, want: number, tol: number) =>
  expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want)));

function rowSums(a: Float32Array, C: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i += C) out.push(a.subarray(i, i + C).reduce((x, y) => x + y, 0));
  return out;
}

describe.each(BACKENDS)('numerics at the extremes, backend $name', ({ name: backend, ok, why }) => {
  const skip = !ok;
  if (skip) it.skip(`backend ${backend} unavailable: ${why}`, () => {});

  describe.skipIf(skip)('D1: large magnitudes', () => {
    it('logits all −3e38 (and all +3e38): loss T ln C − ln #alignments, posterior rows sum to 1', () => {
      const T = 12,
        C = 6,
        label = [1, 2, 3, 2];
      const want = T * Math.log(C) - Math.log(Number(countAlignments(T, label)));
      for (const v of [-3e38, 3e38, 0]) {
        const x = new Float32Array(T * C).fill(v);
        const r = ctcLoss(x, {
          batch: 1,
          time: T,
          classes: C,
          targets: [label],
          reduction: 'sum',
          posterior: true,
          backend,
        });
        relClose(r.loss, want, 1e-12);
        expect(r.losses[0]).toBe(Math.fround(r.loss));
        for (const s of rowSums(r.posterior!, C)) relClose(s, 1, 1e-6);
        // grad = 1/C − y′: every row sums to 0.
        for (const s of rowSums(r.grad!, C)) expect(Math.abs(s)).toBeLessThan(1e-6);
      }
    });

    it('T = 30, C = 12, l = (1, 2, 3, 4, 5), logits all −3e38: loss 55.519041686, ctcAlign score −30 ln 12 = −74.547199494', () => {
      const T = 30,
        C = 12,
        label = [1, 2, 3, 4, 5];
      const x = new Float32Array(T * C).fill(-3e38);
      const want = T * Math.log(C) - Math.log(Number(countAlignments(T, label)));
      relClose(want, 55.51904168600895, 1e-14);
      const r = ctcLoss(x, { batch: 1, time: T, classes: C, targets: [label], reduction: 'sum', backend });
      relClose(r.loss, want, 1e-12);
      const a = ctcAlign(x, { batch: 1, time: T, classes: C, targets: [label], backend });
      relClose(a.scores[0], -74.54719949364001, 1e-7);
      expect(Array.from(a.paths)).toEqual([...label, ...new Array(T - label.length).fill(0)]);
    });

    it('ctcAlign on logits all −3e38: score −T ln C, the tie-rule path (labels first, then the final blank)', () => {
      const T = 10,
        C = 5,
        label = [1, 2, 3, 2];
      const x = new Float32Array(T * C).fill(-3e38);
      const r = ctcAlign(x, { batch: 1, time: T, classes: C, targets: [label], backend });
      relClose(r.scores[0], -T * Math.log(C), 1e-6);
      expect(Array.from(r.paths)).toEqual([1, 2, 3, 2, 0, 0, 0, 0, 0, 0]);
    });

    it('log-probs of −1e15 and −1e10: posterior rows sum to 1; loss T·1e15 − ln #alignments in double', () => {
      const T = 8,
        C = 4,
        label = [1, 2];
      const count = Math.log(Number(countAlignments(T, label)));
      const uniform = ctcLoss(new Float32Array(T * C), {
        batch: 1,
        time: T,
        classes: C,
        targets: [label],
        posterior: true,
        backend,
      });
      for (const v of [-1e15, -1e10]) {
        const x = new Float32Array(T * C).fill(v);
        const r = ctcLoss(x, {
          batch: 1,
          time: T,
          classes: C,
          targets: [label],
          input: 'logProbs',
          reduction: 'sum',
          posterior: true,
          backend,
        });
        relClose(r.loss, -T * Math.fround(v) - count, 1e-15);
        for (const s of rowSums(r.posterior!, C)) relClose(s, 1, 1e-6);
        for (let i = 0; i < T * C; i++) expect(Math.abs(r.posterior![i] - uniform.posterior![i])).toBeLessThan(1e-6);
      }
    });
  });

  describe.skipIf(skip)('D2: probabilities below the extended range', () => {
    it('a label class at logit −1e30 on every frame (the warp-ctc case): +Infinity, zero gradient; 0 with zeroInfinity', () => {
      const T = 6,
        C = 5;
      const x = new Float32Array(2 * T * C).map((_, i) => Math.sin(i));
      for (let t = 0; t < T; t++) x[t * C + 3] = -1e30;
      for (const zeroInfinity of [false, true]) {
        const r = ctcLoss(x, {
          batch: 2,
          time: T,
          classes: C,
          targets: [[1, 3], [2]],
          reduction: 'none',
          zeroInfinity,
          posterior: true,
          backend,
        });
        expect(r.losses[0]).toBe(zeroInfinity ? 0 : Infinity);
        expect(Number.isFinite(r.losses[1]) && r.losses[1] > 0).toBe(true);
        expect(Array.from(r.grad!.subarray(0, T * C)).every((g) => g === 0)).toBe(true);
        expect(Array.from(r.posterior!.subarray(0, T * C)).every((g) => g === 0)).toBe(true);
        const ref = ctcLoss(x, {
          batch: 2,
          time: T,
          classes: C,
          targets: [[1, 3], [2]],
          reduction: 'none',
          zeroInfinity,
          backend: 'js',
        });
        relClose(r.losses[1], ref.losses[1], 1e-6);
      }
    });

    it('logits ±3e38: a label class 6e38 below the frame max is +Infinity; a path on the maxima is loss 0, grad 0', () => {
      const T = 4,
        C = 3;
      const frame = (max: number) => [0, 1, 2].map((k) => (k === max ? 3e38 : -3e38));
      const impossible = new Float32Array([...frame(0), ...frame(0), ...frame(0), ...frame(0)]);
      const r1 = ctcLoss(impossible, { batch: 1, time: T, classes: C, targets: [[1]], backend });
      expect(r1.losses[0]).toBe(Infinity);
      expect(Array.from(r1.grad!).every((g) => g === 0)).toBe(true);
      const certain = new Float32Array([...frame(1), ...frame(0), ...frame(2), ...frame(0)]);
      const r2 = ctcLoss(certain, { batch: 1, time: T, classes: C, targets: [[1, 2]], posterior: true, backend });
      expect(r2.losses[0]).toBe(0);
      expect(r2.loss).toBe(0);
      expect(Array.from(r2.grad!).every((g) => g === 0)).toBe(true);
      expect(Array.from(r2.posterior!)).toEqual([0, 1, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0]);
      const a = ctcAlign(certain, { batch: 1, time: T, classes: C, targets: [[1, 2]], backend });
      expect(Array.from(a.paths)).toEqual([1, 0, 2, 0]);
      expect(a.scores[0]).toBe(0);
    });

    it('a loss beyond float32: +Infinity in losses, the exact value in the double loss', () => {
      // log-probs all −3e38, T = 2, C = 2, l = [1]: 3 paths of probability e^(−6e38).
      const v = Math.fround(-3e38);
      const r = ctcLoss(new Float32Array(4).fill(v), {
        batch: 1,
        time: 2,
        classes: 2,
        targets: [[1]],
        input: 'logProbs',
        reduction: 'sum',
        backend,
      });
      expect(r.losses[0]).toBe(Infinity);
      relClose(r.loss, -2 * v - Math.log(3), 1e-15);
    });
  });

  describe.skipIf(skip)('D3: NaN and +Infinity inputs', () => {
    const T = 5,
      C = 4;
    const base = () => new Float32Array(4 * T * C).map((_, i) => Math.cos(0.7 * i));
    const targets = [[1, 2], [2], [3], [1, 2, 3, 1, 2]];
    const inputLengths = [5, 5, 3, 2];

    function checkRows(a: Float32Array | undefined, n: number, Tn: number, nan: boolean) {
      if (!a) return;
      for (let t = 0; t < T; t++)
        for (let k = 0; k < C; k++) {
          const v = a[(n * T + t) * C + k];
          if (t >= Tn) expect(v).toBe(0);
          else if (nan) expect(Number.isNaN(v)).toBe(true);
          else expect(Number.isFinite(v)).toBe(true);
        }
    }

    it('CTC: a NaN, +∞ or a logits frame of −∞ in t < T_n makes that sequence NaN (loss, grad, posterior rows); t ≥ T_n is ignored', () => {
      const x = base();
      x[(0 * T + 2) * C + 3] = NaN; // seq 0: NaN in a class outside its label
      x[(1 * T + 1) * C + 0] = Infinity; // seq 1: +∞
      x[(2 * T + 4) * C + 1] = NaN; // seq 2: at t = 4 ≥ T_2 = 3, ignored
      x.fill(-Infinity, (3 * T + 1) * C, (3 * T + 2) * C); // seq 3 (infeasible label): a frame of −∞
      for (const zeroInfinity of [false, true]) {
        const r = ctcLoss(x, {
          batch: 4,
          time: T,
          classes: C,
          targets,
          inputLengths,
          reduction: 'none',
          zeroInfinity,
          posterior: true,
          backend,
        });
        expect(Number.isNaN(r.losses[0]) && Number.isNaN(r.losses[1]) && Number.isNaN(r.losses[3])).toBe(true);
        expect(Number.isFinite(r.losses[2])).toBe(true);
        expect(Number.isNaN(r.loss)).toBe(true);
        for (const out of [r.grad, r.posterior]) {
          checkRows(out, 0, 5, true);
          checkRows(out, 1, 5, true);
          checkRows(out, 2, 3, false);
          checkRows(out, 3, 2, true);
        }
      }
    });

    it('log-probs: a frame of −∞ is probability 0 (+Infinity, zero rows); NaN is NaN', () => {
      const x = new Float32Array(2 * T * C).fill(Math.log(0.25));
      x.fill(-Infinity, 2 * C, 3 * C); // seq 0, t = 2
      x[(1 * T + 3) * C + 2] = NaN; // seq 1, t = 3
      const r = ctcLoss(x, {
        batch: 2,
        time: T,
        classes: C,
        targets: [[1], [1]],
        input: 'logProbs',
        reduction: 'none',
        posterior: true,
        backend,
      });
      expect(r.losses[0]).toBe(Infinity);
      expect(Array.from(r.grad!.subarray(0, T * C)).every((g) => g === 0)).toBe(true);
      expect(Number.isNaN(r.losses[1])).toBe(true);
      checkRows(r.grad, 1, T, true);
    });

    it('fit: a NaN sequence is NaN and left out of the batch sums', () => {
      const x = base();
      x[(0 * T + 2) * C + 3] = NaN;
      const opts = {
        batch: 4,
        time: T,
        classes: C,
        targets,
        inputLengths,
        reduction: 'sum' as const,
        posterior: true,
        fit: { alpha: 0.4, gamma: 0.5 },
        backend,
      };
      const r = ctcLoss(x, opts);
      checkRows(r.grad, 0, 5, true);
      checkRows(r.posterior, 0, 5, true);
      // The other sequences as in a batch without the NaN one (its sums are not taken).
      const clean = base();
      clean.fill(0, 0, T * C);
      const targets2 = [[1, 2, 3, 1, 2, 3], ...targets.slice(1)]; // seq 0 impossible instead: also left out
      const r2 = ctcLoss(clean, { ...opts, targets: targets2 });
      for (let i = T * C; i < 4 * T * C; i++) expect(Math.abs(r.grad![i] - r2.grad![i])).toBeLessThan(1e-6);
    });

    it('ctcAlign: score NaN and a row of −1', () => {
      const x = base();
      x[(0 * T + 2) * C + 3] = NaN;
      x[(1 * T + 1) * C + 0] = Infinity;
      const r = ctcAlign(x, { batch: 4, time: T, classes: C, targets, inputLengths, backend });
      for (const n of [0, 1]) {
        expect(Number.isNaN(r.scores[n])).toBe(true);
        expect(Array.from(r.paths.subarray(n * T, n * T + T))).toEqual([-1, -1, -1, -1, -1]);
      }
      expect(Number.isFinite(r.scores[2])).toBe(true);
      expect(r.scores[3]).toBe(-Infinity);
    });

    it('DCTC: NaN losses (both terms), NaN grad rows t < T_n, z* = blank there', () => {
      const x = base();
      x[(0 * T + 2) * C + 3] = NaN;
      x.fill(-Infinity, (3 * T + 1) * C, (3 * T + 2) * C);
      for (const alignment of ['ratio', 'posterior', 'viterbi'] as const) {
        const r = dctcLoss(x, {
          batch: 4,
          time: T,
          classes: C,
          targets,
          inputLengths,
          alignment,
          reduction: 'sum',
          backend,
        });
        for (const n of [0, 3]) {
          expect([r.losses[n], r.ctcLosses[n], r.distillLosses[n]].every(Number.isNaN)).toBe(true);
          expect(Array.from(r.alignment.subarray(n * T, n * T + T))).toEqual(
            n === 0 ? [0, 0, 0, 0, 0] : [0, 0, -1, -1, -1],
          );
        }
        checkRows(r.grad, 0, 5, true);
        checkRows(r.grad, 3, 2, true);
        checkRows(r.grad, 1, 5, false);
        expect(Number.isNaN(r.loss)).toBe(true);
      }
    });
  });

  describe.skipIf(skip)('D4: losses that round below 0', () => {
    it('logits: every loss is >= 0 (near-certain alignments); log-probs are returned as computed', () => {
      const r0 = rng(7);
      for (let c = 0; c < 30; c++) {
        const T = 1 + Math.floor(r0() * 20),
          C = 2 + Math.floor(r0() * 4);
        const label = [1 + Math.floor(r0() * (C - 1))];
        const x = new Float32Array(T * C);
        for (let t = 0; t < T; t++)
          for (let k = 0; k < C; k++) x[t * C + k] = (t === 0 ? k === label[0] : k === 0) ? 20 + r0() * 30 : -20 * r0();
        const r = ctcLoss(x, { batch: 1, time: T, classes: C, targets: [label], reduction: 'sum', backend });
        expect(r.losses[0] >= 0 && r.loss >= 0, `${r.losses[0]} ${r.loss}`).toBe(true);
        const d = dctcLoss(x, { batch: 1, time: T, classes: C, targets: [label], backend });
        expect(d.ctcLosses[0] >= 0).toBe(true);
      }
      // Unnormalised log-probs of +1: −ln p = −(T + ln #alignments) < 0, as computed.
      const T = 6,
        C = 3;
      const r = ctcLoss(new Float32Array(T * C).fill(1), {
        batch: 1,
        time: T,
        classes: C,
        targets: [[1, 2]],
        input: 'logProbs',
        reduction: 'sum',
        backend,
      });
      relClose(r.loss, -(T + Math.log(Number(countAlignments(T, [1, 2])))), 1e-12);
    });
  });

  describe.skipIf(skip)('D5: ctcAlign ties', () => {
    it('logits ±1e4: the path of the tie rule, identical to the reference; the brute-force best score', () => {
      const r0 = rng(11);
      const T = 6,
        C = 3,
        label = [1, 2];
      for (let c = 0; c < 25; c++) {
        const x = new Float32Array(T * C);
        for (let t = 0; t < T; t++) {
          for (let k = 0; k < C; k++) x[t * C + k] = r0() < 0.5 ? 1e4 : -1e4;
          x[t * C + Math.floor(r0() * C)] = 1e4;
        }
        // Brute force: every path of C^T that collapses to l; ln p = Σ_t (x_π − max) − ln #max.
        let best = -Infinity;
        for (let code = 0; code < C ** T; code++) {
          const path: number[] = [];
          for (let t = 0, v = code; t < T; t++, v = Math.floor(v / C)) path.push(v % C);
          if (collapse(path).join() !== label.join()) continue;
          let s = 0;
          for (let t = 0; t < T; t++) {
            const row = Array.from(x.subarray(t * C, t * C + C));
            const m = Math.max(...row);
            s += row[path[t]] - m - Math.log(row.filter((v) => v === m).length);
          }
          best = Math.max(best, s);
        }
        const ref = ctcAlign(x, { batch: 1, time: T, classes: C, targets: [label], backend: 'js' });
        const r = ctcAlign(x, { batch: 1, time: T, classes: C, targets: [label], backend });
        expect(Array.from(r.paths)).toEqual(Array.from(ref.paths));
        expect(collapse(r.paths)).toEqual(label);
        relClose(r.scores[0], best, 1e-6);
      }
    });

    it('a longer random ±1e4 batch: every path identical to the reference', () => {
      const r0 = rng(12);
      const N = 6,
        T = 24,
        C = 4;
      const x = new Float32Array(N * T * C).map(() => (r0() < 0.4 ? 1e4 : -1e4));
      const targets = Array.from({ length: N }, () => Array.from({ length: 5 }, () => 1 + Math.floor(r0() * (C - 1))));
      const ref = ctcAlign(x, { batch: N, time: T, classes: C, targets, backend: 'js' });
      const r = ctcAlign(x, { batch: N, time: T, classes: C, targets, backend });
      expect(Array.from(r.paths)).toEqual(Array.from(ref.paths));
      for (let n = 0; n < N; n++) relClose(r.scores[n], ref.scores[n], 1e-6);
    });
  });

  describe.skipIf(skip)('D6: DCTC z* on near-ties', () => {
    it('the rule: keys within 1e-6 are tied, then the larger posterior, then the lowest class', () => {
      expect(nearTieArgmax([1, 1 + 1e-8, 0], [0.9, 1e-7, 0], 0, 3)).toBe(0);
      expect(nearTieArgmax([1 + 1e-8, 1, 0], [1e-7, 0.9, 0], 0, 3)).toBe(1);
      expect(nearTieArgmax([1, 1.01, 0], [0.9, 1e-7, 0], 0, 3)).toBe(1);
      expect(nearTieArgmax([0, 2, 2], [0, 0.5, 0.5 + 1e-12], 0, 3)).toBe(1);
      expect(nearTieArgmax([0, 0, 0], [0, 0, 0], 0, 3)).toBe(0);
    });

    it('a model that fits its own posterior (every ratio ≈ 1): the same z* and losses as the reference', () => {
      const r0 = rng(5);
      const N = 3,
        T = 9,
        C = 5;
      const targets = [
        [1, 2, 3],
        [2, 2, 4],
        [1, 3],
      ];
      let x = new Float32Array(N * T * C).map(() => r0() * 2 - 1);
      // Iterate logits ← ln(y′ + 1e-12): P approaches y′, so y′/P ≈ 1 for every class with mass.
      for (let i = 0; i < 6; i++) {
        const { posterior } = ctcLoss(x, {
          batch: N,
          time: T,
          classes: C,
          targets,
          posterior: true,
          grad: false,
          backend: 'js',
        });
        x = Float32Array.from(posterior!, (v) => Math.log(v + 1e-12));
      }
      for (const alignment of ['ratio', 'posterior'] as const) {
        const ref = dctcLoss(x, { batch: N, time: T, classes: C, targets, alignment, backend: 'js' });
        const r = dctcLoss(x, { batch: N, time: T, classes: C, targets, alignment, backend });
        expect(Array.from(r.alignment)).toEqual(Array.from(ref.alignment));
        for (let n = 0; n < N; n++) relClose(r.distillLosses[n], ref.distillLosses[n], 1e-5);
      }
    });
  });

  describe.skipIf(skip)('D7: DCTC at large s and m', () => {
    it('m = 1e30: CE = s·m + ln Σ_{k≠z} e^(s a_k) − s a_z; the distillation gradient −1 at z and softmax without z elsewhere', () => {
      const T = 3,
        C = 4;
      const x = new Float32Array([0.5, -1, 2, 0.25, 1, 0, -0.5, 3, -2, 1.5, 0, 0.5]);
      const s = 1,
        m = 1e30;
      const r = dctcLoss(x, {
        batch: 1,
        time: T,
        classes: C,
        targets: [[2]],
        alignment: 'posterior',
        lambda: 1,
        ctcWeight: 0,
        reduction: 'sum',
        margin: { s, m },
        backend,
      });
      let want = 0;
      for (let t = 0; t < T; t++) {
        const z = r.alignment[t];
        const row = Array.from(x.subarray(t * C, t * C + C));
        const rest = row.map((v, k) => (k === z ? 0 : Math.exp(v))).reduce((a, b) => a + b, 0);
        want += s * m + Math.log(rest) - s * row[z];
        for (let k = 0; k < C; k++) relClose(r.grad![t * C + k], k === z ? -1 : Math.exp(row[k]) / rest, 1e-6);
      }
      relClose(r.distillLosses[0], want, 1e-6);
    });

    it('s = 1e6 with logits ±3e38 and m up to 1e30: finite, and as the reference', () => {
      const T = 4,
        C = 3;
      const x = new Float32Array([3e38, -3e38, 0, -3e38, 3e38, 1, 0, 0, 3e38, 1e-3, 0, -1e-3]);
      for (const m of [0, 1, 1e30]) {
        const opts = {
          batch: 1,
          time: T,
          classes: C,
          targets: [[1, 2]],
          margin: { s: 1e6, m },
          reduction: 'sum' as const,
        };
        const ref = dctcLoss(x, { ...opts, backend: 'js' });
        const r = dctcLoss(x, { ...opts, backend });
        expect(Array.from(r.alignment)).toEqual(Array.from(ref.alignment));
        expect(Array.from(r.grad!).every(Number.isFinite)).toBe(true);
        relClose(r.distillLosses[0], ref.distillLosses[0], 1e-6);
        relClose(r.ctcLosses[0], ref.ctcLosses[0], 1e-6);
        for (let i = 0; i < T * C; i++) expect(Math.abs(r.grad![i] - ref.grad![i])).toBeLessThan(1e-6);
      }
    });
  });
});
