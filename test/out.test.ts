// Caller-owned output arrays (`out`): written in full (no stale values survive, padded frames included), returned
// as the same objects, and refused when they are of the wrong type or size or share memory with the input.
import { describe, expect, it } from 'vitest';
import { aceLoss, aceLossAsync, backends, ctcLoss, ctcLossAsync } from '../lib/index.js';
import { ctcCase } from './helpers.js';

const available = (['js', 'cpu'] as const).filter((b) => b === 'js' || backends().cpu);
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe.each(available)("out on backend '%s'", (backend) => {
  it('CTC: the same values as fresh arrays, written over NaN, and the same objects back', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const { logits, ...c } = ctcCase(seed);
      const options = { ...c, posterior: true, backend };
      const fresh = ctcLoss(logits, options);
      const grad = new Float32Array(logits.length).fill(NaN);
      const posterior = new Float32Array(logits.length).fill(NaN);
      const reused = ctcLoss(logits, { ...options, out: { grad, posterior } });
      expect(reused.grad).toBe(grad);
      expect(reused.posterior).toBe(posterior);
      expect(bits(grad).equals(bits(fresh.grad!))).toBe(true);
      expect(bits(posterior).equals(bits(fresh.posterior!))).toBe(true);
      grad.fill(NaN);
      const later = await ctcLossAsync(logits, { ...options, out: { grad } });
      expect(later.grad).toBe(grad);
      expect(bits(grad).equals(bits(fresh.grad!))).toBe(true);
    }
  });

  it('ACE: the same values as fresh arrays, written over NaN', async () => {
    const { logits, batch, time, classes, inputLengths, targets } = ctcCase(5);
    const options = {
      batch,
      time,
      classes,
      inputLengths: Int32Array.from(inputLengths, (t) => Math.max(t, 1)),
      targets,
      backend,
    };
    const fresh = aceLoss(logits, options);
    const grad = new Float32Array(logits.length).fill(NaN);
    expect(aceLoss(logits, { ...options, out: { grad } }).grad).toBe(grad);
    expect(bits(grad).equals(bits(fresh.grad!))).toBe(true);
    grad.fill(NaN);
    expect((await aceLossAsync(logits, { ...options, out: { grad } })).grad).toBe(grad);
    expect(bits(grad).equals(bits(fresh.grad!))).toBe(true);
  });
});

describe('out argument errors', () => {
  const o = { batch: 1, time: 3, classes: 4, targets: [[1]] };
  const x = new Float32Array(12);
  it('refuses a wrong type, size, key, or shared memory', () => {
    expect(() => ctcLoss(x, { ...o, out: [] as never })).toThrow(/ctcLoss: out must be an object, got Array\(0\)/);
    expect(() => ctcLoss(x, { ...o, out: { grad: new Float64Array(12) as never } })).toThrow(TypeError);
    expect(() => ctcLoss(x, { ...o, out: { grad: new Float32Array(11) } })).toThrow(
      /out.grad.length must be batch·time·classes = 12, got 11/,
    );
    expect(() => ctcLoss(x, { ...o, out: { loss: new Float32Array(12) } as never })).toThrow(
      /unknown output 'out.loss'/,
    );
    expect(() => aceLoss(x, { ...o, out: { posterior: new Float32Array(12) } as never })).toThrow(
      /aceLoss: unknown output 'out.posterior' \(known: grad\)/,
    );
    const big = new Float32Array(24);
    const input = big.subarray(0, 12);
    expect(() => ctcLoss(input, { ...o, out: { grad: big.subarray(6, 18) } })).toThrow(
      /out.grad must be an array that shares no memory with logits/,
    );
    expect(() => ctcLoss(x, { ...o, out: { grad: x } })).toThrow(RangeError);
    const shared = new Float32Array(12);
    expect(() => ctcLoss(x, { ...o, posterior: true, out: { grad: shared, posterior: shared } })).toThrow(
      /out.posterior must be an array that shares no memory with out.grad/,
    );
  });
});
