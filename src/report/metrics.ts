import fs from 'node:fs';
import path from 'node:path';
import { RUN_FILES } from '../run/files.js';
import { lossChart } from './plot.js';
import type { TrainEvents } from '../train/events.js';

const { metrics: METRICS_FILE, lossPlot: LOSS_PLOT_FILE } = RUN_FILES;

/**
 * The run's log on disk: `metrics.jsonl`, one JSON object per event (appended to, across
 * resumes), and `loss.svg`, redrawn at every evaluation. Losing them must never stop training, so
 * a failed write warns once and logging stops.
 */
export function metricsEvents(runDir: string, warn: (message: string) => void): Partial<TrainEvents> {
  const file = path.join(runDir, METRICS_FILE);
  if (cutTornLine(file)) warn(`cut a torn last line from ${file}, left by a write that failed (a full disk?)`);
  let failed = false;
  const guarded = (what: string, write: () => void): void => {
    if (failed) return;
    try {
      write();
    } catch (error) {
      failed = true;
      warn(`could not write ${what} in ${runDir} (${(error as NodeJS.ErrnoException).code ?? String(error)}); the run goes on without it`);
    }
  };
  const log = (event: string, fields: object): void =>
    guarded(METRICS_FILE, () => appendLine(file, JSON.stringify({ event, time: new Date().toISOString(), ...fields })));
  return {
    start: (info) => log('start', info),
    step: (info) => log('step', info),
    evaluation: ({ history, ...info }) => {
      log('evaluation', info);
      guarded(LOSS_PLOT_FILE, () => {
        // Written aside and renamed, so that a viewer never sees half a file.
        const temporary = path.join(runDir, `.${LOSS_PLOT_FILE}.tmp`);
        fs.writeFileSync(temporary, lossChart(history, path.basename(path.resolve(runDir))));
        fs.renameSync(temporary, path.join(runDir, LOSS_PLOT_FILE));
      });
    },
    checkpoint: (dir, reason) => log('checkpoint', { dir, reason }),
    sample: (info) => log('sample', info),
    warn: (message) => log('warning', { message }),
  };
}

/** Appends one line whole or not at all: a write that fails part-way (disk full) is cut back off. */
function appendLine(file: string, line: string): void {
  const fd = fs.openSync(file, 'a');
  const size = fs.fstatSync(fd).size;
  try {
    fs.writeSync(fd, `${line}\n`);
  } catch (error) {
    try {
      fs.ftruncateSync(fd, size);
    } catch {
      // The cut failed too; cutTornLine mends the file when the run is resumed.
    }
    throw error;
  } finally {
    fs.closeSync(fd);
  }
}

/** Cuts an unfinished last line (no newline at its end) off a JSON Lines file; true if it cut one. */
export function cutTornLine(file: string): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r+');
  } catch {
    return false;
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) return false;
    // Lines are short; reading back until a newline turns up stays cheap.
    for (let end = size, chunk = 4096; ; chunk *= 2) {
      const start = Math.max(0, size - chunk);
      const buffer = Buffer.alloc(end - start);
      fs.readSync(fd, buffer, 0, buffer.length, start);
      if (end === size && buffer.at(-1) === 0x0a) return false;
      const newline = buffer.lastIndexOf(0x0a);
      if (newline >= 0 || start === 0) {
        fs.ftruncateSync(fd, newline >= 0 ? start + newline + 1 : 0);
        return true;
      }
      end = start;
    }
  } finally {
    fs.closeSync(fd);
  }
}
