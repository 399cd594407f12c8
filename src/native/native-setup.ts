import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BuildError, buildEntry, type Progress } from './addon-build.js';
import { withLock } from './cache-lock.js';
import { installation, setupCommand } from './installation.js';
import { cacheRoot, entryDir, entryPaths, libtensorflowSource, recordFailure, recordedFailure, wholeEntry, writeManifest } from './native-cache.js';
import { ensureView, type View } from './tfjs-node-view.js';

/**
 * The policy for native TensorFlow kernels: set them up on first use, once per machine and
 * version, into the user's cache, whatever the package manager did with install scripts (npm 11,
 * pnpm and bun run none of a dependency's by default). Every way it can fail ends in one
 * NativeSetupError that says why and what fixes it in this installation; the caller then runs on
 * wasm or refuses, as the user asked.
 *
 * Cheap checks come first (platform, cache, tools), so a machine that cannot build pays nothing
 * on later runs and works as soon as the cause is fixed; a build that failed is remembered, so
 * that later runs do not spend a minute failing again, until the setup command is run.
 */

export class NativeSetupError extends Error {
  constructor(
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`${reason}; ${fix}`);
    this.name = 'NativeSetupError';
  }
}

/** Told each step as it starts, and the end. */
export type SetupProgress = Progress & { done?: (text: string) => void };

export interface SetupOptions {
  /** Rebuild even a whole entry, and retry after a recorded failure (the setup command). */
  force?: boolean;
  progress?: SetupProgress;
}

/** The environment variable that turns native kernels off: no setup, no attempt to load them. */
export const SKIP_NATIVE = 'RNN_TRAIN_SKIP_NATIVE';

function found(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore', timeout: 30_000 });
  return !result.error && result.status === 0;
}

function checkPlatform(): void {
  if (process.platform === 'linux' && process.arch === 'x64') return;
  throw new NativeSetupError(
    `native TensorFlow kernels are built on Linux x86-64 only, and this is ${process.platform}-${process.arch}`,
    `nothing to fix; \`export ${SKIP_NATIVE}=1\` stops this message`,
  );
}

function checkCache(): void {
  const dir = path.join(cacheRoot(), 'native');
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.writable-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new NativeSetupError(
      `the cache folder ${cacheRoot()} cannot be written (${code})`,
      'point RNN_TRAIN_CACHE at a writable folder, e.g. `export RNN_TRAIN_CACHE=/var/tmp/rnn-train-cache`',
    );
  }
}

/** Whether libtensorflow must be fetched, so that pip is needed. */
function needsPip(): boolean {
  const { given, version } = libtensorflowSource();
  if (given && !given.endsWith('.whl')) return false;
  if (given) return true;
  const dir = path.join(cacheRoot(), 'libtensorflow');
  return !(
    fs.existsSync(dir) && fs.readdirSync(dir).some((name) => name.startsWith(`tensorflow_cpu-${version}-`) && fs.existsSync(path.join(dir, name, '.complete')))
  );
}

function checkTools(command: string): void {
  const missing = (what: string, install: string) =>
    new NativeSetupError(`setting it up needs ${what}`, `install it (Debian or Ubuntu: \`${install}\`), then run \`${command}\``);
  if (needsPip() && !found('python3', ['-m', 'pip', '--version'])) {
    throw missing(
      `python3 with pip (to fetch TensorFlow), and ${found('python3', ['--version']) ? 'python3 has no pip' : 'there is no python3'}`,
      'sudo apt-get install python3-pip',
    );
  }
  for (const tool of ['g++', 'make']) {
    if (!found(tool, ['--version'])) throw missing(`${tool} (to compile the addon), which was not found`, 'sudo apt-get install g++ make');
  }
  if (!process.env.npm_execpath && !found('npm', ['--version']))
    throw missing('npm (to fetch @tensorflow/tfjs-node), which was not found', 'sudo apt-get install npm');
}

/** Loads the view's tfjs-node in a child process and runs one op, so that a broken addon cannot take this process down. */
function probe(view: View): string | undefined {
  const script =
    `const tf=require(${JSON.stringify(view.packageDir)});` +
    'const y=tf.matMul(tf.ones([2,2]),tf.ones([2,2])).dataSync();' +
    "if(tf.getBackend()!=='tensorflow'||y[0]!==2)process.exit(3)";
  const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' }, encoding: 'utf8', timeout: 120_000 });
  if (result.status === 0) return undefined;
  const lines = String(result.stderr ?? '')
    .split('\n')
    .filter((line) => /Error|error:/.test(line));
  return `the addon was built but does not load (${lines[0]?.trim() ?? `exit ${result.status}`})`;
}

/** Builds the entry under its lock (or finds it built by the process that held the lock). */
async function buildUnderLock(entry: string, root: string, options: SetupOptions, progress: Progress): Promise<View> {
  const paths = entryPaths(entry);
  const onWait = (pid: number | undefined) => progress(`waiting for another rnn-train${pid ? ` (pid ${pid})` : ''} that is setting them up`);
  return withLock(
    paths.lock,
    async () => {
      const built = options.force ? undefined : wholeEntry(entry);
      if (built) return ensureView(entry, built, root);
      fs.rmSync(paths.failed, { force: true });
      try {
        const manifest = buildEntry(entry, progress);
        const view = ensureView(entry, manifest, root);
        const failure = probe(view);
        if (failure) throw new BuildError(failure);
        writeManifest(entry, manifest);
        return view;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        recordFailure(entry, reason);
        throw error instanceof BuildError
          ? new NativeSetupError(`setting up native TensorFlow kernels failed: ${reason}`, `fix the cause, then run \`${setupCommand()}\``)
          : error;
      }
    },
    onWait,
  );
}

/**
 * Makes sure this installation can load native TensorFlow, setting it up first if need be
 * (about a minute, told to `progress`), and returns where to load it from.
 */
export async function ensureNativeTensorflow(options: SetupOptions = {}): Promise<{ view: View; built: boolean }> {
  if (process.env[SKIP_NATIVE] === '1') throw new NativeSetupError(`${SKIP_NATIVE}=1 turns it off`, `unset ${SKIP_NATIVE}`);
  const { root } = installation();
  const entry = entryDir();
  const whole = options.force ? undefined : wholeEntry(entry);
  if (whole) return { view: ensureView(entry, whole, root), built: false };
  const command = setupCommand();
  const failure = options.force ? undefined : recordedFailure(entry);
  if (failure) throw new NativeSetupError(failure, `fix the cause, then run \`${command}\``);
  checkPlatform();
  checkCache();
  checkTools(command);
  const progress = options.progress ?? stderrProgress();
  const started = Date.now();
  progress(`setting up, once per machine and version (about a minute)`);
  const view = await buildUnderLock(entry, root, options, progress);
  progress.done?.(`ready in ${Math.round((Date.now() - started) / 1000)} s, cached in ${cacheRoot()}`);
  return { view, built: true };
}

/** Progress as one line on standard error, redrawn in place on a terminal and a line per step elsewhere. */
export function stderrProgress(): SetupProgress {
  const prefix = 'rnn-train: native TensorFlow kernels: ';
  const terminal = Boolean(process.stderr.isTTY);
  const show = (text: string) => process.stderr.write(terminal ? `\r\x1b[K${prefix}${text}` : `${prefix}${text}\n`);
  return Object.assign(show, { done: (text: string) => process.stderr.write(terminal ? `\r\x1b[K${prefix}${text}\n` : `${prefix}${text}\n`) });
}
