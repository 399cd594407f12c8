import * as tf from '@tensorflow/tfjs-core';
import {
  inputRows,
  isTable,
  previousOutputs,
  projectedRows,
  tableArguments,
  type CellGradients,
  type CellWeights,
  type LayerPass,
  type MatmulPrecision,
  type TableInput,
} from './cell.js';
import type { LstmState } from './lstm.js';
import {
  floatAttr,
  gateGradients,
  matMul,
  matMulsBfloat16,
  type ProductTerms,
  type LstmBackward,
  type LstmForward,
  type OpAttr,
  type RecurrencePlan,
  type TensorflowBackend,
} from '../../native/ops.js';

/**
 * The LSTM on rnn-train's additions to tfjs-node's binding (src/install/recurrence/): lstmForward
 * and lstmBackward run a whole chunk's recurrence in one call each; and, for an addon without
 * them, TensorFlow's own fused kernels, which tfjs-node can run by name: BlockLSTMV2 (a chunk
 * forward, for scoring) and LSTMBlockCell (one step, for sampling). Same maths as lstm.ts, which
 * remains the portable reference. BlockLSTMV2 orders gates i, f, c, o as our weights do;
 * LSTMBlockCell orders them i, c, f, o, so weights going into it have their middle gate blocks swapped.
 */

/**
 * Swaps the f and c gate blocks of the last axis ([…, 4H]): i,f,c,o ↔ i,c,f,o; its own inverse.
 * A gather of whole H-wide blocks, which copies contiguous rows, is an order of magnitude faster
 * than gathering the 4H columns one by one (7.5 ms against 0.27 ms for 1024×2048).
 */
function swapMiddleGates<T extends tf.Tensor1D | tf.Tensor2D>(t: T, hidden: number): T {
  const rows = t.rank === 1 ? 1 : t.shape[0];
  return tf.reshape(tf.gather(tf.reshape(t, [rows, 4, hidden]), tf.tensor1d([0, 2, 1, 3], 'int32'), 1), t.shape) as T;
}

function noPeepholeAttr({ binding }: TensorflowBackend): OpAttr {
  return { name: 'use_peephole', type: binding.TF_ATTR_BOOL, value: false };
}

/** The forward kernels' attributes: no cell clipping, no peepholes (and for LSTMBlockCell, whose forget-gate offset is ours, in the bias, none). */
function forwardAttrs(backend: TensorflowBackend, forgetBias: boolean): OpAttr[] {
  return [
    ...(forgetBias ? [{ name: 'forget_bias', type: backend.binding.TF_ATTR_FLOAT, value: 0 }] : []),
    { name: 'cell_clip', type: backend.binding.TF_ATTR_FLOAT, value: -1 },
    noPeepholeAttr(backend),
    floatAttr(backend),
  ];
}

/** Weights as LSTMBlockCell (selectLstmKernel's `cell`) wants them: W = [kernel; recurrentKernel] and bias, in i,c,f,o order. */
export interface CellKernelWeights {
  W: tf.Tensor2D;
  b: tf.Tensor1D;
  noPeephole: tf.Tensor1D;
}

/** Rearranges a layer's weights for LSTMBlockCell; keep the result to reuse it across calls. */
export function cellKernelWeights(w: CellWeights, hidden: number): CellKernelWeights {
  return {
    W: swapMiddleGates(tf.concat([w.kernel, w.recurrentKernel], 0) as tf.Tensor2D, hidden),
    b: swapMiddleGates(w.bias, hidden),
    noPeephole: tf.zeros([hidden]) as tf.Tensor1D,
  };
}

/**
 * selectLstmKernel's `cell`: forward, one LSTMBlockCell op per step, with weights rearranged once
 * beforehand: for sampling, where single steps cannot amortise rearranging them, and BlockLSTMV2's
 * per-call setup would cost more.
 */
export function lstmCell(
  backend: TensorflowBackend,
  { W, b, noPeephole }: CellKernelWeights,
  x: tf.Tensor2D,
  state: LstmState,
  seqLen: number,
): { output: tf.Tensor2D; state: LstmState } {
  const outputs: tf.Tensor2D[] = [];
  let { h, c } = state;
  const steps = seqLen === 1 ? [x] : (tf.split(x, seqLen, 0) as tf.Tensor2D[]);
  for (const xt of steps) {
    const [, cs, , , , , hNext] = backend.executeMultipleOutputs(
      'LSTMBlockCell',
      forwardAttrs(backend, true),
      [xt, c, h, W, noPeephole, noPeephole, noPeephole, b],
      7,
    ) as tf.Tensor2D[];
    h = hNext;
    c = cs;
    outputs.push(h);
  }
  return { output: outputs.length === 1 ? outputs[0] : (tf.concat(outputs, 0) as tf.Tensor2D), state: { h, c } };
}

/**
 * The sequence length BlockLSTMV2 takes, an int64 scalar, which tfjs cannot make: one handle per
 * length, made once and kept for the life of the process (tfjs-node's own Int64Scalar would leave
 * a new one behind on every call).
 */
const int64Scalars = new Map<number, number>();
function int64Scalar(backend: TensorflowBackend, value: number): number {
  let id = int64Scalars.get(value);
  if (id === undefined) {
    id = backend.binding.createTensor([], backend.binding.TF_INT64, new Int32Array([value, 0]));
    int64Scalars.set(value, id);
  }
  return id;
}

/** What BlockLSTMV2 returns, each time-major [seqLen, B, H]: gates i, c (cell state), f, o, g (candidate), tanh(c), h. */
type BlockOutputs = [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];

/** One layer's chunk on the native kernels: what both of its passes read. */
interface NativeChunk {
  backend: TensorflowBackend;
  w: CellWeights;
  /** The layer's input, time-major [T·B, in], or the first layer's as table rows. */
  input: tf.Tensor2D | TableInput;
  /** T·B. */
  rows: number;
  /** The state the chunk starts from. */
  state: LstmState;
  /** Of the chunk-wide matrix products of both passes. */
  precision: MatmulPrecision;
  /** The recurrence's ISA path and threads. */
  plan: RecurrencePlan;
  /** PackedOptions's weightColumns. */
  weightColumns: number;
}

/**
 * What the forward pass leaves for the backward pass: the gates [T·B, 4H], c and tanh(c) over the
 * chunk, as lstmBackward takes them (it writes dA over the gates), and the output h.
 */
interface ForwardBuffers {
  saved: [gates: tf.Tensor2D, c: tf.Tensor2D, tanhC: tf.Tensor2D];
  output: tf.Tensor2D;
}

/**
 * Forward through the binding's lstmForward (rnn-train's addition, src/install/recurrence/): one
 * product for the input projections of the whole chunk, in the chunk's precision, then the float32
 * recurrence. Returns the layer's outputs and what the backward pass takes (ForwardBuffers).
 */
function lstmForwardNative(chunk: NativeChunk, lstmForward: LstmForward): { state: LstmState } & ForwardBuffers {
  const { backend, w, state, rows } = chunk;
  const [batch, hidden] = state.h.shape;
  const { binding } = backend;
  const [projected, bias, h, c, recurrent] = backend.getInputTensorIds([inputProjection(chunk), w.bias, state.h, state.c, w.recurrentKernel]);
  const ids = lstmForward(projected, tableArguments(backend, chunk.input).ids, bias, h, c, recurrent, chunk.plan.isa, chunk.plan.threads);
  const [gates, cs, tanhC, output] = ids.map(
    (id, k) => backend.createOutputTensor({ id, shape: [rows, k === 0 ? 4 * hidden : hidden], dtype: binding.TF_FLOAT }) as tf.Tensor2D,
  );
  const last = (t: tf.Tensor2D) => tf.slice(t, [rows - batch, 0], [batch, hidden]);
  return { output, state: { h: last(output), c: last(cs) }, saved: [gates, cs, tanhC] };
}

/** x·W over the chunk, or the table's product, whose rows the recurrence picks as it reads them. */
function inputProjection(chunk: NativeChunk): tf.Tensor2D {
  const { input, w } = chunk;
  const [product] = products(chunk, [{ a: projectedRows(input), b: w.kernel, transposeA: false, transposeB: false }]);
  return product;
}

/** Matrix products in the chunk's precision: float32, or with bfloat16 operands cast once each. */
function products({ backend, precision }: NativeChunk, terms: ProductTerms[]): tf.Tensor2D[] {
  if (precision === 'bfloat16') return matMulsBfloat16(backend, terms);
  return terms.map(({ a, b, transposeA, transposeB }) => matMul(a, b, transposeA, transposeB));
}

/**
 * Backpropagation through time in one call to the binding's lstmBackward (rnn-train's addition,
 * src/install/recurrence/), which reads the forward pass's buffers in place and writes dA over the
 * gates, whose tensor is then freed; then the chunk-wide GEMMs. Gates stay in our i,f,c,o order
 * throughout.
 */
function lstmBackwardNative(chunk: NativeChunk, lstmBackward: LstmBackward, forward: ForwardBuffers, dOutput: tf.Tensor2D): CellGradients {
  const { backend, w, state, input } = chunk;
  const hidden = state.h.shape[1];
  const [cInitial, dOutputId, recurrent] = backend.getInputTensorIds([state.c, dOutput, w.recurrentKernel]);
  const table = tableArguments(backend, input);
  const [dGatesId, dBiasId, dTableId] = lstmBackward(
    backend.getInputTensorIds(forward.saved),
    cInitial,
    dOutputId,
    recurrent,
    table.ids,
    table.count,
    chunk.plan.isa,
    chunk.plan.threads,
  );
  const { dGates, bias } = gateGradients(backend, [dGatesId, dBiasId], [chunk.rows, 4 * hidden]);
  forward.saved[0].dispose();
  const hPrev = previousOutputs(state.h, forward.output);
  if (!isTable(input)) return { ...gradientProducts(chunk, input, dGates, hPrev), bias };
  const dTable = backend.createOutputTensor({ id: dTableId!, shape: [table.count, 4 * hidden], dtype: backend.binding.TF_FLOAT }) as tf.Tensor2D;
  return { ...tableProducts(chunk, input.table, { dGates, dTable }, hPrev), bias };
}

/**
 * The backward pass's chunk-wide products: ∂x = dA·Wᵀ, and ∂W = xᵀ·dA and ∂U = h_{t-1}ᵀ·dA as two
 * products, or as the rows of one over [x | h_{t-1} | zeros] (NativeChunk's weightColumns).
 */
function gradientProducts(chunk: NativeChunk, x: tf.Tensor2D, dGates: tf.Tensor2D, hPrev: tf.Tensor2D): Omit<CellGradients, 'bias'> {
  const { w, weightColumns } = chunk;
  const dx: ProductTerms = { a: dGates, b: w.kernel, transposeA: false, transposeB: true };
  const weights = (a: tf.Tensor2D): ProductTerms => ({ a, b: dGates, transposeA: true, transposeB: false });
  if (weightColumns === 0) {
    const [dInput, kernel, recurrentKernel] = products(chunk, [dx, weights(x), weights(hPrev)]);
    return { dx: dInput, kernel, recurrentKernel };
  }
  const [dInput, joined] = products(chunk, [dx, weights(joinColumns([x, hPrev], weightColumns))]);
  const [inputSize, gates] = [x.shape[1], dGates.shape[1]];
  return {
    dx: dInput,
    kernel: tf.slice(joined, [0, 0], [inputSize, gates]),
    recurrentKernel: tf.slice(joined, [inputSize, 0], [hPrev.shape[1], gates]),
  };
}

/**
 * The same products for a table input, on dA summed by the table row each chunk row read,
 * ∂T = Σ dA [V, 4H] (which lstmBackward sums as it writes dA): the table's gradient ∂T·Wᵀ [V, in]
 * (as CellGradients's dx), ∂W = tableᵀ·∂T, and ∂U = h_{t-1}ᵀ·dA, alone or over [h_{t-1} | zeros]
 * (weightColumns).
 */
function tableProducts(
  chunk: NativeChunk,
  table: tf.Tensor2D,
  { dGates, dTable }: { dGates: tf.Tensor2D; dTable: tf.Tensor2D },
  hPrev: tf.Tensor2D,
): Omit<CellGradients, 'bias'> {
  const { w, weightColumns } = chunk;
  const gates = dGates.shape[1];
  const [dx, kernel, recurrent] = products(chunk, [
    { a: dTable, b: w.kernel, transposeA: false, transposeB: true },
    { a: table, b: dTable, transposeA: true, transposeB: false },
    { a: weightColumns === 0 ? hPrev : joinColumns([hPrev], weightColumns), b: dGates, transposeA: true, transposeB: false },
  ]);
  return { dx, kernel, recurrentKernel: weightColumns === 0 ? recurrent : tf.slice(recurrent, [0, 0], [hPrev.shape[1], gates]) };
}

/** The matrices side by side, [rows, Σ columns], with zero columns up to `columns`. */
function joinColumns(parts: tf.Tensor2D[], columns: number): tf.Tensor2D {
  const rows = parts[0].shape[0];
  const pad = columns - parts.reduce((sum, part) => sum + part.shape[1], 0);
  return tf.concat(pad > 0 ? [...parts, tf.zeros([rows, pad])] : parts, 1) as tf.Tensor2D;
}

/** How lstmPacked runs a chunk: the recurrence's ISA path and threads, the products' precision, and whether to return a backward pass. */
export interface PackedOptions {
  /** The packed recurrence's ISA path and threads (policy.ts's recurrencePlan). */
  plan: RecurrencePlan;
  /** Of the chunk-wide matrix products; float32 for anything but training. */
  precision: MatmulPrecision;
  /** Whether to return a backward pass (training). */
  backward: boolean;
  /** The weight gradients' product: 0 for two, else one over this many columns (policy.ts's weightProductColumns). */
  weightColumns: number;
}

/**
 * selectLstmKernel's `packed`: a chunk on rnn-train's own recurrence, forward in
 * lstmForwardNative, backward in lstmBackwardNative on the forward pass's buffers. Not
 * BlockLSTMGrad: it accumulates the weight gradients with small GEMMs at every step, and took
 * 1.4–1.6× as long as the written-out backward for 2×128 at batch 25 (2× for 2×256 and 2×512).
 */
export function lstmPacked(
  backend: TensorflowBackend,
  kernels: { forward: LstmForward; backward?: LstmBackward },
  w: CellWeights,
  input: tf.Tensor2D | TableInput,
  state: LstmState,
  options: PackedOptions,
): LayerPass {
  const rows = inputRows(input);
  const chunk: NativeChunk = { backend, w, input, rows, state, precision: options.precision, plan: options.plan, weightColumns: options.weightColumns };
  const { output, state: next, saved } = lstmForwardNative(chunk, kernels.forward);
  const { backward } = kernels;
  return {
    output,
    state: next,
    backward: options.backward && backward ? once((dOutput: tf.Tensor2D) => lstmBackwardNative(chunk, backward, { saved, output }, dOutput)) : undefined,
  };
}

/** The backward pass, which may run once: it writes dA over the forward pass's gates. */
function once(backward: (dOutput: tf.Tensor2D) => CellGradients): (dOutput: tf.Tensor2D) => CellGradients {
  let ran = false;
  return (dOutput) => {
    if (ran) throw new Error("a packed LSTM layer's backward pass runs once: it has written over its forward pass's gates");
    ran = true;
    return backward(dOutput);
  };
}

/** selectLstmKernel's `block`: a chunk forward in one BlockLSTMV2 op, for an addon without rnn-train's recurrence (scoring only). */
export function lstmBlock(backend: TensorflowBackend, w: CellWeights, x: tf.Tensor2D, state: LstmState): LayerPass {
  const [batch, hidden] = state.h.shape;
  const seqLen = x.shape[0] / batch;
  const W = tf.concat([w.kernel, w.recurrentKernel], 0) as tf.Tensor2D;
  const noPeephole = tf.zeros([hidden]);
  const [x3] = backend.getInputTensorIds([tf.reshape(x, [seqLen, batch, x.shape[1]])]);
  const inputs = [int64Scalar(backend, seqLen), x3, ...backend.getInputTensorIds([state.c, state.h, W, noPeephole, noPeephole, noPeephole, w.bias])];
  const outputs = backend.binding.executeOp('BlockLSTMV2', forwardAttrs(backend, false), inputs, 7).map((o) => backend.createOutputTensor(o)) as BlockOutputs;
  const last = (t: tf.Tensor3D) => tf.reshape(tf.slice(t, [seqLen - 1, 0, 0], [1, batch, hidden]), [batch, hidden]) as tf.Tensor2D;
  return { output: tf.reshape(outputs[6], [seqLen * batch, hidden]) as tf.Tensor2D, state: { h: last(outputs[6]), c: last(outputs[1]) } };
}
