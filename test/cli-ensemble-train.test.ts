import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { splitCorpus, nestedBrackets, Vocabulary } from '../src/index.js';
import { cli, startCli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const validationFile = path.join(work, 'validation.txt');
const run = path.join(work, 'ensemble');
const text = nestedBrackets(8000, 3);
const small = ['--layers', '1', '--hidden', '16', '--embedding', '4', '--backend', backend];
let trained: ReturnType<typeof cli>;

const checkpointMeta = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'checkpoint.json'), 'utf8'));
const score = (...args: string[]) => {
  const result = cli('rnn-eval', [...args, validationFile, '--json', '--backend', backend]);
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout).total.natsPerChar as number;
};
/** The pid in a run directory's lock file, while a trainer works there. */
const lockHolder = (dir: string): number | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'lock'), 'utf8')).pid;
  } catch {
    return undefined;
  }
};

beforeAll(() => {
  fs.writeFileSync(corpus, text);
  const vocabulary = Vocabulary.fromText(text);
  fs.writeFileSync(validationFile, vocabulary.decode(splitCorpus(vocabulary.encode(text), 0.1).validation));
  trained = cli('rnn-train', [corpus, '--out', run, '--members', '2', '--steps', '40', '--eval-every', '20', '--seed', '7', ...small]);
  if (trained.status !== 0) throw new Error(`rnn-train --members failed:\n${trained.stderr}`);
});

describe(`rnn-train --members (${backend})`, () => {
  it('trains each member in its own run directory with its own seed, and scores them together as rnn-eval does', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(run, 'ensemble.json'), 'utf8'));
    expect(manifest.members).toEqual(['member-1', 'member-2']);
    const members = manifest.members.map((member: string) => checkpointMeta(path.join(run, member, 'latest')));
    expect(members.map((meta: { training: { seed: number } }) => meta.training.seed)).toEqual([7, 8]);
    for (const meta of members) expect(meta.progress.step).toBe(40);
    expect(trained.stderr).toMatch(/^member 1: step 20: validation loss/m);
    expect(trained.stderr).toMatch(/^member 2: step 20: validation loss/m);

    const together = score(run);
    const reported = Number(/ensemble validation loss (\d\.\d{4}) nats\/char/.exec(trained.stderr)?.[1]);
    expect(reported).toBeCloseTo(together, 4);
    expect(manifest.validationLoss).toBeCloseTo(together, 6);
    expect(score(path.join(run, 'member-1'), '--ensemble', path.join(run, 'member-2'))).toBeCloseTo(together, 6);
    const alone = [score(path.join(run, 'member-1')), score(path.join(run, 'member-2'))];
    expect(alone[0]).not.toBeCloseTo(alone[1], 4);
    expect(together).toBeLessThan((alone[0] + alone[1]) / 2);
    expect(trained.stderr).toContain(`sample with: npx rnn-sample ${run}\n`);
    expect(trained.stderr).toContain(`see it in a browser: npx rnn-web ${run} --serve\n`);
    // The hints name the ensemble, not its members; and it keeps no checkpoints of its own.
    expect(trained.stderr).not.toMatch(/member \d: sample with/);
    expect(fs.readdirSync(run).sort()).toEqual(['ensemble.json', 'member-1', 'member-2']);
  });

  it('rnn-sample on the run directory samples from the whole ensemble', () => {
    const sample = (...args: string[]) => cli('rnn-sample', [...args, '--length', '200', '--seed', '3', '--backend', backend]);
    const fromRun = sample(run);
    expect(fromRun.status, fromRun.stderr).toBe(0);
    expect(fromRun.stdout).toBe(sample(path.join(run, 'member-1'), '--ensemble', path.join(run, 'member-2')).stdout);
    expect(fromRun.stdout).not.toBe(sample(path.join(run, 'member-1')).stdout);
  });

  it('--resume continues every member where it stopped; a second ensemble or a different --members is refused', () => {
    const copy = path.join(work, 'resumed');
    fs.cpSync(run, copy, { recursive: true, verbatimSymlinks: true });
    const resumed = cli('rnn-train', ['--resume', copy, '--steps', '60', '--backend', backend]);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^member 1: resuming .*member-1 at step 40/m);
    expect(resumed.stderr).toMatch(/^member 2: resuming .*member-2 at step 40/m);
    for (const member of ['member-1', 'member-2']) expect(checkpointMeta(path.join(copy, member, 'latest')).progress.step).toBe(60);

    const refused = [
      [['--resume', copy, '--members', '3'], `${copy} is an ensemble of 2 members, not 3; resume it without --members`],
      [[corpus, '--out', copy, '--members', '2'], `${copy} already holds a training run; continue it with --resume ${copy}`],
      [[corpus, '--out', copy], `${copy} already holds a training run; continue it with --resume ${copy}`],
      [
        ['--resume', path.join(copy, 'member-1'), '--members', '2'],
        `${path.join(copy, 'member-1')} holds one model's run, not an ensemble; resume it without --members`,
      ],
      [['--resume', copy, '--hidden', '32'], '--resume continues a run as it was configured, but these flags differ: --hidden 32 (the run has 16);'],
      [['--resume', copy, '--out', run], `--out ${run} differs from --resume ${copy}`],
    ] as const;
    for (const [args, message] of refused) {
      const result = cli('rnn-train', [...args, '--backend', backend]);
      expect(result.status, args.join(' ')).toBe(1);
      expect(result.stderr.trim().split('\n').at(-1)).toContain(`rnn-train: error: ${message}`);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    for (const member of ['member-1', 'member-2']) expect(checkpointMeta(path.join(copy, member, 'latest')).progress.step).toBe(60);
  });

  it('a damaged ensemble.json is reported in one line by rnn-sample, rnn-eval and rnn-train --resume', () => {
    const damaged = path.join(work, 'damaged');
    fs.cpSync(run, damaged, { recursive: true, verbatimSymlinks: true });
    fs.writeFileSync(path.join(damaged, 'ensemble.json'), '{"members": 2}');
    const expected = `${path.join(damaged, 'ensemble.json')} is not an rnn-train ensemble manifest; it should list the ensemble's member directories`;
    for (const [command, args] of [
      ['rnn-sample', [damaged]],
      ['rnn-eval', [damaged, validationFile]],
      ['rnn-train', ['--resume', damaged]],
    ] as const) {
      const result = cli(command, [...args, '--backend', backend]);
      expect(result.status, command).toBe(1);
      expect(result.stderr.trim(), command).toBe(`${command}: error: ${expected}`);
    }
  });

  it('a member that cannot start fails the whole run with its one-line error', () => {
    const result = cli('rnn-train', [path.join(work, 'missing.txt'), '--out', path.join(work, 'missing'), '--members', '2', ...small]);
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      `rnn-train: error: corpus file not found: ${path.join(work, 'missing.txt')}; give the path of a UTF-8 text file (rnn-train ships one: data/tinyshakespeare.txt)`,
    );
    // No member saved a checkpoint, so the ensemble leaves nothing behind, as a single run does.
    expect(fs.existsSync(path.join(work, 'missing'))).toBe(false);
  });

  it('Ctrl-C is passed on once: every member saves a checkpoint, and the ensemble exits 130', async () => {
    const out = path.join(work, 'interrupted');
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--members', '2', '--steps', '100000', '--eval-every', '100000', '--seed', '1', ...small]);
    await trainer.waitFor(/member 1: step 1\/[\s\S]*member 2: step 1\/|member 2: step 1\/[\s\S]*member 1: step 1\//);
    trainer.child.kill('SIGINT');
    const { code } = await trainer.exited;
    const { stderr } = trainer.output();
    expect(code, stderr).toBe(130);
    for (const k of [1, 2]) expect(stderr).toMatch(new RegExp(`member ${k}: stopped by SIGINT after \\d+ steps`));
    expect(stderr).not.toMatch(/member \d: .*continue with/);
    expect(stderr).toContain(`stopped by SIGINT; continue with: npx rnn-train --resume ${out}`);
    for (const member of ['member-1', 'member-2']) {
      expect(checkpointMeta(path.join(out, member, 'latest')).progress.step).toBeGreaterThanOrEqual(1);
      expect(lockHolder(path.join(out, member))).toBeUndefined();
    }
  });

  it('members whose trainer is killed save a checkpoint and stop, rather than train on unwatched', async () => {
    const out = path.join(work, 'orphaned');
    const trainer = startCli('rnn-train', [corpus, '--out', out, '--members', '2', '--steps', '100000', '--eval-every', '100000', '--seed', '1', ...small]);
    await trainer.waitFor(/member 1: step 1\/[\s\S]*member 2: step 1\/|member 2: step 1\/[\s\S]*member 1: step 1\//);
    const pids = ['member-1', 'member-2'].map((member) => lockHolder(path.join(out, member)));
    expect(pids.every((pid) => typeof pid === 'number')).toBe(true);
    trainer.child.kill('SIGKILL');
    await trainer.exited;
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 60_000;
    while (pids.some((pid) => alive(pid!)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pids.filter((pid) => alive(pid!))).toEqual([]);
    for (const member of ['member-1', 'member-2']) {
      expect(checkpointMeta(path.join(out, member, 'latest')).progress.step).toBeGreaterThanOrEqual(1);
    }
  });
});
