import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryDir, installation, nestedBrackets, recordFailure, setupCommand, wholeEntry, withLock, writeManifest } from '../src/index.js';
import { cli, tempDir } from './helpers.js';

/**
 * Native setup's cheap parts: the command each installation is told to run, the cache lock, the
 * manifest that says an entry is whole, and every way a command ends up on wasm with one line.
 * Building an entry from nothing, installed as a package, is package.test.ts's (npm run test:all).
 */

const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
fs.writeFileSync(corpus, nestedBrackets(3000, 4));
const tiny = ['--layers', '1', '--hidden', '8', '--embedding', '4', '--seq-len', '10', '--batch-size', '4', '--steps', '2', '--eval-every', '2', '--seed', '5'];

function dirs(...parts: string[]): string {
  const dir = path.join(work, ...parts);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A PATH with node and the named programs only, each linked from where this machine has it. */
function pathWith(...programs: string[]): string {
  const bin = fs.mkdtempSync(path.join(work, 'bin-'));
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  for (const program of programs) {
    const where = spawnSync(
      program === 'python3' ? 'python3' : 'sh',
      program === 'python3' ? ['-c', 'import sys; print(sys.executable)'] : ['-c', `command -v ${program}`],
      { encoding: 'utf8' },
    );
    fs.symlinkSync(where.stdout.trim(), path.join(bin, program));
  }
  return bin;
}

describe('the setup command each installation names', () => {
  it('is the npm script in a clone, rnn-setup for a global install, npx rnn-setup in a project, and the file itself under npx', () => {
    const clone = dirs('clone', 'rnn-train');
    expect(setupCommand({ where: installation(clone), cwd: clone })).toBe('npm run setup-native');
    expect(setupCommand({ where: installation(clone), cwd: clone, force: true })).toBe('npm run setup-native -- --force');
    expect(setupCommand({ where: installation(clone), cwd: work })).toBe(`npm --prefix ${clone} run setup-native`);

    const project = dirs('project');
    const dependency = dirs('project', 'node_modules', 'rnn-train');
    expect(installation(dependency).kind).toBe('project');
    expect(setupCommand({ where: installation(dependency), cwd: dirs('project', 'src') })).toBe('npx rnn-setup');
    expect(setupCommand({ where: installation(dependency), cwd: work, force: true })).toBe(`cd ${project} && npx rnn-setup --force`);

    const global = dirs('prefix', 'lib', 'node_modules', 'rnn-train');
    fs.writeFileSync(path.join(dirs('prefix', 'bin'), 'rnn-setup'), '');
    expect(installation(global).kind).toBe('global');
    expect(setupCommand({ where: installation(global), cwd: work })).toBe('rnn-setup');

    const npx = dirs('npm-cache', '_npx', '0123abcd', 'node_modules', 'rnn-train');
    expect(installation(npx).kind).toBe('npx');
    expect(setupCommand({ where: installation(npx), cwd: work })).toBe(`node ${path.join(npx, 'bin', 'rnn-setup.js')}`);
  });
});

describe('the cache lock', () => {
  it('lets one holder work at a time, and tells the waiter who holds it', async () => {
    const lock = path.join(work, 'serial.lock');
    const events: string[] = [];
    const waited: (number | undefined)[] = [];
    const hold = (name: string) =>
      withLock(
        lock,
        async () => {
          events.push(`${name} in`);
          await new Promise((resolve) => setTimeout(resolve, 300));
          events.push(`${name} out`);
        },
        (pid) => waited.push(pid),
      );
    await Promise.all([hold('a'), hold('b')]);
    expect(events).toEqual(['a in', 'a out', 'b in', 'b out']);
    expect(waited).toEqual([process.pid]);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('takes over a lock whose owner died (kill -9) instead of waiting for it', async () => {
    const lock = path.join(work, 'abandoned.lock');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.mkdirSync(lock);
    fs.writeFileSync(
      path.join(lock, 'owner.json'),
      JSON.stringify({ pid: Number(dead.stdout), host: (await import('node:os')).hostname(), since: Date.now() }),
    );
    const waited: (number | undefined)[] = [];
    expect(
      await withLock(
        lock,
        async () => 'worked',
        (pid) => waited.push(pid),
      ),
    ).toBe('worked');
    expect(waited).toEqual([]);
  });

  it('holds between processes: two at once run one after the other', async () => {
    const lock = path.join(work, 'processes.lock');
    const log = path.join(work, 'processes.log');
    const script = (name: string) =>
      `import { withLock } from ${JSON.stringify(path.resolve('dist/native/cache-lock.js'))};` +
      `import fs from 'node:fs';` +
      `await withLock(${JSON.stringify(lock)}, async () => { fs.appendFileSync(${JSON.stringify(log)}, '${name} in\\n');` +
      ` await new Promise((r) => setTimeout(r, 400)); fs.appendFileSync(${JSON.stringify(log)}, '${name} out\\n'); }, () => {});`;
    const run = (name: string) =>
      new Promise<number | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script(name)], { stdio: 'inherit' }).on('exit', resolve));
    expect(await Promise.all([run('a'), run('b')])).toEqual([0, 0]);
    const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
    expect(lines.map((line) => line.split(' ')[1])).toEqual(['in', 'out', 'in', 'out']);
    expect(lines[0].split(' ')[0]).toBe(lines[1].split(' ')[0]);
  });
});

describe('a cache entry', () => {
  it('is whole only while every file its manifest lists is there at its size', () => {
    const entry = dirs('entry');
    const file = path.join(entry, 'addon.node');
    fs.writeFileSync(file, 'x'.repeat(100));
    expect(wholeEntry(entry)).toBeUndefined();
    writeManifest(entry, { addon: 'addon.node', libtensorflow: entry, files: { [file]: 100 } });
    expect(wholeEntry(entry)?.addon).toBe('addon.node');
    fs.truncateSync(file, 50);
    expect(wholeEntry(entry)).toBeUndefined();
    fs.rmSync(file);
    expect(wholeEntry(entry)).toBeUndefined();
  });
});

describe('when native TensorFlow cannot be had, a command says why in one line and runs on wasm', () => {
  const run = (name: string, env: NodeJS.ProcessEnv) => {
    const result = cli('rnn-train', [corpus, '--out', path.join(work, name), ...tiny], { env });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('backend: wasm');
    const warnings = result.stderr.split('\n').filter((line) => /warning|native TensorFlow/.test(line));
    expect(warnings, result.stderr).toHaveLength(1);
    return warnings[0];
  };

  it('turned off with RNN_TRAIN_SKIP_NATIVE=1', () => {
    expect(run('skip', { RNN_TRAIN_SKIP_NATIVE: '1' })).toBe(
      'warning: native TensorFlow is not available (RNN_TRAIN_SKIP_NATIVE=1 turns it off); using the wasm backend, which is much slower. To fix: unset RNN_TRAIN_SKIP_NATIVE.',
    );
  });

  it('no python3, naming the command that sets it up in this installation', () => {
    const line = run('no-python', { RNN_TRAIN_CACHE: tempDir(), PATH: pathWith() });
    expect(line).toMatch(/\(setting it up needs python3 with pip \(to fetch TensorFlow\), and there is no python3\)/);
    expect(line).toMatch(/To fix: install it \(Debian or Ubuntu: `sudo apt-get install python3-pip`\), then run `npm run setup-native`\.$/);
  });

  it('no compiler', () => {
    const line = run('no-compiler', { RNN_TRAIN_CACHE: tempDir(), PATH: pathWith('python3') });
    expect(line).toMatch(/\(setting it up needs g\+\+ \(to compile the addon\), which was not found\).*`sudo apt-get install g\+\+ make`/);
  });

  it('a setup that failed before is not tried again on every run, until the setup command is run', () => {
    const cache = tempDir();
    const previous = process.env.RNN_TRAIN_CACHE;
    process.env.RNN_TRAIN_CACHE = cache;
    try {
      recordFailure(entryDir(), 'setting up native TensorFlow kernels failed: g++ failed (exit 1): an error');
    } finally {
      if (previous === undefined) delete process.env.RNN_TRAIN_CACHE;
      else process.env.RNN_TRAIN_CACHE = previous;
    }
    expect(run('failed-before', { RNN_TRAIN_CACHE: cache })).toMatch(
      /\(setting up native TensorFlow kernels failed: g\+\+ failed \(exit 1\): an error\); .*To fix: fix the cause, then run `npm run setup-native`\.$/,
    );
  });
});

describe('rnn-setup', () => {
  it('says in one line why it cannot set up, and exits 1; with --warn-only (install hooks) it warns and exits 0', () => {
    const env = { RNN_TRAIN_CACHE: path.join(corpus, 'cache') };
    const failed = cli('rnn-setup', [], { env });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/^rnn-setup: error: the cache folder .* cannot be written \(ENOTDIR\); point RNN_TRAIN_CACHE at a writable folder.*\n$/);
    const warned = cli('rnn-setup', ['--warn-only'], { env });
    expect(warned.status).toBe(0);
    expect(warned.stderr.trim().split('\n')).toHaveLength(1);
    expect(warned.stderr).toMatch(/^rnn-setup: warning: native TensorFlow is not available/);
  });

  it('says when the kernels are set up already', () => {
    const result = cli('rnn-setup', []);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^rnn-setup: native TensorFlow kernels are set up already \(cache: .*\); --force rebuilds them\n$/);
  });
});
