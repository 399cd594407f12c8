// How fast the page rnn-web writes runs, in headless Chromium (Debian's chromium, or RNN_TRAIN_CHROMIUM):
//   npm run bench:web -- <run or checkpoint> [--rounds 3] [--length 2000]
// Writes the model's site to a temporary folder, serves it, and times Generate and Look inside (on
// the passage the site offers) on each of the page's backends, WebAssembly and CPU, next to
// rnn-sample's time for the same characters in Node and PyTorch's batch-1 loop (bench/torch.mjs).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { loadCheckpoint } from '../dist/index.js';
import { serveStatic } from '../dist/web/serve.js';
import { fastestTorchSampling } from './torch.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, length: { type: 'string', default: '2000' } },
});
const [run] = positionals;
if (!run) {
  process.stderr.write('usage: npm run bench:web -- <run or checkpoint> [--rounds 3] [--length 2000]\n');
  process.exit(2);
}
const rounds = Number(values.rounds);
const length = Number(values.length);
const root = path.join(import.meta.dirname, '..');
const site = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rnn-web-bench-')), 'site');
const node = (command, args) => spawnSync(process.execPath, [path.join(root, 'bin', `${command}.js`), ...args], { encoding: 'utf8' });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (node('rnn-web', [run, '--out', site]).status !== 0) throw new Error(`rnn-web ${run} failed`);
const server = await serveStatic(site, 0);
const browser = await chromium.launch({ executablePath: process.env.RNN_TRAIN_CHROMIUM ?? '/usr/bin/chromium' });
const sample = [];
/**
 * rnn-sample's own time for `length` characters, without its start-up: a tenth of the difference
 * between 10 × `length` characters and none (`length` alone takes less than the start-up varies).
 */
const sampleTime = (seed) => {
  const time = (n) => {
    const t = performance.now();
    node('rnn-sample', [run, '-n', String(n), '--seed', String(seed)]);
    return (performance.now() - t) / 1000;
  };
  return (time(10 * length) - time(0)) / 10;
};
/** Generate and Look inside on one backend of the page, `rounds` times. */
async function timePage(backend) {
  const page = await browser.newPage();
  await page.goto(`${server.url}?backend=${backend}`);
  await page.waitForSelector('body[data-ready=true]');
  const running = await page.$eval('body', (body) => body.dataset.backend);
  if (running !== backend) throw new Error(`the page runs on ${running}, not ${backend}`);
  const description = await page.textContent('#backend');
  const generate = [];
  const inspect = [];
  let characters = 0;
  for (let round = 0; round < rounds; round++) {
    await page.fill('#length', String(length));
    await page.fill('#seed', String(round + 1));
    await page.$eval('#output', (output) => delete output.dataset.state);
    let started = performance.now();
    await page.click('#generate-button');
    await page.waitForSelector('#output[data-state=done]');
    generate.push((performance.now() - started) / 1000);
    await page.$eval('#inside-status', (status) => (status.textContent = ''));
    started = performance.now();
    await page.click('#analyse');
    await page.locator('#inside-status', { hasText: 'bits/char' }).waitFor();
    inspect.push((performance.now() - started) / 1000);
    characters = (await page.$$('#inside-view span')).length;
  }
  await page.close();
  return { backend, description, generate: median(generate), inspect: median(inspect), characters };
}
const pages = [];
for (const backend of ['wasm', 'cpu']) pages.push(await timePage(backend));
for (let round = 0; round < rounds; round++) sample.push(sampleTime(round + 1));
const torch = fastestTorchSampling(loadCheckpoint(run).checkpoint.model);
await browser.close();
await server.close();
fs.rmSync(path.dirname(site), { recursive: true, force: true });
const s = median(sample);
process.stdout.write(`${run}, medians of ${rounds} rounds:\n`);
for (const { backend, description, generate, inspect, characters } of pages) {
  process.stdout.write(
    `  page on ${backend} (${description}), generate: ${length} characters in ${generate.toFixed(2)} s = ${Math.round(length / generate)} chars/s\n`,
  );
  process.stdout.write(`  page on ${backend}, look inside: ${characters} characters read and units ranked in ${inspect.toFixed(2)} s\n`);
}
process.stdout.write(`  rnn-sample in Node: ${length} characters in ${s.toFixed(2)} s = ${Math.round(length / s)} chars/s\n`);
if (torch.skipped) process.stdout.write(`  PyTorch's batch-1 loop: not measured (${torch.skipped})\n`);
else {
  const { threads, mkldnn, charsPerSecond } = torch;
  process.stdout.write(`  PyTorch's batch-1 loop, a model of this size: ${Math.round(charsPerSecond)} chars/s (${threads} thread(s), oneDNN ${mkldnn})\n`);
  for (const { backend, generate } of pages) process.stdout.write(`  page on ${backend} against it: ${(length / generate / charsPerSecond).toFixed(2)}\n`);
}
