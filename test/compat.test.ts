import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT, tempDir } from './helpers.js';

/**
 * test/fixtures/run-v0.1.0 is a run directory written by rnn-train 0.1.0 as of commit 809f190,
 * before src/ was reorganised: `rnn-train data/nested-brackets.txt --layers 1 --hidden 16
 * --embedding 8 --batch-size 4 --seq-len 16 --schedule constant --steps 4 --eval-every 2 --seed 7 --replicas 1`.
 */
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'run-v0.1.0');
const CORPUS = path.join(ROOT, 'data', 'nested-brackets.txt');
const FLAGS = [
  '--layers',
  '1',
  '--hidden',
  '16',
  '--embedding',
  '8',
  '--batch-size',
  '4',
  '--seq-len',
  '16',
  '--schedule',
  'constant',
  '--eval-every',
  '2',
  '--seed',
  '7',
  '--replicas',
  '1',
];

describe('a run written by rnn-train 0.1.0', () => {
  it('resumes exactly: four more steps land on the weights of an uninterrupted eight-step run', () => {
    const work = tempDir();
    const resumed = path.join(work, 'resumed');
    fs.cpSync(FIXTURE, resumed, { recursive: true, verbatimSymlinks: true });
    // The run saved its corpus's absolute path on another machine; the corpus is given again.
    const resume = cli('rnn-train', [CORPUS, '--resume', resumed, '--steps', '8']);
    expect(resume.stderr).toContain('resuming');
    expect(resume.status, resume.stderr).toBe(0);
    const straight = path.join(work, 'straight');
    const fresh = cli('rnn-train', [CORPUS, ...FLAGS, '--steps', '8', '--out', straight]);
    expect(fresh.status, fresh.stderr).toBe(0);
    const weights = (run: string) => fs.readFileSync(path.join(run, 'latest', 'weights.bin'));
    expect(weights(resumed).equals(weights(straight))).toBe(true);
    const sample = cli('rnn-sample', [resumed, '--length', '20', '--seed', '1']);
    expect(sample.status, sample.stderr).toBe(0);
    expect([...sample.stdout].length).toBeGreaterThanOrEqual(20);
  });
});
