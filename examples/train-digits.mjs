#!/usr/bin/env node
// Trains the digit-string recogniser of examples/digits.mjs with seqloss/tfjs, once per loss, and prints a table of
// the loss, the held-out accuracies and the time per step (or, with --json, the same as JSON).
//
//   node examples/train-digits.mjs [--loss ctc,ctc-alpha,ctc-gamma,dctc,ace] [--steps 300] [--batch 16] [--seed 1]
//                                  [--lr 0.02] [--units 16] [--noise 0.1] [--eval 256] [--backend auto] [--json]
//
// Needs the package built (npm install, or npx tsc) and @tensorflow/tfjs installed (a devDependency here).
import * as tf from '@tensorflow/tfjs';
import { ends, LOSSES, train } from './digits.mjs';

const defaults = {
  loss: Object.keys(LOSSES).join(','),
  steps: 300,
  batch: 16,
  seed: 1,
  lr: 0.02,
  units: 16,
  noise: 0.1,
  eval: 256,
  backend: 'auto',
};

function parse(argv) {
  const o = { ...defaults, json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') {
      o.json = true;
      continue;
    }
    const key = arg.startsWith('--') ? arg.slice(2) : '';
    if (!(key in defaults))
      fail(
        `unknown option ${arg} (known: ${Object.keys(defaults)
          .map((k) => `--${k}`)
          .join(' ')} --json)`,
      );
    const value = argv[++i];
    if (value === undefined) fail(`${arg} needs a value`);
    if (typeof defaults[key] === 'number') {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0 || (key !== 'lr' && key !== 'noise' && !Number.isInteger(n))) {
        fail(`${arg} must be a ${key === 'lr' || key === 'noise' ? 'number >= 0' : 'whole number'}, got ${value}`);
      }
      o[key] = n;
    } else {
      o[key] = value;
    }
  }
  for (const l of o.loss.split(','))
    if (!(l in LOSSES)) fail(`--loss must name ${Object.keys(LOSSES).join(', ')}, got ${l}`);
  if (o.steps < 1 || o.batch < 1 || o.eval < 1) fail('--steps, --batch and --eval must be at least 1');
  return o;
}

function fail(message) {
  process.stderr.write(`train-digits: ${message}\n`);
  process.exit(2);
}

const o = parse(process.argv.slice(2));
await tf.setBackend('cpu');
const results = [];
for (const loss of o.loss.split(',')) {
  const r = train({
    loss,
    steps: o.steps,
    batch: o.batch,
    seed: o.seed,
    lr: o.lr,
    units: o.units,
    noise: o.noise,
    evalSize: o.eval,
    backend: o.backend,
  });
  const k = Math.min(50, Math.max(1, Math.floor(o.steps / 4)));
  const { first, last } = ends(r.losses, k);
  results.push({ ...r, firstLoss: first, lastLoss: last, window: k });
  if (!o.json) process.stderr.write(`${r.label}: done\n`);
}

if (o.json) {
  const out = results.map(({ losses, ...r }) => ({ ...r, losses: Array.from(losses, (v) => Math.fround(v)) }));
  process.stdout.write(
    `${JSON.stringify({ options: o, tfjs: tf.version.tfjs, tfBackend: tf.getBackend(), results: out }, null, 2)}\n`,
  );
} else {
  const pct = (v) => `${(100 * v).toFixed(1)} %`;
  const rows = [
    [
      'loss',
      `loss, first ${results[0].window} steps`,
      `last ${results[0].window}`,
      'greedy CTC decode',
      'aceDecode',
      'ACE counts',
      'ms / step',
      'of which seqloss',
    ],
    ...results.map((r) => [
      r.label,
      r.firstLoss.toFixed(3),
      r.lastLoss.toFixed(3),
      pct(r.accuracy.greedy),
      pct(r.accuracy.aceDecode),
      pct(r.accuracy.counts),
      r.msPerStep.toFixed(1),
      r.lossMsPerStep.toFixed(2),
    ]),
  ];
  console.log(
    `${o.steps} steps, batch ${o.batch}, seed ${o.seed}, lr ${o.lr}, GRU units ${o.units}, noise ${o.noise}, held-out ${o.eval} (tfjs ${tf.version.tfjs}, backend ${tf.getBackend()})`,
  );
  console.log(`| ${rows[0].join(' | ')} |\n| ${rows[0].map(() => '---').join(' | ')} |`);
  for (const row of rows.slice(1)) console.log(`| ${row.join(' | ')} |`);
}
