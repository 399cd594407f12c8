import * as tf from '@tensorflow/tfjs-core';
// Only this test uses automatic differentiation; tfjs-core registers no gradients by itself.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CELL_TYPES,
  type Batch,
  stateParts,
  type CellType,
  type LayerState,
  CharRnn,
  initialWeights,
  type ModelState,
  type LstmKernels,
  type ModelConfig,
  tensorflowBackend,
  Rng,
  lstmCapabilities,
  firstLayerTable,
} from '../src/index.js';

// Tiny models in which every path matters: two layers, a non-zero carried state, dropout, input dropout, weight drop.
const shape = { vocabSize: 5, embeddingSize: 3, hiddenSize: 4, layers: 2, dropout: 0.25, weightDrop: 0.3, inputDropout: 0.2 };
const seqLen = 4;
const batchSize = 2;
/** Random inputs and targets. */
function randomBatch(seed: number, vocabSize: number, steps: number, streams: number): Batch {
  const rng = new Rng(seed);
  const draw = () => Int32Array.from({ length: steps * streams }, () => Math.floor(rng.next() * vocabSize));
  return { inputs: draw(), targets: draw(), seqLen: steps, batchSize: streams };
}
const batch = randomBatch(11, shape.vocabSize, seqLen, batchSize);
// Larger weights than at initialisation, so that the gates saturate unevenly and errors show.
function testWeights(config: ModelConfig): Map<string, Float32Array> {
  return new Map([...initialWeights(config, new Rng(3))].map(([name, values]) => [name, values.map((v) => 4 * v)]));
}
// rnn-train's own recurrence exists only on the tensorflow backend; the reference runs everywhere.
const kernelChoices: LstmKernels[] = tf.getBackend() === 'tensorflow' ? ['auto', 'reference'] : ['reference'];
const variants: [CellType, LstmKernels][] = kernelChoices.flatMap((k): [CellType, LstmKernels][] => [
  ['lstm', k],
  ['gru', k],
  ['rnn', k],
]);
const models = new Map(
  variants.map(([cell, kernels]) => [
    `${cell} ${kernels}`,
    new CharRnn({ ...shape, cell }, testWeights({ ...shape, cell }), { kernels, capabilities: lstmCapabilities() }),
  ]),
);
const initialState = (cell: CellType): ModelState =>
  Array.from({ length: shape.layers }, (_, l) => {
    const state: LayerState = { h: tf.randomUniform([batchSize, shape.hiddenSize], -0.9, 0.9, 'float32', 100 + l) as tf.Tensor2D };
    if (stateParts(cell).includes('c')) state.c = tf.randomUniform([batchSize, shape.hiddenSize], -2, 2, 'float32', 200 + l) as tf.Tensor2D;
    return state;
  });
const initialStates = new Map(variants.map(([cell]) => [cell, initialState(cell)]));
// The same seed gives the same dropout and weight-drop masks in every evaluation.
const DROPOUT_SEED = 7;

function lossOf(model: CharRnn): number {
  return tf.tidy(() => model.lossAndGradients(batch, initialStates.get(model.config.cell)!, new Rng(DROPOUT_SEED)).loss.arraySync() as number);
}

function analyticGradients(model: CharRnn): Map<string, Float32Array> {
  const grads = new Map<string, Float32Array>();
  tf.tidy(() => {
    const { gradients } = model.lossAndGradients(batch, initialStates.get(model.config.cell)!, new Rng(DROPOUT_SEED));
    for (const [name, g] of gradients) grads.set(name, g.dataSync() as Float32Array);
  });
  return grads;
}

afterAll(() => models.forEach((model) => model.dispose()));

describe.each(variants)('%s backward pass (%s kernels)', (cell, kernels) => {
  const model = models.get(`${cell} ${kernels}`)!;
  const reference = models.get(`${cell} reference`)!;
  const state = initialStates.get(cell)!;

  it('matches central finite differences for every parameter', () => {
    const analytic = analyticGradients(model);
    const eps = 1e-2;
    let checked = 0;
    for (const [name, variable] of model.params) {
      const values = variable.dataSync().slice() as Float32Array;
      const grad = analytic.get(name)!;
      expect(grad.length).toBe(values.length);
      // Every entry of small tensors, a spread of entries of larger ones.
      const stride = Math.max(1, Math.floor(values.length / 12));
      for (let i = 0; i < values.length; i += stride) {
        const original = values[i];
        values[i] = original + eps;
        variable.assign(tf.tensor(values, variable.shape));
        const plus = lossOf(model);
        values[i] = original - eps;
        variable.assign(tf.tensor(values, variable.shape));
        const minus = lossOf(model);
        values[i] = original;
        variable.assign(tf.tensor(values, variable.shape));
        const numeric = (plus - minus) / (2 * eps);
        expect(Math.abs(numeric - grad[i]), `${name}[${i}]: numeric ${numeric}, analytic ${grad[i]}`).toBeLessThan(2e-3 + 3e-2 * Math.abs(grad[i]));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  // Autodiff through tf.gather needs UnsortedSegmentSum, which the wasm backend lacks.
  const autodiffAvailable = tf.getKernel('UnsortedSegmentSum', tf.getBackend()) !== undefined;
  it.runIf(autodiffAvailable)('agrees with automatic differentiation of the reference forward pass to float32 precision', () => {
    const analytic = analyticGradients(model);
    const { grads } = tf.variableGrads(() => {
      const { logits } = reference.forward(batch.inputs, seqLen, state, { mode: 'train', dropoutRng: new Rng(DROPOUT_SEED) });
      const targets = tf.cast(tf.oneHot(tf.tensor1d(batch.targets, 'int32'), shape.vocabSize), 'float32') as tf.Tensor2D;
      return tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(logits), targets), 1))) as tf.Scalar;
    }, [...reference.params.values()]);
    for (const [name, variable] of reference.params) {
      const auto = grads[variable.name].dataSync();
      const mine = analytic.get(name)!;
      let scale = 0;
      let maxError = 0;
      for (let i = 0; i < auto.length; i++) {
        scale = Math.max(scale, Math.abs(auto[i]));
        maxError = Math.max(maxError, Math.abs(auto[i] - mine[i]));
      }
      expect(maxError, name).toBeLessThan(1e-5 + 1e-4 * scale);
    }
    tf.dispose(Object.values(grads));
  });
});

describe.runIf(kernelChoices.includes('auto'))('fused forward pass', () => {
  it('gives the reference logits and carried state, over a chunk and step by step with prepared weights', () => {
    const fused = models.get('lstm auto')!;
    const reference = models.get('lstm reference')!;
    const initialState = initialStates.get('lstm')!;
    const read = (result: { logits: tf.Tensor2D; state: ModelState }) =>
      [result.logits, ...result.state.flatMap(({ h, c }) => [h, c!])].map((t) => [...t.dataSync()]);
    const close = (a: number[][], b: number[][]) => a.forEach((values, k) => values.forEach((v, i) => expect(Math.abs(v - b[k][i])).toBeLessThan(1e-5)));
    tf.tidy(() => {
      close(read(fused.forward(batch.inputs, seqLen, initialState)), read(reference.forward(batch.inputs, seqLen, initialState)));
      const prepared = fused.prepareCellKernelWeights();
      expect(prepared).toBeDefined();
      const first = batch.inputs.subarray(0, batchSize);
      close(read(fused.forward(first, 1, initialState, { mode: 'sample', prepared })), read(reference.forward(first, 1, initialState)));
    });
  });
});

describe.runIf(kernelChoices.includes('auto'))('fused backward pass at odd sizes', () => {
  // 3 streams × 5 units: the backward pass's per-step views into its buffers are not 64-byte
  // aligned, which TensorFlow handles by copying them.
  const chunk = randomBatch(13, shape.vocabSize, 6, 3);
  const expectReferenceGradients = (config: ModelConfig) => {
    const gradientsOf = (kernels: LstmKernels) => {
      const model = new CharRnn(config, testWeights(config), { kernels, capabilities: lstmCapabilities() });
      const result = tf.tidy(() => {
        const start = model.zeroState(3);
        const { gradients } = model.lossAndGradients(chunk, start, new Rng(DROPOUT_SEED));
        return new Map([...gradients].map(([name, g]) => [name, g.dataSync() as Float32Array]));
      });
      model.dispose();
      return result;
    };
    const fused = gradientsOf('auto');
    for (const [name, values] of gradientsOf('reference')) {
      fused.get(name)!.forEach((v, i) => expect(Math.abs(v - values[i]), `${name}[${i}]`).toBeLessThan(1e-5 + 1e-4 * Math.abs(values[i])));
    }
  };

  it('gives the reference gradients', () => {
    expectReferenceGradients({ ...shape, cell: 'lstm', hiddenSize: 5 });
  });

  it.each(CELL_TYPES)("gives them with the first layer's input read from the embedding table, %s", (cell) => {
    const config = { ...shape, cell, hiddenSize: 5, inputDropout: 0 };
    expect(firstLayerTable({ vocabSize: config.vocabSize, rows: chunk.inputs.length, inputDropout: 0 })).toBe(true);
    expectReferenceGradients(config);
  });
});

describe.runIf(kernelChoices.includes('auto'))('an addon without lstmBackward (not built by rnn-train)', () => {
  it('trains with the reference kernels, and gives their gradients exactly', () => {
    const backend = tensorflowBackend()!;
    const { binding } = backend;
    backend.binding = Object.create(binding, { lstmBackward: { value: undefined } });
    const lstm = { ...shape, cell: 'lstm' as const };
    const model = new CharRnn(lstm, testWeights(lstm), { capabilities: lstmCapabilities() });
    try {
      expect(lstmCapabilities().nativeBackward).toBe(false);
      const fallback = analyticGradients(model);
      const reference = analyticGradients(models.get('lstm reference')!);
      for (const [name, values] of reference) expect(fallback.get(name), name).toEqual(values);
    } finally {
      backend.binding = binding;
      model.dispose();
    }
  });
});

// bfloat16 products need oneDNN's AVX-512 kernels (policy.ts's checkPrecision).
describe.runIf(kernelChoices.includes('auto') && lstmCapabilities().sgemmIsa === 'avx512')('bfloat16 matmuls (--precision bfloat16)', () => {
  // bfloat16 operands in the chunk-wide products of both passes (the recurrence stays float32), with every kind of dropout.
  const big = { cell: 'lstm' as const, vocabSize: 5, embeddingSize: 64, hiddenSize: 512, layers: 2, dropout: 0.25, weightDrop: 0.3, inputDropout: 0.2 };
  const streams = 24;
  const chunk = randomBatch(12, big.vocabSize, 3, streams);

  it("gives float32's loss, gradients and carried state to within bfloat16's rounding", () => {
    const weights = initialWeights(big, new Rng(4));
    const run = (precision: 'float32' | 'bfloat16') => {
      const model = new CharRnn(big, weights, { precision, capabilities: lstmCapabilities() });
      const result = tf.tidy(() => {
        const start = Array.from({ length: big.layers }, (_, l) => ({
          h: tf.randomUniform([streams, big.hiddenSize], -0.9, 0.9, 'float32', 300 + l) as tf.Tensor2D,
          c: tf.randomUniform([streams, big.hiddenSize], -2, 2, 'float32', 400 + l) as tf.Tensor2D,
        }));
        const { loss, gradients, state } = model.lossAndGradients(chunk, start, new Rng(DROPOUT_SEED));
        return {
          loss: loss.dataSync()[0],
          gradients: new Map([...gradients].map(([name, g]) => [name, g.dataSync() as Float32Array])),
          state: state.flatMap(({ h, c }) => [h.dataSync(), c!.dataSync()]),
        };
      });
      model.dispose();
      return result;
    };
    const exact = run('float32');
    const mixed = run('bfloat16');
    expect(Math.abs(mixed.loss - exact.loss)).toBeLessThan(1e-3 * exact.loss);
    const relativeError = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let difference = 0;
      let norm = 0;
      for (let i = 0; i < a.length; i++) {
        difference += (a[i] - b[i]) ** 2;
        norm += b[i] ** 2;
      }
      return Math.sqrt(difference / norm);
    };
    for (const [name, gradient] of exact.gradients) expect(relativeError(mixed.gradients.get(name)!, gradient), name).toBeLessThan(0.03);
    exact.state.forEach((values, k) => expect(relativeError(mixed.state[k], values), `state ${k}`).toBeLessThan(0.01));
  });
});
