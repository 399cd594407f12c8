import { CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Checkpoint } from '../train/config.js';
import { checkEnsemble } from '../run/ensemble-run.js';
import { expandEnsembles } from '../run/ensemble-run.js';
import { UserError } from '../util/errors.js';
import { CharRnn } from '../model/char-rnn.js';
import { loadCheckpoint } from '../run/run-directory.js';

/** Option parsers that reject bad values with a message naming what is allowed. */
export function integerAtLeast(minimum: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < minimum) throw new InvalidArgumentError(`expected a whole number ≥ ${minimum}`);
    return n;
  };
}

export function numberInRange(minimum: number, maximum: number, { minimumExclusive = false, maximumExclusive = false } = {}): (value: string) => number {
  return (value) => {
    const n = Number(value);
    const low = minimumExclusive ? n > minimum : n >= minimum;
    const high = maximumExclusive ? n < maximum : n <= maximum;
    if (value.trim() === '' || !Number.isFinite(n) || !low || !high) {
      const range = `${minimumExclusive ? '>' : '≥'} ${minimum}${Number.isFinite(maximum) ? ` and ${maximumExclusive ? '<' : '≤'} ${maximum}` : ''}`;
      throw new InvalidArgumentError(`expected a number ${range}`);
    }
    return n;
  };
}

/** A duration such as `10m`, `90s`, `1h30m` or `1.5h`, in seconds. */
export function duration(value: string): number {
  const match = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value.trim());
  const seconds = match ? 3600 * Number(match[1] ?? 0) + 60 * Number(match[2] ?? 0) + Number(match[3] ?? 0) : 0;
  if (!match || !(seconds > 0)) throw new InvalidArgumentError('expected a duration such as 10m, 90s or 1h30m');
  return seconds;
}

/** rnn-sample's and rnn-eval's --ensemble, which may be given more than once. */
export function ensembleOption(): Option {
  return new Option(
    '--ensemble <checkpoint>',
    "predict together with this model (or ensemble run) too, from the mean of the models' distributions; repeat for more (same vocabulary)",
  )
    .argParser((value: string, previous: string[]) => [...previous, value])
    .default([]);
}

/**
 * The checkpoint argument's model, then each --ensemble one (an ensemble's run directory giving all
 * its members), checked to be able to predict together.
 */
export function loadCheckpoints(first: string, ensemble: string[]): { dir: string; checkpoint: Checkpoint }[] {
  const members = expandEnsembles([first, ...ensemble]).map(loadCheckpoint);
  checkEnsemble(members);
  return members;
}

/** The models of checkpoints loaded by loadCheckpoints (once the backend is chosen). */
export function createModels(members: { checkpoint: Checkpoint }[]): CharRnn[] {
  return members.map(({ checkpoint }) => new CharRnn(checkpoint.model, checkpoint.weights));
}

/** Commander's messages (and its "Did you mean" hints) as one line, prefixed with the command. */
export function oneLine(command: string, text: string): string {
  return `${command}: ${text.trim().replace(/\s*\n\s*/g, ' ')}\n`;
}

/** A seed for when the user gives none; printed so the run can be repeated. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}

/**
 * Runs a command's main function, turning every expected failure into one line on stderr and a
 * non-zero exit code. Stack traces are for bugs only, and only with RNN_TRAIN_DEBUG=1.
 */
export async function runCommand(name: string, main: () => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await main()) ?? 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof UserError) {
      process.stderr.write(`${name}: error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${name}: internal error: ${message.split('\n')[0]} (rerun with RNN_TRAIN_DEBUG=1 for details)\n`);
    if (process.env.RNN_TRAIN_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    process.exitCode = 70;
  }
}
