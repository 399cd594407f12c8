import * as tf from '@tensorflow/tfjs-core';
import { nativeInput, nativeInputGradients, previousOutputs, type CellWeights, type LayerPass, type LayerState, type TableInput } from './cell.js';
import { gateGradients, matMul, type GruBackward, type GruForward, type RecurrencePlan, type TensorflowBackend } from '../../native/ops.js';

/**
 * The GRU on rnn-train's own recurrence (the binding's gruForward and gruBackward,
 * src/install/recurrence/gru_kernel.h): the same maths as gru.ts, which remains the portable
 * reference, with one product for the chunk's input projections (or the first layer's table's,
 * cell.ts's TableInput), the whole recurrence forward or backward in one call each, and the weight
 * gradients as products over the chunk.
 */
export function gruSequenceNative(
  backend: TensorflowBackend,
  kernels: { forward: GruForward; backward: GruBackward },
  w: CellWeights,
  input: tf.Tensor2D | TableInput,
  state: LayerState,
  options: { plan: RecurrencePlan; backward: boolean },
): LayerPass {
  const [batch, hidden] = state.h.shape;
  const { binding } = backend;
  const { isa, threads } = options.plan;
  const { rows, table, projection } = nativeInput(backend, w, input);
  const [projected, bias, hInitial, recurrent] = backend.getInputTensorIds([projection, w.bias, state.h, w.recurrentKernel]);
  const [z, r, candidate, rh, h] = kernels
    .forward(projected, table.ids, bias, hInitial, recurrent, isa, threads)
    .map((id) => backend.createOutputTensor({ id, shape: [rows, hidden], dtype: binding.TF_FLOAT }) as tf.Tensor2D);
  const backward = (dOutput: tf.Tensor2D) => {
    const [dOutputId] = backend.getInputTensorIds([dOutput]);
    const saved = backend.getInputTensorIds([z, r, candidate, h]);
    const [dGatesId, dBiasId, dTable] = kernels.backward(saved, hInitial, dOutputId, recurrent, table.ids, table.count, isa, threads);
    const { dGates: dA, bias: dBias } = gateGradients(backend, [dGatesId, dBiasId], [rows, 3 * hidden]);
    const hPrev = previousOutputs(state.h, h);
    const [dAZr, dAH] = tf.split(dA, [2 * hidden, hidden], 1) as tf.Tensor2D[];
    return {
      ...nativeInputGradients(backend, w, input, { dGates: dA, dTable }, { product: matMul, bias: dBias }),
      recurrentKernel: tf.concat([matMul(hPrev, dAZr, true, false), matMul(rh, dAH, true, false)], 1) as tf.Tensor2D,
    };
  };
  return { output: h, state: { h: tf.slice(h, [rows - batch, 0], [batch, hidden]) }, backward: options.backward ? backward : undefined };
}
