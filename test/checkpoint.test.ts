import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  readCheckpoint,
  writeCheckpoint,
  type Checkpoint,
  CharRnn,
  initialWeights,
  type ModelConfig,
  Rng,
  RunDirectory,
  loadCheckpoint,
  Vocabulary,
  lstmCapabilities,
} from '../src/index.js';
import { tempDir, trainingConfig } from './helpers.js';

const vocabulary = Vocabulary.fromText('Hello, wörld! 𝄞😀\n');
const config: ModelConfig = {
  cell: 'lstm',
  vocabSize: vocabulary.size,
  embeddingSize: 5,
  hiddenSize: 7,
  layers: 2,
  dropout: 0.1,
  weightDrop: 0.2,
  inputDropout: 0.3,
};

function checkpointOf(weights: Map<string, Float32Array>, step = 12): Checkpoint {
  return {
    model: config,
    training: trainingConfig(),
    options: { evalEvery: 5, steps: 100, onNan: 'stop', backend: tf.getBackend() },
    vocabulary: [...vocabulary.chars],
    progress: {
      step,
      epoch: 2,
      streamPosition: 3,
      trainingSeconds: 1.5,
      rngState: 123456,
      optimizerStep: step,
      learningRateScale: 1,
      bestValidationLoss: 1.5,
      history: {
        train: [
          [1, 3.2],
          [2, 3.0],
        ],
        validation: [[2, 3.1]],
      },
    },
    weights,
    trainingState: new Map([
      ['optimizer/m/dense/bias', Float32Array.of(1, 2, 3)],
      ['carried/h/1', Float32Array.of(-1, 0.5)],
    ]),
  };
}

/** Next-character distribution after reading `text`, carrying state through it. */
function nextCharProbabilities(model: CharRnn, text: string): Float32Array {
  return tf.tidy(() => {
    const ids = vocabulary.encode(text);
    const { logits } = model.forward(ids, ids.length, model.zeroState(1));
    return tf.softmax(tf.slice(logits, [ids.length - 1, 0], [1, -1])).dataSync() as Float32Array;
  });
}

describe('checkpoints', () => {
  it('round-trip to identical next-character probabilities', async () => {
    const original = new CharRnn(config, initialWeights(config, new Rng(5)), { capabilities: lstmCapabilities() });
    const dir = path.join(tempDir(), 'ckpt');
    writeCheckpoint(dir, checkpointOf(await original.readWeights()));
    const loaded = readCheckpoint(dir);
    expect(loaded.vocabulary).toEqual([...vocabulary.chars]);
    expect(loaded.progress.step).toBe(12);
    expect(loaded.progress.history.validation).toEqual([[2, 3.1]]);
    expect(loaded.progress.rngState).toBe(123456);
    expect([...loaded.trainingState]).toEqual([
      ['optimizer/m/dense/bias', Float32Array.of(1, 2, 3)],
      ['carried/h/1', Float32Array.of(-1, 0.5)],
    ]);
    const restored = new CharRnn(loaded.model, loaded.weights, { capabilities: lstmCapabilities() });
    const before = nextCharProbabilities(original, 'Hello, 😀');
    const after = nextCharProbabilities(restored, 'Hello, 😀');
    expect(Math.abs(before.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
    expect([...after]).toEqual([...before]);
    original.dispose();
    restored.dispose();
  });

  it('written before GRU, RNN, weight decay, weight drop, input dropout, averaging, replicas and precision existed, read as an LSTM without them', () => {
    const dir = path.join(tempDir(), 'old');
    writeCheckpoint(dir, checkpointOf(initialWeights(config, new Rng(5))));
    const metaPath = path.join(dir, 'checkpoint.json');
    const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
    delete meta.model.cell;
    delete meta.model.weightDrop;
    delete meta.model.inputDropout;
    delete meta.training.weightDecay;
    delete meta.training.emaDecay;
    delete meta.training.replicas;
    delete meta.training.precision;
    const text = `${JSON.stringify(meta)}\n`;
    fs.writeFileSync(metaPath, text);
    const sums = fs
      .readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8')
      .replace(/^\w+(?= {2}checkpoint\.json$)/m, crypto.createHash('sha256').update(text).digest('hex'));
    fs.writeFileSync(path.join(dir, 'SHA256SUMS'), sums);
    const loaded = readCheckpoint(dir);
    expect(loaded.model.cell).toBe('lstm');
    expect(loaded.model.weightDrop).toBe(0);
    expect(loaded.model.inputDropout).toBe(0);
    expect(loaded.training.weightDecay).toBe(0);
    expect(loaded.training.emaDecay).toBe(0);
    expect(loaded.training.replicas).toBe(1);
    expect(loaded.training.precision).toBe('float32');
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
    expect(() => readCheckpoint(truncated)).toThrow(/corrupt checkpoint .*weights\.bin does not match its checksum/);

    // The metadata and the training state are covered by SHA256SUMS too.
    for (const file of ['checkpoint.json', 'training-state.bin']) {
      const edited = make();
      const content = fs.readFileSync(path.join(edited, file));
      content[content.length - 2] ^= 1;
      fs.writeFileSync(path.join(edited, file), content);
      expect(() => readCheckpoint(edited)).toThrow(new RegExp(`corrupt checkpoint .*${file.replace('.', '\\.')} does not match its checksum`));
    }

    // A write that never reached its last file (SHA256SUMS) is incomplete, not loaded.
    const unfinished = make();
    fs.rmSync(path.join(unfinished, 'SHA256SUMS'));
    expect(() => readCheckpoint(unfinished)).toThrow(/incomplete checkpoint .*SHA256SUMS is missing/);

    const garbled = make();
    fs.writeFileSync(path.join(garbled, 'checkpoint.json'), '{"format": "rnn-tr');
    expect(() => readCheckpoint(garbled)).toThrow(/corrupt checkpoint .*checkpoint\.json does not match its checksum/);

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
    expect(loadCheckpoint(run.dir).checkpoint.progress.step).toBe(10);
    expect(loadCheckpoint(run.latest).checkpoint.progress.step).toBe(30);
  });
});
