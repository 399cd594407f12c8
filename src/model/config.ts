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
 * Which LSTM implementation runs. `auto`: on the tensorflow backend, TensorFlow's fused kernels
 * (cells/lstm-native.ts; to train, with the addon rnn-train's native setup builds), elsewhere lstm.ts;
 * `reference`: always lstm.ts.
 */
export type LstmKernels = 'auto' | 'reference';
