import * as tf from '@tensorflow/tfjs-core';
import { isSmallStep, type CellGradients, type CellWeights, type LayerPass } from './cell.js';
import type { LstmState } from './lstm.js';
import { bfloat16Handle, columnSums, floatAttr, matMul, matMulAttrs, matMulBfloat16, matMulBfloat16Handles, type MatmulPrecision, type OpAttr, type TensorflowBackend } from './native.js';

/**
 * The LSTM on TensorFlow's own fused kernels, which tfjs-node can run by name: BlockLSTMV2 runs a
 * whole chunk forward in one op, LSTMBlockCellGrad one backward time step, LSTMBlockCell one
 * forward step (sampling), so a step costs arithmetic rather than the dispatch of a dozen small ops.
 * Same maths as lstm.ts, which remains the portable reference. BlockLSTMV2 orders gates i, f, c, o
 * as our weights do; LSTMBlockCell and LSTMBlockCellGrad order them i, c, f, o, so weights going
 * into those, and gradients coming out of them, have their middle gate blocks swapped.
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

/** Weights as LSTMBlockCell wants them: W = [kernel; recurrentKernel] and bias, in i,c,f,o order. */
export interface FusedWeights {
  W: tf.Tensor2D;
  b: tf.Tensor1D;
  noPeephole: tf.Tensor1D;
}

/** Rearranges a layer's weights for LSTMBlockCell; keep the result to reuse it across calls. */
export function fusedWeights(w: CellWeights, hidden: number): FusedWeights {
  return {
    W: swapMiddleGates(tf.concat([w.kernel, w.recurrentKernel], 0) as tf.Tensor2D, hidden),
    b: swapMiddleGates(w.bias, hidden),
    noPeephole: tf.zeros([hidden]) as tf.Tensor1D,
  };
}

/**
 * Forward, one LSTMBlockCell op per step, with weights rearranged once beforehand: for sampling,
 * where single steps cannot amortise rearranging them, and BlockLSTMV2's per-call setup would cost more.
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
  const steps = seqLen === 1 ? [x] : (tf.split(x, seqLen, 0) as tf.Tensor2D[]);
  for (const xt of steps) {
    const [, cs, , , , , hNext] = backend.executeMultipleOutputs('LSTMBlockCell', forwardAttrs(backend, true), [xt, c, h, W, noPeephole, noPeephole, noPeephole, b], 7) as tf.Tensor2D[];
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

/** What LSTMBlockCellGrad needs of each forward time step, as raw handles [B, H], which the backward pass deletes. */
interface StepHandles {
  i: number[];
  c: number[];
  f: number[];
  o: number[];
  g: number[];
  tanhC: number[];
}

type Run = (name: string, inputs: number[], attrs: OpAttr[], count: number) => number[];

/** Runs an op on raw handles with the float32 `T` attribute; returns the output handles. */
function runner(backend: TensorflowBackend): Run {
  const T = floatAttr(backend);
  return (name, inputs, attrs, count) => backend.binding.executeOp(name, [...attrs, T], inputs, count).map((o) => o.id);
}

/** Splits a handle into `count` equal parts along `axis` (Split; Unpack when the parts drop that axis). */
function splitHandle(backend: TensorflowBackend, run: Run, id: number, count: number, axis: number, op: 'Split' | 'Unpack'): number[] {
  const { binding } = backend;
  if (op === 'Unpack') {
    const attrs = [
      { name: 'num', type: binding.TF_ATTR_INT, value: count },
      { name: 'axis', type: binding.TF_ATTR_INT, value: axis },
    ];
    return run('Unpack', [id], attrs, count);
  }
  const [axisId] = backend.getInputTensorIds([tf.scalar(axis, 'int32')]);
  return run('Split', [axisId, id], [{ name: 'num_split', type: binding.TF_ATTR_INT, value: count }], count);
}

/** Joins handles along axis 0 (ConcatV2) into a new handle. */
function concatHandles(backend: TensorflowBackend, run: Run, ids: number[]): number {
  const { binding } = backend;
  const attrs = [
    { name: 'N', type: binding.TF_ATTR_INT, value: ids.length },
    { name: 'Tidx', type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 },
  ];
  return run('ConcatV2', [...ids, ...backend.getInputTensorIds([tf.scalar(0, 'int32')])], attrs, 1)[0];
}

/**
 * Forward with bfloat16 matmuls (--precision bfloat16), which BlockLSTMV2 cannot do: one product
 * for the input projections of the whole chunk, then per step the recurrent product and the gates,
 * a dozen small float32 ops on raw handles. The cell state and every non-linearity stay float32.
 * Gates come in the kernels' i,c,f,o order, as LSTMBlockCellGrad takes them.
 */
function lstmForwardBfloat16(backend: TensorflowBackend, w: CellWeights, x: tf.Tensor2D, state: LstmState, seqLen: number): { output: tf.Tensor2D; state: LstmState; steps: StepHandles } {
  const [batch, hidden] = state.h.shape;
  const { binding } = backend;
  const run = runner(backend);
  const projected = tf.add(matMulBfloat16(backend, x, swapMiddleGates(w.kernel, hidden), false, false), swapMiddleGates(w.bias, hidden));
  const inputs = splitHandle(backend, run, backend.getInputTensorIds([projected])[0], seqLen, 0, 'Split');
  const recurrent16 = bfloat16Handle(backend, swapMiddleGates(w.recurrentKernel, hidden));
  const steps: StepHandles = { i: [], c: [], f: [], o: [], g: [], tanhC: [] };
  const hs: number[] = [];
  let [h, c] = backend.getInputTensorIds([state.h, state.c]);
  for (let t = 0; t < seqLen; t++) {
    const recurrent = matMulBfloat16Handles(backend, h, recurrent16, false, false);
    const [gates] = run('AddV2', [inputs[t], recurrent], [], 1);
    const [iIn, gIn, fIn, oIn] = splitHandle(backend, run, gates, 4, 1, 'Split');
    const [i] = run('Sigmoid', [iIn], [], 1);
    const [g] = run('Tanh', [gIn], [], 1);
    const [f] = run('Sigmoid', [fIn], [], 1);
    const [o] = run('Sigmoid', [oIn], [], 1);
    const [kept] = run('Mul', [f, c], [], 1);
    const [written] = run('Mul', [i, g], [], 1);
    [c] = run('AddV2', [kept, written], [], 1);
    const [tanhC] = run('Tanh', [c], [], 1);
    [h] = run('Mul', [o, tanhC], [], 1);
    for (const id of [recurrent, inputs[t], gates, iIn, gIn, fIn, oIn, kept, written]) binding.deleteTensor(id);
    steps.i.push(i);
    steps.c.push(c);
    steps.f.push(f);
    steps.o.push(o);
    steps.g.push(g);
    steps.tanhC.push(tanhC);
    hs.push(h);
  }
  binding.deleteTensor(recurrent16.bfloat16);
  const output = backend.createOutputTensor({ id: concatHandles(backend, run, hs), shape: [seqLen * batch, hidden], dtype: binding.TF_FLOAT }) as tf.Tensor2D;
  // The carried state gets handles of its own: the backward pass deletes the steps' handles.
  const own = (id: number): tf.Tensor2D => backend.createOutputTensor({ id: run('Identity', [id], [], 1)[0], shape: [batch, hidden], dtype: binding.TF_FLOAT }) as tf.Tensor2D;
  const next = { h: own(h), c: own(c) };
  for (const id of hs) binding.deleteTensor(id);
  return { output, state: next, steps };
}

/**
 * Backpropagation through time with one LSTMBlockCellGrad op and one matmul per step: the loop
 * carries only dh and dc, and the input and weight gradients are then single GEMMs over the chunk,
 * as in lstm.ts (and torch-rnn). The loop works on the binding's raw handles: wrapping each of its
 * ~10 handles a step in a tfjs tensor, and tfjs's own dispatch, would cost more than a small
 * layer's arithmetic. With `precision` bfloat16 all these matmuls take bfloat16 operands; the
 * element-wise gate gradients stay float32.
 */
function lstmBackwardFused(
  backend: TensorflowBackend,
  w: CellWeights,
  W: tf.Tensor2D,
  x: tf.Tensor2D,
  state: LstmState,
  { i, c, f, o, g, tanhC }: StepHandles,
  h: tf.Tensor2D,
  dOutput: tf.Tensor2D,
  precision: MatmulPrecision,
): CellGradients {
  const seqLen = i.length;
  const [batch, hidden] = state.h.shape;
  const inputSize = x.shape[1];
  const { binding } = backend;
  const run = runner(backend);
  // Plain matmuls per step: ~1.5× faster than one with transpose_b, so transposed once here.
  const recurrentT = tf.transpose(swapMiddleGates(w.recurrentKernel, hidden));
  // The kernel reads only the shapes of x, h_prev and W, and no peepholes; placeholders serve every step.
  const noPeephole = tf.zeros([hidden]);
  const [xShape, noPeepholeId, hPrevId, cInitial, WId, bId, recurrentId, zeroDc, dOut3] = backend.getInputTensorIds([
    tf.zeros([batch, inputSize]), noPeephole, state.h, state.c, W, w.bias, recurrentT, tf.zerosLike(state.c), tf.reshape(dOutput, [seqLen, batch, hidden]),
  ]);
  const dOutputs = splitHandle(backend, run, dOut3, seqLen, 0, 'Unpack');
  const recurrent16 = precision === 'bfloat16' ? bfloat16Handle(backend, recurrentT) : undefined;
  const plainMatMul = matMulAttrs(backend, false, false, binding.TF_FLOAT);
  const dGates: number[] = new Array(seqLen);
  let dh: number | undefined;
  let dc = zeroDc;
  for (let t = seqLen - 1; t >= 0; t--) {
    const hGrad = dh === undefined ? dOutputs[t] : run('AddV2', [dOutputs[t], dh], [], 1)[0];
    const cPrev = t > 0 ? c[t - 1] : cInitial;
    const [csPrevGrad, dicfo, ...peepholeGrads] = run(
      'LSTMBlockCellGrad',
      [xShape, cPrev, hPrevId, WId, noPeepholeId, noPeepholeId, noPeepholeId, bId, i[t], c[t], f[t], o[t], g[t], tanhC[t], dc, hGrad],
      [noPeepholeAttr(backend)],
      5,
    );
    // Freed at once, so that the next step's outputs reuse memory that is still in cache.
    for (const id of [...peepholeGrads, ...(dh === undefined ? [] : [hGrad, dh]), ...(dc === zeroDc ? [] : [dc])]) binding.deleteTensor(id);
    dGates[t] = dicfo;
    dh = recurrent16 ? matMulBfloat16Handles(backend, dicfo, recurrent16, false, false) : binding.executeOp('MatMul', plainMatMul, [dicfo, recurrentId], 1)[0].id;
    dc = csPrevGrad;
  }
  const joined = concatHandles(backend, run, dGates);
  if (recurrent16) binding.deleteTensor(recurrent16.bfloat16);
  for (const id of [...dGates, dh!, dc, ...i, ...c, ...f, ...o, ...g, ...tanhC, ...dOutputs]) if (id !== zeroDc) binding.deleteTensor(id);
  // The GEMMs run in the kernels' i,c,f,o order; only the (smaller) weight gradients are swapped back.
  const dIcfo = backend.createOutputTensor({ id: joined, shape: [seqLen * batch, 4 * hidden], dtype: binding.TF_FLOAT }) as tf.Tensor2D;
  const hPrev = seqLen === 1 ? state.h : (tf.concat([state.h, tf.slice(h, [0, 0], [(seqLen - 1) * batch, hidden])], 0) as tf.Tensor2D);
  const product = (a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D =>
    precision === 'bfloat16' ? matMulBfloat16(backend, a, b, transposeA, transposeB) : matMul(a, b, transposeA, transposeB);
  const backToIfco = (input: tf.Tensor2D) => swapMiddleGates(product(input, dIcfo, true, false), hidden);
  return {
    dx: product(dIcfo, swapMiddleGates(w.kernel, hidden), false, true),
    kernel: backToIfco(x),
    recurrentKernel: backToIfco(hPrev),
    bias: swapMiddleGates(columnSums(dIcfo), hidden),
  };
}

/**
 * A chunk on the fused kernels: forward in one BlockLSTMV2 op, backward with lstmBackwardFused on
 * the kernel's outputs. Not BlockLSTMGrad: it accumulates the weight gradients with small GEMMs at
 * every step, and took 1.4–1.6× as long as this for 2×128 at batch 25 (2× for 2×256 and 2×512).
 * Measured against lstm.ts's forward (one big input-projection GEMM, then a matmul and a dozen
 * small ops per step), BlockLSTM is as fast or faster at every size tried, 2×128 to 2×1024
 * (bench/bench.mjs), in float32. With --precision bfloat16 the backward pass's matmuls take
 * bfloat16 operands, and large steps run forward in lstmForwardBfloat16.
 */
export function lstmSequenceFused(backend: TensorflowBackend, w: CellWeights, x: tf.Tensor2D, state: LstmState, seqLen: number, precision: MatmulPrecision): LayerPass {
  const [batch, hidden] = state.h.shape;
  const W = tf.concat([w.kernel, w.recurrentKernel], 0) as tf.Tensor2D;
  // Only for large steps whose input is as wide as the state; elsewhere the per-step ops cost more
  // than the bfloat16 products save (measured with 2 replicas: 2×512 at batch 64 +7–10 % on layer 2
  // alone, nothing on both layers; 2×256 at batch 48 and 2×128 at batch 50, −15 %).
  if (precision === 'bfloat16' && x.shape[1] >= hidden && !isSmallStep('lstm', batch, x.shape[1], hidden)) {
    const { output, state: next, steps } = lstmForwardBfloat16(backend, w, x, state, seqLen);
    return { output, state: next, backward: (dOutput) => lstmBackwardFused(backend, w, W, x, state, steps, output, dOutput, 'bfloat16') };
  }
  const noPeephole = tf.zeros([hidden]);
  const [x3] = backend.getInputTensorIds([tf.reshape(x, [seqLen, batch, x.shape[1]])]);
  const inputs = [int64Scalar(backend, seqLen), x3, ...backend.getInputTensorIds([state.c, state.h, W, noPeephole, noPeephole, noPeephole, w.bias])];
  const outputs = backend.binding.executeOp('BlockLSTMV2', forwardAttrs(backend, false), inputs, 7).map((o) => backend.createOutputTensor(o)) as BlockOutputs;
  const last = (t: tf.Tensor3D) => tf.reshape(tf.slice(t, [seqLen - 1, 0, 0], [1, batch, hidden]), [batch, hidden]) as tf.Tensor2D;
  const output = tf.reshape(outputs[6], [seqLen * batch, hidden]) as tf.Tensor2D;
  const backward = (dOutput: tf.Tensor2D): CellGradients => {
    const run = runner(backend);
    const [i, c, f, o, g, tanhC] = backend.getInputTensorIds(outputs.slice(0, 6)).map((id) => splitHandle(backend, run, id, seqLen, 0, 'Unpack'));
    return lstmBackwardFused(backend, w, W, x, state, { i, c, f, o, g, tanhC }, output, dOutput, precision);
  };
  return { output, state: { h: last(outputs[6]), c: last(outputs[1]) }, backward };
}
