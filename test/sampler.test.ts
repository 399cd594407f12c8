import { describe, expect, it } from 'vitest';
import { chooseNext, logSoftmax, type SamplingRule } from '../src/index.js';

const probabilities = [0.05, 0.5, 0.15, 0.3];
const logits = Float32Array.from(probabilities, (p) => Math.log(p) + 2);

/** How often each index is chosen over an even grid of uniform numbers: the exact distribution drawn from. */
function frequencies(rule: SamplingRule, n = 20_000): number[] {
  const counts = new Array(logits.length).fill(0);
  for (let j = 0; j < n; j++) counts[chooseNext(logits, rule, (j + 0.5) / n)]++;
  return counts.map((c) => c / n);
}

function expectClose(actual: number[], expected: number[]): void {
  actual.forEach((value, i) => expect(value, `index ${i}`).toBeCloseTo(expected[i], 3));
}

describe('chooseNext', () => {
  it('draws from the softmax at temperature 1', () => expectClose(frequencies({ temperature: 1 }), probabilities));

  it('sharpens with a lower temperature (p^(1/T), renormalised)', () => {
    const squared = probabilities.map((p) => p * p);
    const total = squared.reduce((a, b) => a + b, 0);
    expectClose(
      frequencies({ temperature: 0.5 }),
      squared.map((p) => p / total),
    );
  });

  it('takes the likeliest at temperature 0, whatever the uniform number', () => {
    for (const u of [0, 0.3, 0.99]) expect(chooseNext(logits, { temperature: 0 }, u)).toBe(1);
  });

  it('--top-k keeps the k likeliest, renormalised', () => expectClose(frequencies({ temperature: 1, topK: 2 }), [0, 0.5 / 0.8, 0, 0.3 / 0.8]));

  it('--top-p keeps the smallest set of likeliest characters with at least that mass', () => {
    expectClose(frequencies({ temperature: 1, topP: 0.7 }), [0, 0.5 / 0.8, 0, 0.3 / 0.8]);
    expectClose(frequencies({ temperature: 1, topP: 0.81 }), [0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]);
    expectClose(frequencies({ temperature: 1, topP: 0.01 }), [0, 1, 0, 0]);
  });

  it('applies top-k before top-p', () => expectClose(frequencies({ temperature: 1, topK: 3, topP: 0.9 }), [0, 0.5 / 0.95, 0.15 / 0.95, 0.3 / 0.95]));

  it('logSoftmax gives normalised log-probabilities', () => {
    const values = logSoftmax(logits);
    values.forEach((v, i) => expect(v).toBeCloseTo(Math.log(probabilities[i]), 6));
  });
});
