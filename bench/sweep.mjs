#!/usr/bin/env node
// The sweep behind rnn-train's defaults and presets: each candidate is a real `rnn-train` run
// with --time-budget on tiny-shakespeare, and the score is its best validation loss (nats/char
// over the last 10 %, every target once, carried state). Not a test; it prints a table and
// appends one JSON line per run to --results.
//
//   npm run sweep -- [--budget 10m] [--candidates a,b,...] [--parallel 1] [--eval-every N] [--results FILE]
//
// With --eval-every, the run validates along the way and the line also gives the best validation
// loss reached within 10, 30 and 60 minutes of training (from the run's metrics.jsonl).
//
// --parallel 2 runs two candidates at once. Only do that for candidates that use one TensorFlow
// thread (rnn-train picks one for models with small steps, e.g. 2×256 at batch 32): each then
// has a core of its own, as a lone run would.
//
// An ensemble candidate (rnn-train --members) trains its members side by side, one core each (give
// it the machine), and rnn-train scores them together on their validation text at the end; its
// line gives each member's result too.
//
// RNN_TRAIN_BENCH_CORPUS   corpus (default data/tinyshakespeare.txt)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Candidates: rnn-train flags on top of the defaults. */
const CANDIDATES = {
  default: [],
  lr3: ['--lr', '3e-3'],
  'lr3-d0.1': ['--lr', '3e-3', '--dropout', '0.1'],
  'lr3-d0.2': ['--lr', '3e-3', '--dropout', '0.2'],
  'lr4-d0.1': ['--lr', '4e-3', '--dropout', '0.1'],
  'lr3-d0.1-b48-s64': ['--lr', '3e-3', '--dropout', '0.1', '--batch-size', '48', '--seq-len', '64'],
  'lr3-d0.1-emb32': ['--lr', '3e-3', '--dropout', '0.1', '--embedding', '32'],
  'lr3-d0.1-rmsprop': ['--lr', '2e-3', '--dropout', '0.1', '--optimizer', 'rmsprop'],
  'b48-s64-emb32': ['--lr', '3e-3', '--dropout', '0.1', '--batch-size', '48', '--seq-len', '64', '--embedding', '32'],
  '3x256-b48-s64': ['--layers', '3', '--lr', '3e-3', '--dropout', '0.1', '--batch-size', '48', '--seq-len', '64'],
  'h384-lr3-d0.2': ['--hidden', '384', '--lr', '3e-3', '--dropout', '0.2'],
  '3x256-lr3-d0.1': ['--layers', '3', '--lr', '3e-3', '--dropout', '0.1'],
  'h512-lr2-d0.3': ['--hidden', '512', '--lr', '2e-3', '--dropout', '0.3', '--batch-size', '64'],
  constant: ['--schedule', 'constant'],
  // With the own recurrence (December 2026) the defaults train about 3x faster: room for width.
  h384: ['--hidden', '384'],
  'h384-d0.4': ['--hidden', '384', '--dropout', '0.4'],
  'h512-d0.4': ['--hidden', '512', '--dropout', '0.4'],
  // For hour-long runs: the small preset with stronger regularisation.
  small: ['--preset', 'small'],
  'small-d0.4': ['--preset', 'small', '--dropout', '0.4'],
  'small-d0.5': ['--preset', 'small', '--dropout', '0.5'],
  'small-d0.4-wd0.1': ['--preset', 'small', '--dropout', '0.4', '--weight-decay', '0.1'],
  '3x512-d0.5': ['--preset', 'small', '--layers', '3', '--dropout', '0.5'],
  // Batch 64 runs on both cores at 10k chars/s against 5.7k for batch 32 on one: more epochs an hour.
  'small-b64-d0.4-lr3': ['--preset', 'small', '--batch-size', '64', '--dropout', '0.4', '--lr', '3e-3'],
  'small-b64-d0.5-wd0.1-lr3': ['--preset', 'small', '--batch-size', '64', '--dropout', '0.5', '--weight-decay', '0.1', '--lr', '3e-3'],
  // DropConnect on the recurrent weights (AWD-LSTM's weight drop) beside, or instead of, dropout.
  'small-d0.4-wdrop0.25': ['--preset', 'small', '--dropout', '0.4', '--weight-drop', '0.25'],
  'small-d0.25-wdrop0.5': ['--preset', 'small', '--weight-drop', '0.5'],
  // Validating and keeping a moving average of the weights.
  'small-d0.4-ema': ['--preset', 'small', '--dropout', '0.4', '--ema', '0.999'],
  'small-d0.5-lr3-ema': ['--preset', 'small', '--dropout', '0.5', '--lr', '3e-3', '--ema', '0.999'],
  // Wider or deeper than 2×512, with the average: slower per character, more capacity per epoch.
  '3x512-d0.4-ema': ['--preset', 'small', '--layers', '3', '--dropout', '0.4', '--ema', '0.999'],
  'h768-d0.4-ema': ['--preset', 'small', '--hidden', '768', '--dropout', '0.4', '--ema', '0.999'],
  'h1024-d0.5-ema': ['--preset', 'small', '--hidden', '1024', '--dropout', '0.5', '--ema', '0.999'],
  'h1024-d0.4-ema': ['--preset', 'small', '--hidden', '1024', '--dropout', '0.4', '--ema', '0.999'],
  'h1024-d0.4-lr1.5-ema': ['--preset', 'small', '--hidden', '1024', '--dropout', '0.4', '--lr', '1.5e-3', '--ema', '0.999'],
  // Dropout on the embeddings too (Zaremba et al.'s placement), on the best hour so far.
  'h768-d0.4-in0.2-ema': ['--preset', 'small', '--hidden', '768', '--dropout', '0.4', '--input-dropout', '0.2', '--ema', '0.999'],
  // Two h768-d0.4-ema models side by side, one core each, predicting together.
  ensemble: ['--preset', 'ensemble'],
};

function parseArgs(argv) {
  const args = {
    budget: '10m',
    candidates: Object.keys(CANDIDATES),
    parallel: 1,
    evalEvery: '1000000',
    results: path.join(root, 'bench', 'sweep-results.jsonl'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--budget') args.budget = argv[++i];
    else if (flag === '--candidates') args.candidates = argv[++i].split(',');
    else if (flag === '--parallel') args.parallel = Number(argv[++i]);
    else if (flag === '--results') args.results = argv[++i];
    else if (flag === '--eval-every') args.evalEvery = argv[++i];
    else throw new Error(`unknown flag ${flag}; see the header of bench/sweep.mjs`);
  }
  for (const name of args.candidates) {
    if (!CANDIDATES[name]) throw new Error(`unknown candidate ${name}; known: ${Object.keys(CANDIDATES).join(', ')}`);
  }
  return args;
}

/** Runs a command of this package; resolves with its stderr, rejects if it fails. */
function command(name, bin, flags) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', `${bin}.js`), ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(stderr) : reject(new Error(`${name} failed:\n${stderr}`))));
  });
}

/** What a run directory's best checkpoint and metrics log say. */
function runResult(out) {
  const { progress, training } = JSON.parse(fs.readFileSync(path.join(out, 'best', 'checkpoint.json'), 'utf8'));
  const evaluations = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((e) => e.event === 'evaluation');
  const bestWithin = (minutes) => {
    const losses = evaluations.filter((e) => e.trainingSeconds <= minutes * 60 + 1).map((e) => e.validationLoss);
    return losses.length > 0 ? Math.min(...losses) : null;
  };
  return {
    steps: progress.step,
    epochs: progress.epoch,
    charsPerSecond: (progress.step * training.batchSize * training.seqLen) / progress.trainingSeconds,
    validationLoss: progress.bestValidationLoss,
    bestWithin: { '10m': bestWithin(10), '30m': bestWithin(30), '60m': bestWithin(60) },
    trainLoss: progress.history.train.slice(-50).reduce((sum, [, loss]) => sum + loss, 0) / Math.min(50, progress.history.train.length),
  };
}

/** One rnn-train run (of one model, or of an ensemble's members); resolves with what it saved. */
async function train(name, flags, args, corpus, out) {
  const stderr = await command(name, 'rnn-train', [
    corpus,
    '--out',
    out,
    '--time-budget',
    args.budget,
    '--seed',
    '1',
    '--eval-every',
    args.evalEvery,
    ...flags,
  ]);
  // An ensemble's members each print their own count.
  const parameters = [...stderr.matchAll(/([\d,]+) parameters/g)].reduce((sum, match) => sum + Number(match[1].replaceAll(',', '')), 0);
  const common = { name, flags: flags.join(' '), budget: args.budget, parameters };
  const manifest = path.join(out, 'ensemble.json');
  if (!fs.existsSync(manifest)) return { ...common, ...runResult(out) };
  const { members: names, validationLoss } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  const members = names.map((member) => runResult(path.join(out, member)));
  return {
    ...common,
    steps: Math.min(...members.map((member) => member.steps)),
    epochs: Math.min(...members.map((member) => member.epochs)),
    charsPerSecond: members.reduce((sum, member) => sum + member.charsPerSecond, 0),
    validationLoss,
    trainLoss: members.reduce((sum, member) => sum + member.trainLoss, 0) / members.length,
    members,
  };
}

const args = parseArgs(process.argv.slice(2));
const corpus = process.env.RNN_TRAIN_BENCH_CORPUS ?? path.join(root, 'data', 'tinyshakespeare.txt');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-train-sweep-'));
const queue = [...args.candidates];
const results = [];
const worker = async () => {
  for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
    const result = await train(name, CANDIDATES[name], args, corpus, path.join(work, name));
    results.push(result);
    fs.appendFileSync(args.results, `${JSON.stringify({ ...result, date: new Date().toISOString(), parallel: args.parallel })}\n`);
    console.log(`${name}: ${result.validationLoss.toFixed(4)} nats/char after ${result.steps} steps at ${Math.round(result.charsPerSecond)} chars/s`);
  }
};
try {
  await Promise.all(Array.from({ length: args.parallel }, worker));
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`\n| candidate | flags | parameters | chars/s | steps | epochs | train loss | val loss (${args.budget}) |`);
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results.sort((a, b) => a.validationLoss - b.validationLoss)) {
  console.log(
    `| ${r.name} | \`${r.flags || '(defaults)'}\` | ${r.parameters.toLocaleString('en-US')} | ${Math.round(r.charsPerSecond).toLocaleString('en-US')} | ${r.steps} | ${r.epochs} | ${r.trainLoss.toFixed(3)} | ${r.validationLoss.toFixed(4)} |`,
  );
}
