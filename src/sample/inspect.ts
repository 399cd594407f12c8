import { logProbOf } from './choose.js';
import type { Stepper } from './generate.js';

/** What a model (or ensemble) makes of a text, character by character: rnn-eval --activations, and the page rnn-web writes. */
export interface TextInspection {
  /** `logProbs[t]`: log-probability (nats) of character t+1 given characters 0…t, from zero state; one fewer than the characters. */
  logProbs: Float64Array;
  /** `activations[m][l]`: member m's layer l hidden state h after reading each character, [characters × hiddenSize] row-major. */
  activations: Float32Array[][];
  /** Likewise the LSTM's cell state c, undefined for other cells; absent where the stepper cannot read it (Stepper.cells). */
  cells?: (Float32Array | undefined)[][];
}

export interface InspectOptions {
  /** Told how many characters have been read, every PROGRESS_EVERY of them. */
  progress?: (read: number) => void;
}

/** Characters between two progress reports: a few a second on the page. */
export const PROGRESS_EVERY = 500;

/**
 * Reads `ids` one character at a time from zero state, as sampling does, recording each layer's
 * hidden state and the log-probability of the next character. Row t of an activation is the
 * state once character t has been read, as Karpathy, Johnson and Fei-Fei colour their text.
 */
export function inspectText(stepper: Stepper, ids: Int32Array, options: InspectOptions = {}): TextInspection {
  const n = ids.length;
  const logProbs = new Float64Array(Math.max(0, n - 1));
  const activations = new StateRecord(n);
  const cells = stepper.cells ? new StateRecord(n) : undefined;
  for (let t = 0; t < n; t++) {
    const scores = stepper.step(ids[t]);
    activations.record(t, stepper.hidden());
    cells?.record(t, stepper.cells!());
    if (t + 1 < n) logProbs[t] = logProbOf(scores, ids[t + 1]);
    if (options.progress && (t + 1) % PROGRESS_EVERY === 0) options.progress(t + 1);
  }
  return { logProbs, activations: activations.values as Float32Array[][], cells: cells?.values };
}

/** One kind of state of every member's layers over n characters, [member][layer] of [n × units]. */
class StateRecord {
  values: (Float32Array | undefined)[][] = [];

  constructor(private readonly n: number) {}

  record(t: number, states: (Float32Array | undefined)[][]): void {
    if (t === 0) this.values = states.map((layers) => layers.map((state) => state && new Float32Array(this.n * state.length)));
    states.forEach((layers, m) => layers.forEach((state, l) => state && this.values[m][l]!.set(state, t * state.length)));
  }
}
