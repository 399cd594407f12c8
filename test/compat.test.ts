import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT, tempDir } from './helpers.js';

/**
 * test/fixtures/run-v0.1.0 is a run directory written by rnn-train 0.1.0 as of commit 809f190,
 * before src/ was reorganised: `rnn-train data/nested-brackets.txt --layers 1 --hidden 16
 * --embedding 8 --batch-size 4 --seq-len 16 --schedule constant --steps 4 --eval-every 2 --seed 7 --replicas 1`.
 * run-v0.1.0-step-8-weights.bin is the weights of the same run taken straight to 8 steps by the
 * code of commit aeec5ab, the last with 0.1.0's initialisation (a fresh run of today's starts
 * elsewhere, and draws state resets), on a Zen 5.
 *
 * Both fixtures were written on other CPUs than the test may run on, whose kernels round
 * differently, so the resumed run is compared to within float32 rounding carried through a few
 * Adam steps, not bit for bit: 3e-8 measured between a Zen 3 and a Zen 5. Bit-exact resume is
 * resume.test.ts's, between runs it makes itself on one machine.
 */
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'run-v0.1.0');
const STRAIGHT = path.join(ROOT, 'test', 'fixtures', 'run-v0.1.0-step-8-weights.bin');
const CORPUS = path.join(ROOT, 'data', 'nested-brackets.txt');
const TOLERANCE = 1e-5;

describe('a run written by rnn-train 0.1.0', () => {
  it('resumes: four more steps land on the weights of an uninterrupted eight-step run, to within rounding', () => {
    const work = tempDir();
    const resumed = path.join(work, 'resumed');
    fs.cpSync(FIXTURE, resumed, { recursive: true, verbatimSymlinks: true });
    // The run saved its corpus's absolute path on another machine; the corpus is given again.
    const resume = cli('rnn-train', [CORPUS, '--resume', resumed, '--steps', '8']);
    expect(resume.stderr).toContain('resuming');
    expect(resume.status, resume.stderr).toBe(0);
    const weights = (file: string) => new Float32Array(new Uint8Array(fs.readFileSync(file)).buffer);
    const largestGap = (a: Float32Array, b: Float32Array) => a.reduce((most, value, i) => Math.max(most, Math.abs(value - b[i])), 0);
    const resumedWeights = weights(path.join(resumed, 'latest', 'weights.bin'));
    expect(resumedWeights).toHaveLength(weights(STRAIGHT).length);
    expect(largestGap(resumedWeights, weights(STRAIGHT))).toBeLessThan(TOLERANCE);
    // The four steps moved the weights by far more than the tolerance: the comparison has teeth.
    expect(largestGap(resumedWeights, weights(path.join(FIXTURE, 'latest', 'weights.bin')))).toBeGreaterThan(100 * TOLERANCE);
    const sample = cli('rnn-sample', [resumed, '--length', '20', '--seed', '1']);
    expect(sample.status, sample.stderr).toBe(0);
    expect([...sample.stdout].length).toBeGreaterThanOrEqual(20);
  });
});
