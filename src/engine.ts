import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './batches.js';
import { carriedState, readCarried } from './carried.js';
import type { NamedArrays } from './checkpoint.js';
import { disposeState, type CharRnn, type ModelState, type NamedTensors } from './model.js';
import { clipByGlobalNorm, decayWeights, type Optimizer } from './optimizer.js';
import type { Rng } from './random.js';
import { tidy } from './tidy.js';

/** The update rule of one step. */
export interface StepSettings {
  clip: number;
  learningRate: number;
  /** Decoupled weight decay (AdamW): every matrix shrinks by learningRate·weightDecay per step. */
  weightDecay: number;
}

/**
 * Clipping, weight decay and the optimizer's update, from the chunk's mean loss and gradients.
 * Returns [loss, gradient norm before clipping] as one tensor, so that both are read in one call.
 * Call inside tf.tidy.
 */
export function update(model: CharRnn, optimizer: Optimizer, loss: tf.Scalar, gradients: NamedTensors, settings: StepSettings): tf.Tensor1D {
  const clipped = clipByGlobalNorm(gradients, settings.clip);
  if (settings.weightDecay > 0) decayWeights(model.params, settings.learningRate * settings.weightDecay);
  optimizer.apply(model.params, clipped.gradients, settings.learningRate);
  return tf.stack([loss, clipped.norm]) as tf.Tensor1D;
}

/**
 * Forward and hand-written backward on one chunk of streams, whichever thread trains them. Takes
 * ownership of `state` (disposing it); the caller owns the loss, gradients and state returned.
 */
export function chunkGradients(
  model: CharRnn,
  batch: Batch,
  state: ModelState,
  dropoutRng: Rng,
): { loss: tf.Scalar; gradients: [string, tf.Tensor][]; state: ModelState } {
  const result = tidy(() => {
    const { loss, gradients, state: next } = model.lossAndGradients(batch, state, dropoutRng);
    return { loss, gradients: [...gradients], state: next };
  });
  disposeState(state);
  return result;
}

/**
 * One optimisation step on one chunk: forward, hand-written backward, clipping, update. Takes
 * ownership of `state` (disposing it) and returns [loss, gradient norm] and the state to carry on.
 */
export function trainStep(
  model: CharRnn,
  optimizer: Optimizer,
  batch: Batch,
  state: ModelState,
  dropoutRng: Rng,
  settings: StepSettings,
): { lossAndNorm: tf.Tensor1D; state: ModelState } {
  const { loss, gradients, state: next } = chunkGradients(model, batch, state, dropoutRng);
  const lossAndNorm = tidy(() => update(model, optimizer, loss, new Map(gradients), settings));
  tf.dispose([loss, ...gradients.map(([, g]) => g)]);
  return { lossAndNorm, state: next };
}

/**
 * What takes the training steps, and holds the hidden state carried along every stream between
 * them: the model in this thread alone, or data-parallel replicas (data-parallel.ts).
 */
export interface Engine {
  step(batch: Batch, dropoutRng: Rng, settings: StepSettings): Promise<{ loss: number; gradientNorm: number }>;
  /** Zero state for every stream, as at the start of an epoch. */
  resetCarried(): void;
  /** The state of all streams, [batch, H] per layer and part, named as in checkpoints. */
  readCarried(): Promise<NamedArrays>;
  restoreCarried(arrays: NamedArrays): void;
  dispose(): void;
}

/** All streams in this thread. */
export class LocalEngine implements Engine {
  private state: ModelState;

  constructor(
    private readonly model: CharRnn,
    private readonly optimizer: Optimizer,
    private readonly batchSize: number,
  ) {
    this.state = model.zeroState(batchSize);
  }

  async step(batch: Batch, dropoutRng: Rng, settings: StepSettings): Promise<{ loss: number; gradientNorm: number }> {
    const result = trainStep(this.model, this.optimizer, batch, this.state, dropoutRng, settings);
    this.state = result.state;
    const [loss, gradientNorm] = await result.lossAndNorm.data();
    result.lossAndNorm.dispose();
    return { loss, gradientNorm };
  }

  resetCarried(): void {
    this.restoreCarried(new Map());
  }

  readCarried(): Promise<NamedArrays> {
    return readCarried(this.state, this.model.config);
  }

  restoreCarried(arrays: NamedArrays): void {
    disposeState(this.state);
    this.state = carriedState(arrays, this.model.config, this.batchSize);
  }

  dispose(): void {
    disposeState(this.state);
  }
}
