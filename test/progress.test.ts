import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createEnsembleReporter, type StepInfo } from '../src/index.js';

/** A terminal that records what is written to it, with the cursor calls cli-progress makes. */
function fakeTerminal(columns = 200) {
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const terminal = Object.assign(stream, {
    isTTY: true,
    columns,
    rows: 50,
    cursorTo: (x: number) => stream.write(`\x1b[${x + 1}G`),
    moveCursor: (_dx: number, dy: number) => stream.write(dy < 0 ? `\x1b[${-dy}A` : dy > 0 ? `\x1b[${dy}B` : ''),
    clearLine: () => stream.write('\x1b[2K'),
    clearScreenDown: () => stream.write('\x1b[0J'),
  });
  return { terminal: terminal as unknown as NodeJS.WriteStream, output: () => output };
}

const step = (n: number): StepInfo => ({
  step: n,
  totalSteps: 10,
  progress: n / 10,
  epoch: 1,
  trainLoss: 2,
  gradientNorm: 1,
  learningRate: 1e-3,
  charsPerSecond: 1000,
});

describe('the ensemble reporter on a terminal', () => {
  const noColor = process.env.NO_COLOR;
  beforeEach(() => {
    delete process.env.NO_COLOR;
    // The bars redraw on a timer; these tests move it by hand.
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    if (noColor !== undefined) process.env.NO_COLOR = noColor;
  });

  it("draws a bar per member, keeps a finished member's bar under later lines, and loses no line at the end", () => {
    const { terminal, output } = fakeTerminal();
    const reporter = createEnsembleReporter(['member 1', 'member 2'], terminal);
    const [first, second] = reporter.members;
    first.start({ parameters: 1, stepsPerEpoch: 10, charsPerStep: 10, startStep: 0, totalSteps: 10, progress: 0 });
    second.start({ parameters: 1, stepsPerEpoch: 10, charsPerStep: 10, startStep: 0, totalSteps: 10, progress: 0 });
    first.step(step(10));
    second.step(step(4));
    vi.advanceTimersByTime(500);
    first.info('done after 10 steps');
    second.step(step(5));
    vi.advanceTimersByTime(500);
    second.info('the last line before the bars stop');
    reporter.close();
    reporter.info('after the bars');

    const text = output();
    const lastFirstBar = text.lastIndexOf('member 1 ');
    expect(text).toContain('member 1: done after 10 steps');
    expect(text).toContain('member 2: the last line before the bars stop');
    expect(lastFirstBar).toBeGreaterThan(text.lastIndexOf('member 2: the last line before the bars stop'));
    expect(text.slice(lastFirstBar)).toMatch(/^member 1 \S+ 100% \| ETA 0s \| step 10\/10/);
    expect(text.lastIndexOf('member 2 ')).toBeGreaterThan(lastFirstBar);
    expect(text.endsWith('after the bars\n')).toBe(true);
  });
});
