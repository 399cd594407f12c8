import fs from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BatchStreams,
  CharRnn,
  chunkGradients,
  coldStreams,
  disposeState,
  INITIALISATION,
  initialWeights,
  loadCheckpoint,
  mapLayerState,
  Rng,
  RunDirectory,
  splitCorpus,
  train,
  Vocabulary,
  zeroStateProfile,
  type Initialisation,
  lstmCapabilities,
} from '../src/index.js';
import { ROOT, tempDir, trainingConfig } from './helpers.js';

/**
 * The first steps of training, and what a model does from zero state (sampling, a pasted line,
 * a short text to score all start there). A 1×128 LSTM on the first 300,000 characters of
 * tiny-shakespeare, as bench/cold-start.mjs measures the default model (docs/training.md).
 */

const text = fs.readFileSync(path.join(ROOT, 'data', 'tinyshakespeare.txt'), 'utf8').slice(0, 300_000);
const vocabulary = Vocabulary.fromText(text);
const { train: trainIds, validation } = splitCorpus(vocabulary.encode(text), 0.1);

/** The cross-entropy of the validation text under the training text's character frequencies: the unigram plateau. */
function unigramLoss(): number {
  const counts = new Float64Array(vocabulary.size);
  for (const id of trainIds) counts[id]++;
  return -validation.reduce((sum, id) => sum + Math.log(Math.max(counts[id], 1) / trainIds.length), 0) / validation.length;
}

async function briefRun(steps: number, initialisation: Initialisation): Promise<{ losses: number[]; model: CharRnn }> {
  const losses: number[] = [];
  const dir = tempDir();
  await train(
    {
      vocabulary,
      train: trainIds,
      validation,
      model: { cell: 'lstm', embeddingSize: 32, hiddenSize: 128, layers: 1, dropout: 0, weightDrop: 0, inputDropout: 0 },
      training: trainingConfig({ seqLen: 32, batchSize: 32, learningRate: 3e-3, seed: 1 }),
      options: { steps, evalEvery: steps, onNan: 'stop', backend: 'test' },
      run: new RunDirectory(dir),
      initialisation,
    },
    { start() {}, evaluation() {}, checkpoint() {}, warn() {}, step: (info) => losses.push(info.trainLoss) },
    { requested: false },
  );
  const { checkpoint } = loadCheckpoint(dir);
  return { losses, model: new CharRnn(checkpoint.model, checkpoint.weights, { capabilities: lstmCapabilities() }) };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('--state-reset', () => {
  it('draws the same cold streams for the same seed and step, about the share asked for, and others at the next step', () => {
    const draw = coldStreams(7, 12, 4000, 0.125)!;
    expect([...draw]).toEqual([...coldStreams(7, 12, 4000, 0.125)!]);
    expect([...draw]).not.toEqual([...coldStreams(7, 13, 4000, 0.125)!]);
    expect(Math.abs(draw.reduce((a, b) => a + b, 0) / 4000 - 0.125)).toBeLessThan(0.02);
    expect(coldStreams(7, 12, 4000, 0)).toBeUndefined();
  });

  it('starts a cold stream from zero state and leaves the others their carried state', () => {
    const config = {
      cell: 'lstm' as const,
      vocabSize: vocabulary.size,
      embeddingSize: 8,
      hiddenSize: 16,
      layers: 2,
      dropout: 0,
      weightDrop: 0,
      inputDropout: 0,
    };
    const model = new CharRnn(config, initialWeights(config, new Rng(3)), { capabilities: lstmCapabilities() });
    const streams = new BatchStreams(trainIds, 4, 10);
    const batch = streams.next();
    const carried = () =>
      model.zeroState(4).map((layer) => mapLayerState(layer, (part) => tf.add(part, tf.randomUniform(part.shape, -1, 1, 'float32', 5)) as tf.Tensor2D));
    const lossOf = (state: ReturnType<typeof carried>, coldStreamsOf?: Uint8Array) => {
      const result = chunkGradients(model, { ...batch, ...(coldStreamsOf ? { coldStreams: coldStreamsOf } : {}) }, state, new Rng(1));
      const loss = result.loss.dataSync()[0];
      tf.dispose([result.loss, result.gradient]);
      disposeState(result.state);
      return loss;
    };
    const withCold = lossOf(carried(), Uint8Array.from([0, 1, 0, 0]));
    const zeroed = carried().map((layer) => mapLayerState(layer, (part) => tf.mul(part, tf.tensor2d([1, 0, 1, 1], [4, 1])) as tf.Tensor2D));
    expect(withCold).toBeCloseTo(lossOf(zeroed), 6);
    expect(Math.abs(withCold - lossOf(carried()))).toBeGreaterThan(1e-4);
    model.dispose();
  });
});

describe('a fast start', () => {
  it('leaves the unigram plateau within 30 steps, where Keras initialisation (embedding ±0.05) is still on it', async () => {
    const plateau = unigramLoss();
    const ours = await briefRun(30, INITIALISATION);
    const keras = await briefRun(30, { ...INITIALISATION, embeddingStd: 0.05 / Math.sqrt(3) });
    const late = (losses: number[]) => mean(losses.slice(25, 30));
    console.log(
      `unigram ${plateau.toFixed(3)} nats/char; steps 26–30: ${late(ours.losses).toFixed(3)}, with Keras's embedding ${late(keras.losses).toFixed(3)}`,
    );
    expect(late(ours.losses)).toBeLessThan(plateau - 0.3);
    expect(late(keras.losses)).toBeGreaterThan(plateau - 0.3);
    ours.model.dispose();
    keras.model.dispose();
  });

  it('predicts the first character read from zero state no worse than the character frequencies do', async () => {
    const { model } = await briefRun(200, INITIALISATION);
    const profile = zeroStateProfile(model, validation, { windows: 256, length: 16 });
    model.dispose();
    console.log(`from zero state: position 0 ${profile[0].toFixed(3)}, positions 4–15 ${mean([...profile.slice(4)]).toFixed(3)} nats/char`);
    expect(profile[0]).toBeLessThan(unigramLoss());
    // And from there it improves as it reads: position 0 has only one character to go on.
    expect(mean([...profile.slice(4)])).toBeLessThan(profile[0] - 0.3);
  });
});
