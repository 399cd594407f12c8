import * as tf from '@tensorflow/tfjs-core';
import { stateParts, type StatePart } from '../model/cells/cell.js';
import { type NamedArrays, type ModelConfig } from '../model/config.js';
import type { ModelState } from '../model/char-rnn.js';
import { Rng } from '../util/random.js';

/**
 * The hidden state carried along a batch of streams, as plain arrays of [streams, H] rows named as
 * in checkpoints (carried/h/1, carried/c/1, …): the form in which it is saved, and in which it
 * moves between threads when the streams are split among data-parallel replicas.
 */
function carriedName(part: StatePart, layer: number): string {
  return `carried/${part}/${layer + 1}`;
}

export function isCarriedName(name: string): boolean {
  return name.startsWith('carried/');
}

export async function readCarried(state: ModelState, config: Pick<ModelConfig, 'cell'>): Promise<NamedArrays> {
  const arrays: NamedArrays = new Map();
  for (let l = 0; l < state.length; l++) {
    for (const part of stateParts(config.cell)) arrays.set(carriedName(part, l), (await state[l][part]!.data()) as Float32Array);
  }
  return arrays;
}

/** The state of `streams` streams from saved arrays; parts missing from them start at zero, as in a new run. */
export function carriedState(arrays: NamedArrays, config: Pick<ModelConfig, 'cell' | 'layers' | 'hiddenSize'>, streams: number): ModelState {
  return Array.from({ length: config.layers }, (_, l) => {
    const part = (name: StatePart): tf.Tensor2D => {
      const values = arrays.get(carriedName(name, l));
      return values ? tf.tensor2d(values, [streams, config.hiddenSize]) : tf.zeros([streams, config.hiddenSize]);
    };
    return stateParts(config.cell).includes('c') ? { h: part('h'), c: part('c') } : { h: part('h') };
  });
}

/** Streams [from, to) of carried arrays with `hidden` columns. */
export function carriedRows(arrays: NamedArrays, from: number, to: number, hidden: number): NamedArrays {
  return new Map([...arrays].map(([name, values]) => [name, values.slice(from * hidden, to * hidden)]));
}

/** Carried arrays of consecutive groups of streams, joined into those of all of them. */
export function joinCarried(groups: NamedArrays[]): NamedArrays {
  const joined: NamedArrays = new Map();
  for (const name of groups[0].keys()) {
    const parts = groups.map((group) => group.get(name)!);
    const values = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      values.set(part, offset);
      offset += part.length;
    }
    joined.set(name, values);
  }
  return joined;
}

/**
 * Which streams drop their carried state before step `step` (0-based): each with chance `rate`,
 * drawn from a generator seeded by the run's seed and the step alone, so that a resumed run draws
 * the same and a checkpoint needs no generator state for it.
 */
export function coldStreams(seed: number, step: number, streams: number, rate: number): Uint8Array | undefined {
  if (rate <= 0) return undefined;
  const rng = new Rng((Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) + Math.imul(step + 1, 0x9e3779b1)) >>> 0);
  return Uint8Array.from({ length: streams }, () => (rng.next() < rate ? 1 : 0));
}
