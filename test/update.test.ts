import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CharRnn,
  createOptimizer,
  initialWeights,
  lstmCapabilities,
  type LstmKernels,
  type ModelConfig,
  type OptimizerName,
  OPTIMIZERS,
  Rng,
  type StepSettings,
  update,
  updatePath,
} from '../src/index.js';

// A model whose parameters have every rank the update treats differently (matrices decay, biases do not).
const config: ModelConfig = { cell: 'lstm', vocabSize: 7, embeddingSize: 3, hiddenSize: 5, layers: 2, dropout: 0, weightDrop: 0, inputDropout: 0 };
const native = lstmCapabilities().nativeUpdate;

let cleanup: (() => void)[] = [];
afterEach(() => {
  cleanup.forEach((f) => f());
  cleanup = [];
});

/** A model and optimizer on `kernels` ('auto' updates natively, 'reference' in TensorFlow ops), from the same weights. */
function trainee(kernels: LstmKernels, optimizerName: OptimizerName) {
  const model = new CharRnn(config, initialWeights(config, new Rng(1)), { kernels, capabilities: lstmCapabilities() });
  const optimizer = createOptimizer(optimizerName);
  cleanup.push(() => {
    optimizer.dispose();
    model.dispose();
  });
  return { model, optimizer };
}

/** Gradient-like vectors over every parameter, the same for both models: `parts` of them, with their shares. */
function gradients(size: number, step: number, parts: number, magnitude: number): { gradient: tf.Tensor1D; share: number }[] {
  const rng = new Rng(100 + step);
  return Array.from({ length: parts }, () => ({
    gradient: tf.tensor1d(Float32Array.from({ length: size }, () => magnitude * (rng.next() - 0.5))),
    share: 1 / parts,
  }));
}

/** Three steps on both paths; returns each path's norms, weights and optimizer slots. */
async function run(optimizerName: OptimizerName, settings: StepSettings, parts: number, magnitude: number) {
  const paths = [trainee('auto', optimizerName), trainee('reference', optimizerName)];
  const size = [...paths[0].model.params.values()].reduce((sum, p) => sum + p.size, 0);
  const norms: number[][] = [[], []];
  for (let step = 0; step < 3; step++) {
    const given = gradients(size, step, parts, magnitude);
    for (const [k, { model, optimizer }] of paths.entries()) {
      const shares = parts === 1 ? [{ gradient: given[0].gradient, share: 1 }] : given;
      const lossAndNorm = tf.tidy(() => update(model, optimizer, tf.scalar(1), shares, settings));
      norms[k].push((await lossAndNorm.data())[1]);
      lossAndNorm.dispose();
    }
    tf.dispose(given.map((part) => part.gradient));
  }
  const read = async ({ model, optimizer }: (typeof paths)[number]) => ({ weights: await model.readWeights(), slots: (await optimizer.readState()).slots });
  return { norms, native: await read(paths[0]), reference: await read(paths[1]), paths };
}

describe.runIf(native)("the binding's optimizerUpdate", () => {
  it('runs where the binding has it, unless --kernels reference asks for the ops', () => {
    expect(updatePath('auto', lstmCapabilities())).toBe('native');
    expect(updatePath('reference', lstmCapabilities())).toBe('reference');
    expect(updatePath('auto', { ...lstmCapabilities(), nativeUpdate: false })).toBe('reference');
  });

  // Below the clipping threshold the gradient is scaled by exactly 1, so every operation is the
  // reference's and the bits must agree; above it, the norm (summed in another order) may differ in
  // its last bits, and so may everything it scales.
  describe.each(OPTIMIZERS)('%s', (optimizerName) => {
    it.each([
      { what: 'one thread, no decay', parts: 1, weightDecay: 0 },
      { what: 'two replicas, weight decay', parts: 2, weightDecay: 0.1 },
    ])('gives the same bits as the TensorFlow ops: $what', async ({ parts, weightDecay }) => {
      const { norms, native: a, reference: b } = await run(optimizerName, { clip: 1e6, learningRate: 0.01, weightDecay }, parts, 0.1);
      norms[0].forEach((norm, step) => expect(norm).toBeCloseTo(norms[1][step], 5));
      for (const [name, values] of b.weights) expect([...a.weights.get(name)!], name).toEqual([...values]);
      expect([...a.slots.keys()]).toEqual([...b.slots.keys()]);
      for (const [name, values] of b.slots) expect([...a.slots.get(name)!], name).toEqual([...values]);
    });

    it('clips to the same global norm, within float32 rounding', async () => {
      const { norms, native: a, reference: b } = await run(optimizerName, { clip: 0.5, learningRate: 0.01, weightDecay: 0.1 }, 2, 4);
      norms[0].forEach((norm, step) => expect(Math.abs(norm / norms[1][step] - 1)).toBeLessThan(1e-6));
      expect(norms[0][0]).toBeGreaterThan(0.5 * 10);
      for (const [name, values] of b.weights) values.forEach((v, i) => expect(Math.abs(a.weights.get(name)![i] - v), name).toBeLessThan(1e-6));
      for (const [name, values] of b.slots)
        values.forEach((v, i) => expect(Math.abs(a.slots.get(name)![i] - v), name).toBeLessThan(1e-6 * Math.max(1, Math.abs(v))));
    });
  });

  it('moves the weights: a step is not a copy', async () => {
    const { native: a, paths } = await run('adam', { clip: 5, learningRate: 0.01, weightDecay: 0 }, 1, 0.1);
    const start = initialWeights(config, new Rng(1));
    const moved = [...a.weights].filter(([name, values]) => values.some((v, i) => v !== start.get(name)![i]));
    expect(moved.length).toBe(paths[0].model.params.size);
  });

  it('refuses a request that does not fit in one line', () => {
    const { model, optimizer } = trainee('auto', 'adam');
    const wrong = tf.tensor1d([1, 2, 3]);
    cleanup.push(() => wrong.dispose());
    expect(() =>
      tf.tidy(() => update(model, optimizer, tf.scalar(1), [{ gradient: wrong, share: 1 }], { clip: 5, learningRate: 0.01, weightDecay: 0 })),
    ).toThrow(/the gradients and slots must cover every parameter's values/);
  });
});
