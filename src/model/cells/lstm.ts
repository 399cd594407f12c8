import * as tf from '@tensorflow/tfjs-core';
import { inputGradients, joinSteps, splitSteps, type CellGradients, type CellWeights } from './cell.js';

// Weights in the tf.layers.lstm layout: gates in the order i (input), f (forget), c (candidate), o (output).

export interface LstmState {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
}

/** What the backward pass needs from the forward pass, per time step: inputs, states and gates. */
export interface LstmTape {
  x: tf.Tensor2D;
  hPrev: tf.Tensor2D[];
  cPrev: tf.Tensor2D[];
  /** Cell state after the step. */
  c: tf.Tensor2D[];
  i: tf.Tensor2D[];
  f: tf.Tensor2D[];
  g: tf.Tensor2D[];
  o: tf.Tensor2D[];
  tanhC: tf.Tensor2D[];
}

type StepRecord = { [K in Exclude<keyof LstmTape, 'x'>]: tf.Tensor2D };

function emptyTape(x: tf.Tensor2D): LstmTape {
  return { x, hPrev: [], cPrev: [], c: [], i: [], f: [], g: [], o: [], tanhC: [] };
}

/** Appends one time step's states and gates to the tape. */
function recordStep(tape: LstmTape, step: StepRecord): void {
  for (const key of Object.keys(step) as (keyof StepRecord)[]) tape[key].push(step[key]);
}

/**
 * Runs the layer over a whole chunk. `x` is time-major [seqLen·B, in]. The input projection of
 * every time step is one large matmul outside the recurrence; inside it, one matmul per step.
 */
export function lstmReferenceForward(
  w: CellWeights,
  x: tf.Tensor2D,
  state: LstmState,
  seqLen: number,
  record: boolean,
): { output: tf.Tensor2D; state: LstmState; tape?: LstmTape } {
  const steps = splitSteps(tf.add(tf.matMul(x, w.kernel), w.bias) as tf.Tensor2D, seqLen);
  const tape = emptyTape(x);
  const outputs: tf.Tensor2D[] = [];
  let { h, c } = state;
  for (let t = 0; t < seqLen; t++) {
    const a = tf.add(steps[t], tf.matMul(h, w.recurrentKernel));
    const [ai, af, ag, ao] = tf.split(a, 4, 1) as tf.Tensor2D[];
    const i = tf.sigmoid(ai);
    const f = tf.sigmoid(af);
    const g = tf.tanh(ag);
    const o = tf.sigmoid(ao);
    const cNext = tf.add(tf.mul(f, c), tf.mul(i, g)) as tf.Tensor2D;
    const tanhC = tf.tanh(cNext);
    const hNext = tf.mul(o, tanhC) as tf.Tensor2D;
    if (record) recordStep(tape, { hPrev: h, cPrev: c, c: cNext, i, f, g, o, tanhC });
    h = hNext;
    c = cNext;
    outputs.push(h);
  }
  return { output: joinSteps(outputs), state: { h, c }, tape: record ? tape : undefined };
}

/**
 * Backpropagation through time over the chunk, written out by hand as in torch-rnn: the loop
 * carries only dh and dc, and the weight gradients are single GEMMs over all time steps.
 * Gradients do not flow into the carried initial state (truncated BPTT).
 */
export function lstmReferenceBackward(w: CellWeights, tape: LstmTape, dOutput: tf.Tensor2D): CellGradients {
  const seqLen = tape.i.length;
  const dOutputs = splitSteps(dOutput, seqLen);
  const dGates: tf.Tensor2D[] = new Array(seqLen);
  let dhNext: tf.Tensor2D | undefined;
  let dcNext: tf.Tensor2D | undefined;
  for (let t = seqLen - 1; t >= 0; t--) {
    const i = tape.i[t];
    const f = tape.f[t];
    const g = tape.g[t];
    const o = tape.o[t];
    const tanhC = tape.tanhC[t];
    const dh = dhNext ? tf.add(dOutputs[t], dhNext) : dOutputs[t];
    const dcFromH = tf.mul(tf.mul(dh, o), tf.sub(1, tf.square(tanhC)));
    const dc = dcNext ? tf.add(dcNext, dcFromH) : dcFromH;
    const dai = tf.mul(tf.mul(dc, g), tf.mul(i, tf.sub(1, i)));
    const daf = tf.mul(tf.mul(dc, tape.cPrev[t]), tf.mul(f, tf.sub(1, f)));
    const dag = tf.mul(tf.mul(dc, i), tf.sub(1, tf.square(g)));
    const dao = tf.mul(tf.mul(dh, tanhC), tf.mul(o, tf.sub(1, o)));
    const da = tf.concat([dai, daf, dag, dao], 1) as tf.Tensor2D;
    dGates[t] = da;
    dhNext = tf.matMul(da, w.recurrentKernel, false, true) as tf.Tensor2D;
    dcNext = tf.mul(dc, f) as tf.Tensor2D;
  }
  return weightGradients(w, tape, joinSteps(dGates));
}

/** The input and weight gradients from the gate pre-activation gradients of every step, in i,f,c,o order. */
function weightGradients(w: CellWeights, tape: LstmTape, dA: tf.Tensor2D): CellGradients {
  return { ...inputGradients(w, tape.x, dA), recurrentKernel: tf.matMul(joinSteps(tape.hPrev), dA, true, false) as tf.Tensor2D };
}
