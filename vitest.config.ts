import { defineConfig } from 'vitest/config';

// Two projects in every run (`npm test`), a third on a machine with a GPU:
//  - unit:           everything but test/gpu, against the addon `npm install` built (backends js and cpu; 'cuda'
//                    only where that addon has a usable GPU, which the golden suite then skips: cuda-gpu runs it).
//  - cuda-emulated:  test/gpu, the golden fixtures and the argument errors on backend 'cuda', against the emulated
//                    addon in build-emu/ (the kernels of cuda/ on the SIMT host, two emulated devices).
//  - cuda-gpu:       the same files against the real addon, when SEQLOSS_GPU=1 (bench/gpu/run.sh sets it).
const cudaFiles = [
  'test/gpu/**/*.test.ts',
  'test/golden.test.ts',
  'test/pytorch.test.ts',
  'test/golden-dctc.test.ts',
  'test/errors.test.ts',
  'test/numerics.test.ts',
];

export default defineConfig({
  // lib/platform.cts is TypeScript too (vite's default transform takes .ts, .mts, .tsx and .jsx only).
  oxc: { include: /\.(m?ts|cts|[jt]sx)$/ },
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/gpu/**', 'test/emulator*.test.ts'],
          env: { SEQLOSS_TEST_BACKENDS: 'js,cpu' },
        },
      },
      {
        extends: true,
        test: {
          name: 'cuda-emulated',
          include: [...cudaFiles, 'test/emulator*.test.ts', 'test/callpath.test.ts', 'test/fuzz.test.ts'],
          env: {
            SEQLOSS_ADDON: 'build-emu/Release/seqloss.node',
            SEQLOSS_EMULATE_DEVICES: '2',
            // Staging buffers of 64 KiB (4 MiB in use): the host-array calls of the suites go through many chunks.
            SEQLOSS_CUDA_STAGE_BYTES: '65536',
            SEQLOSS_TEST_BACKENDS: 'cuda',
          },
        },
      },
      ...(process.env.SEQLOSS_GPU === '1'
        ? [
            {
              extends: true as const,
              test: { name: 'cuda-gpu', include: cudaFiles, env: { SEQLOSS_TEST_BACKENDS: 'cuda' } },
            },
          ]
        : []),
    ],
  },
});
