// ACE and aceCount at the extremes (underflow, NaN and infinities, the CE floor, count rounding) on every backend of
// this run: js and cpu in the 'unit' project; cuda runs the same cases in test/gpu/ace-extremes.test.ts.
import { expect, it } from 'vitest';
import { aceExtremes } from './ace-extremes.cases.js';
import { backendsUnderTest } from './helpers.js';

for (const b of backendsUnderTest()) {
  it(`backend '${b.name}' is available`, () => expect(b.ok, b.why).toBe(true));
  if (b.ok) aceExtremes(b.name);
}
