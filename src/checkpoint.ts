import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import { parameterShapes, type ModelConfig } from './model.js';

export const CHECKPOINT_FORMAT = 'rnn-train-checkpoint';
export const CHECKPOINT_VERSION = 1;
const META_FILE = 'checkpoint.json';
const WEIGHTS_FILE = 'weights.bin';

/** The training flags a run was started with, kept so a checkpoint says how it was made. */
export interface TrainingConfig {
  corpus: string;
  seqLen: number;
  batchSize: number;
  optimizer: string;
  learningRate: number;
  clip: number;
  validationFraction: number;
  seed: number;
  evalEvery: number;
  backend: string;
}

export interface LossHistory {
  /** [step, train loss in nats/char] */
  train: [number, number][];
  /** [step, validation loss in nats/char] */
  validation: [number, number][];
}

export interface Checkpoint {
  model: ModelConfig;
  training: TrainingConfig;
  vocabulary: string[];
  step: number;
  epoch: number;
  bestValidationLoss: number | null;
  history: LossHistory;
  weights: Map<string, Float32Array>;
}

interface WeightEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

interface CheckpointFile extends Omit<Checkpoint, 'weights'> {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  savedAt: string;
  weightsFile: string;
  weightsSha256: string;
  weightEntries: WeightEntry[];
}

function writeFileDurably(file: string, data: string | Uint8Array): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a checkpoint directory: checkpoint.json (everything but the weights) and weights.bin. */
export function writeCheckpoint(dir: string, checkpoint: Checkpoint): void {
  const entries: WeightEntry[] = [];
  let offset = 0;
  for (const [name, shape] of parameterShapes(checkpoint.model)) {
    const values = checkpoint.weights.get(name);
    if (!values) throw new Error(`checkpoint is missing weight ${name}`);
    entries.push({ name, shape, offset, length: values.length });
    offset += values.byteLength;
  }
  const bytes = new Uint8Array(offset);
  for (const entry of entries) {
    const values = checkpoint.weights.get(entry.name)!;
    bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), entry.offset);
  }
  const { weights: _weights, ...rest } = checkpoint;
  const meta: CheckpointFile = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    savedAt: new Date().toISOString(),
    ...rest,
    weightsFile: WEIGHTS_FILE,
    weightsSha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    weightEntries: entries,
  };
  fs.mkdirSync(dir, { recursive: true });
  writeFileDurably(path.join(dir, WEIGHTS_FILE), bytes);
  writeFileDurably(path.join(dir, META_FILE), `${JSON.stringify(meta, null, 1)}\n`);
  fsyncDirectory(dir);
}

function corrupt(dir: string, what: string): UserError {
  return new UserError(`corrupt checkpoint ${dir}: ${what}; use another checkpoint (e.g. the run's latest/ or best/)`);
}

/** Reads and verifies a checkpoint directory; any damage is reported, never loaded silently. */
export function readCheckpoint(dir: string): Checkpoint {
  const metaPath = path.join(dir, META_FILE);
  if (!fs.existsSync(metaPath)) throw new UserError(`incomplete checkpoint ${dir}: ${META_FILE} is missing`);
  let meta: CheckpointFile;
  try {
    meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as CheckpointFile;
  } catch {
    throw corrupt(dir, `${META_FILE} is not valid JSON`);
  }
  if (meta?.format !== CHECKPOINT_FORMAT) throw corrupt(dir, `${META_FILE} is not an rnn-train checkpoint`);
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new UserError(`checkpoint ${dir} has format version ${meta.version}; this rnn-train reads version ${CHECKPOINT_VERSION}`);
  }
  if (!Array.isArray(meta.vocabulary) || meta.vocabulary.length !== meta.model?.vocabSize) {
    throw corrupt(dir, 'its vocabulary does not match the model');
  }
  const weightsPath = path.join(dir, WEIGHTS_FILE);
  if (!fs.existsSync(weightsPath)) throw new UserError(`incomplete checkpoint ${dir}: ${WEIGHTS_FILE} is missing`);
  const bytes = fs.readFileSync(weightsPath);
  const expectedBytes = [...parameterShapes(meta.model).values()].reduce((sum, s) => sum + 4 * s.reduce((a, b) => a * b, 1), 0);
  if (bytes.length !== expectedBytes) throw corrupt(dir, `${WEIGHTS_FILE} has ${bytes.length} bytes, expected ${expectedBytes}`);
  if (crypto.createHash('sha256').update(bytes).digest('hex') !== meta.weightsSha256) {
    throw corrupt(dir, `${WEIGHTS_FILE} does not match its checksum`);
  }
  const weights = new Map<string, Float32Array>();
  const aligned = new Uint8Array(bytes).buffer;
  for (const [name, shape] of parameterShapes(meta.model)) {
    const entry = meta.weightEntries.find((e) => e.name === name);
    const length = shape.reduce((a, b) => a * b, 1);
    if (!entry || entry.length !== length) throw corrupt(dir, `weight ${name} is missing or has the wrong size`);
    weights.set(name, new Float32Array(aligned, entry.offset, length));
  }
  return {
    model: meta.model,
    training: meta.training,
    vocabulary: meta.vocabulary,
    step: meta.step,
    epoch: meta.epoch,
    bestValidationLoss: meta.bestValidationLoss,
    history: meta.history,
    weights,
  };
}
