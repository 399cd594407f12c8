import { Rng } from '../util/random.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { chooseNext, logProbOf, type SamplingRule } from './choose.js';

/**
 * How text is generated, apart from the model that predicts it: rnn-sample (Node, sampler.ts) and
 * the page rnn-web writes (the browser, web/page/) both run this, each with its own Stepper, so
 * that a checkpoint, seed and rule give the same text in both.
 */

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

/** A model (or ensemble) reading characters one after another from zero state. */
export interface Stepper {
  /** Reads characters whose predictions are not needed. */
  read(ids: Int32Array): void;
  /** Reads one character and scores the next: a model's logits, or an ensemble's log-probabilities. */
  step(id: number): Float32Array;
  /** Each member's layers' hidden state h now, [member][layer]. */
  hidden(): Float32Array[][];
}

/**
 * Generates text one character at a time, yielding each as soon as it exists so that the caller
 * can stream it. The prime (if any) is yielded first; with no prime the model starts after a
 * newline, as if at the start of a paragraph, or after a random character if it knows no newline.
 * The prime must hold only characters of the vocabulary.
 */
export function* generateText(stepper: Stepper, vocabulary: Vocabulary, options: SampleOptions): Generator<SamplePiece> {
  const rng = new Rng(options.seed);
  let input: number;
  let remaining = options.length;
  let generated = '';
  if (options.prime.length > 0) {
    yield { text: options.prime };
    const ids = vocabulary.encode(options.prime);
    input = ids[ids.length - 1];
    if (ids.length > 1) stepper.read(ids.subarray(0, ids.length - 1));
  } else if (vocabulary.has('\n')) {
    input = vocabulary.encode('\n')[0];
  } else {
    input = Math.floor(rng.next() * vocabulary.size);
    if (remaining-- <= 0) return;
    generated = vocabulary.chars[input];
    yield { text: generated, logProb: -Math.log(vocabulary.size) };
  }
  for (; remaining > 0 && !(options.stop && generated.endsWith(options.stop)); remaining--) {
    const scores = stepper.step(input);
    input = chooseNext(scores, options, rng.next());
    const char = vocabulary.chars[input];
    // Only the tail can complete the stop text; keep no more of it than that.
    generated = options.stop ? (generated + char).slice(-options.stop.length) : '';
    yield { text: char, logProb: logProbOf(scores, input) };
  }
}
