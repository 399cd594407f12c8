import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  WeightAverage,
  BatchStreams,
  CELL_TYPES,
  CharRnn,
  initialWeights,
  type ModelConfig,
  createOptimizer,
  Rng,
  trainStep,
  tensorflowBackend,
  lstmCapabilities,
} from '../src/index.js';

describe('memory', () => {
  const cases = CELL_TYPES.flatMap((cell) => (['adam', 'rmsprop', 'sgd'] as const).map((optimizer) => [cell, optimizer] as const));
  it.each(cases)('training steps with weight averaging (%s, %s) leave the number of live tensors unchanged', async (cell, name) => {
    const config: ModelConfig = { cell, vocabSize: 7, embeddingSize: 4, hiddenSize: 8, layers: 2, dropout: 0.2, weightDrop: 0.2, inputDropout: 0.2 };
    const weights = initialWeights(config, new Rng(1));
    const model = new CharRnn(config, weights, { capabilities: lstmCapabilities() });
    const average = new WeightAverage(config, weights, 0.99);
    const optimizer = createOptimizer(name);
    const ids = Int32Array.from({ length: 2000 }, (_, i) => (i * 7 + (i >> 3)) % 7);
    const streams = new BatchStreams(ids, 4, 10);
    const rng = new Rng(2);
    let state = model.zeroState(4);
    let steps = 0;
    const step = async () => {
      const result = trainStep(model, optimizer, streams.next(), state, rng, { clip: 5, learningRate: 1e-2, weightDecay: 0.1 });
      state = result.state;
      await result.lossAndNorm.data();
      result.lossAndNorm.dispose();
      average.update(model, ++steps);
    };
    await step(); // creates the optimizer's slots
    const live = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) await step();
    expect(tf.memory().numTensors).toBe(live);
    optimizer.dispose();
    average.dispose();
    model.dispose();
  });

  // The fused kernels' bfloat16 products work on TensorFlow handles that no tfjs tensor wraps,
  // which tf.memory() cannot see: count every handle the binding holds.
  // 1024 units make layer 2's steps large enough for the binding's bfloat16 forward pass.
  // bfloat16 products need oneDNN's AVX-512 kernels (policy.ts's checkPrecision).
  const bfloat16Cases =
    tensorflowBackend() && lstmCapabilities().sgemmIsa === 'avx512' ? ([['lstm', 'bfloat16', 8] as const, ['lstm', 'bfloat16', 1024] as const] as const) : [];
  const handleCases = [...CELL_TYPES.map((cell) => [cell, 'float32', 8] as const), ...bfloat16Cases];
  it.runIf(tensorflowBackend() !== undefined).each(handleCases)(
    'training steps (%s, %s matmuls, %i units) leave the number of TensorFlow tensor handles unchanged',
    async (cell, precision, hiddenSize) => {
      const config: ModelConfig = { cell, vocabSize: 7, embeddingSize: 4, hiddenSize, layers: 2, dropout: 0.2, weightDrop: 0.2, inputDropout: 0.2 };
      const model = new CharRnn(config, initialWeights(config, new Rng(1)), { precision, capabilities: lstmCapabilities() });
      const optimizer = createOptimizer('adam');
      const streams = new BatchStreams(
        Int32Array.from({ length: 2000 }, (_, i) => (i * 5 + (i >> 2)) % 7),
        4,
        10,
      );
      const rng = new Rng(2);
      let state = model.zeroState(4);
      const step = async () => {
        const result = trainStep(model, optimizer, streams.next(), state, rng, { clip: 5, learningRate: 1e-2, weightDecay: 0 });
        state = result.state;
        await result.lossAndNorm.data();
        result.lossAndNorm.dispose();
      };
      const { binding } = tensorflowBackend()!;
      await step(); // the optimizer's slots, and the fused kernels' one-off sequence-length scalar
      const live = binding.getNumOfTensors();
      for (let i = 0; i < 10; i++) await step();
      expect(binding.getNumOfTensors()).toBe(live);
      optimizer.dispose();
      model.dispose();
    },
  );
});
