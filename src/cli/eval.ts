import fs from 'node:fs';
import { Command } from 'commander';
import type { BackendChoice } from '../native/backend.js';
import { loadCorpus } from '../data/corpus.js';
import { UserError } from '../util/errors.js';
import { scoreText, type PartScore, type TextScore } from '../model/evaluate.js';
import { inspectText, type TextInspection } from '../sample/inspect.js';
import { modelStepper } from '../sample/sampler.js';
import { ACTIVATIONS_FORMAT } from '../run/files.js';
import { preferredIntraOpThreads } from '../model/policy.js';
import { Vocabulary } from '../data/vocabulary.js';
import { COLD_START_CHARACTERS, type CharIds } from '../data/batches.js';
import type { CharRnn } from '../model/char-rnn.js';
import type { Checkpoint } from '../run/checkpoint.js';
import { backendOption, withVersion, commanderParser, createModels, ensembleOption, loadCheckpoints, oneLine, runCommand, startBackend } from './common.js';
import { integerAtLeast } from '../util/parse.js';

interface EvalFlags {
  batchSize?: number;
  seqLen?: number;
  json?: boolean;
  activations?: string;
  ensemble: string[];
  backend: BackendChoice;
}

/** What one file scores. Characters outside the model's vocabulary are left out of the text and counted. */
interface FileScore {
  file: string;
  characters: number;
  natsPerChar: number;
  /** The first COLD_START_CHARACTERS of each stream, read from zero state, and the rest. */
  coldStart: PartScore;
  warm: PartScore;
  bitsPerChar: number;
  perplexity: number;
  unknownCharacters: number;
  /** The distinct unknown characters, with how often each occurs. */
  unknown: Record<string, number>;
}

function program(): Command {
  return withVersion(new Command('rnn-eval'))
    .description('Score text under a trained model: cross-entropy in nats and bits per character, and perplexity.')
    .argument('<checkpoint>', 'run directory (uses its best checkpoint) or checkpoint directory')
    .argument('<files...>', 'UTF-8 text files to score')
    .option(
      '--batch-size <n>',
      `contiguous streams scored in parallel, each from zero state, whose first ${COLD_START_CHARACTERS} characters cost more than the rest (reported apart); fewer streams, fewer cold starts (default: the run's)`,
      commanderParser(integerAtLeast(1)),
    )
    .option('--seq-len <n>', "characters per stream per forward call (default: the run's)", commanderParser(integerAtLeast(1)))
    .option('--json', 'print one JSON object instead of text')
    .option('--activations <file>', "also write, as JSON, each character's log-probability and every layer's hidden state after it (one text file only)")
    .addOption(ensembleOption())
    .addOption(backendOption())
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-eval', text)) })
    .exitOverride();
}

function score(file: string, { characters, natsPerChar, coldStart, warm }: TextScore, unknown: Map<string, number>): FileScore {
  const unknownCharacters = [...unknown.values()].reduce((a, b) => a + b, 0);
  return {
    file,
    characters,
    natsPerChar,
    coldStart,
    warm,
    bitsPerChar: natsPerChar / Math.LN2,
    perplexity: Math.exp(natsPerChar),
    unknownCharacters,
    unknown: Object.fromEntries(unknown),
  };
}

/** The --activations file: what inspectText finds in the (known characters of the) text, as JSON. */
function writeActivations(file: string, checkpoints: string[], text: string, models: CharRnn[], ids: CharIds): void {
  const stepper = modelStepper(models);
  let inspection: TextInspection;
  try {
    inspection = inspectText(stepper, Int32Array.from(ids));
  } finally {
    stepper.dispose();
  }
  const { logProbs, activations } = inspection;
  const members = activations.map((layers, m) =>
    layers.map((values) => {
      const size = models[m].config.hiddenSize;
      return Array.from({ length: ids.length }, (_, t) => Array.from(values.subarray(t * size, (t + 1) * size)));
    }),
  );
  const record = { format: ACTIVATIONS_FORMAT, checkpoints, text, logProbs: Array.from(logProbs), members };
  try {
    fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`);
    fs.renameSync(`${file}.tmp`, file);
  } catch (error) {
    fs.rmSync(`${file}.tmp`, { force: true });
    throw new UserError(`cannot write --activations ${file} (${(error as NodeJS.ErrnoException).code ?? 'unwritable'}); give a path in a writable folder`);
  }
}

/** Several files' scores as one: each part's mean weighted by its characters. */
function combined(scores: FileScore[]): TextScore {
  const join = (parts: PartScore[]): PartScore => {
    const characters = parts.reduce((sum, part) => sum + part.characters, 0);
    return { characters, natsPerChar: parts.reduce((sum, part) => sum + (part.characters > 0 ? part.natsPerChar * part.characters : 0), 0) / characters };
  };
  return { ...join(scores), coldStart: join(scores.map((s) => s.coldStart)), warm: join(scores.map((s) => s.warm)) };
}

function describe(s: FileScore): string {
  const skipped =
    s.unknownCharacters > 0
      ? `; ${s.unknownCharacters.toLocaleString('en-US')} characters outside the vocabulary left out (${Object.keys(s.unknown)
          .map((c) => JSON.stringify(c))
          .join(', ')})`
      : '';
  const cold = `; the first ${COLD_START_CHARACTERS} of each stream, from zero state: ${s.coldStart.natsPerChar.toFixed(4)}, the rest: ${s.warm.characters > 0 ? s.warm.natsPerChar.toFixed(4) : '-'}`;
  return `${s.file}: ${s.natsPerChar.toFixed(4)} nats/char, ${s.bitsPerChar.toFixed(3)} bits/char, perplexity ${s.perplexity.toFixed(2)} over ${s.characters.toLocaleString('en-US')} characters${cold}${skipped}`;
}

/** rnn-eval's request: its flags, the checkpoint and the files to score. */
function parse(argv: string[]): { flags: EvalFlags; checkpoint: string; files: string[] } {
  const command = program();
  command.parse(argv);
  const flags = command.opts<EvalFlags>();
  const [checkpoint, files] = command.processedArgs as [string, string[]];
  if (flags.activations !== undefined && files.length > 1) throw new UserError('--activations describes one text: give one file to score with it');
  return { flags, checkpoint, files };
}

/** A text to score: its file, the ids of the characters the model knows, and the count of each it does not. */
interface Text {
  file: string;
  ids: CharIds;
  unknown: Map<string, number>;
}

/** What rnn-eval scores with and scores. */
interface Loaded {
  members: { dir: string; checkpoint: Checkpoint }[];
  vocabulary: Vocabulary;
  texts: Text[];
  batchSize: number;
  seqLen: number;
}

/** Every file's score and their total. */
interface Scores {
  scores: FileScore[];
  total: FileScore;
}

/** The checkpoints and the texts, each checked to hold something to score, before the backend loads. */
async function load({ flags, checkpoint, files }: ReturnType<typeof parse>): Promise<Loaded> {
  const members = loadCheckpoints(checkpoint, flags.ensemble);
  const vocabulary = new Vocabulary(members[0].checkpoint.vocabulary);
  const texts: Text[] = [];
  for (const file of files) {
    const corpus = await loadCorpus(file, { purpose: 'score' });
    const known = vocabulary.translate(corpus.ids, corpus.vocabulary);
    if (known.ids.length < 2) throw new UserError(`${file} has fewer than two characters the model knows; there is nothing to score`);
    texts.push({ file, ...known });
  }
  const { training } = members[0].checkpoint;
  return { members, vocabulary, texts, batchSize: flags.batchSize ?? training.batchSize, seqLen: flags.seqLen ?? training.seqLen };
}

/** Each file's score, the first character of each only ever an input and every later one scored once; then their total. */
async function scoreAll(models: CharRnn[], { texts, batchSize, seqLen }: Loaded): Promise<Scores> {
  const scores: FileScore[] = [];
  for (const { file, ids, unknown } of texts) scores.push(score(file, await scoreText(models, ids, batchSize, seqLen), unknown));
  const unknownInAll = new Map<string, number>();
  for (const { unknown } of texts) for (const [c, n] of unknown) unknownInAll.set(c, (unknownInAll.get(c) ?? 0) + n);
  return { scores, total: score('total', combined(scores), unknownInAll) };
}

/** The scores on stdout: one JSON object, or a line per file (and the total of several). */
function report(json: boolean, checkpoints: string[], { batchSize, seqLen }: Loaded, { scores, total }: Scores): void {
  if (json) {
    const ensemble = checkpoints.length > 1 ? { ensemble: checkpoints } : {};
    process.stdout.write(`${JSON.stringify({ checkpoint: checkpoints[0], ...ensemble, batchSize, seqLen, files: scores, total })}\n`);
    return;
  }
  for (const s of scores) process.stdout.write(`${describe(s)}\n`);
  if (scores.length > 1) process.stdout.write(`${describe(total)}\n`);
}

async function main(argv: string[]): Promise<number> {
  const request = parse(argv);
  const loaded = await load(request);
  await startBackend('rnn-eval', request.flags.backend, preferredIntraOpThreads(loaded.members[0].checkpoint.model, loaded.batchSize));
  const models = createModels(loaded.members);
  const checkpoints = loaded.members.map(({ dir }) => dir);
  const scores = await scoreAll(models, loaded);
  if (request.flags.activations !== undefined) {
    const [{ ids }] = loaded.texts;
    writeActivations(request.flags.activations, checkpoints, loaded.vocabulary.decode(ids), models, ids);
  }
  models.forEach((model) => model.dispose());
  report(request.flags.json === true, checkpoints, loaded, scores);
  return 0;
}

await runCommand('rnn-eval', () => main(process.argv));
