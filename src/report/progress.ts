import { Chalk, chalkStderr, type ChalkInstance } from 'chalk';
import cliProgress from 'cli-progress';
import type { LoadProgress } from '../data/corpus.js';
import type { EvaluationInfo, SampleInfo, StartInfo, StepInfo, TrainEvents } from '../train/events.js';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatLoss(nats: number): string {
  // Bits are nats divided by ln 2.
  return `${nats.toFixed(4)} nats/char (${(nats / Math.LN2).toFixed(3)} bits/char)`;
}

/** Training output on stderr, so stdout stays free for the user. */
export interface Reporter extends TrainEvents {
  info(message: string): void;
  /** A progress callback for loading a corpus: a bar on a terminal for large files, else nothing. */
  loading(): LoadProgress;
  close(): void;
}

/** What one run of an ensemble reports (a member's evaluation carries no loss history). */
export interface RunReporter extends Omit<TrainEvents, 'evaluation'> {
  info(message: string): void;
  evaluation(info: Omit<EvaluationInfo, 'history'>): void;
}

/** Progress in thousandths, so that a run bounded by time and one bounded by steps share one bar. */
const BAR_UNITS = 1000;
/** Files smaller than this load too fast for a bar to be worth drawing. */
const LOADING_BAR_BYTES = 16 << 20;

/** What a run's bar shows besides the bar itself. */
interface BarPayload {
  label: string;
  epoch: number | string;
  steps: string;
  loss: string;
  val: string;
  lr: string;
  speed: string;
  remaining: string;
}

/** A field of the bar line, with and without its colour. */
export interface BarField {
  plain: string;
  colored: string;
}

/** The bar line's fields, most important first. */
function barFields(p: BarPayload, progress: number, options: cliProgress.Options, color: ChalkInstance): BarField[] {
  const field = (plain: string, colored = plain): BarField => ({ plain, colored });
  const bar = cliProgress.Format.BarFormat(progress, options);
  const percentage = `${Math.floor(progress * 100)}%`;
  return [
    field(`${p.label}${bar} ${percentage}`, `${p.label}${color.cyan(bar)} ${percentage}`),
    field(`ETA ${p.remaining}`),
    field(`step ${p.steps}`),
    field(`loss ${p.loss}`, `loss ${color.bold(p.loss)}`),
    field(`val ${p.val}`, `val ${color.green(p.val)}`),
    field(`${p.speed} chars/s`),
    field(`lr ${p.lr}`),
    field(`epoch ${p.epoch}`),
  ];
}

/**
 * As many whole fields as fit in `columns` (one column spare, so the terminal never wraps),
 * separated by ' | ': a narrow terminal loses the least important fields, never half a number.
 * The bar library cuts a line by its length in bytes, colour codes included, so the fields are
 * coloured, most important first, only as far as their codes fit too.
 */
export function barLine(fields: BarField[], columns: number): string {
  const limit = Math.max(1, columns - 1);
  const length = (parts: string[]): number => parts.join(' | ').length;
  const kept: string[] = [];
  for (const field of fields) {
    if ([...[...kept, field.plain].join(' | ')].length > limit) break;
    kept.push(field.plain);
  }
  if (kept.length === 0) return [...fields[0].plain].slice(0, limit).join('');
  for (let i = 0; i < kept.length; i++) {
    const colored = [...kept.slice(0, i), fields[i].colored, ...kept.slice(i + 1)];
    if (length(colored) <= limit) kept[i] = fields[i].colored;
  }
  return kept.join(' | ');
}

/** The terminal (or log) that one or more runs report to: one set of bars, lines logged above them. */
interface Display {
  stream: NodeJS.WriteStream;
  interactive: boolean;
  color: ChalkInstance;
  write(line: string): void;
  /** The bars, created with the first one. */
  bars(): cliProgress.MultiBar;
  close(): void;
}

/**
 * A progress bar on an interactive terminal; elsewhere (CI logs, files) or with NO_COLOR set, plain
 * lines without escape codes.
 */
function createDisplay(stream: NodeJS.WriteStream): Display {
  const interactive = Boolean(stream.isTTY) && process.env.NO_COLOR === undefined;
  const color: ChalkInstance = new Chalk({ level: interactive ? (Math.max(1, chalkStderr.level) as 1 | 2 | 3) : 0 });
  let multi: cliProgress.MultiBar | undefined;
  return {
    stream,
    interactive,
    color,
    write(line) {
      // cli-progress clears only the first bar's line before logging, so a line logged over a
      // second bar would keep that bar's tail: each line erases its own first.
      if (multi) multi.log(`\x1b[2K${line}\n`);
      else stream.write(`${line}\n`);
    },
    bars() {
      multi ??= new cliProgress.MultiBar(
        {
          stream,
          format: (options: cliProgress.Options, params: { progress: number }, payload: BarPayload) =>
            barLine(barFields(payload, params.progress, options, color), stream.columns ?? 80),
          barsize: 20,
          hideCursor: true,
          clearOnComplete: false,
          // A bar is otherwise redrawn only when its text changes, so a finished member's bar
          // would vanish under the lines logged above the bars.
          forceRedraw: true,
          // Bars are cut to the terminal's width; logged lines wrap, rather than lose their ends.
          linewrap: true,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      return multi;
    },
    close() {
      // Lines logged since the last redraw go out with one last one; stop() alone would drop them.
      multi?.update();
      multi?.stop();
      multi = undefined;
    },
  };
}

/** What both forms of a run's report keep: where its lines go, and how far this session has come. */
class RunLog {
  private startedAt = 0;
  private startProgress = 0;
  /** The last validation loss, NaN before the first. */
  validation = Number.NaN;

  constructor(
    private readonly display: Display,
    private readonly prefix: string,
  ) {}

  get color(): ChalkInstance {
    return this.display.color;
  }

  write(line: string): void {
    this.display.write(`${this.prefix}${line}`);
  }

  start(info: StartInfo): void {
    this.startedAt = performance.now();
    this.startProgress = info.progress;
    this.validation = info.lastValidationLoss ?? Number.NaN;
  }

  /** Seconds left, from the rate at which this session has moved the run's progress. */
  eta(info: StepInfo): number {
    const elapsed = (performance.now() - this.startedAt) / 1000;
    return (elapsed / (info.progress - this.startProgress)) * (1 - info.progress);
  }

  validationText(): string {
    return Number.isNaN(this.validation) ? '-' : this.validation.toFixed(4);
  }

  /** The lines both forms write alike: messages, evaluations, checkpoints and samples. */
  events(): Omit<RunReporter, 'start' | 'step'> {
    return {
      info: (message) => this.write(message),
      warn: (message) => this.write(this.color.yellow(`warning: ${message}`)),
      evaluation: (info) => {
        this.validation = info.validationLoss;
        const best = info.isBest ? this.color.green(' (best so far)') : '';
        this.write(`step ${info.step}: validation loss ${formatLoss(info.validationLoss)}${best} [${info.seconds.toFixed(1)}s]`);
      },
      checkpoint: (dir, reason) => {
        if (reason !== 'eval') this.write(`checkpoint saved: ${dir}`);
      },
      sample: ({ step, seed, text }: SampleInfo) => {
        this.write(this.color.dim(`sample at step ${step} (seed ${seed}):`));
        for (const line of text.replace(/^\n/, '').split('\n')) this.write(`  ${line}`);
      },
    };
  }
}

const stepText = (info: StepInfo): string => (info.totalSteps === undefined ? `${info.step}` : `${info.step}/${info.totalSteps}`);

/** A run's progress bar on a terminal, with its lines above the bars. */
function barReporter(display: Display, label: string): RunReporter {
  const log = new RunLog(display, label === '' ? '' : `${label}: `);
  const events = log.events();
  let bar: cliProgress.SingleBar | undefined;
  return {
    ...events,
    start(info) {
      log.start(info);
      const idle = { epoch: 1, steps: '-', loss: '-', lr: '-', speed: '-', remaining: '-' };
      bar = display
        .bars()
        .create(BAR_UNITS, Math.round(info.progress * BAR_UNITS), { label: label === '' ? '' : `${label} `, ...idle, val: log.validationText() });
    },
    step(info) {
      bar?.update(Math.round(info.progress * BAR_UNITS), {
        epoch: info.epoch,
        steps: stepText(info),
        loss: info.trainLoss.toFixed(4),
        val: log.validationText(),
        lr: info.learningRate.toExponential(1),
        speed: Math.round(info.charsPerSecond).toLocaleString('en-US'),
        remaining: formatDuration(log.eta(info)),
      });
    },
    evaluation(info) {
      events.evaluation(info);
      bar?.update({ val: log.validationText() });
    },
  };
}

/** A run's progress off a terminal: a plain line every `intervalSeconds`, at the end, and one per evaluation. */
function plainReporter(display: Display, intervalSeconds: number, label: string): RunReporter {
  const log = new RunLog(display, label === '' ? '' : `${label}: `);
  let lastLine = 0;
  return {
    ...log.events(),
    start: (info) => log.start(info),
    step(info) {
      const now = performance.now();
      if (lastLine !== 0 && now - lastLine < intervalSeconds * 1000 && info.progress < 1) return;
      lastLine = now;
      log.write(
        `step ${stepText(info)} epoch ${info.epoch} train loss ${info.trainLoss.toFixed(4)} val loss ${log.validationText()} ` +
          `lr ${info.learningRate.toExponential(2)} ${Math.round(info.charsPerSecond)} chars/s ETA ${formatDuration(log.eta(info))}`,
      );
    },
  };
}

/** One run's report, in the form its display takes; `label` names the run when several share the display. */
function runReporter(display: Display, plainIntervalSeconds: number, label = ''): RunReporter {
  return display.interactive ? barReporter(display, label) : plainReporter(display, plainIntervalSeconds, label);
}

/** The reporter of one training run (or of rnn-eval's corpus loading). */
export function createReporter(stream: NodeJS.WriteStream = process.stderr, plainIntervalSeconds = 10): Reporter {
  const display = createDisplay(stream);
  const { color } = display;
  return {
    ...runReporter(display, plainIntervalSeconds),
    loading() {
      let loadBar: cliProgress.SingleBar | undefined;
      return (done, total, pass) => {
        if (!display.interactive || total < LOADING_BAR_BYTES) return;
        if (!loadBar) {
          loadBar = new cliProgress.SingleBar(
            { stream, format: `loading corpus ${color.cyan('{bar}')} {percentage}% | pass {pass} of 2`, barsize: 24, hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          loadBar.start(2 * total, 0, { pass });
        }
        loadBar.update((pass - 1) * total + done, { pass });
        if (pass === 2 && done === total) loadBar.stop();
      };
    },
    close: () => display.close(),
  };
}

/** What an ensemble's trainer reports to: lines of its own, and a reporter per member. */
export interface EnsembleReporter {
  info(message: string): void;
  warn(message: string): void;
  members: RunReporter[];
  close(): void;
}

/** Reporters for the members of an ensemble trained side by side: a bar (or labelled lines) each. */
export function createEnsembleReporter(labels: string[], stream: NodeJS.WriteStream = process.stderr, plainIntervalSeconds = 10): EnsembleReporter {
  const display = createDisplay(stream);
  const { info, warn } = runReporter(display, plainIntervalSeconds);
  return {
    info,
    warn,
    members: labels.map((label) => runReporter(display, plainIntervalSeconds, label)),
    close: () => display.close(),
  };
}
