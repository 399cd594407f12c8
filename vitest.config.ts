import { defineConfig } from 'vitest/config';

// Two projects: the whole suite on native TensorFlow (it fails loudly if that backend cannot load),
// and the numerical and end-to-end core again on wasm, the fallback users get without it.
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
      {
        extends: true,
        test: { name: 'tensorflow', include: ['test/**/*.test.ts'], env: { RNN_TRAIN_TEST_BACKEND: 'tensorflow' } },
      },
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
