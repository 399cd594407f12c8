import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { precisionAdvice, cpuHasBfloat16, lstmCapabilities, nestedBrackets } from '../src/index.js';
import { cli, tempDir } from './helpers.js';

const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
fs.writeFileSync(corpus, nestedBrackets(3000, 4));
const tiny = ['--layers', '1', '--hidden', '8', '--embedding', '4', '--seq-len', '10', '--batch-size', '4', '--steps', '2', '--eval-every', '2', '--seed', '5'];
// A cache that cannot be created (its parent is a file): native TensorFlow cannot be set up.
const withoutNative = { RNN_TRAIN_CACHE: path.join(corpus, 'cache') };

describe('backend selection', () => {
  it('auto uses native TensorFlow when it is installed', () => {
    const result = cli('rnn-train', [corpus, '--out', path.join(work, 'native'), ...tiny]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('backend: tensorflow (native TensorFlow kernels)');
    expect(result.stderr).not.toContain('warning');
  });

  it('auto falls back to wasm with one clear warning when native TensorFlow cannot be set up', () => {
    const result = cli('rnn-train', [corpus, '--out', path.join(work, 'fallback'), ...tiny], { env: withoutNative });
    expect(result.status, result.stderr).toBe(0);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('warning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /native TensorFlow is not available \(the cache folder .* cannot be written \(ENOTDIR\)\); using the wasm backend, which is much slower\. To fix: point RNN_TRAIN_CACHE at a writable folder/,
    );
    expect(result.stderr).toContain('backend: wasm');
  });

  it('an explicit --backend tensorflow that cannot load is an error, not a silent fallback', () => {
    const result = cli('rnn-train', [corpus, '--out', path.join(work, 'explicit'), ...tiny, '--backend', 'tensorflow'], { env: withoutNative });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toMatch(
      /^rnn-train: error: the tensorflow backend is not available \(the cache folder .*\); point RNN_TRAIN_CACHE .*, or use --backend wasm$/,
    );
  });

  it('the same seed gives the same weights (dropout and weight drop included), and validating more often does not disturb training', () => {
    const weights = (name: string, extra: string[] = []) => {
      const out = path.join(work, name);
      const result = cli('rnn-train', [corpus, '--out', out, ...tiny, '--dropout', '0.3', '--weight-drop', '0.3', '--steps', '4', ...extra]);
      expect(result.status, result.stderr).toBe(0);
      return fs.readFileSync(path.join(out, 'latest', 'weights.bin'));
    };
    const first = weights('seeded-a', ['--eval-every', '4']);
    expect(first.equals(weights('seeded-b', ['--eval-every', '4']))).toBe(true);
    // Validation has its own hidden state and draws no random numbers.
    expect(first.equals(weights('seeded-c', ['--eval-every', '1']))).toBe(true);
  });

  // TensorFlow's oneDNN multiplies bfloat16 on its AVX-512 kernels only (policy.ts's checkPrecision).
  const bfloat16Products = lstmCapabilities().sgemmIsa === 'avx512';

  it.runIf(bfloat16Products)(
    '--precision bfloat16 trains the LSTM on tensorflow, keeps its precision on --resume, and is refused where it cannot apply',
    () => {
      const out = path.join(work, 'bfloat16');
      const trained = cli('rnn-train', [corpus, '--out', out, ...tiny, '--precision', 'bfloat16']);
      expect(trained.status, trained.stderr).toBe(0);
      expect(trained.stderr).toContain('mixed precision (bfloat16 matmuls)');
      const float32 = cli('rnn-train', [corpus, '--out', path.join(work, 'float32'), ...tiny]);
      // Same seed and data: only the rounding of the gradients differs.
      expect(fs.readFileSync(path.join(out, 'latest', 'weights.bin')).equals(fs.readFileSync(path.join(work, 'float32', 'latest', 'weights.bin')))).toBe(false);
      expect(float32.status, float32.stderr).toBe(0);

      const resumed = cli('rnn-train', ['--resume', out, '--steps', '4']);
      expect(resumed.status, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain('mixed precision (bfloat16 matmuls)');
      const changed = cli('rnn-train', ['--resume', out, '--steps', '6', '--precision', 'float32']);
      expect(changed.status).toBe(1);
      expect(changed.stderr).toContain('these flags differ: --precision float32 (the run has bfloat16)');

      for (const [extra, message] of [
        [['--cell', 'gru'], "--precision bfloat16 applies to the LSTM's fused kernels, not to a GRU; use --precision float32"],
        [['--backend', 'wasm'], '--precision bfloat16 needs the tensorflow backend (this run has wasm); use --precision float32'],
      ] as const) {
        const refused = cli('rnn-train', [corpus, '--out', path.join(work, `refused-${extra[1]}`), ...tiny, '--precision', 'bfloat16', ...extra]);
        expect(refused.status).toBe(1);
        expect(refused.stderr).toContain(`rnn-train: error: ${message}\n`);
        expect(fs.existsSync(path.join(work, `refused-${extra[1]}`, 'latest'))).toBe(false);
      }
    },
  );

  it.runIf(lstmCapabilities().isas.includes('avx2'))('--precision bfloat16 is refused in one line on the AVX2 sgemm, which has no bfloat16 product', () => {
    const out = path.join(work, 'bfloat16-avx2');
    const refused = cli('rnn-train', [corpus, '--out', out, ...tiny, '--precision', 'bfloat16'], { env: { ...process.env, ONEDNN_MAX_CPU_ISA: 'AVX2' } });
    expect(refused.status).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      'rnn-train: error: --precision bfloat16 needs AVX-512: TensorFlow has no bfloat16 matrix product on AVX2 (this CPU, or ONEDNN_MAX_CPU_ISA); use --precision float32',
    ]);
    expect(fs.existsSync(path.join(out, 'latest'))).toBe(false);
  });

  it('suggests --precision bfloat16 for large LSTM steps on a CPU with bfloat16 instructions, unless a precision was chosen', () => {
    const large = [
      '--layers',
      '1',
      '--hidden',
      '512',
      '--embedding',
      '8',
      '--seq-len',
      '5',
      '--batch-size',
      '64',
      '--replicas',
      '1',
      '--steps',
      '1',
      '--eval-every',
      '1',
    ];
    const suggested = cli('rnn-train', [corpus, '--out', path.join(work, 'large-steps'), ...large]);
    expect(suggested.status, suggested.stderr).toBe(0);
    const hint = 'hint: this CPU multiplies bfloat16 natively; --precision bfloat16';
    if (cpuHasBfloat16()) expect(suggested.stderr).toContain(hint);
    else expect(suggested.stderr).not.toContain(hint);
    const chosen = cli('rnn-train', [corpus, '--out', path.join(work, 'large-steps-float32'), ...large, '--precision', 'float32']);
    expect(chosen.status, chosen.stderr).toBe(0);
    expect(chosen.stderr).not.toContain(hint);
    // A small model's steps are small: bfloat16 products do not pay there.
    expect(cli('rnn-train', [corpus, '--out', path.join(work, 'small-steps'), ...tiny]).stderr).not.toContain(hint);
  });
});

describe('precisionAdvice', () => {
  const pays = { precisionChosen: false, backend: 'tensorflow', cell: 'lstm', cpuBfloat16: true, smallSteps: false } as const;
  it('speaks only where bfloat16 pays and the user left the precision alone', () => {
    expect(precisionAdvice(pays)).toMatch(/^hint: this CPU multiplies bfloat16 natively; --precision bfloat16/);
    for (const change of [
      { precisionChosen: true },
      { backend: 'wasm' },
      { cell: 'gru' },
      { cpuBfloat16: false },
      { cpuBfloat16: undefined },
      { smallSteps: true },
    ] as const) {
      expect(precisionAdvice({ ...pays, ...change }), JSON.stringify(change)).toBeUndefined();
    }
  });
});
