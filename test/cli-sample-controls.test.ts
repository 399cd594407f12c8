import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { nestedBrackets } from '../src/index.js';
import { cli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const run = path.join(work, 'run');
const small = ['--layers', '1', '--hidden', '16', '--embedding', '4', '--seq-len', '20', '--batch-size', '8', '--backend', backend];

beforeAll(() => {
  fs.writeFileSync(corpus, nestedBrackets(6000, 2));
  const trained = cli('rnn-train', [corpus, '--out', run, '--steps', '150', '--eval-every', '150', '--lr', '1e-2', '--seed', '1', ...small]);
  if (trained.status !== 0) throw new Error(`rnn-train failed:\n${trained.stderr}`);
});

const sample = (...args: string[]) => cli('rnn-sample', [run, '--backend', backend, ...args]);

describe(`rnn-sample controls (${backend})`, () => {
  it('--argmax, --temperature 0, --top-k 1 and a tiny --top-p all take the likeliest character', () => {
    const argmax = sample('-n', '60', '--argmax', '--seed', '1');
    expect(argmax.status, argmax.stderr).toBe(0);
    expect(sample('-n', '60', '-t', '0', '--seed', '2').stdout).toBe(argmax.stdout);
    expect(sample('-n', '60', '--top-k', '1', '--seed', '3').stdout).toBe(argmax.stdout);
    expect(sample('-n', '60', '--top-p', '0.001', '--seed', '4').stdout).toBe(argmax.stdout);
    // Without a cut, a draw differs from the argmax.
    expect(sample('-n', '60', '-t', '1.5', '--seed', '4').stdout).not.toBe(argmax.stdout);
  });

  it('--count N gives N samples separated by a blank line, with seeds seed, seed+1, …', () => {
    const three = sample('-n', '40', '--count', '3', '--seed', '10');
    expect(three.status, three.stderr).toBe(0);
    const singles = [10, 11, 12].map((seed) => sample('-n', '40', '--seed', String(seed)).stdout);
    expect(three.stdout).toBe(singles.join('\n'));
    expect(new Set(singles).size).toBe(3);
  });

  it('--count N draws its samples together, each the sample its seed gives alone, to the last bit of its log-probability', () => {
    // --stop ends the samples at different lengths, so the later ones wait for the first.
    const args = ['-n', '150', '--stop', ')', '--top-p', '0.95', '-t', '1.2', '--json'];
    const batch = sample(...args, '--count', '6', '--seed', '30');
    expect(batch.status, batch.stderr).toBe(0);
    const singles = [30, 31, 32, 33, 34, 35].map((seed) => sample(...args, '--seed', String(seed)).stdout);
    expect(batch.stdout).toBe(singles.join(''));
    expect(new Set(singles.map((line) => (JSON.parse(line) as { characters: number }).characters)).size).toBeGreaterThan(1);
  });

  it('--stop ends a sample as soon as it produces the text, which is kept', () => {
    const full = sample('-n', '300', '--seed', '5').stdout;
    const at = full.indexOf(')', 0);
    expect(at).toBeGreaterThan(0);
    const stopped = sample('-n', '300', '--seed', '5', '--stop', ')');
    expect(stopped.status, stopped.stderr).toBe(0);
    expect(stopped.stdout).toBe(`${full.slice(0, at + 1)}\n`);
  });

  it('--prime - reads the prime from standard input, --prime-file from a file', () => {
    const direct = sample('-n', '30', '--seed', '6', '--prime', '(<{\n');
    const piped = cli('rnn-sample', [run, '--backend', backend, '-n', '30', '--seed', '6', '--prime', '-'], { input: '(<{\n' });
    const file = path.join(work, 'prime.txt');
    fs.writeFileSync(file, '(<{\n');
    const fromFile = sample('-n', '30', '--seed', '6', '--prime-file', file);
    expect(direct.stdout.startsWith('(<{\n')).toBe(true);
    expect(piped.stdout).toBe(direct.stdout);
    expect(fromFile.stdout).toBe(direct.stdout);
  });

  it('--json writes one object per sample with text, seed, flags, checkpoint and mean log-probability', () => {
    const result = sample('-n', '50', '--count', '2', '--seed', '20', '--json', '--top-k', '3', '--prime', '((');
    expect(result.status, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(2);
    const raw = sample('-n', '50', '--seed', '21', '--top-k', '3', '--prime', '((').stdout;
    expect(lines[1].text).toBe(raw.replace(/\n$/, ''));
    expect(lines[1]).toMatchObject({ seed: 21, characters: 50, flags: { topK: 3, temperature: 0.8, prime: '((', length: 50 } });
    expect(fs.realpathSync(lines[0].checkpoint)).toBe(fs.realpathSync(path.join(run, 'best')));
    for (const line of lines) expect(line.meanLogProb).toBeLessThan(0);
    // The model's own log-probability of its choices: highest for the argmax, lower for hot samples.
    const meanLogProb = (...args: string[]) => JSON.parse(sample('-n', '200', '--seed', '1', '--json', ...args).stdout).meanLogProb;
    expect(meanLogProb('--argmax')).toBeGreaterThan(meanLogProb('-t', '1') + 0.1);
    expect(meanLogProb('-t', '1')).toBeGreaterThan(meanLogProb('-t', '3') + 0.1);
  });

  it('refuses bad sampling flags with one line', () => {
    for (const [args, message] of [
      [['--top-p', '1.5'], /--top-p.*expected a number > 0 and ≤ 1/],
      [['--top-k', '0'], /--top-k.*expected a whole number ≥ 1/],
      [['--count', 'x'], /--count.*whole number/],
      [['--prime', 'x', '--prime-file', 'y'], /either with --prime or with --prime-file/],
      [['--prime-file', path.join(work, 'missing.txt')], /cannot read --prime-file .*missing\.txt \(ENOENT\)/],
      [['--prime', 'Z'], /not in the model's vocabulary: "Z"/],
      [['--stop', ''], /--stop needs some text/],
    ] as [string[], RegExp][]) {
      const result = sample(...args);
      expect(result.status, args.join(' ')).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});
