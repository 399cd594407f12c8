import * as tf from '@tensorflow/tfjs-core';
import { mapLayerState } from './cells/cell.js';
import { mixtureLogProbs } from './mixture.js';
import { tidy } from '../util/tidy.js';
import { evaluationChunks, type CharIds } from '../data/batches.js';
import { type CharRnn, type ModelState } from './char-rnn.js';
import { disposeState } from './cells/cell.js';

/**
 * Mean cross-entropy in nats/char of `ids` under the models (one, or an ensemble predicting with
 * the mean of their distributions): every target scored exactly once, with the hidden state carried
 * along each of `batchSize` contiguous streams, starting from zero state. Uses its own state, so a
 * training run's carried state is untouched.
 */
export async function meanNll(models: CharRnn[], ids: CharIds, batchSize: number, seqLen: number): Promise<number> {
  let states: ModelState[] | undefined;
  let total = 0;
  let count = 0;
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
      const nll = tf.neg(tf.sum(mixtureLogProbs(scored.map(({ logProbs }) => logProbs))));
      return { nll, next: scored.map(({ state }) => state) };
    });
    current.forEach(disposeState);
    states = result.next;
    total += (await result.nll.data())[0];
    result.nll.dispose();
    count += chunk.targets.length;
  }
  states?.forEach(disposeState);
  return count > 0 ? total / count : Number.NaN;
}
