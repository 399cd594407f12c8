import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { meanNll, CharRnn, initialWeights, type ModelConfig, Rng, sampleText, Vocabulary, lstmCapabilities } from '../src/index.js';

const vocabulary = Vocabulary.fromText('abcdef\n');
const config: ModelConfig = {
  cell: 'lstm',
  vocabSize: vocabulary.size,
  embeddingSize: 3,
  hiddenSize: 6,
  layers: 2,
  dropout: 0,
  weightDrop: 0,
  inputDropout: 0,
};

/** A model with confident, seed-dependent predictions, so that two of them disagree. */
function model(seed: number): CharRnn {
  const weights = initialWeights(config, new Rng(seed));
  for (const values of weights.values()) values.forEach((v, i) => (values[i] = 4 * v));
  return new CharRnn(config, weights, { capabilities: lstmCapabilities() });
}

const members = [model(1), model(2)];
afterAll(() => members.forEach((m) => m.dispose()));

/** Each model's probability of every next character of `ids`, read along one stream from zero state. */
function nextCharProbabilities(m: CharRnn, ids: Int32Array): number[] {
  return tf.tidy(() => {
    const { logits } = m.forward(ids.subarray(0, ids.length - 1), ids.length - 1, m.zeroState(1));
    const probabilities = tf.softmax(logits).arraySync() as number[][];
    return probabilities.map((row, t) => row[ids[t + 1]]);
  });
}

describe('an ensemble', () => {
  const text = 'abcabfed\ncafe\nbad\nface\ndeaf\nfad\n'.repeat(3);
  const ids = vocabulary.encode(text);

  it("scores each character by the mean of its members' probabilities, carrying every member's state across chunks", async () => {
    const [pa, pb] = members.map((m) => nextCharProbabilities(m, ids));
    const expected = -pa.reduce((sum, p, t) => sum + Math.log((p + pb[t]) / 2), 0) / pa.length;
    const single = -pa.reduce((sum, p) => sum + Math.log(p), 0) / pa.length;
    expect(await meanNll(members, ids, 1, 7)).toBeCloseTo(expected, 5);
    expect(await meanNll(members.slice(0, 1), ids, 1, 7)).toBeCloseTo(single, 5);
    // The log of a mean is at least the mean of the logs: never worse than the members on average.
    const each = await Promise.all(members.map((m) => meanNll([m], ids, 1, 7)));
    expect(expected).toBeLessThan((each[0] + each[1]) / 2);
  });

  it("samples from the mean of its members' distributions, each member primed and carried along the text", () => {
    const prime = 'cab';
    const pieces = [...sampleText(members, vocabulary, { prime, length: 30, temperature: 1, seed: 3 })];
    const generated = pieces.slice(1);
    expect(pieces[0].text).toBe(prime);
    expect(generated).toHaveLength(30);
    const all = vocabulary.encode(prime + generated.map((piece) => piece.text).join(''));
    const [pa, pb] = members.map((m) => nextCharProbabilities(m, all));
    generated.forEach((piece, j) => {
      const t = prime.length - 1 + j;
      expect(piece.logProb, `character ${j}`).toBeCloseTo(Math.log((pa[t] + pb[t]) / 2), 4);
    });
  });
});
