import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Checkpoint } from '../run/checkpoint.js';
import { CHECKPOINT_FILES, SITE_FILES, SITE_FORMAT, SITE_VERSION } from '../run/files.js';
import { lossChart } from '../report/plot.js';
import { Vocabulary } from '../data/vocabulary.js';
import { makeDirectory, removeCreated } from '../util/fs.js';
import { UserError } from '../util/errors.js';
import type { ModelCard, SiteData, SiteMember } from './page/site-data.js';

/** What rnn-web turns into a site: a model or an ensemble's members, loaded and checked. */
export interface SiteRequest {
  members: { dir: string; checkpoint: Checkpoint }[];
  out: string;
  title: string;
  /** rnn-train's version, for the footer. */
  version: string;
  /** The rnn-sample command, up to its flags, for the same model(s). */
  sampleCommand: string;
  /** The passage offered for "Look inside"; default: the end of the training corpus, if it is still there. */
  text?: string;
}

/** Characters of the corpus's end offered for "Look inside" by default (the end is in the validation split). */
const EXCERPT_CHARACTERS = 1000;
/** The page's script, and the worker's that reads a text for Look inside. */
const PAGE_ENTRIES = ['web/page/main.js', 'web/page/inside-worker.js'];
/** The bare module names the page's scripts import, and the bundles in vendor/ that the site's copies import instead. */
const VENDOR_MODULES: Record<string, string> = {
  '@tensorflow/tfjs-core': '@tensorflow/tfjs/dist/tf.fesm.min.js',
  '@tensorflow/tfjs-backend-wasm': '@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.fesm.min.js',
};
/** The WebAssembly backend's binaries, which it fetches from vendor/ (web/page/backend.ts): plain, SIMD, and SIMD with threads. */
const WASM_BINARIES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
/** The Node modules the WebAssembly bundle imports but uses only in Node; in the site they are one empty module. */
const NODE_ONLY_IMPORTS = ['fs', 'os', 'path', 'perf_hooks'];
const EMPTY_MODULE = '// Stands in for a Node module that the WebAssembly backend imports but uses only in Node.\nexport default {};\n';
/** An import or export's module specifier in compiled or minified code: `from '…'`, `from"…"`. */
const SPECIFIER = /\bfrom\s*(['"])([^'"]+)\1/g;

/** The package's folder, from dist/web/ (or from src/web/, where tests import this module). */
const PACKAGE = fileURLToPath(new URL('../..', import.meta.url));
const DIST = path.join(PACKAGE, 'dist');
const ASSETS = path.join(PACKAGE, 'src', 'web', 'assets');

/**
 * The compiled page scripts the site needs, relative to dist/: the page's entry point and every
 * module it imports, found by following the imports.
 */
export function pageModules(): string[] {
  const found = new Set<string>();
  const visit = (file: string): void => {
    if (found.has(file)) return;
    found.add(file);
    const source = fs.readFileSync(path.join(DIST, file), 'utf8');
    for (const [, specifier] of source.matchAll(/^(?:import|export)\s[^;]*?from\s+'([^']+)';/gms)) {
      if (specifier.startsWith('.')) visit(path.posix.join(path.posix.dirname(file), specifier));
      else if (!(specifier in VENDOR_MODULES)) throw new Error(`the page's ${file} imports ${specifier}, which the site cannot provide`);
    }
  };
  PAGE_ENTRIES.forEach(visit);
  return [...found].sort();
}

/**
 * `source` (a module at `file`, relative to the site) with each bare import of `replacements`
 * pointed at its file in the site, relative to `file`: the site needs no import map, which module
 * workers do not read.
 */
function pointImports(source: string, file: string, replacements: Record<string, string>): string {
  return source.replace(SPECIFIER, (whole: string, quote: string, specifier: string) => {
    const target = replacements[specifier];
    if (target === undefined) return whole;
    const relative = path.posix.relative(path.posix.dirname(file), target);
    return `from ${quote}${relative.startsWith('.') ? relative : `./${relative}`}${quote}`;
  });
}

/** Where each bare module the site's scripts import lies in the site. */
function vendorFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, bundle] of Object.entries(VENDOR_MODULES)) files[name] = `vendor/${path.basename(bundle)}`;
  for (const name of NODE_ONLY_IMPORTS) files[name] = 'vendor/empty.js';
  return files;
}

/** The last lines of the training corpus, as far as the model knows their characters; empty when the file is gone. */
function corpusExcerpt(checkpoint: Checkpoint): string {
  const vocabulary = new Vocabulary(checkpoint.vocabulary);
  try {
    const fd = fs.openSync(checkpoint.training.corpus, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const bytes = Buffer.alloc(Math.min(size, 4 * EXCERPT_CHARACTERS));
      fs.readSync(fd, bytes, 0, bytes.length, size - bytes.length);
      const chars = [...bytes.toString('utf8')].filter((ch) => vocabulary.has(ch)).slice(-EXCERPT_CHARACTERS);
      const text = chars.join('');
      return text.slice(text.indexOf('\n') + 1);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function corpusBytes(corpus: string): number | null {
  try {
    return fs.statSync(corpus).size;
  } catch {
    return null;
  }
}

function modelCard(dir: string, checkpoint: Checkpoint): ModelCard {
  const { progress, training } = checkpoint;
  return {
    checkpoint: dir,
    corpus: path.basename(training.corpus),
    corpusBytes: corpusBytes(training.corpus),
    corpusSha256: training.corpusSha256,
    model: checkpoint.model,
    training,
    step: progress.step,
    epoch: progress.epoch,
    trainingSeconds: progress.trainingSeconds,
    bestValidationLoss: Number.isFinite(progress.bestValidationLoss) ? progress.bestValidationLoss : null,
    savedAt: checkpoint.savedAt ?? '',
  };
}

/** Copies member k's model files into the site and draws its loss curve. */
function writeMember(site: string, k: number, { dir, checkpoint }: SiteRequest['members'][number], title: string): SiteMember {
  const folder = path.posix.join(SITE_FILES.models, String(k + 1));
  fs.mkdirSync(path.join(site, folder), { recursive: true });
  for (const file of [CHECKPOINT_FILES.layersModel, CHECKPOINT_FILES.weights]) fs.copyFileSync(path.join(dir, file), path.join(site, folder, file));
  const lossPlot = path.posix.join(folder, 'loss.svg');
  fs.writeFileSync(path.join(site, lossPlot), lossChart(checkpoint.progress.history, title));
  return { path: folder, lossPlot, card: modelCard(dir, checkpoint) };
}

/** TensorFlow.js's bundles and the WebAssembly binaries, from the installed packages, into `vendor`. */
function writeVendor(vendor: string): void {
  const require = createRequire(import.meta.url);
  fs.mkdirSync(vendor);
  for (const bundle of Object.values(VENDOR_MODULES)) {
    const file = `vendor/${path.basename(bundle)}`;
    fs.writeFileSync(path.join(vendor, path.basename(bundle)), pointImports(fs.readFileSync(require.resolve(bundle), 'utf8'), file, vendorFiles()));
  }
  const wasmFolder = path.dirname(require.resolve(VENDOR_MODULES['@tensorflow/tfjs-backend-wasm']));
  for (const binary of WASM_BINARIES) fs.copyFileSync(path.join(wasmFolder, binary), path.join(vendor, binary));
  fs.writeFileSync(path.join(vendor, 'empty.js'), EMPTY_MODULE);
}

/** Everything the site holds, written into `site` (a new, empty folder). */
function writeSiteFiles(site: string, request: SiteRequest): void {
  for (const file of fs.readdirSync(ASSETS)) fs.copyFileSync(path.join(ASSETS, file), path.join(site, file));
  for (const file of pageModules()) {
    fs.mkdirSync(path.join(site, 'js', path.dirname(file)), { recursive: true });
    // Without the source-map comment: the maps point into src/, which the site does not hold.
    const source = fs.readFileSync(path.join(DIST, file), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    fs.writeFileSync(path.join(site, 'js', file), pointImports(source, `js/${file}`, vendorFiles()));
  }
  writeVendor(path.join(site, 'vendor'));
  const members = request.members.map((member, k) => {
    const name = request.members.length > 1 ? `${request.title}, member ${k + 1}` : request.title;
    return writeMember(site, k, member, name);
  });
  const data: SiteData = {
    format: SITE_FORMAT,
    version: SITE_VERSION,
    title: request.title,
    generatedBy: request.version,
    vocabulary: [...request.members[0].checkpoint.vocabulary],
    members,
    excerpt: request.text ?? corpusExcerpt(request.members[0].checkpoint),
    sampleCommand: request.sampleCommand,
  };
  fs.writeFileSync(path.join(site, SITE_FILES.data), `${JSON.stringify(data, null, 1)}\n`);
}

/** True for a folder that holds a site rnn-web wrote, which a new one may replace. */
function isSite(dir: string): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, SITE_FILES.data), 'utf8')) as { format?: string }).format === SITE_FORMAT;
  } catch {
    return false;
  }
}

/** Refuses an --out that is a file or holds anything but an earlier site. */
function checkOut(out: string): void {
  let entries: string[];
  try {
    if (!fs.statSync(out).isDirectory()) throw new UserError(`--out ${out} is a file; give a folder for the site`);
    entries = fs.readdirSync(out);
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new UserError(`cannot read --out ${out} (${code ?? String(error)}); give a folder you can write`);
  }
  if (entries.length > 0 && !isSite(out)) {
    throw new UserError(`--out ${out} already holds files that are not an rnn-web site; give a new or empty folder (or an earlier site, to replace it)`);
  }
}

/** Puts the staged site at `out`, replacing an earlier site or empty folder there only once the new one is whole. */
function moveIntoPlace(staged: string, out: string): void {
  if (!fs.existsSync(out)) {
    fs.renameSync(staged, out);
    return;
  }
  const aside = `${staged}-previous`;
  fs.renameSync(out, aside);
  fs.renameSync(staged, out);
  fs.rmSync(aside, { recursive: true, force: true });
}

/**
 * Writes the static site for `request.members` to `request.out`: the page, its scripts,
 * TensorFlow.js, and each model's files. The site is built in a folder beside `out` and moved into
 * place whole, so that a failure leaves `out` as it was.
 */
export function writeSite(request: SiteRequest): void {
  const out = path.resolve(request.out);
  checkOut(out);
  const created = makeDirectory(path.dirname(out), 'give an --out in a folder you can write');
  let staged: string | undefined;
  try {
    staged = fs.mkdtempSync(path.join(path.dirname(out), `.${path.basename(out)}.partial-`));
    writeSiteFiles(staged, request);
    moveIntoPlace(staged, out);
  } catch (error) {
    if (staged) fs.rmSync(staged, { recursive: true, force: true });
    removeCreated(created);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS' || code === 'ENOSPC') {
      throw new UserError(`cannot write the site to ${request.out} (${code}); give an --out in a folder you can write`);
    }
    throw error;
  }
}
