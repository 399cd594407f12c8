import * as tf from '@tensorflow/tfjs-core';
import { mixtureLogProbs } from '../model/mixture.js';
import { tidy } from '../util/tidy.js';
import { disposePrepared, type CharRnn, type ModelState } from '../model/char-rnn.js';
import { disposeState } from '../model/cells/cell.js';
import type { FusedWeights } from '../model/cells/lstm-native.js';
import { UserError } from '../util/errors.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { generateText, type SampleOptions, type SamplePiece, type Stepper } from './generate.js';

/** Refuses a prime with characters outside the vocabulary, naming them. */
export function checkPrime(vocabulary: Vocabulary, prime: string): void {
  const unknown = vocabulary.unknown(prime);
  if (unknown.length > 0) {
    const names = unknown.map((c) => JSON.stringify(c)).join(', ');
    throw new UserError(`the prime contains characters that are not in the model's vocabulary: ${names}`);
  }
}

/** CharRnn models (one, or an ensemble predicting the mean of their distributions) as a Stepper; dispose() frees their state. */
export class ModelStepper implements Stepper {
  private states: ModelState[];
  private readonly prepared: (FusedWeights[] | undefined)[];

  constructor(private readonly models: CharRnn[]) {
    this.states = models.map((model) => model.zeroState(1));
    this.prepared = models.map((model) => model.prepareFusedWeights());
  }

  read(ids: Int32Array): void {
    const previous = this.states;
    this.states = tidy(() => this.models.map((model, k) => model.forward(ids, ids.length, previous[k]).state));
    previous.forEach(disposeState);
  }

  /** One model's logits are used as they are, so that a seed gives the text it always has. */
  step(id: number): Float32Array {
    const previous = this.states;
    const { logits, next } = tidy(() => {
      const steps = this.models.map((model, k) => model.forward(Int32Array.of(id), 1, previous[k], { mode: 'sample', prepared: this.prepared[k] }));
      const logits = steps.length === 1 ? steps[0].logits : mixtureLogProbs(steps.map((step) => tf.logSoftmax(step.logits)));
      return { logits, next: steps.map((step) => step.state) };
    });
    previous.forEach(disposeState);
    this.states = next;
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  }

  hidden(): Float32Array[][] {
    return this.states.map((layers) => layers.map((layer) => layer.h.dataSync() as Float32Array));
  }

  dispose(): void {
    this.prepared.forEach(disposePrepared);
    this.states.forEach(disposeState);
  }
}

/** generateText with CharRnn models, after checking the prime. */
export function* sampleText(models: CharRnn[], vocabulary: Vocabulary, options: SampleOptions): Generator<SamplePiece> {
  checkPrime(vocabulary, options.prime);
  const stepper = new ModelStepper(models);
  try {
    yield* generateText(stepper, vocabulary, options);
  } finally {
    stepper.dispose();
  }
}
