import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { serveStatic, type StaticServer } from '../src/web/serve.js';

/**
 * Headless Chromium for the tests of the page rnn-web writes: Debian's `chromium` package (npm
 * packages cannot download a browser here), or the one RNN_TRAIN_CHROMIUM names.
 */
export function chromiumPath(): string {
  const candidates = [process.env.RNN_TRAIN_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found)
    throw new Error(`no Chromium at ${candidates.join(', ')}: install Debian's chromium package (apt-get install chromium), or set RNN_TRAIN_CHROMIUM`);
  return found;
}

export interface OpenSite {
  page: Page;
  /** Errors the page threw or logged, and any request for something outside the site (there should be none: it works offline). */
  errors: string[];
  close(): Promise<void>;
}

let browser: Browser | undefined;

export interface SiteVisit {
  /** The page's backend, as its address asks for it (`?backend=`); default: the page's own choice. */
  backend?: 'wasm' | 'cpu';
  /** Where on the server the site sits, e.g. `models/shakespeare/`: the folder `root` holds it in. Default: at the root. */
  under?: string;
  /** Requests to refuse, as a URL pattern (e.g. the WebAssembly binaries); refused requests are not counted as errors. */
  refuse?: RegExp;
  /** The window's width in CSS pixels (default 1100: a desktop), and the theme the system asks for (default light). */
  width?: number;
  colorScheme?: 'light' | 'dark';
}

/** Serves `site` on a free local port and opens it, waiting until the page says it is ready. */
export async function openSite(site: string, visit: SiteVisit = {}): Promise<OpenSite> {
  browser ??= await chromium.launch({ executablePath: chromiumPath() });
  const root = visit.under
    ? path.resolve(
        site,
        ...visit.under
          .split('/')
          .filter(Boolean)
          .map(() => '..'),
      )
    : site;
  const server: StaticServer = await serveStatic(root, 0);
  const page = await browser.newPage({ viewport: { width: visit.width ?? 1100, height: 900 }, colorScheme: visit.colorScheme ?? 'light' });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (visit.refuse?.test(url)) return route.abort();
    if (url.startsWith(server.url)) return route.continue();
    errors.push(`requested ${url}`);
    return route.abort();
  });
  await page.goto(`${server.url}${visit.under ?? ''}${visit.backend ? `?backend=${visit.backend}` : ''}`);
  await page.waitForSelector('body[data-ready]');
  return {
    page,
    errors,
    close: async () => {
      await page.close();
      await server.close();
    },
  };
}

export async function closeBrowser(): Promise<void> {
  await browser?.close();
  browser = undefined;
}

export interface GenerateForm {
  prime?: string;
  temperature?: number;
  topK?: number;
  topP?: number;
  length: number;
  seed: number;
  stop?: string;
}

/** Fills in Generate's form as a person would, clicks Generate and waits for the end (or the refusal). */
export async function generate(page: Page, form: GenerateForm): Promise<{ text: string; meanLogProb: number; status: string }> {
  await page.fill('#prime', form.prime ?? '');
  await page.fill('#temperature', String(form.temperature ?? 0.8));
  await page.fill('#top-k', form.topK === undefined ? '' : String(form.topK));
  await page.fill('#top-p', form.topP === undefined ? '' : String(form.topP));
  await page.fill('#length', String(form.length));
  await page.fill('#seed', String(form.seed));
  await page.fill('#stop', form.stop ?? '');
  await page.evaluate(() => delete document.getElementById('output')!.dataset.state);
  await page.click('#generate-button');
  await page.waitForSelector('#output[data-state=done], #output[data-state=refused]');
  return {
    text: (await page.textContent('#output')) ?? '',
    meanLogProb: Number(await page.getAttribute('#output', 'data-mean-log-prob')),
    status: (await page.textContent('#generate-status')) ?? '',
  };
}

/** Look inside: analyses `text`, then reads every character's log-probability and the chosen unit's activation off the page. */
export async function analyse(page: Page, text: string): Promise<{ status: string; logProbs: (number | null)[] }> {
  await page.fill('#inside-text', text);
  await page.evaluate(() => (document.getElementById('inside-status')!.textContent = ''));
  await page.click('#analyse');
  await page.waitForFunction(
    () => document.getElementById('inside-status')!.textContent !== '' && !/^Reading/.test(document.getElementById('inside-status')!.textContent!),
  );
  const logProbs = await page.$$eval('#inside-view span', (spans) =>
    spans.map((s) => ((s as HTMLElement).dataset.logProb ? Number((s as HTMLElement).dataset.logProb) : null)),
  );
  return { status: (await page.textContent('#inside-status')) ?? '', logProbs };
}

/** Shows unit `unit` of layer `layer` (of member `member`), its output h or an LSTM's cell state c, and reads it at every character. */
export async function unitActivations(page: Page, member: number, layer: number, unit: number, state: 'h' | 'c' = 'h'): Promise<number[]> {
  await page.check('input[name=view][value=unit]');
  await page.selectOption('#layer', `${member}:${layer}:${state}`);
  await page.fill('#unit', String(unit));
  await page.dispatchEvent('#unit', 'change');
  await page.waitForSelector(`#inside-view[data-view="unit ${member}:${layer}:${state}:${unit}"]`);
  return page.$$eval('#inside-view span', (spans) => spans.map((s) => Number((s as HTMLElement).dataset.activation)));
}
