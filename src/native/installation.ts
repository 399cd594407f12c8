import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where this copy of rnn-train is installed, and so which command sets its native kernels up.
 * Every message that tells the user to run the setup names the command that exists for this
 * installation: a clone has the `setup-native` script, an installed package has the `rnn-setup`
 * command, and a user's own project has neither script.
 */

export type InstallationKind = 'clone' | 'project' | 'global' | 'npx';

export interface Installation {
  kind: InstallationKind;
  /** The package's root directory, symbolic links resolved. */
  root: string;
}

/** The package root: this file is src/native/ (tests) or dist/native/ (the commands), two levels down. */
export function packageRoot(): string {
  return fs.realpathSync(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..'));
}

export function installation(root = packageRoot()): Installation {
  const parent = path.dirname(root);
  if (path.basename(parent) !== 'node_modules') return { kind: 'clone', root };
  if (root.split(path.sep).includes('_npx')) return { kind: 'npx', root };
  // npm's global layout: <prefix>/lib/node_modules/<package>, its commands in <prefix>/bin.
  const prefix = path.dirname(path.dirname(parent));
  const globalLayout = path.basename(path.dirname(parent)) === 'lib' && fs.existsSync(path.join(prefix, 'bin', 'rnn-setup'));
  return { kind: globalLayout ? 'global' : 'project', root };
}

/** The command that sets up (or, with `force`, rebuilds) the native kernels of this installation, run from the current directory. */
export function setupCommand(options: { force?: boolean; where?: Installation; cwd?: string } = {}): string {
  const { where = installation(), cwd = process.cwd() } = options;
  const force = options.force ? ' --force' : '';
  const inside = (dir: string) => {
    const relative = path.relative(dir, cwd);
    return !relative.startsWith('..') && !path.isAbsolute(relative);
  };
  switch (where.kind) {
    case 'clone':
      // npm passes arguments after `--` on to the script.
      return `${inside(where.root) ? 'npm' : `npm --prefix ${where.root}`} run setup-native${options.force ? ' -- --force' : ''}`;
    case 'global':
      return `rnn-setup${force}`;
    case 'project': {
      const project = path.dirname(path.dirname(where.root));
      return `${inside(project) ? '' : `cd ${project} && `}npx rnn-setup${force}`;
    }
    case 'npx':
      // npx's own folder has no stable name to ask npx for again; the command file itself does.
      return `node ${path.join(where.root, 'bin', 'rnn-setup.js')}${force}`;
  }
}
