// The one module that knows where the package lies and how it was loaded. It is CommonJS (a .cts file) so that
// both builds share it unchanged: the ES-module build imports it as dist/platform.cjs, the CommonJS build requires
// its copy dist/cjs/platform.cjs (scripts/build-ts.mjs). CommonJS has __dirname and require; an ES module would
// need import.meta, which a CommonJS build cannot contain.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root: the nearest folder above this file whose package.json is seqloss's (dist/ or dist/cjs/ in
 * the package; lib/ under vitest). */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'seqloss') return dir;
      } catch {
        // an unreadable manifest on the way up is not ours
      }
    }
    if (dirname(dir) === dir) return join(from, '..');
  }
}

export const packageRoot: string = findRoot(__dirname);

/** The package's version, from its package.json (the one place it is written). */
export const packageVersion: string = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/** CommonJS require, for the addon (.node files) and node-gyp-build. */
export const nodeRequire: NodeJS.Require = require;

/** A real dynamic import() in both builds, for ES-only dependencies (vega has top-level await, so require()
 * cannot load it). TypeScript keeps import() as written in a .cts file compiled as CommonJS under NodeNext. */
export function importModule<T>(specifier: string): Promise<T> {
  return import(specifier) as Promise<T>;
}
