import { UserError } from '../util/errors.js';

/**
 * The first characters of every stream that is read from zero state, which a model predicts worse
 * than the rest: scores report them apart (rnn-eval, the page's Look inside).
 */
export const COLD_START_CHARACTERS = 16;

/** Character ids of a text, in the smallest array type that holds its vocabulary. */
export type CharIds = Uint8Array | Uint16Array | Int32Array;

/** One truncated-BPTT chunk, time-major: element t * batchSize + b is time t of stream b. */
export interface Batch {
  inputs: Int32Array;
  targets: Int32Array;
  seqLen: number;
  batchSize: number;
  /** While training: 1 for each stream whose carried state is dropped before this chunk, which then starts from zero state. */
  coldStreams?: Uint8Array;
}

/**
 * char-rnn style batching for truncated BPTT: the text is cut into `batchSize` contiguous streams,
 * and each step takes the next `seqLen` characters of every stream, so the hidden state carried
 * from one step to the next belongs to the text that really precedes it. Targets are the inputs
 * shifted by one character.
 */
export class BatchStreams {
  readonly streamLength: number;
  readonly stepsPerEpoch: number;
  private cursor = 0;

  constructor(
    private readonly ids: CharIds,
    readonly batchSize: number,
    readonly seqLen: number,
  ) {
    ({ streamLength: this.streamLength, stepsPerEpoch: this.stepsPerEpoch } = streamGeometry(ids.length, batchSize, seqLen));
  }

  /** Steps taken in this epoch: where every stream will read next. Saved and restored on resume. */
  get position(): number {
    return this.cursor;
  }

  set position(steps: number) {
    if (!Number.isInteger(steps) || steps < 0 || steps > this.stepsPerEpoch) throw new Error(`stream position ${steps} is out of range`);
    this.cursor = steps;
  }

  /** True when the epoch is used up and the next call to `next()` would start a new one. */
  get epochDone(): boolean {
    return this.cursor >= this.stepsPerEpoch;
  }

  /** Starts again from the beginning of every stream (a new epoch). */
  rewind(): void {
    this.cursor = 0;
  }

  next(): Batch {
    if (this.epochDone) throw new Error('BatchStreams.next() called after the epoch ended; call rewind()');
    const offset = this.cursor * this.seqLen;
    this.cursor++;
    return gather(this.ids, this.batchSize, this.seqLen, (b, t) => b * this.streamLength + offset + t);
  }
}

/** Streams [from, to) of a batch, as a batch of their own (for data-parallel replicas). */
export function streamSlice(batch: Batch, from: number, to: number): Batch {
  const width = to - from;
  const inputs = new Int32Array(batch.seqLen * width);
  const targets = new Int32Array(batch.seqLen * width);
  for (let t = 0; t < batch.seqLen; t++) {
    inputs.set(batch.inputs.subarray(t * batch.batchSize + from, t * batch.batchSize + to), t * width);
    targets.set(batch.targets.subarray(t * batch.batchSize + from, t * batch.batchSize + to), t * width);
  }
  const coldStreams = batch.coldStreams?.slice(from, to);
  return { inputs, targets, seqLen: batch.seqLen, batchSize: width, ...(coldStreams ? { coldStreams } : {}) };
}

/** A validation chunk; `continuesStream` marks the leftover tail that extends one stream of the previous chunks. */
export interface EvaluationChunk extends Batch {
  /** Where in its streams the chunk's first target is. */
  offset: number;
  continuesStream?: number;
}

/**
 * Chunks that score every target of `ids` exactly once with carried state: `batchSize` contiguous
 * streams read `seqLen` characters at a time (the last chunk may be shorter), then the few
 * characters left over after the last stream, which continue that stream as a batch of one.
 */
export function* evaluationChunks(ids: CharIds, batchSize: number, seqLen: number): Generator<EvaluationChunk> {
  const targets = ids.length - 1;
  if (targets < 1) return;
  const streams = Math.min(batchSize, targets);
  const streamLength = Math.floor(targets / streams);
  for (let offset = 0; offset < streamLength; offset += seqLen) {
    const length = Math.min(seqLen, streamLength - offset);
    yield { ...gather(ids, streams, length, (b, t) => b * streamLength + offset + t), offset };
  }
  const leftover = targets - streams * streamLength;
  if (leftover > 0) {
    const start = streams * streamLength;
    yield { ...gather(ids, 1, leftover, (_, t) => start + t), offset: streamLength, continuesStream: streams - 1 };
  }
}

/**
 * `windows` windows of `length` targets, evenly spaced through `ids`, as one chunk whose streams
 * each start at a window: for reading what a model does from zero state, position by position.
 */
export function windowsChunk(ids: CharIds, windows: number, length: number): Batch {
  const count = Math.max(1, Math.min(windows, Math.floor((ids.length - 1) / length)));
  const spacing = Math.floor((ids.length - 1 - length) / Math.max(1, count - 1));
  return gather(ids, count, length, (b, t) => b * spacing + t);
}

function gather(ids: CharIds, batchSize: number, seqLen: number, position: (b: number, t: number) => number): Batch {
  const inputs = new Int32Array(seqLen * batchSize);
  const targets = new Int32Array(seqLen * batchSize);
  for (let t = 0; t < seqLen; t++) {
    for (let b = 0; b < batchSize; b++) {
      const p = position(b, t);
      inputs[t * batchSize + b] = ids[p];
      targets[t * batchSize + b] = ids[p + 1];
    }
  }
  return { inputs, targets, seqLen, batchSize };
}

/**
 * The refusal of a training text too small for the batch: advice that works when some batch can,
 * and when none can, that the text needs more characters.
 */
/**
 * How a text of `length` characters is cut into streams: each stream's length, and the steps of
 * `seqLen` characters an epoch takes. Refuses a text too small for one step.
 */
export function streamGeometry(length: number, batchSize: number, seqLen: number): { streamLength: number; stepsPerEpoch: number } {
  // Each stream needs one character beyond its last input, to serve as that input's target.
  const streamLength = Math.floor((length - 1) / batchSize);
  const stepsPerEpoch = Math.floor(streamLength / seqLen);
  if (stepsPerEpoch < 1) throw tooSmall(length, batchSize, seqLen);
  return { streamLength, stepsPerEpoch };
}

function tooSmall(length: number, batchSize: number, seqLen: number): UserError {
  const characters = `${length.toLocaleString('en-US')} character${length === 1 ? '' : 's'}`;
  if (length < 2) {
    return new UserError(`the training text has ${characters}; a model needs at least 2 (one to read, one to predict): give a longer text`);
  }
  const fitSeqLen = Math.min(seqLen, length - 1);
  const fitBatch = Math.max(1, Math.floor((length - 1) / fitSeqLen));
  return new UserError(
    `the training text (${characters}) is too small for --batch-size ${batchSize} × --seq-len ${seqLen}; ` +
      `it needs at least ${(batchSize * seqLen + 1).toLocaleString('en-US')} characters, or use e.g. --batch-size ${fitBatch} --seq-len ${fitSeqLen}`,
  );
}
