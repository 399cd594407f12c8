import * as tf from '@tensorflow/tfjs-core';
import { mixtureLogProbs } from '../model/mixture.js';
import { tidy } from '../util/tidy.js';
import { disposePrepared, disposeState, type CharRnn, type ModelState } from '../model/char-rnn.js';
import { Rng } from '../util/random.js';
import { UserError } from '../util/errors.js';
import type { Vocabulary } from '../data/vocabulary.js';

/** rnn-sample's temperature unless told otherwise, and that of the samples shown while training. */
export const DEFAULT_TEMPERATURE = 0.8;

/** How the next character is chosen from the model's distribution. */
export interface SamplingRule {
  /** Softmax temperature; 0 means always take the most likely character (argmax). */
  temperature: number;
  /** Draw only among the k likeliest characters. */
  topK?: number;
  /** Nucleus sampling (Holtzman et al. 2020): draw only among the likeliest characters whose probabilities sum to p. */
  topP?: number;
}

export interface SampleOptions extends SamplingRule {
  /** Characters to generate, not counting the prime. */
  length: number;
  /** Text to condition on; it is echoed first. */
  prime: string;
  seed: number;
  /** Ends the sample as soon as the generated text contains this (it is kept). */
  stop?: string;
}

/** A piece of sampled text; `logProb` is the model's (or ensemble's) log-probability (nats) of a generated character, absent for the prime. */
export interface SamplePiece {
  text: string;
  logProb?: number;
}

/** Log-softmax of `logits` in float64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - logZ);
}

/**
 * The index of the next character: argmax at temperature 0, else a draw with one uniform number
 * from the tempered distribution, cut to the top k and then to the nucleus of mass p, renormalised.
 * Without a cut the draw walks the vocabulary in its own order, so that a seed gives the same text
 * as it always has.
 */
export function chooseNext(logits: Float32Array, rule: SamplingRule, uniform: number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (rule.temperature === 0) return best;
  const truncated = rule.topK !== undefined || rule.topP !== undefined;
  let kept = Array.from(logits.keys());
  if (truncated) kept = kept.sort((a, b) => logits[b] - logits[a]).slice(0, rule.topK);
  const weights = kept.map((i) => Math.exp((logits[i] - logits[best]) / rule.temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  if (rule.topP !== undefined) {
    let mass = 0;
    let count = 0;
    while (count < kept.length && mass < rule.topP * total) mass += weights[count++];
    kept = kept.slice(0, count);
    total = mass;
  }
  let cumulative = 0;
  for (let j = 0; j < kept.length; j++) {
    cumulative += weights[j];
    if (uniform * total < cumulative) return kept[j];
  }
  return kept[kept.length - 1];
}

/** Refuses a prime with characters outside the vocabulary, naming them. */
export function checkPrime(vocabulary: Vocabulary, prime: string): void {
  const unknown = vocabulary.unknown(prime);
  if (unknown.length > 0) {
    const names = unknown.map((c) => JSON.stringify(c)).join(', ');
    throw new UserError(`the prime contains characters that are not in the model's vocabulary: ${names}`);
  }
}

/**
 * Generates text one character at a time, yielding each as soon as it exists so that the caller
 * can stream it. The prime (if any) is yielded first; with no prime the model starts after a
 * newline, as if at the start of a paragraph. Several models sample as an ensemble, from the mean
 * of their distributions; one model's logits are used as they are, so a seed gives the text it
 * always has.
 */
export function* sampleText(models: CharRnn[], vocabulary: Vocabulary, options: SampleOptions): Generator<SamplePiece> {
  checkPrime(vocabulary, options.prime);
  const rng = new Rng(options.seed);
  let states: ModelState[] = models.map((model) => model.zeroState(1));
  let input: number;
  let remaining = options.length;
  let generated = '';
  if (options.prime.length > 0) {
    yield { text: options.prime };
    const ids = vocabulary.encode(options.prime);
    input = ids[ids.length - 1];
    if (ids.length > 1) {
      const previous = states;
      states = tidy(() => models.map((model, k) => model.forward(ids.subarray(0, ids.length - 1), ids.length - 1, previous[k]).state));
      previous.forEach(disposeState);
    }
  } else if (vocabulary.has('\n')) {
    input = vocabulary.encode('\n')[0];
  } else {
    input = Math.floor(rng.next() * vocabulary.size);
    if (remaining-- <= 0) return;
    generated = vocabulary.chars[input];
    yield { text: generated, logProb: -Math.log(vocabulary.size) };
  }
  const prepared = models.map((model) => model.prepareFusedWeights());
  try {
    for (; remaining > 0 && !(options.stop && generated.endsWith(options.stop)); remaining--) {
      const previous = states;
      const { logits, next } = tidy(() => {
        const steps = models.map((model, k) => model.forward(Int32Array.of(input), 1, previous[k], { mode: 'sample', prepared: prepared[k] }));
        const logits = steps.length === 1 ? steps[0].logits : mixtureLogProbs(steps.map((step) => tf.logSoftmax(step.logits)));
        return { logits, next: steps.map((step) => step.state) };
      });
      previous.forEach(disposeState);
      states = next;
      const values = logits.dataSync() as Float32Array;
      logits.dispose();
      input = chooseNext(values, options, rng.next());
      const char = vocabulary.chars[input];
      // Only the tail can complete the stop text; keep no more of it than that.
      generated = options.stop ? (generated + char).slice(-options.stop.length) : '';
      yield { text: char, logProb: logSoftmax(values)[input] };
    }
  } finally {
    prepared.forEach(disposePrepared);
    states.forEach(disposeState);
  }
}
