import { tidy } from './tidy.js';
import type * as tf from '@tensorflow/tfjs-core';
import { BatchStreams, type Batch } from './batches.js';
import type { Checkpoint, LossHistory, TrainingConfig } from './checkpoint.js';
import { UserError } from './errors.js';
import { meanNll } from './evaluate.js';
import {
  CharLstm,
  disposeState,
  initialWeights,
  parameterCount,
  type LstmKernels,
  type ModelConfig,
  type ModelState,
} from './model.js';
import { clipByGlobalNorm, createOptimizer, type Optimizer, type OptimizerName } from './optimizer.js';
import { Rng } from './random.js';
import type { RunDirectory } from './run-directory.js';
import type { Vocabulary } from './vocabulary.js';

export interface TrainSetup {
  vocabulary: Vocabulary;
  train: Int32Array;
  validation: Int32Array;
  model: Omit<ModelConfig, 'vocabSize'>;
  training: TrainingConfig & { optimizer: OptimizerName };
  /** Stop after this many epochs, unless `steps` is given. */
  epochs: number;
  steps?: number;
  run: RunDirectory;
  /** LSTM implementation; the default picks the fastest one for the backend. */
  kernels?: LstmKernels;
}

export interface StartInfo {
  parameters: number;
  totalSteps: number;
  stepsPerEpoch: number;
  charsPerStep: number;
}

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  trainLoss: number;
  charsPerSecond: number;
}

export interface EvaluationInfo {
  step: number;
  validationLoss: number;
  isBest: boolean;
  seconds: number;
}

export interface TrainEvents {
  start(info: StartInfo): void;
  step(info: StepInfo): void;
  evaluation(info: EvaluationInfo): void;
  checkpoint(dir: string, reason: 'eval' | 'final' | 'interrupt'): void;
}

export interface TrainSummary {
  steps: number;
  epochs: number;
  finalTrainLoss: number;
  bestValidationLoss: number | null;
  latest: string;
  interrupted: boolean;
}

/** Lets the caller ask for a clean stop (e.g. on Ctrl-C); checked between steps. */
export interface StopSignal {
  requested: boolean;
}

/**
 * One optimisation step on one chunk: forward, hand-written backward, clipping, update. Takes
 * ownership of `state` (disposing it) and returns the loss tensor and the state to carry on.
 */
export function trainStep(
  model: CharLstm,
  optimizer: Optimizer,
  batch: Batch,
  state: ModelState,
  dropoutRng: Rng,
  clip: number,
  learningRate: number,
): { loss: tf.Scalar; state: ModelState } {
  const result = tidy(() => {
    const { loss, gradients, state: next } = model.lossAndGradients(batch, state, dropoutRng);
    optimizer.apply(model.params, clipByGlobalNorm(gradients, clip).gradients, learningRate);
    return { loss, next };
  });
  disposeState(state);
  return { loss: result.loss, state: result.next };
}

/**
 * The training loop: truncated BPTT over contiguous streams with the hidden state carried from one
 * chunk to the next (reset at each epoch), gradient clipping by global norm, validation every
 * `evalEvery` steps and at the end, and a checkpoint after every validation.
 */
export async function train(setup: TrainSetup, events: TrainEvents, stop: StopSignal): Promise<TrainSummary> {
  const { training, run, vocabulary } = setup;
  const config: ModelConfig = { ...setup.model, vocabSize: vocabulary.size };
  const rng = new Rng(training.seed);
  const model = new CharLstm(config, initialWeights(config, rng), setup.kernels);
  const dropoutRng = new Rng(rng.int());
  const optimizer = createOptimizer(training.optimizer);
  const streams = new BatchStreams(setup.train, training.batchSize, training.seqLen);
  const totalSteps = setup.steps ?? setup.epochs * streams.stepsPerEpoch;
  const charsPerStep = training.batchSize * training.seqLen;
  events.start({ parameters: parameterCount(config), totalSteps, stepsPerEpoch: streams.stepsPerEpoch, charsPerStep });

  const history: LossHistory = { train: [], validation: [] };
  let bestValidationLoss: number | null = null;
  let epoch = 1;
  let state: ModelState = model.zeroState(training.batchSize);
  let step = 0;
  let lastTrainLoss = Number.NaN;
  let latest = '';
  const recent: number[] = [];

  const snapshot = async (): Promise<Checkpoint> => ({
    model: config,
    training,
    vocabulary: [...vocabulary.chars],
    step,
    epoch,
    bestValidationLoss,
    history,
    weights: await model.readWeights(),
  });

  const validateAndSave = async (reason: 'eval' | 'final'): Promise<void> => {
    let isBest = false;
    if (setup.validation.length > 1) {
      const started = performance.now();
      const validationLoss = await meanNll(model, setup.validation, training.batchSize, training.seqLen);
      history.validation.push([step, validationLoss]);
      isBest = bestValidationLoss === null || validationLoss < bestValidationLoss;
      if (isBest) bestValidationLoss = validationLoss;
      events.evaluation({ step, validationLoss, isBest, seconds: (performance.now() - started) / 1000 });
    }
    latest = run.save(await snapshot(), isBest);
    events.checkpoint(latest, reason);
  };

  try {
    while (step < totalSteps && !stop.requested) {
      if (streams.epochDone) {
        streams.rewind();
        epoch++;
        disposeState(state);
        state = model.zeroState(training.batchSize);
      }
      const started = performance.now();
      const batch = streams.next();
      const result = trainStep(model, optimizer, batch, state, dropoutRng, training.clip, training.learningRate);
      state = result.state;
      lastTrainLoss = (await result.loss.data())[0];
      result.loss.dispose();
      step++;
      if (!Number.isFinite(lastTrainLoss)) {
        const kept = latest ? `the last good checkpoint is kept in ${run.latest}` : 'no checkpoint had been saved yet';
        throw new UserError(`training diverged at step ${step} (loss ${lastTrainLoss}); ${kept}. Try a lower --lr or --clip`);
      }
      history.train.push([step, lastTrainLoss]);
      recent.push(performance.now() - started);
      if (recent.length > 20) recent.shift();
      const meanMs = recent.reduce((a, b) => a + b, 0) / recent.length;
      events.step({ step, totalSteps, epoch, trainLoss: lastTrainLoss, charsPerSecond: (charsPerStep * 1000) / meanMs });
      if (step % training.evalEvery === 0 || step === totalSteps) await validateAndSave(step === totalSteps ? 'final' : 'eval');
      // Let signal handlers run between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (stop.requested && step > 0) {
      // The step may just have been checkpointed by an evaluation; then that checkpoint is the one.
      if (!latest.endsWith(`step-${String(step).padStart(7, '0')}`)) latest = run.save(await snapshot(), false);
      events.checkpoint(latest, 'interrupt');
    }
  } finally {
    disposeState(state);
    optimizer.dispose();
    model.dispose();
  }
  return { steps: step, epochs: epoch, finalTrainLoss: lastTrainLoss, bestValidationLoss, latest, interrupted: stop.requested };
}
