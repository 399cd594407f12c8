/**
 * The page's one hand-written kernel: out[n] += Σ_k x[k]·W[k, n] (a row vector times a row-major
 * matrix) in WebAssembly SIMD, 32 columns at a time in eight f32x4 accumulators, so that a
 * character's products cost about 0.1 ms instead of TensorFlow.js's per-op overheads
 * (web/page/fast-stepper.ts uses it). Assembled here from its instructions, so that the site needs
 * no toolchain and no binary file; the instructions are listed as the WebAssembly text format
 * names them.
 */

/** Unsigned LEB128, as WebAssembly encodes sizes, indices and offsets. */
function leb(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/** A section: its id, then its contents' size. */
function section(id: number, contents: number[]): number[] {
  return [id, ...leb(contents.length), ...contents];
}

/** A name: its length, then its bytes (ASCII here). */
function name(text: string): number[] {
  return [...leb(text.length), ...[...text].map((c) => c.charCodeAt(0))];
}

/** A vector of items, each already encoded: the count first. */
function vector(items: number[][]): number[] {
  return [...leb(items.length), ...items.flat()];
}

const I32 = 0x7f;
const V128 = 0x7b;
/** Columns a pass: eight f32x4 accumulators, which with x[k] and a weight fit x86's 16 vector registers. */
export const KERNEL_COLUMNS = 32;
/** Locals of the function, after its 5 parameters (out, x, w, K, N: byte addresses and counts). */
const [OUT, X, W, K, N, COLUMN, ROW, WP, XK] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
const ACCUMULATORS = Array.from({ length: KERNEL_COLUMNS / 4 }, (_, i) => XK + 1 + i);

const op = {
  get: (local: number) => [0x20, ...leb(local)],
  set: (local: number) => [0x21, ...leb(local)],
  i32: (value: number) => [0x41, ...leb(value)],
  add: [0x6a],
  mul: [0x6c],
  geU: [0x4f],
  brIf: (depth: number) => [0x0d, ...leb(depth)],
  br: (depth: number) => [0x0c, ...leb(depth)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  f32Load: [0x2a, 0x02, 0x00],
  v128Load: (offset: number) => [0xfd, 0x00, 0x04, ...leb(offset)],
  v128Store: (offset: number) => [0xfd, 0x0b, 0x04, ...leb(offset)],
  f32x4Splat: [0xfd, 0x13],
  f32x4Add: [0xfd, ...leb(0xe4)],
  f32x4Mul: [0xfd, ...leb(0xe6)],
};

/** for (counter = 0; counter < limit; counter += step) { body }, as a block around a loop. */
function countedLoop(counter: number, limit: number, step: number, body: number[]): number[] {
  return [
    ...[...op.i32(0), ...op.set(counter), ...op.block, ...op.loop],
    ...[...op.get(counter), ...op.get(limit), ...op.geU, ...op.brIf(1)],
    ...body,
    ...[...op.get(counter), ...op.i32(step), ...op.add, ...op.set(counter), ...op.br(0)],
    ...[...op.end, ...op.end],
  ];
}

/** base + 4·index: the byte address of float `index` of the array at `base`. */
const floatAt = (base: number, index: number): number[] => [...op.get(base), ...op.get(index), ...op.i32(4), ...op.mul, ...op.add];

/** for (k = 0; k < K; k++) { xk = splat(x[k]); a_i += xk · W[k, column + 4i …]; wp += 4N } */
function rowLoop(): number[] {
  const splat = [...floatAt(X, ROW), ...op.f32Load, ...op.f32x4Splat, ...op.set(XK)];
  const accumulate = ACCUMULATORS.flatMap((a, i) => [
    ...op.get(a),
    ...op.get(XK),
    ...op.get(WP),
    ...op.v128Load(16 * i),
    ...op.f32x4Mul,
    ...op.f32x4Add,
    ...op.set(a),
  ]);
  const nextRow = [...floatAt(WP, N), ...op.set(WP)];
  return countedLoop(ROW, K, 1, [...splat, ...accumulate, ...nextRow]);
}

/** for (column = 0; column < N; column += KERNEL_COLUMNS) { a = out[column …]; rowLoop(); out[column …] = a } */
function columnLoop(): number[] {
  const load = ACCUMULATORS.flatMap((a, i) => [...floatAt(OUT, COLUMN), ...op.v128Load(16 * i), ...op.set(a)]);
  const store = ACCUMULATORS.flatMap((a, i) => [...floatAt(OUT, COLUMN), ...op.get(a), ...op.v128Store(16 * i)]);
  const firstWeight = [...floatAt(W, COLUMN), ...op.set(WP)];
  return countedLoop(COLUMN, N, KERNEL_COLUMNS, [...load, ...firstWeight, ...rowLoop(), ...store]);
}

/** The module: one memory imported as env.memory, one function exported as gemv. */
function moduleBytes(): Uint8Array<ArrayBuffer> {
  const type = [0x60, ...vector([[I32], [I32], [I32], [I32], [I32]]), 0x00];
  const importEntry = [...name('env'), ...name('memory'), 0x02, 0x00, 0x01];
  const locals = vector([
    [3, I32],
    [1 + ACCUMULATORS.length, V128],
  ]);
  const body = [...locals, ...columnLoop(), ...op.end];

  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([type])),
    ...section(2, vector([importEntry])),
    ...section(3, vector([[0]])),
    ...section(7, vector([[...name('gemv'), 0x00, 0x00]])),
    ...section(10, vector([[...leb(body.length), ...body]])),
  ]);
}

/** out[n] += Σ_k x[k]·W[k, n], on float32 arrays in `memory` given by byte address; N a multiple of KERNEL_COLUMNS. */
export type Gemv = (out: number, x: number, w: number, k: number, n: number) => void;

/** The kernel compiled once per page: null where WebAssembly or its SIMD is missing; undefined until first asked. */
let compiled: WebAssembly.Module | null | undefined;

function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    const bytes = moduleBytes();
    compiled = typeof WebAssembly !== 'undefined' && WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return compiled;
}

/** Whether this browser runs the kernel. */
export function gemvAvailable(): boolean {
  return kernelModule() !== null;
}

/** The kernel on `memory`, or undefined where this JavaScript engine has no WebAssembly SIMD. */
export function gemvKernel(memory: WebAssembly.Memory): Gemv | undefined {
  const module = kernelModule();
  if (!module) return undefined;
  return new WebAssembly.Instance(module, { env: { memory } }).exports.gemv as Gemv;
}
