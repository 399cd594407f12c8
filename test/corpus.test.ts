import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCorpus, MAX_VOCABULARY, largeText } from '../src/index.js';
import { ROOT, cli, tempDir, testBackend } from './helpers.js';

const work = tempDir();

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, content);
  return file;
}

function writeLarge(name: string, characters: number): string {
  const file = path.join(work, name);
  const fd = fs.openSync(file, 'w');
  for (const chunk of largeText(characters, 7)) fs.writeSync(fd, chunk);
  fs.closeSync(fd);
  return file;
}

describe('loading a corpus', () => {
  it('reads code points into the smallest id array, sorted vocabulary, decoding back to the text', async () => {
    const text = 'Hello, wörld! 𝄞😀 — again: Hello.\n';
    const corpus = await loadCorpus(write('small.txt', text));
    expect(corpus.ids).toBeInstanceOf(Uint8Array);
    expect(corpus.ids.length).toBe([...text].length);
    expect(corpus.vocabulary.decode(corpus.ids)).toBe(text);
    expect([...corpus.vocabulary.chars]).toEqual([...new Set(text)].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!));
    expect(corpus.replaced).toBe(0);
    expect(corpus.bytes).toBe(Buffer.byteLength(text));
  });

  it('uses 16-bit ids past 256 distinct characters', async () => {
    const text = Array.from({ length: 300 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join('');
    const corpus = await loadCorpus(write('cjk.txt', text.repeat(3)));
    expect(corpus.ids).toBeInstanceOf(Uint16Array);
    expect(corpus.vocabulary.size).toBe(300);
    expect(corpus.vocabulary.decode(corpus.ids)).toBe(text.repeat(3));
  });

  it(`refuses more than ${MAX_VOCABULARY} distinct characters, saying so`, async () => {
    const text = Array.from({ length: MAX_VOCABULARY + 1 }, (_, i) => String.fromCodePoint(0x10000 + i)).join('');
    await expect(loadCorpus(write('huge-alphabet.txt', text))).rejects.toThrow(/has 65,537 distinct characters; rnn-train supports at most 65,536/);
  });

  it('joins a character split between two read chunks', async () => {
    const chunk = 8 << 20;
    const text = `${'a'.repeat(chunk - 2)}😀é${'b'.repeat(10)}`;
    const corpus = await loadCorpus(write('boundary.txt', text));
    expect(corpus.vocabulary.decode(corpus.ids)).toBe(text);
    expect(corpus.replaced).toBe(0);
  });

  it('reads a few stray bytes (invalid UTF-8, NUL) as U+FFFD and counts them; a real U+FFFD in the text is not one', async () => {
    const text = Buffer.from('x'.repeat(5000) + '\uFFFD' + 'y'.repeat(5000));
    const bytes = Buffer.concat([text.subarray(0, 100), Buffer.from([0xff]), text.subarray(100, 200), Buffer.from([0xc3, 0x00]), text.subarray(200)]);
    const corpus = await loadCorpus(write('stray.txt', bytes));
    expect(corpus.replaced).toBe(3);
    expect(corpus.vocabulary.chars).toContain('\uFFFD');
    expect(corpus.vocabulary.chars).not.toContain('\u0000');
  });

  it('refuses a file where stray bytes are more than one in a thousand', async () => {
    const bytes = Buffer.from('text '.repeat(200));
    for (let i = 0; i < bytes.length; i += 100) bytes[i] = 0xfe;
    await expect(loadCorpus(write('latin1ish.txt', bytes))).rejects.toThrow(/is not valid UTF-8 text \(10 invalid byte sequences\)/);
  });

  it('trains on a file with a few stray bytes, warning once', () => {
    const bytes = Buffer.concat([Buffer.from('abc abd abe '.repeat(500)), Buffer.from([0xff]), Buffer.from('abc '.repeat(100))]);
    const run = path.join(work, 'stray-run');
    const args = [
      write('stray-train.txt', bytes),
      '--out',
      run,
      '--steps',
      '2',
      '--hidden',
      '8',
      '--embedding',
      '4',
      '--seq-len',
      '10',
      '--batch-size',
      '4',
      '--backend',
      testBackend(),
    ];
    const result = cli('rnn-train', args);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: 1 stray bytes \(invalid UTF-8 or NUL\) in .*stray-train\.txt were read as U\+FFFD/);
  });
});

describe('a 100 MB corpus', () => {
  const big = writeLarge('big.txt', 100_000_000);

  it('loads with bounded memory: about one byte per character on top of the baseline', () => {
    const load = (file: string) => {
      // The loader's module alone, so that the peak measures loading and not the rest of the library.
      const script = `const { loadCorpus } = await import(${JSON.stringify(path.join(ROOT, 'dist', 'data', 'corpus.js'))});
        const corpus = await loadCorpus(${JSON.stringify(file)});
        console.log(JSON.stringify({ length: corpus.ids.length, bytesPerId: corpus.ids.BYTES_PER_ELEMENT, maxRssKb: process.resourceUsage().maxRSS }));`;
      const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { length: number; bytesPerId: number; maxRssKb: number };
    };
    const baseline = load(write('tiny.txt', 'a small text\n'));
    const loaded = load(big);
    expect(loaded.length).toBe(100_000_000);
    expect(loaded.bytesPerId).toBe(1);
    const grownMb = (loaded.maxRssKb - baseline.maxRssKb) / 1024;
    console.log(`100 MB corpus: peak RSS ${Math.round(loaded.maxRssKb / 1024)} MB, ${Math.round(grownMb)} MB above an empty load`);
    // The ids take 100 MB; decoding holds one 8 MiB chunk and its text at a time. Reading the
    // whole file as a string and an Int32Array, as before, took over 600 MB more.
    expect(grownMb).toBeLessThan(220);
  });

  it('trains end to end', () => {
    const run = path.join(work, 'big-run');
    const args = [
      big,
      '--out',
      run,
      '--steps',
      '2',
      '--val-frac',
      '0.0001',
      '--hidden',
      '16',
      '--embedding',
      '4',
      '--seq-len',
      '20',
      '--batch-size',
      '8',
      '--backend',
      testBackend(),
    ];
    const result = cli('rnn-train', args);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/corpus: .*big\.txt, 100,000,000 characters/);
  });
});
