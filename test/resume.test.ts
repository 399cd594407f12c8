import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BatchStreams,
  type CellType,
  readCheckpoint,
  type Checkpoint,
  type RunOptions,
  splitCorpus,
  RunDirectory,
  nestedBrackets,
  train,
  type StopSignal,
  type TrainEvents,
  Vocabulary,
} from '../src/index.js';
import { quietEvents, tempDir, testBackend, trainingConfig } from './helpers.js';

const text = nestedBrackets(4000, 3);
const vocabulary = Vocabulary.fromText(text);
const { train: trainIds, validation } = splitCorpus(vocabulary.encode(text), 0.1);
// Dropout, weight drop, weight averaging, state resets, a cosine schedule with warm-up and several
// epochs: every piece of state a resume must restore.
const setup = {
  vocabulary,
  train: trainIds,
  validation,
  model: { cell: 'lstm' as const, embeddingSize: 4, hiddenSize: 12, layers: 2, dropout: 0.2, weightDrop: 0.2, inputDropout: 0.2 },
  training: trainingConfig({
    weightDecay: 0.01,
    stateReset: 0.25,
    emaDecay: 0.9,
    seqLen: 15,
    batchSize: 6,
    learningRate: 1e-2,
    schedule: { name: 'cosine', warmupSteps: 4, decayRate: 0.97, decayAfter: 10 },
  }),
};
const options: RunOptions = { steps: 100, evalEvery: 7, onNan: 'stop', backend: testBackend() };

/** Trains in `dir`, stopping cleanly after `stopAt` steps if given; returns the latest checkpoint. */
async function runTo(cell: CellType, replicas: number, dir: string, stopAt?: number, resume?: Checkpoint): Promise<Checkpoint> {
  const stop: StopSignal = { requested: false };
  const events: TrainEvents = { ...quietEvents, step: (info) => void (info.step === stopAt && (stop.requested = true)) };
  const training = { ...setup.training, replicas };
  await train({ ...setup, model: { ...setup.model, cell }, training, options, run: new RunDirectory(dir), resume }, events, stop);
  return readCheckpoint(path.join(dir, 'latest'));
}

function expectSameRun(a: Checkpoint, b: Checkpoint): void {
  expect(b.progress.step).toBe(a.progress.step);
  expect(b.progress.epoch).toBe(a.progress.epoch);
  for (const [name, values] of a.weights) expect(Buffer.from(b.weights.get(name)!.buffer).equals(Buffer.from(values.buffer)), name).toBe(true);
  expect([...b.trainingState.keys()]).toEqual([...a.trainingState.keys()]);
  for (const [name, values] of a.trainingState) expect([...b.trainingState.get(name)!], name).toEqual([...values]);
  expect(b.progress.history.train).toEqual(a.progress.history.train);
  expect(b.progress.history.validation).toEqual(a.progress.history.validation);
}

// The GRU carries h alone, the LSTM h and c; with data-parallel replicas, the state of some streams
// lives in worker threads.
describe.each([
  ['lstm', 1],
  ['gru', 1],
  ['lstm', 2],
] as const)(`exact resume of an %s on %i thread(s) (${testBackend()})`, (cell, replicas) => {
  it('N steps straight equal N/2 steps, stop, resume, N/2 steps: bit-identical weights, optimizer state and loss curve', async () => {
    const straight = await runTo(cell, replicas, path.join(tempDir(), 'run'));
    expect([...straight.trainingState.keys()].filter((name) => name.startsWith('carried/'))).toEqual(
      cell === 'lstm' ? ['carried/h/1', 'carried/c/1', 'carried/h/2', 'carried/c/2'] : ['carried/h/1', 'carried/h/2'],
    );
    const dir = path.join(tempDir(), 'run');
    // Stop in the middle of the second epoch, between two evaluations.
    const perEpoch = new BatchStreams(trainIds, setup.training.batchSize, setup.training.seqLen).stepsPerEpoch;
    expect(perEpoch).toBeLessThan(50);
    const half = await runTo(cell, replicas, dir, 50);
    expect(half.progress.step).toBe(50);
    expect(half.progress.epoch).toBe(2);
    expect(half.progress.streamPosition).toBe(50 - perEpoch);
    const resumed = await runTo(cell, replicas, dir, undefined, half);
    // The loss history is exactly equal, not merely close: the backend is deterministic here.
    expectSameRun(straight, resumed);
  });
});
