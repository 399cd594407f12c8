import * as tf from '@tensorflow/tfjs-core';
import { disposeState, type LayerState } from './cells/cell.js';
import { tidy } from '../util/tidy.js';

/**
 * What an ensemble predicts: the mean of its members' distributions, as log-probabilities (log of
 * the mean probability, not the mean log-probability, which would be a product of experts). Each
 * member's log-probabilities are along the last axis. Call inside tf.tidy.
 */
export function mixtureLogProbs(memberLogProbs: tf.Tensor[]): tf.Tensor {
  if (memberLogProbs.length === 1) return memberLogProbs[0];
  return tf.sub(tf.logSumExp(tf.stack(memberLogProbs), 0), Math.log(memberLogProbs.length));
}

/** One forward step of a model: its logits [1, V] and its next state. */
export type MemberStep = (member: number, state: LayerState[]) => { logits: tf.Tensor2D; state: LayerState[] };

/**
 * One sampling step of a model or an ensemble, shared by rnn-sample's stepper and the web page's:
 * each member steps from its state (which is then freed), and the scores are one model's logits
 * as they are (so that a seed gives the text it always has) or the ensemble's log-probabilities.
 */
export function stepMembers(states: LayerState[][], step: MemberStep): { scores: Float32Array; states: LayerState[][] } {
  const { scores, next } = tidy(() => {
    const steps = states.map((state, k) => step(k, state));
    const scores = steps.length === 1 ? steps[0].logits : mixtureLogProbs(steps.map((s) => tf.logSoftmax(s.logits)));
    return { scores, next: steps.map((s) => s.state) };
  });
  states.forEach(disposeState);
  const values = scores.dataSync() as Float32Array;
  scores.dispose();
  return { scores: values, states: next };
}
