import * as tf from '@tensorflow/tfjs-core';
import { inputGradients, joinSteps, splitSteps, type CellGradients, type CellWeights, type LayerPass, type LayerState } from './cell.js';

/** What the GRU's backward pass needs of each step. */
interface GruTape {
  hPrev: tf.Tensor2D[];
  /** Update and reset gates side by side, [B, 2H]. */
  zr: tf.Tensor2D[];
  /** Candidate state. */
  hh: tf.Tensor2D[];
  /** r ⊙ hPrev, the input of the candidate's recurrent matmul. */
  rh: tf.Tensor2D[];
}

/**
 * The GRU layer as tf.layers.gru computes it (reset_after false, gates z, r, h):
 * z = σ(x·Wz + h·Uz + bz), r = σ(x·Wr + h·Ur + br), h̃ = tanh(x·Wh + (r⊙h)·Uh + bh),
 * h' = z⊙h + (1−z)⊙h̃. The input projection of every step is one matmul outside the recurrence.
 */
export function gruForward(w: CellWeights, x: tf.Tensor2D, state: LayerState, seqLen: number, record: boolean): LayerPass {
  const H = state.h.shape[1];
  const steps = splitSteps(tf.add(tf.matMul(x, w.kernel), w.bias) as tf.Tensor2D, seqLen);
  const [uZr, uH] = tf.split(w.recurrentKernel, [2 * H, H], 1) as tf.Tensor2D[];
  const tape: GruTape = { hPrev: [], zr: [], hh: [], rh: [] };
  const outputs: tf.Tensor2D[] = [];
  let h = state.h;
  for (let t = 0; t < seqLen; t++) {
    const [xZr, xH] = tf.split(steps[t], [2 * H, H], 1) as tf.Tensor2D[];
    const zr = tf.sigmoid(tf.add(xZr, tf.matMul(h, uZr))) as tf.Tensor2D;
    const [z, r] = tf.split(zr, 2, 1) as tf.Tensor2D[];
    const rh = tf.mul(r, h) as tf.Tensor2D;
    const hh = tf.tanh(tf.add(xH, tf.matMul(rh, uH))) as tf.Tensor2D;
    tape.hPrev.push(h);
    tape.zr.push(zr);
    tape.hh.push(hh);
    tape.rh.push(rh);
    h = tf.add(hh, tf.mul(z, tf.sub(h, hh)));
    outputs.push(h);
  }
  return {
    output: joinSteps(outputs),
    state: { h },
    backward: record ? (dOutput) => gruBackward(w, x, uZr, uH, tape, dOutput) : undefined,
  };
}

function gruBackward(w: CellWeights, x: tf.Tensor2D, uZr: tf.Tensor2D, uH: tf.Tensor2D, tape: GruTape, dOutput: tf.Tensor2D): CellGradients {
  const seqLen = tape.hPrev.length;
  const H = uH.shape[1];
  const dOutputs = splitSteps(dOutput, seqLen);
  const uZrT = tf.transpose(uZr);
  const uHT = tf.transpose(uH);
  const { hh: hhs, hPrev: hPrevs } = tape;
  const dGates: tf.Tensor2D[] = new Array(seqLen);
  let dhNext: tf.Tensor2D | undefined;
  for (let t = seqLen - 1; t >= 0; t--) {
    const dh = dhNext ? tf.add(dOutputs[t], dhNext) : dOutputs[t];
    const [z, r] = tf.split(tape.zr[t], 2, 1);
    const dah = tf.mul(tf.mul(dh, tf.sub(1, z)), tf.sub(1, tf.square(hhs[t])));
    const dRh = tf.matMul(dah, uHT);
    const daz = tf.mul(tf.mul(dh, tf.sub(hPrevs[t], hhs[t])), tf.mul(z, tf.sub(1, z)));
    const dar = tf.mul(tf.mul(dRh, hPrevs[t]), tf.mul(r, tf.sub(1, r)));
    const daZr = tf.concat([daz, dar], 1) as tf.Tensor2D;
    dGates[t] = tf.concat([daZr, dah], 1) as tf.Tensor2D;
    dhNext = tf.add(tf.add(tf.mul(dh, z), tf.mul(dRh, r)), tf.matMul(daZr, uZrT)) as tf.Tensor2D;
  }
  const dA = joinSteps(dGates);
  const [dAZr, dAH] = tf.split(dA, [2 * H, H], 1) as tf.Tensor2D[];
  const recurrentKernel = tf.concat([tf.matMul(joinSteps(tape.hPrev), dAZr, true, false), tf.matMul(joinSteps(tape.rh), dAH, true, false)], 1) as tf.Tensor2D;
  return { ...inputGradients(w, x, dA), recurrentKernel };
}
