// The published types, as a user's strict TypeScript project sees them: test/fixtures/consumer-ts/consumer.ts is
// compiled with the repo's tsc (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, skipLibCheck off) in
// two projects that import 'seqloss', 'seqloss/reference' and 'seqloss/simulate' through node_modules/seqloss, a
// symlink to the repo: (a) module/moduleResolution nodenext (package.json "exports"), (b) moduleResolution node10
// (no "exports": the "types" field and "typesVersions"). Its `@ts-expect-error` lines must all meet an error, so a
// clean compile proves that `grad` is present unless `grad: false`, `posterior` present with `posterior: true`, both
// possibly undefined for a boolean variable, and that misspelt options and bad values are refused.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'test', 'fixtures', 'consumer-ts');
// Under the repo (.work/ is ignored) so that the consumers find the repo's @types/node above them.
const work = join(root, '.work', `types-consumer-${process.pid}`);
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

function compile(project: string): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  // dist/, the declarations the package publishes, from the sources as they are now.
  const build = compile(join(root, 'tsconfig.json'));
  expect(build.output).toBe('');
  expect(build.status).toBe(0);
  rmSync(work, { recursive: true, force: true });
  for (const name of ['nodenext', 'node10']) {
    const dir = join(work, name);
    cpSync(join(fixtures, name), dir, { recursive: true });
    cpSync(join(fixtures, 'consumer.ts'), join(dir, 'consumer.ts'));
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    symlinkSync(root, join(dir, 'node_modules', 'seqloss'), 'dir');
  }
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a strict consumer project compiles against the published types', () => {
  for (const name of ['nodenext', 'node10']) {
    it(`moduleResolution ${name}`, () => {
      const r = compile(join(work, name, 'tsconfig.json'));
      expect(r.output).toBe('');
      expect(r.status).toBe(0);
    }, 120_000);
  }

  it('the @ts-expect-error lines are load-bearing: without them the same project fails where they stand', () => {
    const dir = join(work, 'nodenext');
    const src = join(dir, 'consumer.ts');
    const text = readText(src).replaceAll('// @ts-expect-error', '// (expected error)');
    writeText(src, text);
    try {
      const r = compile(join(dir, 'tsconfig.json'));
      expect(r.status).not.toBe(0);
      const expected = text.split('\n').filter((l) => l.includes('// (expected error)')).length;
      const errors = r.output.split('\n').filter((l) => /consumer\.ts\(\d+,\d+\): error/.test(l));
      const lines = new Set(errors.map((l) => Number(/consumer\.ts\((\d+),/.exec(l)![1])));
      // One error (at least) on each line after a marker, and none elsewhere.
      const markerLines = text.split('\n').flatMap((l, i) => (l.includes('// (expected error)') ? [i + 2] : []));
      expect(markerLines.length).toBe(expected);
      expect([...lines].sort((p, q) => p - q)).toEqual(markerLines);
    } finally {
      cpSync(join(fixtures, 'consumer.ts'), src);
    }
  }, 120_000);
});

function readText(path: string): string {
  return readFileSync(path, 'utf8');
}
function writeText(path: string, text: string): void {
  writeFileSync(path, text);
}
