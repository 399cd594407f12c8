import type { CharIds } from './batches.js';
import { UserError } from '../util/errors.js';

/**
 * The model's alphabet: the sorted distinct Unicode code points of the corpus. An astral character
 * such as an emoji is one symbol, never two UTF-16 surrogates.
 */
export class Vocabulary {
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    if (chars.length === 0) throw new UserError('a vocabulary needs at least one character');
    this.chars = chars;
    this.index = new Map(chars.map((ch, i) => [ch, i]));
    if (this.index.size !== chars.length) throw new UserError('the vocabulary has repeated characters');
  }

  static fromText(text: string): Vocabulary {
    const distinct = [...new Set(text)];
    distinct.sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    return new Vocabulary(distinct);
  }

  get size(): number {
    return this.chars.length;
  }

  /** An array for `length` ids of this vocabulary, in the smallest type that holds them. */
  idArray(length: number): Uint8Array | Uint16Array {
    return this.size <= 256 ? new Uint8Array(length) : new Uint16Array(length);
  }

  has(ch: string): boolean {
    return this.index.has(ch);
  }

  /** Distinct characters of `text` that are not in the vocabulary, in order of first appearance. */
  unknown(text: string): string[] {
    return [...new Set(text)].filter((ch) => !this.index.has(ch));
  }

  encode(text: string): Int32Array {
    const ids: number[] = [];
    for (const ch of text) {
      const id = this.index.get(ch);
      if (id === undefined) throw new UserError(`character ${JSON.stringify(ch)} is not in the vocabulary`);
      ids.push(id);
    }
    return Int32Array.from(ids);
  }

  /**
   * Re-encodes ids of another vocabulary (e.g. a new text's) into this one. Characters this
   * vocabulary lacks are dropped, and counted per character.
   */
  translate(ids: CharIds, from: Vocabulary): { ids: CharIds; unknown: Map<string, number> } {
    const mapping = Int32Array.from(from.chars, (ch) => this.index.get(ch) ?? -1);
    const unknown = new Map<string, number>();
    const out = this.idArray(ids.length);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = mapping[ids[i]];
      if (id >= 0) out[n++] = id;
      else unknown.set(from.chars[ids[i]], (unknown.get(from.chars[ids[i]]) ?? 0) + 1);
    }
    return { ids: out.subarray(0, n), unknown };
  }

  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) text += this.chars[ids[i]];
    return text;
  }
}
