// The hints rnn-train prints before training: pure functions of the run, so that tests can call them.
import type { BackendName } from '../backend.js';
import type { CellType } from '../cell.js';

/**
 * char-rnn's rule of thumb: a model learns best with about as many parameters as the training text
 * has characters. More than ten times as many and it memorises; less than a tenth and it underfits.
 */
export function sizeAdvice(parameters: number, characters: number): string | undefined {
  const ratio = parameters / characters;
  const sizes = `${formatCount(parameters)} parameters for ${formatCount(characters)} training characters`;
  if (ratio > 10) return `hint: ${sizes}; a model this large for the text will overfit: use a smaller --preset or --hidden, or more --dropout`;
  if (ratio < 0.1) return `hint: ${sizes}; the model is small for this much text: a larger --preset or --hidden will learn more of it`;
  return undefined;
}

/**
 * Whether to suggest --precision bfloat16: where the user left the precision at float32 on a CPU
 * that multiplies bfloat16 natively, for an LSTM on TensorFlow whose time steps are large enough
 * for bfloat16 products to pay (medians of interleaved runs on a Zen 5: --preset small +19 %,
 * medium +31 %, large +23 %, 2×512 at batch 64 +24 %; at the defaults' size, whose steps are
 * small, no gain, so no hint there).
 */
export function precisionAdvice(run: { precisionChosen: boolean; backend: BackendName; cell: CellType; cpuBfloat16: boolean | undefined; smallSteps: boolean }): string | undefined {
  if (run.precisionChosen || run.backend !== 'tensorflow' || run.cell !== 'lstm' || run.cpuBfloat16 !== true || run.smallSteps) return undefined;
  return 'hint: this CPU multiplies bfloat16 natively; --precision bfloat16 (mixed precision) trains a model this size about 20–30 % faster and learns as well';
}

function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : String(n);
}
