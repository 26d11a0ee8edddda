#!/usr/bin/env node
// Builds the native addon with cmake-js. Run by `npm install` (the package's install script), and by
// scripts/build-emulated.mjs for the emulated test build (`--out build-emu`).
//
// Environment:
//   SEQLOSS_CUDA=ON|OFF|AUTO   CUDA backend (default AUTO: built when nvcc is found)
//   SEQLOSS_CUDA_ARCHS=90      narrow the CUDA architectures for a fast local build
//   SEQLOSS_CUDA_EMULATE=ON    compile the CUDA backend as C++ against the SIMT host (cuda/simt), no nvcc: it runs
//                              on emulated devices on the CPU, for testing (see README, "CUDA without a GPU")
//   SEQLOSS_NATIVE_ARCH=1      tune the CPU backend for this machine (-march=native)
//   SEQLOSS_SKIP_NATIVE=1      do not build: only the pure-TypeScript backend will be available
//   SEQLOSS_REQUIRE_NATIVE=1   fail the install when the build fails (default: warn, fall back to 'js')
// Arguments: --out DIR (the build folder, default build/); --no-tests (do not build the C++ tests: installs from the
// package, which ship no tests).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const truthy = (v) => v !== undefined && /^(1|on|true|yes)$/i.test(v);
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : undefined;

if (truthy(env.SEQLOSS_SKIP_NATIVE) && out === undefined) {
  console.warn('seqloss: SEQLOSS_SKIP_NATIVE is set; skipping the native build (backend "js" only)');
  process.exit(0);
}

const require = createRequire(import.meta.url);
let cli;
try {
  cli = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
} catch {
  fail('cmake-js is not installed');
}

// Every switch is passed explicitly (defaults included) and CMake is configured on every run, so that changing an
// environment variable takes effect on an existing build/ instead of the cached value silently winning.
const emulate = truthy(env.SEQLOSS_CUDA_EMULATE);
const defines = [
  `--CDSEQLOSS_CUDA=${(env.SEQLOSS_CUDA ?? 'AUTO').toUpperCase()}`,
  `--CDSEQLOSS_CUDA_ARCHS=${env.SEQLOSS_CUDA_ARCHS ?? ''}`,
  `--CDSEQLOSS_CUDA_EMULATE=${emulate ? 'ON' : 'OFF'}`,
  `--CDSEQLOSS_NATIVE_ARCH=${truthy(env.SEQLOSS_NATIVE_ARCH) ? 'ON' : 'OFF'}`,
  `--CDSEQLOSS_BUILD_TESTS=${args.includes('--no-tests') ? 'OFF' : 'ON'}`,
];
const common = ['--directory', root, ...(out ? ['--out', out] : []), ...defines];
for (const step of [['configure'], ['build', '--parallel', String(Math.max(1, availableParallelism()))]]) {
  const run = spawnSync(process.execPath, [cli, ...step, ...common], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) fail(`cmake-js ${step[0]} exited with ${run.status ?? run.signal}`);
}

function fail(why) {
  const msg = `seqloss: native build${out ? ` (${out})` : ''} failed (${why}).`;
  if (truthy(env.SEQLOSS_REQUIRE_NATIVE) || out !== undefined) {
    console.error(`${msg} ${out ? 'The tests need it' : 'SEQLOSS_REQUIRE_NATIVE is set'}, so this fails.`);
    process.exit(1);
  }
  console.warn(
    `${msg} backend 'auto' will fall back to the pure-TypeScript reference; ` +
      'backends() explains why. Set SEQLOSS_REQUIRE_NATIVE=1 to make this an error.',
  );
  process.exit(0);
}
