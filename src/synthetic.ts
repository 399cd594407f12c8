import { Rng } from './random.js';

/**
 * Small corpora with structure that only a model with memory can predict, for the demo and the
 * tests. In `nestedBrackets`, each line opens a random number (1..maxDepth) of brackets of random
 * kinds and then closes them in reverse order: once the first closer appears, the rest of the line
 * is fully determined by what was opened, which a memoryless (bigram) model cannot know.
 */
export function nestedBrackets(characters: number, seed: number, maxDepth = 6): string {
  const rng = new Rng(seed);
  const pairs = ['()', '[]', '{}', '<>'];
  const lines: string[] = [];
  let length = 0;
  while (length < characters) {
    const depth = 1 + Math.floor(rng.next() * maxDepth);
    const opened = Array.from({ length: depth }, () => pairs[Math.floor(rng.next() * pairs.length)]);
    const line = opened.map((p) => p[0]).join('') + opened.reverse().map((p) => p[1]).join('') + '\n';
    lines.push(line);
    length += line.length;
  }
  return lines.join('').slice(0, characters);
}
