import { stepMembers } from '../model/mixture.js';
import { mixtureOfLogits } from './choose.js';
import { tidy } from '../util/tidy.js';
import { disposePrepared, type CharRnn, type ModelState } from '../model/char-rnn.js';
import { disposeState } from '../model/cells/cell.js';
import type { FusedWeights } from '../model/cells/lstm-native.js';
import type { NativeStepModel } from '../native/step-model.js';
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

/**
 * CharRnn models stepping in rnn-train's own kernels (CharRnn.nativeStepModel): the scores are one
 * model's logits, or an ensemble's log-probabilities (mixtureOfLogits), as ModelStepper gives them.
 */
class NativeStepper implements Stepper {
  private readonly logits: Float32Array[];

  constructor(private readonly models: NativeStepModel[]) {
    this.logits = models.map((model) => new Float32Array(model.spec.vocabSize));
  }

  read(ids: Int32Array): void {
    for (const model of this.models) model.read(ids);
  }

  step(id: number): Float32Array {
    const ids = Int32Array.of(id);
    this.models.forEach((model, k) => model.read(ids, this.logits[k]));
    return this.logits.length === 1 ? this.logits[0].slice() : mixtureOfLogits(this.logits);
  }

  hidden(): Float32Array[][] {
    return this.models.map((model) => model.hidden());
  }

  dispose(): void {}
}

/** The stepper sampling uses: native where every model has a native step model, else through tfjs. */
export function modelStepper(models: CharRnn[]): Stepper & { dispose(): void } {
  const native = models.map((model) => model.nativeStepModel());
  if (native.every((model) => model !== undefined)) return new NativeStepper(native as NativeStepModel[]);
  return new ModelStepper(models);
}

/** CharRnn models (one, or an ensemble predicting the mean of their distributions) stepped through tfjs, as a Stepper; dispose() frees their state. */
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

  step(id: number): Float32Array {
    const { scores, states } = stepMembers(this.states, (k, state) =>
      this.models[k].forward(Int32Array.of(id), 1, state, { mode: 'sample', prepared: this.prepared[k] }),
    );
    this.states = states;
    return scores;
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
  const stepper = modelStepper(models);
  try {
    yield* generateText(stepper, vocabulary, options);
  } finally {
    stepper.dispose();
  }
}
