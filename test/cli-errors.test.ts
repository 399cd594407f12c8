import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, testBackend, type CliResult } from './helpers.js';

const work = tempDir();
const file = (name: string, content: string | Uint8Array) => {
  const p = path.join(work, name);
  fs.writeFileSync(p, content);
  return p;
};
const goodCorpus = file('good.txt', 'the quick brown fox jumps over the lazy dog\n'.repeat(40));
const run = path.join(work, 'run');
const backend = ['--backend', testBackend()];
const tiny = ['--layers', '1', '--hidden', '8', '--embedding', '4', '--seq-len', '10', '--batch-size', '4', ...backend];

/** One line on stderr, saying `pattern`, a non-zero exit, and no stack trace. */
function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.status, result.stderr).not.toBe(0);
  expect(result.status).not.toBeNull();
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stdout).toBe('');
}

beforeAll(() => {
  const trained = cli('rnn-train', [goodCorpus, '--out', run, '--steps', '2', '--eval-every', '2', '--seed', '1', ...tiny]);
  if (trained.status !== 0) throw new Error(trained.stderr);
});

describe('rnn-train refuses bad input with one clear line', () => {
  it.each<[string, () => string[], RegExp]>([
    [
      'a missing file',
      () => [path.join(work, 'nope.txt')],
      /^rnn-train: error: corpus file not found: .*nope\.txt; give the path of a UTF-8 text file \(rnn-train ships one: data\/tinyshakespeare\.txt\)$/,
    ],
    ['a directory', () => [work], /is a directory; give the path of a text file/],
    ['an empty file', () => [file('empty.txt', '')], /is empty/],
    ['a binary file', () => [file('binary.bin', Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 0, 0]))], /looks like a binary file/],
    ['non-UTF-8 text', () => [file('latin1.txt', Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6e, 0xe9]))], /is not valid UTF-8 text/],
    [
      'a corpus too small for batch × seq',
      () => [file('small.txt', 'hello world, hello'), '--batch-size', '8', '--seq-len', '10'],
      /too small for --batch-size 8 × --seq-len 10; it needs at least 81 characters/,
    ],
    ['a non-numeric flag', () => [goodCorpus, '--lr', 'fast'], /option '--lr <rate>' argument 'fast' is invalid\. expected a number > 0/],
    ['a zero size', () => [goodCorpus, '--hidden', '0'], /--hidden <n>' argument '0' is invalid\. expected a whole number ≥ 1/],
    ['a negative size', () => [goodCorpus, '--batch-size', '-4'], /--batch-size <n>' argument '-4' is invalid/],
    ['a fractional size', () => [goodCorpus, '--layers', '1.5'], /--layers <n>' argument '1\.5' is invalid/],
    ['lr = 0', () => [goodCorpus, '--lr', '0'], /--lr <rate>' argument '0' is invalid/],
    ['dropout = 1', () => [goodCorpus, '--dropout', '1'], /--dropout <rate>' argument '1' is invalid\. expected a number ≥ 0 and < 1/],
    ['input dropout = 1', () => [goodCorpus, '--input-dropout', '1'], /--input-dropout <rate>' argument '1' is invalid\. expected a number ≥ 0 and < 1/],
    ['weight drop = 1', () => [goodCorpus, '--weight-drop', '1'], /--weight-drop <rate>' argument '1' is invalid\. expected a number ≥ 0 and < 1/],
    [
      'more replicas than streams',
      () => [goodCorpus, '--replicas', '9', '--batch-size', '8'],
      /--replicas 9 is more than the 8 streams of --batch-size; each replica needs at least one stream/,
    ],
    ['an EMA decay of 1', () => [goodCorpus, '--ema', '1'], /--ema <decay>' argument '1' is invalid\. expected a number ≥ 0 and < 1/],
    ['an unknown optimizer', () => [goodCorpus, '--optimizer', 'lbfgs'], /argument 'lbfgs' is invalid\. Allowed choices are adam, rmsprop, sgd/],
    ['an unknown flag', () => [goodCorpus, '--hiden', '3'], /unknown option '--hiden'/],
    ['no corpus at all', () => [], /missing required argument 'corpus'/],
    [
      'an output directory that already holds a run',
      () => [goodCorpus, '--out', run],
      /already holds a training run; continue it with --resume .*run, choose another --out, or delete it/,
    ],
    [
      'a time budget without a unit',
      () => [goodCorpus, '--time-budget', '10'],
      /--time-budget <duration>' argument '10' is invalid\. expected a duration such as 10m, 90s or 1h30m/,
    ],
    ['a zero time budget', () => [goodCorpus, '--time-budget', '0m'], /--time-budget <duration>' argument '0m' is invalid/],
    ['an unknown schedule', () => [goodCorpus, '--schedule', 'linear'], /argument 'linear' is invalid\. Allowed choices are cosine, constant, decay/],
    ['an unknown preset', () => [goodCorpus, '--preset', 'huge'], /argument 'huge' is invalid\. Allowed choices are tiny, small/],
    ['an unknown NaN policy', () => [goodCorpus, '--on-nan', 'ignore'], /argument 'ignore' is invalid\. Allowed choices are stop, rollback/],
    ['a decay factor above 1', () => [goodCorpus, '--lr-decay', '1.5'], /--lr-decay <factor>' argument '1\.5' is invalid/],
    [
      'UTF-16 text',
      () => [file('utf16.txt', Buffer.from('\ufeffhello world, hello world', 'utf16le'))],
      /is UTF-16 text \(it starts with a UTF-16 byte-order mark\); convert it to UTF-8 first: iconv -f UTF-16 -t UTF-8 .*utf16\.txt > converted\.txt$/,
    ],
    [
      'a one-character file',
      () => [file('one.txt', 'a'), '--val-frac', '0'],
      /^rnn-train: error: the training text has 1 character; a model needs at least 2 \(one to read, one to predict\): give a longer text$/,
    ],
  ])('%s', (_, args, pattern) => {
    const unused = path.join(work, 'unused');
    expectOneLineError(cli('rnn-train', [...args(), ...(args().includes('--out') ? [] : ['--out', unused])]), pattern);
    // A run that never saved a checkpoint leaves nothing behind.
    expect(fs.existsSync(unused)).toBe(false);
  });

  it('an absurd learning rate gets a warning before training', () => {
    const result = cli('rnn-train', [goodCorpus, '--lr', '1e9', '--steps', '1', '--out', path.join(work, 'absurd-lr'), ...tiny]);
    expect(result.stderr).toMatch(/^warning: --lr 1000000000 is far above what trains with adam \(usually 1e-4 to 1e-2\); expect the loss to diverge$/m);
  });

  it('advice for a text too small for the batch that works when followed', () => {
    const small = file('small-advised.txt', 'hello world, hello');
    const train = (batch: string, seqLen: string) =>
      cli('rnn-train', [
        small,
        '--batch-size',
        batch,
        '--seq-len',
        seqLen,
        '--val-frac',
        '0',
        '--steps',
        '1',
        '--out',
        path.join(work, 'advised'),
        ...tiny.slice(0, 6),
        ...backend,
      ]);
    const refused = train('8', '10');
    expect(refused.status).toBe(1);
    const [, batch, seqLen] = /or use e\.g\. --batch-size (\d+) --seq-len (\d+)$/m.exec(refused.stderr)!;
    const followed = train(batch, seqLen);
    expect(followed.status, followed.stderr).toBe(0);
  });

  it('an output directory under a file, before any training', () => {
    const blocker = file('blocker', 'a file where a directory should be');
    expectOneLineError(
      cli('rnn-train', [goodCorpus, '--out', path.join(blocker, 'run'), ...tiny]),
      /^rnn-train: error: cannot create .*blocker\/run: .*blocker is a file, not a directory; choose another --out$/,
    );
  });

  it('an output directory under /proc, which fails at once rather than spin', () => {
    expectOneLineError(
      cli('rnn-train', [goodCorpus, '--out', '/proc/x/run', ...tiny]),
      /^rnn-train: error: cannot create \/proc\/x\/run: \/proc does not accept new directories \(\/proc\/x\/run cannot exist there\); choose another --out$/,
    );
  });

  it('an output directory behind a dangling symbolic link, naming the link', () => {
    const link = path.join(work, 'unmounted');
    fs.symlinkSync('/mnt/no-such-disk/runs', link);
    expectOneLineError(
      cli('rnn-train', [goodCorpus, '--out', path.join(link, 'run'), ...tiny]),
      /^rnn-train: error: cannot create .*unmounted\/run: .*unmounted is a symbolic link to \/mnt\/no-such-disk\/runs, which does not exist \(is a disk not mounted\?\); choose another --out$/,
    );
    expect(fs.readlinkSync(link)).toBe('/mnt/no-such-disk/runs');
  });
});

describe('rnn-sample refuses bad input with one clear line', () => {
  const copyRun = (name: string) => {
    const target = path.join(work, name);
    fs.cpSync(fs.realpathSync(path.join(run, 'best')), target, { recursive: true });
    return target;
  };

  it.each<[string, () => string[], RegExp]>([
    ['a missing checkpoint', () => [path.join(work, 'no-such-run')], /^rnn-sample: error: checkpoint not found: .*no-such-run$/],
    ['a directory without checkpoints', () => [fs.mkdtempSync(path.join(work, 'empty-'))], /holds no checkpoint; give a run directory written by rnn-train/],
    ['a file instead of a checkpoint', () => [goodCorpus], /is not a checkpoint/],
    [
      'an incomplete checkpoint',
      () => {
        const dir = copyRun('incomplete');
        fs.rmSync(path.join(dir, 'weights.bin'));
        return [dir];
      },
      /incomplete checkpoint .*weights\.bin is missing/,
    ],
    [
      'a corrupt checkpoint',
      () => {
        const dir = copyRun('corrupt');
        const bytes = fs.readFileSync(path.join(dir, 'weights.bin'));
        bytes[7] ^= 1;
        fs.writeFileSync(path.join(dir, 'weights.bin'), bytes);
        return [dir];
      },
      /corrupt checkpoint .*weights\.bin does not match its checksum/,
    ],
    [
      'garbage checkpoint metadata',
      () => {
        const dir = copyRun('garbage');
        fs.writeFileSync(path.join(dir, 'checkpoint.json'), 'not json');
        return [dir];
      },
      /corrupt checkpoint .*checkpoint\.json does not match its checksum/,
    ],
    ['a negative temperature', () => [run, '--temperature', '-1'], /--temperature <t>' argument '-1' is invalid\. expected a number ≥ 0/],
    ['a non-numeric length', () => [run, '--length', 'lots'], /--length <n>' argument 'lots' is invalid/],
    ['a prime with unknown characters', () => [run, '--prime', 'fox😀Z'], /prime contains characters that are not in the model's vocabulary: "😀", "Z"/],
  ])('%s', (_, args, pattern) => {
    expectOneLineError(cli('rnn-sample', [...args(), ...backend]), pattern);
  });
});
