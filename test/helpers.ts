import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BackendName, TrainingConfig, TrainEvents } from '../src/index.js';

export const ROOT = path.resolve(import.meta.dirname, '..');

export function testBackend(): BackendName {
  const name = process.env.RNN_TRAIN_TEST_BACKEND ?? 'tensorflow';
  if (name !== 'tensorflow' && name !== 'wasm' && name !== 'cpu') throw new Error(`RNN_TRAIN_TEST_BACKEND=${name} is not a backend`);
  return name;
}

export function tempDir(prefix = 'rnn-train-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function plainEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return env;
}

/** Runs bin/<command>.js as a user would, with stderr not a terminal (as in CI). */
export function cli(
  command: 'rnn-train' | 'rnn-sample' | 'rnn-eval' | 'rnn-web' | 'rnn-setup',
  args: string[],
  options: { cwd?: string; input?: string; nodeOptions?: string[]; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const result = spawnSync(process.execPath, [...(options.nodeOptions ?? []), path.join(ROOT, 'bin', `${command}.js`), ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...plainEnv(), ...options.env },
    // A hang would otherwise block the test runner itself: spawnSync cannot be interrupted.
    timeout: 300_000,
  });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

/** Starts a command in the background, for tests that signal it mid-run. */
export function startCli(command: 'rnn-train' | 'rnn-sample' | 'rnn-eval' | 'rnn-web' | 'rnn-setup', args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', `${command}.js`), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...plainEnv(), ...env },
  });
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stderr)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${pattern}; stderr:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, exited, waitFor, output: () => ({ stdout, stderr }) };
}

/** A run's training configuration for library-level tests, with the given fields changed. */
export function trainingConfig(changes: Partial<TrainingConfig> = {}): TrainingConfig {
  return {
    corpus: 'test',
    corpusSha256: '',
    seqLen: 10,
    batchSize: 4,
    optimizer: 'adam',
    learningRate: 2e-3,
    schedule: { name: 'constant', warmupSteps: 0, decayRate: 0.97, decayAfter: 10 },
    clip: 5,
    weightDecay: 0,
    stateReset: 0,
    emaDecay: 0,
    replicas: 1,
    precision: 'float32',
    validationFraction: 0.1,
    seed: 1,
    ...changes,
  };
}

export const quietEvents: TrainEvents = { start() {}, step() {}, evaluation() {}, checkpoint() {}, warn() {} };
