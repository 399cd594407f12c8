import { createRequire } from 'node:module';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Checkpoint } from '../run/checkpoint.js';
import { checkEnsemble, expandEnsembles } from '../run/ensemble-run.js';
import { UserError } from '../util/errors.js';
import { InvalidValue } from '../util/parse.js';
import { CharRnn } from '../model/char-rnn.js';
import { loadCheckpoint } from '../run/run-directory.js';
import { BACKENDS, useBackend, type BackendChoice } from '../native/backend.js';
import { lstmCapabilities } from '../native/capabilities.js';

/** A util/parse.ts parser as commander takes it: a bad value is reported as commander reports its own. */
export function commanderParser<T>(parse: (value: string) => T): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      throw error instanceof InvalidValue ? new InvalidArgumentError(error.message) : error;
    }
  };
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

/** rnn-sample's and rnn-eval's --backend. */
export function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto');
}

/** Loads the backend --backend names, with TensorFlow's threads for this model; a fallback's warning goes to stderr. */
export async function startBackend(command: string, choice: BackendChoice, intraOpThreads: number | undefined): Promise<void> {
  const backend = await useBackend(choice, { intraOpThreads });
  if (backend.warning) process.stderr.write(`${command}: warning: ${backend.warning}\n`);
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
  return members.map(({ checkpoint }) => new CharRnn(checkpoint.model, checkpoint.weights, { capabilities: lstmCapabilities() }));
}

/** rnn-train's version, from its package.json. */
export function packageVersion(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** `-V, --version`, which every command has. */
export function withVersion(command: Command): Command {
  return command.version(packageVersion(), '-V, --version', 'print the version of rnn-train');
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
