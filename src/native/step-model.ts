import { tensorflowBackend, type RecurrenceIsa, type StepModelHandle } from './ops.js';

/**
 * A model stepping one character at a time in rnn-train's own kernels (the binding's stepModel*,
 * src/install/recurrence/step_binding.cc), for sampling: on its own copy of the weights, from zero
 * state, with no tensor per character.
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
}

export class NativeStepModel {
  private constructor(
    private readonly handle: StepModelHandle,
    private readonly binding: Required<Pick<NonNullable<ReturnType<typeof tensorflowBackend>>['binding'], 'stepModelStep' | 'stepModelHidden'>>,
    readonly spec: Omit<StepModelSpec, 'weights'>,
  ) {}

  /** The model on the native kernels, or undefined where the addon lacks them (then step through tfjs). */
  static create(spec: StepModelSpec): NativeStepModel | undefined {
    const binding = tensorflowBackend()?.binding;
    if (!binding?.stepModelCreate || !binding.stepModelStep || !binding.stepModelHidden) return undefined;
    const sizes = Int32Array.of(spec.vocabSize, spec.embeddingSize, spec.hiddenSize, spec.layers);
    const handle = binding.stepModelCreate(spec.cell, sizes, spec.weights, spec.isa);
    const { weights: _weights, ...rest } = spec;
    return new NativeStepModel(handle, { stepModelStep: binding.stepModelStep, stepModelHidden: binding.stepModelHidden }, rest);
  }

  /** Reads `ids` in turn; with `logits` ([V]) given, writes the next character's logits there. */
  read(ids: Int32Array, logits: Float32Array | null = null): void {
    this.binding.stepModelStep(this.handle, ids, logits);
  }

  /** Each layer's h now. */
  hidden(): Float32Array[] {
    return Array.from({ length: this.spec.layers }, (_, layer) => {
      const out = new Float32Array(this.spec.hiddenSize);
      this.binding.stepModelHidden(this.handle, layer, out);
      return out;
    });
  }
}
