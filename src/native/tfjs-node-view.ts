import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { entryPaths, writeAtomically, type Manifest } from './native-cache.js';

/**
 * One installation's way to load the cache entry's tfjs-node package. tfjs-node requires
 * @tensorflow/tfjs and four small packages by name, and Node looks for them from the real path of
 * the file that asks. So each installation of rnn-train (a clone, a project's node_modules, a
 * global prefix) gets a view: a copy of the package's JavaScript (about a megabyte) beside links to
 * that installation's own copies of those packages, so that tfjs-node and rnn-train share one
 * TensorFlow.js engine. The addon and libtensorflow, the large parts, are linked, not copied.
 */

/** What tfjs-node's JavaScript requires by name at run time, all of them rnn-train's own dependencies. */
const PEERS = ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@mapbox/node-pre-gyp', 'google-protobuf', 'progress'];

export interface View {
  /** The view's tfjs-node package directory: what to require. */
  packageDir: string;
  /** The addon, seen from the view (a link to the entry's). */
  addon: string;
}

interface ViewRecord {
  root: string;
  links: Record<string, string>;
}

/** The directory of `name` as Node would resolve it from `root` (no exports map consulted). */
function peerDir(root: string, name: string): string {
  for (let dir = root; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return fs.realpathSync(candidate);
    if (path.dirname(dir) === dir) throw new Error(`${name} is not installed beside rnn-train (${root}); reinstall rnn-train`);
  }
}

function viewDir(entry: string, root: string): string {
  return path.join(entryPaths(entry).views, createHash('sha256').update(root).digest('hex').slice(0, 16));
}

function viewOf(dir: string, manifest: Manifest): View {
  const packageDir = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  return { packageDir, addon: path.join(packageDir, manifest.addon) };
}

/** Whether the view was finished and still points at packages that exist. */
function intact(dir: string, view: View): boolean {
  try {
    const record = JSON.parse(fs.readFileSync(path.join(dir, 'view.json'), 'utf8')) as ViewRecord;
    return fs.existsSync(view.addon) && Object.values(record.links).every((target) => fs.existsSync(path.join(target, 'package.json')));
  } catch {
    return false;
  }
}

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at);
}

function writeView(dir: string, entry: string, manifest: Manifest, root: string): void {
  const shared = entryPaths(entry).package;
  const own = path.join(dir, 'node_modules', '@tensorflow', 'tfjs-node');
  fs.mkdirSync(own, { recursive: true });
  fs.copyFileSync(path.join(shared, 'package.json'), path.join(own, 'package.json'));
  fs.cpSync(path.join(shared, 'dist'), path.join(own, 'dist'), { recursive: true, filter: (file) => !/_test\.(js|d\.ts)$|\.map$/.test(file) });
  const addonDir = path.dirname(manifest.addon);
  for (const name of fs.readdirSync(path.join(shared, addonDir))) link(path.join(shared, addonDir, name), path.join(own, addonDir, name));
  const links = Object.fromEntries(PEERS.map((name) => [name, peerDir(root, name)]));
  for (const [name, target] of Object.entries(links)) link(target, path.join(dir, 'node_modules', name));
  const record: ViewRecord = { root, links };
  writeAtomically(path.join(dir, 'view.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * The view of `entry` for the installation at `root`, made if it is missing or broken. Two
 * processes may make it at once: each writes its own copy and renames it into place, and the
 * loser uses the winner's.
 */
export function ensureView(entry: string, manifest: Manifest, root: string): View {
  const dir = viewDir(entry, root);
  const view = viewOf(dir, manifest);
  if (intact(dir, view)) return view;
  const partial = `${dir}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  writeView(partial, entry, manifest, root);
  try {
    fs.renameSync(partial, dir);
  } catch {
    if (intact(dir, view)) {
      fs.rmSync(partial, { recursive: true, force: true });
      return view;
    }
    // A broken view from before: moved aside first, so that the name is never empty.
    const aside = `${dir}.old-${process.pid}-${Date.now()}`;
    fs.renameSync(dir, aside);
    fs.renameSync(partial, dir);
    fs.rmSync(aside, { recursive: true, force: true });
  }
  return view;
}
