#!/usr/bin/env node
// The `seqloss` command. `seqloss simulate` draws how each loss shapes a model's outputs (simulate/cli.ts);
// `seqloss doctor` tells what this installation can run and why not where it cannot.
import { availableParallelism, cpus } from 'node:os';
import { AUTO_CUDA_MIN_ELEMENTS, autoCudaEnabled, backends } from './backend.js';

const USAGE = `usage: seqloss <command>

commands:
  simulate [opts]   train a free table of logits with each loss and draw it (writes simulate.html);
                    seqloss simulate --help lists the options
  doctor [--json]   print the backends, the CUDA runtime and driver, devices and the build's architectures
  help              this text
`;

function doctor(json: boolean): number {
  const b = backends();
  if (json) {
    process.stdout.write(`${JSON.stringify(b, null, 2)}\n`);
    return 0;
  }
  const yes = (v: boolean) => (v ? 'yes' : 'no');
  const lines = [
    `seqloss ${b.version} on Node ${process.versions.node} (${process.platform}-${process.arch}, N-API ${process.versions.napi})`,
    `cpu model:        ${cpus()[0]?.model ?? 'unknown'} (${availableParallelism()} hardware threads)`,
    `backend js:       yes (pure TypeScript, float64)`,
    `backend cpu:      ${yes(b.cpu)}${b.cpu ? ` (native addon, ${b.threads} threads)` : ` — ${b.reason}`}`,
    `backend cuda:     ${yes(b.cuda.available)}` +
      (b.cuda.emulated ? ' (EMULATED: the SIMT host runs the kernels on the CPU, for testing, not speed)' : '') +
      (b.cuda.reason ? ` — ${b.cuda.reason}` : ''),
    `  compiled in:    ${yes(b.cuda.compiled)}${b.cuda.emulated ? ' (emulated build, SEQLOSS_CUDA_EMULATE=ON)' : ''}`,
    `  architectures:  ${b.cuda.architectures ?? '-'}`,
    `  runtime:        ${b.cuda.runtimeVersion ?? '-'}${b.cuda.emulated ? ' (emulated)' : ''}`,
    `  driver:         ${b.cuda.driverVersion ?? 'none'}${b.cuda.emulated ? ' (emulated)' : ''}`,
    `  devices:        ${b.cuda.devices.length === 0 ? 'none' : ''}`,
    ...b.cuda.devices.map(
      (d) =>
        `    [${d.index}] ${d.name}, compute ${d.computeCapability}, ` +
        `${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs` +
        (b.cuda.emulated ? ', emulated' : '') +
        (d.usable ? '' : ` — not usable: ${d.reason}`),
    ),
    `'auto' picks:     ${b.cpu ? 'cpu' : 'js'}` +
      (b.cuda.emulated
        ? ' (never the emulated cuda devices)'
        : b.cuda.available
          ? autoCudaEnabled()
            ? ` (cuda from ${AUTO_CUDA_MIN_ELEMENTS} input values on a usable device)`
            : ' (never cuda: SEQLOSS_AUTO_CUDA=0)'
          : ''),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'simulate': {
      const { simulateCommand } = await import('./simulate/cli.js');
      return simulateCommand(rest);
    }
    case 'doctor':
      return doctor(rest.includes('--json'));
    case undefined:
      process.stderr.write(USAGE);
      return 2;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    case '--version':
    case '-v':
      process.stdout.write(`${backends().version}\n`);
      return 0;
    default:
      process.stderr.write(`seqloss: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

// A closed pipe (seqloss simulate --json | head) ends the output, not the process with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`seqloss: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
