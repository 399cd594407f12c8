import fs from 'node:fs';
import { UserError } from './errors.js';

/** Reads a corpus file as UTF-8 text, refusing what is not text with a message that says why. */
export function readCorpus(path: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(path);
  } catch {
    throw new UserError(`corpus file not found: ${path}`);
  }
  if (stat.isDirectory()) throw new UserError(`${path} is a directory; give the path of a text file`);
  const bytes = fs.readFileSync(path);
  if (bytes.length === 0) throw new UserError(`corpus file ${path} is empty; give a text file with some text in it`);
  if (bytes.includes(0)) throw new UserError(`${path} looks like a binary file (it contains NUL bytes); give a UTF-8 text file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new UserError(`${path} is not valid UTF-8 text; convert it first (e.g. iconv -f LATIN1 -t UTF-8)`);
  }
  return text;
}

export interface Split {
  train: Int32Array;
  validation: Int32Array;
}

/** Holds out the last `validationFraction` of the text, contiguous, as the validation split. */
export function splitCorpus(ids: Int32Array, validationFraction: number): Split {
  const validationLength = Math.floor(ids.length * validationFraction);
  const cut = ids.length - validationLength;
  return { train: ids.subarray(0, cut), validation: ids.subarray(cut) };
}
