import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BINDING_FIXES, INSTALL_DIR, QUIET_LOAD_ADDON, TFJS_NODE_VERSION, cacheRoot, entryPaths, libtensorflowSource, type Manifest } from './native-cache.js';

/**
 * Builds one cache entry (native-cache.ts) from nothing but the npm registry and pip's index:
 * tfjs-node's package from `npm pack`, libtensorflow from the tensorflow-cpu wheel, and its addon
 * from the package's own binding source with rnn-train's fixes, by node-gyp. tfjs-node's own
 * install script is never run: it downloads from Google's CDN, and package managers block it
 * anyway. Steps are told to `progress` as they start.
 */

/** A failure whose message is fit to show the user as it is. */
export class BuildError extends Error {}

export type Progress = (step: string) => void;

/** Runs a command, returning its stdout; throws BuildError with its stderr's tail on failure. */
function run(command: string, args: string[], options: SpawnSyncOptions = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error) throw new BuildError(`${command} could not be run: ${result.error.message}`);
  if (result.status !== 0) {
    const lines = String(result.stderr ?? '')
      .trim()
      .split('\n')
      .filter((line) => !/gyp ERR! (System|command|cwd|node -v|node-gyp -v|not ok)/.test(line));
    // A compiler's errors say more than make's summary after them.
    const errors = lines.filter((line) => /\berror:/.test(line));
    const tail = (errors.length > 0 ? errors : lines).slice(-3).join(' / ');
    throw new BuildError(`${path.basename(command)} ${args.slice(0, 2).join(' ')} failed (exit ${result.status}): ${tail}`);
  }
  return String(result.stdout ?? '');
}

/** npm, as the one running this command if any (npx sets npm_execpath), else from PATH. */
function npm(args: string[], options: SpawnSyncOptions = {}): string {
  const execpath = process.env.npm_execpath;
  return execpath && /npm-cli\.js$/.test(execpath) ? run(process.execPath, [execpath, ...args], options) : run('npm', args, options);
}

/** tfjs-node's package from the npm registry (through npm's own cache), unpacked into `dir`. */
function fetchTfjsNode(dir: string, scratch: string): void {
  const name = npm(['pack', `@tensorflow/tfjs-node@${TFJS_NODE_VERSION}`, '--pack-destination', scratch, '--silent', '--ignore-scripts'], { cwd: scratch })
    .trim()
    .split('\n')
    .pop();
  if (!name) throw new BuildError('npm pack gave no tarball for @tensorflow/tfjs-node');
  fs.mkdirSync(dir, { recursive: true });
  run('tar', ['-xzf', path.join(scratch, name), '-C', dir, '--strip-components=1']);
}

/** Unpacks what the binding needs from a tensorflow wheel into the cache (once) and returns that directory. */
function libtensorflowFromWheel(wheel: string, bindingDir: string): string {
  const target = path.join(cacheRoot(), 'libtensorflow', path.basename(wheel, '.whl'));
  if (fs.existsSync(path.join(target, '.complete'))) return target;
  const partial = `${target}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(path.join(partial, 'lib'), { recursive: true });
  fs.mkdirSync(path.join(partial, 'include'), { recursive: true });
  run('python3', [path.join(INSTALL_DIR, 'extract_wheel.py'), wheel, bindingDir, partial]);
  fs.writeFileSync(path.join(partial, '.complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(partial, target);
  return target;
}

/** A wheel already extracted for this version, so that a second entry needs neither pip nor unzip. */
function cachedLibtensorflow(version: string): string | undefined {
  const dir = path.join(cacheRoot(), 'libtensorflow');
  if (!fs.existsSync(dir)) return undefined;
  const found = fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(`tensorflow_cpu-${version}-`) && !name.includes('.partial-') && fs.existsSync(path.join(dir, name, '.complete')))
    .sort();
  return found.length > 0 ? path.join(dir, found[found.length - 1]) : undefined;
}

/**
 * A directory with lib/ (libtensorflow[_cc].so.2, libtensorflow_framework.so.2) and include/:
 * RNN_TRAIN_LIBTENSORFLOW (such a directory, or a wheel), else the cache, else a tensorflow-cpu
 * wheel fetched with pip from its configured index (the wheel ships the C and eager C API).
 */
function obtainLibtensorflow(bindingDir: string, scratch: string, progress: Progress): string {
  const { given, version } = libtensorflowSource();
  if (given?.endsWith('.whl')) return libtensorflowFromWheel(given, bindingDir);
  if (given) {
    if (!fs.existsSync(path.join(given, 'lib')) || !fs.existsSync(path.join(given, 'include'))) {
      throw new BuildError(`RNN_TRAIN_LIBTENSORFLOW=${given} must be a wheel or a directory with lib/ and include/`);
    }
    return given;
  }
  const cached = cachedLibtensorflow(version);
  if (cached) return cached;
  progress(`fetching TensorFlow ${version} (the tensorflow-cpu wheel) with pip`);
  const wheelDir = path.join(scratch, 'wheel');
  run('python3', ['-m', 'pip', 'download', `tensorflow-cpu==${version}`, '--no-deps', '--only-binary=:all:', '--retries', '0', '--quiet', '-d', wheelDir]);
  const wheel = fs.readdirSync(wheelDir).find((name) => name.endsWith('.whl'));
  if (!wheel) throw new BuildError('pip downloaded no tensorflow-cpu wheel');
  progress('unpacking libtensorflow from the wheel');
  return libtensorflowFromWheel(path.join(wheelDir, wheel), bindingDir);
}

/** Links the libraries and headers where tfjs-node's binding.gyp and the addon's run path look (deps/lib, deps/include). */
function stageDeps(packageDir: string, libtensorflow: string): void {
  const deps = path.join(packageDir, 'deps');
  fs.rmSync(deps, { recursive: true, force: true });
  fs.mkdirSync(path.join(deps, 'lib'), { recursive: true });
  fs.symlinkSync(path.join(libtensorflow, 'include'), path.join(deps, 'include'));
  const libDir = path.join(libtensorflow, 'lib');
  const libs = fs.readdirSync(libDir);
  for (const name of libs) fs.symlinkSync(path.join(libDir, name), path.join(deps, 'lib', name));
  // The binding links -ltensorflow -ltensorflow_framework; the wheel calls the first libtensorflow_cc.
  const main = libs.find((n) => /^libtensorflow(_cc)?\.so\.2$/.test(n));
  const framework = libs.find((n) => n === 'libtensorflow_framework.so.2');
  if (!main || !framework) throw new BuildError(`${libDir} lacks libtensorflow.so.2 (or _cc) and libtensorflow_framework.so.2`);
  fs.symlinkSync(main, path.join(deps, 'lib', 'libtensorflow.so'));
  fs.symlinkSync(framework, path.join(deps, 'lib', 'libtensorflow_framework.so'));
}

/**
 * The edits of a unified diff, as [file, old text, new text] per hunk, context included. Line
 * numbers are not used: a hunk applies where its old text occurs, as `patch` with fuzz would.
 */
function hunks(patch: string): [string, string, string][] {
  const edits: [string, string, string][] = [];
  let file = '';
  for (const block of patch.split(/^(?=--- |@@ )/m)) {
    const target = /^\+\+\+ b\/(\S+)$/m.exec(block);
    if (target) file = target[1];
    if (!block.startsWith('@@')) continue;
    const lines = block.split('\n').slice(1, -1);
    const side = (skip: string) =>
      lines
        .filter((line) => line[0] !== skip)
        .map((line) => `${line.slice(1)}\n`)
        .join('');
    edits.push([file, side('+'), side('-')]);
  }
  return edits;
}

/** Applies BINDING_FIXES to a freshly unpacked package and adds rnn-train's sources to its binding/. */
function patchBinding(packageDir: string): void {
  const patched = new Map<string, string>();
  for (const name of BINDING_FIXES) {
    for (const [file, from, to] of hunks(fs.readFileSync(path.join(INSTALL_DIR, 'binding-fixes', `${name}.patch`), 'utf8'))) {
      const source = path.join(packageDir, file);
      const text = patched.get(source) ?? fs.readFileSync(source, 'utf8');
      if (!text.includes(from)) throw new BuildError(`the tfjs-node ${TFJS_NODE_VERSION} binding source does not take the fix ${name} (${file})`);
      patched.set(source, text.replace(from, to));
    }
  }
  for (const [source, text] of patched) fs.writeFileSync(source, text);
  fs.cpSync(path.join(INSTALL_DIR, 'recurrence'), path.join(packageDir, 'binding', 'recurrence'), { recursive: true });
}

function nodeGypScript(): string {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return bundled;
  throw new BuildError('node-gyp, which ships with npm, was not found beside node');
}

/** node-gyp rebuild in `cwd`, against the Node.js headers installed beside node when there are (node-gyp would download them). */
function nodeGyp(cwd: string, extraArgs: string[]): void {
  const args = [nodeGypScript(), 'rebuild', ...extraArgs];
  const localHeaders = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(localHeaders, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${localHeaders}`);
  run(process.execPath, args, { cwd });
}

/** The addon's place in the package, as tfjs-node's loader computes it: lib/napi-v<N>/tfjs_binding.node. */
function addonPath(packageDir: string): string {
  const napiVersions = (JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { binary: { napi_versions: number[] } }).binary
    .napi_versions;
  const napi = Math.max(...napiVersions.filter((version) => version <= Number(process.versions.napi)));
  return path.join(packageDir, 'lib', `napi-v${napi}`, 'tfjs_binding.node');
}

/** Compiles tfjs-node's addon and the quiet-load helper into the package's lib/napi-v<N>/. */
function compileAddons(packageDir: string, scratch: string): string {
  const addon = addonPath(packageDir);
  const napi = /napi-v(\d+)/.exec(addon)?.[1] ?? '';
  nodeGyp(packageDir, ['--module_name=tfjs_binding', `--module_path=${path.dirname(addon)}`, `--napi_build_version=${napi}`]);
  const helperDir = path.join(scratch, 'quiet-load');
  fs.cpSync(path.join(INSTALL_DIR, 'quiet-load'), helperDir, { recursive: true });
  nodeGyp(helperDir, []);
  fs.copyFileSync(path.join(helperDir, 'build', 'Release', QUIET_LOAD_ADDON), path.join(path.dirname(addon), QUIET_LOAD_ADDON));
  // Object files: a few megabytes the entry does not need.
  fs.rmSync(path.join(packageDir, 'build'), { recursive: true, force: true });
  return addon;
}

/**
 * Builds the entry's package/ and returns what its manifest is to say; the caller holds the
 * entry's lock, and writes the manifest once the addon has loaded.
 */
export function buildEntry(entry: string, progress: Progress): Manifest {
  const paths = entryPaths(entry);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-train-setup-'));
  const partial = `${paths.package}.partial-${process.pid}`;
  try {
    fs.rmSync(partial, { recursive: true, force: true });
    progress(`fetching @tensorflow/tfjs-node ${TFJS_NODE_VERSION} with npm`);
    fetchTfjsNode(partial, scratch);
    const libtensorflow = obtainLibtensorflow(path.join(partial, 'binding'), scratch, progress);
    stageDeps(partial, libtensorflow);
    patchBinding(partial);
    progress('compiling the addon with node-gyp');
    const addon = compileAddons(partial, scratch);
    fs.rmSync(paths.package, { recursive: true, force: true });
    fs.renameSync(partial, paths.package);
    const inPackage = (file: string) => path.join(paths.package, path.relative(partial, file));
    const libs = fs.readdirSync(path.join(libtensorflow, 'lib')).map((name) => path.join(libtensorflow, 'lib', name));
    const needed = [inPackage(addon), inPackage(path.join(path.dirname(addon), QUIET_LOAD_ADDON)), path.join(paths.package, 'package.json'), ...libs];
    return { addon: path.relative(partial, addon), libtensorflow, files: Object.fromEntries(needed.map((file) => [file, fs.statSync(file).size])) };
  } finally {
    fs.rmSync(partial, { recursive: true, force: true });
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
