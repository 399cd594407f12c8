import * as tf from '@tensorflow/tfjs-core';

/**
 * One LSTM layer's weights in the tf.layers.lstm layout: kernel [in, 4H], recurrentKernel [H, 4H],
 * bias [4H], gates in the order i (input), f (forget), c (candidate), o (output).
 */
export interface LstmWeights {
  kernel: tf.Tensor2D;
  recurrentKernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

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

export function emptyTape(x: tf.Tensor2D): LstmTape {
  return { x, hPrev: [], cPrev: [], c: [], i: [], f: [], g: [], o: [], tanhC: [] };
}

/** Appends one time step's states and gates to the tape. */
export function recordStep(tape: LstmTape, step: StepRecord): void {
  for (const key of Object.keys(step) as (keyof StepRecord)[]) tape[key].push(step[key]);
}

export interface LstmGradients {
  dx: tf.Tensor2D;
  kernel: tf.Tensor2D;
  recurrentKernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

/**
 * Runs the layer over a whole chunk. `x` is time-major [seqLen·B, in]. The input projection of
 * every time step is one large matmul outside the recurrence; inside it, one matmul per step.
 */
export function lstmForward(
  w: LstmWeights,
  x: tf.Tensor2D,
  state: LstmState,
  seqLen: number,
  record: boolean,
): { output: tf.Tensor2D; state: LstmState; tape?: LstmTape } {
  const projected = tf.add(tf.matMul(x, w.kernel), w.bias);
  const steps = seqLen === 1 ? [projected] : tf.split(projected, seqLen, 0);
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
  const output = seqLen === 1 ? outputs[0] : (tf.concat(outputs, 0) as tf.Tensor2D);
  return { output, state: { h, c }, tape: record ? tape : undefined };
}

/**
 * Backpropagation through time over the chunk, written out by hand as in torch-rnn: the loop
 * carries only dh and dc, and the weight gradients are single GEMMs over all time steps.
 * Gradients do not flow into the carried initial state (truncated BPTT).
 */
export function lstmBackward(w: LstmWeights, tape: LstmTape, dOutput: tf.Tensor2D): LstmGradients {
  const seqLen = tape.i.length;
  const dOutputs = seqLen === 1 ? [dOutput] : (tf.split(dOutput, seqLen, 0) as tf.Tensor2D[]);
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
  return weightGradients(w, tape, seqLen === 1 ? dGates[0] : (tf.concat(dGates, 0) as tf.Tensor2D));
}

/**
 * Given the gate pre-activation gradients of every step, time-major [seqLen·B, 4H] in i,f,c,o
 * order, the input and weight gradients are single large GEMMs over the whole chunk.
 */
export function weightGradients(w: LstmWeights, tape: LstmTape, dA: tf.Tensor2D): LstmGradients {
  const hPrev = tape.hPrev.length === 1 ? tape.hPrev[0] : (tf.concat(tape.hPrev, 0) as tf.Tensor2D);
  return {
    dx: tf.matMul(dA, w.kernel, false, true) as tf.Tensor2D,
    kernel: tf.matMul(tape.x, dA, true, false) as tf.Tensor2D,
    recurrentKernel: tf.matMul(hPrev, dA, true, false) as tf.Tensor2D,
    bias: tf.sum(dA, 0) as tf.Tensor1D,
  };
}
