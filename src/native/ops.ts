import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../util/random.js';

/**
 * Direct access to TensorFlow's own kernels on the tensorflow backend, for the fused ops tfjs has
 * no name for (the LSTM kernels in model/cells/lstm-native.ts, and the two below), and for running ops on
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

/**
 * The instruction-set paths of rnn-train's own recurrence (src/install/recurrence/), narrowest
 * first: `generic` (baseline x86-64), `avx2` (AVX2 with FMA), `avx512`, all float32; and
 * `avx512bf16`, the LSTM's per-step products on bfloat16 operands (AVX512-BF16), for
 * --precision bfloat16 only.
 */
export const RECURRENCE_ISAS = ['generic', 'avx2', 'avx512', 'avx512bf16'] as const;
/** The path of bfloat16 products. */
export const BFLOAT16_ISA = 'avx512bf16';
export type RecurrenceIsa = (typeof RECURRENCE_ISAS)[number];

/** Where and how wide the recurrence runs: model/policy.ts's recurrencePlan decides. */
export interface RecurrencePlan {
  isa: RecurrenceIsa;
  threads: number;
}

/** What the active backend offers the LSTM (all false off the tensorflow backend). */
export interface LstmCapabilities {
  /** TensorFlow's fused LSTM ops (BlockLSTMV2, LSTMBlockCell): any tfjs-node addon. */
  fusedOps: boolean;
  /** The binding's lstmBackward, rnn-train's addition (src/install/recurrence/); absent from an addon built elsewhere. */
  nativeBackward: boolean;
  /** The binding's gruForward and gruBackward, likewise. */
  nativeGru: boolean;
  /** The binding's rnnForward and rnnBackward, likewise. */
  nativeRnn: boolean;
  /** The binding's optimizerUpdate (a step's whole update in one call), likewise. */
  nativeUpdate: boolean;
  /** The ISA paths of rnn-train's recurrence that this CPU can run, narrowest first; [] without it. */
  isas: RecurrenceIsa[];
  /** RNN_TRAIN_ISA, when the user set it: the path to run instead of the widest. */
  forcedIsa?: RecurrenceIsa;
  /** The threads TensorFlow was started with, which the recurrence uses too. */
  threads: number;
  /** The cores this process may use, which sampling's threads may take whatever TensorFlow was given. */
  cores: number;
  /** Whether the CPU multiplies bfloat16 natively; undefined where that cannot be asked. */
  cpuBfloat16: boolean | undefined;
  /** The widest x86 vector ISA of oneDNN's sgemm, which runs TensorFlow's float32 MatMul; `other` for narrower ones, other CPUs, and no TensorFlow. */
  sgemmIsa: SgemmIsa;
}

/** What model/policy.ts tells apart of oneDNN's sgemm: its AVX-512 kernels, its AVX2 ones, or anything else. */
export type SgemmIsa = 'avx512' | 'avx2' | 'other';

/** What any backend but tensorflow offers, the browser's included: no native kernel. */
export const NO_NATIVE_KERNELS: LstmCapabilities = {
  fusedOps: false,
  nativeBackward: false,
  nativeGru: false,
  nativeRnn: false,
  nativeUpdate: false,
  isas: [],
  threads: 1,
  cores: 1,
  cpuBfloat16: undefined,
  sgemmIsa: 'other',
};

/**
 * A layer's backpropagation through a chunk on rnn-train's recurrence, on tensor ids: what its
 * forward pass saved (`Saved`); the chunk's initial state (c for the LSTM, h for the others); the
 * gradient of the layer's output [T·B, H]; the float32 recurrent kernel [H, G·H]; the table rows
 * the forward pass read (its `rows`, NO_TABLE for none) and the table's row count V; the ISA path
 * and threads to run on. Returns the ids of the gates' pre-activation gradient [T·B, G·H] and of
 * its column sums, the bias gradient [G·H]; with a table, also of its rows summed by the table row
 * each read, the table's gradient [V, G·H].
 */
type RecurrenceBackward<Saved> = (
  saved: Saved,
  initial: number,
  dOutput: number,
  recurrent: number,
  rows: number,
  tableRows: number,
  isa: RecurrenceIsa,
  threads: number,
) => GateGradientIds | [...GateGradientIds, dTable: number];

/**
 * RecurrenceBackward for the LSTM: the gates [T·B, 4H] (i,f,c,o), c and tanh(c) saved, as
 * LstmForward returns them; the initial c. It writes dA over the gates' buffer and returns it as
 * dGates, so the gates' tensor must not be read after.
 */
export type LstmBackward = RecurrenceBackward<number[]>;

/** What the backward passes return: the ids of the pre-activation gradient [T·B, G·H] and the bias gradient [G·H]. */
export type GateGradientIds = [dGates: number, dBias: number];

/** The recurrences' `rows` when x·W is the chunk's own. */
export const NO_TABLE = -1;

/**
 * An LSTM layer's forward pass through a chunk, on tensor ids: the input projections x·W
 * [T·B, 4H], or a table of such rows [V, 4H] with `rows`, the int32 ids [T·B] of the row each
 * chunk row reads (NO_TABLE for none); the bias [4H], which the recurrence adds as it reads them;
 * the initial h and c; the float32 recurrent kernel [H, 4H]; the ISA path and threads. Returns the
 * ids of the gates [T·B, 4H] (i, f, the candidate, o), then c, tanh(c) and h, each [T·B, H].
 */
export type LstmForward = (
  projected: number,
  rows: number,
  bias: number,
  hInitial: number,
  cInitial: number,
  recurrent: number,
  isa: RecurrenceIsa,
  threads: number,
) => number[];

/** A native step model, opaque to JavaScript; the binding frees it with the last reference. */
export interface StepModelHandle {
  readonly __stepModel: unique symbol;
}

/**
 * A GRU layer's forward pass through a chunk, on tensor ids: the input projections x·W [T·B, 3H],
 * gates z, r, h, or a table of such rows [V, 3H] with the ids of the row each chunk row reads, as
 * LstmForward takes them; the bias [3H]; the initial h; the float32 recurrent kernel [H, 3H].
 * Returns the ids of z, r, the candidate, r ⊙ h_{t-1} and h, each [T·B, H].
 */
export type GruForward = (projected: number, rows: number, bias: number, hInitial: number, recurrent: number, isa: RecurrenceIsa, threads: number) => number[];

/** RecurrenceBackward for the GRU: z, r, the candidate and h saved; gates z, r, h; the initial h. */
export type GruBackward = RecurrenceBackward<number[]>;

/**
 * A vanilla RNN layer's forward pass through a chunk, on tensor ids: the input projections x·W
 * [T·B, H], or a table of such rows [V, H] with the ids of the row each chunk row reads, as
 * LstmForward takes them; the bias [H]; the initial h; the float32 recurrent kernel [H, H].
 * Returns the id of h [T·B, H].
 */
export type RnnForward = (projected: number, rows: number, bias: number, hInitial: number, recurrent: number, isa: RecurrenceIsa, threads: number) => number;

/** RecurrenceBackward for the vanilla RNN: h saved; the initial h. */
export type RnnBackward = RecurrenceBackward<number>;

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
    TF_STRING: number;
    executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): RawTensor[];
    createTensor(shape: number[], dtype: number, values: Int32Array): number;
    deleteTensor(id: number): void;
    /** How many tensor handles the binding holds, whether or not a tfjs tensor wraps them. */
    getNumOfTensors(): number;
    /** rnn-train's additions to the binding (src/install/recurrence/); absent from addons built elsewhere. */
    lstmForward?: LstmForward;
    lstmBackward?: LstmBackward;
    gruForward?: GruForward;
    gruBackward?: GruBackward;
    rnnForward?: RnnForward;
    rnnBackward?: RnnBackward;
    /** The ISA paths this CPU can run, narrowest first. */
    recurrenceIsas?: () => RecurrenceIsa[];
    /** A model stepping and drawing characters in streams (src/install/recurrence/step_binding.cc says how). */
    stepModelCreate?: (cell: string, sizes: Int32Array, weights: Float32Array[], isa: RecurrenceIsa) => StepModelHandle;
    stepModelStep?: (model: StepModelHandle, ids: Int32Array, logits: Float32Array | null) => void;
    stepModelDraw?: (model: StepModelHandle, inputs: Int32Array, generators: Uint32Array, rule: Float64Array, ids: Int32Array, logProbs: Float64Array) => void;
    stepModelHidden?: (model: StepModelHandle, layer: number, out: Float32Array) => void;
    optimizerUpdate?: (request: NativeUpdateRequest) => { params: number[]; slots: number[]; norm: number };
    /** The float32 tensors' values, one after another, into `out` (src/install/recurrence/copy_binding.cc). */
    copyTensors?: (ids: number[], out: Float32Array) => void;
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

/**
 * Copies the float32 tensors' values, one after another, into `into`, which must hold exactly as
 * many: in place through the binding's copyTensors where it is there, so that no new ArrayBuffer
 * of that size is made (data-parallel.ts's exchange, every step); else through one flat tensor.
 */
export async function copyInto(tensors: tf.Tensor[], into: Float32Array): Promise<void> {
  const backend = tensorflowBackend();
  if (backend?.binding.copyTensors) return backend.binding.copyTensors(backend.getInputTensorIds(tensors), into);
  const flat = tf.tidy(() => tf.concat(tensors.map((tensor) => tf.reshape(tensor, [-1]))));
  const values = await flat.data();
  flat.dispose();
  if (values.length !== into.length) throw new Error(`the tensors hold ${values.length} values, and the array to copy them into ${into.length}`);
  into.set(values);
}

/** The float32 `T` attribute most kernels take. */
export function floatAttr({ binding }: TensorflowBackend): OpAttr {
  return { name: 'T', type: binding.TF_ATTR_TYPE, value: binding.TF_FLOAT };
}

/** A backward pass's outputs as tfjs tensors: the pre-activation gradient [rows, columns] and the bias gradient [columns]. */
export function gateGradients(
  backend: TensorflowBackend,
  [dGates, dBias]: GateGradientIds,
  [rows, columns]: [number, number],
): { dGates: tf.Tensor2D; bias: tf.Tensor1D } {
  const dtype = backend.binding.TF_FLOAT;
  return {
    dGates: backend.createOutputTensor({ id: dGates, shape: [rows, columns], dtype }) as tf.Tensor2D,
    bias: backend.createOutputTensor({ id: dBias, shape: [columns], dtype }) as tf.Tensor1D,
  };
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
 * A 2-D matrix product. On TensorFlow, its MatMul kernel rather than the BatchMatMulV2 that
 * tf.matMul runs: 10–15 % faster at a chunk's gradient shapes ([1250, 512]ᵀ·[1250, 128] and the
 * like, one thread). No gradient is recorded, which the hand-written backward passes do not need.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  const backend = tensorflowBackend();
  if (!backend) return tf.matMul(a, b, transposeA, transposeB);
  return backend.executeMultipleOutputs('MatMul', matMulAttrs(backend, transposeA, transposeB, backend.binding.TF_FLOAT), [a, b], 1)[0] as tf.Tensor2D;
}

/** The attributes of TensorFlow's MatMul: which operands to transpose, and their type. */
function matMulAttrs({ binding }: TensorflowBackend, transposeA: boolean, transposeB: boolean, type: number): OpAttr[] {
  return [
    { name: 'transpose_a', type: binding.TF_ATTR_BOOL, value: transposeA },
    { name: 'transpose_b', type: binding.TF_ATTR_BOOL, value: transposeB },
    { name: 'T', type: binding.TF_ATTR_TYPE, value: type },
  ];
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

/** TensorFlow's DT_BFLOAT16, which the binding does not name. */
const TF_BFLOAT16 = 14;

/** Converts a raw handle between float32 and bfloat16; the caller deletes both. */
function castHandle({ binding }: TensorflowBackend, id: number, to: 'float32' | 'bfloat16'): number {
  const [from, into] = to === 'bfloat16' ? [binding.TF_FLOAT, TF_BFLOAT16] : [TF_BFLOAT16, binding.TF_FLOAT];
  const attrs = [
    { name: 'SrcT', type: binding.TF_ATTR_TYPE, value: from },
    { name: 'DstT', type: binding.TF_ATTR_TYPE, value: into },
    { name: 'Truncate', type: binding.TF_ATTR_BOOL, value: false },
  ];
  return binding.executeOp('Cast', attrs, [id], 1)[0].id;
}

/** A matrix product to run: its operands and which of them are transposed. */
export interface ProductTerms {
  a: tf.Tensor2D;
  b: tf.Tensor2D;
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * Float32 matrix products with bfloat16 operands (oneDNN runs them with float32 accumulation, at
 * about twice the float32 rate on CPUs with AVX512-BF16 or AMX), each result rounded to bfloat16
 * and back. Each distinct operand is cast once for all the products that share it: the backward
 * pass's gate gradients feed three.
 */
export function matMulsBfloat16(backend: TensorflowBackend, products: ProductTerms[]): tf.Tensor2D[] {
  const { binding } = backend;
  const casts = new Map<tf.Tensor2D, number>();
  const cast = (t: tf.Tensor2D): number => {
    const id = casts.get(t) ?? castHandle(backend, backend.getInputTensorIds([t])[0], 'bfloat16');
    casts.set(t, id);
    return id;
  };
  try {
    return products.map(({ a, b, transposeA, transposeB }) => {
      const [result] = binding.executeOp('MatMul', matMulAttrs(backend, transposeA, transposeB, TF_BFLOAT16), [cast(a), cast(b)], 1);
      const id = castHandle(backend, result.id, 'float32');
      binding.deleteTensor(result.id);
      const shape = [transposeA ? a.shape[1] : a.shape[0], transposeB ? b.shape[0] : b.shape[1]];
      return backend.createOutputTensor({ id, shape, dtype: binding.TF_FLOAT }) as tf.Tensor2D;
    });
  } finally {
    for (const id of casts.values()) binding.deleteTensor(id);
  }
}

/** The update rules of the binding's optimizerUpdate, named as train/optimizer.ts names its optimizers. */
export type UpdateRuleName = 'adam' | 'rmsprop' | 'sgd';

/** A training step's whole update: what train/engine.ts's update does in TensorFlow ops. */
export interface UpdateRequest {
  /** The optimizer's rule and its coefficients for this step (update_kernel.h lists them). */
  rule: UpdateRuleName;
  coefficients: number[];
  params: tf.Tensor[];
  /** Each parameter's weight-decay factor, 1 − decay for matrices and 1 for biases. */
  keep: number[];
  /** Flat gradients over every parameter, summed weighted by `shares`. */
  gradients: tf.Tensor1D[];
  shares: number[];
  /** The optimizer's flat slots, as many as its rule keeps. */
  slots: tf.Tensor[];
  /** Global-norm clipping: the gradient is scaled by min(1, maxNorm / (norm + clipEpsilon)). */
  maxNorm: number;
  clipEpsilon: number;
}

/** What the binding's optimizerUpdate reads (src/install/recurrence/update_binding.cc says how): the request, tensors as their ids. */
type NativeUpdateRequest = Omit<UpdateRequest, 'params' | 'gradients' | 'slots'> & Record<'params' | 'gradients' | 'slots', number[]>;

/**
 * A training step's update in one call to the binding's optimizerUpdate: new tensors for the
 * parameters (in their shapes) and the slots, with the same bits as the TensorFlow ops' update, and
 * the gradient's norm before clipping (float32; the ops sum it in another order).
 */
export function optimizerUpdate(backend: TensorflowBackend, request: UpdateRequest): { params: tf.Tensor[]; slots: tf.Tensor[]; norm: number } {
  const { binding } = backend;
  const ids = (tensors: tf.Tensor[]) => backend.getInputTensorIds(tensors);
  const reply = binding.optimizerUpdate!({
    ...request,
    params: ids(request.params),
    gradients: ids(request.gradients),
    slots: ids(request.slots),
  });
  const wrap = (id: number, shape: number[]) => backend.createOutputTensor({ id, shape, dtype: binding.TF_FLOAT });
  return {
    params: reply.params.map((id, i) => wrap(id, request.params[i].shape)),
    slots: reply.slots.map((id, i) => wrap(id, request.slots[i].shape)),
    norm: reply.norm,
  };
}
