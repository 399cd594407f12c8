import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../data/batches.js';
import { carriedState, readCarried } from './carried.js';
import type { NamedArrays } from '../model/config.js';
import { type CharRnn, type ModelState, flatten } from '../model/char-rnn.js';
import { disposeState, mapLayerState } from '../model/cells/cell.js';
import { clipByGlobalNorm, decayWeights, type Optimizer } from './optimizer.js';
import type { Rng } from '../util/random.js';
import { tidy } from '../util/tidy.js';

/** The update rule of one step. */
export interface StepSettings {
  clip: number;
  learningRate: number;
  /** Decoupled weight decay (AdamW): every matrix shrinks by learningRate·weightDecay per step. */
  weightDecay: number;
}

/**
 * Clipping, weight decay and the optimizer's update, from the chunk's mean loss and flat gradient
 * (flatten). Returns [loss, gradient norm before clipping] as one tensor, so that both are
 * read in one call. Call inside tf.tidy.
 */
export function update(model: CharRnn, optimizer: Optimizer, loss: tf.Scalar, gradient: tf.Tensor1D, settings: StepSettings): tf.Tensor1D {
  const clipped = clipByGlobalNorm(gradient, settings.clip);
  if (settings.weightDecay > 0) decayWeights(model.params, settings.learningRate * settings.weightDecay);
  optimizer.apply(model.params, clipped.gradient, settings.learningRate);
  return tf.stack([loss, clipped.norm]) as tf.Tensor1D;
}

/** The state with the rows of the batch's cold streams zeroed (the same tensors when there are none). */
function withColdStreams(state: ModelState, cold: Uint8Array | undefined): ModelState {
  if (!cold?.includes(1)) return state;
  const keep = tf.tensor2d(
    Float32Array.from(cold, (flag) => 1 - flag),
    [cold.length, 1],
  );
  return state.map((layer) => mapLayerState(layer, (part) => tf.mul(part, keep)));
}

/**
 * Forward and hand-written backward on one chunk of streams, whichever thread trains them: the mean
 * loss and the gradient of every parameter, flattened into one vector in the order of
 * model.params. Takes ownership of `state` (disposing it); the caller owns what is returned.
 */
export function chunkGradients(
  model: CharRnn,
  batch: Batch,
  state: ModelState,
  dropoutRng: Rng,
): { loss: tf.Scalar; gradient: tf.Tensor1D; state: ModelState } {
  const result = tidy(() => {
    const { loss, gradients, state: next } = model.lossAndGradients(batch, withColdStreams(state, batch.coldStreams), dropoutRng);
    return { loss, gradient: flatten(model.params, gradients), state: next };
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
  const { loss, gradient, state: next } = chunkGradients(model, batch, state, dropoutRng);
  const lossAndNorm = tidy(() => update(model, optimizer, loss, gradient, settings));
  tf.dispose([loss, gradient]);
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
