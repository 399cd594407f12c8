import * as tf from '@tensorflow/tfjs-core';
import {
  GATE_BLOCKS,
  layerName,
  stateParts,
  type CellGradients,
  type CellWeights,
  type LayerPass,
  type LayerState,
  type MatmulPrecision,
  type TableInput,
} from './cells/cell.js';
import type { LstmKernels, ModelConfig } from './config.js';
import {
  firstLayerTable,
  recurrencePlan,
  samplingIsa,
  samplingThreads,
  selectCellKernel,
  selectLstmKernel,
  updatePath,
  weightProductColumns,
  type LstmKernel,
  type UpdatePath,
} from './policy.js';
import { NativeStepModel } from '../native/step-model.js';
import { gruForward } from './cells/gru.js';
import { gruSequenceNative } from './cells/gru-native.js';
import { rnnSequenceNative } from './cells/rnn-native.js';
import { lstmReferenceBackward, lstmReferenceForward, type LstmState } from './cells/lstm.js';
import { rnnForward } from './cells/rnn.js';
import { cellKernelWeights, lstmBlock, lstmCell, lstmPacked, type CellKernelWeights } from './cells/lstm-native.js';
import {
  columnSums,
  copyInto,
  matMul,
  NO_NATIVE_KERNELS,
  oneHotRows,
  softmaxCrossEntropy,
  statelessUniform,
  tensorflowBackend,
  type LstmCapabilities,
} from '../native/ops.js';
import type { Batch } from '../data/batches.js';
import { tidy } from '../util/tidy.js';
import { Rng } from '../util/random.js';

/** One entry per recurrent layer, bottom first. */
export type ModelState = LayerState[];

export type NamedTensors = Map<string, tf.Tensor>;

/** Parameter names and shapes, in the fixed order used for checkpoints. */
export function parameterShapes(config: ModelConfig): Map<string, number[]> {
  const { vocabSize: V, embeddingSize: D, hiddenSize: H } = config;
  const G = GATE_BLOCKS[config.cell];
  const shapes = new Map<string, number[]>([['embedding/embeddings', [V, D]]]);
  for (let l = 1; l <= config.layers; l++) {
    shapes.set(`${layerName(config.cell, l - 1)}/kernel`, [l === 1 ? D : H, G * H]);
    shapes.set(`${layerName(config.cell, l - 1)}/recurrent_kernel`, [H, G * H]);
    shapes.set(`${layerName(config.cell, l - 1)}/bias`, [G * H]);
  }
  shapes.set('dense/kernel', [H, V]);
  shapes.set('dense/bias', [V]);
  return shapes;
}

export function parameterCount(config: ModelConfig): number {
  let count = 0;
  for (const shape of parameterShapes(config).values()) count += shape.reduce((a, b) => a * b, 1);
  return count;
}

/**
 * How the weights start, chosen by measurement (docs/training.md, bench/results/): each a scale of
 * a draw, so that a sweep can try others.
 */
export interface Initialisation {
  /** Standard deviation of the embedding's normal draw. Keras's ±0.05 (0.029) leaves the first layer's input near zero, and training sits on the unigram plateau for ~60 steps. */
  embeddingStd: number;
  /** Bound of the recurrent layers' uniform draws (kernels and recurrent kernels), in units of 1/√H, as PyTorch and torch-rnn do. */
  recurrentBound: number;
  /** Bound of the output layer's uniform draw, in units of Glorot's √(6/(H+V)). */
  outputBound: number;
  /** The LSTM forget gate's bias: 1, so that early on the cell remembers rather than forgets (Jozefowicz et al. 2015). */
  forgetBias: number;
}

export const INITIALISATION: Initialisation = { embeddingStd: 1, recurrentBound: 1, outputBound: 1, forgetBias: 1 };

/**
 * The output layer's initial bias for a training text: the logarithms of its characters'
 * frequencies (add-½ smoothed), so that the first prediction is already the unigram distribution
 * and a character seen once starts near e^−14 rather than at 1/V (Karpathy's "init well"). Without
 * it, Adam lowers a rare character's bias by at most the learning rate per step, and a model a few
 * hundred steps old still writes `$` and `&` from zero state.
 */
export function unigramLogits(ids: ArrayLike<number>, vocabSize: number): Float32Array {
  const counts = new Float64Array(vocabSize).fill(0.5);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  const total = counts.reduce((a, b) => a + b, 0);
  return Float32Array.from(counts, (count) => Math.log(count / total));
}

/** Initial weights: see Initialisation; biases zero but the LSTM forget gate's, and the output's when `outputBias` is given (unigramLogits). */
export function initialWeights(config: ModelConfig, rng: Rng, init: Initialisation = INITIALISATION, outputBias?: Float32Array): Map<string, Float32Array> {
  const H = config.hiddenSize;
  const weights = new Map<string, Float32Array>();
  for (const [name, shape] of parameterShapes(config)) {
    const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name === 'dense/bias') {
      if (outputBias) values.set(outputBias);
    } else if (name.endsWith('/bias')) {
      if (config.cell === 'lstm') values.fill(init.forgetBias, H, 2 * H);
    } else if (name.startsWith('embedding')) {
      for (let i = 0; i < values.length; i++) values[i] = init.embeddingStd * rng.normal();
    } else {
      const limit = name.startsWith('dense') ? init.outputBound * Math.sqrt(6 / (shape[0] + shape[1])) : init.recurrentBound / Math.sqrt(H);
      for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-limit, limit);
    }
    weights.set(name, values);
  }
  return weights;
}

/**
 * What a forward pass is for: training (dropout on, the tape kept for the backward pass), scoring,
 * or sampling one step at a time with weights prepared once by prepareCellKernelWeights().
 */
export type ForwardPass = TrainPass | { mode: 'score' } | SamplePass;
interface TrainPass {
  mode: 'train';
  dropoutRng: Rng;
}
interface SamplePass {
  mode: 'sample';
  prepared?: CellKernelWeights[];
}

/** What one recurrent layer runs over: its input chunk (for the first, perhaps as table rows), its state, and a weight-drop mask while training. */
interface LayerInput {
  x: tf.Tensor2D | TableInput;
  state: LayerState;
  seqLen: number;
  recurrentMask?: tf.Tensor2D;
}

interface ForwardTape {
  /** Per layer, bottom first: the gradients of its input and weights from those of its output. */
  backward: ((dOutput: tf.Tensor2D) => CellGradients)[];
  masks: (tf.Tensor2D | undefined)[];
  inputMask?: tf.Tensor2D;
  /** Whether the first layer read the embedding table's rows (TableInput), so that its dx is the table's gradient. */
  table: boolean;
  /** The last layer's output, after dropout. */
  top: tf.Tensor2D;
}

/** How a CharRnn runs: on which kernels, at which precision, with what the machine offers. */
export interface CharRnnOptions {
  /** The user's choice (--kernels): `reference` forces the written-out cells. Default `auto`. */
  kernels?: LstmKernels;
  /** Default float32. */
  precision?: MatmulPrecision;
  /** native/capabilities.ts's lstmCapabilities() in Node; NO_NATIVE_KERNELS in the browser. */
  capabilities: LstmCapabilities;
}

/**
 * A character-level language model: embedding → stacked recurrent layers (LSTM, GRU or vanilla
 * RNN) → dense → softmax. The backward pass is written out by hand (lstm.ts, gru.ts, rnn.ts), so a
 * training step records only what it needs.
 */
export class CharRnn {
  readonly params: Map<string, tf.Variable>;
  private readonly kernels: LstmKernels;
  /** Of the native LSTM's matrix products in training; the other kernels, validation and sampling are always float32. */
  private readonly precision: MatmulPrecision;
  private readonly capabilities: LstmCapabilities;

  constructor(
    readonly config: ModelConfig,
    weights: Map<string, Float32Array>,
    options: CharRnnOptions,
  ) {
    this.kernels = options.kernels ?? 'auto';
    this.precision = options.precision ?? 'float32';
    this.capabilities = options.capabilities;
    this.params = new Map();
    for (const [name, shape] of parameterShapes(config)) {
      const initial = tf.zeros(shape);
      this.params.set(name, tf.variable(initial, true));
      initial.dispose();
    }
    this.assignWeights(weights);
  }

  /** Where a training step's update runs (policy.ts's updatePath). */
  updatePath(): UpdatePath {
    return updatePath(this.kernels, this.native());
  }

  /** What the active backend offers: the capabilities given, on the tensorflow backend only. */
  private native(): LstmCapabilities {
    return tensorflowBackend() ? this.capabilities : NO_NATIVE_KERNELS;
  }

  zeroState(batchSize: number): ModelState {
    const { hiddenSize, layers, cell } = this.config;
    return Array.from({ length: layers }, () => {
      const state: LayerState = { h: tf.zeros([batchSize, hiddenSize]) };
      for (const part of stateParts(cell)) state[part] ??= tf.zeros([batchSize, hiddenSize]);
      return state;
    });
  }

  /** Layer `l`'s weights, with its recurrent kernel masked when a weight-drop mask is given. */
  private layer(l: number, recurrentMask?: tf.Tensor2D): CellWeights {
    const name = layerName(this.config.cell, l);
    const recurrentKernel = this.params.get(`${name}/recurrent_kernel`) as tf.Tensor2D;
    return {
      kernel: this.params.get(`${name}/kernel`) as tf.Tensor2D,
      recurrentKernel: recurrentMask ? tf.mul(recurrentKernel, recurrentMask) : recurrentKernel,
      bias: this.params.get(`${name}/bias`) as tf.Tensor1D,
    };
  }

  /** The LSTM's code path for this pass (policy.ts's selectLstmKernel). */
  private lstmKernel(pass: ForwardPass): LstmKernel {
    return selectLstmKernel({
      kernels: this.kernels,
      capabilities: this.native(),
      training: pass.mode === 'train',
      stepwise: pass.mode === 'sample' && pass.prepared !== undefined,
    });
  }

  /** Runs recurrent layer `l` over a chunk, with the implementation that suits its cell and size. */
  private runLayer(l: number, { x, state, seqLen, recurrentMask }: LayerInput, pass: ForwardPass): LayerPass {
    const w = this.layer(l, recurrentMask);
    const record = pass.mode === 'train';
    if (this.config.cell !== 'lstm') return this.runCell(this.config.cell, w, { x, state, seqLen }, record);
    if (!(x instanceof tf.Tensor)) return this.runPacked(w, x, state as LstmState, record);
    const lstmState = state as LstmState;
    const kernel = this.lstmKernel(pass);
    const backend = tensorflowBackend();
    switch (kernel) {
      case 'cell':
        return lstmCell(backend!, (pass as SamplePass).prepared![l], x, lstmState, seqLen);
      case 'block':
        return lstmBlock(backend!, w, x, lstmState);
      case 'packed':
        return this.runPacked(w, x, lstmState, record);
      case 'reference': {
        const { output, state: next, tape } = lstmReferenceForward(w, x, lstmState, seqLen, record);
        return { output, state: next, backward: record ? (dOutput) => lstmReferenceBackward(w, tape!, dOutput) : undefined };
      }
    }
    throw new Error(`unknown LSTM kernel ${String(kernel)}`);
  }

  /** An LSTM layer over a chunk on rnn-train's recurrence (lstm-native.ts's lstmPacked). */
  private runPacked(w: CellWeights, input: tf.Tensor2D | TableInput, state: LstmState, record: boolean): LayerPass {
    const capabilities = this.native();
    const backend = tensorflowBackend()!;
    const { lstmForward: forward, lstmBackward: backward } = backend.binding;
    // Scoring runs in float32, and without a backward pass to free what training's forward keeps.
    const precision = record ? this.precision : 'float32';
    // A table input's x·W costs no product over the chunk's rows, so only h_{t-1}'s columns count.
    const inputSize = input instanceof tf.Tensor ? input.shape[1] : 0;
    return lstmPacked(backend, { forward: forward!, backward }, w, input, state, {
      plan: recurrencePlan(capabilities, precision),
      precision,
      backward: record,
      weightColumns: weightProductColumns({ inputSize, hidden: state.h.shape[1] }, capabilities.sgemmIsa, precision),
    });
  }

  /** Whether the GRU's or the vanilla RNN's layers run on rnn-train's recurrence: policy.ts's selectCellKernel, where the binding has it. */
  private cellPacked(cell: 'gru' | 'rnn'): boolean {
    const binding = tensorflowBackend()?.binding;
    if (!binding || selectCellKernel({ kernels: this.kernels, capabilities: this.native(), cell }) !== 'packed') return false;
    return cell === 'gru' ? Boolean(binding.gruForward && binding.gruBackward) : Boolean(binding.rnnForward && binding.rnnBackward);
  }

  /** A GRU or vanilla RNN layer over a chunk, on the path cellPacked chooses; only that path reads a table input. */
  private runCell(cell: 'gru' | 'rnn', w: CellWeights, input: Omit<LayerInput, 'recurrentMask'>, record: boolean): LayerPass {
    const { x, state, seqLen } = input;
    if (this.cellPacked(cell)) {
      const backend = tensorflowBackend()!;
      const { binding } = backend;
      const options = { plan: recurrencePlan(this.native()), backward: record };
      return cell === 'gru'
        ? gruSequenceNative(backend, { forward: binding.gruForward!, backward: binding.gruBackward! }, w, x, state, options)
        : rnnSequenceNative(backend, { forward: binding.rnnForward!, backward: binding.rnnBackward! }, w, x, state, options);
    }
    if (!(x instanceof tf.Tensor)) throw new Error(`the ${cell} reference cell cannot read a table input`);
    return (cell === 'gru' ? gruForward : rnnForward)(w, x, state, seqLen, record);
  }

  /** Whether this pass's layers run on rnn-train's own recurrence, which can read the first layer's input as table rows. */
  private packed(pass: ForwardPass): boolean {
    const { cell } = this.config;
    return cell === 'lstm' ? this.lstmKernel(pass) === 'packed' : this.cellPacked(cell);
  }

  /** Logits [seqLen·B, V] for a time-major chunk; a training pass draws dropout and keeps the tape. */
  forward(
    inputs: Int32Array,
    seqLen: number,
    state: ModelState,
    pass: ForwardPass = { mode: 'score' },
  ): { logits: tf.Tensor2D; state: ModelState; tape: ForwardTape } {
    const dropoutRng = pass.mode === 'train' ? pass.dropoutRng : undefined;
    const ids = tf.tensor1d(inputs, 'int32');
    const embeddings = this.params.get('embedding/embeddings') as tf.Tensor2D;
    const { hiddenSize: H, weightDrop, vocabSize } = this.config;
    const inputDropout = dropoutRng ? this.config.inputDropout : 0;
    const table = this.packed(pass) && firstLayerTable({ vocabSize, rows: inputs.length, inputDropout });
    const tape: Omit<ForwardTape, 'top'> = { backward: [], masks: [], table };
    if (dropoutRng && inputDropout > 0) tape.inputMask = dropoutMask([inputs.length, this.config.embeddingSize], inputDropout, dropoutRng);
    const rows = (mask?: tf.Tensor2D): tf.Tensor2D => {
      const gathered = tf.gather(embeddings, ids) as tf.Tensor2D;
      return mask ? tf.mul(gathered, mask) : gathered;
    };
    let x: tf.Tensor2D | TableInput = table ? { table: embeddings, ids } : rows(tape.inputMask);
    const nextState: ModelState = [];
    for (let l = 0; l < this.config.layers; l++) {
      const recurrentMask = dropoutRng && weightDrop > 0 ? dropoutMask([H, GATE_BLOCKS[this.config.cell] * H], weightDrop, dropoutRng) : undefined;
      const result = this.runLayer(l, { x, state: state[l], seqLen, recurrentMask }, pass);
      nextState.push(result.state);
      x = result.output;
      if (dropoutRng) {
        tape.backward.push(recurrentMask ? maskedRecurrentGradient(result.backward!, recurrentMask) : result.backward!);
        const mask = this.config.dropout > 0 ? dropoutMask(x.shape, this.config.dropout, dropoutRng) : undefined;
        if (mask) x = tf.mul(x, mask) as tf.Tensor2D;
        tape.masks.push(mask);
      }
    }
    const top = x as tf.Tensor2D;
    // tf.matMul, not native/ops.ts's matMul: the gradient test differentiates this forward pass automatically.
    const logits = tf.add(tf.matMul(top, this.params.get('dense/kernel')!), this.params.get('dense/bias')!) as tf.Tensor2D;
    return { logits, state: nextState, tape: { ...tape, top } };
  }

  /**
   * Mean cross-entropy over the chunk (nats/char) and its gradient for every parameter, with dropout
   * drawn from `dropoutRng`. Call inside tf.tidy and keep what you need.
   */
  lossAndGradients(batch: Batch, state: ModelState, dropoutRng: Rng): { loss: tf.Scalar; gradients: NamedTensors; state: ModelState } {
    const { logits, state: nextState, tape } = this.forward(batch.inputs, batch.seqLen, state, { mode: 'train', dropoutRng });
    const count = batch.inputs.length;
    const { nll, dLogits: dLogitsSummed } = softmaxCrossEntropy(logits, batch.targets);
    const loss = tf.div(tf.sum(nll), count) as tf.Scalar;

    const gradients: NamedTensors = new Map();
    const dLogits = tf.div(dLogitsSummed, count) as tf.Tensor2D;
    gradients.set('dense/kernel', matMul(tape.top, dLogits, true, false));
    gradients.set('dense/bias', columnSums(dLogits));
    let dx = matMul(dLogits, this.params.get('dense/kernel') as tf.Tensor2D, false, true);
    for (let l = this.config.layers - 1; l >= 0; l--) {
      const mask = tape.masks[l];
      if (mask) dx = tf.mul(dx, mask);
      const grads = tape.backward[l](dx);
      const name = layerName(this.config.cell, l);
      gradients.set(`${name}/kernel`, grads.kernel);
      gradients.set(`${name}/recurrent_kernel`, grads.recurrentKernel);
      gradients.set(`${name}/bias`, grads.bias);
      dx = grads.dx;
    }
    if (tape.inputMask) dx = tf.mul(dx, tape.inputMask);
    // Scatter-add of the rows of dx into the embedding rows they came from, as a matmul with the
    // one-hot inputs (UnsortedSegmentSum has no wasm kernel); a table input's dx is summed already.
    gradients.set('embedding/embeddings', tape.table ? dx : matMul(oneHotRows(batch.inputs, this.config.vocabSize), dx, true, false));
    return { loss, gradients, state: nextState };
  }

  /** The log-probability (nats) of each of the chunk's targets, in their order, without dropout. Call inside tf.tidy. */
  targetLogProbs(batch: Batch, state: ModelState): { logProbs: tf.Tensor1D; state: ModelState } {
    const { logits, state: nextState } = this.forward(batch.inputs, batch.seqLen, state);
    return { logProbs: tf.neg(softmaxCrossEntropy(logits, batch.targets).nll), state: nextState };
  }

  /**
   * For many single-step forward calls with fixed weights (sampling): the fused kernels' weights,
   * rearranged once, to pass to forward(); undefined where those kernels are not available.
   * Dispose with disposePrepared().
   */
  prepareCellKernelWeights(): CellKernelWeights[] | undefined {
    if (this.config.cell !== 'lstm' || this.kernels === 'reference' || !this.native().fusedOps) return undefined;
    return tidy(() => Array.from({ length: this.config.layers }, (_, l) => cellKernelWeights(this.layer(l), this.config.hiddenSize)));
  }

  /**
   * This model stepping one character at a time in rnn-train's own kernels, in `streams`
   * independent streams from zero state, on a copy of the weights as they are now (sampling);
   * undefined where that cannot run (policy.ts's samplingIsa): then forward() steps it. `use`:
   * many characters a call (draw) or one (step), which decides its threads (samplingThreads).
   */
  nativeStepModel(streams: number, use: 'draw' | 'step'): NativeStepModel | undefined {
    const isa = samplingIsa(this.kernels, this.native());
    if (!isa) return undefined;
    const read = (name: string) => this.params.get(name)!.dataSync() as Float32Array;
    const layers = Array.from({ length: this.config.layers }, (_, l) => layerName(this.config.cell, l));
    const weights = [
      read('embedding/embeddings'),
      ...layers.flatMap((name) => [read(`${name}/kernel`), read(`${name}/recurrent_kernel`), read(`${name}/bias`)]),
      read('dense/kernel'),
      read('dense/bias'),
    ];
    const parallelism = samplingThreads({ streams, cores: this.native().cores, use, config: this.config });
    return NativeStepModel.create({ ...this.config, weights, isa, streams, ...parallelism });
  }

  /** Replaces every weight, e.g. with a checkpoint's on resume or rollback. */
  assignWeights(weights: Map<string, Float32Array>): void {
    for (const [name, variable] of this.params) {
      const values = weights.get(name);
      if (!values) throw new Error(`missing weight ${name}`);
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
    }
  }

  /** Copies every weight into `into`, one after another in the order of params (as flatten lays them out). */
  readFlatWeights(into: Float32Array): Promise<void> {
    return copyInto([...this.params.values()], into);
  }

  /** Replaces every weight from one vector laid out as readFlatWeights gives it. */
  assignFlatWeights(flat: Float32Array): void {
    const weights = new Map<string, Float32Array>();
    let offset = 0;
    for (const [name, variable] of this.params) {
      weights.set(name, flat.subarray(offset, offset + variable.size));
      offset += variable.size;
    }
    this.assignWeights(weights);
  }

  /** Copies the weights out of the backend, e.g. for a checkpoint. */
  async readWeights(): Promise<Map<string, Float32Array>> {
    const weights = new Map<string, Float32Array>();
    for (const [name, variable] of this.params) weights.set(name, (await variable.data()) as Float32Array);
    return weights;
  }

  dispose(): void {
    for (const variable of this.params.values()) variable.dispose();
  }
}

/**
 * Inverted dropout: keep with probability 1−rate and scale by 1/(1−rate), so inference needs no
 * change. On TensorFlow the uniform draws come from its stateless generator, seeded from `rng`
 * (as repeatable, and as exactly resumable, as drawing them here): drawing and uploading a fresh
 * mask of the defaults' size from JavaScript took longer than the step's arithmetic.
 */
function dropoutMask(shape: [number, number], rate: number, rng: Rng): tf.Tensor2D {
  const scale = 1 / (1 - rate);
  const uniform = statelessUniform(shape, rng);
  if (uniform) return tf.mul(tf.cast(tf.greaterEqual(uniform, rate), 'float32'), scale);
  const values = new Float32Array(shape[0] * shape[1]);
  for (let i = 0; i < values.length; i++) values[i] = rng.next() < rate ? 0 : scale;
  return tf.tensor2d(values, shape);
}

/** The gradient of the unmasked recurrent kernel, through the weight-drop mask (scale included). */
function maskedRecurrentGradient(backward: (dOutput: tf.Tensor2D) => CellGradients, mask: tf.Tensor2D): (dOutput: tf.Tensor2D) => CellGradients {
  return (dOutput) => {
    const gradients = backward(dOutput);
    return { ...gradients, recurrentKernel: tf.mul(gradients.recurrentKernel, mask) as tf.Tensor2D };
  };
}

/**
 * Tensors named like the parameters (their gradients, or the parameters themselves), flattened and
 * joined in the order of `params`. Call inside tf.tidy.
 */
export function flatten(params: Map<string, tf.Variable>, tensors: NamedTensors): tf.Tensor1D {
  return tf.concat([...params.keys()].map((name) => tf.reshape(tensors.get(name)!, [-1]))) as tf.Tensor1D;
}

export function disposePrepared(prepared: CellKernelWeights[] | undefined): void {
  if (prepared) tf.dispose(prepared.flatMap(({ W, b, noPeephole }) => [W, b, noPeephole]));
}
