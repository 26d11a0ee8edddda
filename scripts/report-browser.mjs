#!/usr/bin/env node
// Opens a `seqloss simulate` report in headless Chromium (Debian's `chromium`, driven by playwright-core), checks
// it and takes a screenshot. Used by test/browser.test.ts and to make the README's screenshot:
//
//   node scripts/report-browser.mjs simulate.html docs/simulate.png [--full | --section N]
//
// --full takes the whole page, --section N only the N-th configuration's panels (from 1); else the top 1500 px.
//
// SEQLOSS_CHROMIUM names the browser binary when it is not at a usual place.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

/** The Chromium binary to drive, or null when there is none (or no playwright-core to drive it). */
export function findChromium() {
  try {
    createRequire(import.meta.url).resolve('playwright-core');
  } catch {
    return null;
  }
  const env = process.env.SEQLOSS_CHROMIUM;
  if (env) return fs.existsSync(env) ? env : null;
  return CANDIDATES.find((p) => fs.existsSync(p)) ?? null;
}

// The flags of a headless run in a closed sandbox: no background networking (its connections are refused here),
// no GPU, no sandbox (root).
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Opens `file` and returns { errors, figures }: the console errors and page errors, and for every <figure> of the
 * report its title, rendered size and the number of drawn data marks (elements of vega's role-mark groups with a
 * non-empty box). Saves a screenshot to `screenshot` (the top of the page at 1400 px, all of it with fullPage, or
 * the section-th configuration's panels).
 *
 * @param {string} file the report's HTML file
 * @param {string} screenshot where the PNG goes
 * @param {{ executablePath?: string, fullPage?: boolean, height?: number, section?: number }} [options]
 *   executablePath: the Chromium binary (findChromium()); height: the screenshot's height in px without fullPage;
 *   section: the configuration (from 1) whose panels to shoot, 0 for the top of the page
 */
export async function checkReport(
  file,
  screenshot,
  { executablePath, fullPage = false, height = 1500, section = 0 } = {},
) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath, args: ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height } });
    const errors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const figures = await page.evaluate(() =>
      Array.from(document.querySelectorAll('figure'), (fig) => {
        const svg = fig.querySelector('svg');
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        let marks = 0;
        for (const g of fig.querySelectorAll('g.role-mark')) {
          for (const el of g.querySelectorAll('path, rect, line, circle')) {
            const b = el.getBBox();
            if (b.width > 0 || b.height > 0) marks++;
          }
        }
        const title = fig.querySelector('g.role-title text')?.textContent ?? '';
        return { title, width: box.width, height: box.height, marks };
      }),
    );
    if (screenshot && section > 0)
      await page
        .locator('section')
        .nth(section - 1)
        .screenshot({ path: screenshot });
    else if (screenshot) await page.screenshot({ path: screenshot, fullPage });
    return { errors, figures };
  } finally {
    await browser.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--section');
  const section = at >= 0 ? Number(args.splice(at, 2)[1]) : 0;
  const [file, shot] = args.filter((a) => !a.startsWith('--'));
  if (!file || !shot) {
    process.stderr.write('usage: node scripts/report-browser.mjs REPORT.html SCREENSHOT.png [--full]\n');
    process.exit(2);
  }
  const executablePath = findChromium();
  if (!executablePath) {
    process.stderr.write("report-browser: no Chromium found (install Debian's chromium, or set SEQLOSS_CHROMIUM)\n");
    process.exit(1);
  }
  const r = await checkReport(file, shot, { executablePath, fullPage: args.includes('--full'), section });
  const empty = r.figures.filter((f) => f.marks === 0);
  process.stdout.write(
    `${r.figures.length} figures, ${empty.length} without marks, ${r.errors.length} console errors; screenshot ${shot}\n`,
  );
  for (const e of r.errors) process.stdout.write(`  error: ${e}\n`);
  process.exit(r.errors.length || empty.length ? 1 : 0);
}
