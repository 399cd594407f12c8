import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '../data/batches.js';
import { carriedState, readCarried } from './carried.js';
import type { NamedArrays } from '../model/config.js';
import { type CharRnn, type ModelState, flatten } from '../model/char-rnn.js';
import { disposeState, mapLayerState } from '../model/cells/cell.js';
import { CLIP_EPSILON, clipByGlobalNorm, decayFactor, decayWeights, type Optimizer } from './optimizer.js';
import { optimizerUpdate, tensorflowBackend, type TensorflowBackend } from '../native/ops.js';
import type { Rng } from '../util/random.js';
import { tidy } from '../util/tidy.js';

/** The update rule of one step. */
export interface StepSettings {
  clip: number;
  learningRate: number;
  /** Decoupled weight decay (AdamW): every matrix shrinks by learningRate·weightDecay per step. */
  weightDecay: number;
}

/** One thread's mean gradient (flatten) and its share of the batch's streams. */
export interface GradientPart {
  gradient: tf.Tensor1D;
  share: number;
}

/**
 * Clipping, weight decay and the optimizer's update, from the chunk's mean loss and the flat
 * gradients of the threads that trained it, weighted by their shares: natively where policy.ts's
 * updatePath says so, else in TensorFlow ops. Returns [loss, gradient norm before clipping] as one
 * tensor, so that both are read in one call. Call inside tf.tidy.
 */
export function update(model: CharRnn, optimizer: Optimizer, loss: tf.Scalar, parts: GradientPart[], settings: StepSettings): tf.Tensor1D {
  const backend = model.updatePath() === 'native' ? tensorflowBackend() : undefined;
  const norm = backend ? nativeUpdate(backend, model, optimizer, parts, settings) : referenceUpdate(model, optimizer, parts, settings);
  return tf.stack([loss, norm]) as tf.Tensor1D;
}

/** The update in TensorFlow ops, each over every parameter: the readable reference. */
function referenceUpdate(model: CharRnn, optimizer: Optimizer, parts: GradientPart[], settings: StepSettings): tf.Scalar {
  const whole = parts.length === 1 && parts[0].share === 1;
  const gradient = whole ? parts[0].gradient : (tf.addN(parts.map(({ gradient: g, share }) => tf.mul(g, share))) as tf.Tensor1D);
  const clipped = clipByGlobalNorm(gradient, settings.clip);
  decayWeights(model.params, settings.learningRate * settings.weightDecay);
  optimizer.apply(model.params, clipped.gradient, settings.learningRate);
  return clipped.norm;
}

/** The same update in one call to the binding's optimizerUpdate, with the same bits. */
function nativeUpdate(backend: TensorflowBackend, model: CharRnn, optimizer: Optimizer, parts: GradientPart[], settings: StepSettings): tf.Scalar {
  const params = [...model.params.values()];
  const step = optimizer.nativeStep(model.params, settings.learningRate);
  const decay = settings.learningRate * settings.weightDecay;
  const updated = optimizerUpdate(backend, {
    rule: step.rule,
    coefficients: step.coefficients,
    params,
    keep: params.map((param) => decayFactor(param, decay)),
    gradients: parts.map((part) => part.gradient),
    shares: parts.map((part) => part.share),
    slots: step.slots,
    maxNorm: settings.clip,
    clipEpsilon: CLIP_EPSILON,
  });
  params.forEach((param, i) => param.assign(updated.params[i]));
  step.slots.forEach((slot, i) => slot.assign(updated.slots[i]));
  return tf.scalar(updated.norm);
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
  const lossAndNorm = tidy(() => update(model, optimizer, loss, [{ gradient, share: 1 }], settings));
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
