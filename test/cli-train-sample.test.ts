import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nestedBrackets } from '../src/index.js';
import { cli, startCli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const run = path.join(work, 'run');
// Astral characters must survive as single symbols end to end.
const text = nestedBrackets(6000, 2).replace(/\[/g, '😀').replace(/\]/g, '𝄞');
const vocabulary = new Set(text);
const small = ['--layers', '2', '--hidden', '16', '--embedding', '4', '--seq-len', '20', '--batch-size', '8', '--backend', backend];

beforeAll(() => {
  fs.writeFileSync(corpus, text);
  const trained = cli('rnn-train', [corpus, '--out', run, '--steps', '6', '--eval-every', '3', '--seed', '1', ...small]);
  if (trained.status !== 0) throw new Error(`rnn-train failed:\n${trained.stderr}`);
});

describe(`rnn-train then rnn-sample (${backend})`, () => {
  it('trains, logs plain lines to stderr only, and leaves latest and best checkpoints', () => {
    for (const link of ['latest', 'best']) {
      expect(fs.existsSync(path.join(run, link, 'checkpoint.json'))).toBe(true);
      expect(fs.existsSync(path.join(run, link, 'weights.bin'))).toBe(true);
    }
    const meta = JSON.parse(fs.readFileSync(path.join(run, 'latest', 'checkpoint.json'), 'utf8'));
    expect(meta.progress.step).toBe(6);
    expect(meta.vocabulary.sort()).toEqual([...vocabulary].sort());
    expect(meta.progress.history.validation.map((entry: number[]) => entry[0])).toEqual([3, 6]);
  });

  it('prints the backend, validation loss in nats and bits, and no escape codes when not a terminal', () => {
    const again = cli('rnn-train', [corpus, '--out', path.join(work, 'run2'), '--steps', '2', '--eval-every', '2', '--seed', '1', ...small]);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toContain(`backend: ${backend}`);
    expect(again.stderr).toMatch(/validation loss \d+\.\d+ nats\/char \(\d+\.\d+ bits\/char\)/);
    expect(again.stderr).not.toContain('\u001b[');
  });

  it('samples N characters, all from the vocabulary, streamed to stdout', () => {
    const sampled = cli('rnn-sample', [run, '--length', '200', '--seed', '3', '--backend', backend]);
    expect(sampled.status).toBe(0);
    const chars = [...sampled.stdout.replace(/\n$/, '')];
    expect(chars.length).toBe(200);
    for (const ch of chars) expect(vocabulary.has(ch), JSON.stringify(ch)).toBe(true);
  });

  it('echoes the prime, then generates --length more characters', () => {
    const sampled = cli('rnn-sample', [run, '--length', '30', '--prime', '(😀<', '--seed', '3', '--backend', backend]);
    expect(sampled.status).toBe(0);
    expect(sampled.stdout.startsWith('(😀<')).toBe(true);
    expect([...sampled.stdout.replace(/\n$/, '')].length).toBe(3 + 30);
  });

  it('is reproducible: same seed, same text; temperature 0 is argmax whatever the seed', () => {
    const a = cli('rnn-sample', [run, '-n', '100', '--seed', '42', '--backend', backend]);
    const b = cli('rnn-sample', [run, '-n', '100', '--seed', '42', '--backend', backend]);
    const c = cli('rnn-sample', [run, '-n', '100', '--seed', '43', '--backend', backend]);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).not.toBe(c.stdout);
    const cold1 = cli('rnn-sample', [run, '-n', '50', '-t', '0', '--seed', '1', '--backend', backend]);
    const cold2 = cli('rnn-sample', [run, '-n', '50', '-t', '0', '--seed', '2', '--backend', backend]);
    expect(cold1.stdout).toBe(cold2.stdout);
  });

  it('ends quietly when the reader goes away (| head)', async () => {
    const sampler = startCli('rnn-sample', [run, '-n', '1000000', '--seed', '1', '--backend', backend]);
    await new Promise<void>((resolve) => sampler.child.stdout!.once('data', () => resolve()));
    sampler.child.stdout!.destroy();
    const { code } = await sampler.exited;
    expect(code).toBe(0);
    expect(sampler.output().stderr).not.toMatch(/EPIPE|Error|at /);
  });

  it('--time-budget trains for that much training time, then validates and keeps the best checkpoint', () => {
    const out = path.join(work, 'budget');
    const result = cli('rnn-train', [corpus, '--out', out, '--time-budget', '3s', '--eval-every', '1000000', '--seed', '1', ...small]);
    expect(result.status, result.stderr).toBe(0);
    // No step total is known in advance, so the progress lines show steps alone.
    expect(result.stderr).toMatch(/^step 1 epoch 1 train loss/m);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'best', 'checkpoint.json'), 'utf8'));
    expect(meta.options.timeBudgetSeconds).toBe(3);
    expect(meta.progress.trainingSeconds).toBeGreaterThanOrEqual(3);
    const steps = meta.progress.step;
    // It stops at the first step that ends past the budget: the overshoot is one step, a few times
    // the mean step time (trainingSeconds / steps) at worst on a busy machine.
    expect(meta.progress.trainingSeconds - 3).toBeLessThan((5 * meta.progress.trainingSeconds) / steps);
    expect(meta.progress.history.validation.map((entry: number[]) => entry[0])).toEqual([steps]);
    expect(result.stderr).toMatch(new RegExp(`done after ${steps} steps .*, 3s of training in all\\); best validation loss`));
  });

  it('--preset fills in sizes, flags given explicitly win, and a resume holds to them', () => {
    const out = path.join(work, 'preset');
    const args = ['--preset', 'small', '--hidden', '16', '--embedding', '4', '--steps', '1', '--seed', '1', '--backend', backend];
    const result = cli('rnn-train', [corpus, '--out', out, ...args]);
    expect(result.status, result.stderr).toBe(0);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'latest', 'checkpoint.json'), 'utf8'));
    expect(meta.model).toMatchObject({ layers: 2, hiddenSize: 16, embeddingSize: 4, dropout: 0.25 });
    expect(meta.training).toMatchObject({ batchSize: 32, seqLen: 100, learningRate: 2e-3 });
    const resumed = cli('rnn-train', ['--resume', out, '--preset', 'small', '--steps', '2', '--backend', backend]);
    expect(resumed.stderr).toMatch(
      /these flags differ: --hidden 512 from --preset small \(the run has 16\), --embedding 64 from --preset small \(the run has 4\);/,
    );
  });

  it('saves a checkpoint and exits 130 on Ctrl-C', async () => {
    const out = path.join(work, 'interrupted');
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--steps', '100000', '--eval-every', '100000', '--seed', '1', ...small]);
    await trainer.waitFor(/step 1\//);
    trainer.child.kill('SIGINT');
    const { code } = await trainer.exited;
    expect(code).toBe(130);
    expect(trainer.output().stderr).toMatch(/checkpoint saved: .*step-\d+/);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'latest', 'checkpoint.json'), 'utf8'));
    expect(meta.progress.step).toBeGreaterThanOrEqual(1);
  });
});
