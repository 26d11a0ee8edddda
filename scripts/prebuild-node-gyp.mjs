#!/usr/bin/env node
// Stands in for node-gyp when prebuildify runs (PREBUILD_NODE_GYP, set by scripts/prebuild.mjs). prebuildify calls
// `node-gyp rebuild --target=<node version> --devdir=<dir> --arch=<arch> --release` and then takes the .node file
// (and shared libraries) from build/Release. seqloss is built by CMake through cmake-js, Node-API 8 (one binary for
// every Node version), so the target and devdir do not matter; the architecture must be this machine's.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
if (args[0] !== 'rebuild') {
  console.error(`prebuild-node-gyp: only 'rebuild' is supported, got ${JSON.stringify(args)}`);
  process.exit(2);
}
const arch = args.find((a) => a.startsWith('--arch='))?.slice('--arch='.length);
if (arch && arch !== process.arch) {
  console.error(`prebuild-node-gyp: cross builds are not supported (asked for ${arch} on ${process.arch})`);
  process.exit(2);
}
if (args.includes('--debug')) {
  console.error('prebuild-node-gyp: debug builds are not supported');
  process.exit(2);
}
const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, SEQLOSS_REQUIRE_NATIVE: '1' },
});
process.exit(r.status ?? 1);
