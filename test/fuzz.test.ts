// A seeded fuzz test of every public function: random valid calls (shapes N ≤ 4, T ≤ 12, C ≤ 6, both layouts, 2D
// ACE maps, inputLengths, targets as Int32Array + targetLengths and as nested arrays, any blank, every reduction,
// zeroInfinity, fit α/γ/alphaScope, DCTC λ/ctcWeight/alignment/margin, ACE counts/targets/variant/eps, the
// decoders' collapseRepeats, out arrays), some of them mutated (wrong types, out-of-range values, NaN, ±Infinity,
// ±3e38 and −1e30 logits, aliasing out arrays, empty targets, zero lengths). What each call must satisfy is listed in
// test/fixtures/callpath/fuzz.mjs, the body, which runs in a child process so that a crash is reported with its seed.
//
// Bounded: 4 seeds × 100 cases, about 2000 calls in all (a few seconds). SEQLOSS_FUZZ_SEEDS=5,6 picks the seeds,
// SEQLOSS_FUZZ_SEEDS=random draws four (printed), SEQLOSS_FUZZ_CASES=N changes the cases per seed. Reproduce a
// failure with `node test/fixtures/callpath/fuzz.mjs SEED CASES js,cpu` after a run (which prepared the package:
// the child needs SEQLOSS_CALLPATH_ENTRY and SEQLOSS_ADDON, see fixtures/callpath/entry.mjs).
import { describe, it } from 'vitest';
import { describeExit, runChild } from './fixtures/callpath/entry.mjs';
import { backendsUnderTest } from './helpers.js';

const underTest = backendsUnderTest();
const backends = underTest.map((b) => b.name);
// 'js' is the reference every other backend is compared with: always run it.
if (!backends.includes('js')) backends.unshift('js');

const seedsEnv = process.env.SEQLOSS_FUZZ_SEEDS;
const seeds =
  seedsEnv === 'random'
    ? Array.from({ length: 4 }, () => Math.floor(Math.random() * 2 ** 31))
    : seedsEnv
      ? seedsEnv.split(',').map(Number)
      : [1, 2, 3, 4];
const cases = Number(process.env.SEQLOSS_FUZZ_CASES ?? 100);

describe.concurrent(`fuzz (backends ${backends.join(', ')}; seeds ${seeds.join(', ')}; ${cases} cases each)`, () => {
  it('runs on the backends under test (a missing one fails)', ({ expect }) => {
    for (const b of underTest) expect(b.ok, `backend '${b.name}': ${b.why}`).toBe(true);
  });

  it.for(seeds)('seed %i', async (seed, { expect }) => {
    const r = await runChild('fuzz.mjs', [String(seed), String(cases), backends.join(',')], { timeout: 60_000 });
    const last = r.records.filter((x) => 'case' in x).at(-1);
    const where = last ? ` in case ${last.case} (${last.fn}, mutations: ${last.mutated.join(', ') || 'none'})` : '';
    expect(r.signal, `seed ${seed}: ${describeExit(r)}${where}`).toBeNull();
    expect(r.status, `seed ${seed}: ${describeExit(r)}${where}`).toBe(0);
    const done = r.records.find((x) => x.done);
    expect(done, `seed ${seed}: the child did not finish`).toBeDefined();
    if (!done) return;
    const failures = r.records.filter((x) => x.failure).map((x) => x.failure);
    // Grouped by what failed (numbers aside), with the first instance of each.
    const groups = new Map<string, { count: number; first: Record<string, unknown> }>();
    for (const f of failures) {
      const key = String(f.what).replace(/\d+/g, '#');
      const g = groups.get(key);
      if (g) g.count++;
      else groups.set(key, { count: 1, first: f });
    }
    const report = [...groups.entries()]
      .map(
        ([what, g]) =>
          `  ${g.count}× ${what}\n      first: case ${g.first.case} ${g.first.fn} [${(g.first.mutated as string[]).join(', ')}] ${g.first.detail}`,
      )
      .join('\n');
    expect(failures.length, `seed ${seed} (${done.calls} calls): ${failures.length} failures\n${report}`).toBe(0);
    // The generator exercises both sides: accepted and refused calls.
    expect(done.accepted).toBeGreaterThan(0);
    expect(done.refused).toBeGreaterThan(0);
  });
});
