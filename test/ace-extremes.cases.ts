// ACE and aceCount at the extremes, one backend at a time (README, "ACE at the extremes"): the values every backend
// must give, mostly in closed form, and the float64 reference ('js') as the oracle on random extreme batches.
// Used by test/ace-extremes.test.ts (js, cpu) and test/gpu/ace-extremes.test.ts (cuda).
import { describe, expect, it } from 'vitest';
import { aceCount, aceLoss, type AceOptions } from '../lib/index.js';
import { expectClose, expectLossesClose, normalFloats, randInt, rng, sequenceBlocks } from './helpers.js';

type Backend = 'js' | 'cpu' | 'cuda';

/** The gradient rows of sequence n (t < T) of an NTC or TNC array. */
function seqRows(g: Float32Array, o: { batch: number; time: number; classes: number; layout?: string }, n: number) {
  const { batch: N, time: T, classes: C } = o;
  const out: number[][] = [];
  for (let t = 0; t < T; t++) {
    const at = o.layout === 'TNC' ? (t * N + n) * C : (n * T + t) * C;
    out.push(Array.from(g.subarray(at, at + C)));
  }
  return out;
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

export function aceExtremes(backend: Backend): void {
  const ace = (x: Float32Array, o: Omit<AceOptions, 'backend'>) => aceLoss(x, { ...o, backend } as AceOptions);

  describe(`aceLoss at the extremes (backend '${backend}')`, () => {
    it('a class whose softmax is far below 2^-126 still counts: loss 100 + ln 2, grad [0.5, 0.5, -1]', () => {
      const r = ace(new Float32Array([0, 0, -100]), { batch: 1, time: 1, classes: 3, counts: [0, 0, 1], eps: 0 });
      expect(close(r.loss, 100 + Math.LN2, 1e-7), `loss ${r.loss}`).toBe(true);
      expect(Array.from(r.grad!)).toEqual([0.5, 0.5, -1]);
      // e^-3000 is far below the double range as well.
      const d = ace(new Float32Array([0, 0, -3000]), { batch: 1, time: 1, classes: 3, counts: [0, 0, 1], eps: 0 });
      expect(close(d.loss, 3000 + Math.LN2, 1e-7), `loss ${d.loss}`).toBe(true);
      expect(Array.from(d.grad!)).toEqual([0.5, 0.5, -1]);
    });

    it('two frames, the label class only in the first, e^-100 and e^-3000', () => {
      // blank 0: N_blank = 2 - 1 = 1, N_2 = 1. y_0 = 1, y_2 = e^-100 / 2 (+ e^-3000 / 2).
      // L = -1/2 ln(1/2) - 1/2 ln(y_2 / 2) = 50 + 1.5 ln 2; grad rows (p D_t - N̄ ρ): D_0 = 3/4, D_1 = 1/4.
      const x = new Float32Array([0, 0, -100, 0, 0, -3000]);
      const r = ace(x, { batch: 1, time: 2, classes: 3, counts: [0, 0, 1], eps: 0, reduction: 'sum' });
      expect(close(r.loss, 50 + 1.5 * Math.LN2, 1e-7), `loss ${r.loss}`).toBe(true);
      const want = [0.125, 0.375, -0.5, -0.125, 0.125, 0];
      for (let i = 0; i < 6; i++) expect(Math.abs(r.grad![i] - want[i]), `grad[${i}] ${r.grad![i]}`).toBeLessThan(1e-7);
      // eps enters the aggregate only: y_k = Σ_t y_k^t + T eps.
      const eps = 1e-10;
      const e = ace(x, { batch: 1, time: 2, classes: 3, counts: [0, 0, 1], eps, reduction: 'sum' });
      const y2 = Math.exp(-100) / (2 + Math.exp(-100)) + 2 * eps;
      const y0 = 1 + 2 * eps;
      const L = -0.5 * Math.log(y0 / 2) - 0.5 * Math.log(y2 / 2);
      expect(close(e.loss, L, 1e-6), `loss ${e.loss} want ${L}`).toBe(true);
      for (const g of e.grad!) expect(Number.isFinite(g)).toBe(true);
    });

    it('two classes tied at 3e38 in a frame share it: y = 1/2 each, loss ln 2 (no cancellation of ln 2)', () => {
      // One frame, classes 1 and 2 at 3e38: softmax [0, 1/2, 1/2]; N_1 = 1 → L = −ln(1/2); grad [0, −1/2, 1/2].
      const r = ace(new Float32Array([0, 3e38, 3e38]), { batch: 1, time: 1, classes: 3, counts: [0, 1, 0], eps: 0 });
      expect(close(r.loss, Math.LN2, 1e-7), `loss ${r.loss}`).toBe(true);
      expect(Array.from(r.grad!)).toEqual([0, -0.5, 0.5]);
    });

    it('the largest finite logits: loss 2e38 and a finite gradient [1, -1, 0]', () => {
      const r = ace(new Float32Array([1e38, -1e38, 0]), { batch: 1, time: 1, classes: 3, counts: [0, 1, 0], eps: 0 });
      // The float32 loss 2e38 is representable; ln y_1 = -1e38 - 1e38.
      expect(close(r.loss, 2 * Math.fround(1e38), 1e-7), `loss ${r.loss}`).toBe(true);
      expect(r.losses[0]).toBe(Math.fround(2 * Math.fround(1e38)));
      expect(Array.from(r.grad!)).toEqual([1, -1, 0]);
    });

    it('random logits of scale 1000 (most softmax values underflow any float) match the float64 reference', () => {
      for (let seed = 1; seed <= 6; seed++) {
        const r = rng(9000 + seed);
        const N = randInt(r, 1, 4),
          T = randInt(r, 1, 12),
          C = randInt(r, 2, 9);
        const layout = r() < 0.5 ? 'NTC' : 'TNC';
        const blank = randInt(r, 0, C - 1);
        const inputLengths = Array.from({ length: N }, () => randInt(r, 1, T));
        const counts: number[] = [];
        for (let n = 0; n < N; n++) {
          let left = inputLengths[n];
          for (let k = 0; k < C; k++) {
            const c = k === blank ? 0 : Math.min(left, randInt(r, 0, 2));
            left -= c;
            counts.push(c);
          }
        }
        const x = normalFloats(r, N * T * C, 1000);
        // One more sequence of moderate logits: the batch's gradient then has a scale of its own. (The gradients of
        // saturated frames are tiny (~1 - y_r, rounded in double), so a batch of nothing else would compare
        // rounding noise; see expectClose.)
        const xm = normalFloats(r, T * C, 2);
        for (let t = 0; t < T; t++) {
          const at = layout === 'NTC' ? t * C : t * N * C;
          x.set(xm.subarray(t * C, (t + 1) * C), at);
        }
        for (const variant of ['ce', 'regression'] as const) {
          for (const eps of [0, 1e-10]) {
            const o = {
              batch: N,
              time: T,
              classes: C,
              layout,
              blank,
              inputLengths,
              counts,
              eps,
              variant,
              reduction: 'sum',
            } as const;
            const want = aceLoss(x, { ...o, backend: 'js' });
            const got = ace(x, o);
            const what = `seed ${seed} ${variant} eps ${eps} ${backend}`;
            for (const v of got.losses) expect(Number.isFinite(v), `${what}: losses ${got.losses}`).toBe(true);
            expectLossesClose(got.losses, want.losses, 1e-6, `${what} losses`);
            expectClose(got.grad!, want.grad!, 1e-6, `${what} grad`, sequenceBlocks(N, T, C, layout));
          }
        }
      }
    });

    it('many labelled classes (K > 64, the CPU gathers per frame) with logits of scale 1000 match the reference', () => {
      const r = rng(4711);
      const N = 2,
        T = 90,
        C = 100;
      const counts: number[] = [];
      for (let n = 0; n < N; n++) for (let k = 0; k < C; k++) counts.push(k === 0 ? 0 : k <= 80 ? 1 : 0);
      const x = normalFloats(r, N * T * C, 1000);
      x.set(normalFloats(r, T * C, 2), 0); // sequence 0 moderate (NTC): the batch's gradient scale
      for (const eps of [0, 1e-10]) {
        const o = { batch: N, time: T, classes: C, counts, eps, reduction: 'mean' } as const;
        const want = aceLoss(x, { ...o, backend: 'js' });
        const got = ace(x, o);
        expectLossesClose(got.losses, want.losses, 1e-6, `eps ${eps} losses`);
        expectClose(got.grad!, want.grad!, 1e-6, `eps ${eps} grad`, sequenceBlocks(N, T, C, 'NTC'));
      }
    });

    const poisons: [string, number][] = [
      ['NaN', NaN],
      ['+Infinity', Infinity],
    ];
    for (const [name, v] of poisons) {
      for (const variant of ['ce', 'regression'] as const) {
        for (const layout of ['NTC', 'TNC'] as const) {
          it(`logits: ${name} in a valid frame poisons only its sequence (${variant}, ${layout})`, () => {
            const N = 2,
              T = 3,
              C = 4;
            const x = normalFloats(rng(77), N * T * C, 2);
            const at = (n: number, t: number, k: number) =>
              layout === 'NTC' ? (n * T + t) * C + k : (t * N + n) * C + k;
            x[at(0, 1, 2)] = v; // sequence 0, frame 1 < T_0 = 2
            x[at(1, 2, 0)] = NaN; // sequence 1, frame 2 >= T_1 = 2: not read
            const o = {
              batch: N,
              time: T,
              classes: C,
              layout,
              inputLengths: [2, 2],
              counts: [0, 1, 0, 1, 0, 0, 2, 0],
              eps: 0,
              variant,
              reduction: 'mean',
            } as const;
            const r = ace(x, o);
            expect(Number.isNaN(r.losses[0])).toBe(true);
            expect(Number.isNaN(r.loss)).toBe(true);
            const g0 = seqRows(r.grad!, o, 0);
            for (let t = 0; t < 2; t++) for (const g of g0[t]) expect(Number.isNaN(g), `row ${t}: ${g0[t]}`).toBe(true);
            expect(g0[2]).toEqual([0, 0, 0, 0]);
            // Sequence 1 as if alone (its scale under 'mean' is 1/2).
            expect(Number.isFinite(r.losses[1])).toBe(true);
            const alone = new Float32Array(T * C);
            for (let t = 0; t < T; t++) for (let k = 0; k < C; k++) alone[t * C + k] = t < 2 ? x[at(1, t, k)] : 0;
            const s = ace(alone, {
              batch: 1,
              time: T,
              classes: C,
              inputLengths: [2],
              counts: [0, 0, 2, 0],
              eps: 0,
              variant,
              reduction: 'sum',
            });
            expectLossesClose([r.losses[1]], [s.losses[0]], 1e-6, 'sequence 1');
            const g1 = seqRows(r.grad!, o, 1).flat();
            expectClose(
              g1,
              Array.from(s.grad!).map((g) => g / 2),
              1e-6,
              'sequence 1 grad',
            );
          });
        }
      }
    }

    it('logits: a frame that is all -Infinity poisons its sequence; a single -Infinity does not', () => {
      const C = 3;
      const o = { batch: 1, time: 2, classes: C, counts: [0, 1, 0], eps: 0, reduction: 'sum' } as const;
      const r = ace(new Float32Array([0, 1, 2, -Infinity, -Infinity, -Infinity]), o);
      expect(Number.isNaN(r.losses[0])).toBe(true);
      for (const g of r.grad!) expect(Number.isNaN(g)).toBe(true);
      const ok = ace(new Float32Array([0, 1, -Infinity, -Infinity, 3, 0]), o);
      expect(Number.isFinite(ok.loss)).toBe(true);
      const want = aceLoss(new Float32Array([0, 1, -Infinity, -Infinity, 3, 0]), { ...o, backend: 'js' });
      expectLossesClose(ok.losses, want.losses, 1e-6, 'losses');
      expectClose(ok.grad!, want.grad!, 1e-6, 'grad');
      expect(ok.grad![2] === 0 && ok.grad![3] === 0, `${ok.grad}`).toBe(true);
    });

    for (const [name, v] of [
      ['NaN', NaN],
      ['+Infinity', Infinity],
      ['-Infinity', -Infinity],
    ] as const) {
      it(`probs: ${name} in a valid frame gives loss NaN and NaN rows t < T_n`, () => {
        for (const variant of ['ce', 'regression'] as const) {
          const x = new Float32Array([0.5, 0.25, 0.25, 0.2, v, 0.4, 0.1, 0.1, 0.8]);
          const r = ace(x, {
            batch: 1,
            time: 3,
            classes: 3,
            input: 'probs',
            inputLengths: [2],
            counts: [0, 1, 0],
            eps: 0,
            variant,
          });
          expect(Number.isNaN(r.losses[0]), `${variant}`).toBe(true);
          expect(Array.from(r.grad!.subarray(0, 6)).every(Number.isNaN), `${variant}: ${r.grad}`).toBe(true);
          expect(Array.from(r.grad!.subarray(6))).toEqual([0, 0, 0]);
        }
      });
    }

    it('CE is never below 0 with eps = 0 (0 where it would be), and keeps its genuine negative value with eps > 0', () => {
      // Probabilities of 1 + 2^-23 (a float32 just above 1): -ln(1 + 2^-23) < 0 would come out; 0 is returned.
      const p = Math.fround(1 + 2 ** -23);
      const x = new Float32Array([p, 0, p, 0]);
      const o = { batch: 1, time: 2, classes: 2, input: 'probs', counts: [0, 0], reduction: 'sum' } as const;
      const r = ace(x, { ...o, eps: 0 });
      expect(r.losses[0]).toBe(0);
      expect(r.loss).toBe(0);
      // Exact one-hot probabilities with eps: ȳ_blank = 1 + eps, L = -ln(1 + eps) < 0, kept.
      const e = ace(new Float32Array([1, 0, 1, 0]), { ...o, eps: 1e-6 });
      expect(close(e.loss, -Math.log1p(1e-6), 1e-6), `loss ${e.loss}`).toBe(true);
      expect(e.loss).toBeLessThan(0);
      // Logits: a certain prediction gives exactly 0, never -0 or below.
      const l = ace(new Float32Array([40, 0, 40, 0]), { ...o, input: 'logits', eps: 0 });
      expect(Object.is(l.losses[0], 0) || l.losses[0] > 0).toBe(true);
    });
  });

  describe(`aceCount rounding at the extremes (backend '${backend}')`, () => {
    it('nearest, halves away from zero, saturated to int32, NaN -> 0', () => {
      // probs, T = 2, one class per case: the sums are 2.5, -2.5, 3e9, -3e9, +Inf, -Inf, NaN, 1.5 + 2^-20.
      const sums = [
        [2, 0.5],
        [-2, -0.5],
        [1.5e9, 1.5e9],
        [-1.5e9, -1.5e9],
        [Infinity, 1],
        [-Infinity, 1],
        [NaN, 1],
        [1, 0.5 + 2 ** -20],
      ];
      const C = sums.length;
      const x = new Float32Array(2 * C);
      for (let k = 0; k < C; k++) {
        x[k] = sums[k][0];
        x[C + k] = sums[k][1];
      }
      const r = aceCount(x, { batch: 1, time: 2, classes: C, input: 'probs', backend });
      expect(Array.from(r.rounded)).toEqual([3, -3, 2147483647, -2147483648, 2147483647, -2147483648, 0, 2]);
      expect(r.expected[4]).toBe(Infinity);
      expect(r.expected[5]).toBe(-Infinity);
      expect(Number.isNaN(r.expected[6])).toBe(true);
    });

    it('logits: softmax sums of exactly 2.5 and 0.5 round away from zero', () => {
      // Frame 0: [1/2, 1/2, e^-100/2]; frames 1, 2: [1 - 2e^-50, e^-50, e^-50], which is 1 in double.
      const x = new Float32Array([0, 0, -100, 50, 0, 0, 50, 0, 0]);
      const r = aceCount(x, { batch: 1, time: 3, classes: 3, backend });
      expect(Array.from(r.expected.subarray(0, 2))).toEqual([2.5, 0.5]);
      expect(Array.from(r.rounded)).toEqual([3, 1, 0]);
    });
  });
}
