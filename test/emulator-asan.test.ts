// The emulated C++ suites, and the C ABI test on the CPU backend, again under AddressSanitizer and UBSan
// (build-emu-asan/, vitest project 'cuda-emulated'):
// the kernels' device-memory accesses are checked byte by byte (every device allocation of the SIMT host is a heap
// block with redzones, the fibers' stacks are announced to ASan), undefined behaviour stops the run, and simt_test's
// deliberately out-of-bounds kernel is caught in a child process, with the kernel, block and thread named.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../lib/native.js';

const dir = join(packageRoot, 'build-emu-asan');
const unavailable = existsSync(join(dir, 'UNAVAILABLE'))
  ? readFileSync(join(dir, 'UNAVAILABLE'), 'utf8').trim()
  : undefined;

function runSuite(binary: string): string {
  const file = join(dir, 'tests', binary);
  expect(existsSync(file), `${file} (built by scripts/build-emulated.mjs, npm's pretest)`).toBe(true);
  const out = spawnSync(file, [], {
    encoding: 'utf8',
    timeout: 1_500_000,
    env: {
      ...process.env,
      SEQLOSS_EMULATE_QUIET: '1',
      ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=0',
      UBSAN_OPTIONS: 'print_stacktrace=1',
    },
  });
  const text = out.stdout + out.stderr;
  const summary = text.match(new RegExp(`${binary}: (\\d+) passed, (\\d+) failed`));
  console.log(`[SIMT host, ASan+UBSan] ${summary?.[0] ?? `${binary}: no summary`}`);
  expect(out.status, text.slice(-6000)).toBe(0);
  expect(text).not.toMatch(/ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/);
  expect(summary![2]).toBe('0');
  return text;
}

describe.skipIf(unavailable !== undefined)(
  `the emulated C++ suites under ASan and UBSan${unavailable ? ` (not built: ${unavailable})` : ''}`,
  () => {
    it('simt_test, with the out-of-bounds device write caught', () => {
      expect(runSuite('simt_test')).toMatch(
        /out-of-bounds device write +AddressSanitizer: heap-buffer-overflow in kernel 'oob_write_kernel', block \(1,0,0\), thread \(0,0,0\)/,
      );
    }, 600_000);

    it('cuda_parity_test', () => {
      runSuite('cuda_parity_test');
    }, 1_800_000);

    it('abi_test (the C ABI on the CPU backend, NaN and ±∞ inputs included)', () => {
      runSuite('abi_test');
    }, 600_000);
  },
);
