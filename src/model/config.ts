import type { CellType } from './cells/cell.js';

/** Values by parameter (or slot, or state part) name, as checkpoints store them. */
export type NamedArrays = Map<string, Float32Array>;

export interface ModelConfig {
  cell: CellType;
  vocabSize: number;
  embeddingSize: number;
  hiddenSize: number;
  layers: number;
  /** Dropout rate applied to the output of every recurrent layer while training. */
  dropout: number;
  /**
   * Dropout rate on the embeddings that feed the first layer while training, the one place
   * Zaremba et al. (2014) drop that `dropout` (char-rnn's placement) leaves out.
   */
  inputDropout: number;
  /**
   * DropConnect rate on the recurrent kernels while training (AWD-LSTM's weight drop, Merity et al.
   * 2017): one mask per layer and chunk, shared by every stream and time step, so the same
   * connections stay dropped through the recurrence, which dropout on activations cannot do.
   */
  weightDrop: number;
}

/**
 * Which recurrence runs. `auto`: on the tensorflow backend, rnn-train's own kernels in the addon
 * its native setup builds (cells/lstm-native.ts, cells/gru-native.ts, native sampling), elsewhere
 * the portable cells; `reference`: always lstm.ts and gru.ts.
 */
export type LstmKernels = 'auto' | 'reference';
