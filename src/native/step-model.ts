import { tensorflowBackend, type RecurrenceIsa, type StepModelHandle } from './ops.js';

/**
 * A model stepping one character at a time in rnn-train's own kernels (the binding's stepModel*,
 * src/install/recurrence/step_binding.cc), for sampling: on its own copy of the weights, from zero
 * state, with no tensor per character, in one or more streams (independent samples stepped
 * together, so that a step reads the weights once for all of them).
 */
export interface StepModelSpec {
  cell: 'lstm' | 'gru' | 'rnn';
  vocabSize: number;
  embeddingSize: number;
  hiddenSize: number;
  layers: number;
  /** Embedding, then per layer kernel, recurrent kernel and bias, then dense kernel and bias. */
  weights: Float32Array[];
  isa: RecurrenceIsa;
  streams: number;
  /** Threads the model steps on (policy.ts's samplingThreads). */
  threads: number;
  /** What the threads split: the streams, each drawing its share at once; or each step's units, meeting between its phases. */
  split: SamplingSplit;
}

export type SamplingSplit = 'streams' | 'units';

/** sample/choose.ts's SamplingRule, as numbers: without importing the sampling stage. */
export interface DrawRule {
  temperature: number;
  topK?: number;
  topP?: number;
}

type StepBinding = Required<Pick<NonNullable<ReturnType<typeof tensorflowBackend>>['binding'], 'stepModelStep' | 'stepModelDraw' | 'stepModelHidden'>>;

export class NativeStepModel {
  private constructor(
    private readonly handle: StepModelHandle,
    private readonly binding: StepBinding,
    readonly spec: Omit<StepModelSpec, 'weights'>,
  ) {}

  /** The model on the native kernels, or undefined where the addon lacks them (then step through tfjs). */
  static create(spec: StepModelSpec): NativeStepModel | undefined {
    const binding = tensorflowBackend()?.binding;
    if (!binding?.stepModelCreate || !binding.stepModelStep || !binding.stepModelDraw || !binding.stepModelHidden) return undefined;
    const sizes = Int32Array.of(spec.vocabSize, spec.embeddingSize, spec.hiddenSize, spec.layers, spec.streams, spec.threads, spec.split === 'units' ? 1 : 0);
    const handle = binding.stepModelCreate(spec.cell, sizes, spec.weights, spec.isa);
    const { weights: _weights, ...rest } = spec;
    const { stepModelStep, stepModelDraw, stepModelHidden } = binding;
    return new NativeStepModel(handle, { stepModelStep, stepModelDraw, stepModelHidden }, rest);
  }

  /** Every stream reads `ids` in turn; with `logits` ([streams, V]) given, writes the next character's logits there. */
  read(ids: Int32Array, logits: Float32Array | null = null): void {
    this.binding.stepModelStep(this.handle, ids, logits);
  }

  /**
   * `length` times, stream s reads inputs[s] and draws the next character with the generator
   * state generators[s] (util/random.ts's Rng state) as sample/choose.ts's chooseNext does.
   * Returns the characters and their log-probabilities, [streams, length]; inputs and generators advance.
   */
  draw(rule: DrawRule, inputs: Int32Array, generators: Uint32Array, length: number): { ids: Int32Array; logProbs: Float64Array } {
    const ids = new Int32Array(this.spec.streams * length);
    const logProbs = new Float64Array(ids.length);
    const numbers = Float64Array.of(rule.temperature, rule.topK ?? 0, rule.topP ?? 0);
    this.binding.stepModelDraw(this.handle, inputs, generators, numbers, ids, logProbs);
    return { ids, logProbs };
  }

  /** Each layer's h now, in stream 0. */
  hidden(): Float32Array[] {
    return Array.from({ length: this.spec.layers }, (_, layer) => {
      const out = new Float32Array(this.spec.hiddenSize);
      this.binding.stepModelHidden(this.handle, layer, out);
      return out;
    });
  }
}
