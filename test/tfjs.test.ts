// seqloss/tfjs: the ops' values and gradients against seqloss's own (the customGrad wiring, dy scaling, reduction
// 'none' per sequence, layouts, 2-D ACE), ACE against the same formula written in tf ops (tf's own autodiff), no
// tensor leaks, the errors; and the training example (examples/digits.mjs) learning on pure-JS tfjs.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as core from '../lib/index.js';
import { aceLoss, ctcLoss, dctcLoss } from '../lib/tfjs.js';
import { backendsUnderTest, normalFloats, rng } from './helpers.js';
// The training example, as `node examples/train-digits.mjs` runs it (it imports the built package: dist/).
import { ends, train } from '../examples/digits.mjs';

const backendNames = backendsUnderTest()
  .filter((b) => b.name !== 'cuda')
  .map((b) => b.name);

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});

/** Float32 values of a tensor, disposing it. */
function take(t: tf.Tensor): Float32Array {
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return Float32Array.from(v);
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel = 1e-6, abs = 1e-7) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = abs + rel * Math.abs(want[i]);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      throw new Error(`value ${i}: got ${got[i]}, want ${want[i]} (tolerance ${tol})`);
    }
  }
}

const N = 3;
const T = 7;
const C = 5;
const targets = [[1, 2, 2], [4], [3, 1]];
const inputLengths = [7, 5, 6];
const x0 = normalFloats(rng(11), N * T * C);

/** [T, N, C] values of an [N, T, C] array. */
function toTNC(x: Float32Array, n: number, t: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < t; j++) for (let k = 0; k < c; k++) out[(j * n + i) * c + k] = x[(i * t + j) * c + k];
  return out;
}

describe.each(backendNames)('seqloss/tfjs on backend %s', (backend) => {
  const shape = { batch: N, time: T, classes: C, backend };

  it("ctcLoss: the value is seqloss's loss and the gradient seqloss's grad times dy", () => {
    for (const fit of [undefined, { alpha: 0.5 }, { gamma: 1 }]) {
      const want = core.ctcLoss(x0, { ...shape, targets, inputLengths, fit });
      const x = tf.tensor3d(x0, [N, T, C]);
      const { value, grad } = tf.valueAndGrad((l: tf.Tensor) =>
        ctcLoss(l as tf.Tensor3D, { targets, inputLengths, backend, fit }),
      )(x, tf.scalar(2.5));
      expect(value.rank).toBe(0);
      expect(take(value)[0]).toBe(Math.fround(want.loss));
      expectClose(
        take(grad),
        want.grad!.map((g) => g * 2.5),
      );
      x.dispose();
    }
  });

  it("ctcLoss with reduction 'none': N losses, and each sequence's gradient scaled by its own dy", () => {
    const x = tf.tensor3d(x0, [N, T, C]);
    const dy = [0.5, -2, 3];
    const { value, grad } = tf.valueAndGrad((l: tf.Tensor) =>
      ctcLoss(l as tf.Tensor3D, { targets, inputLengths, backend, reduction: 'none' }),
    )(x, tf.tensor1d(dy));
    expect(value.shape).toEqual([N]);
    const g = take(grad);
    const want = core.ctcLoss(x0, { ...shape, targets, inputLengths, reduction: 'none' });
    expectClose(take(value), want.losses, 0, 0);
    // Each sequence alone: its own call's gradient, times its dy.
    for (let n = 0; n < N; n++) {
      const one = core.ctcLoss(x0.slice(n * T * C, (n + 1) * T * C), {
        batch: 1,
        time: T,
        classes: C,
        backend,
        targets: [targets[n]],
        inputLengths: [inputLengths[n]],
        reduction: 'sum',
      });
      expectClose(
        g.subarray(n * T * C, (n + 1) * T * C),
        one.grad!.map((v) => v * dy[n]),
      );
    }
    x.dispose();
  });

  it("ctcLoss in layout 'TNC' gives the 'NTC' gradient, transposed (also for 'none')", () => {
    const xn = tf.tensor3d(x0, [N, T, C]);
    const xt = tf.tensor3d(toTNC(x0, N, T, C), [T, N, C]);
    for (const reduction of ['mean', 'none'] as const) {
      const dy = reduction === 'none' ? () => tf.tensor1d([1, 2, 3]) : () => tf.scalar(1);
      const gn = take(
        tf.grad((l: tf.Tensor) => ctcLoss(l as tf.Tensor3D, { targets, inputLengths, backend, reduction }))(xn, dy()),
      );
      const gt = take(
        tf.grad((l: tf.Tensor) =>
          ctcLoss(l as tf.Tensor3D, { targets, inputLengths, backend, reduction, layout: 'TNC' }),
        )(xt, dy()),
      );
      expectClose(gt, toTNC(gn, N, T, C));
    }
    xn.dispose();
    xt.dispose();
  });

  it("ctcLoss: the gradient matches central differences of the op's own value", () => {
    const x = tf.tensor3d(x0, [N, T, C]);
    const g = take(tf.grad((l: tf.Tensor) => ctcLoss(l as tf.Tensor3D, { targets, inputLengths, backend }))(x));
    x.dispose();
    const h = 1e-2;
    for (const i of [0, 7, 33, 50, 71, 104]) {
      const at = (d: number) => {
        const v = x0.slice();
        v[i] += d;
        const t = tf.tensor3d(v, [N, T, C]);
        const l = take(ctcLoss(t, { targets, inputLengths, backend }));
        t.dispose();
        return l[0];
      };
      expect(Math.abs((at(h) - at(-h)) / (2 * h) - g[i])).toBeLessThan(2e-3);
    }
  });

  it("dctcLoss: value and gradient are seqloss's, times dy; 'none' per sequence", () => {
    const opts = { targets, inputLengths, lambda: 0.1 };
    const want = core.dctcLoss(x0, { ...shape, ...opts });
    const x = tf.tensor3d(x0, [N, T, C]);
    const r = tf.valueAndGrad((l: tf.Tensor) => dctcLoss(l as tf.Tensor3D, { ...opts, backend }))(x, tf.scalar(-1.5));
    expect(take(r.value)[0]).toBe(Math.fround(want.loss));
    expectClose(
      take(r.grad),
      want.grad!.map((v) => v * -1.5),
    );
    const none = core.dctcLoss(x0, { ...shape, ...opts, reduction: 'none' });
    const dy = [2, 0, 1];
    const g = take(
      tf.grad((l: tf.Tensor) => dctcLoss(l as tf.Tensor3D, { ...opts, backend, reduction: 'none' }))(
        x,
        tf.tensor1d(dy),
      ),
    );
    expectClose(
      g,
      none.grad!.map((v, i) => v * dy[Math.floor(i / (T * C))]),
    );
    x.dispose();
  });

  /** ACE (Eq. 8, with ε) in tf ops, for tf's own autodiff: [N, T, C] logits, counts N×C with the blank = T − Σ. */
  function aceInTf(logits: tf.Tensor3D, counts: number[][], eps: number): tf.Scalar {
    return tf.tidy(() => {
      const [n, t] = logits.shape;
      const y = tf.add(tf.sum(tf.softmax(logits), 1), t * eps); // N×C aggregates y_k
      const nk = tf.tensor2d(counts);
      const ce = tf.neg(tf.sum(tf.mul(tf.div(nk, t), tf.log(tf.div(y, t))), 1)); // classes with N_k = 0 add 0
      return tf.div(tf.sum(ce), n) as tf.Scalar;
    });
  }
  const countsOf = (labels: number[][], positions: number) =>
    labels.map((l) => {
      const row = new Array(C).fill(0);
      for (const k of l) row[k]++;
      row[0] = positions - l.length;
      return row;
    });

  it('aceLoss 1D: value and gradient equal the same formula differentiated by tf', () => {
    const x = tf.tensor3d(x0, [N, T, C]);
    const mine = tf.valueAndGrad((l: tf.Tensor) => aceLoss(l as tf.Tensor3D, { targets, backend }))(x);
    const theirs = tf.valueAndGrad((l: tf.Tensor) => aceInTf(l as tf.Tensor3D, countsOf(targets, T), 1e-10))(x);
    expectClose(take(mine.value), take(theirs.value), 1e-5);
    expectClose(take(mine.grad), take(theirs.grad), 1e-4, 1e-6);
    x.dispose();
  });

  it('aceLoss 2D: [N, H, W, C] is ACE over the row-major flattening t = h·W + w', () => {
    const H = 2;
    const W = 3;
    const x2 = normalFloats(rng(5), N * H * W * C);
    const four = tf.tensor4d(x2, [N, H, W, C]);
    const flat = tf.tensor3d(x2, [N, H * W, C]);
    const dy = [1, -1, 0.5];
    const opts = { targets, backend, reduction: 'none' as const };
    const m2 = tf.valueAndGrad((l: tf.Tensor) => aceLoss(l as tf.Tensor4D, opts))(four, tf.tensor1d(dy));
    const m1 = tf.valueAndGrad((l: tf.Tensor) => aceLoss(l as tf.Tensor3D, opts))(flat, tf.tensor1d(dy));
    expect(m2.grad.shape).toEqual([N, H, W, C]);
    const want = core.aceLoss(x2, { batch: N, height: H, width: W, classes: C, targets, backend, reduction: 'none' });
    expectClose(take(m2.value), want.losses, 0, 0);
    expectClose(take(m1.value), want.losses, 0, 0);
    const g2 = take(m2.grad);
    expectClose(g2, take(m1.grad), 0, 0);
    expectClose(
      g2,
      want.grad!.map((v, i) => v * dy[Math.floor(i / (H * W * C))]),
    );
    // And against tf's autodiff of the formula (mean reduction).
    const theirs = tf.grad((l: tf.Tensor) =>
      aceInTf(tf.reshape(l, [N, H * W, C]) as tf.Tensor3D, countsOf(targets, H * W), 1e-10),
    )(four);
    const mine = tf.grad((l: tf.Tensor) => aceLoss(l as tf.Tensor4D, { targets, backend }))(four);
    expectClose(take(mine), take(theirs), 1e-4, 1e-6);
    four.dispose();
    flat.dispose();
  });

  it('leaves no tensor behind: forward, gradients, optimizer steps', () => {
    const x = tf.tensor3d(x0, [N, T, C]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      take(ctcLoss(x, { targets, backend, reduction: 'none' }));
      take(tf.grad((l: tf.Tensor) => dctcLoss(l as tf.Tensor3D, { targets, backend }))(x));
      const dy = tf.ones([N]);
      take(tf.grad((l: tf.Tensor) => aceLoss(l as tf.Tensor3D, { targets, backend, reduction: 'none' }))(x, dy));
      dy.dispose();
      const r = tf.valueAndGrad((l: tf.Tensor) => ctcLoss(l as tf.Tensor3D, { targets, backend, fit: { gamma: 1 } }))(
        x,
      );
      r.value.dispose();
      r.grad.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    const v = tf.variable(tf.tensor3d(x0, [N, T, C]));
    const opt = tf.train.adam(0.01);
    opt.minimize(() => ctcLoss(v as unknown as tf.Tensor3D, { targets, backend })); // makes Adam's two moments
    const afterFirstStep = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      opt.minimize(() => ctcLoss(v as unknown as tf.Tensor3D, { targets, backend, fit: { alpha: 0.5 } }));
      opt.minimize(() => aceLoss(v as unknown as tf.Tensor3D, { targets, backend }));
    }
    expect(tf.memory().numTensors).toBe(afterFirstStep);
    opt.dispose();
    v.dispose();
    x.dispose();
  });
});

describe('seqloss/tfjs errors', () => {
  const x = tf.tensor3d(x0, [N, T, C]);
  const cases: [string, () => unknown, ErrorConstructor, string][] = [
    [
      'not a tensor',
      () => ctcLoss(x0 as never, { targets }),
      TypeError,
      'ctcLoss: logits must be a tf.Tensor, got Float32Array(105)',
    ],
    [
      'int32',
      () => ctcLoss(tf.zeros([N, T, C], 'int32') as tf.Tensor3D, { targets }),
      TypeError,
      'ctcLoss: logits must be a float32 tensor, got dtype int32',
    ],
    [
      'rank 2',
      () => dctcLoss(tf.zeros([N, T]) as never, { targets }),
      RangeError,
      'dctcLoss: logits.shape must be [N, T, C], got [3, 7]',
    ],
    [
      'rank 5',
      () => aceLoss(tf.zeros([1, 1, 1, 1, 2]) as never, { targets: [[1]] }),
      RangeError,
      'aceLoss: input.shape must be [N, T, C] or [N, H, W, C], got [1, 1, 1, 1, 2]',
    ],
    [
      'empty dimension',
      () => ctcLoss(tf.zeros([N, 0, C]) as tf.Tensor3D, { targets }),
      RangeError,
      'ctcLoss: logits.shape must have every dimension >= 1, got [3, 0, 5]',
    ],
    [
      'options not an object',
      () => ctcLoss(x, null as never),
      TypeError,
      'ctcLoss: options must be an object, got null',
    ],
    [
      'batch given',
      () => ctcLoss(x, { targets, batch: 3 } as never),
      TypeError,
      'ctcLoss: batch must be absent (seqloss/tfjs reads the shape from the input tensor), got 3',
    ],
    ['height given', () => aceLoss(x, { targets, height: 1 } as never), TypeError, 'aceLoss: height must be absent'],
    ['grad given', () => dctcLoss(x, { targets, grad: false } as never), TypeError, 'dctcLoss: grad must be absent'],
    ['out given', () => ctcLoss(x, { targets, out: {} } as never), TypeError, 'ctcLoss: out must be absent'],
    [
      'posterior given',
      () => ctcLoss(x, { targets, posterior: true } as never),
      TypeError,
      'ctcLoss: posterior must be absent',
    ],
    [
      'a core check',
      () => ctcLoss(x, { targets: [[1], [0], [2]] }),
      RangeError,
      'ctcLoss: targets[1][0] must be a class in [0, 5) other than the blank 0, got 0',
    ],
    [
      'a core unknown key',
      () => aceLoss(x, { targets, tragets: 1 } as never),
      TypeError,
      "aceLoss: unknown option 'tragets'",
    ],
    [
      '2D with inputLengths',
      () => aceLoss(tf.zeros([N, 2, 2, C]) as tf.Tensor4D, { targets: [[1], [2], [3]], inputLengths: [4, 4, 4] }),
      TypeError,
      'aceLoss: inputLengths must be absent for a 2D input',
    ],
  ];
  it.each(cases)('%s', (_name, call, type, message) => {
    const before = tf.memory().numTensors;
    let err: unknown;
    try {
      call();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message.startsWith(message)).toBe(true);
    // The only tensors left are those the case made itself (its input).
    expect(tf.memory().numTensors - before).toBeLessThanOrEqual(1);
  });

  it('a disposed tensor is a RangeError', () => {
    const d = tf.zeros([N, T, C]) as tf.Tensor3D;
    d.dispose();
    expect(() => ctcLoss(d, { targets })).toThrow(
      new RangeError('ctcLoss: logits must be a live tensor, got a disposed one'),
    );
  });

  it('reads each option once', () => {
    let reads = 0;
    const options = {
      get targets() {
        reads++;
        return targets;
      },
    };
    take(ctcLoss(x, options));
    expect(reads).toBe(1);
  });
});

describe('the training example (examples/digits.mjs) on pure-JS tfjs', () => {
  // The per-frame variant (units: 0, no GRU: about 6 ms a step here against 120 ms with the GRU) keeps this under
  // 10 s on two shared cores; the README's table trains the GRU model for longer with the same code.
  it('CTC: 600 steps make the loss fall and decode most held-out strings of 1–5 digits', () => {
    const before = tf.memory().numTensors;
    const r = train({ loss: 'ctc', steps: 600, batch: 16, seed: 1, units: 0, evalSize: 256 });
    expect(tf.memory().numTensors).toBe(before); // the model, the optimizer and every step's tensors are freed
    const { first, last } = ends(r.losses, 50);
    expect(r.losses).toHaveLength(600);
    expect(last).toBeLessThan(0.5 * first);
    // Measured: 46 % (loss 5.09 → 0.78); a model that had not learnt decodes none of them.
    expect(r.accuracy.greedy).toBeGreaterThan(0.3);
  }, 180_000);
});
