// The public API with backend 'cuda' against backend 'cpu' (the oracle here): every loss, alignment and decoder,
// every option, async forms, worker threads, caller-owned outputs, the device option and its errors. Run by the
// vitest projects 'cuda-emulated' (the SIMT host, every npm test) and 'cuda-gpu' (a GPU, bench/gpu/run.sh); without
// a usable device the first test fails and says why (nothing here is skipped).
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  aceCount,
  aceDecode,
  aceLoss,
  aceLossAsync,
  backends,
  ctcAlign,
  ctcAlignAsync,
  ctcGreedyDecode,
  ctcLoss,
  ctcLossAsync,
  dctcLoss,
  dctcLossAsync,
  type CtcOptions,
} from '../../lib/index.js';
import { packageRoot } from '../../lib/native.js';
import {
  logSoftmaxRows,
  ctcCase,
  type CtcCase,
  expectClose,
  expectLossesClose,
  normalFloats,
  rng,
  sequenceBlocks,
} from '../helpers.js';

const info = backends();
const gpu = info.cuda.available;
const TOL = 1e-5;

// The case's shape and labels: options every loss takes (ctcLoss, dctcLoss, ctcAlign).
const optionsOf = (c: CtcCase): Omit<CtcCase, 'logits'> => {
  const { logits: _, ...o } = c;
  return o;
};
const blocksOf = (c: CtcCase) => sequenceBlocks(c.batch, c.time, c.classes, c.layout);

it('a usable CUDA device is there', () => expect(gpu, info.cuda.reason).toBe(true));

if (gpu)
  describe(`backend 'cuda' (${info.cuda.devices.map((d) => d.name).join(', ')})`, () => {
    it('backends() lists the devices with name, compute capability and memory', () => {
      expect(info.cuda.devices.length).toBeGreaterThan(0);
      for (const d of info.cuda.devices) {
        expect(d.name).toMatch(/\w/);
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.totalMemory).toBeGreaterThan(0);
      }
    });

    it('ctcLoss: random shapes, both layouts, blank ≠ 0, every reduction, logits and log-probs, posterior', () => {
      const reductions = ['mean', 'sum', 'none'] as const;
      for (let seed = 1; seed <= 60; seed++) {
        const c = ctcCase(seed, { allowImpossible: seed % 5 === 0 });
        const o: CtcOptions = {
          ...optionsOf(c),
          reduction: reductions[seed % 3],
          posterior: true,
          zeroInfinity: seed % 2 === 0,
        };
        for (const [data, extra] of [
          [c.logits, {}],
          [logSoftmaxRows(c.logits, c.classes), { input: 'logProbs' as const }],
        ] as const) {
          const want = ctcLoss(data, { ...o, ...extra, backend: 'cpu' });
          const got = ctcLoss(data, { ...o, ...extra, backend: 'cuda' });
          expect(got.backend).toBe('cuda');
          expectLossesClose(got.losses, want.losses, TOL, `seed ${seed} losses`);
          if (Number.isFinite(want.loss)) expectLossesClose([got.loss], [want.loss], TOL, `seed ${seed} loss`);
          else expect(got.loss).toBe(want.loss);
          expectClose(got.grad!, want.grad!, TOL, `seed ${seed} grad`, blocksOf(c));
          expectClose(got.posterior!, want.posterior!, TOL, `seed ${seed} posterior`, blocksOf(c));
        }
      }
    });

    it('ctcLoss fit: α in both scopes, γ ∈ {0.5, 1, 2}, α + γ', () => {
      const fits = [
        { alpha: 0.5 },
        { alpha: 0.3, alphaScope: 'sequence' as const },
        { gamma: 0.5 },
        { gamma: 1 },
        { gamma: 2 },
        { alpha: 0.5, gamma: 1 },
        { alpha: 0.7, alphaScope: 'sequence' as const, gamma: 2 },
      ];
      for (let seed = 100; seed < 130; seed++) {
        const c = ctcCase(seed, { allowImpossible: seed % 4 === 0 });
        const fit = fits[seed % fits.length];
        const o = { ...optionsOf(c), fit, posterior: true };
        const want = ctcLoss(c.logits, { ...o, backend: 'cpu' });
        const got = ctcLoss(c.logits, { ...o, backend: 'cuda' });
        expectLossesClose(got.losses, want.losses, TOL, `seed ${seed} losses`);
        expectClose(got.grad!, want.grad!, TOL, `seed ${seed} ${JSON.stringify(fit)} grad`, blocksOf(c));
        expectClose(got.posterior!, want.posterior!, TOL, `seed ${seed} ${JSON.stringify(fit)} posterior`, blocksOf(c));
      }
    });

    it('dctcLoss: every alignment mode, margin on and off, β and λ', () => {
      const modes = ['ratio', 'posterior', 'viterbi'] as const;
      for (let seed = 200; seed < 236; seed++) {
        const c = ctcCase(seed, { allowImpossible: seed % 6 === 0 });
        const o = {
          ...optionsOf(c),
          alignment: modes[seed % 3],
          lambda: [0.01, 0.3, 1][seed % 3],
          ctcWeight: seed % 7 === 0 ? 0 : 1,
          margin: seed % 2 === 0 ? { s: 1, m: 0 } : { s: 2, m: 0.5 },
        };
        const want = dctcLoss(c.logits, { ...o, backend: 'cpu' });
        const got = dctcLoss(c.logits, { ...o, backend: 'cuda' });
        expect(Array.from(got.alignment)).toEqual(Array.from(want.alignment));
        expectLossesClose(got.losses, want.losses, TOL, `seed ${seed} losses`);
        expectLossesClose(got.ctcLosses, want.ctcLosses, TOL, `seed ${seed} ctc`);
        expectLossesClose(got.distillLosses, want.distillLosses, TOL, `seed ${seed} distill`);
        expectClose(got.grad!, want.grad!, TOL, `seed ${seed} grad`, blocksOf(c));
      }
    });

    it('ctcAlign: the paths and scores of the CPU backend', () => {
      for (let seed = 300; seed < 340; seed++) {
        const c = ctcCase(seed, { allowImpossible: seed % 5 === 0 });
        const want = ctcAlign(c.logits, { ...optionsOf(c), backend: 'cpu' });
        const got = ctcAlign(c.logits, { ...optionsOf(c), backend: 'cuda' });
        expect(Array.from(got.paths)).toEqual(Array.from(want.paths));
        expectLossesClose(got.scores, want.scores, TOL, `seed ${seed} scores`);
      }
    });

    it('aceLoss: CE and regression, logits and probabilities, 1D and 2D', () => {
      const r = rng(9);
      for (let i = 0; i < 24; i++) {
        const N = 1 + (i % 4),
          C = 3 + ((i * 7) % 30);
        const twoD = i % 3 === 0;
        const H = 2 + (i % 3),
          W = 3 + (i % 5),
          T = twoD ? H * W : 5 + i;
        const logits = normalFloats(r, N * T * C, 2);
        const targets = Array.from({ length: N }, () =>
          Array.from({ length: 1 + Math.floor(r() * 3) }, () => 1 + Math.floor(r() * (C - 1))),
        );
        const shape = twoD ? { height: H, width: W } : { time: T };
        const variant = i % 2 === 0 ? ('ce' as const) : ('regression' as const);
        const probs = i % 4 === 1;
        let data = logits;
        if (probs) {
          data = new Float32Array(logits.length);
          for (let o = 0; o < data.length; o += C) {
            let s = 0;
            for (let k = 0; k < C; k++) s += Math.exp(logits[o + k]);
            for (let k = 0; k < C; k++) data[o + k] = Math.exp(logits[o + k]) / s;
          }
        }
        const o = { batch: N, classes: C, ...shape, targets, variant, ...(probs ? { input: 'probs' as const } : {}) };
        const want = aceLoss(data, { ...o, backend: 'cpu' });
        const got = aceLoss(data, { ...o, backend: 'cuda' });
        expectLossesClose(got.losses, want.losses, TOL, `ace ${i} losses`);
        expectClose(got.grad!, want.grad!, TOL, `ace ${i} grad`);
      }
    });

    it('decoders and counting', () => {
      for (let seed = 400; seed < 420; seed++) {
        const c = ctcCase(seed);
        const shape = { batch: c.batch, time: c.time, classes: c.classes, layout: c.layout, blank: c.blank };
        const il = Array.from(c.inputLengths, (t) => Math.max(t, 1));
        const dec = (backend: 'cpu' | 'cuda') =>
          ctcGreedyDecode(c.logits, { ...shape, inputLengths: c.inputLengths, backend }).map((a) => Array.from(a));
        expect(dec('cuda')).toEqual(dec('cpu'));
        const ace = (backend: 'cpu' | 'cuda', collapseRepeats: boolean) =>
          aceDecode(c.logits, { ...shape, inputLengths: il, collapseRepeats, backend }).map((a) => Array.from(a));
        expect(ace('cuda', false)).toEqual(ace('cpu', false));
        expect(ace('cuda', true)).toEqual(ace('cpu', true));
        const want = aceCount(c.logits, { ...shape, inputLengths: il, backend: 'cpu' });
        const got = aceCount(c.logits, { ...shape, inputLengths: il, backend: 'cuda' });
        expectLossesClose(got.expected, want.expected, TOL, `seed ${seed} counts`);
      }
    });

    it('deterministic: the same call twice gives bitwise the same outputs', () => {
      const c = ctcCase(500, { maxT: 120, maxC: 80, maxN: 8 });
      const o = { ...optionsOf(c), posterior: true, fit: { alpha: 0.5, gamma: 1 }, backend: 'cuda' as const };
      const a = ctcLoss(c.logits, o);
      const b = ctcLoss(c.logits, o);
      expect(Buffer.from(a.grad!.buffer).equals(Buffer.from(b.grad!.buffer))).toBe(true);
      expect(Buffer.from(a.posterior!.buffer).equals(Buffer.from(b.posterior!.buffer))).toBe(true);
      expect(a.loss).toBe(b.loss);
    });

    it('async forms, out arrays, concurrent calls', async () => {
      const c = ctcCase(600, { maxT: 80, maxC: 40, maxN: 6 });
      const o = { ...optionsOf(c), backend: 'cuda' as const };
      const sync = ctcLoss(c.logits, o);
      const grad = new Float32Array(c.logits.length);
      const [a, b, d, al, ace] = await Promise.all([
        ctcLossAsync(c.logits, o),
        ctcLossAsync(c.logits, { ...o, out: { grad } }),
        dctcLossAsync(c.logits, o),
        ctcAlignAsync(c.logits, o),
        aceLossAsync(c.logits, {
          batch: c.batch,
          time: c.time,
          classes: c.classes,
          layout: c.layout,
          blank: c.blank,
          targets: c.targets.map((t) => t.slice(0, 1)),
          backend: 'cuda',
        }),
      ]);
      expect(a.grad).toEqual(sync.grad);
      expect(b.grad).toBe(grad);
      expect(grad).toEqual(sync.grad);
      expect(d.backend).toBe('cuda');
      expect(al.backend).toBe('cuda');
      expect(ace.backend).toBe('cuda');
    });

    it("worker threads call the CUDA backend and get the main thread's results", async () => {
      const c = ctcCase(700);
      const want = ctcLoss(c.logits, { ...optionsOf(c), backend: 'cuda' });
      const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.entry).then(({ ctcLoss }) => {
        const r = ctcLoss(new Float32Array(workerData.logits), { ...workerData.options, backend: 'cuda' });
        parentPort.postMessage({ loss: r.loss, grad: Array.from(r.grad) });
      });`;
      const results = await Promise.all(
        [0, 1].map(
          () =>
            new Promise<{ loss: number; grad: number[] }>((resolve, reject) => {
              const w = new Worker(script, {
                eval: true,
                workerData: {
                  entry: `${packageRoot}/dist/index.js`,
                  logits: Array.from(c.logits),
                  options: optionsOf(c),
                },
              });
              w.once('message', resolve);
              w.once('error', reject);
            }),
        ),
      );
      for (const r of results) {
        expect(r.loss).toBe(want.loss);
        expect(Float32Array.from(r.grad)).toEqual(want.grad);
      }
    });

    it("every device gives device 0's results, also from worker threads calling on different devices at once", async () => {
      const c = ctcCase(750);
      const o = { ...optionsOf(c), posterior: true, fit: { alpha: 0.5, gamma: 1 }, backend: 'cuda' as const };
      const want = ctcLoss(c.logits, { ...o, device: 0 });
      for (let device = 1; device < info.cuda.devices.length; device++) {
        const got = ctcLoss(c.logits, { ...o, device });
        expect(Buffer.from(got.grad!.buffer).equals(Buffer.from(want.grad!.buffer)), `device ${device}`).toBe(true);
        expect(got.loss).toBe(want.loss);
      }
      const script = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.entry).then(async ({ ctcLoss, ctcLossAsync }) => {
        const x = new Float32Array(workerData.logits);
        const o = { ...workerData.options, backend: 'cuda', device: workerData.device };
        const results = [ctcLoss(x, o), await ctcLossAsync(x, o), ctcLoss(x, o)];
        parentPort.postMessage(results.map((r) => ({ loss: r.loss, grad: Array.from(r.grad) })));
      });`;
      const devices = info.cuda.devices.map((d) => d.index);
      const runs = await Promise.all(
        [...devices, ...devices].map(
          (device) =>
            new Promise<{ loss: number; grad: number[] }[]>((resolve, reject) => {
              const w = new Worker(script, {
                eval: true,
                workerData: {
                  entry: `${packageRoot}/dist/index.js`,
                  logits: Array.from(c.logits),
                  options: { ...optionsOf(c), posterior: true, fit: o.fit },
                  device,
                },
              });
              w.once('message', resolve);
              w.once('error', reject);
            }),
        ),
      );
      for (const results of runs) {
        for (const r of results) {
          expect(r.loss).toBe(want.loss);
          expect(Float32Array.from(r.grad)).toEqual(want.grad);
        }
      }
    });

    it('the device option: an index past the last device is an Error naming it', () => {
      const c = ctcCase(800);
      expect(() => ctcLoss(c.logits, { ...optionsOf(c), backend: 'cuda', device: 1000 })).toThrow(
        /device must be a CUDA device index/,
      );
      expect(ctcLoss(c.logits, { ...optionsOf(c), backend: 'cuda', device: 0 }).backend).toBe('cuda');
    });

    it('the extremes: log-prob −500 on forced frames, logits ±1e4', () => {
      const c = ctcCase(900, { maxT: 40, maxC: 12, maxN: 4 });
      const big = Float32Array.from(c.logits, (v, i) => (i % 7 === 0 ? 1e4 : i % 5 === 0 ? -1e4 : v));
      const o = { ...optionsOf(c), posterior: true };
      const want = ctcLoss(big, { ...o, backend: 'cpu' });
      const got = ctcLoss(big, { ...o, backend: 'cuda' });
      expectLossesClose(got.losses, want.losses, TOL, 'extreme losses');
      expectClose(got.grad!, want.grad!, TOL, 'extreme grad', blocksOf(c));
      const lp = logSoftmaxRows(c.logits, c.classes);
      for (let i = 0; i < lp.length; i += c.classes * 3)
        for (let k = 0; k < c.classes; k++) lp[i + k] = k === c.blank ? 0 : -500;
      const w2 = ctcLoss(lp, { ...o, input: 'logProbs', backend: 'cpu' });
      const g2 = ctcLoss(lp, { ...o, input: 'logProbs', backend: 'cuda' });
      expectLossesClose(g2.losses, w2.losses, TOL, 'forced losses');
      expectClose(g2.posterior!, w2.posterior!, TOL, 'forced posterior', blocksOf(c));
    });
  });
