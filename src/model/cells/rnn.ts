import * as tf from '@tensorflow/tfjs-core';
import { inputGradients, joinSteps, splitSteps, type CellGradients, type CellWeights, type LayerPass, type LayerState } from './cell.js';

/** The vanilla (Elman) RNN layer, h' = tanh(x·W + h·U + b), as tf.layers.simpleRNN computes it. */
export function rnnForward(w: CellWeights, x: tf.Tensor2D, state: LayerState, seqLen: number, record: boolean): LayerPass {
  const steps = splitSteps(tf.add(tf.matMul(x, w.kernel), w.bias) as tf.Tensor2D, seqLen);
  const outputs: tf.Tensor2D[] = [];
  let h = state.h;
  for (let t = 0; t < seqLen; t++) {
    h = tf.tanh(tf.add(steps[t], tf.matMul(h, w.recurrentKernel))) as tf.Tensor2D;
    outputs.push(h);
  }
  const hPrev = [state.h, ...outputs.slice(0, -1)];
  return {
    output: joinSteps(outputs),
    state: { h },
    backward: record ? (dOutput) => rnnBackward(w, x, hPrev, outputs, dOutput) : undefined,
  };
}

function rnnBackward(w: CellWeights, x: tf.Tensor2D, hPrev: tf.Tensor2D[], outputs: tf.Tensor2D[], dOutput: tf.Tensor2D): CellGradients {
  const seqLen = outputs.length;
  const dOutputs = splitSteps(dOutput, seqLen);
  const recurrentT = tf.transpose(w.recurrentKernel);
  const dPre: tf.Tensor2D[] = new Array(seqLen);
  let dhNext: tf.Tensor2D | undefined;
  for (let t = seqLen - 1; t >= 0; t--) {
    const dh = dhNext ? tf.add(dOutputs[t], dhNext) : dOutputs[t];
    dPre[t] = tf.mul(dh, tf.sub(1, tf.square(outputs[t]))) as tf.Tensor2D;
    dhNext = tf.matMul(dPre[t], recurrentT) as tf.Tensor2D;
  }
  const dA = joinSteps(dPre);
  return { ...inputGradients(w, x, dA), recurrentKernel: tf.matMul(joinSteps(hPrev), dA, true, false) };
}
