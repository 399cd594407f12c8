import { CELL_TYPES, MATMUL_PRECISIONS, type CellType, type MatmulPrecision } from '../model/cells/cell.js';
import { BACKENDS, type BackendChoice } from '../native/backend.js';
import type { NanPolicy } from '../train/config.js';
import { OPTIMIZERS, type OptimizerName } from '../train/optimizer.js';
import { SCHEDULES, type ScheduleName } from '../train/schedule.js';
import { duration, integerAtLeast, numberInRange } from '../util/parse.js';

/**
 * rnn-train's flags, each declared once: its name, parser, default, where its value lives in the
 * run's config (and so in checkpoint.json), and whether a resume may change it. The command's
 * options, the flags a resume refuses to change, the run's configs, the defaults of checkpoints
 * written before a setting existed, and the docs test are all derived from TRAIN_SETTINGS.
 */

/**
 * Named bundles of settings, sized by char-rnn's rule of thumb (parameters of the order of the
 * corpus's characters): `tiny` (0.87 M parameters) suits about 1 MB of text or a 10-minute run,
 * `small` (3.3 M) about 5 MB, `medium` (12 M) about 20 MB and `large` (22 M) about 100 MB. The
 * more text per parameter, the less dropout is needed. `ensemble` trains two 2×768 models side by
 * side, one core each, which predict together: on ~1 MB of text and a 2-core machine, the best an
 * hour buys (docs/ensembles.md). `tiny` is also the defaults. Flags given explicitly override a
 * preset's.
 */
export const PRESETS = {
  tiny: { layers: 2, hidden: 256, embedding: 64, dropout: 0.3, seqLen: 64, batchSize: 48, lr: 3e-3 },
  small: { layers: 2, hidden: 512, embedding: 64, dropout: 0.25, seqLen: 100, batchSize: 32, lr: 2e-3 },
  medium: { layers: 3, hidden: 768, embedding: 128, dropout: 0.2, seqLen: 128, batchSize: 32, lr: 1.5e-3 },
  large: { layers: 3, hidden: 1024, embedding: 128, dropout: 0.1, seqLen: 128, batchSize: 32, lr: 1e-3 },
  ensemble: { layers: 2, hidden: 768, embedding: 64, dropout: 0.4, seqLen: 100, batchSize: 32, lr: 2e-3, ema: 0.999, members: 2 },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** Passes over the text when no --epochs, --steps or --time-budget is given. */
export const DEFAULT_EPOCHS = 10;

/** rnn-train's parsed flags, by commander's attribute names. */
export interface TrainFlags {
  out?: string;
  resume?: string;
  preset?: PresetName;
  cell: CellType;
  layers: number;
  hidden: number;
  embedding: number;
  dropout: number;
  weightDrop: number;
  inputDropout: number;
  seqLen: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  schedule: ScheduleName;
  warmup: number;
  lrDecay: number;
  lrDecayAfter: number;
  clip: number;
  weightDecay: number;
  stateReset: number;
  ema: number;
  replicas?: number;
  precision: MatmulPrecision;
  members: number;
  epochs?: number;
  steps?: number;
  timeBudget?: number;
  evalEvery: number;
  valFrac: number;
  seed?: number;
  onNan: NanPolicy;
  tensorboard?: string;
  sampleEvery?: number;
  sampleLength: number;
  samplePrime: string;
  backend: BackendChoice;
}

/** Where a setting's value lives in a run's config, as checkpoint.json stores it. */
export type ConfigPath =
  | `model.${'cell' | 'layers' | 'hiddenSize' | 'embeddingSize' | 'dropout' | 'inputDropout' | 'weightDrop'}`
  | `training.${'seqLen' | 'batchSize' | 'optimizer' | 'learningRate' | 'clip' | 'weightDecay' | 'stateReset' | 'emaDecay' | 'replicas' | 'precision' | 'validationFraction' | 'seed'}`
  | `training.schedule.${'name' | 'warmupSteps' | 'decayRate' | 'decayAfter'}`
  | `options.${'evalEvery' | 'onNan' | 'epochs' | 'steps' | 'timeBudgetSeconds'}`;

export interface Setting<K extends keyof TrainFlags = keyof TrainFlags> {
  key: K;
  /** As commander takes it: `-o, --out <dir>`. */
  flags: string;
  description: string;
  parse?: (value: string) => TrainFlags[K];
  choices?: readonly string[];
  /** The default where the `tiny` preset does not give one. */
  default?: TrainFlags[K];
  /** Where the value goes in the run's config; absent for flags that only steer the command. */
  at?: ConfigPath;
  /**
   * On --resume: `fixed` settings define the run, so they may be repeated but not changed;
   * `changeable` ones may change; `own-rule` ones have a rule of their own (--out must name the
   * run, --preset's values count as given, --members is refused).
   */
  resume: 'fixed' | 'changeable' | 'own-rule';
}

function setting<K extends keyof TrainFlags>(declaration: Setting<K>): Setting {
  return declaration as unknown as Setting;
}

const rate = numberInRange(0, 1, { maximumExclusive: true });
const positive = numberInRange(0, Infinity, { minimumExclusive: true });

export const TRAIN_SETTINGS: readonly Setting[] = [
  setting({ key: 'out', flags: '-o, --out <dir>', description: 'run directory for checkpoints (default: runs/<corpus name>)', resume: 'own-rule' }),
  setting({
    key: 'resume',
    flags: '--resume <dir>',
    description: 'continue the run in this directory exactly where its latest checkpoint left it',
    resume: 'own-rule',
  }),
  setting({
    key: 'preset',
    flags: '--preset <name>',
    description:
      'bundled sizes: tiny = the defaults (for ~1 MB of text), small = 2×512 (~5 MB), medium = 3×768 (~20 MB), large = 3×1024 (~100 MB), ensemble = two 2×768 trained side by side (~1 MB, an hour); explicit flags win',
    choices: PRESET_NAMES,
    resume: 'own-rule',
  }),
  setting({
    key: 'cell',
    flags: '--cell <type>',
    description: 'recurrent cell: lstm, gru, or rnn (vanilla tanh)',
    choices: CELL_TYPES,
    default: 'lstm',
    at: 'model.cell',
    resume: 'fixed',
  }),
  setting({
    key: 'layers',
    flags: '--layers <n>',
    description: 'number of stacked recurrent layers',
    parse: integerAtLeast(1),
    at: 'model.layers',
    resume: 'fixed',
  }),
  setting({
    key: 'hidden',
    flags: '--hidden <n>',
    description: 'units per recurrent layer',
    parse: integerAtLeast(1),
    at: 'model.hiddenSize',
    resume: 'fixed',
  }),
  setting({
    key: 'embedding',
    flags: '--embedding <n>',
    description: 'size of the character embedding',
    parse: integerAtLeast(1),
    at: 'model.embeddingSize',
    resume: 'fixed',
  }),
  setting({
    key: 'dropout',
    flags: '--dropout <rate>',
    description: "dropout on each recurrent layer's output while training",
    parse: rate,
    at: 'model.dropout',
    resume: 'fixed',
  }),
  setting({
    key: 'inputDropout',
    flags: '--input-dropout <rate>',
    description: 'dropout on the character embeddings that feed the first layer while training',
    parse: rate,
    default: 0,
    at: 'model.inputDropout',
    resume: 'fixed',
  }),
  setting({
    key: 'weightDrop',
    flags: '--weight-drop <rate>',
    description: "DropConnect on the recurrent weights while training (AWD-LSTM's weight drop), e.g. 0.2",
    parse: rate,
    default: 0,
    at: 'model.weightDrop',
    resume: 'fixed',
  }),
  setting({
    key: 'seqLen',
    flags: '--seq-len <n>',
    description: 'characters per stream per step (truncated-BPTT length)',
    parse: integerAtLeast(1),
    at: 'training.seqLen',
    resume: 'fixed',
  }),
  setting({
    key: 'batchSize',
    flags: '--batch-size <n>',
    description: 'number of contiguous streams trained in parallel',
    parse: integerAtLeast(1),
    at: 'training.batchSize',
    resume: 'fixed',
  }),
  setting({
    key: 'optimizer',
    flags: '--optimizer <name>',
    description: 'optimizer',
    choices: OPTIMIZERS,
    default: 'adam',
    at: 'training.optimizer',
    resume: 'fixed',
  }),
  setting({ key: 'lr', flags: '--lr <rate>', description: 'base learning rate', parse: positive, at: 'training.learningRate', resume: 'fixed' }),
  setting({
    key: 'schedule',
    flags: '--schedule <name>',
    description: 'learning-rate schedule',
    choices: SCHEDULES,
    default: 'cosine',
    at: 'training.schedule.name',
    resume: 'fixed',
  }),
  setting({
    key: 'warmup',
    flags: '--warmup <steps>',
    description: 'steps of linear learning-rate warm-up',
    parse: integerAtLeast(0),
    default: 0,
    at: 'training.schedule.warmupSteps',
    resume: 'fixed',
  }),
  setting({
    key: 'lrDecay',
    flags: '--lr-decay <factor>',
    description: 'with --schedule decay: multiply the rate by this every epoch',
    parse: numberInRange(0, 1, { minimumExclusive: true }),
    default: 0.97,
    at: 'training.schedule.decayRate',
    resume: 'fixed',
  }),
  setting({
    key: 'lrDecayAfter',
    flags: '--lr-decay-after <epochs>',
    description: 'with --schedule decay: start decaying after this many epochs',
    parse: integerAtLeast(0),
    default: 10,
    at: 'training.schedule.decayAfter',
    resume: 'fixed',
  }),
  setting({
    key: 'clip',
    flags: '--clip <norm>',
    description: 'clip gradients to this global L2 norm',
    parse: positive,
    default: 5,
    at: 'training.clip',
    resume: 'fixed',
  }),
  setting({
    key: 'weightDecay',
    flags: '--weight-decay <rate>',
    description: 'decoupled weight decay (AdamW) of the weight matrices, e.g. 0.1',
    parse: numberInRange(0, Infinity),
    default: 0,
    at: 'training.weightDecay',
    resume: 'fixed',
  }),
  setting({
    key: 'stateReset',
    flags: '--state-reset <rate>',
    description:
      'each step, the share of streams whose carried state is dropped, so the model also learns to start from zero state, as sampling and scoring do',
    parse: rate,
    default: 0.125,
    at: 'training.stateReset',
    resume: 'fixed',
  }),
  setting({
    key: 'ema',
    flags: '--ema <decay>',
    description: 'validate, save and sample an exponential moving average of the weights with this decay, e.g. 0.999',
    parse: rate,
    default: 0,
    at: 'training.emaDecay',
    resume: 'fixed',
  }),
  setting({
    key: 'replicas',
    flags: '--replicas <n>',
    description:
      'threads that train the streams in parallel, each with a copy of the model (data parallelism; default: 2 for small models on the tensorflow backend and 2+ cores, else 1)',
    parse: integerAtLeast(1),
    at: 'training.replicas',
    resume: 'fixed',
  }),
  setting({
    key: 'precision',
    flags: '--precision <type>',
    description:
      "operands of the LSTM's matrix products in training: float32, or bfloat16 with float32 accumulation (mixed precision: tensorflow backend only, faster on CPUs with AVX512-BF16 or AMX)",
    choices: MATMUL_PRECISIONS,
    default: 'float32',
    at: 'training.precision',
    resume: 'fixed',
  }),
  setting({
    key: 'members',
    flags: '--members <n>',
    description:
      'train an ensemble of n models side by side, each with its own seed and share of the cores, in <out>/member-1 …; rnn-sample and rnn-eval then predict with their mean',
    parse: integerAtLeast(1),
    default: 1,
    resume: 'own-rule',
  }),
  setting({
    key: 'epochs',
    flags: '--epochs <n>',
    description: `passes over the training text (default ${DEFAULT_EPOCHS}, unless --steps or --time-budget is given)`,
    parse: integerAtLeast(1),
    at: 'options.epochs',
    resume: 'changeable',
  }),
  setting({
    key: 'steps',
    flags: '--steps <n>',
    description: 'stop after this many steps',
    parse: integerAtLeast(1),
    at: 'options.steps',
    resume: 'changeable',
  }),
  setting({
    key: 'timeBudget',
    flags: '--time-budget <duration>',
    description: 'stop after this much training time, e.g. 10m or 1h30m; keeps the best checkpoint',
    parse: duration,
    at: 'options.timeBudgetSeconds',
    resume: 'changeable',
  }),
  setting({
    key: 'evalEvery',
    flags: '--eval-every <n>',
    description: 'validate and checkpoint every n steps (and at the end)',
    parse: integerAtLeast(1),
    default: 500,
    at: 'options.evalEvery',
    resume: 'changeable',
  }),
  setting({
    key: 'valFrac',
    flags: '--val-frac <fraction>',
    description: 'fraction of the text, at its end, held out for validation',
    parse: numberInRange(0, 0.5),
    default: 0.1,
    at: 'training.validationFraction',
    resume: 'fixed',
  }),
  setting({
    key: 'seed',
    flags: '--seed <n>',
    description: 'random seed, for a reproducible run (default: random, printed)',
    parse: integerAtLeast(0),
    at: 'training.seed',
    resume: 'fixed',
  }),
  setting({
    key: 'onNan',
    flags: '--on-nan <policy>',
    description: 'when the loss is NaN or infinite: stop, or roll back to the last checkpoint with half the learning rate',
    choices: ['stop', 'rollback'],
    default: 'stop',
    at: 'options.onNan',
    resume: 'changeable',
  }),
  setting({
    key: 'tensorboard',
    flags: '--tensorboard <dir>',
    description: 'also write TensorBoard scalars (losses, learning rate, gradient norm, chars/s), and the samples as text, to this directory',
    resume: 'changeable',
  }),
  setting({
    key: 'sampleEvery',
    flags: '--sample-every <steps>',
    description: 'print a short sample every n steps, above the progress bar, and log it (default: at every evaluation on a terminal, else none; 0: none)',
    parse: integerAtLeast(0),
    resume: 'changeable',
  }),
  setting({
    key: 'sampleLength',
    flags: '--sample-length <n>',
    description: 'characters in each sample',
    parse: integerAtLeast(1),
    default: 200,
    resume: 'changeable',
  }),
  setting({
    key: 'samplePrime',
    flags: '--sample-prime <text>',
    description: 'text each sample starts from (default: as if after a newline)',
    default: '',
    resume: 'changeable',
  }),
  setting({ key: 'backend', flags: '--backend <name>', description: 'compute backend', choices: BACKENDS, default: 'auto', resume: 'changeable' }),
];

/** A setting's default: its own, else the `tiny` preset's. */
export function defaultOf(setting: Setting): TrainFlags[keyof TrainFlags] | undefined {
  const tiny: Partial<Record<keyof TrainFlags, TrainFlags[keyof TrainFlags]>> = PRESETS.tiny;
  return setting.default ?? tiny[setting.key];
}

/** The long flag, `--hidden`, as messages and the docs name it. */
export function longFlag(setting: Setting): string {
  return /--[\w-]+/.exec(setting.flags)![0];
}

/** The settings that define a run: on --resume they may be repeated but not changed. */
export const FIXED_SETTINGS = TRAIN_SETTINGS.filter((s): s is Setting & { at: ConfigPath } => s.resume === 'fixed' && s.at !== undefined);

type Tree = { [key: string]: unknown };

/** The value at `at` in a config or checkpoint (`model.hiddenSize` → config.model.hiddenSize). */
export function valueAt(source: object, at: ConfigPath): unknown {
  return at.split('.').reduce<unknown>((node, key) => (node as Tree | undefined)?.[key], source);
}

function setAt(target: Tree, at: ConfigPath, value: unknown): void {
  const keys = at.split('.');
  const parent = keys.slice(0, -1).reduce<Tree>((node, key) => (node[key] ??= {}) as Tree, target);
  parent[keys.at(-1)!] = value;
}

/** The values of the settings that go under `section` of the run's config ('model' or 'training'), from the flags. */
export function configSection(flags: TrainFlags, section: 'model' | 'training'): Tree {
  const tree: Tree = {};
  for (const s of TRAIN_SETTINGS) {
    const value = flags[s.key];
    if (s.at?.startsWith(`${section}.`) && value !== undefined) setAt(tree, s.at, value);
  }
  return (tree[section] ?? {}) as Tree;
}
