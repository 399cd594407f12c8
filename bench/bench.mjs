#!/usr/bin/env node
// Training and sampling throughput of rnn-train, side by side with the PyTorch reference trainer
// (bench/reference/torch_char_lstm.py) and the same model in tfjs-layers (@tensorflow/tfjs, which
// comes with tfjs-node) at the same configurations, measured in the same run.
// Not a test: nothing here passes or fails; it prints numbers (and --json for machines).
//
//   npm run bench [-- --json] [--configs small,large,default] [--seconds 20] [--rounds 3] [--replicas N] [--no-layers]
//                 [--precisions float32,bfloat16] [--isa avx2]
//
// PyTorch runs with its oneDNN LSTM on and off in every round, and the faster mode's median is the
// one compared. Training GFLOP/s are also given as a fraction of the two cores' float32 peak,
// measured as a 2048³ tf.matMul on every core (oneDNN's sgemm) before each configuration and at the
// end: the best of those, since a measurement taken while the machine is slow reads low.
// --isa avx2 times an AVX2 machine on a wider one: rnn-train with RNN_TRAIN_ISA=avx2 and every
// oneDNN (TensorFlow's and PyTorch's) with ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2.
//
// --no-layers skips the tfjs-layers peer (one round per config, after rnn-train's and PyTorch's).
// --replicas sets the data-parallel replicas of every training measurement; by default each config
// gets rnn-train's own choice (2 for small layers on 2+ cores, else 1).
// --precisions lists the matmul precisions (rnn-train --precision) measured in each round;
// the first is the headline; bfloat16 is measured only on the tensorflow backend.
//
// RNN_TRAIN_BENCH_CORPUS   corpus (default data/tinyshakespeare.txt)
// RNN_TRAIN_BENCH_PYTHON   python with torch (default .venv/bin/python if present, else python3)
// RNN_TRAIN_BENCH_TORCH    the reference trainer (default bench/reference/torch_char_lstm.py)
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  useBackend,
  BatchStreams,
  loadCorpus,
  splitCorpus,
  CharRnn,
  initialWeights,
  preferredIntraOpThreads,
  trainingParallelism,
  createOptimizer,
  Rng,
  sampleStreams,
  MATMUL_PRECISIONS,
  ParallelEngine,
  LocalEngine,
  lstmCapabilities,
} from '../dist/index.js';
import { childEnv, fastestTorchSampling, runTorch, TORCH_MODES } from './torch.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONFIGS = {
  small: { layers: 2, hidden: 128, seqLen: 50, batchSize: 50 },
  default: { layers: 2, hidden: 256, seqLen: 64, batchSize: 48 },
  large: { layers: 2, hidden: 512, seqLen: 100, batchSize: 64 },
};

function parseArgs(argv) {
  const args = {
    json: false,
    configs: ['small', 'large', 'default'],
    seconds: 20,
    rounds: 3,
    measure: undefined,
    replicas: undefined,
    layers: true,
    precisions: ['float32', 'bfloat16'],
    isa: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--json') args.json = true;
    else if (flag === '--measure') args.measure = argv[++i];
    else if (flag === '--configs') args.configs = argv[++i].split(',');
    else if (flag === '--seconds') args.seconds = Number(argv[++i]);
    else if (flag === '--rounds') args.rounds = Number(argv[++i]);
    else if (flag === '--replicas') args.replicas = Number(argv[++i]);
    else if (flag === '--no-layers') args.layers = false;
    else if (flag === '--precisions') args.precisions = argv[++i].split(',');
    else if (flag === '--isa') args.isa = argv[++i];
    else throw new Error(`unknown flag ${flag}; see the header of bench/bench.mjs`);
  }
  if (args.isa !== undefined && args.isa !== 'avx2') throw new Error(`--isa takes avx2, not ${args.isa}`);
  for (const name of [...args.configs, ...(args.measure && !['sampling', 'peak'].includes(args.measure) ? [args.measure.replace(LAYERS, '')] : [])]) {
    if (!CONFIGS[name]) throw new Error(`unknown config ${name}`);
  }
  for (const precision of args.precisions) {
    if (!MATMUL_PRECISIONS.includes(precision)) throw new Error(`unknown precision ${precision}; choose from ${MATMUL_PRECISIONS.join(', ')}`);
  }
  return args;
}

const EMBEDDING = 64;
/** `--measure layers-<config>` measures the tfjs-layers peer at that config. */
const LAYERS = 'layers-';
const modelConfig = (config) => ({
  cell: 'lstm',
  embeddingSize: EMBEDDING,
  hiddenSize: config.hidden,
  layers: config.layers,
  dropout: 0,
  weightDrop: 0,
  inputDropout: 0,
});

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
 * Three warm-up steps, then ~1 s windows for `seconds`: the median chars/s over the windows, and
 * the live tensors and RSS right after the warm-up.
 */
async function timeSteps(step, { seqLen, batchSize }, seconds) {
  for (let i = 0; i < 3; i++) await step();
  const warm = { tensors: tf.memory().numTensors, rss: process.memoryUsage().rss };
  const windows = [];
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const windowStart = performance.now();
    let steps = 0;
    do {
      await step();
      steps++;
    } while (performance.now() - windowStart < 1000);
    windows.push((steps * seqLen * batchSize * 1000) / (performance.now() - windowStart));
  }
  return { charsPerSecond: median(windows), windows: windows.length, warm };
}

/**
 * rnn-train's own training step on the corpus (timeSteps).
 * Rounds alternate with the PyTorch run, because this machine's speed drifts under sustained load.
 */
async function benchTraining(config, ids, vocabSize, seconds, replicas, precision) {
  const full = { ...modelConfig(config), vocabSize };
  const model = new CharRnn(full, initialWeights(full, new Rng(1)), { precision, capabilities: lstmCapabilities() });
  const optimizer = createOptimizer('adam');
  const engine =
    replicas > 1
      ? await ParallelEngine.start(model, optimizer, { batchSize: config.batchSize, replicas, precision }, tf.getBackend())
      : new LocalEngine(model, optimizer, config.batchSize);
  const streams = new BatchStreams(ids, config.batchSize, config.seqLen);
  const rng = new Rng(2);
  let loss = Number.NaN;
  const step = async () => {
    if (streams.epochDone) streams.rewind();
    ({ loss } = await engine.step(streams.next(), rng, { clip: 5, learningRate: 2e-3, weightDecay: 0 }));
  };
  const { charsPerSecond, windows, warm } = await timeSteps(step, config, seconds);
  const flops = trainingFlops(config, vocabSize, EMBEDDING);
  const result = {
    charsPerSecond,
    windows,
    gflops: (flops * charsPerSecond) / (config.seqLen * config.batchSize) / 1e9,
    liveTensors: { afterWarmup: warm.tensors, atEnd: tf.memory().numTensors },
    rssMiB: { afterWarmup: warm.rss / 2 ** 20, atEnd: process.memoryUsage().rss / 2 ** 20 },
    trainLoss: loss,
  };
  engine.dispose();
  optimizer.dispose();
  model.dispose();
  return result;
}

/**
 * The peer the issue names: the same model in tf.layers (embedding → stateful LSTMs with
 * returnSequences → dense, softmax cross-entropy on every step, Adam at 2e-3) trained with
 * trainOnBatch on the same streams, as the tfjs examples would write it. tfjs-layers has no global
 * norm clipping, so it skips that. Same warm-up and windows as benchTraining.
 */
async function benchLayers(config, ids, vocabSize, seconds) {
  // The union package, as the examples import it; loading it also registers the gradients.
  const tfl = createRequire(import.meta.url)('@tensorflow/tfjs');
  const { batchSize, seqLen } = config;
  const model = tfl.sequential();
  model.add(tfl.layers.embedding({ inputDim: vocabSize, outputDim: EMBEDDING, batchInputShape: [batchSize, seqLen] }));
  for (let l = 0; l < config.layers; l++) model.add(tfl.layers.lstm({ units: config.hidden, returnSequences: true, stateful: true }));
  model.add(tfl.layers.dense({ units: vocabSize, activation: 'softmax' }));
  model.compile({ optimizer: tfl.train.adam(2e-3), loss: 'sparseCategoricalCrossentropy' });
  const streams = new BatchStreams(ids, batchSize, seqLen);
  const step = async () => {
    if (streams.epochDone) {
      streams.rewind();
      model.resetStates();
    }
    const batch = streams.next();
    // Our batches are time-major; tf.layers wants [batch, time].
    const batchMajor = (values) => tf.tidy(() => tf.transpose(tf.tensor2d(values, [seqLen, batchSize], 'float32')));
    const x = batchMajor(batch.inputs);
    const y = tf.tidy(() => tf.expandDims(batchMajor(batch.targets), 2));
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  };
  const { charsPerSecond, windows } = await timeSteps(step, config, seconds);
  model.dispose();
  return { charsPerSecond, windows };
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
const SAMPLING_MODEL = modelConfig({ hidden: 256, layers: 2 });

/** Samples drawn together by rnn-sample --count in the second measurement. */
const SAMPLING_COUNT = 16;

function benchSampling(vocabulary) {
  const config = { ...SAMPLING_MODEL, vocabSize: vocabulary.size };
  const model = new CharRnn(config, initialWeights(config, new Rng(3)), { capabilities: lstmCapabilities() });
  const run = (length, count) => {
    const started = performance.now();
    let n = 0;
    for (const event of sampleStreams([model], vocabulary, { length, temperature: 1, prime: '', seed: 1 }, count)) n += event.piece ? 1 : 0;
    return (n * 1000) / (performance.now() - started);
  };
  run(50, 1);
  const charsPerSecond = run(10000, 1);
  const countCharsPerSecond = run(10000 / SAMPLING_COUNT, SAMPLING_COUNT);
  model.dispose();
  return { charsPerSecond, msPerChar: 1000 / charsPerSecond, count: SAMPLING_COUNT, countCharsPerSecond };
}

/** The PyTorch reference trainer at the same configuration in one mode, or why it could not run. */
function benchTorch(config, corpus, seconds, mkldnn, isa) {
  const final = runTorch(
    [
      '--data',
      corpus,
      '--hidden',
      String(config.hidden),
      '--layers',
      String(config.layers),
      '--seq',
      String(config.seqLen),
      '--batch',
      String(config.batchSize),
      '--minutes',
      String(seconds / 60),
      '--window',
      String(Math.max(1, seconds / 4)),
      '--eval',
      'none',
      '--mkldnn',
      mkldnn,
    ],
    isa,
  );
  if (final.skipped) return final;
  return { charsPerSecond: final.chars_per_s_median_window ?? final.chars_per_s_mean, torch: true };
}

/**
 * The two cores' float32 peak as oneDNN's sgemm reaches it: the best of three windows of 1024³
 * and 2048³ tf.matMul on TensorFlow's default threads (one per core), each ~40 GFLOP.
 */
function measurePeak() {
  let best = 0;
  for (const n of [1024, 2048]) {
    const a = tf.randomNormal([n, n]);
    const b = tf.randomNormal([n, n]);
    for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
    const reps = Math.round(4e10 / (2 * n ** 3));
    for (let window = 0; window < 3; window++) {
      const started = performance.now();
      let c;
      for (let i = 0; i < reps; i++) {
        c?.dispose();
        c = tf.matMul(a, b);
      }
      c.dataSync();
      c.dispose();
      best = Math.max(best, (2 * n ** 3 * reps) / ((performance.now() - started) / 1000) / 1e9);
    }
    tf.dispose([a, b]);
  }
  return { gflops: best };
}

async function benchCorpus() {
  const corpus = process.env.RNN_TRAIN_BENCH_CORPUS ?? path.join(root, 'data', 'tinyshakespeare.txt');
  const { vocabulary, ids } = await loadCorpus(corpus);
  return { corpus, vocabulary, train: splitCorpus(ids, 0.1).train };
}

/**
 * One measurement in this (child) process, printed as JSON: TensorFlow reads its thread count once,
 * when it loads, so each configuration gets a fresh process set up as rnn-train would set it up.
 */
async function measure(what, seconds, replicasWanted, precision) {
  const { vocabulary, train } = await benchCorpus();
  if (what.startsWith(LAYERS)) {
    // TensorFlow's default threads: the tfjs-layers user changes nothing.
    const backend = await useBackend('auto');
    const result = await benchLayers(CONFIGS[what.slice(LAYERS.length)], train, vocabulary.size, seconds);
    console.log(JSON.stringify({ ...result, backend: backend.name }));
    return;
  }
  if (what === 'peak') {
    await useBackend('auto');
    console.log(JSON.stringify(measurePeak()));
    return;
  }
  // As rnn-train decides them (cli/train-plan.ts), so that the figures are the CLI's.
  const parallelism =
    what === 'sampling'
      ? undefined
      : trainingParallelism(modelConfig(CONFIGS[what]), CONFIGS[what].batchSize, { cores: os.availableParallelism(), replicas: replicasWanted });
  const threads = parallelism ? parallelism.tensorflow.intraOpThreads : preferredIntraOpThreads(SAMPLING_MODEL, 1);
  const backend = await useBackend('auto', { intraOpThreads: threads });
  const replicas = parallelism ? parallelism[backend.name].replicas : 1;
  const result =
    what === 'sampling'
      ? benchSampling(vocabulary)
      : { ...(await benchTraining(CONFIGS[what], train, vocabulary.size, seconds, replicas, precision)), matmulGflops: matmulRoofline(CONFIGS[what]) };
  console.log(
    JSON.stringify({ ...result, backend: backend.name, intraOpThreads: threads ?? 'default', replicas, peakRssMiB: process.resourceUsage().maxRSS / 1024 }),
  );
}

function inChild(what, seconds, { replicas, precision, isa } = {}) {
  const flags = [...(replicas ? ['--replicas', String(replicas)] : []), ...(precision ? ['--precisions', precision] : [])];
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--measure', what, '--seconds', String(seconds), ...flags], {
    encoding: 'utf8',
    env: childEnv(isa),
  });
  if (child.status !== 0) throw new Error(`measuring ${what} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').pop());
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.measure) return measure(args.measure, args.seconds, args.replicas, args.precisions[0]);
  const { corpus, train } = await benchCorpus();
  const log = (line) => {
    if (!args.json) console.log(line);
  };
  log(
    `corpus ${corpus} (${train.length} training characters); ${args.seconds} s per measurement, ${args.rounds} round(s)${args.isa ? `; limited to ${args.isa}` : ''}`,
  );

  const peaks = [];
  const measurePeakNow = () => {
    const { gflops } = inChild('peak', args.seconds, { isa: args.isa });
    peaks.push(gflops);
    log(`two-core float32 peak (sgemm, tf.matMul): ${gflops.toFixed(0)} GFLOP/s`);
  };
  const report = { corpus, seconds: args.seconds, rounds: args.rounds, isa: args.isa ?? 'widest', peakGflops: 0, peakMeasurements: peaks, configs: {} };
  for (const name of args.configs) {
    measurePeakNow();
    const config = CONFIGS[name];
    const ours = new Map(args.precisions.map((precision) => [precision, []]));
    const torchModes = new Map(TORCH_MODES.map((mode) => [mode, []]));
    let last;
    for (let round = 0; round < args.rounds; round++) {
      for (const [precision, rounds] of ours) {
        if (precision !== args.precisions[0] && last?.backend !== 'tensorflow') continue;
        const result = inChild(name, args.seconds, { replicas: args.replicas, precision, isa: args.isa });
        if (precision === args.precisions[0]) last = result;
        rounds.push(result.charsPerSecond);
      }
      for (const [mode, rounds] of torchModes) {
        const reference = benchTorch(config, corpus, args.seconds, mode, args.isa);
        if (reference.charsPerSecond) rounds.push(reference.charsPerSecond);
        else report.torchSkipped = reference.skipped;
      }
    }
    const torchMedians = [...torchModes].filter(([, rounds]) => rounds.length).map(([mode, rounds]) => ({ mode, median: median(rounds), rounds }));
    const fastestTorch = torchMedians.reduce((best, mode) => (!best || mode.median > best.median ? mode : best), undefined);
    const torch = fastestTorch?.rounds ?? [];
    report.backend = last.backend;
    // One round: the peer is 10–20× slower, so its noise matters less than its run time.
    const layers = args.layers ? inChild(`${LAYERS}${name}`, args.seconds) : undefined;
    const headline = median(ours.get(args.precisions[0]));
    const torchMedian = torch.length ? median(torch) : null;
    const entry = {
      ...config,
      precision: args.precisions[0],
      charsPerSecond: headline,
      roundsCharsPerSecond: ours.get(args.precisions[0]),
      gflops: (last.gflops * headline) / last.charsPerSecond,
      intraOpThreads: last.intraOpThreads,
      replicas: last.replicas,
      liveTensors: last.liveTensors,
      rssMiB: last.rssMiB,
      peakRssMiB: last.peakRssMiB,
      torchCharsPerSecond: torchMedian,
      torchRoundsCharsPerSecond: torch,
      torchMkldnn: fastestTorch?.mode ?? null,
      torchModes: Object.fromEntries(torchMedians.map(({ mode, median: m }) => [mode, m])),
      ratioToTorch: torchMedian ? headline / torchMedian : null,
      matmulGflops: last.matmulGflops,
      layersCharsPerSecond: layers?.charsPerSecond ?? null,
      ratioToLayers: layers ? headline / layers.charsPerSecond : null,
      otherPrecisions: Object.fromEntries(
        [...ours]
          .slice(1)
          .filter(([, rounds]) => rounds.length)
          .map(([precision, rounds]) => [
            precision,
            {
              charsPerSecond: median(rounds),
              roundsCharsPerSecond: rounds,
              ratioToTorch: torchMedian ? median(rounds) / torchMedian : null,
              ratioToLayers: layers ? median(rounds) / layers.charsPerSecond : null,
            },
          ]),
      ),
    };
    report.configs[name] = entry;
    log(
      `${name} (${config.layers}×${config.hidden}, seq ${config.seqLen}, batch ${config.batchSize}; ${last.backend}, intra-op threads ${entry.intraOpThreads}, replicas ${entry.replicas}): ` +
        `${Math.round(entry.charsPerSecond)} chars/s (${entry.precision}), ${entry.gflops.toFixed(1)} GFLOP/s of training matmuls; ` +
        (entry.torchCharsPerSecond
          ? `PyTorch ${Math.round(entry.torchCharsPerSecond)} chars/s (oneDNN LSTM ${entry.torchMkldnn}; ${Object.entries(entry.torchModes)
              .map(([mode, m]) => `${mode} ${Math.round(m)}`)
              .join(', ')}), ratio ${entry.ratioToTorch.toFixed(2)}`
          : `PyTorch skipped: ${report.torchSkipped}`) +
        (layers ? `; tfjs-layers ${Math.round(layers.charsPerSecond)} chars/s, ratio ${entry.ratioToLayers.toFixed(1)}` : ''),
    );
    for (const [precision, other] of Object.entries(entry.otherPrecisions)) {
      log(
        `  --precision ${precision}: ${Math.round(other.charsPerSecond)} chars/s` +
          (other.ratioToTorch ? `, ratio to PyTorch ${other.ratioToTorch.toFixed(2)}` : '') +
          (other.ratioToLayers ? `, to tfjs-layers ${other.ratioToLayers.toFixed(1)}` : ''),
      );
    }
    log(
      `  tf.matMul here: recurrent ${entry.matmulGflops.recurrent.toFixed(0)}, projection ${entry.matmulGflops.projection.toFixed(0)}, ` +
        `1024³ ${entry.matmulGflops.square1024.toFixed(0)} GFLOP/s; live tensors ${entry.liveTensors.afterWarmup} → ${entry.liveTensors.atEnd}, ` +
        `RSS ${entry.rssMiB.afterWarmup.toFixed(0)} → ${entry.rssMiB.atEnd.toFixed(0)} MiB, peak ${entry.peakRssMiB.toFixed(0)} MiB`,
    );
  }
  measurePeakNow();
  report.peakGflops = Math.max(...peaks);
  for (const [name, entry] of Object.entries(report.configs)) {
    entry.fractionOfPeak = entry.gflops / report.peakGflops;
    log(`${name}: ${(100 * entry.fractionOfPeak).toFixed(0)} % of the best peak measurement (${report.peakGflops.toFixed(0)} GFLOP/s)`);
  }
  report.sampling = inChild('sampling', args.seconds, { isa: args.isa });
  const torchSampling = fastestTorchSampling(SAMPLING_MODEL, args.isa);
  report.sampling.torch = torchSampling;
  report.sampling.ratioToTorch = torchSampling.charsPerSecond ? report.sampling.charsPerSecond / torchSampling.charsPerSecond : null;
  log(
    `sampling (2×256, batch 1): ${Math.round(report.sampling.charsPerSecond)} chars/s, ${report.sampling.msPerChar.toFixed(2)} ms/char; ` +
      (torchSampling.charsPerSecond
        ? `PyTorch's batch-1 loop ${Math.round(torchSampling.charsPerSecond)} chars/s (${torchSampling.threads} thread(s), oneDNN ${torchSampling.mkldnn}), ratio ${report.sampling.ratioToTorch.toFixed(2)}`
        : `PyTorch skipped: ${torchSampling.skipped}`) +
      `; --count ${report.sampling.count} drawn together: ${Math.round(report.sampling.countCharsPerSecond)} chars/s`,
  );
  if (args.json) console.log(JSON.stringify(report, null, 1));
}

await main();
