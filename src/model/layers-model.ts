import { layerName, type CellType } from './cells/cell.js';
import { parameterShapes } from './char-rnn.js';
import type { ModelConfig } from './config.js';

/** Keras class names of the cells, as tfjs-layers deserialises them. */
const LAYER_CLASS: Record<CellType, string> = { lstm: 'LSTM', gru: 'GRU', rnn: 'SimpleRNN' };

/**
 * A tfjs layers-model description (model.json) of the network, whose weights are the checkpoint's
 * own weights.bin: our parameters are already laid out, named and ordered as tf.layers names
 * them, so stock `tf.loadLayersModel` reads the file as it is. The model maps character ids
 * [batch, time] to next-character probabilities [batch, time, vocabulary] from zero state; the
 * ids are indices into the checkpoint's vocabulary.json. Dropout is a training-time matter and
 * is left out.
 */
export function layersModelJson(config: ModelConfig, weightsFile: string, generatedBy: string): object {
  const recurrent = Array.from({ length: config.layers }, (_, l) => ({
    class_name: LAYER_CLASS[config.cell],
    config: {
      name: layerName(config.cell, l),
      trainable: true,
      dtype: 'float32',
      units: config.hiddenSize,
      activation: 'tanh',
      use_bias: true,
      return_sequences: true,
      return_state: false,
      go_backwards: false,
      stateful: false,
      unroll: false,
      dropout: 0,
      recurrent_dropout: 0,
      ...(config.cell === 'rnn' ? {} : { recurrent_activation: 'sigmoid', implementation: 2 }),
      ...(config.cell === 'lstm' ? { unit_forget_bias: true } : {}),
      ...(config.cell === 'gru' ? { reset_after: false } : {}),
    },
  }));
  const layers = [
    {
      class_name: 'Embedding',
      config: {
        name: 'embedding',
        trainable: true,
        dtype: 'float32',
        batch_input_shape: [null, null],
        input_dim: config.vocabSize,
        output_dim: config.embeddingSize,
        mask_zero: false,
      },
    },
    ...recurrent,
    { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: config.vocabSize, activation: 'softmax', use_bias: true } },
  ];
  return {
    format: 'layers-model',
    generatedBy,
    convertedBy: null,
    modelTopology: { class_name: 'Sequential', config: { name: 'rnn_train', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    weightsManifest: [{ paths: [weightsFile], weights: [...parameterShapes(config)].map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }],
  };
}
