import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bestUnits, correlation, FEATURES, stateSources } from '../src/web/page/units.js';
import { pageModules } from '../src/web/site.js';
import { shellWord } from '../src/index.js';
import { cli, ROOT, startCli, tempDir, testBackend, type CliResult } from './helpers.js';

const work = tempDir();
const corpus = path.join(work, 'corpus.txt');
const run = path.join(work, 'run');

function expectOneLineError(result: CliResult, pattern: RegExp): void {
  expect(result.status, result.stderr).toBe(1);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

// Mounting a tmpfs needs root, which CI has; elsewhere the tests that need one are skipped.
const probe = path.join(work, 'probe');
fs.mkdirSync(probe);
const canMount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]).status === 0 && spawnSync('umount', [probe]).status === 0;

/** Runs `body` with a tmpfs mounted at `dir` with `options`, unmounting after. */
function withTmpfs(dir: string, options: string, body: () => void): void {
  fs.mkdirSync(dir, { recursive: true });
  expect(spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status).toBe(0);
  try {
    body();
  } finally {
    spawnSync('umount', ['-l', dir]);
  }
}

beforeAll(() => {
  fs.writeFileSync(corpus, 'She said "look (here) [now]" and left.\n'.repeat(60));
  const args = [corpus, '--out', run, '--steps', '4', '--eval-every', '2', '--seed', '1', '--layers', '2', '--hidden', '8', '--embedding', '4'];
  const trained = cli('rnn-train', [...args, '--seq-len', '10', '--batch-size', '4', '--backend', testBackend()]);
  if (trained.status !== 0) throw new Error(trained.stderr);
});

describe('rnn-web writes a self-contained site', () => {
  it('with the page, its scripts, TensorFlow.js, the model files and the card', () => {
    const site = path.join(work, 'site');
    const result = cli('rnn-web', [run, '--out', site]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/rnn-web: wrote .*site\//);
    for (const file of [
      'index.html',
      'style.css',
      'site.json',
      'vendor/tf.fesm.min.js',
      'js/web/page/main.js',
      'models/1/model.json',
      'models/1/weights.bin',
      'models/1/loss.svg',
    ]) {
      expect(fs.existsSync(path.join(site, file)), file).toBe(true);
    }
    expect(fs.readFileSync(path.join(site, 'models/1/weights.bin'))).toEqual(fs.readFileSync(path.join(run, 'best', 'weights.bin')));
    const data = JSON.parse(fs.readFileSync(path.join(site, 'site.json'), 'utf8'));
    expect(data).toMatchObject({ format: 'rnn-web-site', vocabulary: JSON.parse(fs.readFileSync(path.join(run, 'best', 'vocabulary.json'), 'utf8')) });
    expect(data.members[0].card).toMatchObject({ corpus: 'corpus.txt', corpusBytes: fs.statSync(corpus).size, step: 4, model: { layers: 2, hiddenSize: 8 } });
    expect(data.members[0].card.savedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The default passage for "Look inside" is the end of the corpus, from a line's start.
    expect(data.excerpt.length).toBeGreaterThan(100);
    expect(fs.readFileSync(corpus, 'utf8').endsWith(data.excerpt)).toBe(true);
    // No script points at a source map the site does not hold, and the index names no CDN.
    expect(fs.readFileSync(path.join(site, 'js/web/page/main.js'), 'utf8')).not.toMatch(/sourceMappingURL/);
    expect(fs.readFileSync(path.join(site, 'index.html'), 'utf8')).not.toMatch(/https?:\/\//);
    // Every script, TensorFlow.js's included, imports by relative path: no import map, which module workers would not read.
    for (const file of fs.readdirSync(site, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'))) {
      for (const [, specifier] of fs.readFileSync(path.join(site, file), 'utf8').matchAll(/\bfrom\s*['"]([^'"]+)['"]/g)) {
        expect(specifier, file).toMatch(/^\.\.?\//);
        expect(fs.existsSync(path.join(site, path.dirname(file), specifier)), `${file} imports ${specifier}`).toBe(true);
      }
    }
  });

  it("the page runs the library's own model, and its scripts import nothing a browser lacks, however deep", () => {
    const modules = pageModules();
    expect(modules).toContain('web/page/main.js');
    expect(modules).toContain('web/page/inside-worker.js');
    expect(modules).toContain('model/char-rnn.js');
    expect(modules).toContain('sample/sampler.js');
    expect(modules).toContain('model/cells/lstm.js');
    for (const module of modules) {
      expect(module, 'a Node-only module').not.toMatch(
        /^(web\/site|web\/serve|cli\/|run\/run-directory|native\/capabilities|native\/installation|native\/backend)/,
      );
      expect(fs.readFileSync(path.join(ROOT, 'dist', module), 'utf8'), module).not.toMatch(/from '(node:|fs'|os'|path')/);
    }
  });

  it('--serve serves it on localhost until Ctrl-C', async () => {
    const site = path.join(work, 'served');
    const served = startCli('rnn-web', [run, '--out', site, '--serve', '--port', '0']);
    await served.waitFor(/serving .* at http:\/\/127\.0\.0\.1:\d+\/ \(Ctrl-C stops\)/);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(served.output().stderr)![1];
    const page = await fetch(url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toBe(fs.readFileSync(path.join(site, 'index.html'), 'utf8'));
    expect((await fetch(`${url}js/web/page/main.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    // The WebAssembly backend's binaries, as WebAssembly (which streaming compilation needs).
    expect((await fetch(`${url}vendor/tfjs-backend-wasm-simd.wasm`)).headers.get('content-type')).toBe('application/wasm');
    expect((await fetch(`${url}..%2f..%2fetc%2fpasswd`)).status).toBe(404);
    served.child.kill('SIGINT');
    expect(await served.exited).toEqual({ code: 0, signal: null });
  });

  it('replaces an earlier site, and --text sets the passage', () => {
    const site = path.join(work, 'again');
    expect(cli('rnn-web', [run, '--out', site]).status).toBe(0);
    fs.writeFileSync(path.join(work, 'passage.txt'), 'said "hi"\n');
    const result = cli('rnn-web', [run, '--out', site, '--text', path.join(work, 'passage.txt'), '--title', 'Mine']);
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(site, 'site.json'), 'utf8'))).toMatchObject({ title: 'Mine', excerpt: 'said "hi"\n' });
    expect(fs.readdirSync(work).filter((name) => name.includes('partial'))).toEqual([]);
  });
});

describe('rnn-web refuses bad input with one line, and leaves what is on disk as it was', () => {
  it('a missing checkpoint', () => {
    const out = path.join(work, 'never');
    expectOneLineError(cli('rnn-web', [path.join(work, 'nope'), '--out', out]), /^rnn-web: error: .*nope/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an --out that holds other files', () => {
    const out = path.join(work, 'mine');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'keep me');
    expectOneLineError(
      cli('rnn-web', [run, '--out', out]),
      /^rnn-web: error: --out .*mine already holds files that are not an rnn-web site; give a new or empty folder/,
    );
    expect(fs.readdirSync(out)).toEqual(['notes.txt']);
    expectOneLineError(
      cli('rnn-web', [run, '--out', path.join(out, 'notes.txt')]),
      /^rnn-web: error: --out .*notes\.txt is a file; give a folder for the site$/,
    );
  });

  it('a port that is not one, before anything is written', () => {
    const out = path.join(work, 'port');
    expectOneLineError(
      cli('rnn-web', [run, '--out', out, '--serve', '--port', '70000']),
      /^rnn-web: error: option '--port <n>' argument '70000' is invalid\. expected a whole number ≥ 0 and ≤ 65535$/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an --out under /proc', () => {
    expectOneLineError(
      cli('rnn-web', [run, '--out', '/proc/x/site']),
      /^rnn-web: error: cannot create \/proc\/x: .*; give an --out in a folder you can write$/,
    );
  });

  it.runIf(canMount)('an --out on a read-only file system', () => {
    const readOnly = path.join(work, 'read-only');
    withTmpfs(readOnly, 'ro,size=1m', () => {
      expectOneLineError(
        cli('rnn-web', [run, '--out', path.join(readOnly, 'site')]),
        /^rnn-web: error: cannot .*read-only.*; give an --out in a folder you can write$/,
      );
      expect(fs.readdirSync(readOnly)).toEqual([]);
    });
  });

  it.runIf(canMount)('a disk that fills up while the site is written: an earlier site there stays whole', () => {
    const small = path.join(work, 'small');
    withTmpfs(small, 'size=4m', () => {
      const site = path.join(small, 'site');
      expect(cli('rnn-web', [run, '--out', site, '--title', 'earlier']).status).toBe(0);
      const before = fs.readFileSync(path.join(site, 'site.json'), 'utf8');
      expectOneLineError(
        cli('rnn-web', [run, '--out', site]),
        /^rnn-web: error: cannot write the site to .*site \(ENOSPC\); give an --out in a folder you can write$/,
      );
      expect(fs.readFileSync(path.join(site, 'site.json'), 'utf8')).toBe(before);
      expect(fs.readdirSync(small)).toEqual(['site']);
    });
  });
});

describe('the rnn-sample command the page shows', () => {
  it('quotes each word so that bash reads it back unchanged', () => {
    for (const word of ['runs/shakespeare', 'ROMEO:', "it's", 'a b', '$HOME `x`', 'two\nlines', "tab\tand 'quote' \\"]) {
      const echoed = spawnSync('bash', ['-c', `printf %s ${shellWord(word)}`], { encoding: 'utf8' });
      expect(echoed.stdout, word).toBe(word);
    }
  });
});

describe('finding units', () => {
  it("Pearson's r, and NaN for a constant", () => {
    expect(correlation([1, 2, 3], [2, 4, 6])).toBeCloseTo(1, 12);
    expect(correlation([1, 2, 3], [3, 2, 1])).toBeCloseTo(-1, 12);
    expect(correlation([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
    expect(correlation([1, 1, 1], [1, 2, 3])).toBeNaN();
  });

  it('the features of a text, position by position', () => {
    const chars = [...'a"b(c[d])"\ne'];
    const [quotes, column, depth] = FEATURES.map((feature) => Array.from(feature.values(chars)));
    expect(quotes).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(column).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1]);
    expect(depth).toEqual([0, 0, 0, 1, 1, 2, 2, 1, 0, 0, 0, 0]);
  });

  it('ranks the units that track a feature, of either sign, across layers', () => {
    const feature = Float64Array.from([0, 1, 2, 3, 4]);
    // Two layers of two units, [characters × units]: layer 0 unit 1 follows the feature inversely, layer 1 unit 0 loosely.
    const layer0 = Float32Array.from([0.3, 0.9, 0.1, 0.7, 0.3, 0.5, 0.2, 0.3, 0.3, 0.1]);
    const layer1 = Float32Array.from([0.0, 5, 0.2, 5, 0.1, 5, 0.5, 5, 0.4, 5]);
    const ranked = bestUnits(stateSources({ activations: [[layer0, layer1]] }), feature, 2);
    expect(ranked.map(({ layer, unit }) => [layer, unit])).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(ranked[0].r).toBeCloseTo(-1, 6);
    expect(bestUnits(stateSources({ activations: [[layer0, layer1]] }), new Float64Array(5), 3)).toEqual([]);
    // An LSTM's cell state is ranked beside its output: here c's unit 0 follows the feature exactly.
    const cell = Float32Array.from([...feature].flatMap((x) => [x, 0]));
    const withCells = bestUnits(stateSources({ activations: [[layer0, layer1]], cells: [[undefined, cell]] }), feature, 2);
    expect(withCells).toHaveLength(2);
    expect(withCells).toContainEqual({ member: 0, layer: 0, state: 'h', unit: 1, r: expect.closeTo(-1, 6) });
    expect(withCells).toContainEqual({ member: 0, layer: 1, state: 'c', unit: 0, r: expect.closeTo(1, 6) });
  });
});
