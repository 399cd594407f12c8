import * as tf from '@tensorflow/tfjs-core';

/**
 * What an ensemble predicts: the mean of its members' distributions, as log-probabilities (log of
 * the mean probability, not the mean log-probability, which would be a product of experts). Each
 * member's log-probabilities are along the last axis. Call inside tf.tidy.
 */
export function mixtureLogProbs(memberLogProbs: tf.Tensor[]): tf.Tensor {
  if (memberLogProbs.length === 1) return memberLogProbs[0];
  return tf.sub(tf.logSumExp(tf.stack(memberLogProbs), 0), Math.log(memberLogProbs.length));
}
