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
  const file = path.join(runDir, METRICS_FILE);
  const log = (event: string, fields: object): void =>
    guarded(METRICS_FILE, () => fs.appendFileSync(file, `${JSON.stringify({ event, time: new Date().toISOString(), ...fields })}\n`));
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
    warn: (message) => log('warning', { message }),
  };
}
