import * as tf from '@tensorflow/tfjs-core';

/**
 * tf.tidy with the result's type kept. tf.tidy finds the tensors to keep by walking plain objects
 * and arrays only, so the result must not hold tensors inside a Map or class instance.
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}
