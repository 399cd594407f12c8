import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Corpus } from '../data/corpus.js';
import { parameterCount } from '../model/char-rnn.js';
import type { ModelConfig } from '../model/config.js';
import { checkPrecision, precisionCellError, trainingParallelism, type TrainingParallelism } from '../model/policy.js';
import type { ActiveBackend, BackendName } from '../native/backend.js';
import { lstmCapabilities } from '../native/capabilities.js';
import { setupCommand } from '../native/installation.js';
import { RunDirectory, loadCheckpoint } from '../run/run-directory.js';
import {
  DEFAULT_EPOCHS,
  FIXED_SETTINGS,
  PRESETS,
  TRAIN_SETTINGS,
  configSection,
  longFlag,
  valueAt,
  type PresetName,
  type TrainFlags,
} from '../run/training-flags.js';
import type { RunOptions, TrainingConfig } from '../train/config.js';
import type { Checkpoint } from '../run/checkpoint.js';
import { stepLimit, type SampleSchedule } from '../train/trainer.js';
import { DEFAULT_TEMPERATURE } from '../sample/choose.js';
import { UserError } from '../util/errors.js';
import { randomSeed } from './common.js';
import type { EnsemblePlan } from './ensemble-training.js';

/**
 * What rnn-train's start-up steps (train.ts) decide, each a pure function of what the step before
 * settled: the request (flags and preset, and which the user gave), the plan (where the run is and
 * what it continues, or the ensemble it is), the configs with the replicas and threads on each
 * backend, and the refusals before and after the backend loads.
 */

/** How the user chose a flag's value: on the command line, or through --preset. */
export type FlagSource = 'cli' | 'preset';

/** What the user asked for: the flags with the preset's values filled in, and how each was set. */
export interface TrainRequest {
  flags: TrainFlags;
  /** The flags the user chose, and how; a flag left at its default is absent. */
  sources: Partial<Record<keyof TrainFlags, FlagSource>>;
  /** The corpus argument, if given. */
  corpus?: string;
}

/** Whether the user chose this flag's value, directly or through --preset. */
export function given(request: TrainRequest, key: keyof TrainFlags): boolean {
  return request.sources[key] !== undefined;
}

/** The request the parsed command holds, read once: the later steps see flags and sources, not commander. */
export function readRequest(command: Command): TrainRequest {
  const sources: TrainRequest['sources'] = {};
  for (const { key } of TRAIN_SETTINGS) {
    const source = command.getOptionValueSource(key);
    if (source === 'cli' || source === 'preset') sources[key] = source === 'cli' ? 'cli' : 'preset';
  }
  return { flags: command.opts<TrainFlags>(), sources, corpus: command.args[0] as string | undefined };
}

/** Fills in the preset's values for the flags the user did not give. */
export function applyPreset(command: Command, preset: PresetName | undefined): void {
  if (preset === undefined) return;
  for (const [key, value] of Object.entries(PRESETS[preset])) {
    if (command.getOptionValueSource(key) !== 'cli') command.setOptionValueWithSource(key, value, 'preset');
  }
}

/** Where a new run goes when no --out is given. */
export function defaultOutDir(corpusPath: string): string {
  return path.join('runs', path.basename(corpusPath, path.extname(corpusPath)));
}

/** Where the run is, what it trains on, and the checkpoint it continues from, if any. */
export interface TrainPlan {
  corpusPath: string;
  outDir: string;
  resume?: Checkpoint;
}

export function planRun(request: TrainRequest): TrainPlan {
  const { flags } = request;
  if (flags.resume !== undefined && flags.members > 1) {
    throw new UserError(`${flags.resume} holds one model's run, not an ensemble; resume it without --members`);
  }
  const resume = flags.resume === undefined ? undefined : resumedRun(request, flags.resume);
  const corpusPath = request.corpus ?? resume!.training.corpus;
  if (resume && request.corpus === undefined && !fs.existsSync(corpusPath)) {
    throw new UserError(`the run's corpus ${corpusPath} is gone; give its new path first: rnn-train <corpus> --resume ${flags.resume}`);
  }
  return { corpusPath, outDir: flags.resume ?? flags.out ?? defaultOutDir(corpusPath), resume };
}

/** On --resume: the saved run, after refusing any flag that contradicts it. */
function resumedRun(request: TrainRequest, dir: string): Checkpoint {
  const { flags, sources } = request;
  const run = new RunDirectory(dir);
  if (!run.hasLatest()) throw new UserError(`${dir} holds no checkpoint to resume; give the --out directory of an earlier rnn-train run`);
  const { checkpoint } = loadCheckpoint(run.latest);
  const differences = FIXED_SETTINGS.filter((s) => given(request, s.key) && flags[s.key] !== valueAt(checkpoint, s.at)).map(
    (s) => `${longFlag(s)} ${flags[s.key]}${sources[s.key] === 'preset' ? ` from --preset ${flags.preset}` : ''} (the run has ${valueAt(checkpoint, s.at)})`,
  );
  if (flags.out !== undefined && path.resolve(flags.out) !== path.resolve(dir)) differences.push(`--out ${flags.out} (the run is in ${dir})`);
  if (differences.length > 0) {
    const changeable = TRAIN_SETTINGS.filter((s) => s.resume === 'changeable').map(longFlag);
    throw new UserError(
      `--resume continues a run as it was configured, but these flags differ: ${differences.join(', ')}; ` +
        `only ${changeable.slice(0, -1).join(', ')} and ${changeable.at(-1)} may change`,
    );
  }
  return checkpoint;
}

/** The run's configs: the saved ones on resume, else the flags'. Which replicas run waits for the backend. */
export interface RunConfigs {
  model: Omit<ModelConfig, 'vocabSize'>;
  training: Omit<TrainingConfig, 'replicas'>;
  /** The stopping rule and reporting options. */
  options: Omit<RunOptions, 'backend'>;
  /** Replicas and threads on each backend the run may end up on (model/policy.ts). */
  parallelism: Record<BackendName, TrainingParallelism>;
}

export function runConfigs(request: TrainRequest, plan: TrainPlan, corpus: Corpus): RunConfigs {
  const { flags } = request;
  const { resume } = plan;
  const fresh = (): Omit<TrainingConfig, 'replicas'> => ({
    ...(configSection(flags, 'training') as unknown as Omit<TrainingConfig, 'replicas' | 'corpus' | 'corpusSha256' | 'seed'>),
    corpus: path.resolve(plan.corpusPath),
    corpusSha256: corpus.sha256,
    seed: flags.seed ?? randomSeed(),
  });
  const model = resume?.model ?? (configSection(flags, 'model') as unknown as Omit<ModelConfig, 'vocabSize'>);
  const training = resume?.training ?? fresh();
  return {
    model,
    training,
    options: {
      ...stoppingRule(request, resume?.options),
      evalEvery: given(request, 'evalEvery') || !resume ? flags.evalEvery : resume.options.evalEvery,
      onNan: given(request, 'onNan') || !resume ? flags.onNan : resume.options.onNan,
    },
    parallelism: trainingParallelism(model, training.batchSize, {
      cores: os.availableParallelism(),
      replicas: resume?.training.replicas ?? flags.replicas,
    }),
  };
}

const STOPPING_FLAGS = ['steps', 'epochs', 'timeBudget'] as const;

/** The stopping rule: the flags given now, else (on resume) the run's own, else the default epochs. */
function stoppingRule(request: TrainRequest, saved?: RunOptions): Pick<RunOptions, 'epochs' | 'steps' | 'timeBudgetSeconds'> {
  const { flags } = request;
  if (STOPPING_FLAGS.some((key) => given(request, key))) {
    return { epochs: flags.epochs, steps: flags.steps, timeBudgetSeconds: flags.timeBudget };
  }
  if (saved) return { epochs: saved.epochs, steps: saved.steps, timeBudgetSeconds: saved.timeBudgetSeconds };
  return { epochs: DEFAULT_EPOCHS };
}

/** Refusals that need only the configs, checked before the (slow) backend loads. */
export function refuseBeforeBackend(request: TrainRequest, plan: TrainPlan, configs: RunConfigs): void {
  const { replicas } = request.flags;
  if (!plan.resume && replicas !== undefined && replicas > configs.training.batchSize) {
    throw new UserError(
      `--replicas ${replicas} is more than the ${configs.training.batchSize} streams of --batch-size; each replica needs at least one stream`,
    );
  }
  const cellError = precisionCellError({ precision: configs.training.precision, cell: configs.model.cell });
  if (cellError) throw new UserError(cellError);
}

/** Bytes one checkpoint takes: weights, optimizer slots, carried state, and the loss history of the planned steps. */
export function checkpointBytes(configs: RunConfigs, vocabSize: number, stepsPerEpoch: number): number {
  const { model, training } = configs;
  const planned = stepLimit(configs.options, stepsPerEpoch);
  const plannedSteps = Number.isFinite(planned) ? planned : 1e5;
  // With --ema the optimizer's own weights are saved beside the averaged ones.
  const slots = { adam: 2, rmsprop: 1, sgd: 0 }[training.optimizer] + (training.emaDecay > 0 ? 1 : 0);
  const carried = 2 * model.layers * training.batchSize * model.hiddenSize;
  return 4 * (parameterCount({ ...model, vocabSize }) * (1 + slots) + carried) + 24 * Math.min(plannedSteps, 1e6) + 64_000;
}

/**
 * The training config, with the replicas for the backend that loaded, after the refusals that
 * need the backend. Returns the warning to show, if any.
 */
export function settleTraining(configs: RunConfigs, backend: ActiveBackend): { training: TrainingConfig; warning?: string } {
  const training: TrainingConfig = { ...configs.training, replicas: configs.parallelism[backend.name].replicas };
  const precision = checkPrecision({
    precision: training.precision,
    cell: configs.model.cell,
    backend: backend.name,
    capabilities: lstmCapabilities(),
    setupCommand: setupCommand({ force: true }),
  });
  if (precision.error) throw new UserError(precision.error);
  return { training, warning: precision.warning };
}

/** Flags that the ensemble's trainer sets for each member itself, or keeps for itself. */
const ENSEMBLE_FLAGS = new Set<string>(['out', 'resume', 'preset', 'members', 'seed', 'tensorboard']);

/** rnn-train --members: every flag the user gave (or the preset set) goes to each member. */
export function ensemblePlan(request: TrainRequest, outDir: string): EnsemblePlan {
  const { flags } = request;
  const memberFlags = TRAIN_SETTINGS.flatMap((setting) => {
    const { key } = setting;
    if (ENSEMBLE_FLAGS.has(key) || !given(request, key)) return [];
    const value = flags[key];
    return [longFlag(setting), key === 'timeBudget' ? `${value}s` : String(value)];
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
      ...(request.corpus === undefined ? [] : [request.corpus]),
      ...memberFlags,
      // The members share the cores between them already.
      ...(resume || given(request, 'replicas') ? [] : ['--replicas', '1']),
    ],
    seed: flags.seed,
    tensorboard: flags.tensorboard,
    backend: flags.backend,
  };
}

/**
 * The samples shown while training: every --sample-every steps, else at every evaluation when
 * someone is watching a terminal, else none.
 */
export function sampleSchedule(flags: TrainFlags, evalEvery: number): SampleSchedule | undefined {
  const every = flags.sampleEvery ?? (process.stderr.isTTY ? evalEvery : 0);
  if (every === 0) return undefined;
  return { every, length: flags.sampleLength, prime: flags.samplePrime, temperature: DEFAULT_TEMPERATURE };
}
