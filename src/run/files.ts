/**
 * Every name rnn-train gives to what it writes on disk, and the format tags inside its JSON files:
 * the one place to look them up (docs/checkpoint-format.md describes each).
 */

/** The files of one checkpoint directory. */
export const CHECKPOINT_FILES = {
  /** Configs, progress and the tensors' offsets. */
  meta: 'checkpoint.json',
  /** The model's weights, float32, in the tf.layers order; shared with model.json. */
  weights: 'weights.bin',
  /** Optimizer slots, carried hidden state and (with --ema) the optimizer's own weights. */
  state: 'training-state.bin',
  /** Written last, in `sha256sum -c` format: a checkpoint without it is never loaded. */
  sums: 'SHA256SUMS',
  /** For stock tf.loadLayersModel. */
  layersModel: 'model.json',
  vocabulary: 'vocabulary.json',
} as const;

/** The entries of a run directory (rnn-train --out). */
export const RUN_FILES = {
  checkpoints: 'checkpoints',
  latest: 'latest',
  best: 'best',
  lock: 'lock',
  metrics: 'metrics.jsonl',
  lossPlot: 'loss.svg',
} as const;

/** The static site rnn-web writes (besides its page's scripts and TensorFlow.js). */
export const SITE_FILES = {
  page: 'index.html',
  /** What the page reads first: the models, their cards and the vocabulary (web/page/site-data.ts). */
  data: 'site.json',
  /** One folder per model, numbered from 1, each with model.json, weights.bin and loss.svg. */
  models: 'models',
} as const;

export const SITE_FORMAT = 'rnn-web-site';
export const SITE_VERSION = 1;

/** An ensemble's run directory holds this manifest and one run directory per member. */
export const ENSEMBLE_FILE = 'ensemble.json';

export const CHECKPOINT_FORMAT = 'rnn-train-checkpoint';
export const CHECKPOINT_VERSION = 2;
export const ENSEMBLE_FORMAT = 'rnn-train-ensemble';
/** rnn-eval --activations' JSON. */
export const ACTIVATIONS_FORMAT = 'rnn-train-activations';

/** A checkpoint's directory name inside checkpoints/. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(7, '0')}`;
}

/** The run directories of an ensemble's members, inside its own. */
export function memberNames(count: number): string[] {
  return Array.from({ length: count }, (_, k) => `member-${k + 1}`);
}
