// The PyTorch reference (bench/reference/torch_char_lstm.py) as the benchmarks run it: which
// python, with which limits, and its fastest batch-1 sampling loop. Shared by bench.mjs and web.mjs.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function findPython() {
  if (process.env.RNN_TRAIN_BENCH_PYTHON) return process.env.RNN_TRAIN_BENCH_PYTHON;
  // A virtualenv made by python3 -m venv may have only bin/python3.
  const venv = ['python', 'python3'].map((name) => path.join(root, '.venv', 'bin', name)).find((file) => fs.existsSync(file));
  return venv ?? 'python3';
}

/** The environment of every measured child: with --isa avx2, each side limited to AVX2. */
export function childEnv(isa) {
  const limits = isa === 'avx2' ? { RNN_TRAIN_ISA: 'avx2', ONEDNN_MAX_CPU_ISA: 'AVX2', MKL_ENABLE_INSTRUCTIONS: 'AVX2' } : {};
  return { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2', ...limits };
}

/** Runs the PyTorch reference with these arguments: its final JSON record, or why it could not run. */
export function runTorch(args, isa) {
  const python = findPython();
  const script = process.env.RNN_TRAIN_BENCH_TORCH ?? path.join(root, 'bench', 'reference', 'torch_char_lstm.py');
  if (!fs.existsSync(script)) return { skipped: `no reference trainer at ${script}` };
  if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) {
    return { skipped: `${python} cannot import torch (python3 -m venv .venv && .venv/bin/pip install -r bench/reference/requirements.txt)` };
  }
  const result = spawnSync(python, [script, ...args, '--json'], { encoding: 'utf8', env: childEnv(isa) });
  const final = result.stdout
    .trim()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .find((rec) => rec.event === 'final');
  return final ?? { skipped: `the reference trainer failed: ${result.stderr.trim().split('\n').pop()}` };
}

/** PyTorch's oneDNN LSTM on and off: the modes every PyTorch measurement runs in. */
export const TORCH_MODES = ['on', 'off'];

/** PyTorch's batch-1 sampling loop on a model of this size, in its fastest threads and mode. */
export function fastestTorchSampling({ hiddenSize, layers }, isa) {
  const runs = [];
  for (const threads of [1, 2]) {
    for (const mkldnn of TORCH_MODES) {
      const final = runTorch(
        ['--hidden', String(hiddenSize), '--layers', String(layers), '--sample', '3000', '--threads', String(threads), '--mkldnn', mkldnn],
        isa,
      );
      if (final.skipped) return final;
      runs.push({ threads, mkldnn, charsPerSecond: final.chars_per_s });
    }
  }
  return runs.reduce((best, run) => (run.charsPerSecond > best.charsPerSecond ? run : best));
}
