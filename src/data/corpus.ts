import crypto from 'node:crypto';
import fs from 'node:fs';
import type { CharIds } from './batches.js';
import { UserError } from '../util/errors.js';
import { Vocabulary } from './vocabulary.js';

/** The most distinct characters a corpus may have: ids must fit in 16 bits. */
export const MAX_VOCABULARY = 65_536;
/**
 * Stray bytes (invalid UTF-8, NUL) up to one per this many bytes are replaced by U+FFFD with a
 * warning; more than that means the file is not UTF-8 text, and it is refused.
 */
const STRAY_BYTES_TOLERATED_PER = 1000;
const REPLACEMENT = 0xfffd;
const CHUNK_BYTES = 8 << 20;

export interface Corpus {
  path: string;
  bytes: number;
  sha256: string;
  vocabulary: Vocabulary;
  /** Every character as its vocabulary index, in a Uint8Array or Uint16Array. */
  ids: CharIds;
  /** Stray bytes replaced by U+FFFD. */
  replaced: number;
}

/** Called while loading: bytes read so far in this pass, of `total`, and the pass (1: scan, 2: encode). */
export type LoadProgress = (done: number, total: number, pass: 1 | 2) => void;

export interface LoadOptions {
  onProgress?: LoadProgress;
  /** What the file is for, so that an error names it as the user does: a text to train on, or one to score. */
  purpose?: 'train' | 'score';
}

/** The refusal of a file that does not exist, saying what to give instead. */
function notFound(file: string, purpose: LoadOptions['purpose']): UserError {
  return purpose === 'score'
    ? new UserError(`file to score not found: ${file}; give the path of a UTF-8 text file`)
    : new UserError(`corpus file not found: ${file}; give the path of a UTF-8 text file (rnn-train ships one: data/tinyshakespeare.txt)`);
}

/** Refuses UTF-16 text, which a UTF-8 decoder would read as a string of stray bytes, with the command that converts it. */
function refuseUtf16(file: string): void {
  const head = Buffer.alloc(2);
  const fd = fs.openSync(file, 'r');
  try {
    fs.readSync(fd, head, 0, 2, 0);
  } finally {
    fs.closeSync(fd);
  }
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw new UserError(
      `${file} is UTF-16 text (it starts with a UTF-16 byte-order mark); convert it to UTF-8 first: iconv -f UTF-16 -t UTF-8 ${file} > converted.txt`,
    );
  }
}

/** Calls `visit` with every code point of a decoded piece, joining surrogate pairs. */
function forEachCodePoint(text: string, visit: (codePoint: number) => void): void {
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    // NUL is a stray byte in a text file; it becomes U+FFFD like any other.
    visit(c === 0 ? REPLACEMENT : c);
  }
}

/**
 * Reads the file in chunks, decoding UTF-8 as a stream (a character split across two chunks is
 * joined), and calls `visit` with every code point. Returns what the pass learned of the bytes.
 */
async function decodePass(
  file: string,
  total: number,
  pass: 1 | 2,
  visit: (codePoint: number) => void,
  onProgress?: LoadProgress,
): Promise<{ sha256: string; replacementsInText: number; strayNul: number; genuineReplacements: number }> {
  const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });
  const hash = crypto.createHash('sha256');
  const buffer = Buffer.alloc(CHUNK_BYTES);
  let replacementsInText = 0;
  let strayNul = 0;
  // U+FFFD written in the file itself (EF BF BD) is text, not a stray byte; count those to tell apart.
  let genuineReplacements = 0;
  let tail = 0; // the last two bytes of the previous chunk, for an EF BF BD split between chunks
  const handle = await fs.promises.open(file, 'r');
  try {
    let done = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) break;
      const chunk = buffer.subarray(0, bytesRead);
      if (pass === 1) {
        hash.update(chunk);
        for (let i = 0; i < bytesRead; i++) {
          const b = chunk[i];
          if (b === 0) strayNul++;
          tail = ((tail << 8) | b) & 0xffffff;
          if (tail === 0xefbfbd) genuineReplacements++;
        }
      }
      forEachCodePoint(decoder.decode(chunk, { stream: true }), (c) => {
        if (c === REPLACEMENT) replacementsInText++;
        visit(c);
      });
      done += bytesRead;
      onProgress?.(done, total, pass);
    }
    forEachCodePoint(decoder.decode(), (c) => {
      if (c === REPLACEMENT) replacementsInText++;
      visit(c);
    });
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), replacementsInText, strayNul, genuineReplacements };
}

/**
 * Loads a UTF-8 corpus in two streaming passes, so that memory holds one byte (two past 256
 * distinct characters) per character and never the text itself: the first finds the distinct
 * characters, counts them and checks the bytes; the second encodes every character as its index.
 */
export async function loadCorpus(file: string, { onProgress, purpose = 'train' }: LoadOptions = {}): Promise<Corpus> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw notFound(file, purpose);
  }
  if (stat.isDirectory()) throw new UserError(`${file} is a directory; give the path of a text file`);
  if (stat.size === 0) throw new UserError(`${purpose === 'score' ? 'file' : 'corpus file'} ${file} is empty; give a text file with some text in it`);
  refuseUtf16(file);

  const seen = new Uint8Array(0x110000);
  let distinct = 0;
  let length = 0;
  const scan = await decodePass(
    file,
    stat.size,
    1,
    (c) => {
      length++;
      if (seen[c] === 0) {
        seen[c] = 1;
        distinct++;
      }
    },
    onProgress,
  );
  const invalid = Math.max(0, scan.replacementsInText - scan.genuineReplacements - scan.strayNul);
  const stray = invalid + scan.strayNul;
  if (stray > 0 && stray * STRAY_BYTES_TOLERATED_PER > stat.size) {
    if (scan.strayNul > invalid) {
      throw new UserError(`${file} looks like a binary file (it contains ${scan.strayNul} NUL bytes); give a UTF-8 text file`);
    }
    throw new UserError(`${file} is not valid UTF-8 text (${invalid} invalid byte sequences); convert it first (e.g. iconv -f LATIN1 -t UTF-8)`);
  }
  if (distinct > MAX_VOCABULARY) {
    throw new UserError(
      `${file} has ${distinct.toLocaleString('en-US')} distinct characters; rnn-train supports at most ${MAX_VOCABULARY.toLocaleString('en-US')} ` +
        '(a character-level model over more symbols than that learns little); give a text with a smaller alphabet',
    );
  }

  const chars: string[] = [];
  for (let c = 0; c < seen.length; c++) if (seen[c]) chars.push(String.fromCodePoint(c));
  const vocabulary = new Vocabulary(chars);
  const indexOf = new Int32Array(0x110000).fill(-1);
  chars.forEach((ch, i) => (indexOf[ch.codePointAt(0)!] = i));
  const ids = vocabulary.idArray(length);
  let position = 0;
  await decodePass(
    file,
    stat.size,
    2,
    (c) => {
      const id = indexOf[c];
      if (id < 0 || position >= length) throw new UserError(`${file} changed while it was being read; try again`);
      ids[position++] = id;
    },
    onProgress,
  );
  if (position !== length) throw new UserError(`${file} changed while it was being read; try again`);
  return { path: file, bytes: stat.size, sha256: scan.sha256, vocabulary, ids, replaced: stray };
}

export interface Split {
  train: CharIds;
  validation: CharIds;
}

/** Holds out the last `validationFraction` of the text, contiguous, as the validation split. */
export function splitCorpus(ids: CharIds, validationFraction: number): Split {
  const validationLength = Math.floor(ids.length * validationFraction);
  const cut = ids.length - validationLength;
  return { train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}
