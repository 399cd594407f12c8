import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, nestedBrackets } from '../src/index.js';
import { cli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const small = ['--layers', '2', '--hidden', '16', '--embedding', '4', '--seq-len', '20', '--batch-size', '8', '--seed', '1', '--backend', backend];

beforeAll(() => fs.writeFileSync(corpus, nestedBrackets(6000, 2)));

const train = (out: string, ...args: string[]) => cli('rnn-train', [corpus, '--out', path.join(work, out), ...small, ...args]);

describe(`--cell, --weight-decay and the size hint (${backend})`, () => {
  it.each([
    ['gru', 'GRU', 3],
    ['rnn', 'RNN', 1],
  ] as const)('--cell %s trains a stacked %s, saves it as such and samples from it', (cell, label, gates) => {
    const result = train(cell, '--cell', cell, '--steps', '4', '--eval-every', '4');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`model: 2×16 ${label}, embedding 4,`);
    const checkpoint = readCheckpoint(path.join(work, cell, 'latest'));
    expect(checkpoint.model.cell).toBe(cell);
    expect(checkpoint.weights.get(`${cell}_2/recurrent_kernel`)).toHaveLength(16 * gates * 16);
    const sampled = cli('rnn-sample', [path.join(work, cell), '-n', '50', '--seed', '1', '--backend', backend]);
    expect(sampled.status, sampled.stderr).toBe(0);
    expect([...sampled.stdout.trim()].every((ch) => '()<>[]{}\n '.includes(ch) || /\s/.test(ch))).toBe(true);
    const resumed = cli('rnn-train', ['--resume', path.join(work, cell), '--cell', 'lstm', '--steps', '6', '--backend', backend]);
    expect(resumed.stderr).toContain(`--cell lstm (the run has ${cell})`);
  });

  it('--weight-decay shrinks the weight matrices and leaves the biases to the gradient alone', () => {
    expect(train('no-decay', '--steps', '5', '--lr', '1e-9', '--schedule', 'constant').status).toBe(0);
    expect(train('decay', '--steps', '5', '--lr', '1e-9', '--schedule', 'constant', '--weight-decay', '2e7').status).toBe(0);
    const plain = readCheckpoint(path.join(work, 'no-decay', 'latest'));
    const decayed = readCheckpoint(path.join(work, 'decay', 'latest'));
    expect(decayed.training.weightDecay).toBe(2e7);
    // With a vanishing learning rate only the decay moves weights: by (1 − lr·λ) = 0.98 per step.
    for (const [name, values] of plain.weights) {
      const other = decayed.weights.get(name)!;
      if (name.endsWith('/bias')) values.forEach((v, i) => expect(Math.abs(other[i] - v), name).toBeLessThan(1e-6));
      else values.forEach((v, i) => expect(other[i], name).toBeCloseTo(v * 0.98 ** 5, 6));
    }
  });

  it('--schedule, --warmup, --lr-decay and --lr-decay-after set the learning rate of every step (as metrics.jsonl and the progress lines show it)', () => {
    const rates = (out: string) =>
      fs
        .readFileSync(path.join(work, out, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line))
        .filter((e) => e.event === 'step');
    // 5,400 training characters in 8 streams of 20: 33 steps per epoch.
    expect(train('decay-schedule', '--steps', '70', '--lr', '0.01', '--schedule', 'decay', '--lr-decay', '0.5', '--lr-decay-after', '1').status).toBe(0);
    for (const { step, epoch, learningRate } of rates('decay-schedule'))
      expect(learningRate, `step ${step}`).toBeCloseTo(0.01 * 0.5 ** Math.max(0, epoch - 1), 12);
    expect(rates('decay-schedule').at(-1).epoch).toBe(3);
    const warm = train('warm-cosine', '--steps', '10', '--lr', '0.01', '--warmup', '4');
    const cosine = rates('warm-cosine').map((e) => e.learningRate);
    cosine.slice(0, 4).forEach((lr, i) => expect(lr).toBeCloseTo(0.01 * ((i + 1) / 4) * (0.1 + 0.45 * (1 + Math.cos((Math.PI * i) / 10))), 12));
    expect(cosine[9]).toBeCloseTo(0.01 * (0.1 + 0.45 * (1 + Math.cos((Math.PI * 9) / 10))), 12);
    expect(warm.stderr).toMatch(/lr \d\.\d\de-3/);
  });

  it('--preset medium and large fill in their sizes; explicit flags still win', () => {
    for (const [preset, layers, embedding, dropout, lr] of [
      ['medium', 3, 128, 0.2, 1.5e-3],
      ['large', 3, 128, 0.1, 1e-3],
    ] as const) {
      const result = cli('rnn-train', [
        corpus,
        '--out',
        path.join(work, preset),
        '--preset',
        preset,
        '--hidden',
        '8',
        '--seq-len',
        '10',
        '--steps',
        '1',
        '--backend',
        backend,
      ]);
      expect(result.status, result.stderr).toBe(0);
      const checkpoint = readCheckpoint(path.join(work, preset, 'latest'));
      expect(checkpoint.model).toMatchObject({ layers, hiddenSize: 8, embeddingSize: embedding, dropout });
      expect(checkpoint.training).toMatchObject({ learningRate: lr, seqLen: 10, batchSize: 32 });
    }
  });

  it('prints a hint when the model is far larger or smaller than the text', () => {
    const big = train('big', '--hidden', '256', '--steps', '1');
    expect(big.stderr).toMatch(/hint: 795 k parameters for 5 k training characters; a model this large for the text will overfit/);
    const fitting = train('fitting', '--steps', '1');
    // No size hint (after one step it gets the hint to train longer, which is not about size).
    expect(fitting.stderr).not.toMatch(/hint: .*parameters for/);
    expect(fitting.stderr).toMatch(/hint: the best validation loss/);
  });

  it('refuses an unknown cell with one line', () => {
    const result = train('bad', '--cell', 'transformer');
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim()).toMatch(/^rnn-train: error: option '--cell <type>' argument 'transformer' is invalid. Allowed choices are lstm, gru, rnn.$/);
  });
});
