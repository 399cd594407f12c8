import type { NamedArrays } from '../model/config.js';
import { isCarriedName } from './carried.js';

/**
 * What training-state.bin holds besides the weights, by name prefix: the optimizer's slots
 * (`optimizer/m/lstm_1/kernel`, …), with --ema the optimizer's own weights
 * (`training-weights/…`, since the checkpoint's weights are then the average), and the hidden
 * state carried along every stream (`carried/h/1`, …).
 */
export interface TrainingState {
  /** Optimizer slots named `<slot>/<parameter>`. */
  slots: NamedArrays;
  /** The weights the optimizer moves, when they differ from the checkpoint's (--ema); else empty. */
  trainingWeights: NamedArrays;
  carried: NamedArrays;
}

const OPTIMIZER_PREFIX = 'optimizer/';
const TRAINING_WEIGHTS_PREFIX = 'training-weights/';

export function encodeTrainingState({ slots, trainingWeights, carried }: TrainingState): NamedArrays {
  const arrays: NamedArrays = new Map();
  for (const [name, values] of slots) arrays.set(OPTIMIZER_PREFIX + name, values);
  for (const [name, values] of trainingWeights) arrays.set(TRAINING_WEIGHTS_PREFIX + name, values);
  for (const [name, values] of carried) arrays.set(name, values);
  return arrays;
}

export function decodeTrainingState(arrays: NamedArrays): TrainingState {
  const state: TrainingState = { slots: new Map(), trainingWeights: new Map(), carried: new Map() };
  for (const [name, values] of arrays) {
    if (name.startsWith(OPTIMIZER_PREFIX)) state.slots.set(name.slice(OPTIMIZER_PREFIX.length), values);
    if (name.startsWith(TRAINING_WEIGHTS_PREFIX)) state.trainingWeights.set(name.slice(TRAINING_WEIGHTS_PREFIX.length), values);
    if (isCarriedName(name)) state.carried.set(name, values);
  }
  return state;
}
