import fs from 'node:fs';
import { Command } from 'commander';
import type { BackendChoice } from '../native/backend.js';
import { preferredIntraOpThreads } from '../model/policy.js';
import { UserError } from '../util/errors.js';
import { DEFAULT_TEMPERATURE } from '../sample/choose.js';
import { checkPrime, sampleStreams } from '../sample/sampler.js';
import type { SampleOptions, SamplePiece, StreamEvent } from '../sample/generate.js';
import { Vocabulary } from '../data/vocabulary.js';
import {
  backendOption,
  withVersion,
  commanderParser,
  createModels,
  ensembleOption,
  loadCheckpoints,
  oneLine,
  randomSeed,
  runCommand,
  startBackend,
} from './common.js';
import { integerAtLeast, numberInRange } from '../util/parse.js';

interface SampleFlags {
  length: number;
  temperature: number;
  topK?: number;
  topP?: number;
  argmax?: boolean;
  prime: string;
  primeFile?: string;
  stop?: string;
  count: number;
  json?: boolean;
  seed?: number;
  ensemble: string[];
  backend: BackendChoice;
}

function program(): Command {
  return withVersion(new Command('rnn-sample'))
    .description('Generate text from a model trained by rnn-train, streaming it to stdout.')
    .argument('<checkpoint>', 'run directory (uses its best checkpoint) or checkpoint directory')
    .option('-n, --length <n>', 'characters to generate, not counting the prime', commanderParser(integerAtLeast(0)), 500)
    .option(
      '-t, --temperature <t>',
      'softmax temperature: lower is safer, higher more surprising; 0 = always the likeliest',
      commanderParser(numberInRange(0, Infinity)),
      DEFAULT_TEMPERATURE,
    )
    .option('-k, --top-k <k>', 'draw only among the k likeliest characters', commanderParser(integerAtLeast(1)))
    .option(
      '--top-p <p>',
      'nucleus sampling: draw only among the likeliest characters that together have probability p',
      commanderParser(numberInRange(0, 1, { minimumExclusive: true })),
    )
    .option('--argmax', 'always take the likeliest character (the same as --temperature 0)')
    .option('-p, --prime <text>', 'text to start from (echoed first); - reads it from standard input', '')
    .option('--prime-file <path>', 'read the prime from this file')
    .option('--stop <text>', "end a sample as soon as it produces this text (kept); e.g. $'\\n\\n' for one paragraph")
    .option('-c, --count <n>', 'independent samples, separated by a blank line (seeds seed, seed+1, …)', commanderParser(integerAtLeast(1)), 1)
    .option('--json', 'write one JSON object per sample and line (text, seed, flags, checkpoint, mean log-probability) instead of raw text')
    .option('--seed <n>', 'random seed: same seed, checkpoint and flags give the same text (default: random)', commanderParser(integerAtLeast(0)))
    .addOption(ensembleOption())
    .addOption(backendOption())
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-sample', text)) })
    .exitOverride();
}

/** Writes to stdout, waiting when the pipe is full; a closed pipe (e.g. `| head`) ends quietly. */
function stdoutWriter(): { write: (text: string) => Promise<void>; closed: () => boolean } {
  let closed = false;
  let waiting: (() => void) | undefined;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    closed = true;
    waiting?.();
  });
  return {
    closed: () => closed,
    write: (text) =>
      new Promise((resolve) => {
        if (closed || process.stdout.write(text)) return resolve();
        waiting = resolve;
        process.stdout.once('drain', resolve);
      }),
  };
}

/** The prime: --prime text, standard input for --prime -, or --prime-file; used verbatim. */
function readPrime(flags: SampleFlags): string {
  if (flags.primeFile !== undefined) {
    if (flags.prime !== '') throw new UserError('give the prime either with --prime or with --prime-file, not both');
    try {
      return fs.readFileSync(flags.primeFile, 'utf8');
    } catch (error) {
      throw new UserError(`cannot read --prime-file ${flags.primeFile} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); give a readable text file`);
    }
  }
  return flags.prime === '-' ? fs.readFileSync(0, 'utf8') : flags.prime;
}

/** rnn-sample's request: its flags, checked against each other. */
function parse(argv: string[]): { flags: SampleFlags; checkpoint: string } {
  const command = program();
  command.parse(argv);
  const flags = command.opts<SampleFlags>();
  if (flags.argmax && command.getOptionValueSource('temperature') === 'cli' && flags.temperature !== 0) {
    throw new UserError(
      `--argmax and --temperature ${flags.temperature} contradict each other: --argmax always takes the likeliest character (as --temperature 0 does); give one of them`,
    );
  }
  if (flags.stop === '') throw new UserError('--stop needs some text to stop at');
  return { flags, checkpoint: command.args[0] };
}

/** The checkpoints and the prime, checked before the backend loads, so that a bad one is refused at once. */
function load(flags: SampleFlags, checkpoint: string) {
  const members = loadCheckpoints(checkpoint, flags.ensemble);
  const vocabulary = new Vocabulary(members[0].checkpoint.vocabulary);
  const prime = readPrime(flags);
  checkPrime(vocabulary, prime);
  return { members, vocabulary, prime };
}

/** The JSON record of sample n. */
function jsonRecord(options: SampleOptions, members: { dir: string }[], n: number, sample: Sample): string {
  const { seed, ...sampling } = { ...options, seed: options.seed + n };
  const ensemble = members.length > 1 ? { ensemble: members.map((member) => member.dir) } : {};
  const meanLogProb = sample.characters > 0 ? sample.logProb / sample.characters : null;
  return JSON.stringify({ text: sample.text, seed, checkpoint: members[0].dir, ...ensemble, flags: sampling, characters: sample.characters, meanLogProb });
}

async function main(argv: string[]): Promise<number> {
  const { flags, checkpoint } = parse(argv);
  const { members, vocabulary, prime } = load(flags, checkpoint);
  await startBackend('rnn-sample', flags.backend, preferredIntraOpThreads(members[0].checkpoint.model, 1));
  const models = createModels(members);
  const seed = flags.seed ?? randomSeed();
  if (flags.seed === undefined) process.stderr.write(`rnn-sample: ${members[0].dir}, seed ${seed}\n`);
  const rule = { temperature: flags.argmax ? 0 : flags.temperature, topK: flags.topK, topP: flags.topP };
  const options: SampleOptions = { ...rule, length: flags.length, prime, stop: flags.stop, seed };
  await writeInOrder(sampleStreams(models, vocabulary, options, flags.count), {
    count: flags.count,
    json: flags.json === true,
    record: (n, sample) => jsonRecord(options, members, n, sample),
  });
  models.forEach((model) => model.dispose());
  return 0;
}

/** A sample as it grows: its text, and the sum and count of its generated characters' log-probabilities. */
interface Sample {
  text: string;
  logProb: number;
  characters: number;
  ended: boolean;
}

/**
 * Writes samples generated together in the order of their seeds, separated by a blank line (or
 * one JSON record each): the first unfinished sample as it comes, each later one once those
 * before it have ended. Returns early, quietly, if stdout closes.
 */
async function writeInOrder(
  events: Iterable<StreamEvent>,
  output: { count: number; json: boolean; record: (n: number, sample: Sample) => string },
): Promise<void> {
  const out = stdoutWriter();
  const samples: Sample[] = Array.from({ length: output.count }, () => ({ text: '', logProb: 0, characters: 0, ended: false }));
  let next = 0;
  let written = 0;
  for (const event of events) {
    const sample = samples[event.stream];
    if ('end' in event) sample.ended = true;
    else addPiece(sample, event.piece);
    for (; next < output.count; next++, written = 0) {
      const current = samples[next];
      if (!output.json) await out.write(current.text.slice(written));
      written = current.text.length;
      if (out.closed()) return;
      if (!current.ended) break;
      await out.write(output.json ? `${output.record(next, current)}\n` : next + 1 < output.count ? '\n\n' : '\n');
    }
  }
}

function addPiece(sample: Sample, piece: SamplePiece): void {
  sample.text += piece.text;
  if (piece.logProb === undefined) return;
  sample.logProb += piece.logProb;
  sample.characters++;
}

await runCommand('rnn-sample', () => main(process.argv));
