import * as tf from '@tensorflow/tfjs-core';
import { mapLayerState } from './cell.js';
import { tidy } from './tidy.js';
import { evaluationChunks, type CharIds } from './batches.js';
import { disposeState, type CharRnn, type ModelState } from './model.js';

/**
 * Mean cross-entropy in nats/char of `ids` under the model: every target scored exactly once, with
 * the hidden state carried along each of `batchSize` contiguous streams, starting from zero state.
 * Uses its own state, so a training run's carried state is untouched.
 */
export async function meanNll(model: CharRnn, ids: CharIds, batchSize: number, seqLen: number): Promise<number> {
  let state: ModelState | undefined;
  let total = 0;
  let count = 0;
  for (const chunk of evaluationChunks(ids, batchSize, seqLen)) {
    if (!state) state = model.zeroState(chunk.batchSize);
    if (chunk.continuesStream !== undefined) {
      const stream = chunk.continuesStream;
      const narrowed = state.map((layer) => mapLayerState(layer, (part) => tf.slice(part, [stream, 0], [1, -1])));
      disposeState(state);
      state = narrowed;
    }
    const current = state;
    const result = tidy(() => {
      const { total: nll, state: next } = model.totalNll(chunk, current);
      return { nll, next };
    });
    disposeState(current);
    state = result.next;
    total += (await result.nll.data())[0];
    result.nll.dispose();
    count += chunk.targets.length;
  }
  if (state) disposeState(state);
  return count > 0 ? total / count : Number.NaN;
}
