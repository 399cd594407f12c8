import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { joinSteps, splitSteps, type CellGradients, type CellWeights, type LayerPass } from './cell.js';
import { emptyTape, recordStep, weightGradients, type LstmState, type LstmTape } from './lstm.js';

/**
 * The LSTM on TensorFlow's own fused kernels (LSTMBlockCell, LSTMBlockCellGrad), which tfjs-node can
 * run by name: one op per time step instead of a dozen small ones, so a step costs arithmetic rather
 * than per-op dispatch. Same maths and same tape as lstm.ts, which remains the portable reference.
 * These kernels order gates i, c, f, o; our weights use i, f, c, o, so columns are permuted going in
 * and gradients coming out.
 */

interface OpAttr {
  name: string;
  type: number;
  value: boolean | number;
}

/** The part of tfjs-node's backend used here: running any TensorFlow op by name. */
export interface TensorflowBackend {
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  binding: { TF_ATTR_BOOL: number; TF_ATTR_FLOAT: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
}

/** The tensorflow backend if it is the active one, else undefined (then use lstm.ts). */
export function tensorflowBackend(): TensorflowBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<TensorflowBackend>;
  return typeof backend.executeMultipleOutputs === 'function' && backend.binding ? (backend as TensorflowBackend) : undefined;
}

/** Column order mapping between i,f,c,o and i,c,f,o blocks; it is its own inverse. */
function swapMiddleGates(hidden: number): tf.Tensor1D {
  const order = new Int32Array(4 * hidden);
  const blocks = [0, 2, 1, 3];
  for (let b = 0; b < 4; b++) for (let j = 0; j < hidden; j++) order[b * hidden + j] = blocks[b] * hidden + j;
  return tf.tensor1d(order, 'int32');
}

function attrs(backend: TensorflowBackend, extra: OpAttr[]): OpAttr[] {
  const { binding } = backend;
  return [...extra, { name: 'use_peephole', type: binding.TF_ATTR_BOOL, value: false }, { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT }];
}

/** Weights as the fused kernels want them: W = [kernel; recurrentKernel] and bias, in i,c,f,o order. */
export interface FusedWeights {
  W: tf.Tensor2D;
  b: tf.Tensor1D;
  noPeephole: tf.Tensor1D;
}

/** Rearranges a layer's weights for the fused kernels; keep the result to reuse it across calls. */
export function fusedWeights(w: CellWeights, hidden: number): FusedWeights {
  const order = swapMiddleGates(hidden);
  return {
    W: tf.gather(tf.concat([w.kernel, w.recurrentKernel], 0), order, 1) as tf.Tensor2D,
    b: tf.gather(w.bias, order) as tf.Tensor1D,
    noPeephole: tf.zeros([hidden]) as tf.Tensor1D,
  };
}

/** Forward over a time-major chunk [seqLen·B, in], one LSTMBlockCell op per step. */
export function lstmForwardFused(
  backend: TensorflowBackend,
  w: CellWeights,
  x: tf.Tensor2D,
  state: LstmState,
  seqLen: number,
  prepared?: FusedWeights,
): { output: tf.Tensor2D; state: LstmState; tape: LstmTape } {
  const { W, b, noPeephole } = prepared ?? fusedWeights(w, state.h.shape[1]);
  const cellAttrs = attrs(backend, [
    { name: 'forget_bias', type: backend.binding.TF_ATTR_FLOAT, value: 0 },
    { name: 'cell_clip', type: backend.binding.TF_ATTR_FLOAT, value: -1 },
  ]);
  const xs = splitSteps(x, seqLen);
  const tape = emptyTape(x);
  let { h, c } = state;
  for (let t = 0; t < seqLen; t++) {
    const [i, cs, f, o, ci, co, hNext] = backend.executeMultipleOutputs(
      'LSTMBlockCell', cellAttrs, [xs[t], c, h, W, noPeephole, noPeephole, noPeephole, b], 7,
    ) as tf.Tensor2D[];
    recordStep(tape, { hPrev: h, cPrev: c, c: cs, i, f, g: ci, o, tanhC: co });
    h = hNext;
    c = cs;
  }
  const outputs = [...tape.hPrev.slice(1), h];
  return { output: joinSteps(outputs), state: { h, c }, tape };
}

/**
 * Backpropagation through time with one LSTMBlockCellGrad op and one matmul per step; the weight
 * gradients are then single GEMMs over the chunk, as in lstm.ts.
 */
export function lstmBackwardFused(backend: TensorflowBackend, w: CellWeights, tape: LstmTape, dOutput: tf.Tensor2D): CellGradients {
  const seqLen = tape.i.length;
  const hidden = tape.i[0].shape[1];
  const { W, b, noPeephole } = fusedWeights(w, hidden);
  // Transposed once here: a plain matmul per step is ~1.5× faster than one with transposeB.
  const recurrentT = tf.transpose(tf.slice(W, [W.shape[0] - hidden, 0], [hidden, -1]));
  const gradAttrs = attrs(backend, []);
  // The kernel reads only the shape of x and W; one placeholder row block serves every step.
  const xShape = tf.zeros([tape.i[0].shape[0], tape.x.shape[1]]);
  const dOutputs = splitSteps(dOutput, seqLen);
  const dGates: tf.Tensor2D[] = new Array(seqLen);
  let dh: tf.Tensor2D | undefined;
  let dc: tf.Tensor2D = tf.zerosLike(tape.c[0]);
  for (let t = seqLen - 1; t >= 0; t--) {
    const hGrad = dh ? tf.add(dOutputs[t], dh) : dOutputs[t];
    const [csPrevGrad, dicfo] = backend.executeMultipleOutputs(
      'LSTMBlockCellGrad',
      gradAttrs,
      [xShape, tape.cPrev[t], tape.hPrev[t], W, noPeephole, noPeephole, noPeephole, b,
        tape.i[t], tape.c[t], tape.f[t], tape.o[t], tape.g[t], tape.tanhC[t], dc, hGrad],
      5,
    ) as tf.Tensor2D[];
    dGates[t] = dicfo;
    dh = tf.matMul(dicfo, recurrentT) as tf.Tensor2D;
    dc = csPrevGrad;
  }
  const dIcfo = joinSteps(dGates);
  return weightGradients(w, tape, tf.gather(dIcfo, swapMiddleGates(hidden), 1) as tf.Tensor2D);
}

/**
 * tfjs has no int64 tensors; tfjs-node passes this stand-in to ops that need an int64 scalar
 * (BlockLSTM's sequence length). Loaded on first use, since tfjs-node is an optional dependency.
 */
let int64Scalar: ((value: number) => tf.Tensor) | undefined;
function int64(value: number): tf.Tensor {
  if (!int64Scalar) {
    const { Int64Scalar } = createRequire(import.meta.url)('@tensorflow/tfjs-node/dist/int64_tensors.js') as { Int64Scalar: new (value: number) => object };
    int64Scalar = (v) => new Int64Scalar(v) as unknown as tf.Tensor;
  }
  return int64Scalar(value);
}

/**
 * The whole chunk in one op each way: BlockLSTM forward, BlockLSTMGrad backward (which also sums
 * the weight gradients). For small layers this removes the per-step dispatch that dominates them;
 * for large ones its Eigen matmuls lose to oneDNN's, so model.ts uses it only for small steps.
 */
export function lstmSequenceFused(backend: TensorflowBackend, w: CellWeights, x: tf.Tensor2D, state: LstmState, seqLen: number): LayerPass {
  const hidden = state.h.shape[1];
  const batch = state.h.shape[0];
  const { W, b, noPeephole } = fusedWeights(w, hidden);
  const x3 = tf.reshape(x, [seqLen, batch, x.shape[1]]);
  const cellAttrs = attrs(backend, [
    { name: 'forget_bias', type: backend.binding.TF_ATTR_FLOAT, value: 0 },
    { name: 'cell_clip', type: backend.binding.TF_ATTR_FLOAT, value: -1 },
  ]);
  const common = [int64(seqLen), x3, state.c, state.h, W, noPeephole, noPeephole, noPeephole, b];
  const gates = backend.executeMultipleOutputs('BlockLSTM', cellAttrs, common, 7) as tf.Tensor3D[];
  const [, cs, , , , , h] = gates;
  const last = (t: tf.Tensor3D) => tf.reshape(tf.slice(t, [seqLen - 1, 0, 0], [1, -1, -1]), [batch, hidden]) as tf.Tensor2D;
  const backward = (dOutput: tf.Tensor2D): CellGradients => {
    const [xGrad, , , wGrad, , , , bGrad] = backend.executeMultipleOutputs(
      'BlockLSTMGrad', attrs(backend, []), [...common, ...gates, tf.zerosLike(cs), tf.reshape(dOutput, [seqLen, batch, hidden])], 8,
    );
    const order = swapMiddleGates(hidden);
    const [kernel, recurrentKernel] = tf.split(tf.gather(wGrad, order, 1), [x.shape[1], hidden], 0) as tf.Tensor2D[];
    return { dx: tf.reshape(xGrad, x.shape) as tf.Tensor2D, kernel, recurrentKernel, bias: tf.gather(bGrad, order) as tf.Tensor1D };
  };
  return { output: tf.reshape(h, [seqLen * batch, hidden]), state: { h: last(h), c: last(cs) }, backward };
}
