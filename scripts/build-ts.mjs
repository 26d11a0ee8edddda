#!/usr/bin/env node
// Builds the TypeScript twice from the same sources in lib/: the ES-module build into dist/ (tsconfig.json) and the
// CommonJS build into dist/cjs/ (tsconfig.cjs.json), for `import` and `require` callers (package.json "exports").
// lib/platform.cts, the one module that differs between the formats' runtimes (where the package lies, a real
// dynamic import()), is CommonJS in both: the ES build compiles it to dist/platform.cjs under NodeNext, which keeps
// its import() as written; the CommonJS build's own compile of it (module CommonJS turns import() into require())
// is replaced by that same file. dist/cjs/package.json marks the folder as CommonJS for Node and TypeScript.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
for (const project of ['tsconfig.json', 'tsconfig.cjs.json']) {
  const r = spawnSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
mkdirSync(join(dist, 'cjs'), { recursive: true });
for (const f of ['platform.cjs', 'platform.d.cts']) copyFileSync(join(dist, f), join(dist, 'cjs', f));
writeFileSync(join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
