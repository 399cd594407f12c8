import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from './installation.js';

/**
 * The names of everything native setup keeps in the user's cache, and the records that say
 * whether an entry there is whole. One entry per machine and rnn-train build of the addon:
 *
 *   <cache>/libtensorflow/<wheel name>/   lib/ and include/ from the tensorflow-cpu wheel, shared by entries
 *   <cache>/native/<entry>/package/       tfjs-node's package, patched, its addon built in lib/napi-v*
 *   <cache>/native/<entry>/manifest.json  written last: every file the entry needs, with its size
 *   <cache>/native/<entry>/failed.json    the reason the last setup failed, until `rnn-setup` retries
 *   <cache>/native/<entry>/views/<id>/    one installation's way to load the package (tfjs-node-view.ts)
 *   <cache>/native/<entry>.lock/          held while one process builds the entry (cache-lock.ts)
 */

/** The tfjs-node release whose binding the fixes in src/install/binding-fixes/ were written for. */
export const TFJS_NODE_VERSION = '4.22.0';

/**
 * The tensorflow-cpu release whose libtensorflow the binding fixes were built and tested against;
 * RNN_TRAIN_TENSORFLOW_VERSION overrides it (any pip version specifier's version, e.g. 2.20.0).
 */
export const TENSORFLOW_CPU_VERSION = '2.21.0';

/**
 * Fixes made to tfjs-node's binding source before it is built, in the order they apply: each is
 * src/install/binding-fixes/<name>.patch, a unified diff whose header says why.
 */
export const BINDING_FIXES = ['per-thread-attr-names', 'signals-off-tensorflow-threads', 'native-lstm-recurrence'] as const;

/** The helper addon that loads libtensorflow with standard error silenced (src/install/quiet-load/). */
export const QUIET_LOAD_ADDON = 'rnn_train_quiet_load.node';

/** The sources the install adds to the binding, the patches and the helper: what the entry's name is a digest of. */
export const INSTALL_DIR = path.join(packageRoot(), 'src', 'install');

export function cacheRoot(): string {
  return path.resolve(process.env.RNN_TRAIN_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'rnn-train'));
}

function installFiles(dir = INSTALL_DIR): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? installFiles(path.join(dir, entry.name)) : [path.join(dir, entry.name)]))
    .sort();
}

/** Identifies the addon's sources: the fixes, the added C++, the helper and the wheel extractor. */
export function fixesDigest(): string {
  const hash = createHash('sha256');
  for (const file of installFiles()) hash.update(path.relative(INSTALL_DIR, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/** Where libtensorflow comes from: a path the user gave, or the tensorflow-cpu release to fetch. */
export function libtensorflowSource(): { given?: string; version: string } {
  const given = process.env.RNN_TRAIN_LIBTENSORFLOW;
  return { given: given ? path.resolve(given) : undefined, version: process.env.RNN_TRAIN_TENSORFLOW_VERSION ?? TENSORFLOW_CPU_VERSION };
}

/** The entry for this rnn-train's addon on this Node.js (N-API version) and libtensorflow. */
export function entryDir(): string {
  const source = libtensorflowSource();
  const digest = createHash('sha256')
    .update(JSON.stringify([fixesDigest(), source.given ?? source.version, process.versions.napi, process.arch]))
    .digest('hex')
    .slice(0, 16);
  return path.join(cacheRoot(), 'native', `tfjs-node-${TFJS_NODE_VERSION}-${digest}`);
}

/** What a whole entry holds: the addon's path inside package/ and every file's size. */
export interface Manifest {
  /** The addon, relative to package/ (lib/napi-v<N>/tfjs_binding.node). */
  addon: string;
  /** libtensorflow's directory, which the package's deps/ links to. */
  libtensorflow: string;
  /** Absolute path → size in bytes. */
  files: Record<string, number>;
}

export const entryPaths = (entry: string) => ({
  package: path.join(entry, 'package'),
  manifest: path.join(entry, 'manifest.json'),
  failed: path.join(entry, 'failed.json'),
  views: path.join(entry, 'views'),
  lock: `${entry}.lock`,
});

function sizeOf(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}

/** The entry's manifest if every file it lists is there at its size: a half-deleted or torn entry reads as absent. */
export function wholeEntry(entry: string): Manifest | undefined {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(entryPaths(entry).manifest, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  const whole = Object.entries(manifest.files).every(([file, size]) => sizeOf(file) === size);
  return whole ? manifest : undefined;
}

/** Writes the manifest last of all and atomically: its presence says the entry is whole. */
export function writeManifest(entry: string, manifest: Manifest): void {
  writeAtomically(entryPaths(entry).manifest, `${JSON.stringify(manifest, null, 2)}\n`);
}

export function writeAtomically(file: string, text: string): void {
  const partial = `${file}.partial-${process.pid}`;
  fs.writeFileSync(partial, text);
  fs.renameSync(partial, file);
}

/** Why the last setup of this entry failed, when it did and no setup has been asked for since. */
export function recordedFailure(entry: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(entryPaths(entry).failed, 'utf8')) as { reason: string }).reason;
  } catch {
    return undefined;
  }
}

export function recordFailure(entry: string, reason: string): void {
  try {
    fs.mkdirSync(entry, { recursive: true });
    writeAtomically(entryPaths(entry).failed, `${JSON.stringify({ reason, at: new Date().toISOString() })}\n`);
  } catch {
    // A cache that cannot take the record is reported by the setup itself.
  }
}
