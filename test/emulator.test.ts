// The SIMT host (vitest project 'cuda-emulated', against build-emu/): the emulated addon says what it is, 'auto'
// never picks it, a device that cannot run the build and a device out of memory give errors that say so, and the
// C++ suites built against the host pass, with their counts printed: simt_test (the host's self-tests),
// cuda_parity_test (CUDA against the CPU backend through the C ABI), abi_test and labels_test.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backends } from '../lib/index.js';
import { packageRoot } from '../lib/native.js';
import { autoBackendAtThreshold } from './helpers.js';

const info = backends();
const tests = join(packageRoot, 'build-emu', 'tests');
const cli = join(packageRoot, 'dist', 'cli.js');
const entry = join(packageRoot, 'dist', 'index.js');

// Runs a script in a fresh node with the emulated addon and extra environment (the host reads its configuration at
// the first runtime call of a process).
function node(script: string, env: Record<string, string>) {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('the emulated CUDA devices', () => {
  it('say what they are: backends() and seqloss doctor', () => {
    expect(info.cuda.available).toBe(true);
    expect(info.cuda.emulated).toBe(true);
    expect(info.cuda.devices).toHaveLength(2);
    for (const d of info.cuda.devices) {
      expect(d.name).toMatch(/emulator/);
      expect(d.usable).toBe(true);
      expect(d.computeCapability).toBe('7.5');
    }
    const text = execFileSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
    expect(text).toMatch(/backend cuda: +yes \(EMULATED: the SIMT host runs the kernels on the CPU/);
    expect(text).toMatch(/\[1\] seqloss SIMT emulator #1 \(CPU\), compute 7\.5, .*, emulated/);
    expect(text).toMatch(/'auto' picks: +cpu \(never the emulated cuda devices\)/);
    const json = JSON.parse(execFileSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' }));
    expect(json.cuda.emulated).toBe(true);
  });

  it("'auto' never picks them, even with an input at the size rule's threshold", () => {
    expect(autoBackendAtThreshold()).toBe('cpu');
  });

  it('a device without a kernel image for this build is listed as unusable, and a call on it says why', () => {
    const out = node(
      `const { backends, ctcLoss } = await import(${JSON.stringify(entry)});
       const o = { batch: 1, time: 3, classes: 4, targets: [[1]], backend: 'cuda' };
       let err = '';
       try { ctcLoss(new Float32Array(12), { ...o, device: 1 }); } catch (e) { err = e.constructor.name + ': ' + e.message + ' [' + e.code + ']'; }
       console.log(JSON.stringify({ info: backends().cuda, ok: ctcLoss(new Float32Array(12), o).backend, err }));`,
      { SEQLOSS_EMULATE_NO_IMAGE: '1' },
    );
    expect(out.info.available).toBe(true);
    expect(out.info.devices[0].usable).toBe(true);
    expect(out.info.devices[1].usable).toBe(false);
    expect(out.info.devices[1].computeCapability).toBe('6.1');
    expect(out.info.devices[1].reason).toMatch(
      /no kernel image for compute 6\.1 in this build \(SASS for 75, PTX for 75\)/,
    );
    expect(out.ok).toBe('cuda');
    expect(out.err).toMatch(
      /^Error: .*CUDA device 1 cannot run this build: no kernel image for compute 6\.1.*\[SEQLOSS_ERROR_UNSUPPORTED\]$/,
    );
  });

  it('no usable device at all: backends() says why and backend cuda is an Error that says the same', () => {
    const out = node(
      `const { backends, ctcLoss } = await import(${JSON.stringify(entry)});
       let err = '';
       try { ctcLoss(new Float32Array(12), { batch: 1, time: 3, classes: 4, targets: [[1]], backend: 'cuda' }); } catch (e) { err = e.message; }
       console.log(JSON.stringify({ info: backends().cuda, err }));`,
      { SEQLOSS_EMULATE_NO_IMAGE: '0,1' },
    );
    expect(out.info.available).toBe(false);
    expect(out.info.reason).toMatch(
      /no usable CUDA device: device 0 \(seqloss SIMT emulator #0 \(CPU\), as compute 6\.1\): no kernel image/,
    );
    expect(out.err).toMatch(/cannot run this build: no kernel image for compute 6\.1/);
  });

  it("out of device memory is an Error with code SEQLOSS_ERROR_ALLOC and the runtime's words", () => {
    const out = node(
      `const { ctcLoss } = await import(${JSON.stringify(entry)});
       let err = {};
       try { ctcLoss(new Float32Array(8 * 50 * 100), { batch: 8, time: 50, classes: 100, targets: Array(8).fill([1, 2]), backend: 'cuda' }); }
       catch (e) { err = { name: e.constructor.name, message: e.message, code: e.code }; }
       console.log(JSON.stringify(err));`,
      { SEQLOSS_EMULATE_MEMORY: '64K' },
    );
    expect(out.name).toBe('Error');
    expect(out.code).toBe('SEQLOSS_ERROR_ALLOC');
    expect(out.message).toMatch(/cudaMallocFromPoolAsync \(workspace\) failed: out of memory/);
  });
});

// The C++ programs print "NAME: N passed, 0 failed"; the line is repeated here so that npm test's log shows it.
function runSuite(binary: string, args: string[] = [], timeout = 900_000): string {
  const file = join(tests, binary);
  expect(existsSync(file), `${file} (built by scripts/build-emulated.mjs, npm's pretest)`).toBe(true);
  const out = spawnSync(file, args, { encoding: 'utf8', timeout, env: { ...process.env, SEQLOSS_EMULATE_QUIET: '1' } });
  const text = out.stdout + out.stderr;
  const summary = text.match(new RegExp(`${binary}: (\\d+) passed, (\\d+) failed`));
  console.log(`[SIMT host] ${summary?.[0] ?? `${binary}: no summary`}`);
  expect(out.status, text.slice(-4000)).toBe(0);
  expect(summary, text.slice(-4000)).not.toBeNull();
  expect(summary![2]).toBe('0');
  return text;
}

describe('the C++ suites on the SIMT host (build-emu/tests)', () => {
  it('simt_test: correct kernels give GPU results, each hazard is reported with its kernel, block and thread', () => {
    const text = runSuite('simt_test');
    for (const hazard of [
      'missing barrier',
      'write-write race',
      'divergent barrier',
      'thread returned before a barrier',
      'shuffle over absent lanes',
      'shuffle split over two calls',
      'shuffle with a returned lane',
      'shuffle mask without the caller',
      'shared array out of bounds',
      'uninitialised read',
    ]) {
      expect(text).toContain(hazard);
    }
  }, 300_000);

  it('cuda_parity_test: the CUDA backend equals the CPU backend through the C ABI (every operation and option, the extremes, the host side)', () => {
    const text = runSuite('cuda_parity_test');
    expect(text).toMatch(/cuda_parity_test on seqloss SIMT emulator #0 \(CPU\).*2 device\(s\), emulated/);
    expect(text).toMatch(/failure injection: ctc \(host memory\) +\d+ runtime calls failed in turn/);
  }, 900_000);

  it('abi_test and labels_test', () => {
    expect(runSuite('abi_test', [], 300_000)).toMatch(/archs='emulated/);
    runSuite('labels_test', [], 300_000);
  }, 600_000);
});
