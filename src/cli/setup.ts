import { Command } from 'commander';
import { NativeSetupError, ensureNativeTensorflow, SKIP_NATIVE } from '../native/native-setup.js';
import { cacheRoot } from '../native/native-cache.js';
import { UserError } from '../util/errors.js';
import { oneLine, runCommand, withVersion } from './common.js';

interface SetupFlags {
  force?: boolean;
  warnOnly?: boolean;
}

function program(): Command {
  return withVersion(new Command('rnn-setup'))
    .description(
      'Set up native TensorFlow kernels now (about a minute, once per machine and version), as the first command that needs them would. ' +
        'For a Dockerfile or a machine prepared ahead of use.',
    )
    .option('--force', 'rebuild them even if they are set up, and retry after a failed setup')
    .option('--warn-only', 'report a failure as a warning and exit 0 (for install hooks)')
    .configureOutput({ outputError: (text, write) => write(oneLine('rnn-setup', text)) })
    .exitOverride();
}

async function main(argv: string[]): Promise<number> {
  const command = program();
  command.parse(argv);
  const flags = command.opts<SetupFlags>();
  if (flags.warnOnly && process.env[SKIP_NATIVE] === '1') {
    process.stderr.write(`rnn-setup: ${SKIP_NATIVE}=1: not setting up native TensorFlow; commands will run on wasm\n`);
    return 0;
  }
  let built: boolean;
  try {
    ({ built } = await ensureNativeTensorflow({ force: flags.force }));
  } catch (error) {
    if (!(error instanceof NativeSetupError)) throw error;
    if (!flags.warnOnly) throw new UserError(error.message);
    process.stderr.write(
      `rnn-setup: warning: native TensorFlow is not available (${error.reason}); commands will use the much slower wasm backend. To fix: ${error.fix}\n`,
    );
    return 0;
  }
  // A build has said so in its own last line.
  if (!built) process.stderr.write(`rnn-setup: native TensorFlow kernels are set up already (cache: ${cacheRoot()}); --force rebuilds them\n`);
  return 0;
}

await runCommand('rnn-setup', () => main(process.argv));
