import * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from './checkpoint.js';
import { UserError } from './errors.js';

/**
 * What an ensemble predicts: the mean of its members' distributions, as log-probabilities (log of
 * the mean probability, not the mean log-probability, which would be a product of experts). Each
 * member's log-probabilities are along the last axis. Call inside tf.tidy.
 */
export function mixtureLogProbs(memberLogProbs: tf.Tensor[]): tf.Tensor {
  if (memberLogProbs.length === 1) return memberLogProbs[0];
  return tf.sub(tf.logSumExp(tf.stack(memberLogProbs), 0), Math.log(memberLogProbs.length));
}

/** Refuses checkpoints that cannot predict together: their models must share one vocabulary, in one order. */
export function checkEnsemble(members: { dir: string; checkpoint: Checkpoint }[]): void {
  const [first, ...others] = members;
  for (const { dir, checkpoint } of others) {
    if (JSON.stringify(checkpoint.vocabulary) !== JSON.stringify(first.checkpoint.vocabulary)) {
      throw new UserError(`${dir} has a different vocabulary from ${first.dir}; an ensemble needs models trained on the same text`);
    }
  }
}
