#!/usr/bin/env node
// Training and sampling throughput of rnn-train, side by side with the PyTorch reference trainer
// (../shared/bench/torch_char_lstm.py) at the same configurations, measured in the same run.
// Not a test: nothing here passes or fails; it prints numbers (and --json for machines).
//
//   npm run bench [-- --json] [--configs small,large,default] [--seconds 20] [--rounds 3]
//
// RNN_TRAIN_BENCH_CORPUS   corpus (default ../shared/data/tinyshakespeare.txt)
// RNN_TRAIN_BENCH_PYTHON   python with torch (default .venv/bin/python if present, else python3)
// RNN_TRAIN_BENCH_TORCH    the reference trainer (default ../shared/bench/torch_char_lstm.py)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../dist/backend.js';
import { BatchStreams } from '../dist/batches.js';
import { splitCorpus } from '../dist/corpus.js';
import { CharLstm, initialWeights } from '../dist/model.js';
import { createOptimizer } from '../dist/optimizer.js';
import { Rng } from '../dist/random.js';
import { sampleText } from '../dist/sampler.js';
import { trainStep } from '../dist/trainer.js';
import { Vocabulary } from '../dist/vocabulary.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIGS = {
  small: { layers: 2, hidden: 128, seqLen: 50, batchSize: 50 },
  default: { layers: 2, hidden: 256, seqLen: 100, batchSize: 32 },
  large: { layers: 2, hidden: 512, seqLen: 100, batchSize: 64 },
};

function parseArgs(argv) {
  const args = { json: false, configs: ['small', 'large', 'default'], seconds: 20, rounds: 3 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') args.json = true;
    else if (flag === '--configs') args.configs = argv[++i].split(',');
    else if (flag === '--seconds') args.seconds = Number(argv[++i]);
    else if (flag === '--rounds') args.rounds = Number(argv[++i]);
    else throw new Error(`unknown flag ${flag}; see the header of bench/bench.mjs`);
  }
  for (const name of args.configs) if (!CONFIGS[name]) throw new Error(`unknown config ${name}`);
  return args;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** Matmul FLOPs of one training step: forward, plus twice that for the backward pass. */
function trainingFlops({ layers, hidden, seqLen, batchSize }, vocabSize, embedding) {
  const chars = seqLen * batchSize;
  let forward = 0;
  for (let l = 0; l < layers; l++) forward += 2 * chars * ((l === 0 ? embedding : hidden) + hidden) * 4 * hidden;
  forward += 2 * chars * hidden * vocabSize;
  return 3 * forward;
}

/**
 * rnn-train's own training step on the corpus: warm-up, then the median chars/s of ~1 s windows.
 * Rounds alternate with the PyTorch run, because this machine's speed drifts under sustained load.
 */
async function benchTraining(config, ids, vocabSize, seconds) {
  const embedding = 64;
  const model = new CharLstm(
    { vocabSize, embeddingSize: embedding, hiddenSize: config.hidden, layers: config.layers, dropout: 0 },
    initialWeights({ vocabSize, embeddingSize: embedding, hiddenSize: config.hidden, layers: config.layers, dropout: 0 }, new Rng(1)),
  );
  const optimizer = createOptimizer('adam');
  const streams = new BatchStreams(ids, config.batchSize, config.seqLen);
  const rng = new Rng(2);
  let state = model.zeroState(config.batchSize);
  let loss = Number.NaN;
  const step = async () => {
    if (streams.epochDone) streams.rewind();
    const result = trainStep(model, optimizer, streams.next(), state, rng, 5, 2e-3);
    state = result.state;
    loss = (await result.loss.data())[0];
    result.loss.dispose();
  };
  for (let i = 0; i < 3; i++) await step();
  const tensorsAfterWarmup = tf.memory().numTensors;
  const rssAfterWarmup = process.memoryUsage().rss;
  const windows = [];
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const windowStart = performance.now();
    let steps = 0;
    do {
      await step();
      steps++;
    } while (performance.now() - windowStart < 1000);
    windows.push((steps * config.seqLen * config.batchSize * 1000) / (performance.now() - windowStart));
  }
  const charsPerSecond = median(windows);
  const flops = trainingFlops(config, vocabSize, embedding);
  const result = {
    charsPerSecond,
    windows: windows.length,
    gflops: (flops * charsPerSecond) / (config.seqLen * config.batchSize) / 1e9,
    liveTensors: { afterWarmup: tensorsAfterWarmup, atEnd: tf.memory().numTensors },
    rssMiB: { afterWarmup: rssAfterWarmup / 2 ** 20, atEnd: process.memoryUsage().rss / 2 ** 20 },
    trainLoss: loss,
  };
  tf.dispose(state.flatMap(({ h, c }) => [h, c]));
  optimizer.dispose();
  model.dispose();
  return result;
}

/** tf.matMul GFLOP/s for the shapes this model uses, and a large square one: the roofline here. */
function matmulRoofline(config) {
  const shapes = {
    recurrent: [config.batchSize, config.hidden, 4 * config.hidden],
    projection: [config.batchSize * config.seqLen, config.hidden, 4 * config.hidden],
    square1024: [1024, 1024, 1024],
  };
  const result = {};
  for (const [name, [m, k, n]] of Object.entries(shapes)) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
    const reps = Math.max(5, Math.round(2e10 / (2 * m * k * n)));
    const started = performance.now();
    let c;
    for (let i = 0; i < reps; i++) {
      c?.dispose();
      c = tf.matMul(a, b);
    }
    c.dataSync();
    c.dispose();
    result[name] = (2 * m * k * n * reps) / ((performance.now() - started) / 1000) / 1e9;
    tf.dispose([a, b]);
  }
  return result;
}

/** Sampling speed of the default model (2×256, embedding 64) at batch 1. */
function benchSampling(vocabulary) {
  const config = { vocabSize: vocabulary.size, embeddingSize: 64, hiddenSize: 256, layers: 2, dropout: 0 };
  const model = new CharLstm(config, initialWeights(config, new Rng(3)));
  const run = (length) => {
    const started = performance.now();
    let n = 0;
    for (const piece of sampleText(model, vocabulary, { length, temperature: 1, prime: '', seed: 1 })) n += [...piece].length;
    return (n * 1000) / (performance.now() - started);
  };
  run(50);
  const charsPerSecond = run(1000);
  model.dispose();
  return { charsPerSecond, msPerChar: 1000 / charsPerSecond };
}

function findPython() {
  if (process.env.RNN_TRAIN_BENCH_PYTHON) return process.env.RNN_TRAIN_BENCH_PYTHON;
  const venv = path.join(root, '.venv', 'bin', 'python');
  return fs.existsSync(venv) ? venv : 'python3';
}

/** The PyTorch reference at the same configuration, or why it could not run. */
function benchTorch(config, corpus, seconds) {
  const python = findPython();
  const script = process.env.RNN_TRAIN_BENCH_TORCH ?? path.join(root, '..', 'shared', 'bench', 'torch_char_lstm.py');
  if (!fs.existsSync(script)) return { skipped: `no reference trainer at ${script}` };
  if (spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' }).status !== 0) {
    return { skipped: `${python} cannot import torch (python3 -m venv .venv && .venv/bin/pip install torch)` };
  }
  const result = spawnSync(
    python,
    [script, '--data', corpus, '--hidden', String(config.hidden), '--layers', String(config.layers), '--seq', String(config.seqLen),
      '--batch', String(config.batchSize), '--minutes', String(seconds / 60), '--window', String(Math.max(1, seconds / 4)), '--eval', 'none', '--json'],
    { encoding: 'utf8' },
  );
  const final = result.stdout.trim().split('\n').map((line) => JSON.parse(line)).find((rec) => rec.event === 'final');
  if (!final) return { skipped: `the reference trainer failed: ${result.stderr.trim().split('\n').pop()}` };
  return { charsPerSecond: final.chars_per_s_median_window ?? final.chars_per_s_mean, torch: true };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const corpus = process.env.RNN_TRAIN_BENCH_CORPUS ?? path.join(root, '..', 'shared', 'data', 'tinyshakespeare.txt');
  const log = (line) => {
    if (!args.json) console.log(line);
  };
  const backend = await useBackend('auto');
  const text = fs.readFileSync(corpus, 'utf8');
  const vocabulary = Vocabulary.fromText(text);
  const { train } = splitCorpus(vocabulary.encode(text), 0.1);
  log(`backend ${backend.name}; corpus ${corpus} (${train.length} training characters); ${args.seconds} s per measurement, ${args.rounds} round(s)`);

  const report = { backend: backend.name, corpus, seconds: args.seconds, rounds: args.rounds, configs: {} };
  for (const name of args.configs) {
    const config = CONFIGS[name];
    const ours = [];
    const torch = [];
    let last;
    for (let round = 0; round < args.rounds; round++) {
      last = await benchTraining(config, train, vocabulary.size, args.seconds);
      ours.push(last.charsPerSecond);
      const reference = benchTorch(config, corpus, args.seconds);
      if (reference.charsPerSecond) torch.push(reference.charsPerSecond);
      else report.torchSkipped = reference.skipped;
    }
    const entry = {
      ...config,
      charsPerSecond: median(ours),
      gflops: last.gflops,
      liveTensors: last.liveTensors,
      rssMiB: last.rssMiB,
      torchCharsPerSecond: torch.length ? median(torch) : null,
      ratioToTorch: torch.length ? median(ours) / median(torch) : null,
      matmulGflops: matmulRoofline(config),
    };
    report.configs[name] = entry;
    log(
      `${name} (${config.layers}×${config.hidden}, seq ${config.seqLen}, batch ${config.batchSize}): ` +
        `${Math.round(entry.charsPerSecond)} chars/s, ${entry.gflops.toFixed(1)} GFLOP/s of training matmuls; ` +
        (entry.torchCharsPerSecond
          ? `PyTorch ${Math.round(entry.torchCharsPerSecond)} chars/s, ratio ${entry.ratioToTorch.toFixed(2)}`
          : `PyTorch skipped: ${report.torchSkipped}`),
    );
    log(
      `  tf.matMul here: recurrent ${entry.matmulGflops.recurrent.toFixed(0)}, projection ${entry.matmulGflops.projection.toFixed(0)}, ` +
        `1024³ ${entry.matmulGflops.square1024.toFixed(0)} GFLOP/s; live tensors ${entry.liveTensors.afterWarmup} → ${entry.liveTensors.atEnd}, ` +
        `RSS ${entry.rssMiB.afterWarmup.toFixed(0)} → ${entry.rssMiB.atEnd.toFixed(0)} MiB`,
    );
  }
  report.sampling = benchSampling(vocabulary);
  report.peakRssMiB = process.resourceUsage().maxRSS / 1024;
  log(`sampling (2×256, batch 1): ${Math.round(report.sampling.charsPerSecond)} chars/s, ${report.sampling.msPerChar.toFixed(2)} ms/char`);
  log(`peak RSS ${report.peakRssMiB.toFixed(0)} MiB`);
  if (args.json) console.log(JSON.stringify(report, null, 1));
}

await main();
