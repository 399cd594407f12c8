#!/usr/bin/env node
// Corpus loading: time and peak memory for generated corpora of growing size, each loaded in a
// fresh process exactly as rnn-train loads one. Load time should grow linearly with the size, and
// memory by about one byte per character (two past 256 distinct characters).
// Not a test: it prints numbers (and --json for machines).
//
//   npm run bench:load [-- --json] [--sizes 10,30,100]   (sizes in millions of characters)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { largeText } from '../dist/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const args = { json: false, sizes: [10, 30, 100] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--json') args.json = true;
    else if (argv[i] === '--sizes') args.sizes = argv[++i].split(',').map(Number);
    else throw new Error(`unknown flag ${argv[i]}; see the header of bench/load.mjs`);
  }
  return args;
}

/** Loads `file` in a child process; returns its load time and peak RSS. */
function measure(file) {
  const script = `const { loadCorpus } = await import(${JSON.stringify(path.join(root, 'dist', 'data', 'corpus.js'))});
    const started = performance.now();
    const corpus = await loadCorpus(${JSON.stringify(file)});
    console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, characters: corpus.ids.length,
      vocabulary: corpus.vocabulary.size, maxRssMb: process.resourceUsage().maxRSS / 1024 }));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`loading ${file} failed:\n${child.stderr}`);
  return JSON.parse(child.stdout);
}

const args = parseArgs(process.argv.slice(2));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-train-load-'));
const baseline = measure(path.join(root, 'data', 'nested-brackets.txt'));
const rows = [];
try {
  for (const millions of args.sizes) {
    const file = path.join(dir, `corpus-${millions}M.txt`);
    const fd = fs.openSync(file, 'w');
    for (const chunk of largeText(millions * 1e6, 1)) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    const bytes = fs.statSync(file).size;
    const result = measure(file);
    fs.rmSync(file);
    rows.push({ millions, bytes, ...result, msPerMb: (1000 * result.seconds) / (bytes / 1e6), aboveBaselineMb: result.maxRssMb - baseline.maxRssMb });
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
if (args.json) {
  console.log(JSON.stringify({ baselineMaxRssMb: baseline.maxRssMb, rows }));
} else {
  console.log(`peak RSS of a process loading a tiny corpus: ${baseline.maxRssMb.toFixed(0)} MB`);
  console.log('characters   file MB   load s   ms/MB   peak RSS MB   above tiny MB');
  for (const r of rows) {
    console.log(
      `${`${r.millions}M`.padStart(10)}   ${(r.bytes / 1e6).toFixed(1).padStart(7)}   ${r.seconds.toFixed(2).padStart(6)}   ${r.msPerMb.toFixed(1).padStart(5)}   ${r.maxRssMb.toFixed(0).padStart(11)}   ${r.aboveBaselineMb.toFixed(0).padStart(13)}`,
    );
  }
}
