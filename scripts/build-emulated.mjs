#!/usr/bin/env node
// Builds the two emulated variants that `npm test` runs (npm runs this as `pretest`; see README, "What runs where"):
//   build-emu/        the addon and the C++ tests with SEQLOSS_CUDA_EMULATE=ON: the kernels of cuda/ compiled as C++
//                     against the SIMT host (cuda/simt), so that backend 'cuda' runs on emulated devices (cmake-js,
//                     as npm install's build; no nvcc needed)
//   build-emu-asan/   the emulated C++ suites (simt_test, cuda_parity_test) and the C ABI test (abi_test, CPU backend)
//                     under AddressSanitizer and UBSan
//                     (plain CMake; no addon: a sanitized addon cannot be loaded into an unsanitized node)
// Both are incremental: a second run rebuilds only what changed.
//
// Environment:
//   SEQLOSS_SKIP_EMULATED=1   build neither (the emulated test files then fail, saying so)
//   SEQLOSS_SKIP_ASAN=1       skip the sanitizer build (its tests then say so and are skipped)
//   SEQLOSS_REQUIRE_NATIVE=1  (set in CI) a toolchain without the sanitizers is an error instead of a skip
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const truthy = (v) => v !== undefined && /^(1|on|true|yes)$/i.test(v);
const jobs = String(Math.max(1, availableParallelism()));

if (truthy(env.SEQLOSS_SKIP_EMULATED)) {
  console.warn('seqloss: SEQLOSS_SKIP_EMULATED is set; the emulated CUDA builds are not made');
  process.exit(0);
}

const run = (cmd, argv, extraEnv = {}) =>
  spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...env, ...extraEnv } });

// 1. The emulated addon and C++ tests.
const emu = run(process.execPath, [join(root, 'scripts', 'build-native.mjs'), '--out', 'build-emu'], {
  SEQLOSS_CUDA: 'OFF',
  SEQLOSS_CUDA_EMULATE: 'ON',
});
if (emu.status !== 0) process.exit(1);

// 2. The sanitizer build, where the toolchain links -fsanitize=address,undefined.
const asanDir = join(root, 'build-emu-asan');
const skipAsan = (why) => {
  mkdirSync(asanDir, { recursive: true });
  writeFileSync(join(asanDir, 'UNAVAILABLE'), `${why}\n`);
  if (truthy(env.SEQLOSS_REQUIRE_NATIVE)) {
    console.error(`seqloss: the sanitizer build is required (SEQLOSS_REQUIRE_NATIVE) but ${why}`);
    process.exit(1);
  }
  console.warn(`seqloss: skipping the sanitizer build: ${why}`);
  process.exit(0);
};
if (truthy(env.SEQLOSS_SKIP_ASAN)) skipAsan('SEQLOSS_SKIP_ASAN is set');
rmSync(join(asanDir, 'UNAVAILABLE'), { force: true });

const cxx = env.CXX ?? 'c++';
const probe = mkdtempSync(join(tmpdir(), 'seqloss-asan-'));
writeFileSync(join(probe, 'p.cc'), 'int main() { return 0; }\n');
const linked = spawnSync(cxx, ['-fsanitize=address,undefined', join(probe, 'p.cc'), '-o', join(probe, 'p')], {
  encoding: 'utf8',
});
rmSync(probe, { recursive: true, force: true });
if (linked.status !== 0) skipAsan(`${cxx} cannot link -fsanitize=address,undefined: ${(linked.stderr ?? '').trim()}`);

const ninja = spawnSync('ninja', ['--version']).status === 0;
const configure = run('cmake', [
  '-S',
  '.',
  '-B',
  'build-emu-asan',
  ...(ninja ? ['-G', 'Ninja'] : []),
  '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
  '-DSEQLOSS_CUDA_EMULATE=ON',
  '-DSEQLOSS_SANITIZE=address,undefined',
]);
if (configure.status !== 0) process.exit(1);
const build = run('cmake', [
  '--build',
  'build-emu-asan',
  '--parallel',
  jobs,
  '--target',
  'simt_test',
  'cuda_parity_test',
  'abi_test',
]);
if (build.status !== 0) process.exit(1);
