import * as tf from '@tensorflow/tfjs-core';
import { WeightAverage } from './averaging.js';
import type { BackendName } from '../native/backend.js';
import { lstmCapabilities } from '../native/capabilities.js';
import { BatchStreams, type CharIds } from '../data/batches.js';
import type { CheckpointStore, RunOptions, TrainingConfig, TrainingProgress, TrainingSnapshot } from './config.js';
import { type NamedArrays, type LstmKernels, type ModelConfig } from '../model/config.js';
import { ParallelEngine } from './data-parallel.js';
import { LocalEngine, type Engine } from './engine.js';
import { UserError } from '../util/errors.js';
import { meanNll } from '../model/evaluate.js';
import { faultPoint, injectedNan } from '../util/faults.js';
import { CharRnn, initialWeights, parameterCount, unigramLogits, type Initialisation } from '../model/char-rnn.js';
import { coldStreams } from './carried.js';
import { createOptimizer, type Optimizer } from './optimizer.js';
import type { StopSignal, TrainEvents, TrainSummary } from './events.js';
import { decodeTrainingState, encodeTrainingState } from './training-state.js';
import { Rng } from '../util/random.js';
import { learningRateAt } from './schedule.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { sampleText } from '../sample/sampler.js';

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
  resume?: TrainingSnapshot;
  /** Samples written while training; none when absent. */
  samples?: SampleSchedule;
  /** How the weights start; model/char-rnn.ts's INITIALISATION unless a sweep tries another. */
  initialisation?: Initialisation;
}

/**
 * When and what the run samples, to show what the model writes. Sampling reads the weights and
 * draws from a generator of its own, seeded from the run's seed and the step, so a run with
 * samples takes exactly the steps of one without.
 */
export interface SampleSchedule {
  /** Every this many steps. */
  every: number;
  /** Characters to generate. */
  length: number;
  /** Text to start from; empty: as if after a newline. */
  prime: string;
  temperature: number;
}

/** Rollbacks allowed in one session before a diverging run is given up. */
const MAX_ROLLBACKS = 8;

/** The step at which the run ends by --steps or --epochs; Infinity when only a time budget ends it. */
export function stepLimit(options: Pick<RunOptions, 'steps' | 'epochs'>, stepsPerEpoch: number): number {
  const limits = [options.steps ?? Infinity, options.epochs === undefined ? Infinity : options.epochs * stepsPerEpoch];
  return Math.min(...limits);
}

/** What a run needs to continue from: the weights, the training-state arrays and where it stood. */
type Resumable = Pick<TrainingSnapshot, 'progress' | 'weights' | 'trainingState'>;

/** Where a fresh run starts: its initial weights, nothing else saved. */
function freshStart(initial: NamedArrays, dropoutRng: Rng): Resumable {
  const progress: TrainingProgress = {
    step: 0,
    epoch: 1,
    streamPosition: 0,
    trainingSeconds: 0,
    rngState: dropoutRng.getState(),
    optimizerStep: 0,
    learningRateScale: 1,
    bestValidationLoss: null,
    history: { train: [], validation: [] },
  };
  return { progress, weights: initial, trainingState: new Map() };
}

/**
 * One run of the training loop, with its state explicit: the model (and its average), the
 * optimizer, the streams, the engine that takes the steps, the dropout generator, and `progress`,
 * which together with the checkpoint's arrays is everything an exact resume needs.
 */
class TrainingRun {
  progress: TrainingProgress;
  /** The directory of the last checkpoint saved in this session, and at which step. */
  private latest = '';
  private savedStep = -1;
  private rollbacks = 0;
  /** The last steps' durations, for chars/s. */
  private readonly recent: number[] = [];
  private lastTrainLoss = Number.NaN;

  private constructor(
    private readonly setup: TrainSetup,
    private readonly events: TrainEvents,
    private readonly parts: RunParts,
  ) {
    this.progress = structuredClone(setup.resume?.progress ?? parts.fresh.progress);
  }

  static async start(setup: TrainSetup, events: TrainEvents): Promise<TrainingRun> {
    const { training, vocabulary } = setup;
    const config: ModelConfig = { ...setup.model, vocabSize: vocabulary.size };
    const rng = new Rng(training.seed);
    const initial = initialWeights(config, rng, setup.initialisation, unigramLogits(setup.train, vocabulary.size));
    const dropoutRng = new Rng(rng.int());
    const fresh = freshStart(initial, dropoutRng);
    const streams = new BatchStreams(setup.train, training.batchSize, training.seqLen);
    const limit = stepLimit(setup.options, streams.stepsPerEpoch);
    // Before any replica thread starts, which would have to be stopped again.
    const resumedAt = setup.resume?.progress;
    if (resumedAt && isFinished(resumedAt, limit, setup.options.timeBudgetSeconds)) {
      throw new UserError(`the run already reached its end at step ${resumedAt.step}; give a larger --steps, --epochs or --time-budget to train further`);
    }
    const model = new CharRnn(config, initial, { kernels: setup.kernels, precision: training.precision, capabilities: lstmCapabilities() });
    const average = training.emaDecay > 0 ? new WeightAverage(config, initial, training.emaDecay, setup.kernels) : undefined;
    const optimizer = createOptimizer(training.optimizer);
    const engine: Engine =
      training.replicas > 1
        ? await ParallelEngine.start(model, optimizer, training, tf.getBackend() as BackendName, setup.kernels)
        : new LocalEngine(model, optimizer, training.batchSize);
    const run = new TrainingRun(setup, events, { config, model, average, optimizer, engine, streams, dropoutRng, fresh, limit });
    if (setup.resume) run.restore(setup.resume);
    return run;
  }

  /** Fraction of the run done: by steps, or by training time against the time budget. */
  fractionDone(): number {
    const { limit } = this.parts;
    const budget = this.setup.options.timeBudgetSeconds;
    return Math.min(1, Math.max(Number.isFinite(limit) ? this.progress.step / limit : 0, budget ? this.progress.trainingSeconds / budget : 0));
  }

  finished(): boolean {
    return isFinished(this.progress, this.parts.limit, this.setup.options.timeBudgetSeconds);
  }

  private get totalSteps(): number | undefined {
    return Number.isFinite(this.parts.limit) ? this.parts.limit : undefined;
  }

  /** Puts the run back where `from` stood: weights, optimizer, streams, generator and carried state. */
  private restore(from: Resumable): void {
    const { model, average, optimizer, streams, dropoutRng, engine } = this.parts;
    this.progress = structuredClone(from.progress);
    const { slots, trainingWeights, carried } = decodeTrainingState(from.trainingState);
    // A fresh start has only its initial weights, which the average then starts from too.
    model.assignWeights(average && trainingWeights.size > 0 ? trainingWeights : from.weights);
    average?.model.assignWeights(from.weights);
    optimizer.restoreState({ step: this.progress.optimizerStep, slots }, model.params);
    streams.position = this.progress.streamPosition;
    dropoutRng.setState(this.progress.rngState);
    engine.restoreCarried(carried);
  }

  private async snapshot(): Promise<TrainingSnapshot> {
    const { config, model, average, optimizer, streams, dropoutRng, engine } = this.parts;
    const saved = await optimizer.readState();
    const trainingState = encodeTrainingState({
      slots: saved.slots,
      trainingWeights: average ? await model.readWeights() : new Map(),
      carried: await engine.readCarried(),
    });
    const { training, options, vocabulary } = this.setup;
    return {
      model: config,
      training,
      options,
      vocabulary: [...vocabulary.chars],
      progress: { ...this.progress, streamPosition: streams.position, rngState: dropoutRng.getState(), optimizerStep: saved.step },
      weights: await (average?.model ?? model).readWeights(),
      trainingState,
    };
  }

  /** Saves a checkpoint; a failed write leaves the previous one intact, and only ends the run at its end. */
  private async save(isBest: boolean, reason: 'eval' | 'final' | 'interrupt'): Promise<void> {
    try {
      this.latest = this.setup.run.save(await this.snapshot(), isBest);
      this.savedStep = this.progress.step;
      this.events.checkpoint(this.latest, reason);
    } catch (error) {
      if (!(error instanceof UserError) || reason !== 'eval') throw error;
      this.events.warn(`${error.message}; training goes on and tries again at the next evaluation`);
    }
  }

  private async validateAndSave(reason: 'eval' | 'final'): Promise<void> {
    const { validation, training } = this.setup;
    const progress = this.progress;
    let isBest = false;
    if (validation.length > 1) {
      const started = performance.now();
      const validationLoss = await meanNll([this.parts.average?.model ?? this.parts.model], validation, training.batchSize, training.seqLen);
      progress.history.validation.push([progress.step, validationLoss]);
      isBest = progress.bestValidationLoss === null || validationLoss < progress.bestValidationLoss;
      if (isBest) progress.bestValidationLoss = validationLoss;
      const seconds = (performance.now() - started) / 1000;
      this.events.evaluation({ step: progress.step, validationLoss, isBest, seconds, trainingSeconds: progress.trainingSeconds, history: progress.history });
    }
    await this.save(isBest, reason);
  }

  /** After a non-finite loss: back to the last checkpoint (or the start) with half the learning rate. */
  private rollBack(loss: number): void {
    const { run, options } = this.setup;
    const kept = run.hasLatest() ? `the last good checkpoint is kept in ${run.latest}` : 'no checkpoint had been saved yet';
    const diverged = `training diverged at step ${this.progress.step + 1} (loss ${loss})`;
    if (options.onNan === 'stop') throw new UserError(`${diverged}; ${kept}. Try a lower --lr or --clip, or --on-nan rollback`);
    if (++this.rollbacks > MAX_ROLLBACKS) throw new UserError(`${diverged} again after ${MAX_ROLLBACKS} rollbacks; ${kept}. Try a much lower --lr`);
    const scale = this.progress.learningRateScale / 2;
    const spent = this.progress.trainingSeconds;
    this.restore(run.hasLatest() ? run.readLatest() : this.parts.fresh);
    this.progress.learningRateScale = scale;
    this.progress.trainingSeconds = spent;
    this.events.warn(`${diverged}; rolled back to step ${this.progress.step} and halved the learning rate (now ${scale} × the schedule's)`);
  }

  reportStart(): void {
    const { config, streams } = this.parts;
    this.events.start({
      parameters: parameterCount(config),
      stepsPerEpoch: streams.stepsPerEpoch,
      charsPerStep: this.charsPerStep,
      startStep: this.progress.step,
      totalSteps: this.totalSteps,
      progress: this.fractionDone(),
      lastValidationLoss: this.progress.history.validation.at(-1)?.[1],
    });
  }

  private get charsPerStep(): number {
    return this.setup.training.batchSize * this.setup.training.seqLen;
  }

  /** One optimisation step (or a rollback, after a non-finite loss), then validation when it is due. */
  async step(): Promise<void> {
    const { streams, engine, dropoutRng, average, model } = this.parts;
    const { training, options } = this.setup;
    const progress = this.progress;
    if (streams.epochDone) {
      streams.rewind();
      progress.epoch++;
      engine.resetCarried();
    }
    const scheduled = learningRateAt(training.learningRate, training.schedule, { step: progress.step, epoch: progress.epoch, progress: this.fractionDone() });
    const learningRate = progress.learningRateScale * scheduled;
    const started = performance.now();
    const batch = { ...streams.next(), coldStreams: coldStreams(training.seed, progress.step, training.batchSize, training.stateReset) };
    const { loss: rawLoss, gradientNorm } = await engine.step(batch, dropoutRng, {
      clip: training.clip,
      learningRate,
      weightDecay: training.weightDecay,
    });
    const loss = injectedNan(progress.step + 1, rawLoss);
    const elapsed = performance.now() - started;
    faultPoint(`step-${progress.step + 1}`);
    if (!Number.isFinite(loss)) return this.rollBack(loss);
    this.lastTrainLoss = loss;
    progress.step++;
    average?.update(model, progress.step);
    progress.trainingSeconds += elapsed / 1000;
    progress.history.train.push([progress.step, loss]);
    this.recent.push(elapsed);
    if (this.recent.length > 20) this.recent.shift();
    const meanMs = this.recent.reduce((a, b) => a + b, 0) / this.recent.length;
    this.events.step({
      step: progress.step,
      totalSteps: this.totalSteps,
      progress: this.fractionDone(),
      epoch: progress.epoch,
      trainLoss: loss,
      gradientNorm,
      learningRate,
      charsPerSecond: (this.charsPerStep * 1000) / meanMs,
    });
    if (progress.step % options.evalEvery === 0 || this.finished()) await this.validateAndSave(this.finished() ? 'final' : 'eval');
    const { samples } = this.setup;
    if (samples && progress.step % samples.every === 0) this.sample(samples);
  }

  /** A passage from the weights that are validated and saved, reported as a `sample` event. */
  private sample(schedule: SampleSchedule): void {
    const { step } = this.progress;
    const seed = (this.setup.training.seed + step) >>> 0;
    const model = this.parts.average?.model ?? this.parts.model;
    const options = { length: schedule.length, prime: schedule.prime, temperature: schedule.temperature, seed };
    let text = '';
    for (const piece of sampleText([model], this.setup.vocabulary, options)) text += piece.text;
    this.events.sample({ step, seed, text });
  }

  /** After a stop was asked for: the step may just have been checkpointed by an evaluation; then that checkpoint is the one. */
  async saveOnStop(): Promise<void> {
    if (this.progress.step === 0) return;
    if (this.savedStep !== this.progress.step) await this.save(false, 'interrupt');
    else this.events.checkpoint(this.latest, 'interrupt');
  }

  summary(interrupted: boolean): TrainSummary {
    const { progress } = this;
    return {
      steps: progress.step,
      epochs: progress.epoch,
      finalTrainLoss: this.lastTrainLoss,
      bestValidationLoss: progress.bestValidationLoss,
      history: progress.history,
      trainingSeconds: progress.trainingSeconds,
      latest: this.latest,
      interrupted,
    };
  }

  dispose(): void {
    const { engine, optimizer, average, model } = this.parts;
    engine.dispose();
    optimizer.dispose();
    average?.dispose();
    model.dispose();
  }
}

/** What a TrainingRun is made of, fixed for its life. */
interface RunParts {
  config: ModelConfig;
  model: CharRnn;
  /** With --ema: the average, which is what is validated and checkpointed. */
  average?: WeightAverage;
  optimizer: Optimizer;
  engine: Engine;
  streams: BatchStreams;
  dropoutRng: Rng;
  /** Where a rollback without a checkpoint goes back to. */
  fresh: Resumable;
  /** The step at which the run ends; Infinity when only a time budget ends it. */
  limit: number;
}

function isFinished(progress: Pick<TrainingProgress, 'step' | 'trainingSeconds'>, limit: number, budget: number | undefined): boolean {
  return progress.step >= limit || (budget !== undefined && progress.trainingSeconds >= budget);
}

/**
 * The training loop: truncated BPTT over contiguous streams with the hidden state carried from one
 * chunk to the next (reset at each epoch), gradient clipping by global norm, the learning-rate
 * schedule, validation every `evalEvery` steps and at the end, and a checkpoint after every
 * validation. Everything that decides the next step lives in the checkpoint, so a resumed run
 * takes exactly the steps the uninterrupted one would have.
 */
export async function train(setup: TrainSetup, events: TrainEvents, stop: StopSignal): Promise<TrainSummary> {
  const run = await TrainingRun.start(setup, events);
  try {
    run.reportStart();
    while (!run.finished() && !stop.requested) {
      await run.step();
      // Let signal handlers run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (stop.requested) await run.saveOnStop();
  } finally {
    run.dispose();
  }
  return run.summary(stop.requested);
}
