import type { LossHistory } from './config.js';

/** What the training loop reports, to the progress bar, metrics.jsonl and TensorBoard alike. */

export interface StartInfo {
  parameters: number;
  stepsPerEpoch: number;
  charsPerStep: number;
  /** Steps already taken (non-zero on resume). */
  startStep: number;
  /** Where the run ends in steps; undefined when only a time budget ends it. */
  totalSteps?: number;
  /** Fraction of the run already done. */
  progress: number;
  /** The last validation loss of the run so far (on resume), if it has one. */
  lastValidationLoss?: number;
}

export interface StepInfo {
  step: number;
  totalSteps?: number;
  progress: number;
  epoch: number;
  trainLoss: number;
  /** Global L2 norm of the gradients before clipping. */
  gradientNorm: number;
  learningRate: number;
  charsPerSecond: number;
}

export interface EvaluationInfo {
  step: number;
  validationLoss: number;
  isBest: boolean;
  /** How long the evaluation took. */
  seconds: number;
  /** Training time of the run so far, what --time-budget counts. */
  trainingSeconds: number;
  /** Every loss of the run so far, for plots. */
  history: LossHistory;
}

/** A passage the model wrote during training, to show how it is doing. */
export interface SampleInfo {
  step: number;
  /** The sampler's seed: `rnn-sample --seed` with it, on this step's checkpoint, writes the same. */
  seed: number;
  /** The prime, then the generated text. */
  text: string;
}

export interface TrainEvents {
  start(info: StartInfo): void;
  step(info: StepInfo): void;
  evaluation(info: EvaluationInfo): void;
  sample(info: SampleInfo): void;
  checkpoint(dir: string, reason: 'eval' | 'final' | 'interrupt'): void;
  warn(message: string): void;
}

export interface TrainSummary {
  steps: number;
  epochs: number;
  finalTrainLoss: number;
  bestValidationLoss: number | null;
  history: LossHistory;
  trainingSeconds: number;
  latest: string;
  interrupted: boolean;
}

/** Several listeners as one: each event goes to every part that listens for it, in order. */
export function combineEvents(...parts: Partial<TrainEvents>[]): TrainEvents {
  return {
    start: (info) => parts.forEach((part) => part.start?.(info)),
    step: (info) => parts.forEach((part) => part.step?.(info)),
    evaluation: (info) => parts.forEach((part) => part.evaluation?.(info)),
    sample: (info) => parts.forEach((part) => part.sample?.(info)),
    checkpoint: (dir, reason) => parts.forEach((part) => part.checkpoint?.(dir, reason)),
    warn: (message) => parts.forEach((part) => part.warn?.(message)),
  };
}

/** Lets the caller ask for a clean stop (e.g. on Ctrl-C); checked between steps. */
export interface StopSignal {
  requested: boolean;
}
