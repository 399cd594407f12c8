import * as tf from '@tensorflow/tfjs-core';
import { nativeInput, nativeInputGradients, previousOutputs, type CellWeights, type LayerPass, type LayerState, type TableInput } from './cell.js';
import { gateGradients, matMul, type RecurrencePlan, type RnnBackward, type RnnForward, type TensorflowBackend } from '../../native/ops.js';

/**
 * The vanilla RNN on rnn-train's own recurrence (the binding's rnnForward and rnnBackward,
 * src/install/recurrence/rnn_kernel.h): the same maths as rnn.ts, which remains the portable
 * reference, with one product for the chunk's input projections (or the first layer's table's,
 * cell.ts's TableInput), the whole recurrence forward or backward in one call each, and the weight
 * gradients as products over the chunk.
 */
export function rnnSequenceNative(
  backend: TensorflowBackend,
  kernels: { forward: RnnForward; backward: RnnBackward },
  w: CellWeights,
  input: tf.Tensor2D | TableInput,
  state: LayerState,
  options: { plan: RecurrencePlan; backward: boolean },
): LayerPass {
  const [batch, hidden] = state.h.shape;
  const { isa, threads } = options.plan;
  const dtype = backend.binding.TF_FLOAT;
  const { rows, table, projection } = nativeInput(backend, w, input);
  const [projected, bias, hInitial, recurrent] = backend.getInputTensorIds([projection, w.bias, state.h, w.recurrentKernel]);
  const hId = kernels.forward(projected, table.ids, bias, hInitial, recurrent, isa, threads);
  const h = backend.createOutputTensor({ id: hId, shape: [rows, hidden], dtype }) as tf.Tensor2D;
  const backward = (dOutput: tf.Tensor2D) => {
    const [dOutputId] = backend.getInputTensorIds([dOutput]);
    const [dGatesId, dBiasId, dTable] = kernels.backward(hId, hInitial, dOutputId, recurrent, table.ids, table.count, isa, threads);
    const { dGates: dA, bias: dBias } = gateGradients(backend, [dGatesId, dBiasId], [rows, hidden]);
    return {
      ...nativeInputGradients(backend, w, input, { dGates: dA, dTable }, { product: matMul, bias: dBias }),
      recurrentKernel: matMul(previousOutputs(state.h, h), dA, true, false),
    };
  };
  return { output: h, state: { h: tf.slice(h, [rows - batch, 0], [batch, hidden]) }, backward: options.backward ? backward : undefined };
}
