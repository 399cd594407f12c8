import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { readCheckpoint, writeCheckpoint, type Checkpoint } from '../src/checkpoint.js';
import { CharLstm, initialWeights, type ModelConfig } from '../src/model.js';
import { Rng } from '../src/random.js';
import { RunDirectory, loadCheckpoint } from '../src/run-directory.js';
import { Vocabulary } from '../src/vocabulary.js';
import { tempDir } from './helpers.js';

const vocabulary = Vocabulary.fromText('Hello, wörld! 𝄞😀\n');
const config: ModelConfig = { vocabSize: vocabulary.size, embeddingSize: 5, hiddenSize: 7, layers: 2, dropout: 0.1 };

function checkpointOf(weights: Map<string, Float32Array>, step = 12): Checkpoint {
  return {
    model: config,
    training: {
      corpus: 'x.txt', seqLen: 10, batchSize: 2, optimizer: 'adam', learningRate: 0.002, clip: 5,
      validationFraction: 0.1, seed: 1, evalEvery: 5, backend: tf.getBackend(),
    },
    vocabulary: [...vocabulary.chars],
    step,
    epoch: 2,
    bestValidationLoss: 1.5,
    history: { train: [[1, 3.2], [2, 3.0]], validation: [[2, 3.1]] },
    weights,
  };
}

/** Next-character distribution after reading `text`, carrying state through it. */
function nextCharProbabilities(model: CharLstm, text: string): Float32Array {
  return tf.tidy(() => {
    const ids = vocabulary.encode(text);
    const { logits } = model.forward(ids, ids.length, model.zeroState(1));
    return tf.softmax(tf.slice(logits, [ids.length - 1, 0], [1, -1])).dataSync() as Float32Array;
  });
}

describe('checkpoints', () => {
  it('round-trip to identical next-character probabilities', async () => {
    const original = new CharLstm(config, initialWeights(config, new Rng(5)));
    const dir = path.join(tempDir(), 'ckpt');
    writeCheckpoint(dir, checkpointOf(await original.readWeights()));
    const loaded = readCheckpoint(dir);
    expect(loaded.vocabulary).toEqual([...vocabulary.chars]);
    expect(loaded.step).toBe(12);
    expect(loaded.history.validation).toEqual([[2, 3.1]]);
    const restored = new CharLstm(loaded.model, loaded.weights);
    const before = nextCharProbabilities(original, 'Hello, 😀');
    const after = nextCharProbabilities(restored, 'Hello, 😀');
    expect(Math.abs(before.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    expect([...after]).toEqual([...before]);
    original.dispose();
    restored.dispose();
  });

  it('report damage naming the file instead of loading it', async () => {
    const weights = initialWeights(config, new Rng(6));
    const make = () => {
      const dir = path.join(tempDir(), 'ckpt');
      writeCheckpoint(dir, checkpointOf(weights));
      return dir;
    };
    const flipped = make();
    const bytes = fs.readFileSync(path.join(flipped, 'weights.bin'));
    bytes[100] ^= 0xff;
    fs.writeFileSync(path.join(flipped, 'weights.bin'), bytes);
    expect(() => readCheckpoint(flipped)).toThrow(/corrupt checkpoint .*weights\.bin does not match its checksum/);

    const truncated = make();
    fs.truncateSync(path.join(truncated, 'weights.bin'), 64);
    expect(() => readCheckpoint(truncated)).toThrow(/weights\.bin has 64 bytes, expected/);

    const garbled = make();
    fs.writeFileSync(path.join(garbled, 'checkpoint.json'), '{"format": "rnn-tr');
    expect(() => readCheckpoint(garbled)).toThrow(/checkpoint\.json is not valid JSON/);

    const incomplete = make();
    fs.rmSync(path.join(incomplete, 'weights.bin'));
    expect(() => readCheckpoint(incomplete)).toThrow(/incomplete checkpoint .*weights\.bin is missing/);
  });

  it('keep latest and best pointing at complete checkpoints, pruning the rest', () => {
    const weights = initialWeights(config, new Rng(7));
    const run = new RunDirectory(path.join(tempDir(), 'run'));
    run.prepare();
    run.save(checkpointOf(weights, 10), true);
    run.save(checkpointOf(weights, 20), false);
    run.save(checkpointOf(weights, 30), false);
    expect(fs.readlinkSync(run.best)).toBe(path.join('checkpoints', 'step-0000010'));
    expect(fs.readlinkSync(run.latest)).toBe(path.join('checkpoints', 'step-0000030'));
    expect(fs.readdirSync(path.join(run.dir, 'checkpoints')).sort()).toEqual(['step-0000010', 'step-0000030']);
    // A run directory resolves to its best checkpoint.
    expect(loadCheckpoint(run.dir).checkpoint.step).toBe(10);
    expect(loadCheckpoint(run.latest).checkpoint.step).toBe(30);
  });
});
