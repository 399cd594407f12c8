import * as tf from '@tensorflow/tfjs-core';
import { inputGradients, previousOutputs, type CellGradients, type CellWeights, type LayerPass, type LayerState } from './cell.js';
import { matMul, type RecurrencePlan, type RnnBackward, type RnnForward, type TensorflowBackend } from '../../native/ops.js';

/**
 * The vanilla RNN on rnn-train's own recurrence (the binding's rnnForward and rnnBackward,
 * src/install/recurrence/rnn_kernel.h): the same maths as rnn.ts, which remains the portable
 * reference, with one product for the chunk's input projections, the whole recurrence forward or
 * backward in one call each, and the weight gradients as products over the chunk.
 */
export function rnnSequenceNative(
  backend: TensorflowBackend,
  kernels: { forward: RnnForward; backward: RnnBackward },
  w: CellWeights,
  x: tf.Tensor2D,
  state: LayerState,
  options: { plan: RecurrencePlan; backward: boolean },
): LayerPass {
  const [batch, hidden] = state.h.shape;
  const rows = x.shape[0];
  const { isa, threads } = options.plan;
  const dtype = backend.binding.TF_FLOAT;
  const projected = tf.add(matMul(x, w.kernel), w.bias);
  const [projectedId, hInitial, recurrent] = backend.getInputTensorIds([projected, state.h, w.recurrentKernel]);
  const h = backend.createOutputTensor({ id: kernels.forward(projectedId, hInitial, recurrent, isa, threads), shape: [rows, hidden], dtype }) as tf.Tensor2D;
  const backward = (dOutput: tf.Tensor2D): CellGradients => {
    const [hId, dOutputId] = backend.getInputTensorIds([h, dOutput]);
    const id = kernels.backward(hId, hInitial, dOutputId, recurrent, isa, threads);
    const dA = backend.createOutputTensor({ id, shape: [rows, hidden], dtype }) as tf.Tensor2D;
    return { ...inputGradients(w, x, dA, matMul), recurrentKernel: matMul(previousOutputs(state.h, h), dA, true, false) };
  };
  return { output: h, state: { h: tf.slice(h, [rows - batch, 0], [batch, hidden]) }, backward: options.backward ? backward : undefined };
}
