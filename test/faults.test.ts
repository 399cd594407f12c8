import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, nestedBrackets } from '../src/index.js';
import { cli, startCli, tempDir, testBackend, type CliResult } from './helpers.js';

const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const small = ['--layers', '2', '--hidden', '16', '--embedding', '4', '--seq-len', '20', '--batch-size', '8', '--seed', '5', '--backend', testBackend()];

beforeAll(() => fs.writeFileSync(corpus, nestedBrackets(8000, 4)));

function train(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  return cli('rnn-train', [...small, ...args], { env });
}

/** The checkpoint a run directory's `latest` points at, verified by its checksums. */
function latest(run: string) {
  return readCheckpoint(path.join(run, 'latest'));
}

function weightsFile(run: string): Buffer {
  return fs.readFileSync(path.join(run, 'latest', 'weights.bin'));
}

/** One line saying `pattern` (after TensorFlow's own start-up lines), no stack trace. */
function lastLine(result: CliResult): string {
  expect(result.stderr).not.toMatch(/\n\s+at /);
  return result.stderr.trimEnd().split('\n').at(-1)!;
}

let reference: Buffer;

describe('kill -9 at any moment', () => {
  beforeAll(() => {
    const run = path.join(work, 'reference');
    const straight = train([corpus, '--out', run, '--steps', '12', '--eval-every', '3', '--schedule', 'constant']);
    expect(straight.status, straight.stderr).toBe(0);
    reference = weightsFile(run);
  });

  it.each([
    ['after a step, before its checkpoint', 'step-8'],
    ['between the files of a checkpoint', 'checkpoint-weights-written:2'],
    ['after the metadata, before the checksums', 'checkpoint-meta-written:2'],
    ['before the checkpoint is renamed into place', 'checkpoint-before-rename:2'],
    ['before latest and best are moved', 'checkpoint-before-links:2'],
    ['with a new link made but not yet renamed over latest', 'checkpoint-latest-link-created:2'],
  ])('%s: latest still loads, and --resume finishes exactly as an uninterrupted run', (_, point) => {
    const run = path.join(work, `killed-${point.replace(/\W/g, '-')}`);
    const killed = train([corpus, '--out', run, '--steps', '12', '--eval-every', '3', '--schedule', 'constant'], { RNN_TRAIN_KILL_AT: point });
    expect(killed.signal).toBe('SIGKILL');
    expect(latest(run).progress.step).toBe(point === 'step-8' ? 6 : 3);
    // The dead trainer's lock is still there; --resume takes it over.
    expect(fs.existsSync(path.join(run, 'lock'))).toBe(true);
    const resumed = cli('rnn-train', ['--resume', run]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .* at step \d+/);
    expect(latest(run).progress.step).toBe(12);
    expect(weightsFile(run).equals(reference)).toBe(true);
    expect(fs.existsSync(path.join(run, 'lock'))).toBe(false);
    // Nothing half-written is left behind.
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((entry) => entry.startsWith('.'))).toEqual([]);
    expect(fs.readdirSync(run).sort()).toEqual(['best', 'checkpoints', 'latest', 'loss.svg', 'metrics.jsonl']);
  });

  it('from outside, at moments of its choosing while checkpoints are written every step', async () => {
    for (const delay of [0, 40, 130, 270]) {
      const run = path.join(work, `outside-${delay}`);
      const trainer = startCli('rnn-train', [corpus, '--out', run, '--steps', '100000', '--eval-every', '1', ...small]);
      const deadline = Date.now() + 60_000;
      while (!fs.existsSync(path.join(run, 'latest')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, delay));
      trainer.child.kill('SIGKILL');
      await trainer.exited;
      const step = latest(run).progress.step;
      expect(step).toBeGreaterThanOrEqual(1);
      const resumed = cli('rnn-train', ['--resume', run, '--steps', String(step + 2)]);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(latest(run).progress.step).toBe(step + 2);
    }
  });
});

describe('signals', () => {
  it('SIGTERM saves a checkpoint and exits 143 with a line saying how to continue', async () => {
    const run = path.join(work, 'terminated');
    const trainer = startCli('rnn-train', [corpus, '--out', run, '--steps', '100000', '--eval-every', '100000', ...small]);
    await trainer.waitFor(/step 1\//);
    trainer.child.kill('SIGTERM');
    const { code } = await trainer.exited;
    expect(code).toBe(143);
    const { stderr } = trainer.output();
    expect(stderr.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(`^stopped by SIGTERM after \\d+ steps .*; not validated yet; continue with: npx rnn-train --resume ${run}$`),
    );
    expect(latest(run).progress.step).toBeGreaterThanOrEqual(1);
  });

  it('a stream of signals during training corrupts nothing: training goes on, and SIGINT then saves and exits 130', async () => {
    // Large enough products for TensorFlow's oneDNN JIT kernels, which a signal handled on their
    // thread used to corrupt the heap from ("corrupted size vs. prev_size" within a few signals).
    const run = path.join(work, 'signalled');
    const listener = path.join(import.meta.dirname, 'fixtures', 'signal-listener.cjs');
    const trainer = startCli('rnn-train', [corpus, '--out', run, '--steps', '100000', '--eval-every', '100000', '--seed', '5', '--backend', testBackend()], {
      NODE_OPTIONS: `--require ${listener}`,
    });
    await trainer.waitFor(/step 1\//);
    for (let sent = 0; sent < 1000 && trainer.child.exitCode === null; sent++) {
      trainer.child.kill('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    trainer.child.kill('SIGINT');
    const { code, signal } = await trainer.exited;
    const { stderr } = trainer.output();
    expect({ code, signal }, stderr).toEqual({ code: 130, signal: null });
    expect(Number(/SIGUSR2 handled (\d+) times/.exec(stderr)?.[1])).toBeGreaterThan(100);
    expect(stderr).toMatch(new RegExp(`stopped by SIGINT after \\d+ steps .*; continue with: npx rnn-train --resume ${run}\n`));
    expect(latest(run).progress.step).toBeGreaterThanOrEqual(1);
  });
});

describe('NaN or infinite loss', () => {
  it('stops with a clear message and keeps the last good checkpoint', () => {
    const run = path.join(work, 'nan-stop');
    const result = train([corpus, '--out', run, '--steps', '20', '--eval-every', '2'], { RNN_TRAIN_NAN_AT_STEP: '5' });
    expect(result.status).toBe(1);
    expect(lastLine(result)).toMatch(
      /^rnn-train: error: training diverged at step 5 \(loss NaN\); the last good checkpoint is kept in .*latest\. Try a lower --lr or --clip, or --on-nan rollback$/,
    );
    expect(latest(run).progress.step).toBe(4);
  });

  it('stops on a real divergence too (SGD with an absurd learning rate), before any checkpoint', () => {
    // 3e38, near float32's largest: the first update overflows the weights. (At 1e37 the native
    // kernels, whose σ and tanh saturate exactly, stay finite, if absurd, for 20 steps.)
    const result = train([corpus, '--out', path.join(work, 'nan-real'), '--steps', '20', '--optimizer', 'sgd', '--lr', '3e38', '--clip', '1e30']);
    expect(result.status).toBe(1);
    expect(lastLine(result)).toMatch(/^rnn-train: error: training diverged at step \d+ \(loss (NaN|Infinity)\); no checkpoint had been saved yet/);
  });

  it('--on-nan rollback before any checkpoint starts again from the initial weights', () => {
    const run = path.join(work, 'nan-rollback-early');
    const result = train([corpus, '--out', run, '--steps', '6', '--eval-every', '100', '--on-nan', 'rollback'], { RNN_TRAIN_NAN_AT_STEP: '3' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: training diverged at step 3 \(loss NaN\); rolled back to step 0 and halved the learning rate/);
    const saved = latest(run);
    expect(saved.progress.step).toBe(6);
    expect(saved.progress.history.train.map(([step]) => step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('--on-nan rollback reloads the last checkpoint, halves the learning rate and goes on', () => {
    const run = path.join(work, 'nan-rollback');
    const result = train([corpus, '--out', run, '--steps', '10', '--eval-every', '2', '--on-nan', 'rollback'], { RNN_TRAIN_NAN_AT_STEP: '5' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /warning: training diverged at step 5 \(loss NaN\); rolled back to step 4 and halved the learning rate \(now 0\.5 × the schedule's\)/,
    );
    const saved = latest(run);
    expect(saved.progress.step).toBe(10);
    expect(saved.progress.learningRateScale).toBe(0.5);
    expect(saved.options.onNan).toBe('rollback');
  });
});

describe('two trainers, one directory', () => {
  it('the second refuses while the first is alive', async () => {
    const run = path.join(work, 'shared');
    const first = startCli('rnn-train', [corpus, '--out', run, '--steps', '100000', '--eval-every', '100000', ...small]);
    await first.waitFor(/step 1\//);
    const second = train([corpus, '--out', run, '--steps', '5']);
    expect(second.status).toBe(1);
    expect(second.stderr.trim()).toMatch(
      new RegExp(
        `^rnn-train: error: ${run} is in use by another rnn-train \\(pid ${first.child.pid}, since .*\\); wait for it to finish, stop it, or choose another --out$`,
      ),
    );
    const resume = cli('rnn-train', ['--resume', run]);
    expect(resume.status).toBe(1);
    first.child.kill('SIGINT');
    expect((await first.exited).code).toBe(130);
  });

  it('a stale lock from a dead process is taken over', () => {
    const run = path.join(work, 'stale');
    fs.mkdirSync(run);
    const dead = spawnSync('true');
    fs.writeFileSync(path.join(run, 'lock'), JSON.stringify({ pid: dead.pid, host: 'here', started: 'earlier' }));
    const result = train([corpus, '--out', run, '--steps', '2']);
    expect(result.status, result.stderr).toBe(0);
    expect(fs.existsSync(path.join(run, 'lock'))).toBe(false);
  });
});

describe('resume refuses what it cannot continue', () => {
  const run = path.join(work, 'to-resume');
  beforeAll(() => expect(train([corpus, '--out', run, '--steps', '4', '--eval-every', '2']).status).toBe(0));

  it('flags that contradict the saved configuration, listing every difference', () => {
    const result = cli('rnn-train', ['--resume', run, '--hidden', '32', '--weight-drop', '0.3', '--lr', '0.1', '--seq-len', '20', '--steps', '8']);
    expect(result.status).toBe(1);
    expect(lastLine(result)).toBe(
      'rnn-train: error: --resume continues a run as it was configured, but these flags differ: --hidden 32 (the run has 16), --weight-drop 0.3 (the run has 0), --lr 0.1 (the run has 0.003); ' +
        'only --epochs, --steps, --time-budget, --eval-every, --on-nan, --tensorboard, --sample-every, --sample-length, --sample-prime and --backend may change',
    );
  });

  it('a run that has already reached its end', () => {
    expect(lastLine(cli('rnn-train', ['--resume', run]))).toMatch(/the run already reached its end at step 4; give a larger --steps/);
  });

  it('a different corpus', () => {
    const other = path.join(work, 'other.txt');
    fs.writeFileSync(other, nestedBrackets(8000, 99));
    expect(lastLine(cli('rnn-train', [other, '--resume', run, '--steps', '8']))).toMatch(/other\.txt is not the text this run was trained on/);
  });

  it('a corpus that has moved, saying how to give its new path', () => {
    const moved = path.join(work, 'moved');
    const copy = path.join(work, 'moved-corpus.txt');
    fs.copyFileSync(corpus, copy);
    expect(train([copy, '--out', moved, '--steps', '2']).status).toBe(0);
    fs.renameSync(copy, `${copy}.elsewhere`);
    expect(lastLine(cli('rnn-train', ['--resume', moved, '--steps', '4']))).toMatch(/the run's corpus .*moved-corpus\.txt is gone; give its new path first/);
    const resumed = cli('rnn-train', [`${copy}.elsewhere`, '--resume', moved, '--steps', '4']);
    expect(resumed.status, resumed.stderr).toBe(0);
  });

  it('a directory without a run, and a corrupt latest checkpoint, naming the file', () => {
    expect(lastLine(cli('rnn-train', ['--resume', work]))).toMatch(/holds no checkpoint to resume/);
    const damaged = path.join(work, 'damaged');
    fs.cpSync(run, damaged, { recursive: true, verbatimSymlinks: true });
    const state = path.join(damaged, 'latest', 'training-state.bin');
    const bytes = fs.readFileSync(state);
    bytes[0] ^= 0xff;
    fs.writeFileSync(state, bytes);
    expect(lastLine(cli('rnn-train', ['--resume', damaged, '--steps', '8']))).toMatch(/corrupt checkpoint .*training-state\.bin does not match its checksum/);
  });
});

// A real full disk: a 2 MB tmpfs. Mounting needs root, which CI has; elsewhere these are skipped.
const mountPoint = path.join(work, 'small-disk');
fs.mkdirSync(mountPoint);
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]).status === 0;
afterAll(() => void (mounted && spawnSync('umount', ['-l', mountPoint])));

describe.runIf(mounted)('a full disk', () => {
  it('is detected before training when the checkpoints cannot fit', () => {
    const result = train([corpus, '--out', path.join(mountPoint, 'big'), '--hidden', '256', '--steps', '2']);
    expect(result.status).toBe(1);
    expect(lastLine(result)).toMatch(
      /^rnn-train: error: not enough free space for checkpoints in .*big: they need about [\d.]+ MB, [\d.]+ MB is free; free some space or choose another --out$/,
    );
  });

  it('a checkpoint write that fails keeps the previous checkpoint intact and says so', async () => {
    const run = path.join(mountPoint, 'filling');
    const trainer = startCli('rnn-train', [corpus, '--out', run, '--steps', '1000', '--eval-every', '3', ...small]);
    await trainer.waitFor(/step 1\//);
    while (!fs.existsSync(path.join(run, 'latest'))) await new Promise((r) => setTimeout(r, 20));
    const kept = fs.readlinkSync(path.join(run, 'latest'));
    const filler = path.join(mountPoint, 'filler');
    fs.writeFileSync(filler, '');
    try {
      for (;;) fs.appendFileSync(filler, Buffer.alloc(64 << 10));
    } catch {
      // ENOSPC: the disk is full now.
    }
    await trainer.waitFor(/could not write checkpoint/);
    trainer.child.kill('SIGINT');
    const { code } = await trainer.exited;
    const { stderr } = trainer.output();
    expect(stderr).toMatch(
      /warning: could not write checkpoint .* \(ENOSPC: no space left on device\); the previous checkpoint checkpoints\/step-\d+ is intact; training goes on/,
    );
    // The save at Ctrl-C fails too: that is an error, and the run exits 1 saying what is kept.
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^rnn-train: error: could not write checkpoint .*; the previous checkpoint checkpoints\/step-\d+ is intact$/,
    );
    fs.rmSync(filler);
    expect(readCheckpoint(path.join(run, 'latest')).progress.step).toBeGreaterThanOrEqual(3);
    expect(fs.readlinkSync(path.join(run, 'latest')).startsWith('checkpoints/step-')).toBe(true);
    expect(kept).toMatch(/^checkpoints\/step-/);
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((entry) => entry.startsWith('.'))).toEqual([]);
    // The log stays valid JSON Lines, and a failure to write it is said at most once.
    for (const line of fs.readFileSync(path.join(run, 'metrics.jsonl'), 'utf8').trimEnd().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
    expect(stderr.match(/could not write metrics\.jsonl/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it('an output directory on a read-only file system is refused at once, leaving nothing behind', () => {
    const readOnly = path.join(work, 'read-only');
    fs.mkdirSync(readOnly);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly]).status).toBe(0);
    try {
      const result = train([corpus, '--out', path.join(readOnly, 'runs', 'x'), ...small]);
      expect(result.status).toBe(1);
      expect(lastLine(result)).toMatch(
        /^rnn-train: error: cannot create .*read-only\/runs\/x: .*read-only is on a read-only file system; choose another --out$/,
      );
      expect(fs.readdirSync(readOnly)).toEqual([]);
    } finally {
      spawnSync('umount', ['-l', readOnly]);
    }
  });
});
