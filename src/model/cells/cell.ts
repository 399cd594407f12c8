import * as tf from '@tensorflow/tfjs-core';
import { columnSums, matMul, NO_TABLE, type TensorflowBackend } from '../../native/ops.js';

/** The recurrent cells a model can stack: LSTM, GRU and the vanilla (Elman) tanh RNN. */
export const CELL_TYPES = ['lstm', 'gru', 'rnn'] as const;
export type CellType = (typeof CELL_TYPES)[number];

/** Blocks of H columns in a cell's kernels: LSTM i,f,c,o; GRU z,r,h; RNN one. */
/** The name of recurrent layer `l` (from 0), as in the weight names: lstm_1, gru_2, rnn_1, … */
export function layerName(cell: CellType, l: number): string {
  return `${cell}_${l + 1}`;
}

export const GATE_BLOCKS: Record<CellType, number> = { lstm: 4, gru: 3, rnn: 1 };

/**
 * The operands of the LSTM's matrix products in training: float32, or bfloat16 with float32
 * accumulation (mixed precision), which only the tensorflow backend runs.
 */
export const MATMUL_PRECISIONS = ['float32', 'bfloat16'] as const;
export type MatmulPrecision = (typeof MATMUL_PRECISIONS)[number];

/**
 * One layer's weights in the layout of the matching tf.layers cell (lstm, gru with reset_after
 * false, simpleRNN): kernel [in, G·H], recurrentKernel [H, G·H], bias [G·H].
 */
export interface CellWeights {
  kernel: tf.Tensor2D;
  recurrentKernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/** A layer's recurrent state: h, and for the LSTM the cell state c. */
export interface LayerState {
  h: tf.Tensor2D;
  c?: tf.Tensor2D;
}

/** Frees every layer's state. */
export function disposeState(state: LayerState[]): void {
  for (const layer of state) tf.dispose(Object.values(layer));
}

export type StatePart = keyof LayerState;

export function mapLayerState(state: LayerState, f: (part: tf.Tensor2D) => tf.Tensor2D): LayerState {
  return state.c ? { h: f(state.h), c: f(state.c) } : { h: f(state.h) };
}

export function stateParts(cell: CellType): StatePart[] {
  return cell === 'lstm' ? ['h', 'c'] : ['h'];
}

export interface CellGradients {
  /** Of the layer's input rows [T·B, in]; for the first layer's table input (TableInput), of the table's rows [V, in]. */
  dx: tf.Tensor2D;
  kernel: tf.Tensor2D;
  recurrentKernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/**
 * A layer run over a time-major chunk [seqLen·B, in]. When the pass was recorded for training,
 * `backward` maps the gradient of the output to the gradients of the input and the weights
 * (truncated BPTT: nothing flows into the carried initial state).
 */
export interface LayerPass {
  output: tf.Tensor2D;
  state: LayerState;
  backward?: (dOutput: tf.Tensor2D) => CellGradients;
}

export function splitSteps(x: tf.Tensor2D, seqLen: number): tf.Tensor2D[] {
  return seqLen === 1 ? [x] : (tf.split(x, seqLen, 0) as tf.Tensor2D[]);
}

export function joinSteps(steps: tf.Tensor2D[]): tf.Tensor2D {
  return steps.length === 1 ? steps[0] : (tf.concat(steps, 0) as tf.Tensor2D);
}

/** h_{t-1} over a chunk [T·B, H]: the initial state [B, H], then the outputs h of every step but the last. */
export function previousOutputs(initial: tf.Tensor2D, outputs: tf.Tensor2D): tf.Tensor2D {
  const [batch, hidden] = initial.shape;
  const rows = outputs.shape[0];
  return rows === batch ? initial : (tf.concat([initial, tf.slice(outputs, [0, 0], [rows - batch, hidden])], 0) as tf.Tensor2D);
}

/** A matrix product with optional transposes, as tf.matMul takes them. */
export type Product = (a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean) => tf.Tensor2D;

/** How the native cells take inputGradients: with their own product, and the bias gradient their backward pass summed. */
export interface NativeGradients {
  product: Product;
  bias: tf.Tensor1D;
}

/**
 * Given the pre-activation gradients of every step, time-major [seqLen·B, G·H], the input and
 * kernel gradients are single large GEMMs over the whole chunk (as in torch-rnn), and the bias
 * gradient dA's column sums; the native cells take the products from TensorFlow's MatMul directly
 * (ops.ts's matMul) and the sums from their backward pass.
 */
export function inputGradients(w: CellWeights, x: tf.Tensor2D, dA: tf.Tensor2D, native?: NativeGradients): Omit<CellGradients, 'recurrentKernel'> {
  const product = native?.product ?? tf.matMul;
  return {
    dx: product(dA, w.kernel, false, true),
    kernel: product(x, dA, true, false),
    bias: native?.bias ?? columnSums(dA),
  };
}

/**
 * The first layer's input as its characters' rows of the embedding table (policy.ts's
 * firstLayerTable), which rnn-train's own recurrences read: x·W is then the table's product with
 * W, V × G·H made once a chunk, whose rows the recurrence reads by character; backward, the
 * recurrence sums dA by character, and the input gradients are products over V rows instead of
 * the chunk's T·B.
 */
export interface TableInput {
  /** The embedding table, [V, in]. */
  table: tf.Tensor2D;
  /** The chunk's characters, time-major, int32 [T·B]. */
  ids: tf.Tensor1D;
}

export function isTable(input: tf.Tensor2D | TableInput): input is TableInput {
  return 'table' in input;
}

/** The chunk's rows, T·B, whichever the input. */
export function inputRows(input: tf.Tensor2D | TableInput): number {
  return isTable(input) ? input.ids.shape[0] : input.shape[0];
}

/** The matrix whose product with W the recurrence reads: the chunk's input rows, or the table. */
export function projectedRows(input: tf.Tensor2D | TableInput): tf.Tensor2D {
  return isTable(input) ? input.table : input;
}

/**
 * The native recurrences' `rows` and `tableRows`: the id of the table rows the chunk's rows read,
 * and the table's row count; NO_TABLE and 0 for an input of its own.
 */
export function tableArguments(backend: TensorflowBackend, input: tf.Tensor2D | TableInput): { ids: number; count: number } {
  return isTable(input) ? { ids: backend.getInputTensorIds([input.ids])[0], count: input.table.shape[0] } : { ids: NO_TABLE, count: 0 };
}

/**
 * What a float32 native recurrence's forward call reads of its input: the chunk's rows T·B, the
 * table arguments, and the product whose rows it reads (x·W, or the table's E·W).
 */
export function nativeInput(
  backend: TensorflowBackend,
  w: CellWeights,
  input: tf.Tensor2D | TableInput,
): { rows: number; table: { ids: number; count: number }; projection: tf.Tensor2D } {
  return { rows: inputRows(input), table: tableArguments(backend, input), projection: matMul(projectedRows(input), w.kernel) };
}

/**
 * inputGradients on a native backward pass's outputs: over the chunk's rows and dA, or for a table
 * input over the table and dA summed by the table row each chunk row read (the pass's third
 * output, `dTable`, [V, G·H]), whose product with Wᵀ is then the table's gradient.
 */
export function nativeInputGradients(
  backend: TensorflowBackend,
  w: CellWeights,
  input: tf.Tensor2D | TableInput,
  { dGates, dTable }: { dGates: tf.Tensor2D; dTable?: number },
  native: NativeGradients,
): Omit<CellGradients, 'recurrentKernel'> {
  if (!isTable(input)) return inputGradients(w, input, dGates, native);
  const summed = backend.createOutputTensor({ id: dTable!, shape: [input.table.shape[0], dGates.shape[1]], dtype: backend.binding.TF_FLOAT }) as tf.Tensor2D;
  return inputGradients(w, input.table, summed, native);
}
