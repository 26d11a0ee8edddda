#!/usr/bin/env node
// clang-format over the C++ and CUDA sources (.clang-format at the root): `--check` reports files that differ and
// fails (npm run lint, run by npm test); without it the files are rewritten (npm run format). The clang-format
// binary comes from the clang-format package (devDependency), so nothing needs installing by hand.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const cli = createRequire(import.meta.url).resolve('clang-format/index.js');

function* walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (/\.(cc|h|cu|cuh)$/.test(e.name)) yield p;
  }
}
const files = ['csrc', 'cuda', join('test', 'cpp')].flatMap((d) => [...walk(join(root, d))]).sort();
const args = check ? ['--dry-run', '-Werror', ...files] : ['-i', ...files];
const r = spawnSync(process.execPath, [cli, '--style=file', ...args], { cwd: root, encoding: 'utf8' });
if (r.status !== 0) {
  const listed = [
    ...new Set(
      [...(r.stderr ?? '').matchAll(/^(\/[^:\n]+):\d+:\d+: (?:error|warning)/gm)].map((m) => relative(root, m[1])),
    ),
  ];
  console.error(
    check && listed.length > 0
      ? `clang-format: ${listed.length} file(s) are not formatted (run \`npm run format\`):\n  ${listed.join('\n  ')}`
      : `clang-format failed (exit ${r.status ?? r.signal}):\n${r.stderr}`,
  );
  process.exit(1);
}
console.log(`clang-format: ${files.length} files ${check ? 'formatted as .clang-format says' : 'formatted'}`);
