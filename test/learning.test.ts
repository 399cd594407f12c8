import { describe, expect, it } from 'vitest';
import { splitCorpus } from '../src/corpus.js';
import { RunDirectory } from '../src/run-directory.js';
import { nestedBrackets } from '../src/synthetic.js';
import { train, type TrainEvents } from '../src/trainer.js';
import { Vocabulary } from '../src/vocabulary.js';
import { tempDir } from './helpers.js';

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

const quiet: TrainEvents = { start() {}, step() {}, evaluation() {}, checkpoint() {} };

describe('learning', () => {
  it('learns long-range structure (nested brackets) far beyond what a bigram model can reach', async () => {
    const text = nestedBrackets(30_000, 1);
    const vocabulary = Vocabulary.fromText(text);
    const { train: trainIds, validation } = splitCorpus(vocabulary.encode(text), 0.1);
    const baseline = bigramLoss(trainIds, validation, vocabulary.size);
    const summary = await train(
      {
        vocabulary,
        train: trainIds,
        validation,
        model: { embeddingSize: 8, hiddenSize: 48, layers: 1, dropout: 0 },
        training: {
          corpus: 'nested-brackets', seqLen: 40, batchSize: 16, optimizer: 'adam', learningRate: 1e-2, clip: 5,
          validationFraction: 0.1, seed: 1, evalEvery: 100, backend: 'test',
        },
        epochs: 1,
        steps: 400,
        run: new RunDirectory(tempDir()),
      },
      quiet,
      { requested: false },
    );
    console.log(`nested brackets: bigram ${baseline.toFixed(3)} nats/char, LSTM ${summary.bestValidationLoss?.toFixed(3)}`);
    expect(summary.bestValidationLoss).not.toBeNull();
    expect(summary.bestValidationLoss!).toBeLessThan(0.75 * baseline);
  });
});
