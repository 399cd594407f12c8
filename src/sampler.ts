import * as tf from '@tensorflow/tfjs-core';
import { tidy } from './tidy.js';
import { disposePrepared, disposeState, type CharRnn, type ModelState } from './model.js';
import { Rng } from './random.js';
import { UserError } from './errors.js';
import type { Vocabulary } from './vocabulary.js';

export interface SampleOptions {
  /** Characters to generate, not counting the prime. */
  length: number;
  /** Softmax temperature; 0 means always take the most likely character. */
  temperature: number;
  /** Text to condition on; it is echoed first. */
  prime: string;
  seed: number;
}

/** Index drawn from `probs` (which sum to 1, up to rounding) with one uniform number. */
export function drawIndex(probs: Float32Array, uniform: number): number {
  let cumulative = 0;
  for (let i = 0; i < probs.length; i++) {
    cumulative += probs[i];
    if (uniform < cumulative) return i;
  }
  // Rounding can leave the total a little under 1; fall back to the last likely character.
  for (let i = probs.length - 1; i > 0; i--) if (probs[i] > 0) return i;
  return 0;
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
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
 * newline, as if at the start of a paragraph.
 */
export function* sampleText(model: CharRnn, vocabulary: Vocabulary, options: SampleOptions): Generator<string> {
  checkPrime(vocabulary, options.prime);
  const rng = new Rng(options.seed);
  let state: ModelState = model.zeroState(1);
  let input: number;
  let remaining = options.length;
  if (options.prime.length > 0) {
    yield options.prime;
    const ids = vocabulary.encode(options.prime);
    input = ids[ids.length - 1];
    if (ids.length > 1) {
      const previous = state;
      state = tidy(() => model.forward(ids.subarray(0, ids.length - 1), ids.length - 1, previous).state);
      disposeState(previous);
    }
  } else if (vocabulary.has('\n')) {
    input = vocabulary.encode('\n')[0];
  } else {
    input = Math.floor(rng.next() * vocabulary.size);
    if (remaining-- <= 0) return;
    yield vocabulary.chars[input];
  }
  const prepared = model.prepareFusedWeights();
  try {
    for (; remaining > 0; remaining--) {
      const previous = state;
      const { probs, next } = tidy(() => {
        const { logits, state: after } = model.forward(Int32Array.of(input), 1, previous, undefined, prepared);
        const scores = options.temperature > 0 ? tf.softmax(tf.div(logits, options.temperature)) : logits;
        return { probs: scores, next: after };
      });
      disposeState(previous);
      state = next;
      const values = probs.dataSync() as Float32Array;
      probs.dispose();
      input = options.temperature > 0 ? drawIndex(values, rng.next()) : argmax(values);
      yield vocabulary.chars[input];
    }
  } finally {
    disposePrepared(prepared);
    disposeState(state);
  }
}
