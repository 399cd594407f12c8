import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKENDS, useBackend, type BackendChoice } from '../backend.js';
import { readCorpus, splitCorpus } from '../corpus.js';
import { BatchStreams } from '../batches.js';
import { UserError } from '../errors.js';
import { parameterCount, preferredIntraOpThreads } from '../model.js';
import { OPTIMIZERS, type OptimizerName } from '../optimizer.js';
import { createReporter, formatDuration, formatLoss } from '../progress.js';
import { RunDirectory } from '../run-directory.js';
import { train, type StopSignal } from '../trainer.js';
import { Vocabulary } from '../vocabulary.js';
import { integerAtLeast, numberInRange, oneLine, randomSeed, runCommand } from './common.js';

interface TrainFlags {
  out?: string;
  layers: number;
  hidden: number;
  embedding: number;
  dropout: number;
  seqLen: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  clip: number;
  epochs: number;
  steps?: number;
  evalEvery: number;
  valFrac: number;
  seed?: number;
  backend: BackendChoice;
}

function program(): Command {
  return new Command('rnn-train')
    .description('Train a character-level LSTM language model on a UTF-8 text file.')
    .argument('<corpus>', 'UTF-8 text file to learn from')
    .option('-o, --out <dir>', 'run directory for checkpoints (default: runs/<corpus name>)')
    .option('--layers <n>', 'number of stacked LSTM layers', integerAtLeast(1), 2)
    .option('--hidden <n>', 'LSTM units per layer', integerAtLeast(1), 256)
    .option('--embedding <n>', 'size of the character embedding', integerAtLeast(1), 64)
    .option('--dropout <rate>', 'dropout on each LSTM layer output while training', numberInRange(0, 1, { maximumExclusive: true }), 0)
    .option('--seq-len <n>', 'characters per stream per step (truncated-BPTT length)', integerAtLeast(1), 100)
    .option('--batch-size <n>', 'number of contiguous streams trained in parallel', integerAtLeast(1), 32)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZERS).default('adam'))
    .option('--lr <rate>', 'learning rate', numberInRange(0, Infinity, { minimumExclusive: true }), 2e-3)
    .option('--clip <norm>', 'clip gradients to this global L2 norm', numberInRange(0, Infinity, { minimumExclusive: true }), 5)
    .option('--epochs <n>', 'passes over the training text', integerAtLeast(1), 10)
    .option('--steps <n>', 'stop after this many steps instead (overrides --epochs)', integerAtLeast(1))
    .option('--eval-every <n>', 'validate and checkpoint every n steps (and at the end)', integerAtLeast(1), 500)
    .option('--val-frac <fraction>', 'fraction of the text, at its end, held out for validation', numberInRange(0, 0.5), 0.1)
    .option('--seed <n>', 'random seed, for a reproducible run (default: random, printed)', integerAtLeast(0))
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-train', text)) })
    .exitOverride();
}

async function main(argv: string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  const corpusPath = command.args[0];
  const flags = command.opts<TrainFlags>();

  // Everything that can be refused is checked before the (slow) backend loads.
  const outDir = flags.out ?? path.join('runs', path.basename(corpusPath, path.extname(corpusPath)));
  const run = new RunDirectory(outDir);
  if (run.hasCheckpoints()) {
    throw new UserError(`${outDir} already holds a training run; choose another --out, or delete it to start over`);
  }
  const text = readCorpus(corpusPath);
  const vocabulary = Vocabulary.fromText(text);
  const { train: trainIds, validation } = splitCorpus(vocabulary.encode(text), flags.valFrac);
  const streams = new BatchStreams(trainIds, flags.batchSize, flags.seqLen);
  run.prepare();
  const seed = flags.seed ?? randomSeed();

  const reporter = createReporter();
  const model = { embeddingSize: flags.embedding, hiddenSize: flags.hidden, layers: flags.layers, dropout: flags.dropout };
  const backend = await useBackend(flags.backend, { intraOpThreads: preferredIntraOpThreads(model, flags.batchSize) });
  if (backend.warning) reporter.warn(backend.warning);
  const parameters = parameterCount({ ...model, vocabSize: vocabulary.size });
  reporter.info(`backend: ${backend.name}${backend.name === 'tensorflow' ? ' (native TensorFlow kernels)' : ''}`);
  reporter.info(
    `corpus: ${corpusPath}, ${(trainIds.length + validation.length).toLocaleString('en-US')} characters, vocabulary ${vocabulary.size}; ` +
      `training ${trainIds.length}, validation ${validation.length}`,
  );
  reporter.info(
    `model: ${flags.layers}×${flags.hidden} LSTM, embedding ${flags.embedding}, ${parameters.toLocaleString('en-US')} parameters; ` +
      `${flags.batchSize} streams × ${flags.seqLen} characters per step, ${streams.stepsPerEpoch} steps per epoch; seed ${seed}`,
  );
  reporter.info(`checkpoints: ${outDir}/latest and ${outDir}/best`);

  const stop: StopSignal = { requested: false };
  let signalCode = 0;
  const onSignal = (signal: NodeJS.Signals, code: number) => () => {
    if (stop.requested) process.exit(code);
    stop.requested = true;
    signalCode = code;
    reporter.info(`${signal}: saving a checkpoint after this step (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSignal('SIGINT', 130));
  process.on('SIGTERM', onSignal('SIGTERM', 143));

  const started = performance.now();
  try {
    const summary = await train(
      {
        vocabulary,
        train: trainIds,
        validation,
        model,
        training: {
          corpus: path.resolve(corpusPath),
          seqLen: flags.seqLen,
          batchSize: flags.batchSize,
          optimizer: flags.optimizer,
          learningRate: flags.lr,
          clip: flags.clip,
          validationFraction: flags.valFrac,
          seed,
          evalEvery: flags.evalEvery,
          backend: backend.name,
        },
        epochs: flags.epochs,
        steps: flags.steps,
        run,
      },
      reporter,
      stop,
    );
    reporter.close();
    const best = summary.bestValidationLoss === null ? 'no validation split' : `best validation loss ${formatLoss(summary.bestValidationLoss)}`;
    reporter.info(
      `${summary.interrupted ? 'stopped' : 'done'} after ${summary.steps} steps (${formatDuration((performance.now() - started) / 1000)}); ${best}`,
    );
    reporter.info(`sample with: npx rnn-sample ${outDir}`);
    return summary.interrupted ? signalCode : 0;
  } finally {
    reporter.close();
  }
}

await runCommand('rnn-train', () => main(process.argv));
