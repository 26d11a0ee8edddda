// Synthetic digit strings and a small recogniser trained with seqloss/tfjs. Everything is generated here from a
// seed: no download. examples/train-digits.mjs is the command line; test/tfjs.test.ts trains with this module too.
//
// A sample is a string of 1–5 digits drawn in a 5×3 bitmap font into an image of H rows × W columns, with random
// spacing, offsets, ink and Gaussian noise. The model reads the W columns as T = W / 2 frames: a convolution over
// the columns (kernel 4, stride 2) → bidirectional GRU → dense, C = 11 classes per frame (blank 0, digit d is
// class d + 1).
import * as tf from '@tensorflow/tfjs';
import { aceCount, aceDecode, ctcGreedyDecode } from 'seqloss';
import { aceLoss, ctcLoss, dctcLoss } from 'seqloss/tfjs';

export const CLASSES = 11;

// 5 rows of 3 columns per digit, '#' = ink.
const FONT = [
  ['###', '#.#', '#.#', '#.#', '###'],
  ['.#.', '##.', '.#.', '.#.', '###'],
  ['###', '..#', '###', '#..', '###'],
  ['###', '..#', '.##', '..#', '###'],
  ['#.#', '#.#', '###', '..#', '..#'],
  ['###', '#..', '###', '..#', '###'],
  ['###', '#..', '###', '#.#', '###'],
  ['###', '..#', '.#.', '.#.', '.#.'],
  ['###', '#.#', '###', '#.#', '###'],
  ['###', '#.#', '###', '..#', '###'],
];
const GLYPH_H = 5;
const GLYPH_W = 3;

/** A seeded generator uniform in [0, 1) (mulberry32). */
export function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand) {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/**
 * `count` samples: `images` (Float32Array count×W×H, column-major per image: frame w holds the H pixels of column
 * w) and `labels` (one array of classes 1…10 per sample). Digits are 1–`maxDigits` long, 1–`maxGap` blank columns
 * apart (never 0: two glyphs would touch), placed at a random offset; noise is N(0, noise²) per pixel.
 */
export function makeBatch(rand, count, { height = 8, width = 32, maxDigits = 5, maxGap = 2, noise = 0.1 } = {}) {
  if (width < maxDigits * GLYPH_W + (maxDigits - 1) * maxGap) throw new RangeError('makeBatch: width too small');
  if (height < GLYPH_H) throw new RangeError('makeBatch: height too small');
  const images = new Float32Array(count * width * height);
  const labels = [];
  for (let n = 0; n < count; n++) {
    const len = 1 + Math.floor(rand() * maxDigits);
    const digits = Array.from({ length: len }, () => Math.floor(rand() * 10));
    const gaps = Array.from({ length: len - 1 }, () => 1 + Math.floor(rand() * maxGap));
    const used = len * GLYPH_W + gaps.reduce((s, g) => s + g, 0);
    let x = Math.floor(rand() * (width - used + 1));
    const y = Math.floor(rand() * (height - GLYPH_H + 1));
    const ink = 0.6 + 0.4 * rand();
    const base = n * width * height;
    digits.forEach((d, i) => {
      for (let r = 0; r < GLYPH_H; r++) {
        for (let c = 0; c < GLYPH_W; c++) {
          if (FONT[d][r][c] === '#') images[base + (x + c) * height + y + r] = ink;
        }
      }
      x += GLYPH_W + (gaps[i] ?? 0);
    });
    for (let i = 0; i < width * height; i++) images[base + i] += noise * gaussian(rand);
    labels.push(digits.map((d) => d + 1));
  }
  return { images, labels, width, height };
}

/** The frame length and hop of the front end: frames of 4 columns, 2 apart (T = W / 2 frames). */
export const KERNEL = 4;
export const STRIDE = 2;

/**
 * The images unfolded into frames for the front end: frame t holds columns 2t … 2t + 3 (zero past the right edge),
 * KERNEL·H values. The model's first dense layer on these frames is a convolution over the columns with kernel 4
 * and stride 2; unfolding here, outside the gradient, is much faster on tfjs's pure-JS backend than its conv1d.
 */
export function frames({ images, width, height }, count) {
  const time = width / STRIDE;
  const size = KERNEL * height;
  const out = new Float32Array(count * time * size);
  for (let n = 0; n < count; n++) {
    for (let t = 0; t < time; t++) {
      for (let j = 0; j < KERNEL; j++) {
        const col = t * STRIDE + j;
        if (col >= width) break;
        const from = (n * width + col) * height;
        out.set(images.subarray(from, from + height), (n * time + t) * size + j * height);
      }
    }
  }
  return tf.tensor3d(out, [count, time, size]);
}

/**
 * The recogniser on frames(): the convolution (a dense layer on each frame, ReLU), a bidirectional GRU and a dense
 * layer to C logits per frame. With `units: 0` the GRU is left out (a per-frame model). Weights come from `seed`.
 */
export function makeModel({ height = 8, width = 32, filters = 32, units = 32, seed = 1 } = {}) {
  if (width % STRIDE !== 0) throw new RangeError(`makeModel: width must be even, got ${width}`);
  const init = (k) => tf.initializers.glorotUniform({ seed: seed * 7 + k });
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      inputShape: [width / STRIDE, KERNEL * height],
      units: filters,
      activation: 'relu',
      kernelInitializer: init(1),
    }),
  );
  if (units > 0) {
    model.add(
      tf.layers.bidirectional({
        layer: tf.layers.gru({
          units,
          returnSequences: true,
          kernelInitializer: init(2),
          recurrentInitializer: init(3),
        }),
        mergeMode: 'concat',
      }),
    );
  }
  model.add(tf.layers.dense({ units: CLASSES, kernelInitializer: init(4) }));
  return model;
}

/** The five configurations compared by the training script. */
export const LOSSES = {
  ctc: { label: 'CTC', loss: (logits, targets, backend) => ctcLoss(logits, { targets, backend }) },
  'ctc-alpha': {
    label: 'CTC α = 0.5',
    loss: (logits, targets, backend) => ctcLoss(logits, { targets, backend, fit: { alpha: 0.5 } }),
  },
  'ctc-gamma': {
    label: 'CTC γ = 1',
    loss: (logits, targets, backend) => ctcLoss(logits, { targets, backend, fit: { gamma: 1 } }),
  },
  dctc: { label: 'DCTC (λ = 0.01)', loss: (logits, targets, backend) => dctcLoss(logits, { targets, backend }) },
  ace: { label: 'ACE', loss: (logits, targets, backend) => aceLoss(logits, { targets, backend }) },
};

function same(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Accuracies of `model` on a held-out set: the share of samples whose greedy CTC decode is the label string, whose
 * ACE decode is, and whose rounded ACE counts (aceCount: Σ_t y_k^t) equal the label's for every digit class. */
export function evaluate(model, data, { batch = 64, backend = 'auto' } = {}) {
  const { images, labels, width, height } = data;
  let greedy = 0;
  let ace = 0;
  let counts = 0;
  for (let start = 0; start < labels.length; start += batch) {
    const n = Math.min(batch, labels.length - start);
    const logits = tf.tidy(() => {
      const part = { images: images.subarray(start * width * height, (start + n) * width * height), width, height };
      return model.predict(frames(part, n));
    });
    const values = logits.dataSync();
    logits.dispose();
    const shape = { batch: n, time: width / STRIDE, classes: CLASSES, backend };
    const decoded = ctcGreedyDecode(values, shape);
    const aceDecoded = aceDecode(values, shape);
    const { rounded } = aceCount(values, shape);
    for (let i = 0; i < n; i++) {
      const truth = labels[start + i];
      if (same(decoded[i], truth)) greedy++;
      if (same(aceDecoded[i], truth)) ace++;
      const want = new Int32Array(CLASSES);
      for (const k of truth) want[k]++;
      const got = rounded.subarray(i * CLASSES, (i + 1) * CLASSES);
      if (want.every((c, k) => k === 0 || got[k] === c)) counts++;
    }
  }
  const m = labels.length;
  return { greedy: greedy / m, aceDecode: ace / m, counts: counts / m };
}

/**
 * Trains one configuration: `steps` Adam steps on fresh batches of `batch` samples (from `seed`), then evaluates on
 * `evalSize` held-out samples (from another seed). Returns the loss of every step, the accuracies and the time per
 * step (the whole step, and the part spent in the seqloss op: its read of the logits and its one call).
 */
export function train({
  loss = 'ctc',
  steps = 300,
  batch = 16,
  seed = 1,
  lr = 0.02,
  height = 8,
  width = 32,
  units = 16,
  noise = 0.1,
  evalSize = 256,
  backend = 'auto',
  onStep,
} = {}) {
  const config = LOSSES[loss];
  if (!config) throw new RangeError(`train: loss must be one of ${Object.keys(LOSSES).join(', ')}, got ${loss}`);
  const rand = rng(seed);
  const model = makeModel({ height, width, units, seed });
  const optimizer = tf.train.adam(lr);
  const losses = [];
  let stepMs = 0;
  let lossMs = 0;
  for (let step = 0; step < steps; step++) {
    const data = makeBatch(rand, batch, { height, width, noise });
    const t0 = performance.now();
    const value = tf.tidy(() => {
      const x = frames(data, batch);
      const cost = optimizer.minimize(() => {
        const logits = model.apply(x, { training: true });
        const t = performance.now();
        const l = config.loss(logits, data.labels, backend);
        lossMs += performance.now() - t;
        return l;
      }, true);
      return cost.dataSync()[0];
    });
    stepMs += performance.now() - t0;
    losses.push(value);
    onStep?.(step, value);
  }
  const held = makeBatch(rng(seed + 1_000_003), evalSize, { height, width, noise });
  const accuracy = evaluate(model, held, { backend });
  model.dispose();
  optimizer.dispose();
  return {
    loss,
    label: config.label,
    steps,
    batch,
    seed,
    units,
    noise,
    losses,
    accuracy,
    msPerStep: stepMs / steps,
    lossMsPerStep: lossMs / steps,
  };
}

/** Mean of the first and of the last `k` values. */
export function ends(values, k = 50) {
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  return { first: mean(values.slice(0, k)), last: mean(values.slice(-k)) };
}
