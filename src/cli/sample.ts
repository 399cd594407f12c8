import { Command, Option } from 'commander';
import { BACKENDS, useBackend, type BackendChoice } from '../backend.js';
import { CharRnn, preferredIntraOpThreads } from '../model.js';
import { loadCheckpoint } from '../run-directory.js';
import { checkPrime, sampleText } from '../sampler.js';
import { Vocabulary } from '../vocabulary.js';
import { integerAtLeast, numberInRange, oneLine, randomSeed, runCommand } from './common.js';

interface SampleFlags {
  length: number;
  temperature: number;
  prime: string;
  seed?: number;
  backend: BackendChoice;
}

function program(): Command {
  return new Command('rnn-sample')
    .description('Generate text from a model trained by rnn-train, streaming it to stdout.')
    .argument('<checkpoint>', 'run directory (uses its best checkpoint) or checkpoint directory')
    .option('-n, --length <n>', 'characters to generate, not counting the prime', integerAtLeast(0), 500)
    .option('-t, --temperature <t>', 'softmax temperature: lower is safer, higher more surprising; 0 = always the likeliest', numberInRange(0, Infinity), 0.8)
    .option('-p, --prime <text>', 'text to start from (echoed first)', '')
    .option('--seed <n>', 'random seed: same seed, checkpoint and flags give the same text (default: random)', integerAtLeast(0))
    .addOption(new Option('--backend <name>', 'compute backend').choices(BACKENDS).default('auto'))
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

async function main(argv: string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  const flags = command.opts<SampleFlags>();
  const { dir, checkpoint } = loadCheckpoint(command.args[0]);
  const vocabulary = new Vocabulary(checkpoint.vocabulary);
  // Before the backend loads, so that a bad prime is refused at once.
  checkPrime(vocabulary, flags.prime);
  const backend = await useBackend(flags.backend, { intraOpThreads: preferredIntraOpThreads(checkpoint.model, 1) });
  if (backend.warning) process.stderr.write(`rnn-sample: warning: ${backend.warning}\n`);
  const model = new CharRnn(checkpoint.model, checkpoint.weights);
  const seed = flags.seed ?? randomSeed();
  if (flags.seed === undefined) process.stderr.write(`rnn-sample: ${dir}, seed ${seed}\n`);
  const out = stdoutWriter();
  for (const text of sampleText(model, vocabulary, { length: flags.length, temperature: flags.temperature, prime: flags.prime, seed })) {
    await out.write(text);
    if (out.closed()) return 0;
  }
  await out.write('\n');
  model.dispose();
  return 0;
}

await runCommand('rnn-sample', () => main(process.argv));
