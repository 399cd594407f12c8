import * as tf from '@tensorflow/tfjs-core';
import { mapLayerState, disposeState } from './cells/cell.js';
import { mixtureLogProbs } from './mixture.js';
import { tidy } from '../util/tidy.js';
import { COLD_START_CHARACTERS, evaluationChunks, windowsChunk, type CharIds } from '../data/batches.js';
import { type CharRnn, type ModelState } from './char-rnn.js';

export interface PartScore {
  characters: number;
  natsPerChar: number;
}

/** A text's score, and the same split into the first COLD_START_CHARACTERS of each stream and the rest. */
export interface TextScore extends PartScore {
  coldStart: PartScore;
  warm: PartScore;
}

/**
 * The cross-entropy in nats/char of `ids` under the models (one, or an ensemble predicting with the
 * mean of their distributions): every target scored exactly once, with the hidden state carried
 * along each of `batchSize` contiguous streams, starting from zero state. Uses its own state, so a
 * training run's carried state is untouched.
 */
export async function scoreText(models: CharRnn[], ids: CharIds, batchSize: number, seqLen: number): Promise<TextScore> {
  let states: ModelState[] | undefined;
  const cold = { nats: 0, count: 0 };
  const warm = { nats: 0, count: 0 };
  for (const chunk of evaluationChunks(ids, batchSize, seqLen)) {
    states ??= models.map((model) => model.zeroState(chunk.batchSize));
    if (chunk.continuesStream !== undefined) {
      const stream = chunk.continuesStream;
      const narrowed = states.map((state) => state.map((layer) => mapLayerState(layer, (part) => tf.slice(part, [stream, 0], [1, -1]))));
      states.forEach(disposeState);
      states = narrowed;
    }
    const current = states;
    const result = tidy(() => {
      const scored = models.map((model, k) => model.targetLogProbs(chunk, current[k]));
      return { logProbs: mixtureLogProbs(scored.map(({ logProbs }) => logProbs)), next: scored.map(({ state }) => state) };
    });
    current.forEach(disposeState);
    states = result.next;
    const logProbs = await result.logProbs.data();
    result.logProbs.dispose();
    // Time-major: target i is at position offset + ⌊i / batch⌋ of its stream.
    logProbs.forEach((logProb, i) => {
      const part = chunk.offset + Math.floor(i / chunk.batchSize) < COLD_START_CHARACTERS ? cold : warm;
      part.nats -= logProb;
      part.count++;
    });
  }
  states?.forEach(disposeState);
  const mean = ({ nats, count }: { nats: number; count: number }): PartScore => ({ characters: count, natsPerChar: count > 0 ? nats / count : Number.NaN });
  return { ...mean({ nats: cold.nats + warm.nats, count: cold.count + warm.count }), coldStart: mean(cold), warm: mean(warm) };
}

/** scoreText's mean alone: what validation reports. */
export async function meanNll(models: CharRnn[], ids: CharIds, batchSize: number, seqLen: number): Promise<number> {
  return (await scoreText(models, ids, batchSize, seqLen)).natsPerChar;
}

/**
 * Mean cross-entropy at each position 0 … length−1 of `windows` windows of `ids`, each read from
 * zero state: how a model starts cold, as sampling, a pasted line and short texts make it.
 */
export function zeroStateProfile(model: CharRnn, ids: CharIds, { windows, length }: { windows: number; length: number }): Float64Array {
  const chunk = windowsChunk(ids, windows, length);
  const state = model.zeroState(chunk.batchSize);
  const logProbs = tidy(() => {
    const scored = model.targetLogProbs(chunk, state);
    disposeState(scored.state);
    return scored.logProbs;
  });
  disposeState(state);
  const values = logProbs.dataSync();
  logProbs.dispose();
  const profile = new Float64Array(chunk.seqLen);
  values.forEach((logProb, i) => (profile[Math.floor(i / chunk.batchSize)] -= logProb / chunk.batchSize));
  return profile;
}
