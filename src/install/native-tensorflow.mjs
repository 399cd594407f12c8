#!/usr/bin/env node
// @ts-check
// Makes @tensorflow/tfjs-node usable with native TensorFlow kernels, whatever happened to its own
// install script, and builds its addon with what rnn-train needs (BINDING_FIXES: several threads
// may run ops at once; a signal during training cannot corrupt the heap; an LSTM layer's recurrence
// in one call, lstm_recurrence.cc). tfjs-node's script
// downloads libtensorflow and a prebuilt addon from Google's CDN; where the CDN cannot be reached it
// fails, and npm then removes the optional package altogether. Newer npm versions may not run
// dependencies' install scripts at all. So this root postinstall step:
//   1. returns at once if the addon it built before, with the same fixes, loads;
//   2. reinstalls the tfjs-node package (scripts off) if npm removed it;
//   3. takes libtensorflow from $RNN_TRAIN_LIBTENSORFLOW, else from what tfjs-node's script
//      downloaded, else from the cache, else from a `tensorflow-cpu` wheel fetched with pip from its
//      configured index (the wheel ships the C and eager C API);
//   4. builds the addon from source with the fixes, with node-gyp, caches it, and leaves a marker
//      file beside it that lists the fixes (addon-marker.mjs).
// Any failure leaves the install successful: an addon that worked is put back (with the libraries
// it loads, in deps/), and without one the tool falls back to the wasm backend and says so.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ADDON_MARKER, THREAD_SAFETY_FIX } from './addon-marker.mjs';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(projectRoot, 'package.json'));
const cacheRoot = path.join(process.env.RNN_TRAIN_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'rnn-train'));
const log = (/** @type {string} */ message) => console.error(`rnn-train install: ${message}`);

/** A failure with a message fit to show the user as it is. */
class InstallError extends Error {}

/** Runs a command, returning its stdout; throws InstallError with its stderr's tail on failure. */
function run(/** @type {string} */ command, /** @type {string[]} */ args, /** @type {import('node:child_process').SpawnSyncOptions} */ options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (result.error) throw new InstallError(`${command} could not be run: ${result.error.message}`);
  if (result.status !== 0) {
    const lines = String(result.stderr ?? '')
      .trim()
      .split('\n')
      .filter((line) => !/gyp ERR! (System|command|cwd|node -v|node-gyp -v|not ok)/.test(line));
    // A compiler's errors say more than make's summary after them.
    const errors = lines.filter((line) => /\berror:/.test(line));
    const tail = (errors.length > 0 ? errors : lines).slice(-6).join('\n');
    throw new InstallError(`${command} ${args.slice(0, 3).join(' ')} failed (exit ${result.status}):\n${tail}`);
  }
  return String(result.stdout ?? '');
}

/** Loads tfjs-node in a child process, so that a broken addon cannot take this process down. */
function nativeBackendWorks() {
  const probe =
    "const tf=require('@tensorflow/tfjs-node');" +
    'const y=tf.matMul(tf.ones([2,2]),tf.ones([2,2])).dataSync();' +
    "if(tf.getBackend()!=='tensorflow'||y[0]!==2)process.exit(3)";
  const result = spawnSync(process.execPath, ['-e', probe], {
    cwd: projectRoot,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
    encoding: 'utf8',
  });
  return result.status === 0;
}

function tfjsNodeVersion() {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectRoot, 'package.json'), 'utf8'));
  const version = pkg.optionalDependencies?.['@tensorflow/tfjs-node'];
  if (!/^\d+\.\d+\.\d+$/.test(version ?? '')) throw new InstallError('package.json must pin @tensorflow/tfjs-node to an exact version');
  return /** @type {string} */ (version);
}

/**
 * Returns tfjs-node's package directory. When its install script failed, npm removed it together
 * with the dependencies only it needs; reinstalling the locked tree with scripts off brings all of
 * them back, at the versions in package-lock.json.
 */
function ensureTfjsNodePackage() {
  const version = tfjsNodeVersion();
  const packageDir = path.join(projectRoot, 'node_modules', '@tensorflow', 'tfjs-node');
  const packageJson = path.join(packageDir, 'package.json');
  const present = () => fs.existsSync(packageJson) && JSON.parse(fs.readFileSync(packageJson, 'utf8')).version === version;
  if (present()) return packageDir;
  if (path.basename(path.dirname(projectRoot)) === 'node_modules') {
    throw new InstallError(
      '@tensorflow/tfjs-node was removed by npm after its install script failed; install it in your project with `npm install --ignore-scripts @tensorflow/tfjs-node@' +
        version +
        '`, then run this again',
    );
  }
  log(`reinstalling @tensorflow/tfjs-node@${version} without its download script`);
  const npm = process.env.npm_execpath;
  const [command, prefix] = npm ? [process.execPath, [npm]] : ['npm', []];
  run(command, [...prefix, 'install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: projectRoot });
  if (!present()) throw new InstallError(`npm did not reinstall @tensorflow/tfjs-node@${version}`);
  return packageDir;
}

const EXTRACT_WHEEL = path.join(path.dirname(fileURLToPath(import.meta.url)), 'extract_wheel.py');

/** Unpacks a tensorflow wheel into the cache (once) and returns the libtensorflow directory. */
function libtensorflowFromWheel(/** @type {string} */ wheel, /** @type {string} */ bindingDir) {
  const target = path.join(cacheRoot, 'libtensorflow', path.basename(wheel, '.whl'));
  if (fs.existsSync(path.join(target, '.complete'))) return target;
  log(`extracting libtensorflow from ${path.basename(wheel)} into ${target}`);
  const partial = `${target}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(path.join(partial, 'lib'), { recursive: true });
  fs.mkdirSync(path.join(partial, 'include'), { recursive: true });
  run('python3', [EXTRACT_WHEEL, wheel, bindingDir, partial]);
  fs.writeFileSync(path.join(partial, '.complete'), `${new Date().toISOString()}\n`);
  fs.rmSync(target, { recursive: true, force: true });
  fs.renameSync(partial, target);
  return target;
}

/** Finds an already-extracted wheel in the cache, so a second install needs neither pip nor unzip. */
function cachedLibtensorflow() {
  const dir = path.join(cacheRoot, 'libtensorflow');
  if (!fs.existsSync(dir)) return undefined;
  const complete = fs
    .readdirSync(dir)
    .filter((name) => !name.includes('.partial-') && fs.existsSync(path.join(dir, name, '.complete')))
    .sort();
  return complete.length > 0 ? path.join(dir, complete[complete.length - 1]) : undefined;
}

/**
 * The tensorflow-cpu release whose libtensorflow the binding fixes were built and tested against;
 * RNN_TRAIN_TENSORFLOW_VERSION overrides it (any pip version specifier's version, e.g. 2.20.0).
 */
const TENSORFLOW_CPU_VERSION = '2.21.0';

function downloadWheel() {
  const wheelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-train-wheel-'));
  const version = process.env.RNN_TRAIN_TENSORFLOW_VERSION ?? TENSORFLOW_CPU_VERSION;
  log(`fetching the tensorflow-cpu ${version} wheel with pip (from its configured index)`);
  run('python3', ['-m', 'pip', 'download', `tensorflow-cpu==${version}`, '--no-deps', '--only-binary=:all:', '--retries', '0', '--quiet', '-d', wheelDir]);
  const wheel = fs.readdirSync(wheelDir).find((name) => name.endsWith('.whl'));
  if (!wheel) throw new InstallError('pip downloaded no tensorflow-cpu wheel');
  return { wheel: path.join(wheelDir, wheel), cleanup: () => fs.rmSync(wheelDir, { recursive: true, force: true }) };
}

/**
 * Returns a directory with lib/ (libtensorflow[_cc].so.2, libtensorflow_framework.so.2) and include/.
 * RNN_TRAIN_LIBTENSORFLOW may name such a directory (the layout of Google's libtensorflow tarballs)
 * or a tensorflow / tensorflow-cpu wheel.
 */
function obtainLibtensorflow(/** @type {string} */ bindingDir) {
  const given = process.env.RNN_TRAIN_LIBTENSORFLOW;
  if (given) {
    if (given.endsWith('.whl')) return libtensorflowFromWheel(path.resolve(given), bindingDir);
    if (!fs.existsSync(path.join(given, 'lib')) || !fs.existsSync(path.join(given, 'include'))) {
      throw new InstallError(`RNN_TRAIN_LIBTENSORFLOW=${given} must be a wheel or a directory with lib/ and include/`);
    }
    return path.resolve(given);
  }
  const cached = cachedLibtensorflow();
  if (cached) return cached;
  const { wheel, cleanup } = downloadWheel();
  try {
    return libtensorflowFromWheel(wheel, bindingDir);
  } finally {
    cleanup();
  }
}

/** Links the libraries and headers where tfjs-node's binding.gyp looks for them (deps/lib, deps/include). */
function stageDeps(/** @type {string} */ packageDir, /** @type {string} */ libtensorflow) {
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
  if (!main || !framework) throw new InstallError(`${libDir} lacks libtensorflow.so.2 (or _cc) and libtensorflow_framework.so.2`);
  if (main !== 'libtensorflow.so') fs.symlinkSync(main, path.join(deps, 'lib', 'libtensorflow.so'));
  fs.symlinkSync(framework, path.join(deps, 'lib', 'libtensorflow_framework.so'));
}

function nodeGypCommand() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && fs.existsSync(fromNpm)) return fromNpm;
  const bundled = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (fs.existsSync(bundled)) return bundled;
  throw new InstallError('node-gyp was not found (it ships with npm); run this install through npm');
}

const INSTALL_DIR = path.dirname(fileURLToPath(import.meta.url));

/**
 * Fixes made to tfjs-node's binding source before it is built here, in the order they apply: each
 * is binding-fixes/<name>.patch, a unified diff whose header says why. All of them must apply, or
 * none is claimed.
 */
const BINDING_FIXES = [THREAD_SAFETY_FIX, 'signals-off-tensorflow-threads', 'native-lstm-recurrence'];

/** Sources of rnn-train's own, in this directory, that the install copies into the binding's binding/. */
const ADDED_SOURCES = ['lstm_recurrence.cc'].map((name) => ({ name, text: fs.readFileSync(path.join(INSTALL_DIR, name), 'utf8') }));

/** The patches' texts, by fix name. */
const PATCHES = BINDING_FIXES.map((name) => ({ name, text: fs.readFileSync(path.join(INSTALL_DIR, 'binding-fixes', `${name}.patch`), 'utf8') }));

/**
 * The edits of a unified diff, as [file, old text, new text] per hunk, context included. Line
 * numbers are not used: a hunk applies where its old text occurs, as `patch` with fuzz would.
 */
function hunks(/** @type {string} */ patch) {
  /** @type {[string, string, string][]} */
  const edits = [];
  let file = '';
  for (const block of patch.split(/^(?=--- |@@ )/m)) {
    const target = /^\+\+\+ b\/(\S+)$/m.exec(block);
    if (target) file = target[1];
    if (!block.startsWith('@@')) continue;
    const lines = block.split('\n').slice(1, -1);
    const side = (/** @type {string} */ skip) =>
      lines
        .filter((line) => line[0] !== skip)
        .map((line) => `${line.slice(1)}\n`)
        .join('');
    edits.push([file, side('+'), side('-')]);
  }
  return edits;
}

/**
 * A second, tiny addon built beside tfjs-node's (quiet-load/): it loads tfjs-node's addon with
 * standard error silenced while libtensorflow's static initialisers log (src/native/quiet-load.ts).
 */
const QUIET_LOAD_DIR = path.join(INSTALL_DIR, 'quiet-load');
const QUIET_LOAD_ADDON = 'rnn_train_quiet_load.node';
const QUIET_LOAD_SOURCES = fs.readdirSync(QUIET_LOAD_DIR).map((name) => ({ name, text: fs.readFileSync(path.join(QUIET_LOAD_DIR, name), 'utf8') }));

/** What identifies the fixes: the patches, the added sources' contents and the quiet loader's. */
const FIXES_DIGEST = createHash('sha256')
  .update(JSON.stringify([PATCHES, ADDED_SOURCES, QUIET_LOAD_SOURCES]))
  .digest('hex')
  .slice(0, 16);

/** What the marker beside an addon built here says: the fixes it was built with, one per line, then their digest. */
const MARKER_TEXT = `${BINDING_FIXES.join('\n')}\n${FIXES_DIGEST}\n`;

/**
 * Applies BINDING_FIXES to the package's source; false if the source is not the one they were
 * written for. Each file is edited from the copy of it kept before its first edit, so that fixes
 * that changed since apply cleanly; edits found already made (by an install that kept no copy) are
 * left as they are.
 */
function patchBinding(/** @type {string} */ packageDir) {
  const patched = new Map();
  for (const [file, from, to] of PATCHES.flatMap(({ text }) => hunks(text))) {
    const source = path.join(packageDir, file);
    const original = `${source}.before-rnn-train`;
    if (!fs.existsSync(original)) fs.copyFileSync(source, original);
    let text = patched.get(source) ?? fs.readFileSync(original, 'utf8');
    if (!text.includes(to)) {
      if (!text.includes(from)) return false;
      text = text.replace(from, to);
    }
    patched.set(source, text);
  }
  for (const [source, text] of patched) fs.writeFileSync(source, text);
  for (const { name, text } of ADDED_SOURCES) fs.writeFileSync(path.join(packageDir, 'binding', name), text);
  return true;
}

/** Builds tfjs_binding.node with BINDING_FIXES (or takes it from the cache) and puts it where tfjs-node loads it from. */
function buildAddon(/** @type {string} */ packageDir, /** @type {string} */ libtensorflow) {
  const addonPath = installedAddon(packageDir);
  const napi = /napi-v(\d+)/.exec(addonPath)?.[1] ?? String(process.versions.napi);
  if (!patchBinding(packageDir))
    throw new InstallError(`the tfjs-node binding source is not the one rnn-train's fixes were written for (tfjs-node ${tfjsNodeVersion()} expected)`);
  // Keyed on the exact libraries and fixes too: an addon is only reused with the libtensorflow it was built against.
  const libs = fs.readdirSync(path.join(libtensorflow, 'lib')).sort();
  const identity = libs.map((name) => `${name}:${fs.statSync(path.join(libtensorflow, 'lib', name)).size}`).join(',');
  const digest = createHash('sha256')
    .update(`${fs.realpathSync(libtensorflow)}|${identity}|${FIXES_DIGEST}`)
    .digest('hex')
    .slice(0, 16);
  const cached = path.join(cacheRoot, 'addon', `tfjs-node-${tfjsNodeVersion()}-napi${napi}-${digest}`);
  if (!fs.existsSync(path.join(cached, QUIET_LOAD_ADDON))) {
    log('building the tfjs-node addon from source with node-gyp (about a minute)');
    nodeGyp(packageDir, ['--module_name=tfjs_binding', `--module_path=${path.dirname(addonPath)}`, `--napi_build_version=${napi}`]);
    const helperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-train-quiet-load-'));
    try {
      fs.cpSync(QUIET_LOAD_DIR, helperDir, { recursive: true });
      nodeGyp(helperDir, []);
      const partial = `${cached}.partial-${process.pid}`;
      fs.mkdirSync(partial, { recursive: true });
      fs.copyFileSync(path.join(packageDir, 'build', 'Release', 'tfjs_binding.node'), path.join(partial, 'tfjs_binding.node'));
      fs.copyFileSync(path.join(helperDir, 'build', 'Release', QUIET_LOAD_ADDON), path.join(partial, QUIET_LOAD_ADDON));
      fs.rmSync(cached, { recursive: true, force: true });
      fs.renameSync(partial, cached);
    } finally {
      fs.rmSync(helperDir, { recursive: true, force: true });
    }
  }
  fs.mkdirSync(path.dirname(addonPath), { recursive: true });
  // New files renamed into place: a running trainer may have the old ones mapped.
  for (const [from, to] of [
    [path.join(cached, 'tfjs_binding.node'), addonPath],
    [path.join(cached, QUIET_LOAD_ADDON), path.join(path.dirname(addonPath), QUIET_LOAD_ADDON)],
  ]) {
    fs.copyFileSync(from, `${to}.tmp`);
    fs.renameSync(`${to}.tmp`, to);
  }
  fs.writeFileSync(path.join(path.dirname(addonPath), ADDON_MARKER), MARKER_TEXT);
}

/** node-gyp rebuild in `cwd`, against the Node.js headers installed beside node when there are. */
function nodeGyp(/** @type {string} */ cwd, /** @type {string[]} */ extraArgs) {
  const args = [nodeGypCommand(), 'rebuild', ...extraArgs];
  // node-gyp would download Node's headers from nodejs.org; use the ones installed beside node.
  const localHeaders = path.join(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(localHeaders, 'include', 'node', 'node_api.h'))) {
    args.push(`--nodedir=${path.resolve(localHeaders)}`);
  }
  run(process.execPath, args, { cwd });
}

/** Where tfjs-node loads its addon from. */
function installedAddon(/** @type {string} */ packageDir) {
  return require('@mapbox/node-pre-gyp').find(path.join(packageDir, 'package.json'));
}

/** Whether the installed addon was built here with every fix in BINDING_FIXES. */
function addonHasFixes(/** @type {string} */ packageDir) {
  const marker = path.join(path.dirname(installedAddon(packageDir)), ADDON_MARKER);
  return fs.existsSync(marker) && fs.readFileSync(marker, 'utf8') === MARKER_TEXT;
}

/**
 * The libtensorflow that tfjs-node's own install script downloaded from Google's CDN (real files in
 * deps/, headers included), if it did; stageDeps() puts symbolic links there instead.
 */
function downloadedLibtensorflow(/** @type {string} */ packageDir) {
  const deps = path.join(packageDir, 'deps');
  const include = path.join(deps, 'include');
  const real = fs.existsSync(include) && !fs.lstatSync(include).isSymbolicLink();
  return real && fs.existsSync(path.join(include, 'tensorflow', 'c', 'c_api.h')) ? deps : undefined;
}

function main() {
  if (process.env.RNN_TRAIN_SKIP_NATIVE === '1') {
    log('RNN_TRAIN_SKIP_NATIVE=1: not setting up native TensorFlow; the wasm backend will be used');
    return;
  }
  const installed = path.join(projectRoot, 'node_modules', '@tensorflow', 'tfjs-node');
  const works = fs.existsSync(installed) && nativeBackendWorks();
  if (works && addonHasFixes(installed)) {
    log('native TensorFlow backend ready');
    return;
  }
  // An addon that works (tfjs-node's prebuilt one, or one built here before a fix was added) is
  // kept if it cannot be rebuilt with the fixes.
  const prebuilt = works ? installedAddon(installed) : undefined;
  if (prebuilt) fs.copyFileSync(prebuilt, `${prebuilt}.prebuilt`);
  // The libraries that addon loads, in deps/, when staging others there replaces them.
  let depsAside;
  try {
    if (process.platform !== 'linux') throw new InstallError(`building from source is only supported on Linux, not ${process.platform}`);
    const packageDir = ensureTfjsNodePackage();
    let libtensorflow = process.env.RNN_TRAIN_LIBTENSORFLOW ? undefined : downloadedLibtensorflow(packageDir);
    if (!libtensorflow) {
      libtensorflow = obtainLibtensorflow(path.join(packageDir, 'binding'));
      const deps = path.join(packageDir, 'deps');
      if (prebuilt && fs.existsSync(deps)) {
        fs.rmSync(`${deps}.prebuilt`, { recursive: true, force: true });
        fs.renameSync(deps, `${deps}.prebuilt`);
        depsAside = deps;
      }
      stageDeps(packageDir, libtensorflow);
    }
    buildAddon(packageDir, libtensorflow);
    if (!nativeBackendWorks()) throw new InstallError('the addon was built but does not load');
    log(`native TensorFlow backend ready (libtensorflow from ${libtensorflow})`);
  } catch (error) {
    // Whatever went wrong, the install itself must succeed: the tool still runs, on wasm at worst.
    const reason = error instanceof Error ? error.message : String(error);
    if (prebuilt) {
      fs.copyFileSync(`${prebuilt}.prebuilt`, prebuilt);
      fs.rmSync(path.join(path.dirname(prebuilt), ADDON_MARKER), { force: true });
      if (depsAside) {
        fs.rmSync(depsAside, { recursive: true, force: true });
        fs.renameSync(`${depsAside}.prebuilt`, depsAside);
        depsAside = undefined;
      }
      log(
        `WARNING: could not rebuild tfjs-node's addon with rnn-train's fixes, so the one that was installed stays: training runs without data-parallel replicas, ` +
          `and a signal during training (Ctrl-C, a terminal resize) can crash it before it saves.\n  Reason: ${reason}\n  Fix the cause, then run \`npm run setup-native\`.`,
      );
    } else {
      log(
        `WARNING: native TensorFlow is not available, so rnn-train will use the much slower wasm backend.\n  Reason: ${reason}\n  Fix the cause, then run \`npm run setup-native\`.`,
      );
    }
  } finally {
    if (prebuilt) fs.rmSync(`${prebuilt}.prebuilt`, { force: true });
    if (depsAside) fs.rmSync(`${depsAside}.prebuilt`, { recursive: true, force: true });
  }
}

main();
