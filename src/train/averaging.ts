import * as tf from '@tensorflow/tfjs-core';
import { CharRnn } from '../model/char-rnn.js';
import type { LstmKernels, ModelConfig } from '../model/config.js';
import { lstmCapabilities } from '../native/capabilities.js';

/**
 * An exponential moving average of a model's weights (Polyak averaging, as in TensorFlow's
 * ExponentialMovingAverage): the average wanders less than the weights the optimizer moves, so it
 * usually scores better than they do, at the cost of one more copy of the parameters.
 */
export class WeightAverage {
  /** A model whose weights are the average: what is validated, checkpointed and sampled. */
  readonly model: CharRnn;

  constructor(
    config: ModelConfig,
    weights: Map<string, Float32Array>,
    private readonly decay: number,
    kernels?: LstmKernels,
  ) {
    this.model = new CharRnn(config, weights, { kernels, capabilities: lstmCapabilities() });
  }

  /**
   * Moves the average towards `source` after optimizer step `step` (from 1). Early on the rate is
   * (1 + step) / (10 + step) when that is lower than `decay`, so that the average does not drag the
   * random initial weights along for thousands of steps.
   */
  update(source: CharRnn, step: number): void {
    const decay = Math.min(this.decay, (1 + step) / (10 + step));
    tf.tidy(() => {
      for (const [name, average] of this.model.params) {
        average.assign(tf.add(tf.mul(average, decay), tf.mul(source.params.get(name)!, 1 - decay)));
      }
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}
