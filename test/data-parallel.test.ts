import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BackendName,
  BatchStreams,
  ParallelEngine,
  trainingParallelism,
  LocalEngine,
  type Engine,
  CharRnn,
  initialWeights,
  type ModelConfig,
  createOptimizer,
  type Optimizer,
  Rng,
  lstmCapabilities,
  copyInto,
  tensorflowBackend,
} from '../src/index.js';

const config: ModelConfig = { cell: 'lstm', vocabSize: 7, embeddingSize: 4, hiddenSize: 8, layers: 2, dropout: 0, weightDrop: 0, inputDropout: 0 };
const ids = Int32Array.from({ length: 3000 }, (_, i) => (i * 7 + (i >> 3)) % 7);
const batchSize = 5;
const settings = { clip: 5, learningRate: 1e-2, weightDecay: 0 };

let cleanup: (() => void)[] = [];
afterEach(() => {
  cleanup.forEach((f) => f());
  cleanup = [];
});

async function engineOf(replicas: number): Promise<{ model: CharRnn; engine: Engine }> {
  const model = new CharRnn(config, initialWeights(config, new Rng(1)), { capabilities: lstmCapabilities() });
  const optimizer: Optimizer = createOptimizer('adam');
  const engine =
    replicas > 1
      ? await ParallelEngine.start(model, optimizer, { batchSize, replicas, precision: 'float32' }, tf.getBackend() as BackendName)
      : new LocalEngine(model, optimizer, batchSize);
  cleanup.push(() => {
    engine.dispose();
    optimizer.dispose();
    model.dispose();
  });
  return { model, engine };
}

describe(`data-parallel replicas (${tf.getBackend()})`, () => {
  it.each([2, 3])('%i replicas take the steps one thread takes: same losses, weights and carried state', async (replicas) => {
    const one = await engineOf(1);
    const many = await engineOf(replicas);
    const streams = new BatchStreams(ids, batchSize, 10);
    for (let step = 0; step < 4; step++) {
      const batch = streams.next();
      // Without dropout the replicas' dropout seeds do not matter, so the runs must agree.
      const a = await one.engine.step(batch, new Rng(3), settings);
      const b = await many.engine.step(batch, new Rng(3), settings);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.gradientNorm).toBeCloseTo(a.gradientNorm, 4);
    }
    const [wa, wb] = [await one.model.readWeights(), await many.model.readWeights()];
    for (const [name, values] of wa) values.forEach((v, i) => expect(Math.abs(wb.get(name)![i] - v), name).toBeLessThan(1e-4));
    const [ca, cb] = [await one.engine.readCarried(), await many.engine.readCarried()];
    expect([...cb.keys()]).toEqual([...ca.keys()]);
    for (const [name, values] of ca) values.forEach((v, i) => expect(Math.abs(cb.get(name)![i] - v), name).toBeLessThan(1e-4));
  });

  it('restores the carried state of every stream, whichever thread holds it', async () => {
    const { engine } = await engineOf(2);
    const saved = new Map([...(await engine.readCarried())].map(([name, values]) => [name, values.map((_, i) => Math.sin(i + name.length))]));
    engine.restoreCarried(saved);
    const read = await engine.readCarried();
    for (const [name, values] of saved) expect([...read.get(name)!], name).toEqual([...values]);
    engine.resetCarried();
    for (const values of (await engine.readCarried()).values()) expect(values.every((v) => v === 0)).toBe(true);
  });

  it('are the default only for small models, and only on tensorflow (whose addon rnn-train builds thread-safe)', () => {
    const { vocabSize: _, ...model } = config;
    const replicas = (shape: typeof model, batch: number, cores: number, given?: number) => trainingParallelism(shape, batch, { cores, replicas: given });
    expect(replicas(model, batchSize, 2).tensorflow).toEqual({ replicas: 2, intraOpThreads: 1 });
    expect(replicas(model, batchSize, 1).tensorflow.replicas).toBe(1);
    expect(replicas({ ...model, hiddenSize: 1024 }, 64, 2).tensorflow).toEqual({ replicas: 1, intraOpThreads: undefined });
    expect(replicas(model, 1, 2).tensorflow.replicas).toBe(1);
    expect(replicas(model, batchSize, 2).wasm.replicas).toBe(1);
    // Replicas the user gave (or a resumed run saved) are kept on every backend, each on one thread.
    expect(replicas({ ...model, hiddenSize: 1024 }, 64, 2, 2).tensorflow).toEqual({ replicas: 2, intraOpThreads: 1 });
    expect(replicas(model, batchSize, 2, 1).tensorflow.replicas).toBe(1);
    expect(replicas(model, batchSize, 2, 2).cpu.replicas).toBe(2);
  });

  it('exchange weights and gradients through shared memory, filled in place where the binding can', async () => {
    const tensors = [
      tf.tensor2d([
        [1, 2, 3],
        [4, 5, 6],
      ]),
      tf.tensor1d([7, 8]),
    ];
    cleanup.push(() => tf.dispose(tensors));
    const shared = new Float32Array(new SharedArrayBuffer(8 * 4));
    await copyInto(tensors, shared);
    expect([...shared]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    await expect(copyInto(tensors, new Float32Array(7))).rejects.toThrow('the tensors hold 8 values, and the array to copy them into 7');
    const backend = tensorflowBackend();
    if (!backend) return;
    expect(backend.binding.copyTensors).toBeTypeOf('function');
    const { binding } = backend;
    backend.binding = Object.create(binding, { copyTensors: { value: undefined } });
    try {
      shared.fill(0);
      await copyInto(tensors, shared);
      expect([...shared]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      await expect(copyInto(tensors, new Float32Array(9))).rejects.toThrow('the tensors hold 8 values, and the array to copy them into 9');
    } finally {
      backend.binding = binding;
    }
  });

  it('leaves the number of live tensors unchanged across steps', async () => {
    const { engine } = await engineOf(2);
    const streams = new BatchStreams(ids, batchSize, 10);
    const rng = new Rng(4);
    await engine.step(streams.next(), rng, settings);
    const live = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) await engine.step(streams.next(), rng, settings);
    expect(tf.memory().numTensors).toBe(live);
  });
});
