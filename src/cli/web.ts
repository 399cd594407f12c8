import fs from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { integerAtLeast } from '../util/parse.js';
import { shellWord } from '../util/shell.js';
import { writeSite } from '../web/site.js';
import { serveStatic } from '../web/serve.js';
import type { Checkpoint } from '../run/checkpoint.js';
import { withVersion, commanderParser, ensembleOption, loadCheckpoints, oneLine, packageVersion, runCommand } from './common.js';

interface WebFlags {
  out: string;
  ensemble: string[];
  title?: string;
  text?: string;
  serve?: boolean;
  port: number;
}

function program(): Command {
  return withVersion(new Command('rnn-web'))
    .description('Write a static web page for a trained model: generate text, look inside it, and see how it trained. It runs offline in any browser.')
    .argument('<checkpoint>', 'run directory (uses its best checkpoint), checkpoint directory, or ensemble run directory')
    .option('-o, --out <dir>', 'folder to write the site to; an earlier site there is replaced', 'site')
    .addOption(ensembleOption())
    .option('--title <text>', "the page's title (default: the corpus and the model)")
    .option('--text <file>', 'text offered for "Look inside" (default: the end of the training corpus, if it is still there)')
    .option('--serve', 'then serve the site at http://127.0.0.1:<port>/ until Ctrl-C')
    .option('--port <n>', 'port for --serve; 0 picks a free one', commanderParser(integerAtLeast(0, 65535)), 8000)
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-web', text)) })
    .exitOverride();
}

function defaultTitle(members: { checkpoint: Checkpoint }[]): string {
  const [{ checkpoint }] = members;
  const { cell, layers, hiddenSize } = checkpoint.model;
  const model = `${layers}×${hiddenSize} ${cell.toUpperCase()}`;
  const what = members.length > 1 ? `ensemble of ${members.length} ${model}s` : model;
  return `${path.basename(checkpoint.training.corpus)}: ${what}`;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read --text ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}); give a readable text file`);
  }
}

/** Serves the site until Ctrl-C (or SIGTERM). */
async function serveUntilStopped(out: string, port: number): Promise<void> {
  const server = await serveStatic(out, port);
  process.stderr.write(`rnn-web: serving ${out} at ${server.url} (Ctrl-C stops)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}

async function main(argv: string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  const flags = command.opts<WebFlags>();
  const [checkpointArg] = command.args;
  // As the user wrote it, without a trailing slash: the messages below add their own.
  const out = flags.out.replace(/(.)\/+$/, '$1');
  const members = loadCheckpoints(checkpointArg, flags.ensemble);
  const sampleCommand = ['rnn-sample', checkpointArg, ...flags.ensemble.flatMap((e) => ['--ensemble', e])].map(shellWord).join(' ');
  writeSite({
    members,
    out,
    title: flags.title ?? defaultTitle(members),
    version: packageVersion(),
    sampleCommand,
    text: flags.text === undefined ? undefined : readText(flags.text),
  });
  const model = members.length > 1 ? `${members.length} models` : members[0].dir;
  process.stderr.write(`rnn-web: wrote ${out}/ for ${model}\n`);
  if (flags.serve) await serveUntilStopped(out, flags.port);
  else
    process.stderr.write(`rnn-web: open it through any static file server, e.g. \`npx rnn-web ${shellWord(checkpointArg)} --out ${shellWord(out)} --serve\`\n`);
  return 0;
}

await runCommand('rnn-web', () => main(process.argv));
