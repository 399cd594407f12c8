import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { useBackend, type BackendChoice } from '../native/backend.js';
import { loadCorpus, splitCorpus } from '../data/corpus.js';
import { ensembleHasCheckpoints, readEnsemble, writeEnsemble } from '../run/ensemble-run.js';
import { ENSEMBLE_FILE, memberNames } from '../run/files.js';
import { UserError } from '../util/errors.js';
import { meanNll } from '../model/evaluate.js';
import { createEnsembleReporter, formatLoss, type EnsembleReporter, type Reporter, type RunReporter } from '../report/progress.js';
import { nextSteps } from '../report/advice.js';
import { RunDirectory, alreadyHoldsRun } from '../run/run-directory.js';
import type { EvaluationInfo, SampleInfo, StartInfo, StepInfo, TrainEvents } from '../train/events.js';
import { createModels, loadCheckpoints, randomSeed } from './common.js';

/**
 * rnn-train --members: an ensemble trained side by side, each member an ordinary rnn-train process
 * in its own run directory with its own seed and share of the cores. Separate processes, since
 * each then has TensorFlow's thread pool to itself and a member that fails cannot take the others
 * down; they report here over IPC, and this process draws their bars, forwards Ctrl-C and, at the
 * end, scores the members' best checkpoints together.
 */

/** Set in a member's environment: it reports to the ensemble's trainer instead of the terminal. */
const MEMBER_ENV = 'RNN_TRAIN_MEMBER';
const TRAIN_SCRIPT = fileURLToPath(new URL('./train.js', import.meta.url));

type MemberMessage =
  | { kind: 'info' | 'warn'; message: string }
  | { kind: 'start'; info: StartInfo }
  | { kind: 'step'; info: StepInfo }
  | { kind: 'evaluation'; info: Omit<EvaluationInfo, 'history'> }
  | { kind: 'checkpoint'; dir: string; reason: Parameters<TrainEvents['checkpoint']>[1] }
  | { kind: 'sample'; info: SampleInfo };

export function isEnsembleMember(): boolean {
  return process.env[MEMBER_ENV] === '1' && typeof process.send === 'function';
}

/** A member's reporter: every event goes to the ensemble's trainer, which shows it. */
export function memberReporter(): Reporter {
  // The channel must not keep the member alive once training is over; pending messages still go out.
  process.channel?.unref();
  const send = (message: MemberMessage): void => {
    // With a callback, a send that fails because the trainer is gone is not an uncaught error;
    // the 'disconnect' that follows stops training (cli/train.ts).
    if (process.connected) process.send!(message, () => {});
  };
  return {
    info: (message) => send({ kind: 'info', message }),
    warn: (message) => send({ kind: 'warn', message }),
    loading: () => () => {},
    start: (info) => send({ kind: 'start', info }),
    step: (info) => send({ kind: 'step', info }),
    evaluation: ({ history: _history, ...info }) => send({ kind: 'evaluation', info }),
    checkpoint: (dir, reason) => send({ kind: 'checkpoint', dir, reason }),
    sample: (info) => send({ kind: 'sample', info }),
    close: () => {},
  };
}

function show(reporter: RunReporter, message: MemberMessage): void {
  switch (message.kind) {
    case 'info':
      return reporter.info(message.message);
    case 'warn':
      return reporter.warn(message.message);
    case 'start':
      return reporter.start(message.info);
    case 'step':
      return reporter.step(message.info);
    case 'evaluation':
      return reporter.evaluation(message.info);
    case 'checkpoint':
      return reporter.checkpoint(message.dir, message.reason);
    case 'sample':
      return reporter.sample(message.info);
  }
}

export interface EnsemblePlan {
  outDir: string;
  /** Continue the ensemble in outDir, rather than start one there. */
  resume: boolean;
  /** How many members; on resume, if given, it must be the number the ensemble has. */
  members?: number;
  /** Arguments for every member: the corpus if given, then the flags given. */
  args: string[];
  /** The first member's seed; the others count up from it (default: random, printed). */
  seed?: number;
  /** TensorBoard directory; each member writes into its own subdirectory of it. */
  tensorboard?: string;
  /** For scoring the members together at the end. */
  backend: BackendChoice;
}

interface Member {
  name: string;
  child: ChildProcess;
  /** Its error lines (`rnn-train: error: …`), without the prefix. */
  errors: string[];
  exited: Promise<number>;
}

function startMember(name: string, args: string[], env: NodeJS.ProcessEnv, reporter: RunReporter): Member {
  // Detached, in a process group of its own: Ctrl-C reaches this process alone, which forwards it
  // once (a member that got it twice, from the terminal and from here, would quit without saving).
  const child = fork(TRAIN_SCRIPT, args, { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], detached: true });
  child.on('message', (message: MemberMessage) => show(reporter, message));
  const errors: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    const error = /^rnn-train: (?:error: )?(.*)$/.exec(line);
    if (error) errors.push(error[1]);
    else reporter.info(line);
  });
  const exited = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? 128 + os.constants.signals[signal!])));
  return { name, child, errors, exited };
}

/** Exit codes of a member that stopped cleanly on a signal, having saved. */
const STOPPED = new Set([130, 143]);

/** Locks the ensemble's directory and returns its members' names: the saved ones on resume, else new ones, with the manifest written. */
function openEnsemble(plan: EnsemblePlan, run: RunDirectory): string[] {
  const { outDir } = plan;
  run.prepare({ checkpoints: false });
  run.lock();
  process.on('exit', () => run.unlock());
  const names = plan.resume ? readEnsemble(outDir).members : memberNames(plan.members ?? 1);
  if (plan.resume && plan.members !== undefined && plan.members !== names.length) {
    throw new UserError(`${outDir} is an ensemble of ${names.length} members, not ${plan.members}; resume it without --members`);
  }
  if (!plan.resume) {
    if (run.hasCheckpoints() || ensembleHasCheckpoints(outDir)) throw alreadyHoldsRun(outDir);
    writeEnsemble(outDir, { members: names });
  }
  return names;
}

/** Starts one rnn-train per member, each with its seed, directory and share of the cores. */
function startMembers(plan: EnsemblePlan, names: string[], reporter: EnsembleReporter): Member[] {
  const cores = os.availableParallelism();
  const threads = Math.max(1, Math.floor(cores / names.length));
  const seed = plan.seed ?? (plan.resume ? undefined : randomSeed());
  reporter.info(
    `ensemble of ${names.length} in ${plan.outDir}: ${names.join(', ')} train side by side, ${threads} TensorFlow thread${threads > 1 ? 's' : ''} each` +
      `${seed === undefined ? '' : `, seeds ${seed} to ${seed + names.length - 1}`}`,
  );
  if (names.length > cores) reporter.warn(`${names.length} members share ${cores} cores, so each trains at a fraction of its speed`);
  const env = { ...process.env, [MEMBER_ENV]: '1', TF_NUM_INTRAOP_THREADS: process.env.TF_NUM_INTRAOP_THREADS ?? String(threads) };
  return names.map((name, k) => {
    const dir = path.join(plan.outDir, name);
    const args = [
      ...plan.args,
      ...(plan.resume ? ['--resume', dir] : ['--out', dir]),
      ...(seed === undefined ? [] : ['--seed', String(seed + k)]),
      ...(plan.tensorboard === undefined ? [] : ['--tensorboard', path.join(plan.tensorboard, name)]),
    ];
    return startMember(name, args, env, reporter.members[k]);
  });
}

function running(members: Member[]): Member[] {
  return members.filter(({ child }) => child.exitCode === null && child.signalCode === null);
}

/** Passes Ctrl-C (or SIGTERM) on to every member, once; returns what tells which signal stopped them. */
function forwardSignals(members: Member[], reporter: EnsembleReporter): { signal?: NodeJS.Signals } {
  const stop: { signal?: NodeJS.Signals } = {};
  const forward = (signal: NodeJS.Signals) => () => {
    // Once the members are done (scoring them together), a signal just ends this process.
    if (running(members).length === 0) process.exit(128 + os.constants.signals[signal]);
    if (stop.signal === undefined) reporter.info(`${signal}: every member saves a checkpoint after its step (press Ctrl-C again to quit at once)`);
    stop.signal ??= signal;
    for (const { child } of running(members)) child.kill(signal);
  };
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  return stop;
}

/** Waits for every member; one failing stops the others, each saving where it stands, and fails the ensemble. */
async function awaitMembers(members: Member[], reporter: EnsembleReporter): Promise<number[]> {
  const failures: { name: string; reason: string }[] = [];
  const codes = await Promise.all(
    members.map(async (member) => {
      const code = await member.exited;
      if (code === 0 || STOPPED.has(code)) return code;
      failures.push({ name: member.name, reason: member.errors.at(-1) ?? `exited with code ${code}` });
      if (running(members).length > 0) reporter.info(`${member.name} failed; stopping the others, which save a checkpoint first`);
      for (const { child } of running(members)) child.kill('SIGTERM');
      return code;
    }),
  );
  if (failures.length > 0) {
    const reasons = new Set(failures.map(({ reason }) => reason));
    throw new UserError(reasons.size === 1 ? failures[0].reason : failures.map(({ name, reason }) => `${name}: ${reason}`).join('; '));
  }
  return codes;
}

/** After the members: how to continue a stopped ensemble, or its members scored together. */
async function finishEnsemble(
  plan: EnsemblePlan,
  names: string[],
  codes: number[],
  stop: { signal?: NodeJS.Signals },
  reporter: EnsembleReporter,
): Promise<number> {
  // A member may also have been stopped by a signal sent to it alone.
  const stoppedCode = stop.signal === undefined ? codes.find((code) => code !== 0) : 128 + os.constants.signals[stop.signal];
  if (stoppedCode !== undefined) {
    reporter.info(`stopped${stop.signal === undefined ? '' : ` by ${stop.signal}`}; continue with: npx rnn-train --resume ${plan.outDir}`);
    return stoppedCode;
  }
  const together = await validateTogether(plan.outDir, plan.backend);
  if (together !== undefined) {
    writeEnsemble(plan.outDir, { members: names, validationLoss: together.loss });
    reporter.info(`ensemble validation loss ${formatLoss(together.loss)}; alone: ${together.alone.map((loss) => loss?.toFixed(4) ?? '-').join(', ')}`);
  }
  nextSteps(plan.outDir).forEach((line) => reporter.info(line));
  return 0;
}

/** A new ensemble none of whose members saved a checkpoint leaves nothing behind, as a single run does. */
function discardIfUntrained(plan: EnsemblePlan, run: RunDirectory): void {
  if (plan.resume || ensembleHasCheckpoints(plan.outDir)) return;
  fs.rmSync(path.join(plan.outDir, ENSEMBLE_FILE), { force: true });
  run.discardIfEmpty();
}

export async function trainEnsemble(plan: EnsemblePlan): Promise<number> {
  const run = new RunDirectory(plan.outDir);
  const names = openEnsemble(plan, run);
  const reporter = createEnsembleReporter(names.map((name) => name.replace('-', ' ')));
  try {
    const members = startMembers(plan, names, reporter);
    const stop = forwardSignals(members, reporter);
    const codes = await awaitMembers(members, reporter);
    // The bars end here, so that what follows is not drawn over.
    reporter.close();
    return await finishEnsemble(plan, names, codes, stop, reporter);
  } finally {
    reporter.close();
    discardIfUntrained(plan, run);
    run.unlock();
  }
}

async function validateTogether(outDir: string, backend: BackendChoice): Promise<{ loss: number; alone: (number | null)[] } | undefined> {
  const members = loadCheckpoints(outDir, []);
  const { training } = members[0].checkpoint;
  const { validation } = splitCorpus((await loadCorpus(training.corpus)).ids, training.validationFraction);
  if (validation.length < 2) return undefined;
  await useBackend(backend);
  const models = createModels(members);
  const loss = await meanNll(models, validation, training.batchSize, training.seqLen);
  models.forEach((model) => model.dispose());
  return { loss, alone: members.map(({ checkpoint }) => checkpoint.progress.bestValidationLoss) };
}
