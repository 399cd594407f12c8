import { describe, expect, it } from 'vitest';
import { CharRnn, initialWeights, ModelStepper, NO_NATIVE_KERNELS, Rng, type ModelConfig } from '../src/index.js';
import { pageStepper } from '../src/web/page/fast-stepper.js';
import { gemvKernel } from '../src/web/page/gemv-wasm.js';

// The page's fast path (web/page/gemv-wasm.ts and fast-stepper.ts) against the float64 oracle and
// the written-out cells it stands beside; WebAssembly SIMD runs in Node as in the browser.

describe('the page kernel, out += x·W in WebAssembly SIMD', () => {
  it.each([
    [1, 32],
    [37, 64],
    [256, 1024],
    [3, 96],
  ])('K %i, N %i: the float64 sums to float32 rounding, and nothing outside out changes', (K, N) => {
    const memory = new WebAssembly.Memory({ initial: 32 });
    const gemv = gemvKernel(memory)!;
    const floats = new Float32Array(memory.buffer);
    const rng = new Rng(K * N);
    const [out, x, w] = [16, 16 + N + 16, 16 + N + 16 + K + 16];
    for (let i = 0; i < floats.length; i++) floats[i] = i < w + K * N ? rng.uniform(-1, 1) : 0;
    const before = floats.slice();
    const oracle = Array.from({ length: N }, (_, n) => {
      let sum = before[out + n];
      for (let k = 0; k < K; k++) sum += before[x + k] * before[w + k * N + n];
      return sum;
    });
    gemv(out * 4, x * 4, w * 4, K, N);
    oracle.forEach((sum, n) => expect(Math.abs(floats[out + n] - sum), `column ${n}`).toBeLessThan(1e-6 * (1 + Math.sqrt(K)) * 4));
    const changed = floats.findIndex((value, i) => (i < out || i >= out + N) && value !== before[i]);
    expect(changed, 'a float outside out changed').toBe(-1);
  });
});

describe('FastLstm (the page on WebAssembly) against the written-out cells', () => {
  const shapes: ModelConfig[] = [
    { cell: 'lstm', vocabSize: 7, embeddingSize: 5, hiddenSize: 6, layers: 2, dropout: 0, weightDrop: 0, inputDropout: 0 },
    { cell: 'lstm', vocabSize: 65, embeddingSize: 64, hiddenSize: 256, layers: 2, dropout: 0, weightDrop: 0, inputDropout: 0 },
  ];
  it.each(shapes.map((config) => [`${config.layers}×${config.hiddenSize}, vocabulary ${config.vocabSize}`, config] as const))(
    '%s: logits, h and c at every step to float32 rounding; ensembles mixed as ModelStepper mixes them',
    (_, config) => {
      const members = [1, 2].map(
        (seed) => new CharRnn(config, initialWeights(config, new Rng(seed)), { kernels: 'reference', capabilities: NO_NATIVE_KERNELS }),
      );
      for (const models of [members.slice(0, 1), members]) {
        const fast = pageStepper(models, 'wasm');
        const reference = new ModelStepper(models);
        expect(fast).not.toBeInstanceOf(ModelStepper);
        const ids = Int32Array.from({ length: 40 }, (_, t) => (t * 5 + 3) % config.vocabSize);
        fast.read(ids.subarray(0, 3));
        reference.read(ids.subarray(0, 3));
        for (const id of ids.subarray(3)) {
          const [a, b] = [fast.step(id), reference.step(id)];
          a.forEach((value, v) => expect(Math.abs(value - b[v]), `logit ${v}`).toBeLessThan(2e-5));
        }
        const states = (stepper: typeof fast) => [...stepper.hidden().flat(), ...stepper.cells!().flat()];
        const [mine, theirs] = [states(fast), states(reference)];
        mine.forEach((values, s) => values!.forEach((value, j) => expect(Math.abs(value - theirs[s]![j])).toBeLessThan(1e-5)));
        fast.dispose();
        reference.dispose();
      }
      members.forEach((model) => model.dispose());
    },
  );

  it('leaves GRUs, vanilla RNNs and the CPU backend to the written-out cells', () => {
    const gru: ModelConfig = { cell: 'gru', vocabSize: 7, embeddingSize: 5, hiddenSize: 6, layers: 1, dropout: 0, weightDrop: 0, inputDropout: 0 };
    const lstm: ModelConfig = { ...gru, cell: 'lstm' };
    const models = [gru, lstm].map((config) => new CharRnn(config, initialWeights(config, new Rng(3)), { capabilities: NO_NATIVE_KERNELS }));
    expect(pageStepper([models[0]], 'wasm')).toBeInstanceOf(ModelStepper);
    expect(pageStepper([models[1]], 'cpu')).toBeInstanceOf(ModelStepper);
    expect(pageStepper([models[1]], 'wasm')).not.toBeInstanceOf(ModelStepper);
    models.forEach((model) => model.dispose());
  });
});
