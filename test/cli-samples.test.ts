import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { nestedBrackets } from '../src/index.js';
import { cli, tempDir, testBackend } from './helpers.js';

const work = tempDir();
const corpus = path.join(work, 'brackets.txt');
fs.writeFileSync(corpus, nestedBrackets(20_000, 4));
// A constant rate, so that a run stopped and resumed takes the steps of one that never stopped.
const flags = ['--layers', '1', '--hidden', '16', '--embedding', '4', '--seq-len', '10', '--batch-size', '8', '--dropout', '0.2', '--schedule', 'constant'];
const seeded = [...flags, '--seed', '3', '--backend', testBackend()];

/** The bytes of what decides the next step: weights, optimizer slots and carried state, and the generator's state. */
function runState(run: string): { weights: Buffer; state: Buffer; rngState: number } {
  const latest = path.join(run, 'latest');
  const meta = JSON.parse(fs.readFileSync(path.join(latest, 'checkpoint.json'), 'utf8')) as { progress: { rngState: number } };
  return {
    weights: fs.readFileSync(path.join(latest, 'weights.bin')),
    state: fs.readFileSync(path.join(latest, 'training-state.bin')),
    rngState: meta.progress.rngState,
  };
}

function events(run: string, kind: string): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((event) => event.event === kind);
}

describe('samples while training', () => {
  it('do not disturb training: the same weights, optimizer state, carried state and generator as without them, resumed or not', () => {
    const plain = path.join(work, 'plain');
    expect(cli('rnn-train', [corpus, '--out', plain, '--steps', '8', '--eval-every', '4', ...seeded]).status).toBe(0);
    const sampled = path.join(work, 'sampled');
    const first = cli('rnn-train', [corpus, '--out', sampled, '--steps', '4', '--eval-every', '4', '--sample-every', '2', '--sample-length', '40', ...seeded]);
    expect(first.status, first.stderr).toBe(0);
    const resumed = cli('rnn-train', ['--resume', sampled, '--steps', '8', '--sample-every', '3']);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(runState(sampled)).toEqual(runState(plain));
    expect(events(plain, 'sample')).toEqual([]);
    expect(events(sampled, 'sample').map((event) => event.step)).toEqual([2, 4, 6]);
  });

  it('show above the progress lines what rnn-sample writes with the same seed from that checkpoint', () => {
    const run = path.join(work, 'shown');
    const trained = cli('rnn-train', [corpus, '--out', run, '--steps', '4', '--eval-every', '4', '--sample-every', '4', '--sample-length', '50', ...seeded]);
    expect(trained.status, trained.stderr).toBe(0);
    const [sample] = events(run, 'sample') as { step: number; seed: number; text: string }[];
    expect(sample.step).toBe(4);
    expect([...sample.text]).toHaveLength(50);
    expect(trained.stderr).toContain(`sample at step 4 (seed ${sample.seed}):\n  ${sample.text.split('\n')[0]}`);
    const again = cli('rnn-sample', [path.join(run, 'latest'), '--seed', String(sample.seed), '--length', '50', '--backend', testBackend()]);
    expect(again.stdout).toBe(`${sample.text}\n`);
  });

  it('are off by default when stderr is not a terminal', () => {
    const run = path.join(work, 'default');
    expect(cli('rnn-train', [corpus, '--out', run, '--steps', '4', '--eval-every', '2', ...seeded]).status).toBe(0);
    expect(events(run, 'sample')).toEqual([]);
  });
});
