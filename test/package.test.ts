// The package as a user gets it: `npm run prebuild`, `npm pack`, and the tarball installed into an empty project on a
// PATH that holds node and sh only (no C++ compiler, no cmake, no nvcc), from an ES module and a CommonJS file; then
// the same tarball without its prebuild, where the install must say why there is no addon and how to fix it. The
// C ABI from Python (examples/python, ctypes on NumPy) where Debian's python3-numpy is installed.
//
// The prebuild is incremental: it builds in build/ like `npm install` (SEQLOSS_CUDA=AUTO here, so that a machine
// without nvcc still tests the rest) and only relinks and strips after an install. The packing skips prepack (it
// would rebuild dist/ under the other test files' feet): dist/ is the one `npm install` built.
// SEQLOSS_SKIP_PACKAGE_TEST=1 skips this file (it needs the npm cache that `npm install` filled: --prefer-offline).
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ctcLoss } from '../lib/index.js';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const platformDir = `prebuilds/${process.platform}-${process.arch}`;
const libc = process.platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : '';
const addonName = `seqloss${libc ? `.${libc}` : ''}.node`;

/** npm's own entry point, run with this Node (so the test's PATH needs no npm). */
function npmCli(): string | undefined {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    '/usr/lib/node_modules/npm/bin/npm-cli.js',
    '/usr/local/lib/node_modules/npm/bin/npm-cli.js',
  ];
  return candidates.find((p) => p?.endsWith('npm-cli.js') && fs.existsSync(p));
}
const npm = npmCli();
const haveDist = fs.existsSync(path.join(root, 'dist', 'cjs', 'index.js'));
const skip = process.env.SEQLOSS_SKIP_PACKAGE_TEST === '1' || !npm || !haveDist || process.platform === 'win32';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seqloss-package-'));
/** The consumer's PATH: a folder with node and sh only. */
const bin = path.join(tmp, 'bin');

/** The environment of a user's shell on this PATH: no npm_* of the `npm test` running us, no SEQLOSS_* switches
 * (CI's SEQLOSS_REQUIRE_NATIVE would turn the no-addon install into a failure). */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PATH|SEQLOSS_|npm_|NODE_|VITEST|TEST$)/i.test(k)) continue;
    env[k] = v;
  }
  env.PATH = bin;
  env.npm_config_cache = process.env.npm_config_cache ?? path.join(os.homedir(), '.npm');
  env.npm_config_update_notifier = 'false';
  return env;
}

function run(cmd: string, args: string[], cwd: string, env = userEnv()): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
}

const ok = (r: SpawnSyncReturns<string>) => `exit ${r.status}\n${r.stdout}\n${r.stderr}`.slice(-4000);

/** npm install of a tarball into a new empty project (on the bare PATH unless env says otherwise). */
function installInto(
  name: string,
  tarball: string,
  env = userEnv(),
): { dir: string; install: SpawnSyncReturns<string> } {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true }));
  const install = run(
    process.execPath,
    [npm!, 'install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball],
    dir,
    env,
  );
  return { dir, install };
}

// The consumers: the same problem through 'seqloss' as an ES module and as CommonJS; each prints one JSON line.
const PROBLEM = `
const N = 3, T = 14, C = 6;
const logits = new Float32Array(N * T * C);
let s = 7;
for (let i = 0; i < logits.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; logits[i] = (s / 2147483648) * 6 - 3; }
const o = { batch: N, time: T, classes: C, targets: [[1, 2, 2], [3], [4, 5, 1, 2]], inputLengths: [14, 9, 12] };
function compare(ctcLoss) {
  const cpu = ctcLoss(logits, { ...o, backend: 'cpu' });
  const js = ctcLoss(logits, { ...o, backend: 'js' });
  let rel = 0;
  for (let i = 0; i < N; i++) rel = Math.max(rel, Math.abs(cpu.losses[i] - js.losses[i]) / Math.abs(js.losses[i]));
  let grad = 0;
  for (let i = 0; i < cpu.grad.length; i++) grad = Math.max(grad, Math.abs(cpu.grad[i] - js.grad[i]));
  return { rel, grad, backend: cpu.backend, loss: cpu.loss };
}`;
const ESM_CONSUMER = `import { backends, ctcLoss } from 'seqloss';
import { simulate } from 'seqloss/simulate';
import * as reference from 'seqloss/reference';
${PROBLEM}
const b = backends();
const out = { cpu: b.cpu, reason: b.reason ?? null, version: b.version, reference: typeof reference.ctcLoss };
out.simulate = simulate({ iters: 30, configs: [{}] }).runs[0].summary.final.ctcLoss > 0;
if (b.cpu) Object.assign(out, compare(ctcLoss));
console.log(JSON.stringify(out));
`;
const CJS_CONSUMER = `const { backends, ctcLoss } = require('seqloss');
const { simulate, simulateReport } = require('seqloss/simulate');
const reference = require('seqloss/reference');
${PROBLEM}
(async () => {
  const b = backends();
  const out = { cpu: b.cpu, reason: b.reason ?? null, version: b.version, reference: typeof reference.ctcLoss };
  out.report = (await simulateReport(simulate({ iters: 30, configs: [{}] }))).length;
  if (b.cpu) Object.assign(out, compare(ctcLoss));
  console.log(JSON.stringify(out));
})();
`;

function consume(dir: string): { esm: Record<string, unknown>; cjs: Record<string, unknown> } {
  fs.writeFileSync(path.join(dir, 'consumer.mjs'), ESM_CONSUMER);
  fs.writeFileSync(path.join(dir, 'consumer.cjs'), CJS_CONSUMER);
  const esm = run(process.execPath, ['consumer.mjs'], dir);
  expect(esm.status, ok(esm)).toBe(0);
  const cjs = run(process.execPath, ['consumer.cjs'], dir);
  expect(cjs.status, ok(cjs)).toBe(0);
  return { esm: JSON.parse(esm.stdout), cjs: JSON.parse(cjs.stdout) };
}

describe.skipIf(skip)('the package: prebuilt, packed, installed without a compiler', () => {
  let tarball = '';
  let files: string[] = [];
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version as string;
  // The C ABI version the sources declare (csrc/seqloss.h), which the shipped library must report.
  const abi = /#define SEQLOSS_ABI_VERSION (\d+)/.exec(
    fs.readFileSync(path.join(root, 'csrc', 'seqloss.h'), 'utf8'),
  )?.[1];

  beforeAll(() => {
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
    const prebuild = spawnSync(process.execPath, [path.join(root, 'scripts', 'prebuild.mjs')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, SEQLOSS_CUDA: process.env.SEQLOSS_CUDA ?? 'AUTO' },
      maxBuffer: 64 << 20,
    });
    expect(prebuild.status, ok(prebuild)).toBe(0);
    const env = { ...process.env, npm_config_update_notifier: 'false' };
    const dry = spawnSync(process.execPath, [npm!, 'pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: root,
      encoding: 'utf8',
      env,
    });
    expect(dry.status, ok(dry)).toBe(0);
    files = (JSON.parse(dry.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path).sort();
    const pack = spawnSync(process.execPath, [npm!, 'pack', '--ignore-scripts', '--pack-destination', tmp], {
      cwd: root,
      encoding: 'utf8',
      env,
    });
    expect(pack.status, ok(pack)).toBe(0);
    tarball = path.join(tmp, pack.stdout.trim().split('\n').at(-1)!);
    expect(fs.existsSync(tarball), tarball).toBe(true);
  }, 900_000);

  it('the tarball holds the prebuild, the C ABI, both builds, their types and the docs, and nothing else', () => {
    for (const f of [
      `${platformDir}/${addonName}`,
      `${platformDir}/libseqloss.so`,
      'csrc/seqloss.h',
      'CMakeLists.txt',
      'scripts/install.mjs',
      'scripts/build-native.mjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/platform.cjs',
      'dist/simulate/index.js',
      'dist/simulate/index.d.ts',
      'dist/tfjs.js',
      'dist/cli.js',
      'dist/cjs/package.json',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/cjs/simulate/index.js',
      'dist/cjs/reference/index.js',
      'examples/python/ctc_numpy.py',
      'examples/c/ctc_loss.c',
      'simulate.schema.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'package.json',
    ]) {
      expect(files, f).toContain(f);
    }
    const unwanted = files.filter(
      (f) =>
        /^(build|build-[^/]*|test|bench|docs|node_modules|\.ci|\.device|lib)\//.test(f) ||
        /(\.o|\.a|\.map|\.tgz|\.pyc|\.orig)$/.test(f) ||
        /__pycache__|install-status\.json/.test(f),
    );
    expect(unwanted).toEqual([]);
    // Every file has a reason to be there: the build's output, the sources a compile needs, the docs.
    const allowed =
      /^(dist\/|prebuilds\/|csrc\/|cuda\/|examples\/(python|c)\/|scripts\/(install|build-native)\.mjs$|(CMakeLists\.txt|README\.md|LICENSE|CHANGELOG\.md|package\.json|simulate\.schema\.json)$)/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    // No source maps that would point at sources the package does not ship.
    const js = fs.readFileSync(path.join(root, 'dist', 'index.js'), 'utf8');
    expect(js).not.toContain('sourceMappingURL');
  });

  it('the prebuild is Node-API, loads without a C++ toolchain and links no CUDA driver or runtime library', () => {
    const addon = path.join(root, platformDir, addonName);
    const r = spawnSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(addon)}).info())`], {
      encoding: 'utf8',
    });
    expect(r.status, ok(r)).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.version).toBe(version);
    const readelf = spawnSync('readelf', ['-d', addon], { encoding: 'utf8' });
    if (readelf.status === 0) {
      const needed = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
      expect(needed.filter((l) => /cuda|nvrtc|cublas/.test(l))).toEqual([]);
      const libNeeded = spawnSync('readelf', ['-d', path.join(root, platformDir, 'libseqloss.so')], {
        encoding: 'utf8',
      });
      expect(libNeeded.stdout).not.toMatch(/NEEDED.*(libcuda|libcudart)/);
    }
  });

  describe('installed into an empty project on a PATH with node and sh only', () => {
    let dir = '';
    let install: SpawnSyncReturns<string>;
    beforeAll(() => {
      ({ dir, install } = installInto('with-prebuild', tarball));
    }, 600_000);

    it('that PATH has no C++ compiler, cmake or nvcc', () => {
      for (const tool of ['c++', 'g++', 'clang++', 'cmake', 'nvcc']) {
        const r = run('/bin/sh', ['-c', `command -v ${tool}`], tmp);
        expect(r.status, `${tool}: ${r.stdout}`).not.toBe(0);
      }
    });

    it('the install uses the prebuild, compiles nothing and leaves no build tree', () => {
      expect(install.status, ok(install)).toBe(0);
      expect(install.stdout + install.stderr).toContain(`using the prebuilt addon ${platformDir}/${addonName}`);
      const pkg = path.join(dir, 'node_modules', 'seqloss');
      expect(fs.readdirSync(path.join(pkg, 'build'))).toEqual(['install-status.json']);
      const status = JSON.parse(fs.readFileSync(path.join(pkg, 'build', 'install-status.json'), 'utf8'));
      expect(status).toMatchObject({ ok: true, built: false, addon: `${platformDir}/${addonName}` });
    });

    it("ES module and CommonJS consumers: backends().cpu, and ctcLoss on 'cpu' equal to 'js' within 1e-5", () => {
      const { esm, cjs } = consume(dir);
      for (const out of [esm, cjs]) {
        expect(out).toMatchObject({ cpu: true, reason: null, version, reference: 'function', backend: 'cpu' });
        expect(out.rel as number).toBeLessThan(1e-5);
        expect(out.grad as number).toBeLessThan(1e-5);
      }
      expect(esm.simulate).toBe(true);
      expect(cjs.report as number).toBeGreaterThan(10_000); // vega, an ES module, loaded from CommonJS
    });

    it('the command: bare `seqloss` prints usage and exits 2; doctor names the prebuilt addon', () => {
      const cli = path.join(dir, 'node_modules', '.bin', 'seqloss');
      const bare = run(cli, [], dir);
      expect(bare.status).toBe(2);
      expect(bare.stderr).toMatch(/^usage: seqloss <command>/);
      const doctor = run(cli, ['doctor'], dir);
      expect(doctor.status, ok(doctor)).toBe(0);
      expect(doctor.stdout).toMatch(/backend cpu: {6}yes/);
    });

    const cc = spawnSync('/bin/sh', ['-c', 'command -v cc'], { encoding: 'utf8' }).status === 0;
    it.skipIf(!cc)(
      'C: examples/c/ctc_loss.c, built against the shipped seqloss.h and libseqloss.so, gives the losses',
      () => {
        const pkg = path.join(dir, 'node_modules', 'seqloss');
        const lib = path.join(pkg, platformDir);
        const exe = path.join(tmp, 'ctc_loss_c');
        const link = spawnSync(
          'cc',
          [
            '-std=c11',
            path.join(pkg, 'examples', 'c', 'ctc_loss.c'),
            `-I${path.join(pkg, 'csrc')}`,
            `-L${lib}`,
            '-lseqloss',
            '-lm',
            `-Wl,-rpath,${lib}`,
            '-o',
            exe,
          ],
          { encoding: 'utf8' },
        );
        expect(link.status, ok(link)).toBe(0);
        const out = spawnSync(exe, [], { encoding: 'utf8' });
        expect(out.status, ok(out)).toBe(0);
        const m = /losses (\S+) (\S+)\nloss (\S+)/.exec(out.stdout);
        expect(m, out.stdout).not.toBeNull();
        // The same problem through the reference: logits sin(0.37 i), labels 1 2 2 | 3 4, lengths 12 and 9.
        const logits = Float32Array.from({ length: 2 * 12 * 5 }, (_, i) => Math.sin(0.37 * i));
        const want = ctcLoss(logits, {
          batch: 2,
          time: 12,
          classes: 5,
          targets: [
            [1, 2, 2],
            [3, 4],
          ],
          inputLengths: [12, 9],
          backend: 'js',
        });
        expect(Math.abs(Number(m![1]) - want.losses[0])).toBeLessThan(1e-5 * want.losses[0]);
        expect(Math.abs(Number(m![2]) - want.losses[1])).toBeLessThan(1e-5 * want.losses[1]);
        expect(Math.abs(Number(m![3]) - want.loss)).toBeLessThan(1e-5 * want.loss);
      },
    );

    const numpy = spawnSync('/usr/bin/python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
    it.skipIf(!numpy)(
      'Python (ctypes + NumPy, /usr/bin/python3) calls the shipped libseqloss.so: the same losses',
      () => {
        const pkg = path.join(dir, 'node_modules', 'seqloss');
        const example = run('/usr/bin/python3', [path.join(pkg, 'examples', 'python', 'ctc_numpy.py')], dir, {
          ...userEnv(),
          PATH: process.env.PATH,
        });
        expect(example.status, ok(example)).toBe(0);
        expect(example.stdout).toContain(`seqloss ${version} (C ABI ${abi})`);
        // The example's ctc_loss on a problem of ours, against the reference.
        const N = 2;
        const T = 7;
        const C = 4;
        const logits = Float32Array.from({ length: N * T * C }, (_, i) => Math.sin(i * 0.7) * 2);
        const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(path.join(pkg, 'examples', 'python'))})
import numpy as np, ctypes, ctc_numpy
lib = ctypes.CDLL(ctc_numpy.find_library())
x = np.array(json.loads(sys.stdin.read()), dtype=np.float32).reshape(${N}, ${T}, ${C})
losses, loss, grad = ctc_numpy.ctc_loss(lib, x, [1, 2, 3], [2, 1], input_lengths=[7, 5])
print(json.dumps({"losses": losses.tolist(), "loss": loss, "grad": grad.ravel().tolist()}))`;
        const py = spawnSync('/usr/bin/python3', ['-c', script], {
          input: JSON.stringify([...logits]),
          encoding: 'utf8',
        });
        expect(py.status, ok(py)).toBe(0);
        const got = JSON.parse(py.stdout) as { losses: number[]; loss: number; grad: number[] };
        const want = ctcLoss(logits, {
          batch: N,
          time: T,
          classes: C,
          targets: Int32Array.of(1, 2, 3),
          targetLengths: Int32Array.of(2, 1),
          inputLengths: [7, 5],
          backend: 'js',
        });
        for (let i = 0; i < N; i++)
          expect(Math.abs(got.losses[i] - want.losses[i]) / want.losses[i]).toBeLessThan(1e-5);
        expect(Math.abs(got.loss - want.loss) / want.loss).toBeLessThan(1e-5);
        let err = 0;
        for (let i = 0; i < got.grad.length; i++) err = Math.max(err, Math.abs(got.grad[i] - want.grad[i]));
        expect(err).toBeLessThan(1e-5);
      },
    );
  });

  /** The tarball with prebuilds/ removed: unpacked, pruned and packed again (with the harness's PATH: tar is not
   * on the bare one). */
  let stripped = '';
  function withoutPrebuild(): string {
    if (stripped) return stripped;
    const unpacked = path.join(tmp, 'unpacked');
    fs.mkdirSync(unpacked);
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', unpacked], { encoding: 'utf8' });
    expect(tar.status, ok(tar)).toBe(0);
    fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
    const pack = spawnSync(process.execPath, [npm!, 'pack', '--ignore-scripts', '--pack-destination', unpacked], {
      cwd: path.join(unpacked, 'package'),
      encoding: 'utf8',
      env: { ...process.env, npm_config_update_notifier: 'false' },
    });
    expect(pack.status, ok(pack)).toBe(0);
    stripped = path.join(unpacked, pack.stdout.trim().split('\n').at(-1)!);
    return stripped;
  }

  describe('the same tarball without its prebuild, on that PATH', () => {
    let dir = '';
    let install: SpawnSyncReturns<string>;
    beforeAll(() => {
      ({ dir, install } = installInto('without-prebuild', withoutPrebuild()));
    }, 600_000);

    it('the install succeeds, saying why there is no addon (no compiler, no cmake) and how to fix it', () => {
      expect(install.status, ok(install)).toBe(0);
      const said = install.stdout + install.stderr;
      expect(said).toContain('seqloss: no native addon: no prebuilt addon fits');
      expect(said).toContain('none of c++, g++, clang++ is on PATH');
      expect(said).toContain('no cmake on PATH');
      expect(said).toContain('`npm rebuild seqloss`');
    });

    it("backends() and doctor carry the install's reason; the package works on 'js'", () => {
      const { esm, cjs } = consume(dir);
      for (const out of [esm, cjs]) {
        expect(out.cpu).toBe(false);
        expect(out.reason).toMatch(
          /no C\+\+ compiler \(none of c\+\+, g\+\+, clang\+\+ is on PATH\); no cmake on PATH/,
        );
        expect(out.reason).toContain('fix: install a C++17 compiler');
        expect(out.reason).toContain('`npm rebuild seqloss`');
        expect(out.reason).not.toMatch(/node-gyp-build|No native build was found/);
      }
      expect(cjs.report as number).toBeGreaterThan(10_000);
      const doctor = run(path.join(dir, 'node_modules', '.bin', 'seqloss'), ['doctor'], dir);
      expect(doctor.status, ok(doctor)).toBe(0);
      expect(doctor.stdout).toMatch(/backend cpu: {6}no — no prebuilt addon fits .*no cmake on PATH/);
    });
  });

  // The compile path of a user's install (no prebuild fits): the toolchain on PATH, CPU only to keep it short.
  const compiler = ['c++', 'cmake'].every((t) => spawnSync('/bin/sh', ['-c', `command -v ${t}`]).status === 0);
  describe.skipIf(!compiler)('the tarball without its prebuild, with a compiler and cmake on PATH', () => {
    it('compiles the addon (no C++ tests), keeps only seqloss.node and libseqloss.so in build/, and loads it', () => {
      const env = { ...userEnv(), PATH: process.env.PATH, SEQLOSS_CUDA: 'OFF' };
      const { dir, install } = installInto('compiled', withoutPrebuild(), env);
      expect(install.status, ok(install)).toBe(0);
      expect(install.stdout + install.stderr).toContain('compiling the addon');
      const build = path.join(dir, 'node_modules', 'seqloss', 'build');
      const left: string[] = [];
      const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
          const f = path.join(d, e.name);
          if (e.isDirectory()) walk(f);
          else left.push(path.relative(build, f));
        }
      };
      walk(build);
      expect(left.sort()).toEqual(['Release/libseqloss.so', 'Release/seqloss.node', 'install-status.json']);
      const status = JSON.parse(fs.readFileSync(path.join(build, 'install-status.json'), 'utf8'));
      expect(status).toMatchObject({ ok: true, built: true });
      const { esm, cjs } = consume(dir);
      for (const out of [esm, cjs]) {
        expect(out).toMatchObject({ cpu: true, reason: null, backend: 'cpu' });
        expect(out.rel as number).toBeLessThan(1e-5);
      }
    }, 900_000);
  });
});
