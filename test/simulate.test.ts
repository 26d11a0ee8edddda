// The simulator: what the paper's simulation shows, measured (not drawn), on the defaults; its options and errors;
// the command's arguments, its JSON (against simulate.schema.json) and its HTML report.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { HtmlValidate } from 'html-validate';
import { beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../lib/index.js';
import { asFlags, parseConfig, parseSimulateArgs, progressBar, UsageError } from '../lib/simulate/cli.js';
import { decodeCaption, findings } from '../lib/simulate/report.js';
import {
  aceMinimum,
  DEFAULT_COMPARISON,
  defaultSnapshots,
  initialTable,
  simulate,
  simulateReport,
  type SimRun,
  type SimulateResult,
} from '../lib/simulate/index.js';

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const native = backends().cpu;
const cli = path.join(root, 'dist', 'cli.js');
const haveDist = fs.existsSync(cli);
const schema = JSON.parse(fs.readFileSync(path.join(root, 'simulate.schema.json'), 'utf8'));

const run = (r: SimulateResult, name: string): SimRun => {
  const found = r.runs.find((x) => x.name === name);
  if (!found) throw new Error(`no run ${name}`);
  return found;
};

describe('simulate() with the defaults (labels 2 1 3, C = 4, T = 20, 3000 steps, lr 0.1)', () => {
  let r: SimulateResult;
  beforeAll(() => {
    r = simulate();
  });

  it('runs the six configurations of the comparison from the same table', () => {
    expect(r.runs.map((x) => x.name)).toEqual(['ctc', 'ctc α=0.5', 'ctc γ=1', 'ctc α=0.5 γ=1', 'ace', 'dctc']);
    expect(r.options).toMatchObject({ labels: [2, 1, 3], classes: 4, frames: 20, iters: 3000, lr: 0.1, seed: 1 });
    for (const x of r.runs) {
      expect(x.snapshots[0].iter).toBe(0);
      expect(x.snapshots[0].probs).toEqual(r.runs[0].snapshots[0].probs);
      expect(x.summary.final.iter).toBe(3000);
    }
  });

  it('every CTC-family configuration ends with a correct greedy decode and a CTC loss below 0.1', () => {
    for (const name of ['ctc', 'ctc α=0.5', 'ctc γ=1', 'ctc α=0.5 γ=1', 'dctc']) {
      const s = run(r, name).summary;
      expect(s.finalDecode, name).toEqual([2, 1, 3]);
      expect(s.final.decodeCorrect, name).toBe(true);
      expect(s.final.ctcLoss, name).toBeLessThan(0.1);
    }
  });

  it('ACE ends with the label counts and its loss within 0.01 of its minimum H(N̄), though it decodes nothing', () => {
    const s = run(r, 'ace').summary;
    expect(s.finalCounts).toEqual([17, 1, 1, 1]);
    expect(s.final.countsCorrect).toBe(true);
    expect(s.minLoss).toBeCloseTo(aceMinimum([2, 1, 3], 20), 12);
    expect(s.final.loss - s.minLoss).toBeGreaterThanOrEqual(0);
    expect(s.final.loss - s.minLoss).toBeLessThan(0.01);
    // On a free table ACE fixes only the per-class totals: the per-frame argmax stays blank.
    expect(s.finalDecode).toEqual([]);
    expect(s.firstCorrectDecode).toBeNull();
  });

  it('α = 0.5 holds the non-blank share at 0.5 ± 0.05; plain CTC ends at most at 0.35', () => {
    expect(Math.abs(run(r, 'ctc α=0.5').summary.final.nonBlankShare - 0.5)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(run(r, 'ctc α=0.5 γ=1').summary.final.nonBlankShare - 0.5)).toBeLessThanOrEqual(0.05);
    expect(run(r, 'ctc').summary.final.nonBlankShare).toBeLessThanOrEqual(0.35);
  });

  it("α = 0.5 decodes correctly in under a quarter of plain CTC's iterations, γ = 1 in fewer than plain CTC", () => {
    const plain = run(r, 'ctc').summary.firstCorrectDecode!;
    expect(plain).toBeGreaterThan(0);
    expect(run(r, 'ctc α=0.5').summary.firstCorrectDecode!).toBeLessThan(plain / 4);
    expect(run(r, 'ctc γ=1').summary.firstCorrectDecode!).toBeLessThan(plain);
  });

  it('curves and snapshots: the metrics are consistent with the summary and the snapshots are distributions', () => {
    for (const x of r.runs) {
      expect(x.curve.at(-1)).toEqual(x.summary.final);
      const first = x.curve.find((p) => p.decodeCorrect);
      if (x.summary.firstCorrectDecode !== null)
        expect(first!.iter).toBeGreaterThanOrEqual(x.summary.firstCorrectDecode);
      expect(x.snapshots.map((s) => s.iter)).toEqual(defaultSnapshots(3000));
      for (const s of x.snapshots) {
        expect(s.probs).toHaveLength(20);
        for (let t = 0; t < 20; t++) {
          expect(s.probs[t].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
          expect(s.target[t].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        }
      }
    }
    // Plain CTC's target is its posterior: after convergence it sits on the outputs.
    const last = run(r, 'ctc').snapshots.at(-1)!;
    for (let t = 0; t < 20; t++)
      for (let k = 0; k < 4; k++) expect(Math.abs(last.target[t][k] - last.probs[t][k])).toBeLessThan(0.05);
  });
});

describe('simulate(): the phases and the backends', () => {
  it('at T = 50 plain CTC goes through the suppression phase: its non-blank share first falls below 0.1', () => {
    const r = simulate({ frames: 50, configs: [{ loss: 'ctc' }] });
    const s = r.runs[0].summary;
    expect(s.firstSuppressed).not.toBeNull();
    expect(s.firstSuppressed!).toBeGreaterThan(0);
    expect(s.firstSuppressed!).toBeLessThan(s.firstCorrectDecode!);
    expect(r.runs[0].curve[0].nonBlankShare).toBeGreaterThan(0.7);
  });

  it.runIf(native)('the same seed gives the same numbers on the CPU backend and the reference', () => {
    const cpu = simulate({ backend: 'cpu' });
    const js = simulate({ backend: 'js' });
    expect(cpu.runs.every((x) => x.backend === 'cpu')).toBe(true);
    expect(js.runs.every((x) => x.backend === 'js')).toBe(true);
    for (let i = 0; i < cpu.runs.length; i++) {
      const a = cpu.runs[i];
      const b = js.runs[i];
      const { final: fa, ...sa } = a.summary;
      const { final: fb, ...sb } = b.summary;
      expect(sa, a.name).toEqual(sb);
      expect(fa.decodeCorrect).toBe(fb.decodeCorrect);
      for (const key of ['loss', 'ctcLoss', 'nonBlankShare', 'spikiness'] as const) {
        expect(Math.abs(fa[key]! - fb[key]!) / Math.abs(fb[key]!), `${a.name} ${key}`).toBeLessThan(1e-4);
      }
      expect(a.curve.map((p) => [p.decodeCorrect, p.countsCorrect])).toEqual(
        b.curve.map((p) => [p.decodeCorrect, p.countsCorrect]),
      );
    }
  });

  it('is deterministic: the same options give bitwise the same result', () => {
    const o = { iters: 200, configs: [{ loss: 'ctc' as const, alpha: 0.5 }, { loss: 'dctc' as const }] };
    expect(JSON.stringify(simulate(o))).toBe(JSON.stringify(simulate(o)));
  });

  it('the initial table is uniform in [0, 0.01) and depends on the seed', () => {
    const a = initialTable(20, 4, 1);
    expect(a).toHaveLength(80);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a)).toBeLessThan(0.01);
    expect(initialTable(20, 4, 1)).toEqual(a);
    expect(initialTable(20, 4, 2)).not.toEqual(a);
  });
});

describe('simulate(): every option', () => {
  const quick = { iters: 60 };

  it('labels, classes, frames, iters, lr, seed', () => {
    const r = simulate({ labels: [1, 1, 2], classes: 3, frames: 9, iters: 40, lr: 0.5, seed: 7, configs: [{}] });
    expect(r.options).toMatchObject({ labels: [1, 1, 2], classes: 3, frames: 9, iters: 40, lr: 0.5, seed: 7 });
    expect(r.runs[0].snapshots[0].probs).toHaveLength(9);
    expect(r.runs[0].snapshots[0].probs[0]).toHaveLength(3);
    expect(r.runs[0].summary.final.iter).toBe(40);
    const slow = simulate({ ...quick, lr: 0.01, configs: [{}] }).runs[0].summary.final.ctcLoss;
    const fast = simulate({ ...quick, lr: 0.3, configs: [{}] }).runs[0].summary.final.ctcLoss;
    expect(fast).toBeLessThan(slow);
    expect(simulate({ ...quick, seed: 2, configs: [{}] }).runs[0].snapshots[0].probs).not.toEqual(
      simulate({ ...quick, seed: 3, configs: [{}] }).runs[0].snapshots[0].probs,
    );
  });

  it('every and snapshots choose the drawn iterations; curveStep thins the curves', () => {
    expect(simulate({ iters: 100, every: 30, configs: [{}] }).runs[0].snapshots.map((s) => s.iter)).toEqual([
      0, 30, 60, 90, 100,
    ]);
    expect(
      simulate({ iters: 100, snapshots: [50, 5, 50], configs: [{}] }).runs[0].snapshots.map((s) => s.iter),
    ).toEqual([5, 50]);
    expect(defaultSnapshots(3000)).toEqual([0, 10, 20, 50, 100, 200, 500, 1000, 2000, 3000]);
    expect(defaultSnapshots(0)).toEqual([0]);
    const r = simulate({ iters: 900, configs: [{}] });
    expect(r.options.curveStep).toBe(3);
    expect(r.runs[0].curve.map((p) => p.iter).slice(0, 3)).toEqual([0, 3, 6]);
    expect(r.runs[0].curve.at(-1)!.iter).toBe(900);
  });

  it('configs: each loss option reaches its loss (α scope, γ, λ, alignment) and names the run', () => {
    const r = simulate({
      ...quick,
      configs: [
        { loss: 'ctc', alpha: 0.3, alphaScope: 'sequence' },
        { loss: 'ctc', gamma: 2 },
        { loss: 'dctc', lambda: 0.5, alignment: 'viterbi' },
        { loss: 'dctc', alignment: 'posterior', name: 'mine' },
        { loss: 'ace' },
      ],
    });
    expect(r.runs.map((x) => x.name)).toEqual([
      'ctc α=0.3 (per sequence)',
      'ctc γ=2',
      'dctc λ=0.5 viterbi',
      'mine',
      'ace',
    ]);
    expect(r.runs[0].config).toMatchObject({ alpha: 0.3, alphaScope: 'sequence', gamma: null, lambda: null });
    expect(r.runs[2].config).toMatchObject({ lambda: 0.5, alignment: 'viterbi', alpha: null });
    // α fits a target whose non-blank share is near α from the first step on.
    const t0 = r.runs[0].snapshots[0].target;
    const share = t0.reduce((a, row) => a + 1 - row[0], 0) / t0.length;
    expect(Math.abs(share - 0.3)).toBeLessThan(0.05);
    // The losses differ, so the tables do.
    expect(r.runs[1].summary.final.loss).not.toBe(simulate({ ...quick, configs: [{}] }).runs[0].summary.final.loss);
  });

  it('onProgress reaches the total', () => {
    const calls: [number, number][] = [];
    simulate({ iters: 99, configs: [{}, { loss: 'ace' }], onProgress: (d, t) => calls.push([d, t]) });
    expect(calls.at(-1)).toEqual([200, 200]);
    for (let i = 1; i < calls.length; i++) expect(calls[i][0]).toBeGreaterThan(calls[i - 1][0]);
  });

  it('backend js runs the reference', () => {
    expect(simulate({ iters: 5, backend: 'js', configs: [{}] }).runs[0].backend).toBe('js');
  });

  it('wrong types are TypeErrors and bad values RangeErrors, naming the option', () => {
    const bad: [unknown, typeof TypeError | typeof RangeError, RegExp][] = [
      ['x', TypeError, /simulate: options must be an object/],
      [{ colour: 1 }, TypeError, /unknown option 'colour'/],
      [{ labels: '2,1' }, TypeError, /labels must be an array/],
      [{ labels: [] }, RangeError, /labels must be at least one label/],
      [{ labels: [0, 1] }, RangeError, /labels\[0\] must be an integer in \[1, 3\], got 0/],
      [{ labels: [1, 4] }, RangeError, /labels\[1\] must be an integer in \[1, 3\], got 4/],
      [{ classes: 1 }, RangeError, /classes must be an integer >= 2/],
      [{ frames: 3, labels: [1, 1, 2] }, RangeError, /frames must be at least 4/],
      [{ iters: -1 }, RangeError, /iters must be an integer in/],
      [{ iters: 1.5 }, RangeError, /iters/],
      [{ lr: 0 }, RangeError, /lr must be a finite number > 0, got 0/],
      [{ lr: '0.1' }, TypeError, /lr must be a number/],
      [{ seed: -1 }, RangeError, /seed must be an integer/],
      [{ every: 0 }, RangeError, /every must be an integer >= 1/],
      [{ every: 10, snapshots: [1] }, TypeError, /either every or snapshots/],
      [{ snapshots: [5000] }, RangeError, /snapshots\[0\] must be an integer in \[0, 3000\]/],
      [{ snapshots: [] }, RangeError, /snapshots must be at least one iteration/],
      [{ backend: 'gpu' }, RangeError, /backend must be 'auto' \| 'cpu' \| 'js' \| 'cuda', got "gpu"/],
      [{ configs: [] }, RangeError, /configs must be at least one configuration/],
      [{ configs: {} }, TypeError, /configs must be an array/],
      [{ configs: [{ loss: 'ace', alpha: 0.5 }] }, RangeError, /configs\[0\]\.alpha applies to loss 'ctc' only/],
      [{ configs: [{ loss: 'ctc', lambda: 0.1 }] }, RangeError, /configs\[0\]\.lambda applies to loss 'dctc' only/],
      [{ configs: [{ alpha: 1 }] }, RangeError, /configs\[0\]\.alpha must be a number in \(0, 1\), got 1/],
      [{ configs: [{ alpha: '0.5' }] }, TypeError, /configs\[0\]\.alpha must be a number/],
      [{ configs: [{ alphaScope: 'batch' }] }, RangeError, /alphaScope needs configs\[0\]\.alpha/],
      [{ configs: [{ alpha: 0.5, alphaScope: 'all' }] }, RangeError, /alphaScope must be 'batch' \| 'sequence'/],
      [{ configs: [{ gamma: -1 }] }, RangeError, /configs\[0\]\.gamma must be a finite number >= 0/],
      [{ configs: [{ loss: 'dctc', alignment: 'best' }] }, RangeError, /alignment must be 'ratio'/],
      [{ configs: [{ loss: 'crf' }] }, RangeError, /configs\[0\]\.loss must be 'ctc' \| 'ace' \| 'dctc'/],
      [{ configs: [{ name: '' }] }, RangeError, /name must be a non-empty string/],
      [{ configs: [{ unknown: 1 }] }, TypeError, /unknown option 'configs\[0\]\.unknown'/],
      [{ onProgress: 1 }, TypeError, /onProgress must be a function/],
    ];
    for (const [options, cls, message] of bad) {
      expect(() => simulate(options as never), JSON.stringify(options)).toThrow(cls);
      expect(() => simulate(options as never), JSON.stringify(options)).toThrow(message);
    }
  });
});

describe('seqloss simulate: arguments', () => {
  it('no options: the comparison, written to simulate.html', () => {
    const c = parseSimulateArgs([]);
    expect(c.options.configs).toEqual([...DEFAULT_COMPARISON]);
    expect(c).toMatchObject({ out: 'simulate.html', json: false, help: false });
  });

  it('shared options keep the comparison; configuration options make one run', () => {
    expect(parseSimulateArgs(['--frames', '50', '--iters', '100']).options).toMatchObject({
      frames: 50,
      iters: 100,
      configs: [...DEFAULT_COMPARISON],
    });
    const c = parseSimulateArgs(['--loss', 'ctc', '--alpha', '0.4', '--alpha-scope', 'sequence', '--gamma', '2']);
    expect(c.options.configs).toEqual([{ loss: 'ctc', alpha: 0.4, alphaScope: 'sequence', gamma: 2 }]);
    expect(parseSimulateArgs(['--loss', 'dctc', '--lambda', '0.1', '--alignment', 'viterbi']).options.configs).toEqual([
      { loss: 'dctc', lambda: 0.1, alignment: 'viterbi' },
    ]);
  });

  it('every problem, training and output option', () => {
    const c = parseSimulateArgs([
      '--labels',
      '1,2',
      '--classes',
      '5',
      '--frames',
      '12',
      '--iters',
      '7',
      '--lr',
      '0.2',
      '--seed',
      '3',
      '--every',
      '2',
      '--backend',
      'js',
      '--out',
      'r.html',
      '--json',
    ]);
    expect(c.options).toMatchObject({
      labels: [1, 2],
      classes: 5,
      frames: 12,
      iters: 7,
      lr: 0.2,
      seed: 3,
      every: 2,
      backend: 'js',
    });
    expect(c).toMatchObject({ out: 'r.html', json: true });
    expect(parseSimulateArgs(['--json']).out).toBeNull();
    expect(parseSimulateArgs(['--snapshots', '0,5']).options.snapshots).toEqual([0, 5]);
    expect(parseSimulateArgs(['-h']).help).toBe(true);
    expect(parseSimulateArgs(['--help']).help).toBe(true);
  });

  it('--compare takes quoted configurations until the next option', () => {
    const c = parseSimulateArgs([
      '--compare',
      'ctc',
      'ctc --alpha 0.5',
      'ace',
      'dctc --lambda 0.1 --alignment viterbi',
      '--iters',
      '9',
    ]);
    expect(c.options.configs).toEqual([
      { loss: 'ctc' },
      { loss: 'ctc', alpha: 0.5 },
      { loss: 'ace' },
      { loss: 'dctc', lambda: 0.1, alignment: 'viterbi' },
    ]);
    expect(c.options.iters).toBe(9);
    expect(parseConfig('  ctc   --gamma 1 ')).toEqual({ loss: 'ctc', gamma: 1 });
  });

  it('mistakes are UsageErrors saying what is wrong', () => {
    const bad: [string[], RegExp][] = [
      [['--frobnicate'], /unknown option '--frobnicate'/],
      [['--alpha'], /--alpha needs a value/],
      [['--alpha', 'half'], /--alpha expects a number, got 'half'/],
      [['--labels', '2,x'], /--labels expects comma-separated numbers/],
      [['--loss', 'crf'], /--loss expects ctc, ace or dctc/],
      [['--compare'], /--compare needs at least one/],
      [['--compare', 'lstm'], /starts with ctc, ace or dctc, got 'lstm'/],
      [['--compare', 'ctc --frames 3'], /unknown option '--frames' in "ctc --frames 3"/],
      [['--compare', 'ctc', '--alpha', '0.5'], /either --compare or the options of one configuration/],
      [['--out'], /--out needs a value/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseSimulateArgs(argv), argv.join(' ')).toThrow(UsageError);
      expect(() => parseSimulateArgs(argv), argv.join(' ')).toThrow(message);
    }
  });

  it('the progress bar redraws in place, once per percent, and ends the line at the total', () => {
    const out: string[] = [];
    const bar = progressBar({
      write: (s: string) => {
        out.push(s);
        return true;
      },
    } as never);
    for (let d = 1; d <= 400; d++) bar(d, 400);
    expect(out.filter((s) => s.startsWith('\r'))).toHaveLength(101); // 0 % .. 100 %
    expect(out.at(-2)).toMatch(/^\rsimulating \[#{30}\] 100% 400\/400 steps$/);
    expect(out.at(-1)).toBe('\n');
  });

  it("simulate()'s errors in the command's words", () => {
    expect(asFlags('simulate: configs[1].alphaScope must be x')).toBe('--alpha-scope (configuration 2) must be x');
    expect(asFlags('simulate: frames must be at least 4')).toBe('--frames must be at least 4');
    expect(asFlags('simulate: labels[2] must be an integer')).toBe('--labels value 3 must be an integer');
  });
});

describe.runIf(haveDist)('seqloss simulate: the command', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'seqloss-sim-'));
  const exec = (args: string[]) =>
    spawnSync(process.execPath, [cli, 'simulate', ...args], { cwd: tmp, encoding: 'utf8' });

  it('--json prints metrics that validate against simulate.schema.json, and writes no report', () => {
    const p = exec(['--json', '--iters', '150']);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toBe(''); // no progress bar with --json
    const data = JSON.parse(p.stdout);
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    const validate = ajv.compile(schema);
    expect(validate(data), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    expect(data.runs).toHaveLength(6);
    expect(fs.existsSync(path.join(tmp, 'simulate.html'))).toBe(false);
    // The schema is not a formality: a wrong document fails it.
    expect(validate({ ...data, format: 'other' })).toBe(false);
    expect(validate({ ...data, runs: [{ ...data.runs[0], backend: 'gpu' }] })).toBe(false);
  });

  it('writes the report with a summary on stdout; a bad option exits 2 with the reason', () => {
    const p = exec(['--iters', '100', '--out', 'r.html']);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/configuration\s+first correct decode/);
    expect(p.stdout).toMatch(/wrote r\.html \(6 configurations, 100 iterations each/);
    expect(fs.statSync(path.join(tmp, 'r.html')).size).toBeGreaterThan(10_000);
    const bad = exec(['--alpha', '3']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/seqloss simulate: --alpha \(configuration 1\) must be a number in \(0, 1\), got 3/);
    const noCuda = spawnSync(process.execPath, [cli, 'simulate', '--backend', 'cuda', '--iters', '5'], {
      cwd: tmp,
      encoding: 'utf8',
      env: { ...process.env, SEQLOSS_DISABLE_NATIVE: '1' },
    });
    expect(noCuda.status).toBe(2);
    expect(noCuda.stderr).toBe(
      "seqloss simulate: backend 'cuda' is unavailable: the native addon is disabled by SEQLOSS_DISABLE_NATIVE=1\n",
    );
    const bare = spawnSync(process.execPath, [cli], { encoding: 'utf8' });
    expect(bare.status).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toMatch(/^usage: seqloss <command>/);
    const usage = spawnSync(process.execPath, [cli, 'help'], { encoding: 'utf8' });
    expect(usage.status).toBe(0);
    expect(usage.stdout).toMatch(/^usage: seqloss <command>/);
    const help = exec(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: seqloss simulate/);
  });
});

describe('the report', () => {
  let html: string;
  let r: SimulateResult;
  beforeAll(async () => {
    r = simulate({ iters: 200, configs: [{}, { alpha: 0.5 }, { loss: 'ace' }] });
    html = await simulateReport(r);
  });

  it('is valid HTML (html-validate, recommended rules) and self-contained (no scripts, no external references)', async () => {
    const report = await new HtmlValidate({ extends: ['html-validate:recommended'] }).validateString(html);
    const messages = report.results.flatMap((x) => x.messages.map((m) => `${m.ruleId}: ${m.message}`));
    expect(messages).toEqual([]);
    expect(report.valid).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(src|href)=/i);
  });

  it('has one SVG per panel: a figure per snapshot of each configuration, and the curves', () => {
    const panels = html.match(/<figure class="panel"><svg/g) ?? [];
    expect(panels).toHaveLength(r.runs.reduce((n, x) => n + x.snapshots.length, 0));
    const curves = html.match(/<figure class="curve"><svg/g) ?? [];
    expect(curves).toHaveLength(5);
    expect((html.match(/<svg/g) ?? []).length).toBe(panels.length + curves.length);
    // Each panel draws lines: two series (outputs, target) per class.
    const first = html.slice(html.indexOf('<figure class="panel">'));
    const svg = first.slice(0, first.indexOf('</svg>'));
    expect((svg.match(/<path[^>]*d="M/g) ?? []).length).toBeGreaterThanOrEqual(2 * 4);
  });

  it('shows the summary, and says that ACE decodes nothing', () => {
    expect(html).toContain('<th scope="row">ctc α=0.5</th>');
    expect(html).toContain('ace: the greedy decode is never correct in 200 iterations (last: (empty))');
    for (const x of r.runs) expect(html).toContain(`<h3>${x.name}</h3>`);
  });

  it('every panel of a section has the same width: a long iteration-0 decode is cut, not widening its panel', () => {
    // The table at iteration 0 is nearly uniform, so its greedy decode is long (labels on most frames).
    expect(r.runs[0].snapshots[0].decode.length).toBeGreaterThan(5);
    for (const section of html.split('<section>').slice(1)) {
      const widths = [...section.matchAll(/<figure class="panel"><svg[^>]*\bwidth="([\d.]+)"/g)].map((m) => m[1]);
      expect(widths.length).toBeGreaterThan(3);
      expect(new Set(widths).size, widths.join(' ')).toBe(1);
    }
    expect(html).toContain(`decode (${r.runs[0].snapshots[0].decode.length} labels): `);
  });
});

describe('the report says only what the run shows', () => {
  const labels = [2, 1, 3];
  it('decodeCaption: short decodes in full (✓ when right), long ones cut with their length', () => {
    expect(decodeCaption([2, 1, 3], labels)).toBe('greedy decode: 2 1 3 ✓');
    expect(decodeCaption([2, 3], labels)).toBe('greedy decode: 2 3');
    expect(decodeCaption([], labels)).toBe('greedy decode: (empty)');
    expect(decodeCaption([3, 1, 3, 1, 2, 3, 1], labels)).toBe('decode (7 labels): 3 1 3 1 2 …');
  });

  // Each sentence about a configuration against its own summary and curve, for two setups whose outcomes differ:
  // the defaults (T = 20: ACE's counts become right) and T = 50 (ACE's counts are never right, plain CTC goes through
  // the suppression phase).
  for (const frames of [20, 50]) {
    it(`the findings follow the data at T = ${frames}`, async () => {
      const res = simulate({ frames });
      const said = findings(res);
      expect(said).toHaveLength(res.runs.length);
      const plain = res.runs.find((x) => x.name === 'ctc')!;
      res.runs.forEach((x, i) => {
        const f = said[i];
        const s = x.summary;
        expect(f.startsWith(`${x.name}: `)).toBe(true);
        if (s.firstCorrectDecode === null) expect(f).toContain(`decode is never correct in ${res.options.iters}`);
        else expect(f).toContain(`decode is first correct at iteration ${s.firstCorrectDecode}`);
        if (x !== plain && s.firstCorrectDecode !== null && plain.summary.firstCorrectDecode !== null) {
          const d = plain.summary.firstCorrectDecode - s.firstCorrectDecode;
          if (d > 0) expect(f).toContain(`(${d} iterations sooner than plain CTC)`);
          if (d < 0) expect(f).toContain(`(${-d} iterations later than plain CTC)`);
        }
        if (x.config.loss === 'ace') {
          if (s.firstCorrectCounts === null) {
            expect(f).toContain('the rounded counts are never right');
            expect(f).not.toMatch(/counts are (first )?right/);
          } else {
            expect(f).toContain(`the rounded counts are first right at iteration ${s.firstCorrectCounts}`);
          }
          const countsOnly = x.curve.filter((p) => p.countsCorrect && !p.decodeCorrect).length;
          if (countsOnly) expect(f).toContain(`at ${countsOnly} of the ${x.curve.length} recorded iterations`);
          else expect(f).not.toContain('recorded iterations');
        }
      });
      const p = said[res.runs.indexOf(plain)];
      if (plain.summary.firstSuppressed === null) expect(p).toContain('its non-blank share never falls below 0.1');
      else expect(p).toContain(`falls below 0.1 at iteration ${plain.summary.firstSuppressed} (the suppression phase)`);
      // The two setups differ where the old fixed text did not: ACE's counts at T = 50, the suppression at T = 20.
      const ace = res.runs.find((x) => x.name === 'ace')!.summary;
      if (frames === 50) {
        expect(ace.firstCorrectCounts).toBeNull();
        expect(plain.summary.firstSuppressed).not.toBeNull();
      } else {
        expect(ace.firstCorrectCounts).not.toBeNull();
        expect(plain.summary.firstSuppressed).toBeNull();
      }
      // The report prints exactly these findings, and no claim written in advance about what a loss does.
      const html = await simulateReport(res);
      for (const f of said)
        expect(html).toContain(`<li>${f.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</li>`);
      expect(html).not.toMatch(/never collapse|much sooner|converges sooner|can stay empty/);
    });
  }
});
