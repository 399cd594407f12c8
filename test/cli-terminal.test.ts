import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { barLine, nestedBrackets, type BarField } from '../src/index.js';
import { cli, ROOT, startCli, tempDir, testBackend } from './helpers.js';

const work = tempDir();
const corpus = path.join(work, 'brackets.txt');
const backend = ['--backend', testBackend()];
const tiny = ['--layers', '1', '--hidden', '8', '--embedding', '4', '--seq-len', '10', '--batch-size', '4', ...backend];
const run = path.join(work, 'run');

/** Lines libtensorflow prints while it loads, unless rnn-train's install silences them. */
const TENSORFLOW_LOAD_LINES = /absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|^I0000 /m;
/** Forces the oneDNN line on every CPU (by default it prints only where oneDNN is on). */
const ONEDNN_ON = { TF_ENABLE_ONEDNN_OPTS: '1' };

beforeAll(() => {
  fs.writeFileSync(corpus, nestedBrackets(20_000, 3));
  const trained = cli('rnn-train', [corpus, '--out', run, '--steps', '4', '--eval-every', '2', '--seed', '1', ...tiny]);
  if (trained.status !== 0) throw new Error(trained.stderr);
});

describe.runIf(testBackend() === 'tensorflow')('a quiet terminal on native TensorFlow', () => {
  it('rnn-sample and rnn-eval print nothing on stderr, and rnn-train no TensorFlow log line', () => {
    const sample = cli('rnn-sample', [run, '--length', '20', '--seed', '1', ...backend], { env: ONEDNN_ON });
    expect(sample.status, sample.stderr).toBe(0);
    expect(sample.stderr).toBe('');
    const evaluated = cli('rnn-eval', [run, corpus, ...backend], { env: ONEDNN_ON });
    expect(evaluated.status, evaluated.stderr).toBe(0);
    expect(evaluated.stderr).toBe('');
    const trained = cli('rnn-train', [corpus, '--out', path.join(work, 'quiet'), '--steps', '2', ...tiny], { env: ONEDNN_ON });
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stderr).not.toMatch(TENSORFLOW_LOAD_LINES);
    expect(trained.stderr).toMatch(/^backend: tensorflow/);
  });

  it('standard error works again once TensorFlow has loaded', () => {
    const script = `import fs from 'node:fs';
      const { useBackend } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
      await useBackend('tensorflow');
      fs.writeSync(2, 'after loading\\n');`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...ONEDNN_ON } });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('after loading\n');
  });
});

describe('the progress bar', () => {
  const fields: BarField[] = [
    { plain: '██████░░░░ 33%', colored: '\x1b[36m██████░░░░\x1b[39m 33%' },
    { plain: 'ETA 7m12s', colored: 'ETA 7m12s' },
    { plain: 'step 877/1750', colored: 'step 877/1750' },
    { plain: 'loss 1.4721', colored: '\x1b[1mloss 1.4721\x1b[22m' },
    { plain: 'val 1.5432', colored: 'val \x1b[32m1.5432\x1b[39m' },
    { plain: '16,870 chars/s', colored: '16,870 chars/s' },
    { plain: 'lr 1.6e-3', colored: 'lr 1.6e-3' },
    { plain: 'epoch 4', colored: 'epoch 4' },
  ];
  // eslint-disable-next-line no-control-regex -- colour codes are what it strips
  const COLOUR = /\x1b\[[0-9;]*m/g;
  const plain = (line: string) => line.replace(COLOUR, '');

  it('keeps every field where they fit, coloured as far as the colour codes fit too', () => {
    const all = fields.map((f) => f.plain).join(' | ');
    expect(barLine(fields, 160)).toBe(fields.map((f) => f.colored).join(' | '));
    const at120 = barLine(fields, 120);
    expect(plain(at120)).toBe(all);
    expect(at120.startsWith('\x1b[36m')).toBe(true);
    expect(at120.length).toBeLessThan(120);
  });

  it.each([60, 80, 100])('drops whole fields at %i columns, never half a number', (columns) => {
    const line = plain(barLine(fields, columns));
    expect([...line].length).toBeLessThan(columns);
    const shown = line.split(' | ');
    expect(shown).toEqual(fields.slice(0, shown.length).map((f) => f.plain));
  });
});

describe('signals', () => {
  it('a second Ctrl-C quits at once and says what is on disk', async () => {
    const out = path.join(work, 'twice');
    // Steps long enough that the second signal lands while the first waits for its step to end.
    const slow = ['--hidden', '512', '--batch-size', '64', '--seq-len', '100', '--replicas', '1', ...backend];
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--steps', '100000', '--eval-every', '2', ...slow]);
    // Past the first checkpoint (step 2) and one more step, so that a step is under way: were the
    // first signal to land as that checkpoint ends, the run would stop cleanly before the second.
    const metrics = path.join(out, 'metrics.jsonl');
    const pastCheckpoint = () => fs.existsSync(metrics) && /"event":"step","time":"[^"]*","step":3,/.test(fs.readFileSync(metrics, 'utf8'));
    while (!pastCheckpoint()) await new Promise((resolve) => setTimeout(resolve, 20));
    // Twice in quick succession, as a person presses it: both land during the next step.
    trainer.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 100));
    trainer.child.kill('SIGINT');
    const { code } = await trainer.exited;
    expect(code).toBe(130);
    const last = trainer.output().stderr.trimEnd().split('\n').at(-1);
    expect(last).toMatch(
      /^rnn-train: SIGINT: stopped at once; the last checkpoint is kept in .*twice\/checkpoints\/step-\d+; continue with: npx rnn-train --resume .*twice$/,
    );
    expect(fs.existsSync(path.join(out, 'latest'))).toBe(true);
  });

  it('Ctrl-C during start-up leaves nothing behind', async () => {
    const out = path.join(work, 'startup');
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--steps', '10', ...tiny]);
    // Soon after the process starts: before, during or after the run directory is made, but
    // before a checkpoint can be saved.
    await new Promise((resolve) => setTimeout(resolve, 300));
    trainer.child.kill('SIGINT');
    const { code, signal } = await trainer.exited;
    // Exit 130 if rnn-train's handler took the signal, killed by it if it came before Node was ready.
    expect(code === 130 || signal === 'SIGINT', `code ${code}, signal ${signal}`).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('what a user sees around a run', () => {
  it('rnn-sample on a live run before its first checkpoint says so', async () => {
    const out = path.join(work, 'live');
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--steps', '100000', '--eval-every', '100000', ...tiny]);
    await trainer.waitFor(/^step 1\//m);
    const sample = cli('rnn-sample', [out, ...backend]);
    trainer.child.kill('SIGKILL');
    await trainer.exited;
    expect(sample.status).toBe(1);
    expect(sample.stderr).toMatch(
      /^rnn-sample: error: .*live is a run directory with no checkpoint yet; rnn-train saves its first after --eval-every steps, at the end, or when stopped: wait for it, or give another run\n$/,
    );
  });

  it('a resumed run shows its last validation loss from its first step', () => {
    const resumed = path.join(work, 'resumed');
    fs.cpSync(run, resumed, { recursive: true, verbatimSymlinks: true });
    const result = cli('rnn-train', ['--resume', resumed, '--steps', '6', '--eval-every', '100']);
    expect(result.status, result.stderr).toBe(0);
    const firstStep = result.stderr.split('\n').find((line) => line.startsWith('step 5'));
    expect(firstStep).toMatch(/val loss \d\.\d{4} /);
  });

  it('says when the model has learned little beyond character frequencies', () => {
    const result = cli('rnn-train', [corpus, '--out', path.join(work, 'young'), '--steps', '1', ...tiny]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /^hint: the best validation loss, \d\.\d{4} nats\/char, is close to the \d\.\d{4} that character frequencies alone give on this text: the model has learned little beyond them yet; train longer \(--steps, --epochs or --time-budget\)$/m,
    );
  });

  it('every command has --version', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const command of ['rnn-train', 'rnn-sample', 'rnn-eval', 'rnn-web'] as const) expect(cli(command, ['--version']).stdout).toBe(`${version}\n`);
  });

  it('--argmax and an explicit --temperature are refused together', () => {
    const result = cli('rnn-sample', [run, '--argmax', '--temperature', '0.5', ...backend]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'rnn-sample: error: --argmax and --temperature 0.5 contradict each other: --argmax always takes the likeliest character (as --temperature 0 does); give one of them\n',
    );
  });

  it('--backend cpu prints no TensorFlow.js banner', () => {
    const result = cli('rnn-sample', [run, '--length', '5', '--seed', '1', '--backend', 'cpu']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
  });
});

describe('metrics.jsonl stays valid JSON Lines', () => {
  it('a torn last line is cut before a resumed run appends to it', () => {
    const torn = path.join(work, 'torn');
    fs.cpSync(run, torn, { recursive: true, verbatimSymlinks: true });
    const metrics = path.join(torn, 'metrics.jsonl');
    fs.appendFileSync(metrics, '{"event":"ste');
    const result = cli('rnn-train', ['--resume', torn, '--steps', '6']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: cut a torn last line from .*metrics\.jsonl, left by a write that failed \(a full disk\?\)/);
    const lines = fs.readFileSync(metrics, 'utf8').trimEnd().split('\n');
    for (const line of lines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.filter((line) => line.includes('"event":"step"')).length).toBe(6);
  });
});
