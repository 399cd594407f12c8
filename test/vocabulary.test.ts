import { describe, expect, it } from 'vitest';
import { Vocabulary, splitCorpus } from '../src/index.js';

describe('Vocabulary', () => {
  it('treats astral characters as one symbol each and sorts by code point', () => {
    const text = 'b😀a𝄞\uFFFDa😀';
    const vocabulary = Vocabulary.fromText(text);
    // UTF-16 order would put the surrogate pairs of 😀 and 𝄞 before U+FFFD.
    expect(vocabulary.chars).toEqual(['a', 'b', '\uFFFD', '𝄞', '😀']);
    const ids = vocabulary.encode(text);
    expect(ids.length).toBe(7);
    expect(vocabulary.decode(ids)).toBe(text);
  });

  it('reports characters it does not know, once each', () => {
    const vocabulary = Vocabulary.fromText('abc');
    expect(vocabulary.unknown('abxcy😀x')).toEqual(['x', 'y', '😀']);
    expect(() => vocabulary.encode('abz')).toThrow(/"z" is not in the vocabulary/);
  });
});

describe('splitCorpus', () => {
  it('holds out the last fraction, contiguous', () => {
    const ids = Int32Array.from({ length: 100 }, (_, i) => i);
    const { train, validation } = splitCorpus(ids, 0.1);
    expect([...train]).toEqual([...ids.subarray(0, 90)]);
    expect([...validation]).toEqual([...ids.subarray(90)]);
  });
});
