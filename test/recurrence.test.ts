import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';
import {
  BFLOAT16_ISA,
  CELL_TYPES,
  GATE_BLOCKS,
  cpuHasBfloat16,
  NO_NATIVE_KERNELS,
  NO_TABLE,
  RECURRENCE_ISAS,
  CharRnn,
  gruSequenceNative,
  rnnSequenceNative,
  type CellWeights,
  type LayerPass,
  type LayerState,
  type TableInput,
  initialWeights,
  ISA_ENV,
  lstmCapabilities,
  lstmPacked,
  NativeStepModel,
  recurrencePlan,
  Rng,
  samplingIsa,
  chooseNext,
  logProbOf,
  tensorflowBackend,
  type RecurrenceIsa,
  type SamplingRule,
  type SamplingSplit,
  samplingThreads,
  type CellType,
  type ModelConfig,
  type RecurrencePlan,
  type MatmulPrecision,
  type SgemmIsa,
  weightProductColumns,
} from '../src/index.js';

// rnn-train's own LSTM recurrence (src/install/recurrence/) on every ISA path this CPU can run,
// one thread and two, against a float64 oracle written out plainly below: forward outputs and
// final state, and the backward pass's gradients of input and weights.

const backend = tensorflowBackend();
const isas: RecurrenceIsa[] = backend ? lstmCapabilities().isas : [];

/** A layer's sizes: odd ones leave partial tiles and partial row blocks on every path. */
interface Shape {
  steps: number;
  batch: number;
  input: number;
  hidden: number;
}

interface LayerData {
  x: Float64Array;
  kernel: Float64Array;
  recurrent: Float64Array;
  bias: Float64Array;
  h0: Float64Array;
  c0: Float64Array;
  dOutput: Float64Array;
}

/** Random values exactly representable in float32, so that both sides start from the same numbers. */
function layerData({ steps, batch, input, hidden }: Shape, seed: number, gates = 4): LayerData {
  const rng = new Rng(seed);
  const draw = (n: number, scale: number) => Float64Array.from(new Float32Array(Array.from({ length: n }, () => (2 * rng.next() - 1) * scale)));
  return {
    x: draw(steps * batch * input, 1),
    kernel: draw(input * gates * hidden, 0.5),
    recurrent: draw(hidden * gates * hidden, 1.5 / Math.sqrt(hidden)),
    bias: draw(gates * hidden, 0.5),
    h0: draw(batch * hidden, 0.9),
    c0: draw(batch * hidden, 2),
    dOutput: draw(steps * batch * hidden, 1),
  };
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const product = (n: number, m: number, value: (r: number, col: number) => number) =>
  Float64Array.from({ length: n * m }, (_, k) => value(Math.floor(k / m), k % m));
const dot = (length: number, term: (k: number) => number) => {
  let sum = 0;
  for (let k = 0; k < length; k++) sum += term(k);
  return sum;
};

/** The LSTM over a chunk and its backpropagation through time, in float64, gates i,f,c,o. */
function lstmOracle({ steps, batch, input, hidden: H }: Shape, d: LayerData) {
  const rows = steps * batch;
  const [i, f, g, o, c, h] = Array.from({ length: 6 }, () => new Float64Array(rows * H));
  const hAt = (t: number, b: number, j: number) => (t === 0 ? d.h0[b * H + j] : h[((t - 1) * batch + b) * H + j]);
  const cAt = (t: number, b: number, j: number) => (t === 0 ? d.c0[b * H + j] : c[((t - 1) * batch + b) * H + j]);
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      const row = t * batch + b;
      for (let j = 0; j < H; j++) {
        const a = [0, 1, 2, 3].map((q) => {
          let sum = d.bias[q * H + j];
          for (let k = 0; k < input; k++) sum += d.x[row * input + k] * d.kernel[k * 4 * H + q * H + j];
          for (let k = 0; k < H; k++) sum += hAt(t, b, k) * d.recurrent[k * 4 * H + q * H + j];
          return sum;
        });
        const at = row * H + j;
        [i[at], f[at], g[at], o[at]] = [sigmoid(a[0]), sigmoid(a[1]), Math.tanh(a[2]), sigmoid(a[3])];
        c[at] = f[at] * cAt(t, b, j) + i[at] * g[at];
        h[at] = o[at] * Math.tanh(c[at]);
      }
    }
  }
  const dA = new Float64Array(rows * 4 * H);
  const dc = new Float64Array(batch * H);
  for (let t = steps - 1; t >= 0; t--) {
    for (let b = 0; b < batch; b++) {
      const row = t * batch + b;
      for (let j = 0; j < H; j++) {
        const at = row * H + j;
        let dh = d.dOutput[at];
        if (t + 1 < steps) for (let k = 0; k < 4 * H; k++) dh += dA[(row + batch) * 4 * H + k] * d.recurrent[j * 4 * H + k];
        const tanhC = Math.tanh(c[at]);
        const dC = dh * o[at] * (1 - tanhC * tanhC) + dc[b * H + j];
        const base = row * 4 * H + j;
        dA[base] = dC * g[at] * i[at] * (1 - i[at]);
        dA[base + H] = dC * cAt(t, b, j) * f[at] * (1 - f[at]);
        dA[base + 2 * H] = dC * i[at] * (1 - g[at] * g[at]);
        dA[base + 3 * H] = dh * tanhC * o[at] * (1 - o[at]);
        dc[b * H + j] = dC * f[at];
      }
    }
  }
  const product = (n: number, m: number, value: (r: number, col: number) => number) =>
    Float64Array.from({ length: n * m }, (_, k) => value(Math.floor(k / m), k % m));
  const dot = (length: number, term: (k: number) => number) => {
    let sum = 0;
    for (let k = 0; k < length; k++) sum += term(k);
    return sum;
  };
  const hPrev = (r: number, k: number) => (r < batch ? d.h0[r * H + k] : h[(r - batch) * H + k]);
  return {
    output: h,
    c,
    dx: product(rows, input, (r, k) => dot(4 * H, (q) => dA[r * 4 * H + q] * d.kernel[k * 4 * H + q])),
    kernel: product(input, 4 * H, (k, q) => dot(rows, (r) => d.x[r * input + k] * dA[r * 4 * H + q])),
    recurrentKernel: product(H, 4 * H, (k, q) => dot(rows, (r) => hPrev(r, k) * dA[r * 4 * H + q])),
    bias: product(1, 4 * H, (_, q) => dot(rows, (r) => dA[r * 4 * H + q])),
  };
}

const f32 = (values: Float64Array) => Float32Array.from(values);

/**
 * The layer on the packed recurrence with this plan: outputs, final state and gradients;
 * weightColumns as PackedOptions takes it; with `tableRows`, x's first rows as a TableInput, row r
 * reading table row r mod tableRows (withTableRows makes such data), and dx the table's gradient.
 */
function packed(shape: Shape, d: LayerData, plan: RecurrencePlan, { weightColumns = 0, tableRows = 0 } = {}) {
  const { steps, batch, input, hidden } = shape;
  return tf.tidy(() => {
    const w = {
      kernel: tf.tensor2d(f32(d.kernel), [input, 4 * hidden], 'float32'),
      recurrentKernel: tf.tensor2d(f32(d.recurrent), [hidden, 4 * hidden], 'float32'),
      bias: tf.tensor1d(f32(d.bias), 'float32'),
    };
    const rows = tf.tensor2d(f32(d.x), [steps * batch, input], 'float32');
    const x = tableRows > 0 ? tableInput(rows, steps * batch, tableRows) : rows;
    const state = { h: tf.tensor2d(f32(d.h0), [batch, hidden], 'float32'), c: tf.tensor2d(f32(d.c0), [batch, hidden], 'float32') };
    const { lstmForward: forward, lstmBackward: backward } = backend!.binding;
    const pass = lstmPacked(backend!, { forward: forward!, backward }, w, x, state, { plan, precision: 'float32', backward: true, weightColumns });
    const gradients = pass.backward!(tf.tensor2d(f32(d.dOutput), [steps * batch, hidden], 'float32'));
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      output: read(pass.output),
      h: read(pass.state.h),
      c: read(pass.state.c!),
      dx: read(gradients.dx),
      kernel: read(gradients.kernel),
      recurrentKernel: read(gradients.recurrentKernel),
      bias: read(gradients.bias),
    };
  });
}

/** The largest error relative to the oracle's largest magnitude. */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let error = 0;
  let scale = 1e-30;
  for (let k = 0; k < expected.length; k++) {
    error = Math.max(error, Math.abs(actual[k] - expected[k]));
    scale = Math.max(scale, Math.abs(expected[k]));
  }
  return error / scale;
}

const SHAPES: Shape[] = [
  { steps: 5, batch: 7, input: 3, hidden: 37 },
  { steps: 3, batch: 13, input: 8, hidden: 130 },
];

describe.runIf(isas.length > 0)('the packed LSTM recurrence', () => {
  it('offers the baseline path, and the wider ones the CPU has', () => {
    expect(isas[0]).toBe('generic');
    expect(isas.every((isa) => (RECURRENCE_ISAS as readonly string[]).includes(isa))).toBe(true);
    expect(isas.includes(BFLOAT16_ISA)).toBe(isas.includes('avx512') && cpuHasBfloat16() === true);
  });

  describe.each(SHAPES)('at T=$steps, B=$batch, in=$input, H=$hidden', (shape) => {
    const data = layerData(shape, shape.hidden);
    const expected = lstmOracle(shape, data);
    const { steps, batch, hidden } = shape;
    const last = (values: Float64Array) => values.subarray((steps - 1) * batch * hidden);

    // bfloat16 operands keep 8 significant bits: their products are good to about 2⁻⁸ of the largest value.
    const tolerance = (isa: RecurrenceIsa) => (isa === BFLOAT16_ISA ? 1e-2 : 1e-5);

    it.each(isas)('matches the float64 oracle on the %s path, forward and backward, with 1 and 2 threads, bit for bit between them', (isa) => {
      const one = packed(shape, data, { isa, threads: 1 });
      const two = packed(shape, data, { isa, threads: 2 });
      expect(two).toEqual(one);
      expect(relativeError(one.output, expected.output)).toBeLessThan(tolerance(isa));
      expect(relativeError(one.h, last(expected.output))).toBeLessThan(tolerance(isa));
      expect(relativeError(one.c, last(expected.c))).toBeLessThan(tolerance(isa));
      for (const name of ['dx', 'kernel', 'recurrentKernel', 'bias'] as const) {
        expect(relativeError(one[name], expected[name]), name).toBeLessThan(tolerance(isa));
      }
    });

    it.each(isas)('gives the same weight gradients from one product over [x | h], exact or padded, on the %s path', (isa) => {
      const two = packed(shape, data, { isa, threads: 1 });
      for (const weightColumns of [shape.input + hidden, shape.input + hidden + 5]) {
        const one = packed(shape, data, { isa, threads: 1 }, { weightColumns });
        expect({ ...one, kernel: undefined, recurrentKernel: undefined }).toEqual({ ...two, kernel: undefined, recurrentKernel: undefined });
        for (const name of ['kernel', 'recurrentKernel'] as const) {
          expect(one[name].length, name).toBe(two[name].length);
          expect(relativeError(one[name], expected[name]), name).toBeLessThan(tolerance(isa));
        }
      }
    });

    it.each(isas)('reads the input as embedding-table rows, with h_{t-1} alone or padded, on the %s path', (isa) => {
      const tableRows = 3;
      const tabled = withTableRows(shape, data, tableRows);
      const oracle = lstmOracle(shape, tabled);
      const dTable = summedByTableRow(shape, oracle.dx, tableRows);
      for (const weightColumns of [0, hidden + 3]) {
        const result = packed(shape, tabled, { isa, threads: 1 }, { weightColumns, tableRows });
        expect(relativeError(result.output, oracle.output)).toBeLessThan(tolerance(isa));
        expect(relativeError(result.dx, dTable), 'dx').toBeLessThan(tolerance(isa));
        for (const name of ['kernel', 'recurrentKernel', 'bias'] as const) {
          expect(relativeError(result[name], oracle[name]), name).toBeLessThan(tolerance(isa));
        }
      }
    });
  });
});

describe.runIf(isas.length > 0)("the packed LSTM's backward pass", () => {
  it("runs once, as it writes dA over its forward pass's gates", () => {
    const shape = SHAPES[0];
    const { steps, batch, input, hidden } = shape;
    const data = layerData(shape, hidden);
    tf.tidy(() => {
      const w = {
        kernel: tf.tensor2d(f32(data.kernel), [input, 4 * hidden]),
        recurrentKernel: tf.tensor2d(f32(data.recurrent), [hidden, 4 * hidden]),
        bias: tf.tensor1d(f32(data.bias)),
      };
      const state = { h: tf.tensor2d(f32(data.h0), [batch, hidden]), c: tf.tensor2d(f32(data.c0), [batch, hidden]) };
      const { lstmForward: forward, lstmBackward: backward } = backend!.binding;
      const plan = { isa: isas[0], threads: 1 };
      const pass = lstmPacked(backend!, { forward: forward!, backward }, w, tf.tensor2d(f32(data.x), [steps * batch, input]), state, {
        plan,
        precision: 'float32',
        backward: true,
        weightColumns: 0,
      });
      const dOutput = tf.tensor2d(f32(data.dOutput), [steps * batch, hidden]);
      pass.backward!(dOutput);
      expect(() => pass.backward!(dOutput)).toThrow("a packed LSTM layer's backward pass runs once");
    });
  });
});

describe.runIf(isas.length > 0)('the table rows of lstmForward and lstmBackward', () => {
  it('refuses row ids that are not int32 rows of the table, with a JavaScript error', () => {
    const { binding } = backend!;
    const ids = (t: tf.Tensor) => backend!.getInputTensorIds([t])[0];
    tf.tidy(() => {
      const [table, bias, h, c, recurrent] = [[3, 8], [8], [2, 2], [2, 2], [2, 8]].map((shape) => ids(tf.zeros(shape)));
      const forward = (rows: number) => binding.lstmForward!(table, rows, bias, h, c, recurrent, 'generic', 1);
      expect(() => forward(ids(tf.tensor1d([0, 1, 3, 2], 'int32')))).toThrow('row id 3 is not a row of the table');
      expect(() => forward(ids(tf.tensor1d([0, -1, 2, 2], 'int32')))).toThrow('row id -1 is not a row of the table');
      expect(() => forward(ids(tf.tensor1d([0, 1, 2, 2], 'float32')))).toThrow("the table's row ids must be int32");
      expect(() => forward(ids(tf.tensor1d([0, 1, 2], 'int32')))).toThrow("the table's row ids must fill whole steps of the batch's 2 rows");
      const outputs = forward(ids(tf.tensor1d([0, 1, 2, 2], 'int32')));
      expect(outputs).toHaveLength(4);
      for (const id of outputs) binding.deleteTensor(id);
    });
  });

  it("has lstmBackward return the table's gradient [V, 4H] too, and refuses row ids that do not match the chunk's rows", () => {
    const { binding } = backend!;
    const ids = (t: tf.Tensor) => backend!.getInputTensorIds([t])[0];
    tf.tidy(() => {
      const gates = [ids(tf.zeros([4, 8])), ids(tf.zeros([4, 2])), ids(tf.zeros([4, 2]))];
      const [c, dOutput, recurrent] = [
        [2, 2],
        [4, 2],
        [2, 8],
      ].map((shape) => ids(tf.ones(shape)));
      const backward = (rows: number, tableRows: number) => binding.lstmBackward!(gates, c, dOutput, recurrent, rows, tableRows, 'generic', 1);
      expect(() => backward(ids(tf.tensor1d([0, 1, 2], 'int32')), 3)).toThrow("the table's row ids must be one for each of the chunk's 4 rows");
      expect(() => backward(ids(tf.tensor1d([0, 1, 2, 3], 'int32')), 3)).toThrow('row id 3 is not a row of the table');
      const untabled = binding.lstmBackward!(gates, c, dOutput, recurrent, NO_TABLE, 0, 'generic', 1);
      expect(() => binding.lstmBackward!(gates.slice(1), c, dOutput, recurrent, NO_TABLE, 0, 'generic', 1)).toThrow(
        "expected the forward pass's gates, c and tanh(c), not 2 tensors",
      );
      expect(() => binding.lstmBackward!([gates[1], gates[1], gates[2]], c, dOutput, recurrent, NO_TABLE, 0, 'generic', 1)).toThrow(
        "the gates' tensor does not have the layer's 32 values",
      );
      expect(untabled).toHaveLength(2);
      for (const id of untabled) binding.deleteTensor(id);
      const outputs = backward(ids(tf.tensor1d([0, 1, 2, 2], 'int32')), 3);
      expect(outputs).toHaveLength(3);
      expect(backend!.createOutputTensor({ id: outputs[2]!, shape: [3, 8], dtype: binding.TF_FLOAT }).shape).toEqual([3, 8]);
      for (const id of outputs.slice(0, 2)) binding.deleteTensor(id);
    });
  });
});

/** The table's gradient: the oracle's dx summed over the chunk rows that read each table row (row r reads r mod tableRows). */
function summedByTableRow({ input }: Shape, dx: Float64Array, tableRows: number): Float64Array {
  const dTable = new Float64Array(tableRows * input);
  dx.forEach((value, k) => (dTable[(Math.floor(k / input) % tableRows) * input + (k % input)] += value));
  return dTable;
}

/** The chunk's first `tableRows` rows of x as a TableInput, row r reading table row r mod tableRows. */
function tableInput(x: tf.Tensor2D, rows: number, tableRows: number): TableInput {
  const ids = tf.tensor1d(
    Int32Array.from({ length: rows }, (_, r) => r % tableRows),
    'int32',
  );
  return { table: tf.slice(x, [0, 0], [tableRows, x.shape[1]]), ids };
}

/** The data with x's rows repeating its first `tableRows`, as a TableInput of them reads it. */
function withTableRows({ steps, batch, input }: Shape, d: LayerData, tableRows: number): LayerData {
  return { ...d, x: Float64Array.from({ length: steps * batch * input }, (_, k) => d.x[(Math.floor(k / input) % tableRows) * input + (k % input)]) };
}

/** The GRU (gru.ts's maths, gates z, r, h) over a chunk and its backpropagation, in float64. */
function gruOracle({ steps, batch, input, hidden: H }: Shape, d: LayerData) {
  const rows = steps * batch;
  const [z, r, hh, rh, h] = Array.from({ length: 5 }, () => new Float64Array(rows * H));
  const hPrev = (row: number, j: number) => (row < batch ? d.h0[row * H + j] : h[(row - batch) * H + j]);
  const projection = (row: number, column: number) => d.bias[column] + dot(input, (k) => d.x[row * input + k] * d.kernel[k * 3 * H + column]);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; j < H; j++) {
      z[row * H + j] = sigmoid(projection(row, j) + dot(H, (k) => hPrev(row, k) * d.recurrent[k * 3 * H + j]));
      r[row * H + j] = sigmoid(projection(row, H + j) + dot(H, (k) => hPrev(row, k) * d.recurrent[k * 3 * H + H + j]));
      rh[row * H + j] = r[row * H + j] * hPrev(row, j);
    }
    for (let j = 0; j < H; j++) {
      const at = row * H + j;
      hh[at] = Math.tanh(projection(row, 2 * H + j) + dot(H, (k) => rh[row * H + k] * d.recurrent[k * 3 * H + 2 * H + j]));
      h[at] = hh[at] + z[at] * (hPrev(row, j) - hh[at]);
    }
  }
  const dA = new Float64Array(rows * 3 * H);
  const dNext = new Float64Array(batch * H);
  for (let t = steps - 1; t >= 0; t--) {
    for (let b = 0; b < batch; b++) {
      const row = t * batch + b;
      const dh = Array.from({ length: H }, (_, j) => d.dOutput[row * H + j] + dNext[b * H + j]);
      for (let j = 0; j < H; j++) dA[row * 3 * H + 2 * H + j] = dh[j] * (1 - z[row * H + j]) * (1 - hh[row * H + j] ** 2);
      for (let j = 0; j < H; j++) {
        const at = row * H + j;
        const dRh = dot(H, (k) => dA[row * 3 * H + 2 * H + k] * d.recurrent[j * 3 * H + 2 * H + k]);
        dA[row * 3 * H + j] = dh[j] * (hPrev(row, j) - hh[at]) * z[at] * (1 - z[at]);
        dA[row * 3 * H + H + j] = dRh * hPrev(row, j) * r[at] * (1 - r[at]);
        dNext[b * H + j] = dh[j] * z[at] + dRh * r[at];
      }
      for (let j = 0; j < H; j++) dNext[b * H + j] += dot(2 * H, (k) => dA[row * 3 * H + k] * d.recurrent[j * 3 * H + k]);
    }
  }
  return {
    output: h,
    dx: product(rows, input, (row, k) => dot(3 * H, (q) => dA[row * 3 * H + q] * d.kernel[k * 3 * H + q])),
    kernel: product(input, 3 * H, (k, q) => dot(rows, (row) => d.x[row * input + k] * dA[row * 3 * H + q])),
    recurrentKernel: product(H, 3 * H, (k, q) => dot(rows, (row) => (q < 2 * H ? hPrev(row, k) : rh[row * H + k]) * dA[row * 3 * H + q])),
    bias: product(1, 3 * H, (_, q) => dot(rows, (row) => dA[row * 3 * H + q])),
  };
}

/** The vanilla RNN (rnn.ts's maths) over a chunk and its backpropagation, in float64. */
function rnnOracle({ steps, batch, input, hidden: H }: Shape, d: LayerData) {
  const rows = steps * batch;
  const h = new Float64Array(rows * H);
  const hPrev = (row: number, j: number) => (row < batch ? d.h0[row * H + j] : h[(row - batch) * H + j]);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; j < H; j++) {
      const projection = d.bias[j] + dot(input, (k) => d.x[row * input + k] * d.kernel[k * H + j]);
      h[row * H + j] = Math.tanh(projection + dot(H, (k) => hPrev(row, k) * d.recurrent[k * H + j]));
    }
  }
  const dA = new Float64Array(rows * H);
  const dNext = new Float64Array(batch * H);
  for (let t = steps - 1; t >= 0; t--) {
    for (let b = 0; b < batch; b++) {
      const row = t * batch + b;
      for (let j = 0; j < H; j++) dA[row * H + j] = (d.dOutput[row * H + j] + dNext[b * H + j]) * (1 - h[row * H + j] ** 2);
      for (let j = 0; j < H; j++) dNext[b * H + j] = dot(H, (k) => dA[row * H + k] * d.recurrent[j * H + k]);
    }
  }
  return {
    output: h,
    dx: product(rows, input, (row, k) => dot(H, (q) => dA[row * H + q] * d.kernel[k * H + q])),
    kernel: product(input, H, (k, q) => dot(rows, (row) => d.x[row * input + k] * dA[row * H + q])),
    recurrentKernel: product(H, H, (k, q) => dot(rows, (row) => hPrev(row, k) * dA[row * H + q])),
    bias: product(1, H, (_, q) => dot(rows, (row) => dA[row * H + q])),
  };
}

/** A layer's run on its native recurrence, on the chunk's input rows or a table of them. */
type NativeRun = (w: CellWeights, x: tf.Tensor2D | TableInput, state: LayerState) => LayerPass;

/**
 * A GRU or vanilla RNN layer (`gates` blocks of H) on its native recurrence: outputs and
 * gradients; with `tableRows`, as packed's, x's first rows as a TableInput and dx the table's gradient.
 */
function nativeLayer(shape: Shape, d: LayerData, gates: number, run: NativeRun, tableRows = 0) {
  const { steps, batch, input, hidden } = shape;
  return tf.tidy(() => {
    const w = {
      kernel: tf.tensor2d(f32(d.kernel), [input, gates * hidden], 'float32'),
      recurrentKernel: tf.tensor2d(f32(d.recurrent), [hidden, gates * hidden], 'float32'),
      bias: tf.tensor1d(f32(d.bias), 'float32'),
    };
    const rows = tf.tensor2d(f32(d.x), [steps * batch, input], 'float32');
    const x = tableRows > 0 ? tableInput(rows, steps * batch, tableRows) : rows;
    const pass = run(w, x, { h: tf.tensor2d(f32(d.h0), [batch, hidden], 'float32') });
    const gradients = pass.backward!(tf.tensor2d(f32(d.dOutput), [steps * batch, hidden], 'float32'));
    const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
    return {
      output: read(pass.output),
      dx: read(gradients.dx),
      kernel: read(gradients.kernel),
      recurrentKernel: read(gradients.recurrentKernel),
      bias: read(gradients.bias),
    };
  });
}

const NATIVE_CELLS = {
  gru: {
    gates: 3,
    oracle: gruOracle,
    run:
      (plan: RecurrencePlan): NativeRun =>
      (w, x, state) => {
        const { gruForward: forward, gruBackward: backward } = backend!.binding;
        return gruSequenceNative(backend!, { forward: forward!, backward: backward! }, w, x, state, { plan, backward: true });
      },
  },
  rnn: {
    gates: 1,
    oracle: rnnOracle,
    run:
      (plan: RecurrencePlan): NativeRun =>
      (w, x, state) => {
        const { rnnForward: forward, rnnBackward: backward } = backend!.binding;
        return rnnSequenceNative(backend!, { forward: forward!, backward: backward! }, w, x, state, { plan, backward: true });
      },
  },
};

describe.runIf(isas.length > 0)('a diverged layer', () => {
  it.each(isas)('shows as NaN on the %s path: a NaN input is not saturated away', (isa) => {
    const shape = SHAPES[0];
    const data = layerData(shape, 3);
    data.x[0] = Number.NaN;
    const { output, dx } = packed(shape, data, { isa, threads: 1 });
    expect(Number.isNaN(output[0])).toBe(true);
    expect(dx.some(Number.isNaN)).toBe(true);
  });
});

describe.runIf(isas.length > 0).each(['gru', 'rnn'] as const)('the packed %s recurrence', (cell) => {
  const { gates, oracle, run } = NATIVE_CELLS[cell];
  describe.each(SHAPES)('at T=$steps, B=$batch, in=$input, H=$hidden', (shape) => {
    const data = layerData(shape, shape.hidden + 1, gates);
    const expected = oracle(shape, data);
    it.each(isas.filter((isa) => isa !== BFLOAT16_ISA))(
      'matches the float64 oracle on the %s path, forward and backward, with 1 and 2 threads, bit for bit between them',
      (isa) => {
        const one = nativeLayer(shape, data, gates, run({ isa, threads: 1 }));
        expect(nativeLayer(shape, data, gates, run({ isa, threads: 2 }))).toEqual(one);
        for (const name of ['output', 'dx', 'kernel', 'recurrentKernel', 'bias'] as const) {
          expect(relativeError(one[name], expected[name]), name).toBeLessThan(1e-5);
        }
      },
    );

    it.each(isas.filter((isa) => isa !== BFLOAT16_ISA))('reads the input as embedding-table rows on the %s path, with 1 and 2 threads bit for bit', (isa) => {
      const tableRows = 3;
      const tabled = withTableRows(shape, data, tableRows);
      const oracleResult = oracle(shape, tabled);
      const one = nativeLayer(shape, tabled, gates, run({ isa, threads: 1 }), tableRows);
      expect(nativeLayer(shape, tabled, gates, run({ isa, threads: 2 }), tableRows)).toEqual(one);
      expect(relativeError(one.dx, summedByTableRow(shape, oracleResult.dx, tableRows)), 'dx').toBeLessThan(1e-5);
      for (const name of ['output', 'kernel', 'recurrentKernel', 'bias'] as const) {
        expect(relativeError(one[name], oracleResult[name]), name).toBeLessThan(1e-5);
      }
    });
  });

  it(`refuses table row ids that are not rows of the table, forward and backward`, () => {
    const { binding } = backend!;
    const ids = (t: tf.Tensor) => backend!.getInputTensorIds([t])[0];
    tf.tidy(() => {
      const G = gates * 2;
      const [table, bias, h, recurrent, dOutput] = [[3, G], [G], [2, 2], [2, G], [4, 2]].map((shape) => ids(tf.zeros(shape)));
      const rows = ids(tf.tensor1d([0, 1, 3, 2], 'int32'));
      const forward = cell === 'gru' ? binding.gruForward! : binding.rnnForward!;
      expect(() => forward(table, rows, bias, h, recurrent, 'generic', 1)).toThrow('row id 3 is not a row of the table');
      const saved = cell === 'gru' ? Array.from({ length: 4 }, () => ids(tf.zeros([4, 2]))) : ids(tf.zeros([4, 2]));
      const backward = (tableRows: number) =>
        cell === 'gru'
          ? binding.gruBackward!(saved as number[], h, dOutput, recurrent, rows, tableRows, 'generic', 1)
          : binding.rnnBackward!(saved as number, h, dOutput, recurrent, rows, tableRows, 'generic', 1);
      expect(() => backward(3)).toThrow('row id 3 is not a row of the table');
      const outputs = backward(4);
      expect(outputs).toHaveLength(3);
      expect(backend!.createOutputTensor({ id: outputs[2]!, shape: [4, G], dtype: binding.TF_FLOAT }).shape).toEqual([4, G]);
      for (const id of outputs.slice(0, 2)) binding.deleteTensor(id);
    });
  });
});

describe.runIf(isas.length > 0)('the native step model (sampling)', () => {
  // Odd sizes again, two layers, weights large enough that the gates saturate unevenly.
  const shape = { vocabSize: 11, embeddingSize: 5, hiddenSize: 37, layers: 2, dropout: 0, weightDrop: 0, inputDropout: 0 };
  const ids = Int32Array.from({ length: 12 }, (_, k) => (k * 7) % shape.vocabSize);

  describe.each(CELL_TYPES)('%s', (cell) => {
    const config = { ...shape, cell };
    const weights = new Map([...initialWeights(config, new Rng(5))].map(([name, values]) => [name, values.map((v) => 3 * v)]));
    const model = new CharRnn(config, weights, { kernels: 'reference', capabilities: lstmCapabilities() });
    /** The reference forward pass's logits after each character, read one at a time from zero state. */
    const expected = tf.tidy(() => {
      let state = model.zeroState(1);
      return [...ids].map((id) => {
        const { logits, state: next } = model.forward(Int32Array.of(id), 1, state);
        state = next;
        return logits.dataSync() as Float32Array;
      });
    });
    const layerWeights = Array.from({ length: shape.layers }, (_, l) => [
      `${cell}_${l + 1}/kernel`,
      `${cell}_${l + 1}/recurrent_kernel`,
      `${cell}_${l + 1}/bias`,
    ]).flat();
    const ordered = ['embedding/embeddings', ...layerWeights, 'dense/kernel', 'dense/bias'].map((name) => weights.get(name)!);

    const float32Isas = isas.filter((isa) => isa !== BFLOAT16_ISA);
    const create = (isa: RecurrenceIsa, streams: number, threads = 1, split: SamplingSplit = 'streams') =>
      NativeStepModel.create({ ...config, weights: ordered, isa, streams, threads, split })!;

    it.each(float32Isas)("gives the reference forward pass's logits, character by character, in each of its streams alike, on the %s path", (isa) => {
      const single = create(isa, 1);
      // One stream with its units split between two threads, as one sample is drawn.
      const halves = create(isa, 1, 2, 'units');
      // Three streams split between two threads, as a --count batch may be; and three with the units split.
      const streams = create(isa, 3, 2);
      const streamHalves = create(isa, 3, 2, 'units');
      const logits = new Float32Array(shape.vocabSize);
      const halved = new Float32Array(shape.vocabSize);
      const all = new Float32Array(3 * shape.vocabSize);
      const allHalved = new Float32Array(3 * shape.vocabSize);
      ids.forEach((id, k) => {
        single.read(Int32Array.of(id), logits);
        halves.read(Int32Array.of(id), halved);
        streams.read(Int32Array.of(id), all);
        streamHalves.read(Int32Array.of(id), allHalved);
        expect(relativeError(logits, expected[k]), `character ${k}`).toBeLessThan(1e-5);
        // The same sums in the same order, alone, beside other streams or split: the same bits.
        expect(halved, `character ${k} split`).toEqual(logits);
        for (let s = 0; s < 3; s++) expect(all.subarray(s * shape.vocabSize, (s + 1) * shape.vocabSize), `stream ${s}`).toEqual(logits);
        expect(allHalved).toEqual(all);
      });
      expect(halves.hidden()).toEqual(single.hidden());
    });

    // A vocabulary this large makes the first layer's input table (V·G·H floats, step_binding.cc)
    // too big to keep, so the step takes the input product from the embedding as training does.
    it.each(float32Isas)('gives the same logits without the input table, for a vocabulary too large for one, on the %s path', (isa) => {
      const wide = { ...config, vocabSize: Math.ceil((1 << 22) / (GATE_BLOCKS[cell] * shape.hiddenSize)) + 1 };
      const wideWeights = initialWeights(wide, new Rng(6));
      const reference = new CharRnn(wide, wideWeights, { kernels: 'reference', capabilities: lstmCapabilities() });
      const names = ['embedding/embeddings', ...layerWeights, 'dense/kernel', 'dense/bias'];
      const wideModel = (threads: number, split: SamplingSplit) =>
        NativeStepModel.create({ ...wide, weights: names.map((name) => wideWeights.get(name)!), isa, streams: 2, threads, split })!;
      const native = wideModel(1, 'streams');
      const halves = wideModel(2, 'units');
      const allHalved = new Float32Array(2 * wide.vocabSize);
      const wideIds = Int32Array.of(0, wide.vocabSize - 1, 12_345 % wide.vocabSize);
      const all = new Float32Array(2 * wide.vocabSize);
      tf.tidy(() => {
        let state = reference.zeroState(1);
        for (const id of wideIds) {
          const { logits, state: next } = reference.forward(Int32Array.of(id), 1, state);
          state = next;
          native.read(Int32Array.of(id), all);
          halves.read(Int32Array.of(id), allHalved);
          const expected = logits.dataSync() as Float32Array;
          expect(relativeError(all.subarray(0, wide.vocabSize), expected)).toBeLessThan(1e-5);
          expect(all.subarray(wide.vocabSize)).toEqual(all.subarray(0, wide.vocabSize));
          expect(allHalved).toEqual(all);
        }
      });
    });

    const rules: SamplingRule[] = [
      { temperature: 1 },
      { temperature: 0 },
      { temperature: 0.7, topK: 3 },
      { temperature: 1.3, topP: 0.8 },
      { temperature: 0.9, topK: 4, topP: 0.6 },
    ];
    /** Characters drawn in JavaScript (chooseNext) from one stream's native logits, from zero state after ids[0]. */
    const drawnInJavaScript = (isa: RecurrenceIsa, rule: SamplingRule, seed: number, length: number) => {
      const model = create(isa, 1);
      const rng = new Rng(seed);
      const logits = new Float32Array(shape.vocabSize);
      let input = ids[0];
      const drawn = { ids: [] as number[], logProbs: [] as number[], state: 0 };
      for (let j = 0; j < length; j++) {
        model.read(Int32Array.of(input), logits);
        input = chooseNext(logits, rule, rng.next());
        drawn.ids.push(input);
        drawn.logProbs.push(logProbOf(logits, input));
      }
      return { ...drawn, state: rng.getState() };
    };

    /** Two draws (7 characters, then 23) in each stream of one model, from zero state after ids[0]. */
    const drawnNatively = (isa: RecurrenceIsa, rule: SamplingRule, seeds: number[], threads: number, split: SamplingSplit = 'streams') => {
      const model = create(isa, seeds.length, threads, split);
      const inputs = new Int32Array(seeds.length).fill(ids[0]);
      const generators = Uint32Array.from(seeds, (seed) => new Rng(seed).getState());
      // Two calls, to show that inputs and generators carry from one to the next.
      const first = model.draw(rule, inputs, generators, 7);
      return { first, second: model.draw(rule, inputs, generators, 23), generators };
    };

    it.each(float32Isas)('draws in native code as chooseNext does, with the same generator, in every stream, on 1 or 2 threads, on the %s path', (isa) => {
      const seeds = [1, 2, 3];
      for (const rule of rules) {
        const { first, second, generators } = drawnNatively(isa, rule, seeds, 1);
        expect(drawnNatively(isa, rule, seeds, 2)).toEqual({ first, second, generators });
        expect(drawnNatively(isa, rule, seeds, 2, 'units')).toEqual({ first, second, generators });
        const alone = drawnNatively(isa, rule, [seeds[0]], 1);
        expect(drawnNatively(isa, rule, [seeds[0]], 2, 'units')).toEqual(alone);
        seeds.forEach((seed, s) => {
          const expected = drawnInJavaScript(isa, rule, seed, 30);
          const ids = [...first.ids.subarray(s * 7, (s + 1) * 7), ...second.ids.subarray(s * 23, (s + 1) * 23)];
          const logProbs = [...first.logProbs.subarray(s * 7, (s + 1) * 7), ...second.logProbs.subarray(s * 23, (s + 1) * 23)];
          expect(ids, JSON.stringify(rule)).toEqual(expected.ids);
          logProbs.forEach((logProb, j) => expect(logProb).toBeCloseTo(expected.logProbs[j], 12));
          expect(generators[s]).toBe(expected.state);
        });
      }
    });
  });
});

describe.runIf(isas.length > 0)(`${ISA_ENV}`, () => {
  it('trains on a named narrower path, and refuses a name it does not know in one line', () => {
    const out = tempDir();
    const corpus = [
      'data/tinyshakespeare.txt',
      '--out',
      out,
      '--steps',
      '2',
      '--hidden',
      '16',
      '--batch-size',
      '4',
      '--seq-len',
      '8',
      '--backend',
      'tensorflow',
    ];
    const forced = cli('rnn-train', corpus, { env: { ...process.env, [ISA_ENV]: 'generic' } });
    expect(forced.status, forced.stderr).toBe(0);
    const unknown = cli('rnn-train', [...corpus, '--out', tempDir()], { env: { ...process.env, [ISA_ENV]: 'avx9000' } });
    expect(unknown.status).not.toBe(0);
    expect(unknown.stderr.trim().split('\n')).toEqual([
      `rnn-train: error: ${ISA_ENV}=avx9000 is not an instruction set rnn-train knows; use one of ${isas.join(', ')}, or unset it`,
    ]);
  });
});

describe('recurrencePlan (model/policy.ts)', () => {
  const capabilities = { ...NO_NATIVE_KERNELS, fusedOps: true, nativeBackward: true, isas: [...RECURRENCE_ISAS], threads: 2 };
  it('takes the widest float32 path, bfloat16 products only for --precision bfloat16, and a narrower path when RNN_TRAIN_ISA names one', () => {
    expect(recurrencePlan(capabilities, 'float32')).toEqual({ isa: 'avx512', threads: 2 });
    expect(recurrencePlan(capabilities, 'bfloat16').isa).toBe(BFLOAT16_ISA);
    expect(recurrencePlan({ ...capabilities, isas: ['generic', 'avx2'] }, 'bfloat16').isa).toBe('avx2');
    expect(recurrencePlan({ ...capabilities, forcedIsa: 'avx2' }, 'bfloat16').isa).toBe('avx2');
    expect(recurrencePlan({ ...capabilities, forcedIsa: BFLOAT16_ISA }, 'float32').isa).toBe('avx512');
    expect(samplingIsa('auto', { ...capabilities, forcedIsa: 'generic' })).toBe('generic');
    expect(samplingIsa('auto', capabilities)).toBe('avx512');
    expect(samplingIsa('reference', capabilities)).toBeUndefined();
  });
});

describe('samplingThreads (model/policy.ts)', () => {
  it("splits one sample's steps between two cores only for draws from models whose step reads more than 1 MiB of weights", () => {
    const model = (cell: CellType, hiddenSize: number, layers = 2): ModelConfig => ({
      cell,
      vocabSize: 65,
      embeddingSize: 64,
      hiddenSize,
      layers,
      dropout: 0,
      inputDropout: 0,
      weightDrop: 0,
    });
    const threads = (config: ModelConfig, streams = 1, use: 'draw' | 'step' = 'draw', cores = 2) => samplingThreads({ streams, cores, use, config });
    // The default 2×256 LSTM reads 3.2 MB a step; 2×128 0.8 MB; a 1×256 LSTM 1.1 MB; a 2×256 vanilla RNN 0.9 MB.
    expect(threads(model('lstm', 256))).toEqual({ threads: 2, split: 'units' });
    expect(threads(model('lstm', 256, 1))).toEqual({ threads: 2, split: 'units' });
    expect(threads(model('lstm', 128))).toEqual({ threads: 1, split: 'streams' });
    expect(threads(model('rnn', 256))).toEqual({ threads: 1, split: 'streams' });
    expect(threads(model('gru', 256), 4)).toEqual({ threads: 2, split: 'units' });
    // Read a character per call, or on one core: one thread.
    expect(threads(model('lstm', 256), 1, 'step')).toEqual({ threads: 1, split: 'streams' });
    expect(threads(model('lstm', 256), 1, 'draw', 1)).toEqual({ threads: 1, split: 'streams' });
    // Six streams and more are split between the threads, whatever the model.
    expect(threads(model('lstm', 128), 6)).toEqual({ threads: 2, split: 'streams' });
    expect(threads(model('lstm', 512), 16, 'step')).toEqual({ threads: 2, split: 'streams' });
    expect(threads(model('lstm', 512), 16, 'draw', 1)).toEqual({ threads: 1, split: 'streams' });
  });
});

describe('weightProductColumns (model/policy.ts)', () => {
  it("joins the weight gradients' products only where the AVX2 sgemm would run one unpacked on 4 KiB-strided rows", () => {
    const columns = (inputSize: number, hidden: number, sgemm: SgemmIsa = 'avx2', precision: MatmulPrecision = 'float32') =>
      weightProductColumns({ inputSize, hidden }, sgemm, precision);
    // 4H = 1024: packed from 358 columns on, so [64 | 256] is padded to 360 and [256 | 256] joined as it is.
    expect(columns(64, 256)).toBe(360);
    expect(columns(256, 256)).toBe(512);
    // 4H = 2048: hᵀ·dA is packed already (1/2048 + 1/512 < 0.0038).
    expect(columns(64, 512)).toBe(0);
    // 4H = 512 and 1000: rows 2 KiB or 4000 bytes apart do not alias.
    expect(columns(64, 128)).toBe(0);
    expect(columns(64, 250)).toBe(0);
    expect(columns(64, 256, 'avx512')).toBe(0);
    expect(columns(64, 256, 'other')).toBe(0);
    expect(columns(64, 256, 'avx2', 'bfloat16')).toBe(0);
  });

  it.runIf(isas.includes('avx2'))("reads oneDNN's ISA from the CPU, ONEDNN_MAX_CPU_ISA and TF_ENABLE_ONEDNN_OPTS", () => {
    const saved = { cap: process.env.ONEDNN_MAX_CPU_ISA, opts: process.env.TF_ENABLE_ONEDNN_OPTS };
    const sgemm = (cap?: string, opts?: string) => {
      for (const [name, value] of [
        ['ONEDNN_MAX_CPU_ISA', cap],
        ['TF_ENABLE_ONEDNN_OPTS', opts],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      return lstmCapabilities().sgemmIsa;
    };
    try {
      expect(sgemm()).toBe(isas.includes('avx512') ? 'avx512' : 'avx2');
      expect(sgemm('AVX2')).toBe('avx2');
      expect(sgemm('avx2_vnni')).toBe('avx2');
      expect(sgemm('AVX')).toBe('other');
      expect(sgemm(undefined, '0')).toBe('other');
    } finally {
      sgemm(saved.cap, saved.opts);
    }
  });
});
