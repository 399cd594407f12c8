import { Command, Option } from 'commander';
import { streamGeometry } from '../data/batches.js';
import { loadCorpus, splitCorpus, type Corpus, type Split } from '../data/corpus.js';
import { useBackend, type ActiveBackend } from '../native/backend.js';
import { learningRateWarning, unigramEntropy } from '../report/advice.js';
import { metricsEvents } from '../report/metrics.js';
import { createReporter, type Reporter } from '../report/progress.js';
import { tensorboardEvents } from '../report/tensorboard.js';
import { isEnsembleRun } from '../run/ensemble-run.js';
import { RunDirectory, alreadyHoldsRun } from '../run/run-directory.js';
import { TRAIN_SETTINGS, defaultOf, type Setting, type TrainFlags } from '../run/training-flags.js';
import type { TrainingConfig } from '../train/config.js';
import { combineEvents } from '../train/events.js';
import { train } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { commanderParser, oneLine, runCommand, withVersion } from './common.js';
import { isEnsembleMember, memberReporter, trainEnsemble } from './ensemble-training.js';
import {
  applyPreset,
  checkpointBytes,
  defaultOutDir,
  ensemblePlan,
  planRun,
  readRequest,
  refuseBeforeBackend,
  runConfigs,
  sampleSchedule,
  settleTraining,
  type RunConfigs,
  type TrainPlan,
  type TrainRequest,
} from './train-plan.js';
import { headerLines, reportSummary } from './train-report.js';
import { watchSignals, type Signals } from './train-signals.js';

/**
 * rnn-train's start-up, as named steps, each taking what the ones before it settled:
 * parse (the flags, and which the user gave) → plan (where the run is, what it continues, or the
 * ensemble it is) → check (the corpus and configs, refusing all that can be refused before the
 * slow backend loads) → start (the backend, then what depends on it, and the header) → run.
 */

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

/** Step 1: the command line, read once into flags and the sources of the ones the user gave. */
function parse(argv: string[]): TrainRequest {
  const command = trainCommand();
  command.parse(argv);
  applyPreset(command, command.opts<TrainFlags>().preset);
  const request = readRequest(command);
  if (request.corpus === undefined && request.flags.resume === undefined) {
    throw new UserError("missing required argument 'corpus': give the text file to train on, or --resume RUN_DIR");
  }
  return request;
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
  stepsPerEpoch: number;
}

/** What training needs from the backend: the backend itself, the settled training config, and the TensorBoard writer. */
interface StartedRun {
  backend: ActiveBackend;
  training: TrainingConfig;
  tensorboard?: Awaited<ReturnType<typeof tensorboardEvents>>;
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

/** Step 3: reads the corpus and settles the configs, refusing what cannot run (with --out's space checked). */
async function check({ request, plan, run, reporter }: RunContext): Promise<CheckedRun> {
  if (!plan.resume && (run.hasCheckpoints() || isEnsembleRun(plan.outDir))) throw alreadyHoldsRun(plan.outDir);
  const corpus = await readCorpus(plan, reporter);
  const split = splitCorpus(corpus.ids, plan.resume?.training.validationFraction ?? request.flags.valFrac);
  const configs = runConfigs(request, plan, corpus);
  refuseBeforeBackend(request, plan, configs);
  const lrWarning = plan.resume ? undefined : learningRateWarning(configs.training.optimizer, configs.training.learningRate);
  if (lrWarning) reporter.warn(lrWarning);
  const { stepsPerEpoch } = streamGeometry(split.train.length, configs.training.batchSize, configs.training.seqLen);
  run.ensureSpace(checkpointBytes(configs, corpus.vocabulary.size, stepsPerEpoch));
  return { corpus, split, configs, stepsPerEpoch };
}

/** Step 4: loads the backend with the threads decided for it, settles what depends on it, and prints the header. */
async function start({ request, plan, reporter }: RunContext, checked: CheckedRun): Promise<StartedRun> {
  const { flags } = request;
  const { configs } = checked;
  const backend = await useBackend(flags.backend, { intraOpThreads: configs.parallelism.tensorflow.intraOpThreads });
  if (backend.warning) reporter.warn(backend.warning);
  const { training, warning } = settleTraining(configs, backend);
  if (warning) reporter.warn(warning);
  const { corpus, split, stepsPerEpoch } = checked;
  for (const line of headerLines({ request, plan, backend, corpus, split, model: configs.model, training, stepsPerEpoch })) reporter.info(line);
  if (flags.tensorboard === undefined) return { backend, training };
  const tensorboard = await tensorboardEvents(flags.tensorboard, backend.name);
  reporter.info(`TensorBoard: tensorboard --logdir ${flags.tensorboard}`);
  return { backend, training, tensorboard };
}

/** Step 5: trains to the end (or a signal) and reports the summary; returns the exit code. */
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

/**
 * The run directory, made and locked for the steps that use it, and left as it was found if they
 * end before a checkpoint. Signals are watched before the directory is made, so that one at any
 * moment of the start-up leaves nothing.
 */
async function inRunDirectory(request: TrainRequest, plan: TrainPlan, steps: (context: RunContext) => Promise<number>): Promise<number> {
  const run = new RunDirectory(plan.outDir);
  const member = isEnsembleMember();
  const reporter = member ? memberReporter() : createReporter();
  const signals = watchSignals(reporter, run, member);
  run.prepare();
  run.lock();
  process.on('exit', () => run.unlock());
  try {
    return await steps({ request, plan, run, reporter, member, signals });
  } finally {
    reporter.close();
    run.discardIfEmpty();
    run.unlock();
  }
}

async function main(argv: string[]): Promise<number> {
  const request = parse(argv);
  const { flags } = request;
  if (flags.resume === undefined ? flags.members > 1 : isEnsembleRun(flags.resume)) {
    return trainEnsemble(ensemblePlan(request, flags.resume ?? flags.out ?? defaultOutDir(request.corpus!)));
  }
  const plan = planRun(request);
  return inRunDirectory(request, plan, async (context) => {
    const checked = await check(context);
    return runTraining(context, checked, await start(context, checked));
  });
}

await runCommand('rnn-train', () => main(process.argv));
