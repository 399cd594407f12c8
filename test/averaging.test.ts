import { describe, expect, it } from 'vitest';
import { WeightAverage, CharRnn, initialWeights, type ModelConfig, Rng, lstmCapabilities } from '../src/index.js';

const config: ModelConfig = { cell: 'lstm', vocabSize: 5, embeddingSize: 3, hiddenSize: 4, layers: 1, dropout: 0, weightDrop: 0, inputDropout: 0 };

describe('WeightAverage', () => {
  it('follows the moving average with its warm-up, for every parameter, leaving the source alone', async () => {
    const start = initialWeights(config, new Rng(1));
    const source = new CharRnn(config, start, { capabilities: lstmCapabilities() });
    const average = new WeightAverage(config, start, 0.9);
    const expected = new Map([...start].map(([name, values]) => [name, Float64Array.from(values)]));
    const rng = new Rng(2);
    for (let step = 1; step <= 30; step++) {
      // The optimizer's weights wander; the average must follow them at the documented rate.
      const moved = new Map([...start].map(([name, values]) => [name, values.map(() => rng.uniform(-1, 1))]));
      source.assignWeights(moved);
      average.update(source, step);
      const decay = Math.min(0.9, (1 + step) / (10 + step));
      for (const [name, values] of expected) values.forEach((v, i) => (values[i] = decay * v + (1 - decay) * moved.get(name)![i]));
      if (step === 30) {
        const read = await average.model.readWeights();
        for (const [name, values] of expected) values.forEach((v, i) => expect(read.get(name)![i], `${name}[${i}]`).toBeCloseTo(v, 5));
        expect([...(await source.readWeights()).get('dense/bias')!]).toEqual([...moved.get('dense/bias')!]);
      }
    }
    average.dispose();
    source.dispose();
  });
});
