import * as tf from '@tensorflow/tfjs-core';
import type { NamedArrays } from './checkpoint.js';
import type { NamedTensors } from './model.js';

export const OPTIMIZERS = ['adam', 'rmsprop', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

/** What an optimizer must save for a resume to continue exactly: its step count and slots. */
export interface OptimizerState {
  step: number;
  /** Slot values named `<slot>/<parameter>`, e.g. `m/lstm_1/kernel`. */
  slots: NamedArrays;
}

/** Updates variables in place from their gradients. */
export interface Optimizer {
  apply(params: Map<string, tf.Variable>, gradients: NamedTensors, learningRate: number): void;
  readState(): Promise<OptimizerState>;
  /** Continues from a saved state; slots missing from it start at zero, as in a new run. */
  restoreState(state: OptimizerState, params: Map<string, tf.Variable>): void;
  dispose(): void;
}

/**
 * Rescales all gradients together so that their global L2 norm is at most `maxNorm` (Pascanu et al.
 * 2013): the direction of the step is kept, only exploding steps are shortened. Call inside tf.tidy.
 */
export function clipByGlobalNorm(gradients: NamedTensors, maxNorm: number): { gradients: NamedTensors; norm: tf.Scalar } {
  const squares = [...gradients.values()].map((g) => tf.sum(tf.square(g)));
  const norm = tf.sqrt(tf.addN(squares)) as tf.Scalar;
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  const clipped: NamedTensors = new Map();
  for (const [name, g] of gradients) clipped.set(name, tf.mul(g, scale));
  return { gradients: clipped, norm };
}

/**
 * Decoupled weight decay (Loshchilov & Hutter 2019): shrinks every weight matrix (embedding,
 * kernels, output layer) by the factor 1 − `amount`, leaving biases alone, as nanoGPT does.
 * Call inside tf.tidy.
 */
export function decayWeights(params: Map<string, tf.Variable>, amount: number): void {
  for (const param of params.values()) if (param.rank === 2) param.assign(tf.mul(param, 1 - amount));
}

/** Per-parameter slots (moment estimates), created lazily with the parameter's shape. */
class Slots {
  private readonly slots = new Map<string, tf.Variable>();

  constructor(private readonly slotName: string) {}

  get(name: string, like: tf.Tensor): tf.Variable {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = tf.variable(tf.zerosLike(like), false);
      this.slots.set(name, slot);
    }
    return slot;
  }

  async read(into: NamedArrays): Promise<void> {
    for (const [name, slot] of this.slots) into.set(`${this.slotName}/${name}`, (await slot.data()) as Float32Array);
  }

  restore(saved: NamedArrays, params: Map<string, tf.Variable>): void {
    this.dispose();
    for (const [name, param] of params) {
      const values = saved.get(`${this.slotName}/${name}`);
      if (values) this.slots.set(name, tf.variable(tf.tensor(values, param.shape, 'float32'), false));
    }
  }

  dispose(): void {
    for (const slot of this.slots.values()) slot.dispose();
    this.slots.clear();
  }
}

/** Adam (Kingma & Ba 2015) with bias correction; β1 0.9, β2 0.999, ε 1e-8. */
class Adam implements Optimizer {
  private readonly m = new Slots('m');
  private readonly v = new Slots('v');
  private t = 0;

  apply(params: Map<string, tf.Variable>, gradients: NamedTensors, learningRate: number): void {
    this.t++;
    const [beta1, beta2, epsilon] = [0.9, 0.999, 1e-8];
    const stepSize = (learningRate * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    tf.tidy(() => {
      for (const [name, param] of params) {
        const g = gradients.get(name)!;
        const m = this.m.get(name, param);
        const v = this.v.get(name, param);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2)));
        param.assign(tf.sub(param, tf.mul(stepSize, tf.div(m, tf.add(tf.sqrt(v), epsilon)))));
      }
    });
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
  private readonly meanSquare = new Slots('mean_square');

  apply(params: Map<string, tf.Variable>, gradients: NamedTensors, learningRate: number): void {
    const [decay, epsilon] = [0.95, 1e-8];
    tf.tidy(() => {
      for (const [name, param] of params) {
        const g = gradients.get(name)!;
        const ms = this.meanSquare.get(name, param);
        ms.assign(tf.add(tf.mul(ms, decay), tf.mul(tf.square(g), 1 - decay)));
        param.assign(tf.sub(param, tf.mul(learningRate, tf.div(g, tf.add(tf.sqrt(ms), epsilon)))));
      }
    });
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
  apply(params: Map<string, tf.Variable>, gradients: NamedTensors, learningRate: number): void {
    tf.tidy(() => {
      for (const [name, param] of params) param.assign(tf.sub(param, tf.mul(learningRate, gradients.get(name)!)));
    });
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
