#!/usr/bin/env node
// `npm run prebuild`: the prebuilt addon for this platform, made by prebuildify into prebuilds/<platform>-<arch>/:
// seqloss.glibc.node (or .musl: the libc tag), one Node-API 8 binary for every Node >= 20, and libseqloss.so beside
// it (prebuildify copies the shared libraries it finds next to the addon), both stripped. prebuildify drives
// node-gyp; scripts/prebuild-node-gyp.mjs stands in for node-gyp (PREBUILD_NODE_GYP) and builds with cmake-js
// through scripts/build-native.mjs, in build/ like `npm install` (so it is incremental after an install here).
// The prebuild is portable (never -march=native) and includes the CUDA kernels: SEQLOSS_CUDA defaults to ON here,
// so a machine without nvcc fails instead of publishing a CPU-only binary (set SEQLOSS_CUDA=AUTO or OFF to allow
// that, as the package test does). With CUDA 13: sm_75 … sm_120 plus PTX; with CUDA 11–12: sm_61 … sm_90 plus PTX;
// cudart static, libcuda never linked (CMakeLists.txt).
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');
const shim = join(root, 'scripts', 'prebuild-node-gyp.mjs');

process.env.SEQLOSS_CUDA ??= 'ON';
process.env.SEQLOSS_NATIVE_ARCH = 'OFF';
process.env.PREBUILD_NODE_GYP = shim;

prebuildify({ cwd: root, napi: true, tagLibc: true, strip: true, nodeGyp: shim }, (err) => {
  if (err) {
    console.error(`seqloss: prebuild failed: ${err.message}`);
    process.exit(1);
  }
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const libc = process.platform === 'linux' ? (existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : undefined;
  const addon = join(dir, `seqloss${libc ? `.${libc}` : ''}.node`);
  if (!existsSync(addon)) {
    console.error(`seqloss: prebuild failed: ${addon} was not written`);
    process.exit(1);
  }
  // prebuildify moved the addon out of build/Release; in a checkout, put it back so that the development build
  // (and node-gyp-build's build/Release-first order) stays as `npm install` left it.
  // Copied beside it and renamed over it: a process that has the old file loaded keeps its inode intact.
  if (existsSync(join(root, '.git'))) {
    const release = join(root, 'build', 'Release');
    mkdirSync(release, { recursive: true });
    copyFileSync(addon, join(release, 'seqloss.node.tmp'));
    renameSync(join(release, 'seqloss.node.tmp'), join(release, 'seqloss.node'));
  }
  console.log(
    `seqloss: prebuilt ${addon.slice(root.length + 1)} (${process.env.SEQLOSS_CUDA === 'OFF' ? 'CPU only' : 'CPU + CUDA when built'})`,
  );
});
