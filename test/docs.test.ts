import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, ROOT } from './helpers.js';

const COMMANDS = ['rnn-train', 'rnn-sample', 'rnn-eval', 'rnn-web', 'rnn-setup'] as const;

/** The long options a command's --help lists, without --help itself. */
function helpOptions(command: (typeof COMMANDS)[number]): string[] {
  const { stdout, status } = cli(command, ['--help']);
  expect(status).toBe(0);
  const options = stdout.slice(stdout.indexOf('Options:'));
  return [...options.matchAll(/^ {2}(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]).filter((flag) => flag !== '--help');
}

/** The long options in the first column of the option tables under `## <command>` in docs/options.md. */
function documentedOptions(command: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, 'docs', 'options.md'), 'utf8');
  const section = text.split(/^## /m).find((part) => part.startsWith(`${command}\n`));
  expect(section, `docs/options.md has a section "## ${command}"`).toBeDefined();
  return [...section!.matchAll(/^\| `(?:-\w, )?(--[\w-]+)/gm)].map((match) => match[1]);
}

describe('docs/options.md', () => {
  for (const command of COMMANDS) {
    it(`lists exactly the options of ${command} --help`, () => {
      const documented = documentedOptions(command);
      expect(new Set(documented).size, 'no option documented twice').toBe(documented.length);
      expect([...documented].sort()).toEqual(helpOptions(command).sort());
    });
  }
});

describe('README.md', () => {
  it('is a manual of at most 300 lines whose links to files in the repository resolve', () => {
    const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(text.split('\n').length).toBeLessThanOrEqual(300);
    const links = [...text.matchAll(/\]\(([^)#:]+)\)/g)].map((match) => match[1]);
    expect(links.length).toBeGreaterThan(5);
    for (const link of links) expect(fs.existsSync(path.join(ROOT, link)), link).toBe(true);
  });
});
