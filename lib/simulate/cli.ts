// `seqloss simulate`: argument parsing, the progress bar, the report and the JSON. The simulation is run.ts.
import { writeFileSync } from 'node:fs';
import { backends } from '../backend.js';
import {
  DEFAULT_COMPARISON,
  simulate,
  simulateReport,
  type SimConfig,
  type SimulateOptions,
  type SimulateResult,
} from './index.js';

export const SIMULATE_USAGE = `usage: seqloss simulate [options]

Trains a free table of logits on one label sequence with each loss, as in Li & Wang's simulation of CTC training,
and writes an HTML report (outputs and fitted targets frame by frame, curves over the iterations, a summary).
Without configuration options it compares: ctc, ctc --alpha 0.5, ctc --gamma 1, ctc --alpha 0.5 --gamma 1, ace, dctc.

configuration (one run; or several with --compare):
  --loss ctc|ace|dctc        the loss (default ctc)
  --alpha A                  ctc: non-blank share of the fitted target, in (0, 1) (Eq. 13-16)
  --alpha-scope batch|sequence
                             ctc with --alpha: where V_k and N_k are summed (default batch)
  --gamma G                  ctc: key-frame weighting, >= 0 (Eq. 17-18)
  --lambda L                 dctc: weight of the distillation term (default 0.01)
  --alignment ratio|posterior|viterbi
                             dctc: how z* is estimated (default ratio)
  --compare "CFG" "CFG" ...  several configurations on the same initial table, each a quoted loss name with its
                             options, e.g. --compare "ctc" "ctc --alpha 0.5" "dctc --lambda 0.1"

problem and training:
  --labels 2,1,3             the label sequence (classes 1 .. C-1; the blank is 0)
  --classes C                classes including the blank (default 4)
  --frames T                 frames (default 20)
  --iters N                  gradient steps (default 3000)
  --lr R                     learning rate (default 0.1)
  --seed S                   seed of the initial table, logits uniform in [0, 0.01) (default 1)
  --every N                  a snapshot every N iterations (default: 0, 10, 20, 50, 100, 200, 500, 1000, ...)
  --snapshots 0,50,500       instead of --every: the iterations to draw
  --backend auto|cpu|js|cuda the backend of every loss call (default auto)

output:
  --out FILE                 the HTML report (default simulate.html; with --json only when given)
  --json                     the metrics as JSON on stdout (layout: simulate.schema.json in the package)
  -h, --help                 this text
`;

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {}

const CONFIG_FLAGS = ['--loss', '--alpha', '--alpha-scope', '--gamma', '--lambda', '--alignment'] as const;
const LOSSES = ['ctc', 'ace', 'dctc'];

export interface SimulateCommand {
  options: SimulateOptions;
  out: string | null;
  json: boolean;
  help: boolean;
}

function number(flag: string, text: string | undefined): number {
  if (text === undefined || text.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} expects a number, got '${text}'`);
  return v;
}

function list(flag: string, text: string | undefined): number[] {
  if (text === undefined || text.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return text.split(',').map((part) => {
    const v = Number(part);
    if (part.trim() === '' || !Number.isFinite(v))
      throw new UsageError(`${flag} expects comma-separated numbers, got '${text}'`);
    return v;
  });
}

function word(flag: string, text: string | undefined): string {
  if (text === undefined || text.startsWith('--')) throw new UsageError(`${flag} needs a value`);
  return text;
}

/** Applies one configuration flag and its value to `c`. */
function configFlag(c: SimConfig, flag: string, value: string | undefined) {
  switch (flag) {
    case '--loss': {
      const loss = word(flag, value);
      if (!LOSSES.includes(loss)) throw new UsageError(`--loss expects ctc, ace or dctc, got '${loss}'`);
      c.loss = loss as SimConfig['loss'];
      break;
    }
    case '--alpha':
      c.alpha = number(flag, value);
      break;
    case '--alpha-scope':
      c.alphaScope = word(flag, value) as SimConfig['alphaScope'];
      break;
    case '--gamma':
      c.gamma = number(flag, value);
      break;
    case '--lambda':
      c.lambda = number(flag, value);
      break;
    case '--alignment':
      c.alignment = word(flag, value) as SimConfig['alignment'];
      break;
    default:
      throw new UsageError(`unknown option '${flag}'`);
  }
}

/** One --compare entry: a loss name, then configuration flags ("ctc --alpha 0.5"). */
export function parseConfig(entry: string): SimConfig {
  const tokens = entry.trim().split(/\s+/).filter(Boolean);
  if (tokens.length === 0) throw new UsageError('--compare got an empty configuration');
  const c: SimConfig = {};
  let i = 0;
  if (!tokens[0].startsWith('--')) {
    if (!LOSSES.includes(tokens[0])) {
      throw new UsageError(`--compare: a configuration starts with ctc, ace or dctc, got '${tokens[0]}' in "${entry}"`);
    }
    c.loss = tokens[0] as SimConfig['loss'];
    i = 1;
  }
  for (; i < tokens.length; i += 2) {
    if (!(CONFIG_FLAGS as readonly string[]).includes(tokens[i])) {
      throw new UsageError(
        `--compare: unknown option '${tokens[i]}' in "${entry}" (allowed: ${CONFIG_FLAGS.join(', ')})`,
      );
    }
    configFlag(c, tokens[i], tokens[i + 1]);
  }
  return c;
}

/** Parses the arguments after `simulate`. */
export function parseSimulateArgs(argv: readonly string[]): SimulateCommand {
  const options: SimulateOptions = {};
  const single: SimConfig = {};
  let singleGiven = false;
  let compare: SimConfig[] | null = null;
  let out: string | null = null;
  let json = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((CONFIG_FLAGS as readonly string[]).includes(flag)) {
      configFlag(single, flag, value);
      singleGiven = true;
      i++;
      continue;
    }
    switch (flag) {
      case '--compare': {
        compare = [];
        while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) compare.push(parseConfig(argv[++i]));
        if (compare.length === 0)
          throw new UsageError('--compare needs at least one quoted configuration, e.g. "ctc --alpha 0.5"');
        continue;
      }
      case '--labels':
        options.labels = list(flag, value);
        break;
      case '--snapshots':
        options.snapshots = list(flag, value);
        break;
      case '--classes':
        options.classes = number(flag, value);
        break;
      case '--frames':
        options.frames = number(flag, value);
        break;
      case '--iters':
        options.iters = number(flag, value);
        break;
      case '--lr':
        options.lr = number(flag, value);
        break;
      case '--seed':
        options.seed = number(flag, value);
        break;
      case '--every':
        options.every = number(flag, value);
        break;
      case '--backend':
        options.backend = word(flag, value) as SimulateOptions['backend'];
        break;
      case '--out':
        out = word(flag, value);
        break;
      case '--json':
        json = true;
        continue;
      case '-h':
      case '--help':
        help = true;
        continue;
      default:
        throw new UsageError(`unknown option '${flag}'`);
    }
    i++;
  }
  if (compare && singleGiven) {
    throw new UsageError('give either --compare or the options of one configuration (--loss, --alpha, ...), not both');
  }
  options.configs = compare ?? (singleGiven ? [single] : [...DEFAULT_COMPARISON]);
  if (out === null && !json) out = 'simulate.html';
  return { options, out, json, help };
}

/** A bar on stderr, redrawn in place. */
export function progressBar(stream: Pick<NodeJS.WriteStream, 'write'>) {
  const width = 30;
  let last = -1;
  return (done: number, total: number) => {
    const pct = Math.floor((100 * done) / total);
    if (pct === last) return;
    last = pct;
    const fill = Math.round((width * done) / total);
    stream.write(
      `\rsimulating [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${done}/${total} steps`,
    );
    if (done === total) stream.write('\n');
  };
}

/** simulate()'s messages in the command's words: "configs[1].alpha" is "--alpha (configuration 2)", "frames" is
 * "--frames". */
export function asFlags(message: string): string {
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return message
    .replace(/^simulate: /, '')
    .replace(/configs\[(\d+)\]\.(\w+)/g, (_m, i: string, k: string) => `--${kebab(k)} (configuration ${Number(i) + 1})`)
    .replace(
      /^(labels|classes|frames|iters|lr|seed|every|snapshots|backend)\b(\[\d+\])?/,
      (_m, k: string, idx?: string) => `--${k}${idx ? ` value ${Number(idx.slice(1, -1)) + 1}` : ''}`,
    );
}

/** JSON with the non-finite numbers (an infinite loss) as null. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

/** Runs `seqloss simulate`; returns the exit code. */
export async function simulateCommand(argv: readonly string[]): Promise<number> {
  let cmd: SimulateCommand;
  try {
    cmd = parseSimulateArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`seqloss simulate: ${e.message}\n(see seqloss simulate --help)\n`);
    return 2;
  }
  if (cmd.help) {
    process.stdout.write(SIMULATE_USAGE);
    return 0;
  }
  if (cmd.options.backend === 'cuda') {
    // Asked for explicitly, the emulated devices of a SIMT-host build count as usable: they run, only slowly.
    const cuda = backends().cuda;
    if (!cuda.available) {
      process.stderr.write(`seqloss simulate: backend 'cuda' is unavailable: ${cuda.reason ?? 'no usable device'}\n`);
      return 2;
    }
  }
  const started = Date.now();
  if (!cmd.json && process.stderr.isTTY) cmd.options.onProgress = progressBar(process.stderr);
  let result: SimulateResult;
  try {
    result = simulate(cmd.options);
  } catch (e) {
    if (e instanceof TypeError || e instanceof RangeError) {
      process.stderr.write(`seqloss simulate: ${asFlags(e.message)}\n(see seqloss simulate --help)\n`);
      return 2;
    }
    throw e;
  }
  if (cmd.out !== null) writeFileSync(cmd.out, await simulateReport(result));
  if (cmd.json) {
    process.stdout.write(`${toJson(result)}\n`);
    return 0;
  }
  const rows = result.runs.map((r) => {
    const s = r.summary;
    return [
      r.name,
      s.firstCorrectDecode === null ? 'never' : String(s.firstCorrectDecode),
      s.final.nonBlankShare.toFixed(3),
      s.final.ctcLoss.toPrecision(3),
      s.finalDecode.length ? s.finalDecode.join(' ') : '(empty)',
    ];
  });
  const head = ['configuration', 'first correct decode', 'final non-blank share', 'final CTC loss', 'final decode'];
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, j) => c.padEnd(widths[j]))
      .join('  ')
      .trimEnd();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(
    `${[line(head), ...rows.map(line)].join('\n')}\n\n` +
      `wrote ${cmd.out} (${result.runs.length} configuration${result.runs.length > 1 ? 's' : ''}, ` +
      `${result.options.iters} iterations each, ${seconds} s)\n`,
  );
  return 0;
}
