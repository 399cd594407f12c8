import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { faultPoint } from '../util/faults.js';
import { makeDirectory } from '../util/fs.js';
import { CELL_TYPES, MATMUL_PRECISIONS } from '../model/cells/cell.js';
import { parameterShapes } from '../model/char-rnn.js';
import type { NamedArrays } from '../model/config.js';
import { layersModelJson } from '../model/layers-model.js';
import type { TrainingSnapshot } from '../train/config.js';
import { CHECKPOINT_FILES, CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './files.js';

/**
 * A checkpoint, the one home of its format: a run's snapshot as written to disk (writeCheckpoint)
 * and read back (readCheckpoint, which also brings older ones up to date: LEGACY_FIELDS).
 */
export interface Checkpoint extends TrainingSnapshot {
  /** When it was written (ISO 8601); set on the checkpoints read from disk. */
  savedAt?: string;
}

/**
 * What a checkpoint written before a field existed gets for it: the value that reproduces how such
 * a run trained (an LSTM, none of the regularisers, no averaging, one replica, float32). Format
 * version 2 has taken these fields on since it was introduced.
 */
const LEGACY_FIELDS: { model: Partial<Checkpoint['model']>; training: Partial<Checkpoint['training']> } = {
  model: { cell: 'lstm', inputDropout: 0, weightDrop: 0 },
  training: { weightDecay: 0, stateReset: 0, emaDecay: 0, replicas: 1, precision: 'float32' },
};

const {
  meta: META_FILE,
  weights: WEIGHTS_FILE,
  state: STATE_FILE,
  sums: SUMS_FILE,
  layersModel: LAYERS_MODEL_FILE,
  vocabulary: VOCABULARY_FILE,
} = CHECKPOINT_FILES;

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

interface CheckpointFile extends Omit<Checkpoint, 'weights' | 'trainingState'> {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  weightEntries: TensorEntry[];
  stateEntries: TensorEntry[];
}

/** The arrays laid end to end, float32 little-endian, with where each one starts. */
function pack(arrays: [string, Float32Array, number[]][]): { bytes: Uint8Array; entries: TensorEntry[] } {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const [name, values, shape] of arrays) {
    entries.push({ name, shape, offset, length: values.length });
    offset += values.byteLength;
  }
  const bytes = new Uint8Array(offset);
  arrays.forEach(([, values], i) => bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), entries[i].offset));
  return { bytes, entries };
}

function sha256(data: string | Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
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

export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a checkpoint directory: weights.bin (the model), training-state.bin (optimizer slots,
 * carried state), checkpoint.json (everything else), model.json and vocabulary.json (the model
 * for tf.loadLayersModel) and SHA256SUMS over all of them, last, in `sha256sum -c` format. A
 * directory without a complete SHA256SUMS is never loaded.
 */
export function writeCheckpoint(dir: string, checkpoint: Checkpoint): void {
  const shapes = parameterShapes(checkpoint.model);
  const weights = pack(
    [...shapes].map(([name, shape]): [string, Float32Array, number[]] => {
      const values = checkpoint.weights.get(name);
      if (!values) throw new Error(`checkpoint is missing weight ${name}`);
      return [name, values, shape];
    }),
  );
  const state = pack([...checkpoint.trainingState].map(([name, values]): [string, Float32Array, number[]] => [name, values, [values.length]]));
  const { weights: _weights, trainingState: _state, savedAt: _savedAt, ...rest } = checkpoint;
  const meta: CheckpointFile = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    savedAt: new Date().toISOString(),
    ...rest,
    weightEntries: weights.entries,
    stateEntries: state.entries,
  };
  // Compact: the loss history has an entry per step, and the file is rewritten at every checkpoint.
  const metaText = `${JSON.stringify(meta)}\n`;
  makeDirectory(dir, 'choose another directory for the checkpoint');
  writeFileDurably(path.join(dir, WEIGHTS_FILE), weights.bytes);
  faultPoint('checkpoint-weights-written');
  writeFileDurably(path.join(dir, STATE_FILE), state.bytes);
  writeFileDurably(path.join(dir, META_FILE), metaText);
  faultPoint('checkpoint-meta-written');
  const layersModelText = `${JSON.stringify(layersModelJson(checkpoint.model, WEIGHTS_FILE, 'rnn-train'), null, 1)}\n`;
  const vocabularyText = `${JSON.stringify(checkpoint.vocabulary)}\n`;
  writeFileDurably(path.join(dir, LAYERS_MODEL_FILE), layersModelText);
  writeFileDurably(path.join(dir, VOCABULARY_FILE), vocabularyText);
  const sums = [
    [WEIGHTS_FILE, sha256(weights.bytes)],
    [STATE_FILE, sha256(state.bytes)],
    [META_FILE, sha256(metaText)],
    [LAYERS_MODEL_FILE, sha256(layersModelText)],
    [VOCABULARY_FILE, sha256(vocabularyText)],
  ];
  writeFileDurably(path.join(dir, SUMS_FILE), sums.map(([file, sum]) => `${sum}  ${file}\n`).join(''));
  fsyncDirectory(dir);
}

function corrupt(dir: string, what: string): UserError {
  return new UserError(`corrupt checkpoint ${dir}: ${what}; use another checkpoint (e.g. the run's latest/ or best/)`);
}

/** Reads SHA256SUMS and checks every file it must list; returns the verified bytes of each. */
function verifiedFiles(dir: string): Map<string, Buffer> {
  const sumsPath = path.join(dir, SUMS_FILE);
  for (const file of [SUMS_FILE, META_FILE, WEIGHTS_FILE]) {
    if (!fs.existsSync(path.join(dir, file))) throw new UserError(`incomplete checkpoint ${dir}: ${file} is missing`);
  }
  const expected = new Map<string, string>();
  for (const line of fs.readFileSync(sumsPath, 'utf8').split('\n')) {
    const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (match) expected.set(match[2], match[1]);
  }
  const files = new Map<string, Buffer>();
  for (const file of [META_FILE, WEIGHTS_FILE, STATE_FILE]) {
    const sum = expected.get(file);
    if (sum === undefined) throw corrupt(dir, `${SUMS_FILE} has no checksum for ${file}`);
    const filePath = path.join(dir, file);
    if (!fs.existsSync(filePath)) throw new UserError(`incomplete checkpoint ${dir}: ${file} is missing`);
    const bytes = fs.readFileSync(filePath);
    if (sha256(bytes) !== sum) throw corrupt(dir, `${file} does not match its checksum`);
    files.set(file, bytes);
  }
  return files;
}

function unpack(dir: string, file: string, bytes: Buffer, entries: TensorEntry[]): NamedArrays {
  const aligned = new Uint8Array(bytes).buffer;
  const arrays: NamedArrays = new Map();
  for (const entry of entries) {
    if (entry.offset + entry.length * 4 > aligned.byteLength) throw corrupt(dir, `${file} is shorter than its entry ${entry.name}`);
    arrays.set(entry.name, new Float32Array(aligned, entry.offset, entry.length));
  }
  return arrays;
}

/** Reads and verifies a checkpoint directory; any damage is reported naming the file, never loaded. */
export function readCheckpoint(dir: string): Checkpoint {
  const files = verifiedFiles(dir);
  let meta: CheckpointFile;
  try {
    meta = JSON.parse(files.get(META_FILE)!.toString('utf8')) as CheckpointFile;
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
  meta.model = { ...LEGACY_FIELDS.model, ...meta.model };
  meta.training = { ...LEGACY_FIELDS.training, ...meta.training };
  if (!CELL_TYPES.includes(meta.model.cell)) throw corrupt(dir, `its model has an unknown cell "${meta.model.cell}"`);
  if (!MATMUL_PRECISIONS.includes(meta.training.precision)) throw corrupt(dir, `its training has an unknown precision "${meta.training.precision}"`);
  const weightBytes = files.get(WEIGHTS_FILE)!;
  const expectedBytes = [...parameterShapes(meta.model).values()].reduce((sum, s) => sum + 4 * s.reduce((a, b) => a * b, 1), 0);
  if (weightBytes.length !== expectedBytes) throw corrupt(dir, `${WEIGHTS_FILE} has ${weightBytes.length} bytes, expected ${expectedBytes}`);
  const weights = unpack(dir, WEIGHTS_FILE, weightBytes, meta.weightEntries);
  for (const [name, shape] of parameterShapes(meta.model)) {
    if (weights.get(name)?.length !== shape.reduce((a, b) => a * b, 1)) throw corrupt(dir, `weight ${name} is missing or has the wrong size`);
  }
  return {
    model: meta.model,
    training: meta.training,
    options: meta.options,
    vocabulary: meta.vocabulary,
    progress: meta.progress,
    savedAt: meta.savedAt,
    weights,
    trainingState: unpack(dir, STATE_FILE, files.get(STATE_FILE)!, meta.stateEntries),
  };
}
