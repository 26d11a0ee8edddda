// The native addon as a Node citizen: it loads, runs async work off the main thread, lives in worker threads,
// and its C++ ABI tests pass. Also the `seqloss doctor` command.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { aceLoss, aceLossAsync, backends, ctcLoss, ctcLossAsync } from '../lib/index.js';
import { AUTO_CUDA_MIN_ELEMENTS, autoCudaEnabled, autoPicksCuda } from '../lib/backend.js';
import { packageRoot } from '../lib/native.js';
import { autoBackendAtThreshold, normalFloats, rng } from './helpers.js';

const info = backends();

describe('the native addon', () => {
  it('is built and loaded (set SEQLOSS_ALLOW_JS_ONLY=1 to accept a JS-only install)', () => {
    if (process.env.SEQLOSS_ALLOW_JS_ONLY === '1') return;
    expect(info.reason).toBeUndefined();
    expect(info.cpu).toBe(true);
  });

  it('reports CUDA honestly', () => {
    expect(typeof info.cuda.available).toBe('boolean');
    expect(Array.isArray(info.cuda.devices)).toBe(true);
    if (!info.cuda.available) expect(info.cuda.reason).toMatch(/\w/);
  });

  it.runIf(info.cpu)("'auto' picks the native CPU backend", () => {
    const r = ctcLoss(new Float32Array(3 * 4), { batch: 1, time: 3, classes: 4, targets: [[1]] });
    expect(r.backend).toBe('cpu');
  });
});

describe.runIf(info.cpu)('async calls', () => {
  // Large enough to take a good fraction of a second on two cores.
  const N = 64,
    T = 144,
    C = 4000;
  const logits = normalFloats(rng(1), N * T * C);
  const targets = Array.from({ length: N }, (_, n) =>
    Array.from({ length: 40 }, (_, j) => 1 + ((n * 7 + j * 13) % (C - 1))),
  );
  const options = { batch: N, time: T, classes: C, targets };

  it('a large CTC call lets timers fire while it runs, and equals the sync result', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    // The call is handed to the thread pool after copying its input (a memcpy, small next to the call; timing it
    // here would make a timed test on a shared machine): the event loop keeps running while it computes.
    const pending = ctcLossAsync(logits, options);
    const r = await pending;
    clearInterval(timer);
    expect(ticks).toBeGreaterThanOrEqual(3);
    const sync = ctcLoss(logits, options);
    expect(Buffer.from(r.grad!.buffer).equals(Buffer.from(sync.grad!.buffer))).toBe(true);
    expect(r.loss).toBe(sync.loss);
    expect(r.backend).toBe('cpu');
  });

  it('concurrent async calls of both losses give the sync results', async () => {
    const counts = new Float32Array(N * C);
    for (const [n, ls] of targets.entries()) for (const k of ls) counts[n * C + k]++;
    const ace = { batch: N, time: T, classes: C, counts };
    const [a, b, c] = await Promise.all([
      ctcLossAsync(logits, options),
      aceLossAsync(logits, ace),
      ctcLossAsync(logits, { ...options, reduction: 'sum' }),
    ]);
    expect(a.loss).toBe(ctcLoss(logits, options).loss);
    expect(b.loss).toBe(aceLoss(logits, ace).loss);
    expect(c.loss).toBe(ctcLoss(logits, { ...options, reduction: 'sum' }).loss);
  });
});

describe.runIf(info.cpu)('worker threads', () => {
  it('each worker loads its own addon instance and computes the same losses', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const b = require('node-gyp-build')(workerData.root);
      const data = new Float32Array(workerData.data);
      const problem = { batch: 2, time: 5, classes: 4, layout: 0, input: 0, blank: 0,
        inputLengths: null, targets: new Int32Array([1, 2, 3]), targetLengths: new Int32Array([2, 1]), counts: null };
      const opts = { reduction: 1, zeroInfinity: 0, fitAlpha: 0, fitGamma: 0, fitAlphaScope: 0 };
      const outputs = { grad: true, posterior: false };
      const exec = { backend: 0, device: 0, threads: 1 };
      const sums = [];
      for (let i = 0; i < 200; i++) sums.push(b.call(0, 'ctcLoss', data, problem, opts, outputs, exec).loss);
      b.callAsync(0, 'ctcLossAsync', data, problem, opts, outputs, exec).then((r) => parentPort.postMessage({ sync: sums[199], async: r.loss, same: sums.every((s) => s === sums[0]) }));
    `;
    const data = Array.from(normalFloats(rng(3), 2 * 5 * 4));
    const expected = ctcLoss(Float32Array.from(data), {
      batch: 2,
      time: 5,
      classes: 4,
      targets: [[1, 2], [3]],
      reduction: 'sum',
      backend: 'cpu',
    }).loss;
    const run = () =>
      new Promise<{ sync: number; async: number; same: boolean }>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { root: packageRoot, data } });
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    const results = await Promise.all([run(), run(), run()]);
    for (const r of results) {
      expect(r.same).toBe(true);
      expect(r.sync).toBe(expected);
      expect(r.async).toBe(expected);
    }
  });
});

describe('C++ ABI tests (built with the addon)', () => {
  const dir = join(packageRoot, 'build', 'tests');
  const binary = join(dir, 'abi_test');
  it.runIf(existsSync(binary))('abi_test passes', () => {
    const out = spawnSync(binary, { encoding: 'utf8' });
    expect(out.stdout + out.stderr).toMatch(/\b\d+ passed, 0 failed/);
    expect(out.status).toBe(0);
  });
  // The CUDA backend's host-side label plan (no GPU needed).
  const labels = join(dir, 'labels_test');
  it.runIf(existsSync(labels))('labels_test passes', () => {
    const out = spawnSync(labels, { encoding: 'utf8' });
    expect(out.stdout + out.stderr).toMatch(/labels_test: \d+ passed, 0 failed/);
    expect(out.status).toBe(0);
  });
  // CUDA against the CPU backend through the C ABI; it says "skipped" (and why) without a CUDA build or device.
  const parity = join(dir, 'cuda_parity_test');
  it.runIf(existsSync(parity))('cuda_parity_test passes or says why it is skipped', () => {
    const out = spawnSync(parity, { encoding: 'utf8', timeout: 600_000 });
    const text = out.stdout + out.stderr;
    if (backends().cuda.available) {
      expect(text).toMatch(/cuda_parity_test: \d+ passed, 0 failed/);
    } else {
      expect(text).toMatch(/cuda_parity_test: skipped \(.+\)/);
    }
    expect(out.status, text.slice(-3000)).toBe(0);
  });
});

describe('when the addon cannot be loaded', () => {
  const entry = join(packageRoot, 'dist', 'index.js');
  it.runIf(existsSync(entry))("'auto' falls back to 'js' with one warning, and backends() says why", () => {
    const script = `
      const { ctcLoss, backends } = await import(${JSON.stringify(entry)});
      const o = { batch: 1, time: 3, classes: 4, targets: [[1]] };
      const a = ctcLoss(new Float32Array(12), o);
      const b = ctcLoss(new Float32Array(12), o);
      let forced = '';
      try { ctcLoss(new Float32Array(12), { ...o, backend: 'cpu' }); } catch (e) { forced = e.constructor.name + ': ' + e.message; }
      console.log(JSON.stringify({ a: a.backend, b: b.backend, loss: a.loss, info: backends(), forced }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, SEQLOSS_DISABLE_NATIVE: '1' },
    });
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out.a).toBe('js');
    expect(out.b).toBe('js');
    expect(out.loss).toBeCloseTo(
      ctcLoss(new Float32Array(12), { batch: 1, time: 3, classes: 4, targets: [[1]], backend: 'js' }).loss,
      6,
    );
    expect(out.info.cpu).toBe(false);
    expect(out.info.reason).toMatch(/SEQLOSS_DISABLE_NATIVE/);
    expect(out.forced).toMatch(/^Error: ctcLoss: backend 'cpu' is unavailable: .*SEQLOSS_DISABLE_NATIVE/);
    const warnings = run.stderr.split('\n').filter((l) => l.includes('SEQLOSS_NO_NATIVE'));
    expect(warnings).toHaveLength(1);
    expect(run.stderr).toMatch(/falls back to 'js'/);
  });
});

describe('seqloss doctor', () => {
  const cli = join(packageRoot, 'dist', 'cli.js');
  it.runIf(existsSync(cli))('prints the backends, as text and as JSON', () => {
    const text = execFileSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
    expect(text).toMatch(/backend js: +yes/);
    expect(text).toMatch(new RegExp(`backend cpu: +${info.cpu ? 'yes' : 'no'}`));
    expect(text).toMatch(/backend cuda: +(yes|no)/);
    expect(text).toMatch(/architectures:/);
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' }));
    expect(json.js).toBe(true);
    expect(json.cpu).toBe(info.cpu);
    const bad = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});

describe("'auto' and CUDA (the rule; a machine without a GPU never reaches it)", () => {
  it('picks CUDA for a usable device from AUTO_CUDA_MIN_ELEMENTS input values on, unless SEQLOSS_AUTO_CUDA=0', () => {
    expect(AUTO_CUDA_MIN_ELEMENTS).toBe(2 ** 20);
    expect(autoPicksCuda(AUTO_CUDA_MIN_ELEMENTS, true, {})).toBe(true);
    expect(autoPicksCuda(64 * 144 * 7357, true, { SEQLOSS_AUTO_CUDA: '1' })).toBe(true);
    expect(autoPicksCuda(AUTO_CUDA_MIN_ELEMENTS - 1, true, {})).toBe(false);
    expect(autoPicksCuda(64 * 144 * 7357, false, {})).toBe(false);
    expect(autoPicksCuda(64 * 144 * 7357, true, { SEQLOSS_AUTO_CUDA: '0' })).toBe(false);
    expect(autoCudaEnabled({})).toBe(true);
    expect(autoCudaEnabled({ SEQLOSS_AUTO_CUDA: '0' })).toBe(false);
  });

  it.runIf(info.cpu && !info.cuda.available)('stays on the CPU backend where no device is usable', () => {
    expect(autoBackendAtThreshold()).toBe('cpu');
  });
});
