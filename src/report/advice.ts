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
