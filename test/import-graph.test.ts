// The import graph of lib/: the simulator's folder and the command import without a circle (simulate.ts and
// simulate-report.ts imported each other before the move to lib/simulate/). Static and dynamic imports both count.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const lib = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'lib');

/** The .ts files of lib/ that `file` imports (relative specifiers, './x.js' read as './x.ts'). */
function imports(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts'));
    if (fs.existsSync(target)) out.push(target);
  }
  return out;
}

/** A cycle reachable from `start`, as a list of files relative to lib/, or null. */
function findCycle(start: string): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | null => {
    if (state.get(f) === 'done') return null;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f].map((x) => path.relative(lib, x));
    state.set(f, 'open');
    stack.push(f);
    for (const g of imports(f)) {
      const c = visit(g);
      if (c) return c;
    }
    stack.pop();
    state.set(f, 'done');
    return null;
  };
  return visit(start);
}

describe('the import graph', () => {
  const entries = ['cli.ts', ...fs.readdirSync(path.join(lib, 'simulate')).map((f) => path.join('simulate', f))];
  it.each(entries)('lib/%s reaches no import circle', (entry) => {
    expect(findCycle(path.join(lib, entry))).toBeNull();
  });

  it('the walker does find a circle when there is one', () => {
    const dir = fs.mkdtempSync(path.join(lib, '..', 'node_modules', '.cycle-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "export const b = 1;\nexport const f = () => import('./a.js');\n");
      expect(findCycle(path.join(dir, 'a.ts'))?.map((x) => path.basename(x))).toEqual(['a.ts', 'b.ts', 'a.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });
});
