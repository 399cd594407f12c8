import { Rng } from '../util/random.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { chooseNext, logProbOf, type SamplingRule } from './choose.js';

/**
 * How text is generated, apart from the model that predicts it: rnn-sample (Node, sampler.ts) and
 * the page rnn-web writes (the browser, web/page/) both run this, each with its own Drawer or
 * Stepper, so that a checkpoint, seed and rule give the same text in both.
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
  /** Each member's layers' cell state c now, [member][layer], undefined for a cell without one (GRU, RNN); absent where the stepper cannot read it. */
  cells?(): (Float32Array | undefined)[][];
}

/** Characters drawn for each stream, [stream][character]. */
export interface Draws {
  ids: Int32Array;
  logProbs: Float64Array;
}

/** A model drawing characters in one or more streams (independent samples) from zero state. */
export interface Drawer {
  readonly streams: number;
  /** Characters worth asking draw() for at once: 1 where each costs a call anyway. */
  readonly chunk: number;
  /** Every stream reads these characters (the prime), whose predictions are not needed. */
  read(ids: Int32Array): void;
  /** `length` times, stream s reads inputs[s] and draws the next character with rngs[s] by chooseNext; inputs and rngs advance. */
  draw(rule: SamplingRule, inputs: Int32Array, rngs: Rng[], length: number): Draws;
}

/** A Stepper as a Drawer of one stream, choosing in JavaScript. */
export class StepperDrawer implements Drawer {
  readonly streams = 1;
  readonly chunk = 1;

  constructor(private readonly stepper: Stepper) {}

  read(ids: Int32Array): void {
    this.stepper.read(ids);
  }

  draw(rule: SamplingRule, inputs: Int32Array, rngs: Rng[], length: number): Draws {
    const ids = new Int32Array(length);
    const logProbs = new Float64Array(length);
    for (let j = 0; j < length; j++) {
      const scores = this.stepper.step(inputs[0]);
      ids[j] = inputs[0] = chooseNext(scores, rule, rngs[0].next());
      logProbs[j] = logProbOf(scores, ids[j]);
    }
    return { ids, logProbs };
  }
}

/** What generateStreams yields: a piece of one stream's sample, or the end of that sample. */
export type StreamEvent = { stream: number; piece: SamplePiece } | { stream: number; end: true };

/** One stream's progress: its generator, the characters it may still generate and the tail that may complete the stop text. */
interface StreamState {
  rng: Rng;
  remaining: number;
  tail: string;
  ended: boolean;
}

/**
 * Generates a sample per seed, one stream each, all with the drawer at once, yielding each
 * character as soon as it exists so that the caller can stream it. Each prime (if any) is
 * yielded first; with no prime a stream starts after a newline, as if at the start of a
 * paragraph, or after a random character if the model knows no newline. The prime must hold only
 * characters of the vocabulary. A stream's sample is the one generateText gives with its seed.
 */
export function* generateStreams(drawer: Drawer, vocabulary: Vocabulary, options: StreamOptions): Generator<StreamEvent> {
  const streams: StreamState[] = options.seeds.map((seed) => ({ rng: new Rng(seed), remaining: options.length, tail: '', ended: false }));
  const inputs = new Int32Array(streams.length);
  yield* start(drawer, vocabulary, options, streams, inputs);
  const rngs = streams.map((stream) => stream.rng);
  while (streams.some((stream) => !stream.ended)) {
    const length = Math.min(drawer.chunk, Math.max(...streams.map((stream) => (stream.ended ? 0 : stream.remaining))));
    const draws = drawer.draw(options, inputs, rngs, length);
    for (const [s, stream] of streams.entries()) {
      for (let j = 0; j < length && !stream.ended; j++) {
        const k = s * length + j;
        const text = vocabulary.chars[draws.ids[k]];
        yield { stream: s, piece: { text, logProb: draws.logProbs[k] } };
        if (advance(stream, text, options.stop)) yield { stream: s, end: true };
      }
    }
  }
}

/** The options of generateStreams: those of a sample, with a seed per stream. */
export interface StreamOptions extends Omit<SampleOptions, 'seed'> {
  seeds: number[];
}

/** The primes, or each stream's first character, and the inputs every stream starts from. */
function* start(drawer: Drawer, vocabulary: Vocabulary, { prime, stop }: StreamOptions, streams: StreamState[], inputs: Int32Array): Generator<StreamEvent> {
  if (prime.length > 0) {
    for (const s of streams.keys()) yield { stream: s, piece: { text: prime } };
    const ids = vocabulary.encode(prime);
    inputs.fill(ids[ids.length - 1]);
    if (ids.length > 1) drawer.read(ids.subarray(0, ids.length - 1));
  } else if (vocabulary.has('\n')) {
    inputs.fill(vocabulary.encode('\n')[0]);
  } else {
    for (const [s, stream] of streams.entries()) {
      inputs[s] = Math.floor(stream.rng.next() * vocabulary.size);
      if (stream.remaining <= 0) continue;
      yield { stream: s, piece: { text: vocabulary.chars[inputs[s]], logProb: -Math.log(vocabulary.size) } };
      if (advance(stream, vocabulary.chars[inputs[s]], stop)) yield { stream: s, end: true };
    }
  }
  for (const [s, stream] of streams.entries()) {
    if (stream.ended || stream.remaining > 0) continue;
    stream.ended = true;
    yield { stream: s, end: true };
  }
}

/** Counts a generated character against the stream's length and stop text; true if that ends the stream. */
function advance(stream: StreamState, char: string, stop: string | undefined): boolean {
  stream.remaining--;
  // Only the tail can complete the stop text; keep no more of it than that.
  stream.tail = stop ? (stream.tail + char).slice(-stop.length) : '';
  stream.ended = stream.remaining <= 0 || (stop !== undefined && stream.tail.endsWith(stop));
  return stream.ended;
}

/**
 * Generates text one character at a time with a Stepper, yielding each as soon as it exists:
 * generateStreams with one stream.
 */
export function* generateText(stepper: Stepper, vocabulary: Vocabulary, options: SampleOptions): Generator<SamplePiece> {
  for (const event of generateStreams(new StepperDrawer(stepper), vocabulary, { ...options, seeds: [options.seed] })) {
    if ('piece' in event) yield event.piece;
  }
}
