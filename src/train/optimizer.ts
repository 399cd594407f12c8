import * as tf from '@tensorflow/tfjs-core';
import type { NamedArrays } from '../model/config.js';
import type { UpdateRuleName } from '../native/ops.js';

export const OPTIMIZERS = ['adam', 'rmsprop', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** What an optimizer must save for a resume to continue exactly: its step count and slots. */
export interface OptimizerState {
  step: number;
  /** Slot values named `<slot>/<parameter>`, e.g. `m/lstm_1/kernel`. */
  slots: NamedArrays;
}

/** An optimizer's next step as the binding's optimizerUpdate takes it (native/ops.ts). */
export interface NativeStep {
  rule: UpdateRuleName;
  coefficients: number[];
  /** Its slots, flat, for the update to replace. */
  slots: tf.Variable[];
}

/**
 * Updates variables in place from their gradients, given as one flat vector (flatten):
 * the update is then a handful of ops over every parameter at once, not a handful per parameter,
 * which for small models is most of what an update costs.
 */
export interface Optimizer {
  /** The step in TensorFlow ops: the readable reference. */
  apply(params: Map<string, tf.Variable>, gradient: tf.Tensor1D, learningRate: number): void;
  /** Takes the step `apply` would (advancing the step count), for the native update to run instead. */
  nativeStep(params: Map<string, tf.Variable>, learningRate: number): NativeStep;
  readState(): Promise<OptimizerState>;
  /** Continues from a saved state; slots missing from it start at zero, as in a new run. */
  restoreState(state: OptimizerState, params: Map<string, tf.Variable>): void;
  dispose(): void;
}

/** Keeps clipping's scale finite for a zero gradient. */
export const CLIP_EPSILON = 1e-6;

/**
 * Rescales the gradient so that its global L2 norm is at most `maxNorm` (Pascanu et al. 2013): the
 * direction of the step is kept, only exploding steps are shortened. Call inside tf.tidy.
 */
export function clipByGlobalNorm(gradient: tf.Tensor1D, maxNorm: number): { gradient: tf.Tensor1D; norm: tf.Scalar } {
  const norm = tf.sqrt(tf.sum(tf.square(gradient))) as tf.Scalar;
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, CLIP_EPSILON)));
  return { gradient: tf.mul(gradient, scale) as tf.Tensor1D, norm };
}

/** Subtracts from each parameter its part of the flat `delta`. Call inside tf.tidy. */
function subtractFlat(params: Map<string, tf.Variable>, delta: tf.Tensor): void {
  const variables = [...params.values()];
  const parts = tf.split(
    delta,
    variables.map((v) => v.size),
  );
  variables.forEach((v, i) => v.assign(tf.sub(v, tf.reshape(parts[i], v.shape))));
}

/**
 * Decoupled weight decay (Loshchilov & Hutter 2019): shrinks every weight matrix (embedding,
 * kernels, output layer) by the factor 1 − `amount`, leaving biases alone, as nanoGPT does.
 * Call inside tf.tidy.
 */
export function decayWeights(params: Map<string, tf.Variable>, amount: number): void {
  for (const param of params.values()) {
    const keep = decayFactor(param, amount);
    if (keep !== 1) param.assign(tf.mul(param, keep));
  }
}

/** What decayWeights multiplies a parameter by: 1 − `amount` for a matrix, 1 for a bias. */
export function decayFactor(param: tf.Variable, amount: number): number {
  return param.rank === 2 ? 1 - amount : 1;
}

/**
 * One slot (a moment estimate) for every parameter, flat like the gradient, created at zero on
 * first use; saved per parameter as `<slot>/<parameter>`.
 */
class Slot {
  private value?: tf.Variable;
  private sizes = new Map<string, number>();

  constructor(private readonly slotName: string) {}

  get(params: Map<string, tf.Variable>): tf.Variable {
    if (!this.value) this.restore(new Map(), params);
    return this.value!;
  }

  async read(into: NamedArrays): Promise<void> {
    if (!this.value) return;
    const all = (await this.value.data()) as Float32Array;
    let offset = 0;
    for (const [name, size] of this.sizes) {
      into.set(`${this.slotName}/${name}`, all.slice(offset, offset + size));
      offset += size;
    }
  }

  /** Takes the saved values of each parameter's slot; parameters without one start at zero. */
  restore(saved: NamedArrays, params: Map<string, tf.Variable>): void {
    this.dispose();
    this.sizes = new Map([...params].map(([name, param]) => [name, param.size]));
    const all = new Float32Array([...this.sizes.values()].reduce((a, b) => a + b, 0));
    let offset = 0;
    for (const [name, size] of this.sizes) {
      const values = saved.get(`${this.slotName}/${name}`);
      if (values) all.set(values, offset);
      offset += size;
    }
    const initial = tf.tensor1d(all);
    this.value = tf.variable(initial, false);
    initial.dispose();
  }

  dispose(): void {
    this.value?.dispose();
    this.value = undefined;
  }
}

/** Adam (Kingma & Ba 2015) with bias correction; β1 0.9, β2 0.999, ε 1e-8. */
class Adam implements Optimizer {
  private readonly m = new Slot('m');
  private readonly v = new Slot('v');
  private t = 0;

  /** Advances the step count: [step size (the bias-corrected learning rate), β1, 1 − β1, β2, 1 − β2, ε]. */
  private next(learningRate: number): number[] {
    this.t++;
    const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];
    const stepSize = (learningRate * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    return [stepSize, beta1, 1 - beta1, beta2, 1 - beta2, epsilon];
  }

  apply(params: Map<string, tf.Variable>, g: tf.Tensor1D, learningRate: number): void {
    const [stepSize, beta1, rest1, beta2, rest2, epsilon] = this.next(learningRate);
    tf.tidy(() => {
      const m = this.m.get(params);
      const v = this.v.get(params);
      m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, rest1)));
      v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), rest2)));
      subtractFlat(params, tf.mul(stepSize, tf.div(m, tf.add(tf.sqrt(v), epsilon))));
    });
  }

  nativeStep(params: Map<string, tf.Variable>, learningRate: number): NativeStep {
    return { rule: 'adam', coefficients: this.next(learningRate), slots: [this.m.get(params), this.v.get(params)] };
  }

  async readState(): Promise<OptimizerState> {
    const slots: NamedArrays = new Map();
    await this.m.read(slots);
    await this.v.read(slots);
    return { step: this.t, slots };
  }

  restoreState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    this.t = state.step;
    this.m.restore(state.slots, params);
    this.v.restore(state.slots, params);
  }

  dispose(): void {
    this.m.dispose();
    this.v.dispose();
  }
}

/** RMSProp as in char-rnn: decay 0.95, ε 1e-8. */
class RmsProp implements Optimizer {
  private readonly meanSquare = new Slot('mean_square');

  /** [learning rate, decay, 1 − decay, ε]. */
  private coefficients(learningRate: number): number[] {
    const [decay, epsilon] = [0.95, 1e-8];
    return [learningRate, decay, 1 - decay, epsilon];
  }

  apply(params: Map<string, tf.Variable>, g: tf.Tensor1D, learningRate: number): void {
    const [, decay, rest, epsilon] = this.coefficients(learningRate);
    tf.tidy(() => {
      const ms = this.meanSquare.get(params);
      ms.assign(tf.add(tf.mul(ms, decay), tf.mul(tf.square(g), rest)));
      subtractFlat(params, tf.mul(learningRate, tf.div(g, tf.add(tf.sqrt(ms), epsilon))));
    });
  }

  nativeStep(params: Map<string, tf.Variable>, learningRate: number): NativeStep {
    return { rule: 'rmsprop', coefficients: this.coefficients(learningRate), slots: [this.meanSquare.get(params)] };
  }

  async readState(): Promise<OptimizerState> {
    const slots: NamedArrays = new Map();
    await this.meanSquare.read(slots);
    return { step: 0, slots };
  }

  restoreState(state: OptimizerState, params: Map<string, tf.Variable>): void {
    this.meanSquare.restore(state.slots, params);
  }

  dispose(): void {
    this.meanSquare.dispose();
  }
}

class Sgd implements Optimizer {
  apply(params: Map<string, tf.Variable>, g: tf.Tensor1D, learningRate: number): void {
    tf.tidy(() => subtractFlat(params, tf.mul(learningRate, g)));
  }

  nativeStep(_params: Map<string, tf.Variable>, learningRate: number): NativeStep {
    return { rule: 'sgd', coefficients: [learningRate], slots: [] };
  }

  async readState(): Promise<OptimizerState> {
    return { step: 0, slots: new Map() };
  }

  restoreState(): void {}

  dispose(): void {}
}

export function createOptimizer(name: OptimizerName): Optimizer {
  switch (name) {
    case 'adam':
      return new Adam();
    case 'rmsprop':
      return new RmsProp();
    case 'sgd':
      return new Sgd();
  }
}
