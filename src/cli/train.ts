import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { BatchStreams } from '../data/batches.js';
import { loadCorpus, splitCorpus, type Corpus, type Split } from '../data/corpus.js';
import { parameterCount } from '../model/char-rnn.js';
import type { ModelConfig } from '../model/config.js';
import { hasSmallSteps, precisionAdvice, trainingIntraOpThreads } from '../model/policy.js';
import { useBackend, type ActiveBackend } from '../native/backend.js';
import { cpuHasBfloat16 } from '../native/capabilities.js';
import { learningRateWarning, nextSteps, sizeAdvice, undertrainedHint, unigramEntropy } from '../report/advice.js';
import { metricsEvents } from '../report/metrics.js';
import { sparkline } from '../report/plot.js';
import { createReporter, formatDuration, formatLoss, type Reporter } from '../report/progress.js';
import { tensorboardEvents } from '../report/tensorboard.js';
import { isEnsembleRun } from '../run/ensemble-run.js';
import { RUN_FILES } from '../run/files.js';
import { RunDirectory, alreadyHoldsRun } from '../run/run-directory.js';
import { TRAIN_SETTINGS, defaultOf, type Setting, type TrainFlags } from '../run/training-flags.js';
import type { TrainingConfig } from '../train/config.js';
import { combineEvents, type StopSignal, type TrainSummary } from '../train/events.js';
import { train, type SampleSchedule } from '../train/trainer.js';
import { DEFAULT_TEMPERATURE } from '../sample/choose.js';
import { UserError } from '../util/errors.js';
import { commanderParser, oneLine, runCommand, withVersion } from './common.js';
import { isEnsembleMember, memberReporter, trainEnsemble, type EnsemblePlan } from './ensemble-training.js';
import {
  applyPreset,
  checkpointBytes,
  defaultOutDir,
  given,
  planRun,
  refuseBeforeBackend,
  runConfigs,
  settleTraining,
  type RunConfigs,
  type TrainPlan,
  type TrainRequest,
} from './train-plan.js';

/** A commander option from a setting's declaration (run/training-flags.ts). */
function optionFor(setting: Setting): Option {
  const option = new Option(setting.flags, setting.description);
  if (setting.choices) option.choices(setting.choices);
  if (setting.parse) option.argParser(commanderParser(setting.parse));
  const fallback = defaultOf(setting);
  if (fallback !== undefined) option.default(fallback);
  return option;
}

function trainCommand(): Command {
  const command = withVersion(new Command('rnn-train'))
    .description('Train a character-level language model (stacked LSTM, GRU or vanilla RNN) on a UTF-8 text file.')
    .argument('[corpus]', "UTF-8 text file to learn from (with --resume: the run's own corpus unless given)");
  for (const setting of TRAIN_SETTINGS) command.addOption(optionFor(setting));
  return command.configureOutput({ outputError: (text, write) => write(oneLine('rnn-train', text)) }).exitOverride();
}

function parseRequest(argv: string[]): TrainRequest {
  const command = trainCommand();
  command.parse(argv);
  applyPreset(command, command.opts<TrainFlags>().preset);
  const request = { command, flags: command.opts<TrainFlags>(), corpus: command.args[0] as string | undefined };
  if (request.corpus === undefined && request.flags.resume === undefined) {
    throw new UserError("missing required argument 'corpus': give the text file to train on, or --resume RUN_DIR");
  }
  return request;
}

/** Flags that the ensemble's trainer sets for each member itself, or keeps for itself. */
const ENSEMBLE_FLAGS = new Set<string>(['out', 'resume', 'preset', 'members', 'seed', 'tensorboard']);

/** rnn-train --members: every flag the user gave (or the preset set) goes to each member. */
function ensemblePlan(request: TrainRequest, outDir: string): EnsemblePlan {
  const { command, flags } = request;
  const memberFlags = command.options.flatMap((option) => {
    const key = option.attributeName() as keyof TrainFlags;
    if (ENSEMBLE_FLAGS.has(key) || !given(request, key)) return [];
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
    members: given(request, 'members') ? flags.members : undefined,
    args: [
      ...command.args,
      ...memberFlags,
      // The members share the cores between them already.
      ...(resume || given(request, 'replicas') ? [] : ['--replicas', '1']),
    ],
    seed: flags.seed,
    tensorboard: flags.tensorboard,
    backend: flags.backend,
  };
}

/** The corpus, checked to be the run's own on resume. */
async function readCorpus(plan: TrainPlan, reporter: Reporter): Promise<Corpus> {
  const corpus = await loadCorpus(plan.corpusPath, { onProgress: reporter.loading() });
  if (plan.resume && corpus.sha256 !== plan.resume.training.corpusSha256) {
    throw new UserError(
      `${plan.corpusPath} is not the text this run was trained on (its checksum differs); give the run's original corpus as the first argument`,
    );
  }
  if (corpus.replaced > 0) reporter.warn(`${corpus.replaced} stray bytes (invalid UTF-8 or NUL) in ${plan.corpusPath} were read as U+FFFD (�)`);
  return corpus;
}

/** Everything the header says about a run before its first step. */
interface Header {
  request: TrainRequest;
  plan: TrainPlan;
  backend: ActiveBackend;
  corpus: Corpus;
  split: Split;
  model: Omit<ModelConfig, 'vocabSize'>;
  training: TrainingConfig;
  stepsPerEpoch: number;
}

function headerLines({ request, plan, backend, corpus, split, model, training, stepsPerEpoch }: Header): string[] {
  const parameters = parameterCount({ ...model, vocabSize: corpus.vocabulary.size });
  const advice = [
    sizeAdvice(parameters, split.train.length),
    plan.resume
      ? undefined
      : precisionAdvice({
          precisionChosen: given(request, 'precision'),
          backend: backend.name,
          cell: model.cell,
          cpuBfloat16: cpuHasBfloat16(),
          smallSteps: hasSmallSteps(model, training.batchSize / training.replicas),
        }),
  ];
  return [
    `backend: ${backend.name}${backend.name === 'tensorflow' ? ' (native TensorFlow kernels)' : ''}`,
    `corpus: ${plan.corpusPath}, ${corpus.ids.length.toLocaleString('en-US')} characters, vocabulary ${corpus.vocabulary.size}; ` +
      `training ${split.train.length}, validation ${split.validation.length}`,
    `model: ${model.layers}×${model.hiddenSize} ${model.cell.toUpperCase()}, embedding ${model.embeddingSize}, ${parameters.toLocaleString('en-US')} parameters; ` +
      `${training.batchSize} streams × ${training.seqLen} characters per step, ${stepsPerEpoch} steps per epoch` +
      `${training.replicas > 1 ? ` on ${training.replicas} threads (data-parallel)` : ''}` +
      `${training.precision === 'bfloat16' ? ', mixed precision (bfloat16 matmuls)' : ''}; seed ${training.seed}`,
    ...advice.filter((line): line is string => line !== undefined),
    ...(plan.resume ? [`resuming ${plan.outDir} at step ${plan.resume.progress.step} (epoch ${plan.resume.progress.epoch})`] : []),
    `checkpoints: ${plan.outDir}/${RUN_FILES.latest} and ${plan.outDir}/${RUN_FILES.best}; log: ${plan.outDir}/${RUN_FILES.metrics}, plot: ${plan.outDir}/${RUN_FILES.lossPlot}`,
  ];
}

/**
 * Ctrl-C (or SIGTERM): before training starts, it ends the run at once and leaves nothing behind;
 * once training runs, it asks for a clean stop after the step, and a second one quits at once,
 * with the terminal restored and a line saying what is on disk.
 */
interface Signals {
  stop: StopSignal;
  /** The signal that stopped the run, and the exit code it calls for. */
  received?: { name: string; code: number };
  /** Set when the first step is about to be taken. */
  training: boolean;
}

function watchSignals(reporter: Reporter, run: RunDirectory, member: boolean): Signals {
  const signals: Signals = { stop: { requested: false }, training: false };
  const quit = (name: NodeJS.Signals, code: number): never => {
    reporter.close();
    // The bar hides the cursor and colours the line; a quit mid-draw must not leave them so.
    if (process.stderr.isTTY) process.stderr.write('\x1b[0m\x1b[?25h');
    if (!signals.training) run.discardIfEmpty();
    process.stderr.write(`rnn-train: ${name}: ${onDisk(run, member)}\n`);
    process.exit(code);
  };
  const onSignal = (name: NodeJS.Signals, code: number) => () => {
    if (signals.stop.requested || !signals.training) quit(name, code);
    signals.stop.requested = true;
    signals.received = { name, code };
    reporter.info(`${name}: saving a checkpoint after this step (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSignal('SIGINT', 130));
  process.on('SIGTERM', onSignal('SIGTERM', 143));
  // A member whose ensemble's trainer is gone (killed) saves and stops, rather than train unwatched.
  process.on('disconnect', () => {
    if (!signals.stop.requested) onSignal('SIGHUP', 129)();
  });
  return signals;
}

/** What a quit leaves on disk, and how to go on from it. */
function onDisk(run: RunDirectory, member: boolean): string {
  if (!run.hasLatest()) return 'stopped; no checkpoint had been saved, so nothing of this run is kept';
  const resume = member ? '' : `; continue with: npx rnn-train --resume ${run.dir}`;
  return `stopped at once; the last checkpoint is kept in ${path.join(run.dir, fs.readlinkSync(run.latest))}${resume}`;
}

/** The closing lines, and the exit code. */
function reportSummary(
  summary: TrainSummary,
  context: { reporter: Reporter; signals: Signals; outDir: string; member: boolean; validated: boolean; seconds: number; unigramEntropy: number },
): number {
  const { reporter, outDir, member } = context;
  const best =
    summary.bestValidationLoss !== null
      ? `best validation loss ${formatLoss(summary.bestValidationLoss)}`
      : context.validated
        ? 'not validated yet'
        : 'no validation split';
  const took = `${formatDuration(context.seconds)}, ${formatDuration(summary.trainingSeconds)} of training in all`;
  if (summary.interrupted) {
    const by = context.signals.received;
    reporter.info(`stopped by ${by?.name} after ${summary.steps} steps (${took}); ${best}${member ? '' : `; continue with: npx rnn-train --resume ${outDir}`}`);
    return by?.code ?? 130;
  }
  reporter.info(`done after ${summary.steps} steps (${took}); ${best}`);
  const losses = summary.history.validation.map(([, loss]) => loss);
  if (losses.length > 1) {
    reporter.info(
      `validation loss ${sparkline(losses)} ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} nats/char over ${losses.length} evaluations`,
    );
  }
  const undertrained = undertrainedHint(summary.bestValidationLoss, context.unigramEntropy);
  if (undertrained) reporter.info(undertrained);
  if (!member) nextSteps(outDir).forEach((line) => reporter.info(line));
  return 0;
}

/**
 * The samples shown while training: every --sample-every steps, else at every evaluation when
 * someone is watching a terminal, else none.
 */
function sampleSchedule(flags: TrainFlags, evalEvery: number): SampleSchedule | undefined {
  const every = flags.sampleEvery ?? (process.stderr.isTTY ? evalEvery : 0);
  if (every === 0) return undefined;
  return { every, length: flags.sampleLength, prime: flags.samplePrime, temperature: DEFAULT_TEMPERATURE };
}

/** One model's run as the command holds it: what was asked, the plan, its directory and where it reports. */
interface RunContext {
  request: TrainRequest;
  plan: TrainPlan;
  run: RunDirectory;
  reporter: Reporter;
  /** A member of an ensemble reports to the ensemble's trainer, which gives the hints what to do next. */
  member: boolean;
  signals: Signals;
}

/** The run's data and configs, once everything that can be refused before the backend loads has been. */
interface CheckedRun {
  corpus: Corpus;
  split: Split;
  configs: RunConfigs;
  streams: BatchStreams;
}

/** What training needs from the backend: the backend itself, the settled training config, and the TensorBoard writer. */
interface StartedRun {
  backend: ActiveBackend;
  training: TrainingConfig;
  tensorboard?: Awaited<ReturnType<typeof tensorboardEvents>>;
}

/** Reads the corpus and settles the configs, refusing what cannot run (with --out's space checked) before the slow backend loads. */
async function checkRun({ request, plan, run, reporter }: RunContext): Promise<CheckedRun> {
  if (!plan.resume && (run.hasCheckpoints() || isEnsembleRun(plan.outDir))) throw alreadyHoldsRun(plan.outDir);
  const corpus = await readCorpus(plan, reporter);
  const split = splitCorpus(corpus.ids, plan.resume?.training.validationFraction ?? request.flags.valFrac);
  const configs: RunConfigs = runConfigs(request, plan, corpus);
  refuseBeforeBackend(request, plan, configs);
  const lrWarning = plan.resume ? undefined : learningRateWarning(configs.training.optimizer, configs.training.learningRate);
  if (lrWarning) reporter.warn(lrWarning);
  const streams = new BatchStreams(split.train, configs.training.batchSize, configs.training.seqLen);
  run.ensureSpace(checkpointBytes(configs, corpus.vocabulary.size, streams.stepsPerEpoch));
  return { corpus, split, configs, streams };
}

/** Loads the backend, settles what depends on it, and prints the run's header. */
async function startRun({ request, plan, reporter }: RunContext, { corpus, split, configs, streams }: CheckedRun): Promise<StartedRun> {
  const { flags } = request;
  const { model } = configs;
  const replicas = plan.resume?.training.replicas ?? flags.replicas;
  const backend = await useBackend(flags.backend, {
    intraOpThreads: trainingIntraOpThreads(model, configs.training.batchSize, { cores: os.availableParallelism(), replicas }),
  });
  if (backend.warning) reporter.warn(backend.warning);
  const { training, warning } = settleTraining(request, plan, configs, backend);
  if (warning) reporter.warn(warning);
  for (const line of headerLines({ request, plan, backend, corpus, split, model, training, stepsPerEpoch: streams.stepsPerEpoch })) reporter.info(line);
  if (flags.tensorboard === undefined) return { backend, training };
  const tensorboard = await tensorboardEvents(flags.tensorboard, backend.name);
  reporter.info(`TensorBoard: tensorboard --logdir ${flags.tensorboard}`);
  return { backend, training, tensorboard };
}

/** Trains to the end (or a signal) and reports the summary; returns the exit code. */
async function runTraining(context: RunContext, { corpus, split, configs }: CheckedRun, { backend, training, tensorboard }: StartedRun): Promise<number> {
  const { request, plan, run, reporter, member, signals } = context;
  signals.training = true;
  const started = performance.now();
  const setup = {
    vocabulary: corpus.vocabulary,
    train: split.train,
    validation: split.validation,
    model: configs.model,
    training,
    options: { ...configs.options, backend: backend.name },
    run,
    resume: plan.resume,
    samples: sampleSchedule(request.flags, configs.options.evalEvery),
  };
  const summary = await train(setup, combineEvents(reporter, metricsEvents(plan.outDir, reporter.warn), tensorboard?.events ?? {}), signals.stop);
  tensorboard?.close();
  reporter.close();
  return reportSummary(summary, {
    reporter,
    signals,
    outDir: plan.outDir,
    member,
    validated: split.validation.length > 1,
    seconds: (performance.now() - started) / 1000,
    unigramEntropy: unigramEntropy(corpus.ids, corpus.vocabulary.size),
  });
}

/** One model's run, from its plan to its summary, reporting as it goes. */
async function trainRun(context: RunContext): Promise<number> {
  const checked = await checkRun(context);
  return runTraining(context, checked, await startRun(context, checked));
}

async function main(argv: string[]): Promise<number> {
  const request = parseRequest(argv);
  const { flags } = request;
  const ensemble = flags.resume === undefined ? flags.members > 1 : isEnsembleRun(flags.resume);
  if (ensemble) return trainEnsemble(ensemblePlan(request, flags.resume ?? flags.out ?? defaultOutDir(request.corpus!)));
  const plan = planRun(request);
  // Everything that can be refused is checked before the (slow) backend loads.
  const run = new RunDirectory(plan.outDir);
  const member = isEnsembleMember();
  const reporter = member ? memberReporter() : createReporter();
  // Before the directory is made, so that a signal at any moment of the start-up leaves nothing.
  const signals = watchSignals(reporter, run, member);
  run.prepare();
  run.lock();
  process.on('exit', () => run.unlock());
  try {
    return await trainRun({ request, plan, run, reporter, member, signals });
  } finally {
    reporter.close();
    run.discardIfEmpty();
    run.unlock();
  }
}

await runCommand('rnn-train', () => main(process.argv));
