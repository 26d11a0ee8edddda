// The simulator's report: one self-contained HTML page (no scripts, no external files), its figures vega-lite
// specifications rendered to SVG in Node and inlined, one SVG per panel.
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { importModule } from '../platform.cjs';
import { defaultSnapshots, type SimPoint, type SimRun, type SimulateResult } from './model.js';

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const BLANK_COLOUR = '#9a9a9a';
const CLASS_COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
];
const RUN_COLOURS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
const SERIES = ['output y', 'target y′'];

const CONFIG = {
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 10, titleFontSize: 11, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  title: { fontSize: 12, fontWeight: 'bold', subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' },
} as const;

/** vega and vega-lite are ES modules only (vega has top-level await, so require() cannot load it): they are loaded
 * with a real import(), which also serves the CommonJS build, when a report is rendered. */
interface Renderer {
  vega: typeof Vega;
  vegaLite: typeof VegaLite;
}

/** Renders one vega-lite specification to an SVG string (the headless renderer: no canvas, no DOM). */
async function toSvg({ vega, vegaLite }: Renderer, spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const className = (k: number) => (k === 0 ? 'blank' : String(k));

const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined || !Number.isFinite(v) ? '—' : Number(v.toPrecision(digits)).toString();

/** The outputs (solid) and the fitted target (dashed) of every class over the frames, at one iteration. */
function snapshotSpec(s: SimRun['snapshots'][number], r: SimulateResult): TopLevelSpec {
  const { classes: C, frames: T, labels } = r.options;
  const values: { t: number; cls: string; p: number; series: string }[] = [];
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < C; k++) {
      values.push({ t, cls: className(k), p: s.probs[t][k], series: SERIES[0] });
      values.push({ t, cls: className(k), p: s.target[t][k], series: SERIES[1] });
    }
  }
  const domain = Array.from({ length: C }, (_, k) => className(k));
  const range = domain.map((_, k) => (k === 0 ? BLANK_COLOUR : CLASS_COLOURS[(k - 1) % CLASS_COLOURS.length]));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    width: 160,
    height: 110,
    title: {
      text: `iteration ${s.iter}`,
      subtitle: decodeCaption(s.decode, labels),
      // A guard: the headless renderer (no canvas) estimates text at 0.8·font size per character, so a caption
      // longer than the panel would widen its SVG and push the next panels to the right.
      limit: 280,
    },
    data: { values },
    mark: { type: 'line', strokeWidth: 1.6, point: false },
    encoding: {
      x: {
        field: 't',
        type: 'quantitative',
        title: 'frame t',
        scale: { domain: [0, Math.max(1, T - 1)], nice: false },
      },
      y: { field: 'p', type: 'quantitative', title: null, scale: { domain: [0, 1] } },
      color: {
        field: 'cls',
        type: 'nominal',
        title: 'class',
        scale: { domain, range },
        legend: { orient: 'right', title: null, symbolSize: 60, labelFontSize: 10, rowPadding: 1 },
      },
      strokeDash: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: {
          domain: SERIES,
          range: [
            [1, 0],
            [5, 3],
          ],
        },
        legend: { orient: 'right', symbolStrokeColor: '#333', symbolSize: 60, labelFontSize: 10, rowPadding: 1 },
      },
      detail: { field: 'series' },
    },
  } as TopLevelSpec;
}

/** The iteration axis of the curves: symlog (most of the change happens early), ticked at the 1-2-5 series. */
function iterationAxis(r: SimulateResult) {
  return {
    field: 'iter',
    type: 'quantitative' as const,
    title: 'iteration (symlog scale)',
    scale: { type: 'symlog' as const, constant: 10, domain: [0, r.options.iters] },
    axis: { values: defaultSnapshots(r.options.iters) },
  };
}

type Metric = { key: keyof SimPoint; title: string; log?: boolean; domain?: [number, number] };

/** One metric over the iterations, a line per configuration. */
function curveSpec(r: SimulateResult, m: Metric): TopLevelSpec {
  const values: { iter: number; run: string; v: number }[] = [];
  for (const run of r.runs) {
    for (const p of run.curve) {
      const v = p[m.key] as number | null;
      if (v === null || !Number.isFinite(v) || (m.log && v <= 0)) continue;
      values.push({ iter: p.iter, run: run.name, v });
    }
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    width: 340,
    height: 170,
    title: { text: m.title },
    data: { values },
    mark: { type: 'line', strokeWidth: 1.6 },
    encoding: {
      x: iterationAxis(r),
      y: {
        field: 'v',
        type: 'quantitative',
        title: null,
        scale: m.log ? { type: 'log' } : m.domain ? { domain: m.domain } : {},
      },
      color: {
        field: 'run',
        type: 'nominal',
        title: 'configuration',
        scale: { domain: r.runs.map((x) => x.name), range: RUN_COLOURS },
      },
    },
  } as TopLevelSpec;
}

/** When each configuration's greedy decode (and, second row, its rounded counts) is correct: a strip per run. */
function correctSpec(r: SimulateResult): TopLevelSpec {
  const step = r.options.curveStep;
  const values: { iter: number; end: number; run: string; what: string; ok: string }[] = [];
  // One rectangle per stretch of iterations with the same state (the curve's points, each standing for `step`).
  const strips = (run: SimRun, what: string, state: (p: SimPoint) => boolean) => {
    let from = 0;
    for (let i = 1; i <= run.curve.length; i++) {
      if (i < run.curve.length && state(run.curve[i]) === state(run.curve[from])) continue;
      const end = i < run.curve.length ? run.curve[i].iter : Math.min(run.curve[i - 1].iter + step, r.options.iters);
      values.push({
        iter: run.curve[from].iter,
        end,
        run: run.name,
        what,
        ok: state(run.curve[from]) ? 'correct' : 'wrong',
      });
      from = i;
    }
  };
  for (const run of r.runs) {
    strips(run, 'greedy decode', (p) => p.decodeCorrect);
    strips(run, 'rounded counts', (p) => p.countsCorrect);
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    title: { text: 'Correct greedy decode (top) and correct rounded counts (bottom), per configuration' },
    data: { values },
    facet: {
      row: {
        field: 'run',
        type: 'nominal',
        title: null,
        sort: r.runs.map((x) => x.name),
        header: { labelAngle: 0, labelAlign: 'left', labelFontSize: 11 },
      },
    },
    spec: {
      width: 800,
      height: 22,
      mark: { type: 'rect' },
      encoding: {
        x: iterationAxis(r),
        x2: { field: 'end' },
        y: { field: 'what', type: 'nominal', title: null, axis: { labelFontSize: 9 } },
        color: {
          field: 'ok',
          type: 'nominal',
          title: null,
          scale: { domain: ['correct', 'wrong'], range: ['#4caf50', '#eeeeee'] },
        },
      },
    },
    resolve: { axis: { x: 'shared' } },
  } as TopLevelSpec;
}

function summaryTable(r: SimulateResult): string {
  const head = [
    'configuration',
    'first correct decode',
    'first correct counts',
    'final loss (minimum)',
    'final CTC loss',
    'final non-blank share',
    'final spikiness',
    'final decode',
    'backend',
  ];
  const rowsHtml = r.runs.map((run) => {
    const s = run.summary;
    const it = (v: number | null) => (v === null ? 'never' : String(v));
    return (
      `<tr><th scope="row">${esc(run.name)}</th><td>${it(s.firstCorrectDecode)}</td><td>${it(s.firstCorrectCounts)}</td>` +
      `<td>${fmt(s.final.loss, 4)} (${fmt(s.minLoss, 4)})</td><td>${fmt(s.final.ctcLoss, 3)}</td>` +
      `<td>${fmt(s.final.nonBlankShare, 3)}</td><td>${fmt(s.final.spikiness, 3)}</td>` +
      `<td>${s.finalDecode.length ? s.finalDecode.join(' ') : '(empty)'}</td><td>${run.backend}</td></tr>`
    );
  });
  return (
    `<table><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>` +
    `<tbody>${rowsHtml.join('')}</tbody></table>`
  );
}

const isPlainCtc = (run: SimRun) => run.config.loss === 'ctc' && run.config.alpha === null && run.config.gamma === null;

/** The greedy decode as a panel subtitle: long decodes (the random table at iteration 0) are cut so that every
 * panel keeps the same width. */
export function decodeCaption(decode: readonly number[], labels: readonly number[]): string {
  const ok = decode.length === labels.length && decode.every((v, i) => v === labels[i]);
  if (decode.length === 0) return 'greedy decode: (empty)';
  const MAX = 5;
  if (decode.length > MAX) return `decode (${decode.length} labels): ${decode.slice(0, MAX).join(' ')} …`;
  return `greedy decode: ${decode.join(' ')}${ok ? ' ✓' : ''}`;
}

/** The report's findings, each sentence computed from this run's curves and summaries (none is written in advance:
 * a configuration that never decodes or never counts right is said to, whatever the paper found for its setup). */
export function findings(r: SimulateResult): string[] {
  const iters = r.options.iters;
  const out: string[] = [];
  const plain = r.runs.find(isPlainCtc);
  for (const run of r.runs) {
    const s = run.summary;
    const parts: string[] = [];
    if (s.firstCorrectDecode !== null) {
      let sentence = `${run.name}: the greedy decode is first correct at iteration ${s.firstCorrectDecode}`;
      if (plain && plain !== run && plain.summary.firstCorrectDecode !== null) {
        const d = plain.summary.firstCorrectDecode - s.firstCorrectDecode;
        sentence +=
          d > 0
            ? ` (${d} iterations sooner than plain CTC)`
            : d < 0
              ? ` (${-d} iterations later than plain CTC)`
              : ' (the same iteration as plain CTC)';
      } else if (plain && plain !== run) {
        sentence += ' (plain CTC never decodes correctly in this run)';
      }
      const final = s.final.decodeCorrect ? 'and correct after the last step' : 'but wrong again after the last step';
      parts.push(`${sentence}, ${final}`);
    } else {
      const fd = s.finalDecode.length ? s.finalDecode.join(' ') : '(empty)';
      parts.push(`${run.name}: the greedy decode is never correct in ${iters} iterations (last: ${fd})`);
    }
    if (run.config.loss === 'ace' || s.firstCorrectCounts !== s.firstCorrectDecode) {
      parts.push(
        s.firstCorrectCounts === null
          ? `the rounded counts are never right`
          : `the rounded counts are first right at iteration ${s.firstCorrectCounts}`,
      );
      const countsOnly = run.curve.filter((p) => p.countsCorrect && !p.decodeCorrect).length;
      if (countsOnly > 0) {
        parts.push(
          `at ${countsOnly} of the ${run.curve.length} recorded iterations the counts are right while the decode is wrong`,
        );
      }
    }
    if (isPlainCtc(run)) {
      const shares = run.curve.map((p) => p.nonBlankShare);
      const low = Math.min(...shares);
      const at = run.curve[shares.indexOf(low)].iter;
      if (s.firstSuppressed !== null) {
        parts.push(
          `its non-blank share falls below 0.1 at iteration ${s.firstSuppressed} (the suppression phase), ` +
            `reaches its lowest, ${fmt(low)}, at iteration ${at} and ends at ${fmt(s.final.nonBlankShare)}`,
        );
      } else {
        parts.push(
          `its non-blank share never falls below 0.1 (lowest ${fmt(low)} at iteration ${at}, ` +
            `last ${fmt(s.final.nonBlankShare)})`,
        );
      }
    }
    out.push(`${parts.join('; ')}.`);
  }
  return out;
}

function describeRun(run: SimRun): string {
  const c = run.config;
  switch (c.loss) {
    case 'ctc':
      if (c.alpha === null && c.gamma === null) return "Plain CTC: the gradient is y − y', y' the CTC frame posterior.";
      return [
        "CTC with Li & Wang's modifications of the fitted target:",
        c.alpha !== null ? `α = ${c.alpha} rescales y' so that labels take the share α of it (Eq. 13–16);` : '',
        c.gamma !== null ? `γ = ${c.gamma} weights frame t by max_k (y'_tk − y_tk)^γ (Eq. 17–18);` : '',
        'the dashed lines are the target actually fitted.',
      ]
        .filter(Boolean)
        .join(' ');
    case 'dctc':
      return (
        `DCTC (λ = ${c.lambda}, z* by '${c.alignment}'): CTC plus a framewise cross-entropy to the alignment z* ` +
        "its own posterior suggests; dashed: the target it fits, (y' + λ·e_z*)/(1 + λ)."
      );
    default:
      return (
        'ACE: cross-entropy between the per-class totals of the outputs and the label counts; it constrains only the ' +
        'totals, not the frames the mass sits on. Dashed: the target the ACE gradient pulls each frame towards, y_t ' +
        'reweighted by N̄_k / ȳ_k and renormalised.'
      );
  }
}

const CSS = `
body { font-family: ${FONT}; margin: 24px auto; max-width: 1400px; padding: 0 16px; color: #222; line-height: 1.45; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin-top: 32px; } h3 { font-size: 15px; margin: 24px 0 4px; }
p.setup { color: #444; margin-top: 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0 16px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; } thead th { background: #f5f5f5; }
tbody th { text-align: left; font-weight: 600; }
.panels { display: flex; flex-wrap: wrap; gap: 8px 10px; }
figure { margin: 0; } figcaption { font-size: 11px; color: #666; }
.note { font-size: 13px; color: #444; max-width: 1000px; }
code { font-size: 12px; background: #f4f4f4; padding: 0 3px; }
`;

/** The report of a simulation as one HTML document. */
export async function renderReport(r: SimulateResult): Promise<string> {
  const renderer: Renderer = {
    vega: await importModule<typeof Vega>('vega'),
    vegaLite: await importModule<typeof VegaLite>('vega-lite'),
  };
  const o = r.options;
  const metrics: Metric[] = [
    { key: 'loss', title: "Loss (each configuration's own objective, log scale)", log: true },
    { key: 'ctcLoss', title: 'CTC loss −ln p(l|x) of the table (log scale)', log: true },
    { key: 'nonBlankShare', title: 'Non-blank share of the outputs', domain: [0, 1] },
    { key: 'spikiness', title: 'Spikiness (1 = each label on one frame)' },
  ];
  const curveFigures: string[] = [];
  for (const m of metrics) {
    curveFigures.push(`<figure class="curve">${await toSvg(renderer, curveSpec(r, m))}</figure>`);
  }
  const correctFigure = `<figure class="curve">${await toSvg(renderer, correctSpec(r))}</figure>`;

  const sections: string[] = [];
  for (const run of r.runs) {
    const panels: string[] = [];
    for (const s of run.snapshots)
      panels.push(`<figure class="panel">${await toSvg(renderer, snapshotSpec(s, r))}</figure>`);
    sections.push(
      `<section><h3>${esc(run.name)}</h3><p class="note">${esc(describeRun(run))}</p>` +
        `<div class="panels">${panels.join('')}</div></section>`,
    );
  }

  const setup =
    `labels [${o.labels.join(', ')}] (blank = 0), C = ${o.classes} classes, T = ${o.frames} frames, ` +
    `${o.iters} iterations of x ← x − ${o.lr}·∂L/∂x from logits uniform in [0, 0.01) (seed ${o.seed}); ` +
    `snapshots at iterations ${o.snapshots.join(', ')}; backend ${r.runs
      .map((x) => x.backend)
      .filter((b, i, a) => a.indexOf(b) === i)
      .join(', ')}.`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>seqloss simulate: how each loss shapes the outputs</title>
<style>${CSS}</style>
</head>
<body>
<h1>How each loss shapes the outputs</h1>
<p class="setup">${esc(setup)}</p>
<p class="note">The simulation of Li &amp; Wang, <em>Reinterpreting CTC training as iterative fitting</em> (Sec. 2.4,
Fig. 4–6): no network, only a free table of logits trained on one label sequence with the gradient each loss returns.
CTC's gradient with respect to the logits is y − y′: training fits the outputs y (solid lines) to a target y′
(dashed) that the loss recomputes at every step. α rescales the target so that the labels hold the share α of it;
γ weights each frame by its largest fitting error max_k (y′ − y) (the key frames).</p>
<h2>What this run shows</h2>
<ul class="note">${findings(r)
    .map((f) => `<li>${esc(f)}</li>`)
    .join('')}</ul>
<h2>Summary</h2>
${summaryTable(r)}
<p class="note">First correct decode: the first iteration whose greedy CTC decode (argmax per frame, repeats merged,
blanks dropped) equals the labels. Counts: <code>aceCount</code>'s rounded per-class totals equal the label counts.
Loss: the configuration's own objective, with its minimum on a free table in brackets (0 for the CTC family, the
entropy of N̄ for ACE). Non-blank share: (1/T) Σ_t Σ_{k≠blank} y_k^t. Spikiness: |S|·Σ_t n_t² / (Σ_t n_t)² with
n_t = Σ_{k≠blank} y_k^t, 1 when each label sits on one frame and nothing else is non-blank, |S|/T when the non-blank
mass is spread evenly.</p>
<h2>Over the iterations</h2>
<div class="panels">${curveFigures.join('')}</div>
${correctFigure}
<h2>Outputs (solid) and fitted target (dashed), frame by frame</h2>
<p class="note">Each panel: the probability of each class (colour) at each frame t of the table, at one iteration; solid the outputs y = softmax(x), dashed the target y′ the loss fits at that step.</p>
${sections.join('\n')}
<p class="note">Made by <code>seqloss simulate</code>; every number here is in its <code>--json</code> output.</p>
</body>
</html>
`;
}
