import { stepMembers } from '../model/mixture.js';
import { mixtureOfLogits, type SamplingRule } from './choose.js';
import { tidy } from '../util/tidy.js';
import { disposePrepared, type CharRnn, type ModelState } from '../model/char-rnn.js';
import { disposeState } from '../model/cells/cell.js';
import type { CellKernelWeights } from '../model/cells/lstm-native.js';
import type { NativeStepModel } from '../native/step-model.js';
import { UserError } from '../util/errors.js';
import type { Vocabulary } from '../data/vocabulary.js';
import { samplingStreams } from '../model/policy.js';
import type { Rng } from '../util/random.js';
import { generateStreams, StepperDrawer, type Drawer, type Draws, type SampleOptions, type SamplePiece, type Stepper, type StreamEvent } from './generate.js';

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
  const native = models.map((model) => model.nativeStepModel(1, 'step'));
  if (native.every((model) => model !== undefined)) return new NativeStepper(native as NativeStepModel[]);
  return new ModelStepper(models);
}

/** One model drawing in rnn-train's own kernels, many characters per call, in all its streams at once. */
class NativeDrawer implements Drawer {
  /** Characters per call: enough that the call costs nothing beside them, few enough to stream text as it comes. */
  readonly chunk = 64;

  constructor(private readonly model: NativeStepModel) {}

  get streams(): number {
    return this.model.spec.streams;
  }

  read(ids: Int32Array): void {
    this.model.read(ids);
  }

  draw(rule: SamplingRule, inputs: Int32Array, rngs: Rng[], length: number): Draws {
    const generators = Uint32Array.from(rngs, (rng) => rng.getState());
    const draws = this.model.draw(rule, inputs, generators, length);
    rngs.forEach((rng, s) => rng.setState(generators[s]));
    return draws;
  }
}

/** The drawer for up to `streams` samples: one model natively in that many streams, else one stream through modelStepper. */
function modelDrawer(models: CharRnn[], streams: number): { drawer: Drawer; dispose(): void } {
  const native = models.length === 1 ? models[0].nativeStepModel(streams, 'draw') : undefined;
  if (native) return { drawer: new NativeDrawer(native), dispose: () => {} };
  const stepper = modelStepper(models);
  return { drawer: new StepperDrawer(stepper), dispose: () => stepper.dispose() };
}

/** CharRnn models (one, or an ensemble predicting the mean of their distributions) stepped through tfjs, as a Stepper; dispose() frees their state. */
export class ModelStepper implements Stepper {
  private states: ModelState[];
  private readonly prepared: (CellKernelWeights[] | undefined)[];

  constructor(private readonly models: CharRnn[]) {
    this.states = models.map((model) => model.zeroState(1));
    this.prepared = models.map((model) => model.prepareCellKernelWeights());
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

  cells(): (Float32Array | undefined)[][] {
    return this.states.map((layers) => layers.map((layer) => layer.c?.dataSync() as Float32Array | undefined));
  }

  dispose(): void {
    this.prepared.forEach(disposePrepared);
    this.states.forEach(disposeState);
  }
}

/**
 * `count` samples with CharRnn models, with seeds options.seed, options.seed + 1, …, after checking
 * the prime: as many at once as the drawer takes (policy.ts's samplingStreams), each the sample
 * generateText gives with its seed. Yields generateStreams's events, numbered from 0 to count − 1.
 */
export function* sampleStreams(models: CharRnn[], vocabulary: Vocabulary, options: SampleOptions, count: number): Generator<StreamEvent> {
  checkPrime(vocabulary, options.prime);
  for (let first = 0; first < count;) {
    const { drawer, dispose } = modelDrawer(models, samplingStreams(count - first));
    try {
      const seeds = Array.from({ length: drawer.streams }, (_, s) => options.seed + first + s);
      for (const event of generateStreams(drawer, vocabulary, { ...options, seeds })) {
        event.stream += first;
        yield event;
      }
    } finally {
      dispose();
    }
    first += drawer.streams;
  }
}

/** One sample with CharRnn models, after checking the prime. */
export function* sampleText(models: CharRnn[], vocabulary: Vocabulary, options: SampleOptions): Generator<SamplePiece> {
  for (const event of sampleStreams(models, vocabulary, options, 1)) if ('piece' in event) yield event.piece;
}
