import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import type { Corpus } from '../data/corpus.js';
import { parameterCount } from '../model/char-rnn.js';
import type { ModelConfig } from '../model/config.js';
import { checkPrecision, precisionCellError, preferredReplicas } from '../model/policy.js';
import type { ActiveBackend } from '../native/backend.js';
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
import { stepLimit } from '../train/trainer.js';
import { UserError } from '../util/errors.js';
import { randomSeed } from './common.js';

/**
 * The steps from rnn-train's command line to a run ready to train, each a function of what the
 * one before it settled: the request (flags and preset), the plan (where the run is and what it
 * continues), the configs, and the refusals once the backend is known.
 */

/** What the user asked for: the flags with the preset's values filled in, and how each was set. */
export interface TrainRequest {
  command: Command;
  flags: TrainFlags;
  /** The corpus argument, if given. */
  corpus?: string;
}

/** Whether the user chose this flag's value, directly or through --preset. */
export function given(request: TrainRequest, key: keyof TrainFlags): boolean {
  const source = request.command.getOptionValueSource(key);
  return source === 'cli' || source === 'preset';
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
  const { flags, command } = request;
  const run = new RunDirectory(dir);
  if (!run.hasLatest()) throw new UserError(`${dir} holds no checkpoint to resume; give the --out directory of an earlier rnn-train run`);
  const { checkpoint } = loadCheckpoint(run.latest);
  const differences = FIXED_SETTINGS.filter((s) => given(request, s.key) && flags[s.key] !== valueAt(checkpoint, s.at)).map(
    (s) =>
      `${longFlag(s)} ${flags[s.key]}${command.getOptionValueSource(s.key) === 'preset' ? ` from --preset ${flags.preset}` : ''} (the run has ${valueAt(checkpoint, s.at)})`,
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

/** The run's configs: the saved ones on resume, else the flags'. How many replicas waits for the backend. */
export interface RunConfigs {
  model: Omit<ModelConfig, 'vocabSize'>;
  training: Omit<TrainingConfig, 'replicas'>;
  /** The stopping rule and reporting options. */
  options: Omit<RunOptions, 'backend'>;
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
  return {
    model: resume?.model ?? (configSection(flags, 'model') as unknown as Omit<ModelConfig, 'vocabSize'>),
    training: resume?.training ?? fresh(),
    options: {
      ...stoppingRule(request, resume?.options),
      evalEvery: given(request, 'evalEvery') || !resume ? flags.evalEvery : resume.options.evalEvery,
      onNan: given(request, 'onNan') || !resume ? flags.onNan : resume.options.onNan,
    },
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
 * The training config, with its replicas settled now that the backend is known, after the
 * refusals that need the backend. Returns the warning to show, if any.
 */
export function settleTraining(
  request: TrainRequest,
  plan: TrainPlan,
  configs: RunConfigs,
  backend: ActiveBackend,
): { training: TrainingConfig; warning?: string } {
  const training: TrainingConfig = {
    ...configs.training,
    replicas:
      plan.resume?.training.replicas ??
      request.flags.replicas ??
      preferredReplicas(backend.name, configs.model, configs.training.batchSize, os.availableParallelism()),
  };
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
