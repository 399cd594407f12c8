import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from './random.js';

/**
 * Direct access to TensorFlow's own kernels on the tensorflow backend, for the fused ops tfjs has
 * no name for (the LSTM kernels in lstm-tensorflow.ts, and the two below), and for running ops on
 * the binding's raw handles where wrapping every output in a tfjs tensor would cost more than the
 * arithmetic. Every function here has a portable equivalent for the other backends.
 */

export interface OpAttr {
  name: string;
  type: number;
  value: boolean | number | string;
}

/** An op's output as the binding returns it: a TensorFlow handle, not (yet) a tfjs tensor. */
export interface RawTensor {
  id: number;
  shape: number[];
  dtype: number;
}

/** The part of tfjs-node's backend used here: running any TensorFlow op by name. */
export interface TensorflowBackend {
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  getInputTensorIds(tensors: tf.Tensor[]): number[];
  createOutputTensor(output: RawTensor): tf.Tensor;
  binding: {
    TF_ATTR_BOOL: number;
    TF_ATTR_FLOAT: number;
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_TYPE: number;
    TF_FLOAT: number;
    TF_INT32: number;
    TF_INT64: number;
    executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): RawTensor[];
    createTensor(shape: number[], dtype: number, values: Int32Array): number;
    deleteTensor(id: number): void;
  };
}

/** The tensorflow backend if it is the active one, else undefined (then use the portable ops). */
export function tensorflowBackend(): TensorflowBackend | undefined {
  if (tf.getBackend() !== 'tensorflow') return undefined;
  const backend = tf.backend() as unknown as Partial<TensorflowBackend>;
  return typeof backend.executeMultipleOutputs === 'function' && typeof backend.createOutputTensor === 'function' && backend.binding
    ? (backend as TensorflowBackend)
    : undefined;
}

/** The float32 `T` attribute most kernels take. */
export function floatAttr({ binding }: TensorflowBackend): OpAttr {
  return { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
}

/**
 * The sum over rows of [N, C], i.e. a bias gradient: TensorFlow's BiasAddGrad is 4–12× faster at
 * it than the generic Sum reduction (which took 15 ms for 6400×2048 on one thread).
 */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  const backend = tensorflowBackend();
  if (!backend) return tf.sum(x, 0);
  const format = { name: 'data_format', type: backend.binding.TF_ATTR_STRING, value: 'NHWC' };
  return backend.executeMultipleOutputs('BiasAddGrad', [floatAttr(backend), format], [x], 1)[0] as tf.Tensor1D;
}

/**
 * Softmax cross-entropy of logits [N, V] against integer targets: each row's negative
 * log-likelihood (nats) and its gradient with respect to the logits, softmax − one-hot. One fused
 * op on TensorFlow instead of a dozen over [N, V].
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, targets: Int32Array): { nll: tf.Tensor1D; dLogits: tf.Tensor2D } {
  const backend = tensorflowBackend();
  if (backend) {
    const labels = tf.tensor1d(targets, 'int32');
    const labelType = { name: 'Tlabels', type: backend.binding.TF_ATTR_TYPE, value: backend.binding.TF_INT32 };
    const [nll, dLogits] = backend.executeMultipleOutputs('SparseSoftmaxCrossEntropyWithLogits', [floatAttr(backend), labelType], [logits, labels], 2);
    return { nll: nll as tf.Tensor1D, dLogits: dLogits as tf.Tensor2D };
  }
  const logProbs = tf.logSoftmax(logits);
  const oneHot = oneHotRows(targets, logits.shape[1]);
  return { nll: tf.neg(tf.sum(tf.mul(logProbs, oneHot), 1)) as tf.Tensor1D, dLogits: tf.sub(tf.exp(logProbs), oneHot) as tf.Tensor2D };
}

/**
 * Uniform draws in [0, 1) of the given shape from TensorFlow's stateless generator, seeded with two
 * draws from `rng`; undefined on other backends (then draw them in JavaScript), where `rng` is left
 * untouched.
 */
export function statelessUniform(shape: [number, number], rng: Rng): tf.Tensor2D | undefined {
  const backend = tensorflowBackend();
  if (!backend) return undefined;
  const seed = [rng.int(), rng.int()];
  const { binding } = backend;
  const attrs = [
    { name: 'dtype', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT },
    { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 },
    { name: 'Tseed', type: binding.TF_ATTR_TYPE, value: binding.TF_INT32 },
  ];
  return backend.executeMultipleOutputs('StatelessRandomUniform', attrs, [tf.tensor1d(shape, 'int32'), tf.tensor1d(seed, 'int32')], 1)[0] as tf.Tensor2D;
}

/** Rows of one-hot float32 vectors, one per id. */
export function oneHotRows(ids: Int32Array, depth: number): tf.Tensor2D {
  // Cast rather than ask oneHot for float32: the wasm backend writes int32 bits into that buffer.
  return tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), depth), 'float32') as tf.Tensor2D;
}
