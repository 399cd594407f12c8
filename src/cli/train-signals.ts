import fs from 'node:fs';
import path from 'node:path';
import type { Reporter } from '../report/progress.js';
import type { RunDirectory } from '../run/run-directory.js';
import type { StopSignal } from '../train/events.js';

/**
 * Ctrl-C (or SIGTERM): before training starts, it ends the run at once and leaves nothing behind;
 * once training runs, it asks for a clean stop after the step, and a second one quits at once,
 * with the terminal restored and a line saying what is on disk.
 */
export interface Signals {
  stop: StopSignal;
  /** The signal that stopped the run, and the exit code it calls for. */
  received?: { name: string; code: number };
  /** Set when the first step is about to be taken. */
  training: boolean;
}

export function watchSignals(reporter: Reporter, run: RunDirectory, member: boolean): Signals {
  const signals: Signals = { stop: { requested: false }, training: false };
  const quit = (name: NodeJS.Signals, code: number): never => {
    reporter.close();
    // The bar hides the cursor and colours the line; a quit mid-draw must not leave them so.
    if (process.stderr.isTTY) process.stderr.write('\x1b[0m\x1b[?25h');
    if (!signals.training) run.discardIfEmpty();
    process.stderr.write(`rnn-train: ${name}: ${onDisk(run, member)}\n`);
    process.exit(code);
  };
  const onSignal = (name: NodeJS.Signals, code: number) => () => {
    if (signals.stop.requested || !signals.training) quit(name, code);
    signals.stop.requested = true;
    signals.received = { name, code };
    reporter.info(`${name}: saving a checkpoint after this step (press Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSignal('SIGINT', 130));
  process.on('SIGTERM', onSignal('SIGTERM', 143));
  // A member whose ensemble's trainer is gone (killed) saves and stops, rather than train unwatched.
  process.on('disconnect', () => {
    if (!signals.stop.requested) onSignal('SIGHUP', 129)();
  });
  return signals;
}

/** What a quit leaves on disk, and how to go on from it. */
function onDisk(run: RunDirectory, member: boolean): string {
  if (!run.hasLatest()) return 'stopped; no checkpoint had been saved, so nothing of this run is kept';
  const resume = member ? '' : `; continue with: npx rnn-train --resume ${run.dir}`;
  return `stopped at once; the last checkpoint is kept in ${path.join(run.dir, fs.readlinkSync(run.latest))}${resume}`;
}
