import * as tf from '@tensorflow/tfjs-core';
import { WeightAverage } from './averaging.js';
import type { BackendName } from '../native/backend.js';
import { BatchStreams, type CharIds } from '../data/batches.js';
import { isCarriedName } from './carried.js';
import type { Checkpoint, CheckpointStore, LossHistory, RunOptions, TrainingConfig, TrainingProgress } from './config.js';
import type { NamedArrays } from '../model/config.js';
import { ParallelEngine } from './data-parallel.js';
import { LocalEngine, type Engine } from './engine.js';
import { UserError } from '../util/errors.js';
import { meanNll } from '../model/evaluate.js';
import { faultPoint, injectedNan } from '../util/faults.js';
import { CharRnn, initialWeights, parameterCount } from '../model/char-rnn.js';
import type { LstmKernels, ModelConfig } from '../model/config.js';
import { createOptimizer } from './optimizer.js';
import { Rng } from '../util/random.js';
import { learningRateAt } from './schedule.js';
import type { Vocabulary } from '../data/vocabulary.js';

export interface TrainSetup {
  vocabulary: Vocabulary;
  train: CharIds;
  validation: CharIds;
  model: Omit<ModelConfig, 'vocabSize'>;
  training: TrainingConfig;
  /** At least one of epochs, steps and timeBudgetSeconds must be set. */
  options: RunOptions;
  run: CheckpointStore;
  /** LSTM implementation; the default picks the fastest one for the backend. */
  kernels?: LstmKernels;
  /** A checkpoint of this same run to continue from, exactly where it stopped. */
  resume?: Checkpoint;
}

export interface StartInfo {
  parameters: number;
  stepsPerEpoch: number;
  charsPerStep: number;
  /** Steps already taken (non-zero on resume). */
  startStep: number;
  /** Where the run ends in steps; undefined when only a time budget ends it. */
  totalSteps?: number;
  /** Fraction of the run already done. */
  progress: number;
}

export interface StepInfo {
  step: number;
  totalSteps?: number;
  progress: number;
  epoch: number;
  trainLoss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradientNorm: number;
  learningRate: number;
  charsPerSecond: number;
}

export interface EvaluationInfo {
  step: number;
  validationLoss: number;
  isBest: boolean;
  /** How long the evaluation took. */
  seconds: number;
  /** Training time of the run so far, what --time-budget counts. */
  trainingSeconds: number;
  /** Every loss of the run so far, for plots. */
  history: LossHistory;
}

export interface TrainEvents {
  start(info: StartInfo): void;
  step(info: StepInfo): void;
  evaluation(info: EvaluationInfo): void;
  checkpoint(dir: string, reason: 'eval' | 'final' | 'interrupt'): void;
  warn(message: string): void;
}

export interface TrainSummary {
  steps: number;
  epochs: number;
  finalTrainLoss: number;
  bestValidationLoss: number | null;
  history: LossHistory;
  trainingSeconds: number;
  latest: string;
  interrupted: boolean;
}

/** Several listeners as one: each event goes to every part that listens for it, in order. */
export function combineEvents(...parts: Partial<TrainEvents>[]): TrainEvents {
  return {
    start: (info) => parts.forEach((part) => part.start?.(info)),
    step: (info) => parts.forEach((part) => part.step?.(info)),
    evaluation: (info) => parts.forEach((part) => part.evaluation?.(info)),
    checkpoint: (dir, reason) => parts.forEach((part) => part.checkpoint?.(dir, reason)),
    warn: (message) => parts.forEach((part) => part.warn?.(message)),
  };
}

/** Lets the caller ask for a clean stop (e.g. on Ctrl-C); checked between steps. */
export interface StopSignal {
  requested: boolean;
}

/** Rollbacks allowed in one session before a diverging run is given up. */
const MAX_ROLLBACKS = 8;

/** The step at which the run ends by --steps or --epochs; Infinity when only a time budget ends it. */
export function stepLimit(options: Pick<RunOptions, 'steps' | 'epochs'>, stepsPerEpoch: number): number {
  const limits = [options.steps ?? Infinity, options.epochs === undefined ? Infinity : options.epochs * stepsPerEpoch];
  return Math.min(...limits);
}

const OPTIMIZER_PREFIX = 'optimizer/';
/** With --ema the checkpoint's weights are the average; the optimizer's own weights go here. */
const TRAINING_WEIGHTS_PREFIX = 'training-weights/';

/** What a run needs to continue from: the weights, the training-state arrays and where it stood. */
type Resumable = Pick<Checkpoint, 'progress' | 'weights' | 'trainingState'>;

/**
 * The training loop: truncated BPTT over contiguous streams with the hidden state carried from one
 * chunk to the next (reset at each epoch), gradient clipping by global norm, the learning-rate
 * schedule, validation every `evalEvery` steps and at the end, and a checkpoint after every
 * validation. Everything that decides the next step lives in the checkpoint, so a resumed run
 * takes exactly the steps the uninterrupted one would have.
 */
export async function train(setup: TrainSetup, events: TrainEvents, stop: StopSignal): Promise<TrainSummary> {
  const { training, options, run, vocabulary } = setup;
  const config: ModelConfig = { ...setup.model, vocabSize: vocabulary.size };
  const rng = new Rng(training.seed);
  const initial = initialWeights(config, rng);
  const dropoutRng = new Rng(rng.int());
  const fresh: Resumable = {
    progress: {
      step: 0,
      epoch: 1,
      streamPosition: 0,
      trainingSeconds: 0,
      rngState: dropoutRng.getState(),
      optimizerStep: 0,
      learningRateScale: 1,
      bestValidationLoss: null,
      history: { train: [], validation: [] },
    },
    weights: initial,
    trainingState: new Map(),
  };
  const model = new CharRnn(config, initial, setup.kernels, training.precision);
  const average = training.emaDecay > 0 ? new WeightAverage(config, initial, training.emaDecay, setup.kernels) : undefined;
  /** The weights that are validated and checkpointed. */
  const scored = average?.model ?? model;
  const optimizer = createOptimizer(training.optimizer);
  const streams = new BatchStreams(setup.train, training.batchSize, training.seqLen);
  const limit = stepLimit(options, streams.stepsPerEpoch);
  const budget = options.timeBudgetSeconds;
  const charsPerStep = training.batchSize * training.seqLen;

  let progress: TrainingProgress = structuredClone(setup.resume?.progress ?? fresh.progress);
  const fractionDone = (): number => Math.min(1, Math.max(Number.isFinite(limit) ? progress.step / limit : 0, budget ? progress.trainingSeconds / budget : 0));
  const finished = (): boolean => progress.step >= limit || (budget !== undefined && progress.trainingSeconds >= budget);
  // Before any replica thread starts, which would have to be stopped again.
  if (finished()) {
    throw new UserError(`the run already reached its end at step ${progress.step}; give a larger --steps, --epochs or --time-budget to train further`);
  }

  const engine: Engine =
    training.replicas > 1
      ? await ParallelEngine.start(model, optimizer, training, tf.getBackend() as BackendName, setup.kernels)
      : new LocalEngine(model, optimizer, training.batchSize);
  const restore = (from: Resumable): void => {
    progress = structuredClone(from.progress);
    const slots: NamedArrays = new Map();
    const trainingWeights = new Map<string, Float32Array>();
    const carried: NamedArrays = new Map();
    for (const [name, values] of from.trainingState) {
      if (name.startsWith(OPTIMIZER_PREFIX)) slots.set(name.slice(OPTIMIZER_PREFIX.length), values);
      if (name.startsWith(TRAINING_WEIGHTS_PREFIX)) trainingWeights.set(name.slice(TRAINING_WEIGHTS_PREFIX.length), values);
      if (isCarriedName(name)) carried.set(name, values);
    }
    // A fresh start has only its initial weights, which the average then starts from too.
    model.assignWeights(average && trainingWeights.size > 0 ? trainingWeights : from.weights);
    average?.model.assignWeights(from.weights);
    optimizer.restoreState({ step: progress.optimizerStep, slots }, model.params);
    streams.position = progress.streamPosition;
    dropoutRng.setState(progress.rngState);
    engine.restoreCarried(carried);
  };
  if (setup.resume) restore(setup.resume);

  const snapshot = async (): Promise<Checkpoint> => {
    const saved = await optimizer.readState();
    const trainingState: NamedArrays = new Map();
    for (const [name, values] of saved.slots) trainingState.set(OPTIMIZER_PREFIX + name, values);
    if (average) for (const [name, values] of await model.readWeights()) trainingState.set(TRAINING_WEIGHTS_PREFIX + name, values);
    for (const [name, values] of await engine.readCarried()) trainingState.set(name, values);
    return {
      model: config,
      training,
      options,
      vocabulary: [...vocabulary.chars],
      progress: { ...progress, streamPosition: streams.position, rngState: dropoutRng.getState(), optimizerStep: saved.step },
      weights: await scored.readWeights(),
      trainingState,
    };
  };

  let latest = '';
  let savedStep = -1;
  /** Saves a checkpoint; a failed write leaves the previous one intact, and only ends the run at its end. */
  const save = async (isBest: boolean, reason: 'eval' | 'final' | 'interrupt'): Promise<void> => {
    try {
      latest = run.save(await snapshot(), isBest);
      savedStep = progress.step;
      events.checkpoint(latest, reason);
    } catch (error) {
      if (!(error instanceof UserError) || reason !== 'eval') throw error;
      events.warn(`${error.message}; training goes on and tries again at the next evaluation`);
    }
  };

  const validateAndSave = async (reason: 'eval' | 'final'): Promise<void> => {
    let isBest = false;
    if (setup.validation.length > 1) {
      const started = performance.now();
      const validationLoss = await meanNll([scored], setup.validation, training.batchSize, training.seqLen);
      progress.history.validation.push([progress.step, validationLoss]);
      isBest = progress.bestValidationLoss === null || validationLoss < progress.bestValidationLoss;
      if (isBest) progress.bestValidationLoss = validationLoss;
      events.evaluation({
        step: progress.step,
        validationLoss,
        isBest,
        seconds: (performance.now() - started) / 1000,
        trainingSeconds: progress.trainingSeconds,
        history: progress.history,
      });
    }
    await save(isBest, reason);
  };

  /** After a non-finite loss: back to the last checkpoint (or the start) with half the learning rate. */
  let rollbacks = 0;
  const rollBack = (loss: number): void => {
    const kept = run.hasLatest() ? `the last good checkpoint is kept in ${run.latest}` : 'no checkpoint had been saved yet';
    const diverged = `training diverged at step ${progress.step + 1} (loss ${loss})`;
    if (options.onNan === 'stop') throw new UserError(`${diverged}; ${kept}. Try a lower --lr or --clip, or --on-nan rollback`);
    if (++rollbacks > MAX_ROLLBACKS) throw new UserError(`${diverged} again after ${MAX_ROLLBACKS} rollbacks; ${kept}. Try a much lower --lr`);
    const scale = progress.learningRateScale / 2;
    const spent = progress.trainingSeconds;
    restore(run.hasLatest() ? run.readLatest() : fresh);
    progress.learningRateScale = scale;
    progress.trainingSeconds = spent;
    events.warn(`${diverged}; rolled back to step ${progress.step} and halved the learning rate (now ${scale} × the schedule's)`);
  };

  events.start({
    parameters: parameterCount(config),
    stepsPerEpoch: streams.stepsPerEpoch,
    charsPerStep,
    startStep: progress.step,
    totalSteps: Number.isFinite(limit) ? limit : undefined,
    progress: fractionDone(),
  });
  let lastTrainLoss = Number.NaN;
  const recent: number[] = [];
  try {
    while (!finished() && !stop.requested) {
      if (streams.epochDone) {
        streams.rewind();
        progress.epoch++;
        engine.resetCarried();
      }
      const learningRate =
        progress.learningRateScale *
        learningRateAt(training.learningRate, training.schedule, { step: progress.step, epoch: progress.epoch, progress: fractionDone() });
      const started = performance.now();
      const { loss: rawLoss, gradientNorm } = await engine.step(streams.next(), dropoutRng, {
        clip: training.clip,
        learningRate,
        weightDecay: training.weightDecay,
      });
      const loss = injectedNan(progress.step + 1, rawLoss);
      const elapsed = performance.now() - started;
      faultPoint(`step-${progress.step + 1}`);
      if (!Number.isFinite(loss)) {
        rollBack(loss);
        continue;
      }
      lastTrainLoss = loss;
      progress.step++;
      average?.update(model, progress.step);
      progress.trainingSeconds += elapsed / 1000;
      progress.history.train.push([progress.step, loss]);
      recent.push(elapsed);
      if (recent.length > 20) recent.shift();
      const meanMs = recent.reduce((a, b) => a + b, 0) / recent.length;
      events.step({
        step: progress.step,
        totalSteps: Number.isFinite(limit) ? limit : undefined,
        progress: fractionDone(),
        epoch: progress.epoch,
        trainLoss: loss,
        gradientNorm,
        learningRate,
        charsPerSecond: (charsPerStep * 1000) / meanMs,
      });
      if (progress.step % options.evalEvery === 0 || finished()) await validateAndSave(finished() ? 'final' : 'eval');
      // Let signal handlers run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (stop.requested && progress.step > 0) {
      // The step may just have been checkpointed by an evaluation; then that checkpoint is the one.
      if (savedStep !== progress.step) await save(false, 'interrupt');
      else events.checkpoint(latest, 'interrupt');
    }
  } finally {
    engine.dispose();
    optimizer.dispose();
    average?.dispose();
    model.dispose();
  }
  return {
    steps: progress.step,
    epochs: progress.epoch,
    finalTrainLoss: lastTrainLoss,
    bestValidationLoss: progress.bestValidationLoss,
    history: progress.history,
    trainingSeconds: progress.trainingSeconds,
    latest,
    interrupted: stop.requested,
  };
}
