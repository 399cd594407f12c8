import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sparkline, nestedBrackets } from '../src/index.js';
import { cli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const run = path.join(work, 'run');
const small = ['--layers', '1', '--hidden', '16', '--embedding', '4', '--seq-len', '20', '--batch-size', '8', '--seed', '1', '--backend', backend];
let trained: ReturnType<typeof cli>;

beforeAll(() => {
  fs.writeFileSync(corpus, nestedBrackets(6000, 2));
  trained = cli('rnn-train', [corpus, '--out', run, '--steps', '12', '--eval-every', '4', ...small]);
  if (trained.status !== 0) throw new Error(`rnn-train failed:\n${trained.stderr}`);
});

const readMetrics = (dir: string) =>
  fs
    .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));

describe(`run logs (${backend})`, () => {
  it('metrics.jsonl has one line per event: start, every step, every evaluation and checkpoint', () => {
    const lines = readMetrics(run);
    expect(lines[0]).toMatchObject({ event: 'start', startStep: 0, totalSteps: 12 });
    const steps = lines.filter((l) => l.event === 'step');
    expect(steps.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    for (const step of steps) {
      expect(Object.keys(step)).toEqual(expect.arrayContaining(['time', 'trainLoss', 'gradientNorm', 'learningRate', 'charsPerSecond', 'epoch']));
      expect(step.gradientNorm).toBeGreaterThan(0);
    }
    const evaluations = lines.filter((l) => l.event === 'evaluation');
    const meta = JSON.parse(fs.readFileSync(path.join(run, 'latest', 'checkpoint.json'), 'utf8'));
    expect(evaluations.map((l) => [l.step, l.validationLoss])).toEqual(meta.progress.history.validation);
    expect(lines.filter((l) => l.event === 'checkpoint').map((l) => l.reason)).toEqual(['eval', 'eval', 'final']);
  });

  it('a resumed run appends to the same log', () => {
    const resumed = cli('rnn-train', ['--resume', run, '--steps', '16', '--backend', backend]);
    expect(resumed.status, resumed.stderr).toBe(0);
    const steps = readMetrics(run)
      .filter((l) => l.event === 'step')
      .map((l) => l.step);
    expect(steps).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('loss.svg plots train and validation loss against step', () => {
    const svg = fs.readFileSync(path.join(run, 'loss.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('validation');
    expect(svg).toContain('step');
    // One polyline path per series.
    expect((svg.match(/<path d="M/g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(fs.readdirSync(run).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('the final summary has a sparkline of the validation loss', () => {
    const meta = JSON.parse(fs.readFileSync(path.join(run, 'latest', 'checkpoint.json'), 'utf8'));
    const losses = meta.progress.history.validation.slice(0, 3).map(([, loss]: number[]) => loss);
    expect(trained.stderr).toContain(`validation loss ${sparkline(losses)} ${losses[0].toFixed(4)} → ${losses[2].toFixed(4)} nats/char over 3 evaluations`);
    expect(sparkline([3, 2, 1, 1])).toBe('█▅▁▁');
    expect(sparkline([2, 2])).toBe('▁▁');
    expect(sparkline([0.9303, 0.9302])).toBe('▁▁');
  });

  it.runIf(backend === 'tensorflow')('--tensorboard writes event files with every scalar at every step', () => {
    const logdir = path.join(work, 'tb');
    const args = [corpus, '--out', path.join(work, 'tb-run'), '--steps', '6', '--eval-every', '3', '--sample-every', '3', '--tensorboard', logdir, ...small];
    const result = cli('rnn-train', args);
    expect(result.status, result.stderr).toBe(0);
    const files = fs.readdirSync(logdir).filter((f) => f.startsWith('events.out.tfevents.'));
    expect(files).toHaveLength(1);
    const { scalars, texts } = readSummaries(path.join(logdir, files[0]));
    const metrics = readMetrics(path.join(work, 'tb-run')).filter((l) => l.event === 'step');
    expect(scalars.get('train/loss')!.map(([step]) => step)).toEqual([1, 2, 3, 4, 5, 6]);
    scalars.get('train/loss')!.forEach(([, value], i) => expect(value).toBeCloseTo(metrics[i].trainLoss, 5));
    scalars.get('train/learning_rate')!.forEach(([, value], i) => expect(value).toBeCloseTo(metrics[i].learningRate, 7));
    expect(scalars.get('train/gradient_norm')).toHaveLength(6);
    expect(scalars.get('train/chars_per_second')).toHaveLength(6);
    expect(scalars.get('validation/loss')!.map(([step]) => step)).toEqual([3, 6]);
    // The samples as text summaries, the same as metrics.jsonl logs.
    const samples = readMetrics(path.join(work, 'tb-run')).filter((l) => l.event === 'sample');
    expect(texts.get('samples')).toEqual(samples.map((sample) => [sample.step, sample.text]));
    expect(samples.map((sample) => sample.step)).toEqual([3, 6]);
  });

  it('--tensorboard on a backend other than native TensorFlow is refused with one line', () => {
    const result = cli('rnn-train', [
      corpus,
      '--out',
      path.join(work, 'tb-wasm'),
      '--steps',
      '2',
      '--tensorboard',
      path.join(work, 'tb2'),
      ...small,
      '--backend',
      'wasm',
    ]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^rnn-train: error: --tensorboard writes through native TensorFlow, but the backend is wasm;/m);
    expect(fs.existsSync(path.join(work, 'tb2'))).toBe(false);
  });
});

/**
 * The scalars and texts of a TensorBoard event file: TFRecords (length, CRC, data, CRC), each an
 * Event protobuf {step: 2, summary: 5 {value: 1 {tag: 1, simple_value: 2, tensor: 8 {string_val:
 * 8}}}}. Read by hand so that the test needs no TensorFlow Python.
 */
function readSummaries(file: string): { scalars: Map<string, [number, number][]>; texts: Map<string, [number, string][]> } {
  const bytes = fs.readFileSync(file);
  const scalars = new Map<string, [number, number][]>();
  const texts = new Map<string, [number, string][]>();
  const fields = function* (buf: Buffer): Generator<[number, number, Buffer | number]> {
    let i = 0;
    const varint = () => {
      let value = 0;
      let shift = 0;
      let byte;
      do {
        byte = buf[i++];
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      return value;
    };
    while (i < buf.length) {
      const key = varint();
      const [field, wire] = [Math.floor(key / 8), key % 8];
      if (wire === 0) yield [field, wire, varint()];
      else if (wire === 1) yield [field, wire, buf.subarray(i, (i += 8))];
      else if (wire === 5) yield [field, wire, buf.subarray(i, (i += 4))];
      else if (wire === 2) {
        const length = varint();
        yield [field, wire, buf.subarray(i, (i += length))];
      } else throw new Error(`unexpected wire type ${wire}`);
    }
  };
  for (let offset = 0; offset < bytes.length;) {
    const length = Number(bytes.readBigUInt64LE(offset));
    const event = bytes.subarray(offset + 12, offset + 12 + length);
    offset += 12 + length + 4;
    let step = 0;
    for (const [field, , value] of fields(event)) {
      if (field === 2) step = value as number;
      if (field !== 5) continue;
      for (const [, , summaryValue] of fields(value as Buffer)) {
        let tag = '';
        let scalar = Number.NaN;
        let text: string | undefined;
        for (const [f, , v] of fields(summaryValue as Buffer)) {
          if (f === 1) tag = (v as Buffer).toString('utf8');
          if (f === 2) scalar = (v as Buffer).readFloatLE(0);
          if (f === 8) for (const [tf, , tv] of fields(v as Buffer)) if (tf === 8) text = (tv as Buffer).toString('utf8');
        }
        if (text === undefined) scalars.set(tag, [...(scalars.get(tag) ?? []), [step, scalar]]);
        else texts.set(tag, [...(texts.get(tag) ?? []), [step, text]]);
      }
    }
  }
  return { scalars, texts };
}
