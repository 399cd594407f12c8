import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { joinSteps, splitSteps, type CellGradients, type CellWeights, type LayerPass } from './cell.js';
import type { LstmState } from './lstm.js';

/**
 * The LSTM on TensorFlow's own fused kernels, which tfjs-node can run by name: BlockLSTM runs a
 * whole chunk forward in one op, LSTMBlockCellGrad one backward time step, LSTMBlockCell one
 * forward step (sampling), so a step costs arithmetic rather than the dispatch of a dozen small ops.
 * Same maths as lstm.ts, which remains the portable reference. These kernels order gates i, c, f, o;
 * our weights use i, f, c, o, so columns are permuted going in and gradients coming out.
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

function typeAttr({ binding }: TensorflowBackend): OpAttr {
  return { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
}

function noPeepholeAttr({ binding }: TensorflowBackend): OpAttr {
  return { name: 'use_peephole', type: binding.TF_ATTR_BOOL, value: false };
}

/** The forward kernels' attributes: no forget-gate offset (ours is in the bias), no cell clipping. */
function cellAttrs(backend: TensorflowBackend): OpAttr[] {
  return [
    { name: 'forget_bias', type: backend.binding.TF_ATTR_FLOAT, value: 0 },
    { name: 'cell_clip', type: backend.binding.TF_ATTR_FLOAT, value: -1 },
    noPeepholeAttr(backend),
    typeAttr(backend),
  ];
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

/**
 * Forward, one LSTMBlockCell op per step, with weights rearranged once beforehand: for sampling,
 * where single steps cannot amortise rearranging them, and BlockLSTM's per-call setup would cost more.
 */
export function lstmForwardFused(
  backend: TensorflowBackend,
  { W, b, noPeephole }: FusedWeights,
  x: tf.Tensor2D,
  state: LstmState,
  seqLen: number,
): { output: tf.Tensor2D; state: LstmState } {
  const outputs: tf.Tensor2D[] = [];
  let { h, c } = state;
  for (const xt of splitSteps(x, seqLen)) {
    const [, cs, , , , , hNext] = backend.executeMultipleOutputs('LSTMBlockCell', cellAttrs(backend), [xt, c, h, W, noPeephole, noPeephole, noPeephole, b], 7) as tf.Tensor2D[];
    h = hNext;
    c = cs;
    outputs.push(h);
  }
  return { output: joinSteps(outputs), state: { h, c } };
}

/** What BlockLSTM returns, each time-major [seqLen·B, H]: gates i, c (cell state), f, o, g (candidate), tanh(c), h. */
type BlockOutputs = [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];

/**
 * Backpropagation through time with one LSTMBlockCellGrad op and one matmul per step: the loop
 * carries only dh and dc, and the input and weight gradients are then single GEMMs over the chunk,
 * as in lstm.ts (and torch-rnn). The loop's ops go to TensorFlow directly: tfjs's own dispatch
 * would double their per-op cost, which is most of what a small layer's step costs.
 */
function lstmBackwardFused(
  backend: TensorflowBackend,
  { W, b, noPeephole }: FusedWeights,
  x: tf.Tensor2D,
  state: LstmState,
  outputs: BlockOutputs,
  dOutput: tf.Tensor2D,
): CellGradients {
  const [batch, hidden] = state.h.shape;
  const seqLen = x.shape[0] / batch;
  const inputSize = x.shape[1];
  const [i, c, f, o, g, tanhC] = outputs.slice(0, 6).map((t) => splitSteps(t, seqLen));
  const h = outputs[6];
  const run = (name: string, inputs: tf.Tensor[], extra: OpAttr[], count: number) => backend.executeMultipleOutputs(name, [...extra, typeAttr(backend)], inputs, count) as tf.Tensor2D[];
  // Transposed once here: a plain matmul per step is ~1.5× faster than one with transposeB.
  const recurrentT = tf.transpose(tf.slice(W, [inputSize, 0], [hidden, -1]));
  const noTranspose = [false, false].map((value, k) => ({ name: k ? 'transpose_b' : 'transpose_a', type: backend.binding.TF_ATTR_BOOL, value }));
  // The kernel reads only the shapes of x, h_prev and W; placeholders serve every step.
  const xShape = tf.zeros([batch, inputSize]);
  const dOutputs = splitSteps(dOutput, seqLen);
  const dGates: tf.Tensor2D[] = new Array(seqLen);
  let dh: tf.Tensor2D | undefined;
  let dc: tf.Tensor2D = tf.zerosLike(state.c);
  for (let t = seqLen - 1; t >= 0; t--) {
    const hGrad = dh ? run('AddV2', [dOutputs[t], dh], [], 1)[0] : dOutputs[t];
    const [csPrevGrad, dicfo] = run(
      'LSTMBlockCellGrad',
      [xShape, t > 0 ? c[t - 1] : state.c, state.h, W, noPeephole, noPeephole, noPeephole, b, i[t], c[t], f[t], o[t], g[t], tanhC[t], dc, hGrad],
      [noPeepholeAttr(backend)],
      5,
    );
    dGates[t] = dicfo;
    dh = run('MatMul', [dicfo, recurrentT], noTranspose, 1)[0];
    dc = csPrevGrad;
  }
  // The GEMMs run in the kernels' i,c,f,o order; only the (smaller) weight gradients are permuted back.
  const dIcfo = joinSteps(dGates);
  const hPrev = seqLen === 1 ? state.h : tf.concat([state.h, tf.slice(h, [0, 0], [(seqLen - 1) * batch, hidden])], 0);
  const order = swapMiddleGates(hidden);
  const backToIfco = (input: tf.Tensor2D) => tf.gather(tf.matMul(input, dIcfo, true, false), order, 1) as tf.Tensor2D;
  return {
    dx: tf.matMul(dIcfo, tf.slice(W, [0, 0], [inputSize, -1]), false, true) as tf.Tensor2D,
    kernel: backToIfco(x),
    recurrentKernel: backToIfco(hPrev),
    bias: tf.gather(tf.sum(dIcfo, 0), order) as tf.Tensor1D,
  };
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
 * A chunk on the fused kernels: forward in one BlockLSTM op, backward with lstmBackwardFused on the
 * kernel's outputs cut into steps. Not BlockLSTMGrad: it accumulates the weight gradients with one
 * small GEMM per step, and took 1.4–1.6× as long as this for 2×128 at batch 25. Measured against
 * lstm.ts's forward (one big input-projection GEMM, then a matmul and a dozen small ops per step),
 * BlockLSTM is as fast or faster at every size tried, 2×128 to 2×1024 (bench/bench.mjs).
 */
export function lstmSequenceFused(backend: TensorflowBackend, w: CellWeights, x: tf.Tensor2D, state: LstmState, seqLen: number): LayerPass {
  const hidden = state.h.shape[1];
  const batch = state.h.shape[0];
  const fused = fusedWeights(w, hidden);
  const inputs = [int64(seqLen), tf.reshape(x, [seqLen, batch, x.shape[1]]), state.c, state.h, fused.W, fused.noPeephole, fused.noPeephole, fused.noPeephole, fused.b];
  const outputs = backend.executeMultipleOutputs('BlockLSTM', cellAttrs(backend), inputs, 7).map((t) => tf.reshape(t, [seqLen * batch, hidden])) as BlockOutputs;
  const h = outputs[6];
  const last = (t: tf.Tensor2D) => tf.slice(t, [(seqLen - 1) * batch, 0], [batch, hidden]);
  const backward = (dOutput: tf.Tensor2D): CellGradients => lstmBackwardFused(backend, fused, x, state, outputs, dOutput);
  return { output: h, state: { h: last(h), c: last(outputs[1]) }, backward };
}
