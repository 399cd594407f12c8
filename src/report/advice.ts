import type { OptimizerName } from '../train/optimizer.js';

// The hints rnn-train prints before training that are not about speed (model/policy.ts has those): pure functions, so that tests can call them.

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

function formatCount(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : String(n);
}

/** The learning rates above which each optimizer is all but sure to diverge, and what usually trains. */
const LEARNING_RATE_LIMITS: Record<OptimizerName, { above: number; usual: string }> = {
  adam: { above: 1, usual: '1e-4 to 1e-2' },
  rmsprop: { above: 1, usual: '1e-4 to 1e-2' },
  sgd: { above: 10, usual: '0.01 to 1' },
};

/** A warning for a learning rate far outside what trains; undefined for any ordinary one. */
export function learningRateWarning(optimizer: OptimizerName, learningRate: number): string | undefined {
  const { above, usual } = LEARNING_RATE_LIMITS[optimizer];
  if (learningRate <= above) return undefined;
  return `--lr ${learningRate} is far above what trains with ${optimizer} (usually ${usual}); expect the loss to diverge`;
}

/**
 * The cross-entropy, in nats/char, of a model that knows only how often each character occurs:
 * what a language model must beat to have learned anything of the text's structure.
 */
export function unigramEntropy(ids: ArrayLike<number>, vocabSize: number): number {
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < ids.length; i++) counts[ids[i]]++;
  let entropy = 0;
  for (const count of counts) if (count > 0) entropy -= (count / ids.length) * Math.log(count / ids.length);
  return entropy;
}

/** A hint when the best validation loss is still within a tenth of what character frequencies alone give. */
export function undertrainedHint(bestValidationLoss: number | null, entropy: number): string | undefined {
  if (bestValidationLoss === null || bestValidationLoss < 0.9 * entropy) return undefined;
  return (
    `hint: the best validation loss, ${bestValidationLoss.toFixed(4)} nats/char, is close to the ${entropy.toFixed(4)} that character frequencies alone give on this text: ` +
    'the model has learned little beyond them yet; train longer (--steps, --epochs or --time-budget)'
  );
}

/** What to do with a finished run: the last lines rnn-train prints. */
export function nextSteps(outDir: string): string[] {
  return [`sample with: npx rnn-sample ${outDir}`, `see it in a browser: npx rnn-web ${outDir} --serve`];
}
