/**
 * How the next character is chosen from a model's output: pure arithmetic with no imports, so that
 * rnn-sample in Node and the page rnn-web writes (src/web/page/) draw the same character from the
 * same numbers and the same uniform draw.
 */

/** rnn-sample's temperature unless told otherwise, and that of the samples shown while training. */
export const DEFAULT_TEMPERATURE = 0.8;

/** How the next character is chosen from the model's distribution. */
export interface SamplingRule {
  /** Softmax temperature; 0 means always take the most likely character (argmax). */
  temperature: number;
  /** Draw only among the k likeliest characters. */
  topK?: number;
  /** Nucleus sampling (Holtzman et al. 2020): draw only among the likeliest characters whose probabilities sum to p. */
  topP?: number;
}

/** log Σ exp(logits), in float64, as logSoftmax and logProbOf subtract it. */
function logPartition(logits: Float32Array): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

/** Log-softmax of `logits` in float64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  const logZ = logPartition(logits);
  return Float64Array.from(logits, (v) => v - logZ);
}

/** logSoftmax(logits)[index], to the last bit, without the array: once per sampled character. */
export function logProbOf(logits: Float32Array, index: number): number {
  return logits[index] - logPartition(logits);
}

/**
 * An ensemble's log-probabilities from each member's logits for one character: the log of the
 * mean of their distributions, as model/mixture.ts's mixtureLogProbs computes it on tensors.
 */
export function mixtureOfLogits(memberLogits: Float32Array[]): Float32Array {
  const logProbs = memberLogits.map(logSoftmax);
  return Float32Array.from(logProbs[0], (_, v) => {
    let max = -Infinity;
    for (const member of logProbs) max = Math.max(max, member[v]);
    let sum = 0;
    for (const member of logProbs) sum += Math.exp(member[v] - max);
    return max + Math.log(sum) - Math.log(logProbs.length);
  });
}

/**
 * The index of the next character: argmax at temperature 0, else a draw with one uniform number
 * from the tempered distribution, cut to the top k and then to the nucleus of mass p, renormalised.
 * Without a cut the draw walks the vocabulary in its own order, so that a seed gives the same text
 * as it always has.
 */
export function chooseNext(logits: Float32Array, rule: SamplingRule, uniform: number): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (rule.temperature === 0) return best;
  const truncated = rule.topK !== undefined || rule.topP !== undefined;
  if (!truncated) return drawFromAll(logits, logits[best], rule.temperature, uniform);
  let kept = Array.from(logits.keys());
  if (truncated) kept = kept.sort((a, b) => logits[b] - logits[a]).slice(0, rule.topK);
  const weights = kept.map((i) => Math.exp((logits[i] - logits[best]) / rule.temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  if (rule.topP !== undefined) {
    let mass = 0;
    let count = 0;
    while (count < kept.length && mass < rule.topP * total) mass += weights[count++];
    kept = kept.slice(0, count);
    total = mass;
  }
  let cumulative = 0;
  for (let j = 0; j < kept.length; j++) {
    cumulative += weights[j];
    if (uniform * total < cumulative) return kept[j];
  }
  return kept[kept.length - 1];
}

/** chooseNext's draw over the whole vocabulary, in its order, with the same arithmetic and no arrays. */
function drawFromAll(logits: Float32Array, top: number, temperature: number, uniform: number): number {
  let total = 0;
  for (let i = 0; i < logits.length; i++) total += Math.exp((logits[i] - top) / temperature);
  let cumulative = 0;
  for (let i = 0; i < logits.length; i++) {
    cumulative += Math.exp((logits[i] - top) / temperature);
    if (uniform * total < cumulative) return i;
  }
  return logits.length - 1;
}
