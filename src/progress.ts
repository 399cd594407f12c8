import { Chalk, chalkStderr, type ChalkInstance } from 'chalk';
import cliProgress from 'cli-progress';
import type { EvaluationInfo, StartInfo, StepInfo, TrainEvents } from './trainer.js';

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
  warn(message: string): void;
  close(): void;
}

/**
 * A progress bar on an interactive terminal; elsewhere (CI logs, files) or with NO_COLOR set, plain
 * lines without escape codes: one every `plainIntervalSeconds` and one per evaluation.
 */
export function createReporter(stream: NodeJS.WriteStream = process.stderr, plainIntervalSeconds = 10): Reporter {
  const interactive = Boolean(stream.isTTY) && process.env.NO_COLOR === undefined;
  const color: ChalkInstance = new Chalk({ level: interactive ? Math.max(1, chalkStderr.level) as 1 | 2 | 3 : 0 });
  let bar: cliProgress.SingleBar | undefined;
  let multi: cliProgress.MultiBar | undefined;
  let total = 0;
  let startedAt = 0;
  let lastPlain = 0;
  let lastValidation = Number.NaN;

  const write = (line: string): void => {
    if (multi) multi.log(`${line}\n`);
    else stream.write(`${line}\n`);
  };

  const plainLine = (info: StepInfo): string => {
    const elapsed = (performance.now() - startedAt) / 1000;
    const eta = (elapsed / info.step) * (info.totalSteps - info.step);
    const validation = Number.isNaN(lastValidation) ? '-' : lastValidation.toFixed(4);
    return (
      `step ${info.step}/${info.totalSteps} epoch ${info.epoch} train loss ${info.trainLoss.toFixed(4)} ` +
      `val loss ${validation} ${Math.round(info.charsPerSecond)} chars/s ETA ${formatDuration(eta)}`
    );
  };

  return {
    info: (message) => write(message),
    warn: (message) => write(color.yellow(`warning: ${message}`)),
    start(info: StartInfo) {
      total = info.totalSteps;
      startedAt = performance.now();
      if (!interactive) return;
      multi = new cliProgress.MultiBar(
        {
          stream,
          format:
            `${color.cyan('{bar}')} {percentage}% | epoch {epoch} | step {value}/{total} | ` +
            `loss ${color.bold('{loss}')} | val ${color.green('{val}')} | {speed} chars/s | ETA {eta_formatted}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50,
          fps: 5,
        },
        cliProgress.Presets.shades_classic,
      );
      bar = multi.create(total, 0, { epoch: 1, loss: '-', val: '-', speed: '-' });
    },
    step(info: StepInfo) {
      if (bar) {
        bar.update(info.step, {
          epoch: info.epoch,
          loss: info.trainLoss.toFixed(4),
          val: Number.isNaN(lastValidation) ? '-' : lastValidation.toFixed(4),
          speed: Math.round(info.charsPerSecond).toLocaleString('en-US'),
        });
        return;
      }
      const now = performance.now();
      if (info.step === 1 || now - lastPlain >= plainIntervalSeconds * 1000 || info.step === total) {
        lastPlain = now;
        write(plainLine(info));
      }
    },
    evaluation(info: EvaluationInfo) {
      lastValidation = info.validationLoss;
      bar?.update({ val: info.validationLoss.toFixed(4) });
      const best = info.isBest ? color.green(' (best so far)') : '';
      write(`step ${info.step}: validation loss ${formatLoss(info.validationLoss)}${best} [${info.seconds.toFixed(1)}s]`);
    },
    checkpoint(dir: string, reason) {
      if (reason !== 'eval') write(`checkpoint saved: ${dir}`);
    },
    close() {
      multi?.stop();
      multi = undefined;
      bar = undefined;
    },
  };
}
