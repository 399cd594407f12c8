// Takes the screenshots of the page rnn-web writes that docs/web.md and the README show:
//   node docs/screenshot.mjs <site folder>
// Needs playwright-core (a dev dependency) and Debian's chromium (or RNN_TRAIN_CHROMIUM).
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serveStatic } from '../dist/web/serve.js';

const [site] = process.argv.slice(2);
if (!site) {
  process.stderr.write('usage: node docs/screenshot.mjs <site folder>\n');
  process.exit(2);
}
const images = path.join(import.meta.dirname, 'images');
const server = await serveStatic(site, 0);
const browser = await chromium.launch({ executablePath: process.env.RNN_TRAIN_CHROMIUM ?? '/usr/bin/chromium' });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(server.url);
  await page.waitForSelector('body[data-ready=true]');
  await page.fill('#prime', 'ROMEO:');
  await page.fill('#length', '400');
  await page.click('#generate-button');
  await page.waitForSelector('#output[data-state=done]');
  await page.locator('#generate').screenshot({ path: path.join(images, 'rnn-web-generate.png') });
  await page.click('#analyse');
  await page.waitForSelector('#units button');
  // The unit that best tracks the position in the line.
  await page.click('#units tr:nth-child(2) button >> nth=0');
  await page.locator('#inside').screenshot({ path: path.join(images, 'rnn-web-inside.png') });
} finally {
  await browser.close();
  await server.close();
}
