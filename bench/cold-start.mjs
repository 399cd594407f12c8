#!/usr/bin/env node
// The first hundred steps, and what a model does from zero state: the sweep behind rnn-train's
// initialisation (model/char-rnn.ts's INITIALISATION) and --state-reset default. Each candidate
// trains the default model (2×256 LSTM) on tiny-shakespeare for --steps steps at a constant
// learning rate, as the library's train() does, then reports
//   - the training loss around steps 50, 100 and the last (mean of the 5 steps ending there);
//   - the validation loss (carried state, as training reports it);
//   - from zero state, on 256 windows of the validation text: the loss at position 0, the mean
//     over positions 4–15 and over 64–127 (the steady state), against the unigram entropy;
//   - the share of rare characters (each under 0.1 % of the corpus) in 500 greedy characters from
//     zero state, as `rnn-sample -t 0` writes them.
// With --checkpoint DIR it trains nothing and measures that checkpoint (or run directory's best)
// from zero state, e.g. a 10-minute run of rnn-train.
// Not a test; prints a table, and with --results FILE appends one JSON line per run to FILE.
//
//   npm run build && node bench/cold-start.mjs [--steps 300] [--seeds 1,2] [--candidates a,b] [--results FILE]
//   npm run build && node bench/cold-start.mjs --checkpoint runs/tinyshakespeare
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const lib = await import(path.join(root, 'dist', 'index.js'));

/** Candidates: changes to INITIALISATION, and a --state-reset rate. */
const KERAS_EMBEDDING = 0.05 / Math.sqrt(3); // uniform ±0.05 has this standard deviation
const CANDIDATES = {
  'embedding-0.029': { init: { embeddingStd: KERAS_EMBEDDING } },
  'embedding-0.3': { init: { embeddingStd: 0.3 } },
  'embedding-1': { init: { embeddingStd: 1 } },
  'embedding-1-forget-0': { init: { embeddingStd: 1, forgetBias: 0 } },
  'embedding-1-output-0.5': { init: { embeddingStd: 1, outputBound: 0.5 } },
  'embedding-1-recurrent-0.5': { init: { embeddingStd: 1, recurrentBound: 0.5 } },
  'embedding-1-reset-1/32': { init: { embeddingStd: 1 }, stateReset: 1 / 32 },
  'embedding-1-reset-1/8': { init: { embeddingStd: 1 }, stateReset: 1 / 8 },
};

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const steps = Number(option('steps', '300'));
const seeds = option('seeds', '1,2').split(',').map(Number);
const names = option('candidates', Object.keys(CANDIDATES).join(',')).split(',');
const results = option('results');

await lib.useBackend('auto');
const text = fs.readFileSync(path.join(root, 'data', 'tinyshakespeare.txt'), 'utf8');
const vocabulary = lib.Vocabulary.fromText(text);
const ids = vocabulary.encode(text);
const { train: trainIds, validation } = lib.splitCorpus(ids, 0.1);
const counts = new Float64Array(vocabulary.size);
for (const id of ids) counts[id]++;
const rare = new Set([...counts.keys()].filter((id) => counts[id] / ids.length < 1e-3));
const unigramEntropy = -[...counts].reduce((sum, n) => (n > 0 ? sum + (n / ids.length) * Math.log(n / ids.length) : sum), 0);

const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;

async function runCandidate(name, seed) {
  const candidate = CANDIDATES[name];
  const losses = [];
  const events = { start() {}, evaluation() {}, checkpoint() {}, warn() {}, step: (info) => losses.push(info.trainLoss) };
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'rnn-train-cold-'));
  const training = {
    corpus: 'tinyshakespeare.txt',
    corpusSha256: '',
    seqLen: 64,
    batchSize: 48,
    optimizer: 'adam',
    learningRate: 3e-3,
    schedule: { name: 'constant', warmupSteps: 0, decayRate: 1, decayAfter: 0 },
    clip: 5,
    weightDecay: 0,
    stateReset: candidate.stateReset ?? 0,
    emaDecay: 0,
    replicas: 1,
    precision: 'float32',
    validationFraction: 0.1,
    seed,
  };
  const summary = await lib.train(
    {
      vocabulary,
      train: trainIds,
      validation,
      model: { cell: 'lstm', embeddingSize: 64, hiddenSize: 256, layers: 2, dropout: 0.1, weightDrop: 0, inputDropout: 0 },
      training,
      options: { steps, evalEvery: steps, onNan: 'stop', backend: 'bench' },
      run: new lib.RunDirectory(dir),
      initialisation: { ...lib.INITIALISATION, ...candidate.init },
    },
    events,
    { requested: false },
  );
  const zeroState = fromZeroState(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  const around = (step) => mean(losses.slice(Math.max(0, step - 5), step));
  return { name, seed, steps, train50: around(50), train100: around(100), trainLast: around(steps), validation: summary.bestValidationLoss, ...zeroState };
}

/** What the checkpoint in `dir` does from zero state. */
function fromZeroState(dir) {
  const { checkpoint } = lib.loadCheckpoint(dir);
  const model = new lib.CharRnn(checkpoint.model, checkpoint.weights);
  const profile = lib.zeroStateProfile(model, validation, { windows: 256, length: 128 });
  let greedy = '';
  for (const piece of lib.sampleText([model], vocabulary, { length: 500, prime: '', seed: 1, temperature: 0 })) greedy += piece.text;
  model.dispose();
  return {
    position0: profile[0],
    positions4to15: mean([...profile.slice(4, 16)]),
    steady: mean([...profile.slice(64)]),
    unigramEntropy,
    greedyRareShare: [...greedy].filter((ch) => rare.has(vocabulary.encode(ch)[0])).length / [...greedy].length,
    greedy: greedy.slice(0, 80),
  };
}

const f = (x) => x.toFixed(3);
const checkpointDir = option('checkpoint');
if (checkpointDir) {
  const r = fromZeroState(checkpointDir);
  console.log(
    `${checkpointDir}: from zero state, position 0 ${f(r.position0)}, 4–15 ${f(r.positions4to15)}, 64–127 ${f(r.steady)} nats/char (unigram ${f(unigramEntropy)}); greedy rare ${(100 * r.greedyRareShare).toFixed(1)} %: ${JSON.stringify(r.greedy)}`,
  );
  process.exit(0);
}
console.log(`${steps} steps; unigram entropy ${f(unigramEntropy)} nats/char; rare: ${[...rare].map((id) => vocabulary.decode([id])).join('')}`);
console.log('| candidate | seed | train 50 / 100 / last | validation | zero state: pos 0 / 4–15 / 64–127 | greedy rare |');
console.log('|---|---|---|---|---|---|');
for (const name of names) {
  for (const seed of seeds) {
    const r = await runCandidate(name, seed);
    if (results) fs.appendFileSync(results, `${JSON.stringify({ date: new Date().toISOString(), ...r })}\n`);
    console.log(
      `| ${name} | ${seed} | ${f(r.train50)} / ${f(r.train100)} / ${f(r.trainLast)} | ${f(r.validation)} | ${f(r.position0)} / ${f(r.positions4to15)} / ${f(r.steady)} | ${(100 * r.greedyRareShare).toFixed(1)} % |`,
    );
  }
}
