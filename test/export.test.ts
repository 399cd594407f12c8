import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CELL_TYPES, type CellType, readCheckpoint, CharRnn, ensureNativeTensorflow, nestedBrackets, lstmCapabilities } from '../src/index.js';
import { ROOT, cli, tempDir, testBackend } from './helpers.js';

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const text = nestedBrackets(4000, 5).replace(/</g, 'é');
const prime = text.slice(0, 12);
let server: http.Server;
let base = '';

beforeAll(async () => {
  fs.writeFileSync(corpus, text);
  for (const cell of CELL_TYPES) {
    const args = [
      corpus,
      '--out',
      path.join(work, cell),
      '--cell',
      cell,
      '--steps',
      '8',
      '--eval-every',
      '8',
      '--layers',
      '2',
      '--hidden',
      '12',
      '--embedding',
      '5',
      '--lr',
      '3e-2',
      '--seed',
      '1',
      '--backend',
      backend,
    ];
    const trained = cli('rnn-train', args);
    if (trained.status !== 0) throw new Error(`rnn-train --cell ${cell} failed:\n${trained.stderr}`);
  }
  // A static file server, as a web page would load the model from.
  server = http.createServer((request, response) => {
    const file = path.join(work, decodeURIComponent(new URL(request.url!, 'http://x').pathname));
    if (!file.startsWith(work) || !fs.existsSync(file)) return void response.writeHead(404).end();
    response.writeHead(200).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => server?.close());

/**
 * Runs, in a fresh Node process that imports only `pkg`, the snippet a user would write: load
 * model.json and vocabulary.json, encode the prime, predict. Prints the probabilities [T, V].
 */
async function probabilitiesFrom(pkg: string, modelUrl: string, vocabulary: string[]): Promise<number[][]> {
  const script = `
    import * as tf from '${pkg}';
    const vocabulary = ${JSON.stringify(vocabulary)};
    const ids = [...${JSON.stringify(prime)}].map((ch) => vocabulary.indexOf(ch));
    const model = await tf.loadLayersModel(${JSON.stringify(modelUrl)});
    const probabilities = model.predict(tf.tensor2d([ids]));
    process.stdout.write(JSON.stringify(probabilities.arraySync()[0]));
  `;
  // Asynchronous: the file server answers from this process's event loop.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`${pkg} could not load the model:\n${stderr}`);
  return JSON.parse(stdout);
}

/** rnn-sample's own next-character probabilities after each character of the prime. */
function ourProbabilities(dir: string): { probabilities: number[][]; vocabulary: string[] } {
  const checkpoint = readCheckpoint(dir);
  const model = new CharRnn(checkpoint.model, checkpoint.weights, { capabilities: lstmCapabilities() });
  const ids = Int32Array.from([...prime], (ch) => checkpoint.vocabulary.indexOf(ch));
  const probabilities = tf.tidy(() => tf.softmax(model.forward(ids, ids.length, model.zeroState(1)).logits).arraySync() as number[][]);
  model.dispose();
  return { probabilities, vocabulary: checkpoint.vocabulary };
}

function expectSame(actual: number[][], expected: number[][]): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, t) => row.forEach((p, v) => expect(Math.abs(p - expected[t][v]), `t=${t} v=${v}`).toBeLessThan(2e-5)));
}

describe.each(CELL_TYPES)('a %s checkpoint as a tfjs layers model', (cell: CellType) => {
  it('writes model.json and vocabulary.json, covered by SHA256SUMS', () => {
    const dir = path.join(work, cell, 'latest');
    const vocabulary = JSON.parse(fs.readFileSync(path.join(dir, 'vocabulary.json'), 'utf8'));
    expect(vocabulary).toEqual(readCheckpoint(dir).vocabulary);
    expect(vocabulary).toContain('é');
    const sums = fs.readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8');
    expect(sums).toMatch(/ {2}model\.json\n/);
    expect(sums).toMatch(/ {2}vocabulary\.json\n/);
  });

  it('loads with @tensorflow/tfjs alone (over HTTP, as in a browser) and gives the same probabilities as rnn-sample', async () => {
    const { probabilities, vocabulary } = ourProbabilities(path.join(work, cell, 'latest'));
    expectSame(await probabilitiesFrom('@tensorflow/tfjs', `${base}/${cell}/latest/model.json`, vocabulary), probabilities);
  });

  it.runIf(backend === 'tensorflow')("loads with tfjs-node's file:// handler and gives the same probabilities", async () => {
    const { probabilities, vocabulary } = ourProbabilities(path.join(work, cell, 'latest'));
    const url = `file://${fs.realpathSync(path.join(work, cell, 'latest'))}/model.json`;
    // tfjs-node as rnn-train loads it, from native setup's cache: the package a user would install.
    const { view } = await ensureNativeTensorflow();
    expectSame(await probabilitiesFrom(pathToFileURL(path.join(view.packageDir, 'dist', 'index.js')).href, url, vocabulary), probabilities);
  });
});
