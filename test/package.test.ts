import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nestedBrackets } from '../src/index.js';
import { ROOT, tempDir } from './helpers.js';

/**
 * rnn-train as a package user gets it: packed, installed into an empty project and into a global
 * prefix with npm's cache and rnn-train's own cache both empty, then trained with and sampled
 * from. Package managers run no install script of a dependency, so the first command sets native
 * TensorFlow up itself; the two installs start their first commands at once, as two terminals
 * would, and share the cache. Several minutes: `npm run test:all` only.
 */

const work = tempDir('rnn-train-package-');
const project = path.join(work, 'project');
const prefix = path.join(work, 'global');
const elsewhere = path.join(work, 'elsewhere');
const corpus = path.join(work, 'corpus.txt');
const cache = path.join(work, 'rnn-train-cache');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  npm_config_cache: path.join(work, 'npm-cache'),
  npm_config_update_notifier: 'false',
  RNN_TRAIN_CACHE: cache,
};
for (const name of Object.keys(env)) if (name.startsWith('npm_') && !['npm_config_cache', 'npm_config_update_notifier'].includes(name)) delete env[name];
const tiny = '--layers 1 --hidden 16 --embedding 8 --seq-len 16 --batch-size 8 --steps 3 --eval-every 3 --seed 3'.split(' ');
let tarball = '';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function runSync(command: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(command, args, { cwd, env: { ...env, ...extra }, encoding: 'utf8', timeout: 600_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function runAsync(command: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** npm's warnings, less the one that is not rnn-train's to fix (docs/install.md): core-js's funding notice script, which comes with @tensorflow/tfjs. */
function ourWarnings(output: string): string[] {
  return output.split('\n').filter((line) => /\bwarn\b/i.test(line) && !/install-scripts( |$)(.*(allowScripts|core-js@|install-scripts ls|^\s*$))?/.test(line));
}

beforeAll(() => {
  fs.mkdirSync(project);
  fs.mkdirSync(elsewhere);
  fs.writeFileSync(corpus, nestedBrackets(4000, 4));
  // dist/ is built by the test script before the tests; packing must not rebuild it under them.
  const packed = runSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], ROOT);
  expect(packed.status, packed.stderr).toBe(0);
  tarball = path.join(work, packed.stdout.trim().split('\n').pop() ?? '');
  fs.writeFileSync(path.join(project, 'package.json'), '{ "name": "user-project", "version": "1.0.0", "private": true }\n');
}, 600_000);

describe('installed as a package', () => {
  it('holds what it needs and nothing of test/ or bench/', () => {
    const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout.split('\n');
    expect(listing).toContain('package/dist/cli/train.js');
    expect(listing).toContain('package/bin/rnn-setup.js');
    expect(listing).toContain('package/src/install/binding-fixes/per-thread-attr-names.patch');
    expect(listing).toContain('package/data/tinyshakespeare.txt');
    expect(listing.filter((file) => /^package\/(test|bench|docs)\//.test(file))).toEqual([]);
    const manifest = JSON.parse(spawnSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }).stdout) as {
      scripts: Record<string, string>;
    };
    // npm 11, pnpm and bun would block these, and npm warns about every one.
    expect(Object.keys(manifest.scripts).filter((name) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(name))).toEqual([]);
  });

  it('installs into a project and globally without a warning of its own, then the first commands set native TensorFlow up once, together', async () => {
    const local = runSync('npm', ['install', tarball], project);
    expect(local.status, local.stderr).toBe(0);
    expect(ourWarnings(local.stdout + local.stderr)).toEqual([]);
    const global = runSync('npm', ['install', '--global', '--prefix', prefix, tarball], work);
    expect(global.status, global.stderr).toBe(0);
    expect(ourWarnings(global.stdout + global.stderr)).toEqual([]);

    const [fromProject, fromGlobal] = await Promise.all([
      runAsync('npx', ['rnn-train', corpus, '--out', path.join(work, 'project-run'), ...tiny], project),
      runAsync(path.join(prefix, 'bin', 'rnn-train'), [corpus, '--out', path.join(work, 'global-run'), ...tiny], elsewhere),
    ]);
    for (const run of [fromProject, fromGlobal]) {
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).toContain('backend: tensorflow (native TensorFlow kernels)');
      expect(run.stderr).not.toMatch(/warning/);
    }
    const both = fromProject.stderr + fromGlobal.stderr;
    // Built once: one compiled, the other waited for it.
    expect(both.match(/native TensorFlow kernels: compiling the addon/g)).toHaveLength(1);
    expect(both).toMatch(/native TensorFlow kernels: waiting for another rnn-train \(pid \d+\)/);
    expect(both.match(/native TensorFlow kernels: ready in \d+ s/g)).toHaveLength(2);
  }, 900_000);

  it('samples natively from either install, and through npx --package, with nothing more set up', () => {
    const checks: [string, string[], string][] = [
      ['npx', ['rnn-sample', path.join(work, 'project-run'), '--length', '30', '--seed', '1'], project],
      [path.join(prefix, 'bin', 'rnn-sample'), [path.join(work, 'project-run'), '--length', '30', '--seed', '1'], elsewhere],
      ['npx', ['--yes', '--package', tarball, 'rnn-sample', path.join(work, 'project-run'), '--length', '30', '--seed', '1'], elsewhere],
    ];
    const texts = checks.map(([command, args, cwd]) => {
      const run = runSync(command, args, cwd);
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).not.toMatch(/warning|native TensorFlow kernels/);
      return run.stdout;
    });
    expect([...texts[0]].length).toBeGreaterThanOrEqual(30);
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
  }, 600_000);

  it('with setup turned off, says so in one line and runs on wasm', () => {
    const run = runSync(path.join(prefix, 'bin', 'rnn-train'), [corpus, '--out', path.join(work, 'wasm-run'), ...tiny], elsewhere, {
      RNN_TRAIN_SKIP_NATIVE: '1',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toContain('backend: wasm');
    expect(run.stderr.split('\n').filter((line) => /warning|native TensorFlow/.test(line))).toEqual([
      'warning: native TensorFlow is not available (RNN_TRAIN_SKIP_NATIVE=1 turns it off); using the wasm backend, which is much slower. To fix: unset RNN_TRAIN_SKIP_NATIVE.',
    ]);
  }, 600_000);

  it('a broken cache entry is found and rebuilt by the next command; rnn-setup is the global command for it', () => {
    const [entry] = fs.readdirSync(path.join(cache, 'native')).filter((name) => fs.existsSync(path.join(cache, 'native', name, 'manifest.json')));
    const addonDir = path.join(cache, 'native', entry, 'package', 'lib');
    const [napi] = fs.readdirSync(addonDir);
    fs.truncateSync(path.join(addonDir, napi, 'tfjs_binding.node'), 1000);
    const run = runSync(path.join(prefix, 'bin', 'rnn-sample'), [path.join(work, 'global-run'), '--length', '10'], elsewhere);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/native TensorFlow kernels: compiling the addon/);
    expect(run.stderr).not.toMatch(/warning/);
    const setup = runSync(path.join(prefix, 'bin', 'rnn-setup'), [], elsewhere);
    expect(setup.status, setup.stderr).toBe(0);
    expect(setup.stderr).toMatch(/set up already/);
  }, 600_000);
});
