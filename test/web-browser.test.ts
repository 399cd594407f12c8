import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CharRnn, inspectText, lstmCapabilities, ModelStepper, readCheckpoint, Rng, Vocabulary } from '../src/index.js';
import { PAGE_BACKENDS } from '../src/web/page/backend.js';
import { analyse, closeBrowser, generate, openSite, unitActivations, type GenerateForm, type OpenSite } from './browser.js';
import { cli, ROOT, tempDir, testBackend } from './helpers.js';

// The page rnn-web writes, in headless Chromium (Debian's package), against the commands in Node:
// the same text as rnn-sample, and the same log-probabilities and activations as rnn-eval.

const backend = testBackend();
const work = tempDir();
const corpus = path.join(work, 'corpus.txt');

/** Lines with words, quotes, brackets and line breaks, so that every unit finder feature varies. */
function corpusText(): string {
  const rng = new Rng(9);
  const pick = <T>(items: T[]): T => items[Math.floor(rng.next() * items.length)];
  const words = ['the', 'king', 'said', 'and', 'my', 'lord', 'o', 'fair', 'night'];
  const phrase = () => Array.from({ length: 1 + Math.floor(rng.next() * 4) }, () => pick(words)).join(' ');
  const lines = Array.from({ length: 500 }, () => pick([phrase, () => `"${phrase()}"`, () => `(${phrase()} [${phrase()}])`])() + pick(['.', ',', '']));
  return `${lines.join('\n')}\n`;
}

const TINY = ['--steps', '30', '--eval-every', '15', '--seq-len', '16', '--batch-size', '8', '--embedding', '6', '--backend', backend];
const RUNS: Record<string, string[]> = {
  lstm: ['--cell', 'lstm', '--layers', '2', '--hidden', '12', '--seed', '1'],
  gru: ['--cell', 'gru', '--layers', '1', '--hidden', '12', '--seed', '2'],
  rnn: ['--cell', 'rnn', '--layers', '2', '--hidden', '10', '--seed', '3'],
  ensemble: ['--cell', 'lstm', '--layers', '1', '--hidden', '8', '--seed', '4', '--members', '2'],
};

const FORMS: GenerateForm[] = [
  { length: 150, seed: 5 },
  { prime: 'the "king', temperature: 1.2, topK: 5, topP: 0.9, length: 120, seed: 11 },
  { prime: '(', temperature: 0, length: 60, seed: 0, stop: ')' },
];

/** rnn-sample's flags for a form. */
function sampleFlags(form: GenerateForm): string[] {
  const flags = ['--seed', String(form.seed), '-n', String(form.length), '-t', String(form.temperature ?? 0.8), '--prime', form.prime ?? ''];
  if (form.topK !== undefined) flags.push('-k', String(form.topK));
  if (form.topP !== undefined) flags.push('--top-p', String(form.topP));
  if (form.stop !== undefined) flags.push('--stop', form.stop);
  return flags;
}

beforeAll(() => {
  fs.writeFileSync(corpus, corpusText());
  for (const [name, flags] of Object.entries(RUNS)) {
    const trained = cli('rnn-train', [corpus, '--out', path.join(work, name), ...TINY, ...flags]);
    if (trained.status !== 0) throw new Error(`rnn-train ${name} failed:\n${trained.stderr}`);
    const written = cli('rnn-web', [path.join(work, name), '--out', path.join(work, `${name}-site`)]);
    if (written.status !== 0) throw new Error(`rnn-web ${name} failed:\n${written.stderr}`);
  }
});

afterAll(closeBrowser);

/** Each run's page on each of the page's backends. */
const VISITS = Object.keys(RUNS).flatMap((name) => PAGE_BACKENDS.map((pageBackend) => [name, pageBackend] as const));

describe.each(VISITS)('the page of a %s run on %s, in Chromium', (name, pageBackend) => {
  const run = path.join(work, name);
  let site: OpenSite;
  beforeAll(async () => void (site = await openSite(path.join(work, `${name}-site`), { backend: pageBackend })));
  afterAll(async () => {
    expect(site.errors).toEqual([]);
    await site.close();
  });

  it('runs on the backend its address asks for, and says which', async () => {
    expect(await site.page.getAttribute('body', 'data-backend')).toBe(pageBackend);
    expect(await site.page.textContent('#backend')).toMatch(pageBackend === 'wasm' ? /^TensorFlow\.js on WebAssembly \(SIMD\)$/ : /CPU backend/);
  });

  it.each(FORMS.map((form) => [JSON.stringify(form), form] as const))('generates what rnn-sample writes: %s', async (_, form) => {
    const page = await generate(site.page, form);
    const sampled = cli('rnn-sample', [run, ...sampleFlags(form), '--backend', backend]);
    expect(sampled.status, sampled.stderr).toBe(0);
    expect(page.text).toBe(sampled.stdout.replace(/\n$/, ''));
    expect(page.text.length).toBeGreaterThan((form.prime ?? '').length);
    const json = JSON.parse(cli('rnn-sample', [run, ...sampleFlags(form), '--json', '--backend', backend]).stdout);
    expect(Math.abs(page.meanLogProb - json.meanLogProb)).toBeLessThan(1e-4);
    expect(await site.page.textContent('#command')).toContain(`rnn-sample ${run}`);
  });

  it("looks inside as rnn-eval --activations does: every character's log-probability, every unit's h, an LSTM's c", async () => {
    const text = fs.readFileSync(corpus, 'utf8').slice(0, 400);
    const file = path.join(work, `${name}-passage.txt`);
    fs.writeFileSync(file, text);
    const dump = path.join(work, `${name}-activations.json`);
    const evaluated = cli('rnn-eval', [run, file, '--activations', dump, '--backend', backend]);
    expect(evaluated.status, evaluated.stderr).toBe(0);
    const node = JSON.parse(fs.readFileSync(dump, 'utf8')) as { text: string; logProbs: number[]; members: number[][][][] };
    expect(node.text).toBe(text);

    const { status, logProbs } = await analyse(site.page, text);
    const figures = /^400 characters, ([\d.]+) bits\/char\. The first 16, read from the model's zero state: ([\d.]+); the rest: ([\d.]+)\.$/.exec(status);
    expect(figures, status).not.toBeNull();
    const bits = (values: number[]) => -values.reduce((a, b) => a + b, 0) / values.length / Math.LN2;
    expect(Number(figures![1])).toBeCloseTo(bits(node.logProbs), 2);
    expect(Number(figures![2])).toBeCloseTo(bits(node.logProbs.slice(0, 16)), 2);
    expect(Number(figures![3])).toBeCloseTo(bits(node.logProbs.slice(16)), 2);
    expect(logProbs[0]).toBeNull();
    expect(
      logProbs
        .slice(1)
        .map((lp, t) => Math.abs(lp! - node.logProbs[t]))
        .reduce((a, b) => Math.max(a, b)),
    ).toBeLessThan(1e-4);
    for (const [m, layers] of node.members.entries()) {
      for (const [l, steps] of layers.entries()) {
        for (let unit = 0; unit < steps[0].length; unit++) {
          const shown = await unitActivations(site.page, m, l, unit);
          const worst = shown.map((a, t) => Math.abs(a - steps[t][unit])).reduce((a, b) => Math.max(a, b));
          expect(worst, `member ${m} layer ${l} unit ${unit}`).toBeLessThan(1e-4);
        }
      }
    }
    // The unit finder lists units for each feature, with their correlation; clicking one shows it.
    const rows = await site.page.$$eval('#units tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(rows.map((row) => row.split(/layer|member/)[0])).toEqual(['inside quotes', 'position in line', 'bracket depth']);
    for (const row of rows) expect(row).toMatch(/unit \d+ \(r = -?[01]\.\d\d\)/);
    await site.page.click('#units button >> nth=0');
    expect(await site.page.getAttribute('#inside-view', 'data-view')).toMatch(/^unit \d+:\d+:[hc]:\d+$/);
    if (name !== 'lstm') return;
    // An LSTM's cell state c, beside h: as the library's own stepper reads it in Node.
    const checkpoint = readCheckpoint(path.join(run, 'best'));
    const model = new CharRnn(checkpoint.model, checkpoint.weights, { capabilities: lstmCapabilities() });
    const stepper = new ModelStepper([model]);
    const { cells } = inspectText(stepper, new Vocabulary(checkpoint.vocabulary).encode(text));
    stepper.dispose();
    model.dispose();
    for (const [l, values] of cells![0].entries()) {
      const size = checkpoint.model.hiddenSize;
      for (let unit = 0; unit < size; unit++) {
        const shown = await unitActivations(site.page, 0, l, unit, 'c');
        const worst = shown.map((a, t) => Math.abs(a - values![t * size + unit])).reduce((a, b) => Math.max(a, b));
        expect(worst, `layer ${l} cell unit ${unit}`).toBeLessThan(1e-4);
      }
    }
  });
});

describe('the page, as a person uses it', () => {
  let site: OpenSite;
  beforeAll(async () => void (site = await openSite(path.join(work, 'lstm-site'))));
  afterAll(async () => {
    expect(site.errors).toEqual([]);
    await site.close();
  });

  it('names characters outside the vocabulary, in the prime and in the text to look inside, and goes on working', async () => {
    const refused = await generate(site.page, { prime: 'the é€', length: 10, seed: 1 });
    expect(refused.status).toBe('The prime has characters the model does not know: "é" ×1, "€" ×1. Remove them to generate.');
    const { status } = await analyse(site.page, 'the king é said\n');
    expect(status).toMatch(/^Left out characters the model does not know: "é" ×1\. 15 characters, /);
    expect((await generate(site.page, { prime: 'the', length: 10, seed: 1 })).text).toHaveLength(13);
  });

  it('runs on WebAssembly by default, and on the CPU backend, saying so, where WebAssembly cannot load', async () => {
    expect(await site.page.getAttribute('body', 'data-backend')).toBe('wasm');
    const blocked = await openSite(path.join(work, 'lstm-site'), { refuse: /\.wasm$/ });
    try {
      expect(await blocked.page.getAttribute('body', 'data-ready')).toBe('true');
      expect(await blocked.page.getAttribute('body', 'data-backend')).toBe('cpu');
      expect(await blocked.page.textContent('#load-status')).toMatch(/WebAssembly could not start .* CPU backend/);
      expect((await generate(blocked.page, { length: 40, seed: 2 })).text).toHaveLength(40);
    } finally {
      await blocked.close();
    }
  });

  it('reads 20,000 characters in a worker, showing its progress, and generates meanwhile', async () => {
    const long = fs.readFileSync(corpus, 'utf8').repeat(4).slice(0, 20_500);
    await site.page.fill('#inside-text', long);
    await site.page.click('#analyse');
    // A status between the start and the end: the page painted while the text was being read.
    await site.page.locator('#inside-status', { hasText: /^Reading 20,000 characters… [\d,]+ read\.$/ }).waitFor();
    expect((await generate(site.page, { length: 30, seed: 3 })).text).toHaveLength(30);
    await site.page.locator('#inside-status', { hasText: 'bits/char' }).waitFor();
    expect(await site.page.textContent('#inside-status')).toMatch(/^Read the first 20,000 characters\. 20000 characters, [\d.]+ bits\/char\./);
    expect(await site.page.$$eval('#inside-view span', (spans) => spans.length)).toBe(20_000);
  });

  it('works served under a sub-path, as on a static host', async () => {
    const hosted = path.join(work, 'hosted', 'models', 'shakespeare');
    fs.mkdirSync(path.dirname(hosted), { recursive: true });
    fs.cpSync(path.join(work, 'lstm-site'), hosted, { recursive: true });
    const sub = await openSite(hosted, { under: 'models/shakespeare/' });
    try {
      expect(await sub.page.getAttribute('body', 'data-ready')).toBe('true');
      expect(await sub.page.getAttribute('body', 'data-backend')).toBe('wasm');
      expect((await generate(sub.page, { length: 40, seed: 2 })).text).toHaveLength(40);
      expect(sub.errors).toEqual([]);
    } finally {
      await sub.close();
    }
  });

  it('opened as a file rather than served, says how to serve it', async () => {
    const page = await site.page.context().browser()!.newPage();
    await page.goto(`file://${path.join(work, 'lstm-site', 'index.html')}`);
    expect(await page.textContent('#load-status')).toMatch(/^Browsers do not run this page from a file\. Serve its folder/);
    await page.close();
  });

  it('refuses a bad setting in one message', async () => {
    expect((await generate(site.page, { length: 10, seed: 1, topP: 1.5 })).status).toMatch(/^top-p: /);
  });

  it('streams the text as it is generated, and Stop ends it', async () => {
    await site.page.fill('#length', '10000000');
    await site.page.fill('#prime', '');
    await site.page.fill('#top-p', '');
    await site.page.click('#generate-button');
    await site.page.waitForFunction(() => (document.getElementById('output')!.textContent ?? '').length > 50);
    expect(await site.page.getAttribute('#output', 'data-state')).toBe('running');
    await site.page.click('#stop-button');
    await site.page.waitForSelector('#output[data-state=done]');
    expect(await site.page.textContent('#generate-status')).toMatch(/^Stopped after \d+ characters/);
    expect(((await site.page.textContent('#output')) ?? '').length).toBeLessThan(10000000);
    expect((await generate(site.page, { length: 40, seed: 1 })).text).toHaveLength(40);
  });

  it('shows the loss curve and the model card, and takes a screenshot', async () => {
    const summary = await site.page.$$eval('#summary div', (boxes) => boxes.map((box) => box.textContent));
    expect(summary).toEqual([
      expect.stringMatching(/^\d\.\d{3}bits\/char on held-out text$/),
      expect.stringMatching(/^\d\.\d kparameters, 2 × 12 LSTM$/),
      expect.stringMatching(/^30steps, epoch \d+$/),
      expect.stringMatching(/^\d+\.\d minof training$/),
    ]);
    expect(await site.page.$eval('#curves img', (img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(0);
    const card = (await site.page.textContent('#cards')) ?? '';
    expect(card).toMatch(/corpuscorpus\.txt \(0\.\d\d MB\)/);
    expect(card).toMatch(/model2-layer LSTM, 12 units/);
    expect(card).toMatch(/vocabulary\d+ characters: ↵␣"\(\),\.\[\]adefghiklmnorstymodel2-layer/);
    expect(card).toMatch(/steps30 \(epoch/);
    const shot = path.join(ROOT, 'docs', 'images', 'rnn-web-desktop.png');
    await site.page.screenshot({ path: shot, fullPage: true });
    expect(fs.statSync(shot).size).toBeGreaterThan(20_000);
  });

  it.each([
    ['a phone, 375 px wide', { width: 375 }, 'rnn-web-phone.png'],
    ['a desktop in dark mode', { colorScheme: 'dark' as const }, 'rnn-web-dark.png'],
  ])('is usable on %s: no sideways scrolling, every control within reach', async (_, visit, image) => {
    const shown = await openSite(path.join(work, 'lstm-site'), visit);
    try {
      const { page } = shown;
      expect((await generate(page, { prime: 'the "king', length: 200, seed: 4 })).text).toHaveLength(209);
      await analyse(page, fs.readFileSync(corpus, 'utf8').slice(0, 600));
      const width = await page.evaluate(() => window.innerWidth);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      const controls = await page.$$eval('input, select, textarea, button', (all) =>
        all.map((control) => {
          const box = control.getBoundingClientRect();
          return { id: control.id || control.textContent, left: box.left, right: box.right, tabIndex: (control as HTMLElement).tabIndex };
        }),
      );
      for (const control of controls) {
        expect(control.left, control.id ?? '').toBeGreaterThanOrEqual(0);
        expect(control.right, control.id ?? '').toBeLessThanOrEqual(width);
        expect(control.tabIndex, `${control.id} is reachable by keyboard`).toBeGreaterThanOrEqual(0);
      }
      // The theme follows the system: dark text on light, or light text on dark.
      const [background, ink] = await page.evaluate(() => {
        const style = getComputedStyle(document.body);
        const level = (colour: string) =>
          (colour.match(/\d+/g) ?? [])
            .slice(0, 3)
            .map(Number)
            .reduce((a, b) => a + b, 0) / 3;
        return [level(style.backgroundColor), level(style.color)];
      });
      if (visit.colorScheme === 'dark') expect(background).toBeLessThan(ink);
      else expect(background).toBeGreaterThan(ink);
      await page.screenshot({ path: path.join(ROOT, 'docs', 'images', image), fullPage: true });
      expect(shown.errors).toEqual([]);
    } finally {
      await shown.close();
    }
  });
});
