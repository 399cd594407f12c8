import { defineConfig } from 'vitest/config';

/**
 * The quick suite a newcomer runs with `npm test` (about three minutes on 2 cores): the maths,
 * the formats and the main paths of every command. `npm run test:all` (what CI runs) adds the slow
 * files: faults and crash recovery, ensembles, every cell, backend and sampling control through the
 * CLI, export to tfjs, corpus loading at 100 MB, memory, data parallelism, the learning tests,
 * the package installed as a user installs it, and the wasm backend.
 */
const FAST = [
  'averaging',
  'batches',
  'checkpoint',
  'cli-errors',
  'cli-logs',
  'cli-samples',
  'cli-terminal',
  'cli-train-sample',
  'cold-start',
  'compat',
  'docs',
  'fast-stepper',
  'ensemble',
  'gradient',
  'native-setup',
  'progress',
  'recurrence',
  'resume',
  'sampler',
  'schedule',
  'update',
  'vocabulary',
  'web-site',
].map((name) => `test/${name}.test.ts`);

// Three projects: `fast` is a part of `tensorflow`, the whole suite on native TensorFlow (it fails
// loudly if that backend cannot load); `wasm` runs the numerical and end-to-end core again on the
// fallback users get without it.
export default defineConfig({
  test: {
    pool: 'forks',
    // The JSON report lets .ci/run print a plain "N passed, N failed" summary line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/results.json' },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    setupFiles: ['test/setup.ts'],
    projects: [
      { extends: true, test: { name: 'fast', include: FAST, env: { RNN_TRAIN_TEST_BACKEND: 'tensorflow' } } },
      { extends: true, test: { name: 'tensorflow', include: ['test/**/*.test.ts'], env: { RNN_TRAIN_TEST_BACKEND: 'tensorflow' } } },
      {
        extends: true,
        test: {
          name: 'wasm',
          include: ['test/gradient.test.ts', 'test/checkpoint.test.ts', 'test/memory.test.ts', 'test/cli-train-sample.test.ts', 'test/resume.test.ts'],
          env: { RNN_TRAIN_TEST_BACKEND: 'wasm' },
        },
      },
    ],
  },
});
