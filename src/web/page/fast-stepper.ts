import type { CharRnn } from '../../model/char-rnn.js';
import { layerName } from '../../model/cells/cell.js';
import { mixtureOfLogits } from '../../sample/choose.js';
import type { Stepper } from '../../sample/generate.js';
import { ModelStepper } from '../../sample/sampler.js';
import type { PageBackend } from './backend.js';
import { gemvAvailable, gemvKernel, KERNEL_COLUMNS, type Gemv } from './gemv-wasm.js';

/** The kernel's columns come KERNEL_COLUMNS at a time: matrices and vectors are padded with zeros to that. */
const padded = (n: number): number => Math.ceil(n / KERNEL_COLUMNS) * KERNEL_COLUMNS;
const PAGE_BYTES = 65536;

/** Float32 arrays laid end to end in one WebAssembly memory, each known by its offset (in floats). */
class Arena {
  private used = 0;
  private readonly offsets = new Map<string, { at: number; length: number }>();

  add(name: string, length: number): void {
    this.offsets.set(name, { at: this.used, length });
    this.used += padded(length);
  }

  /** The memory for everything added, and a view of each array in it. */
  allocate(): { memory: WebAssembly.Memory; view: (name: string) => Float32Array; address: (name: string) => number } {
    const memory = new WebAssembly.Memory({ initial: Math.ceil((this.used * 4) / PAGE_BYTES) + 1 });
    const floats = new Float32Array(memory.buffer);
    const entry = (name: string) => this.offsets.get(name)!;
    return {
      memory,
      view: (name) => floats.subarray(entry(name).at, entry(name).at + entry(name).length),
      address: (name) => entry(name).at * 4,
    };
  }
}

/** `matrix` [rows, columns] copied into `into` [rows, padded(columns)], zeros in the padding. */
function copyPadded(matrix: Float32Array, rows: number, columns: number, into: Float32Array): void {
  for (let r = 0; r < rows; r++) into.set(matrix.subarray(r * columns, (r + 1) * columns), r * padded(columns));
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** What a step reads and writes, as views into the memory, and the kernel's operands by address. */
interface StepArrays {
  gates: Float32Array;
  table: Float32Array;
  logits: Float32Array;
  denseBias: Float32Array;
  layers: { h: Float32Array; c: Float32Array; bias: Float32Array; hAddress: number; kernelAddress: number; recurrentAddress: number }[];
}

/**
 * One LSTM CharRnn stepping a character at a time with the WebAssembly kernel: the page's fast path
 * beside the written-out cells (ModelStepper), as rnn-sample's native step model is in Node. The
 * first layer's input products are a table, one row per character (embedding row · W + b, made once);
 * every other product is the kernel's; the gate maths is lstm.ts's, in JavaScript.
 */
class FastLstm {
  private readonly gemv: Gemv;
  private readonly view: (name: string) => Float32Array;
  private readonly address: (name: string) => number;
  private readonly hidden: number;
  private readonly vocab: number;
  private readonly arrays: StepArrays;
  private readonly addresses: { gates: number; logits: number; dense: number };

  private constructor(model: CharRnn) {
    const { hiddenSize: H, layers, vocabSize: V, embeddingSize: D } = model.config;
    [this.hidden, this.vocab] = [H, V];
    const arena = new Arena();
    arena.add('table', V * padded(4 * H));
    arena.add('embedding', D);
    arena.add('kernel0', D * padded(4 * H));
    for (let l = 0; l < layers; l++) {
      arena.add(`recurrent${l}`, H * padded(4 * H));
      if (l > 0) arena.add(`kernel${l}`, H * padded(4 * H));
      arena.add(`bias${l}`, padded(4 * H));
      arena.add(`h${l}`, H);
      arena.add(`c${l}`, H);
    }
    arena.add('gates', padded(4 * H));
    arena.add('dense', H * padded(V));
    arena.add('denseBias', padded(V));
    arena.add('logits', padded(V));
    const { memory, view, address } = arena.allocate();
    [this.view, this.address] = [view, address];
    this.gemv = gemvKernel(memory)!;
    const read = (name: string) => model.params.get(name)!.dataSync() as Float32Array;
    for (let l = 0; l < layers; l++) {
      const name = layerName('lstm', l);
      copyPadded(read(`${name}/recurrent_kernel`), H, 4 * H, view(`recurrent${l}`));
      copyPadded(read(`${name}/kernel`), l === 0 ? D : H, 4 * H, view(`kernel${l}`));
      view(`bias${l}`).set(read(`${name}/bias`));
    }
    copyPadded(read('dense/kernel'), H, V, view('dense'));
    view('denseBias').set(read('dense/bias'));
    this.fillTable(read('embedding/embeddings'), D);
    // Looked up once: a step would otherwise make a dozen views and map lookups.
    this.arrays = {
      gates: view('gates'),
      table: view('table'),
      logits: view('logits'),
      denseBias: view('denseBias'),
      layers: Array.from({ length: layers }, (_, l) => ({
        h: view(`h${l}`),
        c: view(`c${l}`),
        bias: view(`bias${l}`),
        hAddress: address(`h${l}`),
        kernelAddress: address(`kernel${l}`),
        recurrentAddress: address(`recurrent${l}`),
      })),
    };
    this.addresses = { gates: address('gates'), logits: address('logits'), dense: address('dense') };
  }

  static create(model: CharRnn): FastLstm | undefined {
    return model.config.cell === 'lstm' && gemvAvailable() ? new FastLstm(model) : undefined;
  }

  /** Row v of the table: character v's embedding · W₀ + b₀, the first layer's input products. */
  private fillTable(embeddings: Float32Array, D: number): void {
    const width = padded(4 * this.hidden);
    for (let v = 0; v < this.vocab; v++) {
      this.view('gates').set(this.view('bias0'));
      this.view('embedding').set(embeddings.subarray(v * D, (v + 1) * D));
      this.gemv(this.address('gates'), this.address('embedding'), this.address('kernel0'), D, width);
      this.view('table').set(this.view('gates'), v * width);
    }
  }

  /** Reads character `id`: every layer's h and c move one step; then the next character's logits. */
  advance(id: number): Float32Array {
    const { gates, table, logits, denseBias, layers } = this.arrays;
    const H = this.hidden;
    const width = padded(4 * H);
    for (const [l, layer] of layers.entries()) {
      if (l === 0) gates.set(table.subarray(id * width, (id + 1) * width));
      else {
        gates.set(layer.bias);
        this.gemv(this.addresses.gates, layers[l - 1].hAddress, layer.kernelAddress, H, width);
      }
      this.gemv(this.addresses.gates, layer.hAddress, layer.recurrentAddress, H, width);
      this.updateState(layer.h, layer.c, gates);
    }
    logits.set(denseBias);
    this.gemv(this.addresses.logits, layers[layers.length - 1].hAddress, this.addresses.dense, H, padded(this.vocab));
    return logits.subarray(0, this.vocab);
  }

  /** The gate maths of lstm.ts on pre-activations a (gates i, f, c, o). */
  private updateState(h: Float32Array, c: Float32Array, a: Float32Array): void {
    const H = this.hidden;
    for (let j = 0; j < H; j++) {
      const i = sigmoid(a[j]);
      const f = sigmoid(a[H + j]);
      const g = Math.tanh(a[2 * H + j]);
      const o = sigmoid(a[3 * H + j]);
      c[j] = f * c[j] + i * g;
      h[j] = o * Math.tanh(c[j]);
    }
  }

  state(part: 'h' | 'c'): Float32Array[] {
    return this.arrays.layers.map((layer) => layer[part].slice());
  }
}

/** LSTM models (one, or an ensemble's members) stepped by FastLstm, scoring as ModelStepper does. */
class FastStepper implements Stepper {
  constructor(private readonly models: FastLstm[]) {}

  read(ids: Int32Array): void {
    for (const id of ids) for (const model of this.models) model.advance(id);
  }

  step(id: number): Float32Array {
    const logits = this.models.map((model) => model.advance(id).slice());
    return logits.length === 1 ? logits[0] : mixtureOfLogits(logits);
  }

  hidden(): Float32Array[][] {
    return this.models.map((model) => model.state('h'));
  }

  cells(): Float32Array[][] {
    return this.models.map((model) => model.state('c'));
  }

  dispose(): void {}
}

/**
 * The page's stepper: on the WebAssembly backend, FastStepper where every model is an LSTM and
 * the browser has WebAssembly SIMD (the default 2×256 model in headless Chromium: see
 * docs/web.md); else the written-out cells on TensorFlow.js (ModelStepper), which the CPU
 * backend always runs.
 */
export function pageStepper(models: CharRnn[], backend: PageBackend): Stepper & { dispose(): void } {
  const fast = backend === 'wasm' ? models.map((model) => FastLstm.create(model)) : [];
  if (fast.length > 0 && fast.every((model) => model !== undefined)) return new FastStepper(fast as FastLstm[]);
  return new ModelStepper(models);
}
