import type { MatmulPrecision } from '../model/cells/cell.js';
import type { ModelConfig, NamedArrays } from '../model/config.js';
import type { OptimizerName } from './optimizer.js';
import type { Schedule } from './schedule.js';

/** How a run trains; fixed for its whole life, so a resume must not contradict it. */
export interface TrainingConfig {
  /** Absolute path of the corpus, and its checksum, so that a resume reads the same text. */
  corpus: string;
  corpusSha256: string;
  seqLen: number;
  batchSize: number;
  optimizer: OptimizerName;
  learningRate: number;
  schedule: Schedule;
  clip: number;
  /** Decoupled weight decay; 0 for none (and in checkpoints written before it existed). */
  weightDecay: number;
  /**
   * Each step, the chance that a stream's carried state is dropped before its chunk, so that the
   * model also learns zero-state starts (0 for none, and in checkpoints written before it existed).
   */
  stateReset: number;
  /**
   * Decay of the moving average of the weights that is validated and saved (--ema); 0 for none
   * (and in checkpoints written before it existed).
   */
  emaDecay: number;
  /**
   * Threads that train the batch's streams in parallel, each with a copy of the model (1 for this
   * thread alone, and in checkpoints written before data parallelism existed).
   */
  replicas: number;
  /** Of training's LSTM matmuls (float32 in checkpoints written before it existed). */
  precision: MatmulPrecision;
  validationFraction: number;
  seed: number;
}

export type NanPolicy = 'stop' | 'rollback';

/** When and how a run stops and reports; these may change when it is resumed. */
export interface RunOptions {
  evalEvery: number;
  epochs?: number;
  steps?: number;
  timeBudgetSeconds?: number;
  onNan: NanPolicy;
  backend: string;
}

export interface LossHistory {
  /** [step, train loss in nats/char] */
  train: [number, number][];
  /** [step, validation loss in nats/char] */
  validation: [number, number][];
}

/** Where a run stands: with the training-state tensors, everything an exact resume needs. */
export interface TrainingProgress {
  step: number;
  epoch: number;
  /** Steps already taken in the current epoch: the read position of every stream. */
  streamPosition: number;
  /** Seconds spent in training steps (not evaluation or checkpointing): what --time-budget counts. */
  trainingSeconds: number;
  /** State of the random generator that draws dropout masks. */
  rngState: number;
  /** Steps the optimizer has taken (Adam's bias correction depends on it). */
  optimizerStep: number;
  /** Multiplies the scheduled learning rate; halved by every --on-nan rollback. */
  learningRateScale: number;
  bestValidationLoss: number | null;
  history: LossHistory;
}

/** Everything a run needs to go on from where it is: what run/checkpoint.ts saves as a checkpoint. */
export interface TrainingSnapshot {
  model: ModelConfig;
  training: TrainingConfig;
  options: RunOptions;
  vocabulary: string[];
  progress: TrainingProgress;
  weights: NamedArrays;
  /** Optimizer slots and the carried hidden state, named as the optimizer and trainer name them. */
  trainingState: NamedArrays;
}

/**
 * Where checkpoints go and come from, as the training loop sees it (run/run-directory.ts is the
 * one on disk).
 */
export interface CheckpointStore {
  /** Saves a checkpoint, marks it the latest (and the best if asked) and returns where it is. */
  save(snapshot: TrainingSnapshot, isBest: boolean): string;
  /** Where the latest checkpoint is, whether or not there is one yet. */
  readonly latest: string;
  hasLatest(): boolean;
  readLatest(): TrainingSnapshot;
}
