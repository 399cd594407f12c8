import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BACKENDS, useBackend, type BackendChoice } from '../native/backend.js';
import { BatchStreams } from '../data/batches.js';
import { CELL_TYPES, type CellType } from '../model/cells/cell.js';
import { preferredReplicas, trainingIntraOpThreads } from '../model/policy.js';
import { threadSafeTensorflow } from '../native/capabilities.js';
import type { Checkpoint, NanPolicy, RunOptions, TrainingConfig } from '../train/config.js';
import { loadCorpus, splitCorpus } from '../data/corpus.js';
import { UserError } from '../util/errors.js';
import { hasSmallSteps } from '../model/policy.js';
import { parameterCount } from '../model/char-rnn.js';
import type { ModelConfig } from '../model/config.js';
import { MATMUL_PRECISIONS, type MatmulPrecision } from '../model/cells/cell.js';
import { cpuHasBfloat16 } from '../native/capabilities.js';
import { tensorflowBackend } from '../native/ops.js';
import { OPTIMIZERS, type OptimizerName } from '../train/optimizer.js';
import { createReporter, formatDuration, formatLoss } from '../report/progress.js';
import { RunDirectory, alreadyHoldsRun, loadCheckpoint } from '../run/run-directory.js';
import { SCHEDULES, type ScheduleName } from '../train/schedule.js';
import { metricsEvents } from '../report/metrics.js';
import { RUN_FILES } from '../run/files.js';
import { sparkline } from '../report/plot.js';
import { tensorboardEvents } from '../report/tensorboard.js';
import { combineEvents, stepLimit, train, type StopSignal } from '../train/trainer.js';
import { isEnsembleRun } from '../run/ensemble-run.js';
import { duration, integerAtLeast, numberInRange, oneLine, randomSeed, runCommand } from './common.js';
import { isEnsembleMember, memberReporter, trainEnsemble, type EnsemblePlan } from './ensemble-training.js';
import { PRESETS, PRESET_NAMES, type PresetName } from './presets.js';
import { precisionAdvice } from '../model/policy.js';
import { sizeAdvice } from '../report/advice.js';

interface TrainFlags {
  out?: string;
  resume?: string;
  preset?: PresetName;
  cell: CellType;
  layers: number;
  hidden: number;
  embedding: number;
  dropout: number;
  weightDrop: number;
  inputDropout: number;
  seqLen: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  schedule: ScheduleName;
  warmup: number;
  lrDecay: number;
  lrDecayAfter: number;
  clip: number;
  weightDecay: number;
  ema: number;
  replicas?: number;
  precision: MatmulPrecision;
  epochs?: number;
  steps?: number;
  timeBudget?: number;
  evalEvery: number;
  valFrac: number;
  seed?: number;
  onNan: NanPolicy;
  tensorboard?: string;
  backend: BackendChoice;
  members: number;
}

const DEFAULT_EPOCHS = 10;

function program(): Command {
  return new Command('rnn-train')
    .description('Train a character-level language model (stacked LSTM, GRU or vanilla RNN) on a UTF-8 text file.')
    .argument('[corpus]', "UTF-8 text file to learn from (with --resume: the run's own corpus unless given)")
    .option('-o, --out <dir>', 'run directory for checkpoints (default: runs/<corpus name>)')
    .option('--resume <dir>', 'continue the run in this directory exactly where its latest checkpoint left it')
    .addOption(
      new Option(
        '--preset <name>',
        'bundled sizes: tiny = the defaults (for ~1 MB of text), small = 2×512 (~5 MB), medium = 3×768 (~20 MB), large = 3×1024 (~100 MB), ensemble = two 2×768 trained side by side (~1 MB, an hour); explicit flags win',
      ).choices(PRESET_NAMES),
    )
    .addOption(new Option('--cell <type>', 'recurrent cell: lstm, gru, or rnn (vanilla tanh)').choices(CELL_TYPES).default('lstm'))
    .option('--layers <n>', 'number of stacked recurrent layers', integerAtLeast(1), 2)
    .option('--hidden <n>', 'units per recurrent layer', integerAtLeast(1), 256)
    .option('--embedding <n>', 'size of the character embedding', integerAtLeast(1), 64)
    .option('--dropout <rate>', "dropout on each recurrent layer's output while training", numberInRange(0, 1, { maximumExclusive: true }), 0.1)
    .option(
      '--input-dropout <rate>',
      'dropout on the character embeddings that feed the first layer while training',
      numberInRange(0, 1, { maximumExclusive: true }),
      0,
    )
    .option(
      '--weight-drop <rate>',
      "DropConnect on the recurrent weights while training (AWD-LSTM's weight drop), e.g. 0.2",
      numberInRange(0, 1, { maximumExclusive: true }),
      0,
    )
    .option('--seq-len <n>', 'characters per stream per step (truncated-BPTT length)', integerAtLeast(1), 64)
    .option('--batch-size <n>', 'number of contiguous streams trained in parallel', integerAtLeast(1), 48)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZERS).default('adam'))
    .option('--lr <rate>', 'base learning rate', numberInRange(0, Infinity, { minimumExclusive: true }), 3e-3)
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(SCHEDULES).default('cosine'))
    .option('--warmup <steps>', 'steps of linear learning-rate warm-up', integerAtLeast(0), 0)
    .option('--lr-decay <factor>', 'with --schedule decay: multiply the rate by this every epoch', numberInRange(0, 1, { minimumExclusive: true }), 0.97)
    .option('--lr-decay-after <epochs>', 'with --schedule decay: start decaying after this many epochs', integerAtLeast(0), 10)
    .option('--clip <norm>', 'clip gradients to this global L2 norm', numberInRange(0, Infinity, { minimumExclusive: true }), 5)
    .option('--weight-decay <rate>', 'decoupled weight decay (AdamW) of the weight matrices, e.g. 0.1', numberInRange(0, Infinity), 0)
    .option(
      '--ema <decay>',
      'validate, save and sample an exponential moving average of the weights with this decay, e.g. 0.999',
      numberInRange(0, 1, { maximumExclusive: true }),
      0,
    )
    .option(
      '--replicas <n>',
      'threads that train the streams in parallel, each with a copy of the model (data parallelism; default: 2 for small models on the tensorflow backend and 2+ cores, else 1)',
      integerAtLeast(1),
    )
    .addOption(
      new Option(
        '--precision <type>',
        "operands of the LSTM's matrix products in training: float32, or bfloat16 with float32 accumulation (mixed precision: tensorflow backend only, faster on CPUs with AVX512-BF16 or AMX)",
      )
        .choices(MATMUL_PRECISIONS)
        .default('float32'),
    )
    .option(
      '--members <n>',
      'train an ensemble of n models side by side, each with its own seed and share of the cores, in <out>/member-1 …; rnn-sample and rnn-eval then predict with their mean',
      integerAtLeast(1),
      1,
    )
    .option('--epochs <n>', `passes over the training text (default ${DEFAULT_EPOCHS}, unless --steps or --time-budget is given)`, integerAtLeast(1))
    .option('--steps <n>', 'stop after this many steps', integerAtLeast(1))
    .option('--time-budget <duration>', 'stop after this much training time, e.g. 10m or 1h30m; keeps the best checkpoint', duration)
    .option('--eval-every <n>', 'validate and checkpoint every n steps (and at the end)', integerAtLeast(1), 500)
    .option('--val-frac <fraction>', 'fraction of the text, at its end, held out for validation', numberInRange(0, 0.5), 0.1)
    .option('--seed <n>', 'random seed, for a reproducible run (default: random, printed)', integerAtLeast(0))
    .addOption(
      new Option('--on-nan <policy>', 'when the loss is NaN or infinite: stop, or roll back to the last checkpoint with half the learning rate')
        .choices(['stop', 'rollback'])
        .default('stop'),
    )
    .option('--tensorboard <dir>', 'also write TensorBoard scalars (losses, learning rate, gradient norm, chars/s) to this directory')
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-train', text)) })
    .exitOverride();
}

/** Flags that define a run; on --resume they may be repeated but not changed. */
const FIXED_FLAGS: [keyof TrainFlags, string, (c: Checkpoint) => unknown][] = [
  ['cell', '--cell', (c) => c.model.cell],
  ['layers', '--layers', (c) => c.model.layers],
  ['hidden', '--hidden', (c) => c.model.hiddenSize],
  ['embedding', '--embedding', (c) => c.model.embeddingSize],
  ['dropout', '--dropout', (c) => c.model.dropout],
  ['inputDropout', '--input-dropout', (c) => c.model.inputDropout],
  ['weightDrop', '--weight-drop', (c) => c.model.weightDrop],
  ['seqLen', '--seq-len', (c) => c.training.seqLen],
  ['batchSize', '--batch-size', (c) => c.training.batchSize],
  ['optimizer', '--optimizer', (c) => c.training.optimizer],
  ['lr', '--lr', (c) => c.training.learningRate],
  ['schedule', '--schedule', (c) => c.training.schedule.name],
  ['warmup', '--warmup', (c) => c.training.schedule.warmupSteps],
  ['lrDecay', '--lr-decay', (c) => c.training.schedule.decayRate],
  ['lrDecayAfter', '--lr-decay-after', (c) => c.training.schedule.decayAfter],
  ['clip', '--clip', (c) => c.training.clip],
  ['weightDecay', '--weight-decay', (c) => c.training.weightDecay],
  ['ema', '--ema', (c) => c.training.emaDecay],
  ['replicas', '--replicas', (c) => c.training.replicas],
  ['precision', '--precision', (c) => c.training.precision],
  ['valFrac', '--val-frac', (c) => c.training.validationFraction],
  ['seed', '--seed', (c) => c.training.seed],
];
const STOPPING_FLAGS = ['steps', 'epochs', 'timeBudget'] as const;

/** Whether the user chose this flag's value, directly or through --preset. */
function given(command: Command, key: keyof TrainFlags): boolean {
  const source = command.getOptionValueSource(key);
  return source === 'cli' || source === 'preset';
}

/** Fills in the preset's values for the flags the user did not give. */
function applyPreset(command: Command, preset: PresetName | undefined): void {
  if (preset === undefined) return;
  for (const [key, value] of Object.entries(PRESETS[preset])) {
    if (command.getOptionValueSource(key) !== 'cli') command.setOptionValueWithSource(key, value, 'preset');
  }
}

/** On --resume: the saved run, after refusing any flag that contradicts it. */
function resumedRun(command: Command, flags: TrainFlags, dir: string): Checkpoint {
  const run = new RunDirectory(dir);
  if (!run.hasLatest()) throw new UserError(`${dir} holds no checkpoint to resume; give the --out directory of an earlier rnn-train run`);
  const { checkpoint } = loadCheckpoint(run.latest);
  const differences = FIXED_FLAGS.filter(([key, , saved]) => given(command, key) && flags[key] !== saved(checkpoint)).map(
    ([key, flag, saved]) =>
      `${flag} ${flags[key]}${command.getOptionValueSource(key) === 'preset' ? ` from --preset ${flags.preset}` : ''} (the run has ${saved(checkpoint)})`,
  );
  if (flags.out !== undefined && path.resolve(flags.out) !== path.resolve(dir)) differences.push(`--out ${flags.out} (the run is in ${dir})`);
  if (differences.length > 0) {
    const fixed = new Set(['--out', '--resume', '--preset', '--members', ...FIXED_FLAGS.map(([, flag]) => flag)]);
    const changeable = command.options.map((option) => option.long!).filter((flag) => !fixed.has(flag));
    throw new UserError(
      `--resume continues a run as it was configured, but these flags differ: ${differences.join(', ')}; ` +
        `only ${changeable.slice(0, -1).join(', ')} and ${changeable.at(-1)} may change`,
    );
  }
  return checkpoint;
}

/** The stopping rule: the flags given now, else (on resume) the run's own, else the default epochs. */
function stoppingRule(command: Command, flags: TrainFlags, saved?: RunOptions): Pick<RunOptions, 'epochs' | 'steps' | 'timeBudgetSeconds'> {
  if (STOPPING_FLAGS.some((key) => given(command, key))) {
    return { epochs: flags.epochs, steps: flags.steps, timeBudgetSeconds: flags.timeBudget };
  }
  if (saved) return { epochs: saved.epochs, steps: saved.steps, timeBudgetSeconds: saved.timeBudgetSeconds };
  return { epochs: DEFAULT_EPOCHS };
}

/** Bytes one checkpoint takes: weights, optimizer slots, carried state, and the loss history. */
function checkpointBytes(config: ModelConfig, training: Omit<TrainingConfig, 'replicas'>, plannedSteps: number): number {
  // With --ema the optimizer's own weights are saved beside the averaged ones.
  const slots = { adam: 2, rmsprop: 1, sgd: 0 }[training.optimizer] + (training.emaDecay > 0 ? 1 : 0);
  const carried = 2 * config.layers * training.batchSize * config.hiddenSize;
  return 4 * (parameterCount(config) * (1 + slots) + carried) + 24 * Math.min(plannedSteps, 1e6) + 64_000;
}

/** Flags that the ensemble's trainer sets for each member itself, or keeps for itself. */
const ENSEMBLE_FLAGS = new Set<string>(['out', 'resume', 'preset', 'members', 'seed', 'tensorboard']);

/** rnn-train --members: every flag the user gave (or the preset set) goes to each member. */
function ensemblePlan(command: Command, flags: TrainFlags, outDir: string): EnsemblePlan {
  const memberFlags = command.options.flatMap((option) => {
    const key = option.attributeName() as keyof TrainFlags;
    if (ENSEMBLE_FLAGS.has(key) || !given(command, key)) return [];
    const value = flags[key];
    return [option.long!, key === 'timeBudget' ? `${value}s` : String(value)];
  });
  const resume = flags.resume !== undefined;
  if (resume && flags.out !== undefined && path.resolve(flags.out) !== path.resolve(outDir)) {
    throw new UserError(`--out ${flags.out} differs from --resume ${outDir}; a resumed ensemble stays in its own directory, so leave out --out`);
  }
  return {
    outDir,
    resume,
    members: given(command, 'members') ? flags.members : undefined,
    args: [
      ...command.args,
      ...memberFlags,
      // The members share the cores between them already.
      ...(resume || given(command, 'replicas') ? [] : ['--replicas', '1']),
    ],
    seed: flags.seed,
    tensorboard: flags.tensorboard,
    backend: flags.backend,
  };
}

function defaultOutDir(corpusPath: string): string {
  return path.join('runs', path.basename(corpusPath, path.extname(corpusPath)));
}

async function main(argv: string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  applyPreset(command, command.opts<TrainFlags>().preset);
  const flags = command.opts<TrainFlags>();
  if (command.args[0] === undefined && flags.resume === undefined) {
    throw new UserError("missing required argument 'corpus': give the text file to train on, or --resume RUN_DIR");
  }
  const ensemble = flags.resume === undefined ? flags.members > 1 : isEnsembleRun(flags.resume);
  if (ensemble) return trainEnsemble(ensemblePlan(command, flags, flags.resume ?? flags.out ?? defaultOutDir(command.args[0])));
  if (flags.resume !== undefined && flags.members > 1) {
    throw new UserError(`${flags.resume} holds one model's run, not an ensemble; resume it without --members`);
  }
  const resume = flags.resume === undefined ? undefined : resumedRun(command, flags, flags.resume);
  const corpusPath = command.args[0] ?? resume!.training.corpus;
  if (resume && command.args[0] === undefined && !fs.existsSync(corpusPath)) {
    throw new UserError(`the run's corpus ${corpusPath} is gone; give its new path first: rnn-train <corpus> --resume ${flags.resume}`);
  }
  const outDir = flags.resume ?? flags.out ?? defaultOutDir(corpusPath);

  // Everything that can be refused is checked before the (slow) backend loads.
  const run = new RunDirectory(outDir);
  run.prepare();
  run.lock();
  process.on('exit', () => run.unlock());
  // A member of an ensemble reports to the ensemble's trainer, which gives the hints what to do next.
  const member = isEnsembleMember();
  const reporter = member ? memberReporter() : createReporter();
  try {
    if (!resume && (run.hasCheckpoints() || isEnsembleRun(outDir))) {
      throw alreadyHoldsRun(outDir);
    }
    const corpus = await loadCorpus(corpusPath, reporter.loading());
    if (resume && corpus.sha256 !== resume.training.corpusSha256) {
      throw new UserError(`${corpusPath} is not the text this run was trained on (its checksum differs); give the run's original corpus as the first argument`);
    }
    if (corpus.replaced > 0) reporter.warn(`${corpus.replaced} stray bytes (invalid UTF-8 or NUL) in ${corpusPath} were read as U+FFFD (�)`);
    const { vocabulary } = corpus;
    const { train: trainIds, validation } = splitCorpus(corpus.ids, resume?.training.validationFraction ?? flags.valFrac);
    const model: Omit<ModelConfig, 'vocabSize'> = resume?.model ?? {
      cell: flags.cell,
      embeddingSize: flags.embedding,
      hiddenSize: flags.hidden,
      layers: flags.layers,
      dropout: flags.dropout,
      weightDrop: flags.weightDrop,
      inputDropout: flags.inputDropout,
    };
    // How many replicas is settled once the backend is known.
    const configured: Omit<TrainingConfig, 'replicas'> = resume?.training ?? {
      corpus: path.resolve(corpusPath),
      corpusSha256: corpus.sha256,
      seqLen: flags.seqLen,
      batchSize: flags.batchSize,
      optimizer: flags.optimizer,
      learningRate: flags.lr,
      schedule: { name: flags.schedule, warmupSteps: flags.warmup, decayRate: flags.lrDecay, decayAfter: flags.lrDecayAfter },
      clip: flags.clip,
      weightDecay: flags.weightDecay,
      emaDecay: flags.ema,
      precision: flags.precision,
      validationFraction: flags.valFrac,
      seed: flags.seed ?? randomSeed(),
    };
    if (!resume && flags.replicas !== undefined && flags.replicas > configured.batchSize) {
      throw new UserError(
        `--replicas ${flags.replicas} is more than the ${configured.batchSize} streams of --batch-size; each replica needs at least one stream`,
      );
    }
    if (configured.precision === 'bfloat16' && model.cell !== 'lstm') {
      throw new UserError(`--precision bfloat16 applies to the LSTM's fused kernels, not to a ${model.cell.toUpperCase()}; use --precision float32`);
    }
    const streams = new BatchStreams(trainIds, configured.batchSize, configured.seqLen);
    const stopping = stoppingRule(command, flags, resume?.options);
    const plannedSteps = stepLimit(stopping, streams.stepsPerEpoch);
    run.ensureSpace(checkpointBytes({ ...model, vocabSize: vocabulary.size }, configured, Number.isFinite(plannedSteps) ? plannedSteps : 1e5));

    const backend = await useBackend(flags.backend, {
      intraOpThreads: trainingIntraOpThreads(model, configured.batchSize, resume?.training.replicas ?? flags.replicas),
    });
    if (backend.warning) reporter.warn(backend.warning);
    const training: TrainingConfig = {
      ...configured,
      replicas: resume?.training.replicas ?? flags.replicas ?? preferredReplicas(backend.name, model, configured.batchSize),
    };
    if (training.precision === 'bfloat16' && backend.name !== 'tensorflow') {
      throw new UserError(`--precision bfloat16 needs the tensorflow backend (this run has ${backend.name}); use --precision float32`);
    }
    if (training.precision === 'bfloat16' && !tensorflowBackend()?.binding.lstmBackward) {
      throw new UserError(
        "--precision bfloat16 needs the tfjs-node addon that rnn-train's install builds, and this one was downloaded prebuilt; run `npm run setup-native`, or use --precision float32",
      );
    }
    if (training.precision === 'bfloat16' && cpuHasBfloat16() === false) {
      reporter.warn('this CPU has no bfloat16 instructions (AVX512-BF16 or AMX), so --precision bfloat16 may well be no faster than float32 here');
    }
    if (training.replicas > 1 && backend.name === 'tensorflow' && !threadSafeTensorflow()) {
      throw new UserError(
        `data-parallel replicas (--replicas ${training.replicas}) need a tfjs-node addon that is safe to use from several threads, as the one rnn-train builds ` +
          'when it installs TensorFlow from the pip wheel; this one was downloaded prebuilt and is not, ' +
          // A resumed run keeps its replicas (they are part of what makes the resume exact).
          (resume ? 'so resume this run with --backend wasm, or where rnn-train built the addon' : 'so use --replicas 1 (or --backend wasm)'),
      );
    }
    const parameters = parameterCount({ ...model, vocabSize: vocabulary.size });
    reporter.info(`backend: ${backend.name}${backend.name === 'tensorflow' ? ' (native TensorFlow kernels)' : ''}`);
    reporter.info(
      `corpus: ${corpusPath}, ${corpus.ids.length.toLocaleString('en-US')} characters, vocabulary ${vocabulary.size}; ` +
        `training ${trainIds.length}, validation ${validation.length}`,
    );
    reporter.info(
      `model: ${model.layers}×${model.hiddenSize} ${model.cell.toUpperCase()}, embedding ${model.embeddingSize}, ${parameters.toLocaleString('en-US')} parameters; ` +
        `${training.batchSize} streams × ${training.seqLen} characters per step, ${streams.stepsPerEpoch} steps per epoch` +
        `${training.replicas > 1 ? ` on ${training.replicas} threads (data-parallel)` : ''}` +
        `${training.precision === 'bfloat16' ? ', mixed precision (bfloat16 matmuls)' : ''}; seed ${training.seed}`,
    );
    const advice = [
      sizeAdvice(parameters, trainIds.length),
      resume
        ? undefined
        : precisionAdvice({
            precisionChosen: given(command, 'precision'),
            backend: backend.name,
            cell: model.cell,
            cpuBfloat16: cpuHasBfloat16(),
            smallSteps: hasSmallSteps(model, training.batchSize / training.replicas),
          }),
    ];
    for (const line of advice) if (line) reporter.info(line);
    if (resume) reporter.info(`resuming ${outDir} at step ${resume.progress.step} (epoch ${resume.progress.epoch})`);
    reporter.info(`checkpoints: ${outDir}/latest and ${outDir}/best; log: ${outDir}/${RUN_FILES.metrics}, plot: ${outDir}/${RUN_FILES.lossPlot}`);
    const tensorboard = flags.tensorboard === undefined ? undefined : await tensorboardEvents(flags.tensorboard, backend.name);
    if (flags.tensorboard !== undefined) reporter.info(`TensorBoard: tensorboard --logdir ${flags.tensorboard}`);

    const stop: StopSignal = { requested: false };
    let signalCode = 0;
    let signalName = '';
    const onSignal = (signal: NodeJS.Signals, code: number) => () => {
      if (stop.requested) process.exit(code);
      stop.requested = true;
      signalCode = code;
      signalName = signal;
      reporter.info(`${signal}: saving a checkpoint after this step (press Ctrl-C again to quit at once)`);
    };
    process.on('SIGINT', onSignal('SIGINT', 130));
    process.on('SIGTERM', onSignal('SIGTERM', 143));
    // A member whose ensemble's trainer is gone (killed) saves and stops, rather than train unwatched.
    process.on('disconnect', () => {
      if (!stop.requested) onSignal('SIGHUP', 129)();
    });

    const started = performance.now();
    const summary = await train(
      {
        vocabulary,
        train: trainIds,
        validation,
        model,
        training,
        options: {
          ...stopping,
          evalEvery: given(command, 'evalEvery') || !resume ? flags.evalEvery : resume.options.evalEvery,
          onNan: given(command, 'onNan') || !resume ? flags.onNan : resume.options.onNan,
          backend: backend.name,
        },
        run,
        resume,
      },
      combineEvents(reporter, metricsEvents(outDir, reporter.warn), tensorboard?.events ?? {}),
      stop,
    );
    tensorboard?.close();
    reporter.close();
    const best =
      summary.bestValidationLoss !== null
        ? `best validation loss ${formatLoss(summary.bestValidationLoss)}`
        : validation.length > 1
          ? 'not validated yet'
          : 'no validation split';
    const took = `${formatDuration((performance.now() - started) / 1000)}, ${formatDuration(summary.trainingSeconds)} of training in all`;
    if (summary.interrupted) {
      reporter.info(
        `stopped by ${signalName} after ${summary.steps} steps (${took}); ${best}${member ? '' : `; continue with: npx rnn-train --resume ${outDir}`}`,
      );
      return signalCode;
    }
    reporter.info(`done after ${summary.steps} steps (${took}); ${best}`);
    const losses = summary.history.validation.map(([, loss]) => loss);
    if (losses.length > 1) {
      reporter.info(
        `validation loss ${sparkline(losses)} ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} nats/char over ${losses.length} evaluations`,
      );
    }
    if (!member) reporter.info(`sample with: npx rnn-sample ${outDir}`);
    return 0;
  } finally {
    reporter.close();
    run.unlock();
  }
}

await runCommand('rnn-train', () => main(process.argv));
