import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, splitCorpus, nestedBrackets, Vocabulary } from '../src/index.js';
import { cli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const run = path.join(work, 'run');
const text = nestedBrackets(8000, 3);
const vocabulary = Vocabulary.fromText(text);
// The held-out tail exactly as rnn-train splits it.
const validationText = vocabulary.decode(splitCorpus(vocabulary.encode(text), 0.1).validation);

/** A one-layer model of 16 units that trains in seconds, validated and saved at its last step. */
const TINY_RUN = ['--steps', '40', '--eval-every', '40', '--seed', '1', '--layers', '1', '--hidden', '16', '--embedding', '4'];

beforeAll(() => {
  fs.writeFileSync(corpus, text);
  fs.writeFileSync(path.join(work, 'validation.txt'), validationText);
  const args = [corpus, '--out', run, ...TINY_RUN, '--backend', backend];
  const trained = cli('rnn-train', args);
  if (trained.status !== 0) throw new Error(`rnn-train failed:\n${trained.stderr}`);
});

const evaluate = (...args: string[]) => cli('rnn-eval', [run, ...args, '--backend', backend]);

describe(`rnn-eval (${backend})`, () => {
  it("on the run's own validation text, gives the validation loss training reported", () => {
    const result = evaluate(path.join(work, 'validation.txt'), '--json');
    expect(result.status, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const meta = JSON.parse(fs.readFileSync(path.join(run, 'best', 'checkpoint.json'), 'utf8'));
    const [file] = report.files;
    expect(file.natsPerChar).toBeCloseTo(meta.progress.bestValidationLoss, 5);
    expect(file.bitsPerChar).toBeCloseTo(file.natsPerChar / Math.LN2, 10);
    expect(file.perplexity).toBeCloseTo(Math.exp(file.natsPerChar), 10);
    expect(file.characters).toBe([...validationText].length - 1);
    expect(report).toMatchObject({ batchSize: meta.training.batchSize, seqLen: meta.training.seqLen, total: { characters: file.characters } });
  });

  it('with --ema, the checkpoint holds the averaged weights that were validated, and the training weights apart', () => {
    const averaged = path.join(work, 'averaged');
    const args = [corpus, '--out', averaged, ...TINY_RUN, '--ema', '0.95'];
    const trained = cli('rnn-train', [...args, '--backend', backend]);
    expect(trained.status, trained.stderr).toBe(0);
    const result = cli('rnn-eval', [averaged, path.join(work, 'validation.txt'), '--json', '--backend', backend]);
    expect(result.status, result.stderr).toBe(0);
    const meta = JSON.parse(fs.readFileSync(path.join(averaged, 'best', 'checkpoint.json'), 'utf8'));
    expect(meta.training.emaDecay).toBe(0.95);
    expect(JSON.parse(result.stdout).files[0].natsPerChar).toBeCloseTo(meta.progress.bestValidationLoss, 5);
    const checkpoint = readCheckpoint(path.join(averaged, 'best'));
    for (const [name, values] of checkpoint.weights) {
      const trainingWeights = checkpoint.trainingState.get(`training-weights/${name}`);
      expect(trainingWeights?.length, name).toBe(values.length);
      expect(
        values.some((v, i) => v !== trainingWeights![i]),
        name,
      ).toBe(true);
    }
  });

  it('counts and reports characters outside the vocabulary, and scores the rest', () => {
    const clean = path.join(work, 'clean.txt');
    const dirty = path.join(work, 'dirty.txt');
    const sample = validationText.slice(0, 3000);
    fs.writeFileSync(clean, sample);
    fs.writeFileSync(dirty, sample.replace(/\(/g, 'Z(').replace(/</g, '€<'));
    const expected = JSON.parse(evaluate(clean, '--json').stdout).files[0];
    const result = evaluate(dirty, '--json');
    expect(result.status, result.stderr).toBe(0);
    const [file] = JSON.parse(result.stdout).files;
    const count = (ch: string) => sample.split(ch).length - 1;
    expect(file.unknown).toEqual({ Z: count('('), '€': count('<') });
    expect(file.unknownCharacters).toBe(count('(') + count('<'));
    expect(file.natsPerChar).toBeCloseTo(expected.natsPerChar, 6);
    const plain = evaluate(dirty);
    expect(plain.stdout).toMatch(
      /dirty\.txt: \d\.\d{4} nats\/char, \d\.\d{3} bits\/char, perplexity \d+\.\d\d over [\d,]+ characters; the first 16 of each stream, from zero state: \d\.\d{4}, the rest: \d\.\d{4}; [\d,]+ characters outside the vocabulary left out \("Z", "€"\)/,
    );
  });

  it('--seq-len does not change the score; --batch-size changes only where streams start cold', () => {
    const file = path.join(work, 'validation.txt');
    const base = JSON.parse(evaluate(file, '--json').stdout);
    const shorter = JSON.parse(evaluate(file, '--json', '--seq-len', '7').stdout);
    expect(shorter.seqLen).toBe(7);
    expect(shorter.files[0].natsPerChar).toBeCloseTo(base.files[0].natsPerChar, 5);
    const oneStream = JSON.parse(evaluate(file, '--json', '--batch-size', '1').stdout);
    expect(oneStream.batchSize).toBe(1);
    expect(oneStream.files[0].characters).toBe(base.files[0].characters);
    expect(oneStream.files[0].natsPerChar).not.toBeCloseTo(base.files[0].natsPerChar, 6);
    expect(Math.abs(oneStream.files[0].natsPerChar - base.files[0].natsPerChar)).toBeLessThan(0.2);
    // The cold starts, reported apart: the first 16 characters of each stream, then the rest.
    for (const report of [base, oneStream]) {
      const [scored] = report.files;
      expect(scored.coldStart.characters).toBe(16 * report.batchSize);
      expect(scored.coldStart.characters + scored.warm.characters).toBe(scored.characters);
      const mean = (scored.coldStart.natsPerChar * scored.coldStart.characters + scored.warm.natsPerChar * scored.warm.characters) / scored.characters;
      expect(mean).toBeCloseTo(scored.natsPerChar, 10);
    }
    // With one stream only its first 16 characters start cold; the rest is all of the text but them.
    expect(oneStream.files[0].warm.characters).toBe(base.files[0].characters - 16);
  });

  it('scores several files, with a total weighted by characters', () => {
    const a = path.join(work, 'a.txt');
    const b = path.join(work, 'b.txt');
    fs.writeFileSync(a, validationText.slice(0, 300));
    fs.writeFileSync(b, validationText.slice(300));
    const report = JSON.parse(evaluate(a, b, '--json').stdout);
    const [fa, fb] = report.files;
    expect(report.total.characters).toBe(fa.characters + fb.characters);
    expect(report.total.natsPerChar).toBeCloseTo((fa.natsPerChar * fa.characters + fb.natsPerChar * fb.characters) / report.total.characters, 10);
    expect(evaluate(a, b).stdout.trim().split('\n')).toHaveLength(3);
  });

  it('--activations: log-probabilities that average to the score of one stream, and a hidden state per character and layer', () => {
    const file = path.join(work, 'validation.txt');
    const dump = path.join(work, 'activations.json');
    const result = evaluate(file, '--json', '--batch-size', '1', '--activations', dump);
    expect(result.status, result.stderr).toBe(0);
    const { natsPerChar } = JSON.parse(result.stdout).files[0];
    const written = JSON.parse(fs.readFileSync(dump, 'utf8'));
    expect(written).toMatchObject({ format: 'rnn-train-activations', text: validationText });
    const characters = [...validationText].length;
    expect(written.logProbs).toHaveLength(characters - 1);
    const mean = written.logProbs.reduce((a: number, b: number) => a + b, 0) / written.logProbs.length;
    expect(-mean).toBeCloseTo(natsPerChar, 5);
    // One model of one layer of 16 units; an LSTM's h lies strictly between -1 and 1.
    expect(written.members).toHaveLength(1);
    expect(written.members[0]).toHaveLength(1);
    expect(written.members[0][0]).toHaveLength(characters);
    for (const h of written.members[0][0]) {
      expect(h).toHaveLength(16);
      for (const v of h) expect(Math.abs(v)).toBeLessThan(1);
    }
    expect(fs.readdirSync(work).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(cli('rnn-eval', [run, file, file, '--activations', dump]).stderr).toMatch(
      /^rnn-eval: error: --activations describes one text: give one file to score with it\n$/,
    );
  });

  it('refuses what it cannot score with one line', () => {
    const unknownOnly = path.join(work, 'unknown.txt');
    fs.writeFileSync(unknownOnly, 'ZZZZ');
    for (const [args, message] of [
      [[path.join(work, 'missing.txt')], /missing\.txt/],
      [[unknownOnly], /fewer than two characters the model knows/],
      [[], /missing required argument 'files'/],
    ] as [string[], RegExp][]) {
      const result = evaluate(...args);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    const noCheckpoint = cli('rnn-eval', [path.join(work, 'nowhere'), corpus]);
    expect(noCheckpoint.status).not.toBe(0);
    expect(noCheckpoint.stderr.trim().split('\n')).toHaveLength(1);
  });

  describe('--ensemble', () => {
    const tiny = ['--steps', '40', '--eval-every', '40', '--layers', '1', '--hidden', '16', '--embedding', '4', '--backend', backend];
    const second = path.join(work, 'second');
    const validation = path.join(work, 'validation.txt');
    beforeAll(() => {
      const trained = cli('rnn-train', [corpus, '--out', second, '--seed', '2', ...tiny]);
      if (trained.status !== 0) throw new Error(`rnn-train failed:\n${trained.stderr}`);
    });
    const natsPerChar = (result: ReturnType<typeof cli>) => {
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout).total.natsPerChar as number;
    };

    it("rnn-eval scores under the mean of the models' distributions: better than the members on average, and --json names them", () => {
      const alone = [run, second].map((model) => natsPerChar(cli('rnn-eval', [model, validation, '--json', '--backend', backend])));
      const together = evaluate(validation, '--json', '--ensemble', second);
      expect(natsPerChar(together)).toBeLessThan((alone[0] + alone[1]) / 2);
      expect(JSON.parse(together.stdout).ensemble).toEqual([path.join(run, 'best'), path.join(second, 'best')]);
    });

    it('rnn-sample samples from the ensemble: the same seed gives the same text, and --json names the members', () => {
      const sample = (...args: string[]) => cli('rnn-sample', [run, '--ensemble', second, '--length', '60', '--seed', '4', '--backend', backend, ...args]);
      const first = sample();
      expect(first.status, first.stderr).toBe(0);
      expect([...first.stdout.trimEnd()].length).toBeGreaterThan(0);
      expect(sample().stdout).toBe(first.stdout);
      expect(first.stdout).not.toBe(cli('rnn-sample', [run, '--length', '60', '--seed', '4', '--backend', backend]).stdout);
      const record = JSON.parse(sample('--json').stdout);
      expect(record).toMatchObject({ text: first.stdout.slice(0, -1), characters: 60, ensemble: [path.join(run, 'best'), path.join(second, 'best')] });
    });

    it('refuses, with one line, a model trained on text with other characters', () => {
      const other = path.join(work, 'other-text');
      const otherCorpus = path.join(work, 'other.txt');
      fs.writeFileSync(otherCorpus, 'the quick brown fox jumps over the lazy dog\n'.repeat(50));
      const trained = cli('rnn-train', [otherCorpus, '--out', other, ...tiny, '--steps', '2', '--batch-size', '8', '--seq-len', '20']);
      expect(trained.status, trained.stderr).toBe(0);
      for (const result of [evaluate(validation, '--ensemble', other), cli('rnn-sample', [run, '--ensemble', other, '--backend', backend])]) {
        expect(result.status).toBe(1);
        expect(result.stderr).toMatch(
          /^rnn-(eval|sample): error: .*other-text\/best has a different vocabulary from .*run\/best; an ensemble needs models trained on the same text\n$/,
        );
      }
    });
  });
});
