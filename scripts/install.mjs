#!/usr/bin/env node
// The package's install script (`npm install seqloss`, `npm rebuild seqloss`). In order:
//  1. SEQLOSS_SKIP_NATIVE=1: nothing to do (backend 'js' only).
//  2. Unless SEQLOSS_FORCE_BUILD=1: a prebuilt addon in prebuilds/<platform>-<arch>/ that node-gyp-build picks for
//     this Node, platform, architecture and libc, and that loads and answers in a child process: use it, build
//     nothing.
//  3. Otherwise compile (scripts/build-native.mjs: cmake-js, CMake, a C++17 compiler, nvcc when found). Before that,
//     the tools are looked for, so that a missing one is named. An install from the package (not a git checkout of
//     the repository) builds neither the C++ tests nor keeps the build tree: build/ ends with only what is loaded
//     or shipped (build/Release/seqloss.node, build/Release/libseqloss.so).
// Whatever happens, build/install-status.json records the outcome; when no addon is usable, its reason and fix are
// what backends().reason and `seqloss doctor` report. The install fails only with SEQLOSS_REQUIRE_NATIVE=1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const env = process.env;
const truthy = (v) => v !== undefined && /^(1|on|true|yes)$/i.test(v);
const require = createRequire(import.meta.url);
const statusFile = join(root, 'build', 'install-status.json');
const FIX = 'install a C++17 compiler (g++ or clang++) and CMake >= 3.19, then run `npm rebuild seqloss`';

function record(status) {
  mkdirSync(dirname(statusFile), { recursive: true });
  writeFileSync(
    statusFile,
    `${JSON.stringify({ ...status, node: process.version, date: new Date().toISOString() }, null, 2)}\n`,
  );
}

function giveUp(reason, fix = FIX) {
  record({ ok: false, reason, fix });
  const msg = `seqloss: no native addon: ${reason}.\nseqloss: fix: ${fix}.`;
  if (truthy(env.SEQLOSS_REQUIRE_NATIVE)) {
    console.error(`${msg}\nseqloss: SEQLOSS_REQUIRE_NATIVE is set, so the install fails.`);
    process.exit(1);
  }
  console.warn(`${msg}\nseqloss: the package works without it: backend 'auto' uses the pure-TypeScript backend.`);
  process.exit(0);
}

if (truthy(env.SEQLOSS_SKIP_NATIVE)) {
  record({
    ok: false,
    reason: 'the install skipped the native addon (SEQLOSS_SKIP_NATIVE=1)',
    fix: 'unset SEQLOSS_SKIP_NATIVE and run `npm rebuild seqloss`',
  });
  console.warn('seqloss: SEQLOSS_SKIP_NATIVE is set; no native addon (backend "js" only)');
  process.exit(0);
}

// 2. A prebuild that fits, checked by loading it where a crash cannot take the install down.
function fittingPrebuild() {
  let file;
  try {
    file = require('node-gyp-build').path(root);
  } catch {
    return undefined;
  }
  if (!file?.includes(join('prebuilds', ''))) return undefined;
  const probe = spawnSync(
    process.execPath,
    ['-e', `const b = require(${JSON.stringify(file)}); if (typeof b.info().version !== 'string') process.exit(3)`],
    {
      encoding: 'utf8',
    },
  );
  if (probe.status !== 0) {
    console.warn(
      `seqloss: the prebuilt addon ${relative(root, file)} does not load here (${(probe.stderr || '').trim().split('\n')[0] || `exit ${probe.status}`}); building from source`,
    );
    return undefined;
  }
  return file;
}

// A git checkout of the repository always compiles: its build tree (with the C++ tests) must follow its sources,
// and a prebuilds/ folder there is the output of `npm run prebuild`, not an input.
const checkout = existsSync(join(root, '.git'));
if (!checkout && !truthy(env.SEQLOSS_FORCE_BUILD)) {
  // A build/Release left by an earlier compile would win over the prebuild in node-gyp-build's order: look at the
  // prebuilds alone.
  const saved = env.PREBUILDS_ONLY;
  env.PREBUILDS_ONLY = '1';
  const prebuild = fittingPrebuild();
  if (saved === undefined) delete env.PREBUILDS_ONLY;
  else env.PREBUILDS_ONLY = saved;
  if (prebuild) {
    // A compiled addon of an earlier install would shadow the prebuild (node-gyp-build looks in build/ first).
    rmSync(join(root, 'build'), { recursive: true, force: true });
    record({ ok: true, addon: relative(root, prebuild), built: false });
    console.log(`seqloss: using the prebuilt addon ${relative(root, prebuild)}`);
    process.exit(0);
  }
}

// 3. Compile. Name what is missing before cmake-js would fail less clearly.
function found(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}
const missing = [];
const cxx = env.CXX ? [env.CXX] : ['c++', 'g++', 'clang++'];
if (!cxx.some((c) => found(c)))
  missing.push(`no C++ compiler (${env.CXX ? `CXX=${env.CXX} does not run` : 'none of c++, g++, clang++ is on PATH'})`);
const cmake = found('cmake');
if (!cmake) missing.push('no cmake on PATH');
else {
  const m = /version (\d+)\.(\d+)/.exec(cmake);
  if (m && (Number(m[1]) < 3 || (Number(m[1]) === 3 && Number(m[2]) < 19)))
    missing.push(`cmake ${m[1]}.${m[2]} is older than 3.19`);
}
try {
  require.resolve('cmake-js/package.json');
} catch {
  missing.push('the cmake-js package is not installed');
}
const why = checkout
  ? 'a git checkout of seqloss'
  : truthy(env.SEQLOSS_FORCE_BUILD)
    ? 'SEQLOSS_FORCE_BUILD=1'
    : `no prebuilt addon fits ${process.platform}-${process.arch} (Node-API 8, ${process.platform === 'linux' ? 'glibc' : process.platform})`;
if (missing.length > 0) giveUp(`${why}, and it cannot be compiled: ${missing.join('; ')}`);

console.log(`seqloss: ${why}; compiling the addon${checkout ? '' : ' (this takes a few minutes)'}`);
const build = spawnSync(
  process.execPath,
  [join(root, 'scripts', 'build-native.mjs'), ...(checkout ? [] : ['--no-tests'])],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...env, SEQLOSS_REQUIRE_NATIVE: '1' },
  },
);
if (build.status !== 0)
  giveUp(
    `${why}, and compiling it failed (cmake-js exited with ${build.status ?? build.signal}; its output is above)`,
    'fix the build error shown by `npm rebuild seqloss --foreground-scripts`, or report it',
  );

if (!checkout) {
  // Keep only what is loaded (the addon) or shipped for C callers (libseqloss.so): no objects, no static library.
  const release = join(root, 'build', 'Release');
  for (const entry of readdirSync(join(root, 'build')))
    if (entry !== 'Release') rmSync(join(root, 'build', entry), { recursive: true, force: true });
  for (const entry of readdirSync(release))
    if (!/^(seqloss\.node|libseqloss\.(so|dylib)|seqloss\.dll)$/.test(entry))
      rmSync(join(release, entry), { recursive: true, force: true });
}
record({ ok: true, addon: join('build', 'Release', 'seqloss.node'), built: true });
