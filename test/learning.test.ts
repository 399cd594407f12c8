import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  type CellType,
  type MatmulPrecision,
  type LstmKernels,
  lstmCapabilities,
  splitCorpus,
  RunDirectory,
  nestedBrackets,
  train,
  Vocabulary,
} from '../src/index.js';
import { quietEvents, tempDir, trainingConfig } from './helpers.js';

/**
 * The best cross-entropy a bigram model (next character from the current one alone) reaches on
 * `validation`, fitted on `train` with add-α smoothing, α chosen on the validation data itself so
 * that the baseline is as strong as a bigram can be.
 */
function bigramLoss(train: Int32Array, validation: Int32Array, vocabSize: number): number {
  const counts = new Float64Array(vocabSize * vocabSize);
  for (let i = 0; i + 1 < train.length; i++) counts[train[i] * vocabSize + train[i + 1]]++;
  let best = Infinity;
  for (const alpha of [1e-3, 1e-2, 0.1, 1]) {
    let total = 0;
    for (let i = 0; i + 1 < validation.length; i++) {
      const row = validation[i] * vocabSize;
      let rowTotal = 0;
      for (let j = 0; j < vocabSize; j++) rowTotal += counts[row + j] + alpha;
      total -= Math.log((counts[row + validation[i + 1]] + alpha) / rowTotal);
    }
    best = Math.min(best, total / (validation.length - 1));
  }
  return best;
}

/** A short run on the nested-brackets corpus; returns the best validation loss and the bigram baseline. */
async function bracketsRun(
  steps: number,
  kernels: LstmKernels = 'auto',
  cell: CellType = 'lstm',
  precision: MatmulPrecision = 'float32',
): Promise<{ best: number; bigram: number }> {
  const text = nestedBrackets(30_000, 1);
  const vocabulary = Vocabulary.fromText(text);
  const { train: trainIds, validation } = splitCorpus(vocabulary.encode(text), 0.1);
  const summary = await train(
    {
      vocabulary,
      train: trainIds,
      validation,
      model: { cell, embeddingSize: 8, hiddenSize: 48, layers: 1, dropout: 0, weightDrop: 0, inputDropout: 0 },
      training: trainingConfig({ seqLen: 40, batchSize: 16, learningRate: 1e-2, precision }),
      options: { steps, evalEvery: 100, onNan: 'stop', backend: 'test' },
      run: new RunDirectory(tempDir()),
      kernels,
    },
    quietEvents,
    { requested: false },
  );
  return { best: summary.bestValidationLoss!, bigram: bigramLoss(trainIds, validation, vocabulary.size) };
}

describe('learning', () => {
  it('learns long-range structure (nested brackets) far beyond what a bigram model can reach', async () => {
    const { best, bigram } = await bracketsRun(400);
    console.log(`nested brackets: bigram ${bigram.toFixed(3)} nats/char, LSTM ${best.toFixed(3)}`);
    expect(best).toBeLessThan(0.75 * bigram);
  });

  it.each(['gru', 'rnn'] as const)('a %s learns it too', async (cell) => {
    const { best, bigram } = await bracketsRun(400, 'auto', cell);
    console.log(`nested brackets after 400 steps: ${cell} ${best.toFixed(3)}, bigram ${bigram.toFixed(3)} nats/char`);
    expect(best).toBeLessThan(0.75 * bigram);
  });

  it.runIf(tf.getBackend() === 'tensorflow')("learns the same with TensorFlow's fused kernels as with the reference LSTM", async () => {
    const fused = await bracketsRun(100, 'auto');
    const reference = await bracketsRun(100, 'reference');
    console.log(`after 100 steps: fused ${fused.best.toFixed(4)}, reference ${reference.best.toFixed(4)} nats/char`);
    // Same seed, same data: only floating-point summation order differs between the two.
    expect(Math.abs(fused.best - reference.best)).toBeLessThan(0.01);
  });

  // bfloat16 products need oneDNN's AVX-512 kernels (policy.ts's checkPrecision).
  it.runIf(tf.getBackend() === 'tensorflow' && lstmCapabilities().sgemmIsa === 'avx512')(
    'learns the same with bfloat16 matmuls (mixed precision) as with float32',
    async () => {
      const float32 = await bracketsRun(200, 'auto', 'lstm', 'float32');
      const bfloat16 = await bracketsRun(200, 'auto', 'lstm', 'bfloat16');
      console.log(`after 200 steps: float32 ${float32.best.toFixed(4)}, bfloat16 ${bfloat16.best.toFixed(4)} nats/char`);
      // Same seed, same data: the gradients differ by bfloat16's rounding (about 0.4 % of each operand).
      expect(Math.abs(bfloat16.best - float32.best)).toBeLessThan(0.02);
      expect(bfloat16.best).toBeLessThan(0.75 * float32.bigram);
    },
  );
});
