// The report in a real browser: headless Chromium (Debian's `chromium`, driven by playwright-core) opens the file
// written by `seqloss simulate`, with no console errors, every figure drawn with marks, and a screenshot saved.
// Skipped where no Chromium is installed, unless SEQLOSS_REQUIRE_BROWSER is set (.ci/run installs Chromium and sets
// it, so that CI cannot pass with the check silently skipped).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReport, findChromium } from '../scripts/report-browser.mjs';
import { simulate, simulateReport } from '../lib/simulate/index.js';

const chromium = findChromium();

it.runIf(!chromium && process.env.SEQLOSS_REQUIRE_BROWSER)(
  'a browser is installed (SEQLOSS_REQUIRE_BROWSER is set)',
  () => {
    expect.fail(
      "no Chromium found: install Debian's chromium (or set SEQLOSS_CHROMIUM), or unset SEQLOSS_REQUIRE_BROWSER",
    );
  },
);

describe.skipIf(!chromium)(`the report in headless Chromium (${chromium ?? 'not installed'})`, () => {
  it('opens without console errors, every figure has drawn marks, and a screenshot is saved', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seqloss-browser-'));
    const r = simulate({ iters: 300, configs: [{}, { alpha: 0.5 }, { loss: 'ace' }, { loss: 'dctc' }] });
    const file = path.join(tmp, 'report.html');
    fs.writeFileSync(file, await simulateReport(r));
    const shot = path.join(tmp, 'report.png');
    const result = await checkReport(file, shot, { executablePath: chromium! });
    expect(result.errors).toEqual([]);
    const panels = r.runs.reduce((n, x) => n + x.snapshots.length, 0);
    expect(result.figures).toHaveLength(panels + 5);
    for (const f of result.figures) {
      expect(f.width, f.title).toBeGreaterThan(100);
      expect(f.height, f.title).toBeGreaterThan(50);
      expect(f.marks, f.title).toBeGreaterThan(0);
    }
    const png = fs.readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
  });
});
