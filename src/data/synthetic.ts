import { Rng } from '../util/random.js';

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
    const line =
      opened.map((p) => p[0]).join('') +
      opened
        .reverse()
        .map((p) => p[1])
        .join('') +
      '\n';
    lines.push(line);
    length += line.length;
  }
  return lines.join('').slice(0, characters);
}

const WORDS =
  'the of and to a in that is was he for it with as his on be at by I had not are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people'.split(
    ' ',
  );

/**
 * An arbitrarily large English-like text, generated `chunkChars` characters at a time so that it
 * never has to be held whole: random words in sentences and lines, with a rare accented or astral
 * character, for the large-corpus tests and the loading benchmark.
 */
export function* largeText(characters: number, seed: number, chunkChars = 1 << 20): Generator<string> {
  const rng = new Rng(seed);
  const rare = ['é', 'ß', 'ñ', '—', '😀'];
  let written = 0;
  while (written < characters) {
    const parts: string[] = [];
    let length = 0;
    const target = Math.min(chunkChars, characters - written);
    while (length < target) {
      const word = rng.next() < 0.001 ? rare[Math.floor(rng.next() * rare.length)] : WORDS[Math.floor(rng.next() * WORDS.length)];
      const end = rng.next() < 0.08 ? (rng.next() < 0.3 ? '.\n' : '. ') : ' ';
      parts.push(word + end);
      length += [...word].length + end.length;
    }
    // Trim the last piece by code points, so that an astral character is never cut in half.
    const last = [...parts.pop()!];
    parts.push(last.slice(0, last.length - (length - target)).join(''));
    written += target;
    yield parts.join('');
  }
}
