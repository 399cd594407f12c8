import { describe, expect, it } from 'vitest';
import { learningRateAt, type Schedule } from '../src/index.js';

const schedule = (changes: Partial<Schedule>): Schedule => ({ name: 'constant', warmupSteps: 0, decayRate: 0.97, decayAfter: 10, ...changes });
const at = (step: number, progress = 0, epoch = 1) => ({ step, progress, epoch });

describe('learning-rate schedules', () => {
  it('constant keeps the base rate; a warm-up ramps up to it linearly', () => {
    expect(learningRateAt(0.01, schedule({}), at(500, 0.7, 9))).toBe(0.01);
    const warm = schedule({ warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 100].map((step) => learningRateAt(0.01, warm, at(step)))).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  });

  it('cosine falls from the base rate to a tenth of it along half a cosine over the run', () => {
    const cosine = schedule({ name: 'cosine' });
    expect(learningRateAt(0.01, cosine, at(0, 0))).toBeCloseTo(0.01, 12);
    expect(learningRateAt(0.01, cosine, at(0, 0.5))).toBeCloseTo(0.0055, 12);
    expect(learningRateAt(0.01, cosine, at(0, 1))).toBeCloseTo(0.001, 12);
    expect(learningRateAt(0.01, cosine, at(0, 1.3))).toBeCloseTo(0.001, 12);
    const rates = Array.from({ length: 11 }, (_, i) => learningRateAt(0.01, cosine, at(i, i / 10)));
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeLessThan(rates[i - 1]);
  });

  it("decay is char-rnn's: × the factor for every epoch past --lr-decay-after", () => {
    const decay = schedule({ name: 'decay', decayRate: 0.5, decayAfter: 2 });
    expect([1, 2, 3, 4, 5].map((epoch) => learningRateAt(0.01, decay, at(0, 0, epoch)))).toEqual([0.01, 0.01, 0.005, 0.0025, 0.00125]);
  });
});
