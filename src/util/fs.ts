import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';

/**
 * Creates `dir` and any missing parents, one level at a time, and returns the directories it
 * created, outermost first, so that a caller who fails later can remove exactly those.
 *
 * Not fs.mkdirSync(dir, { recursive: true }): Node's recursive mkdir spins forever at full CPU
 * when a parent answers ENOENT although it exists, as under /proc or behind a dangling symbolic
 * link (`runs -> /mnt/disk/runs` with the disk unmounted). This walk visits each level once and
 * names the level that failed and why. On failure it removes what it created and throws a
 * UserError whose message ends with `hint`.
 */
export function makeDirectory(dir: string, hint: string): string[] {
  const target = path.resolve(dir);
  const levels: string[] = [];
  for (let level = target; ; level = path.dirname(level)) {
    levels.unshift(level);
    if (path.dirname(level) === level) break;
  }
  const created: string[] = [];
  try {
    for (const level of levels) if (ensureLevel(level, dir)) created.push(level);
    return created;
  } catch (error) {
    removeCreated(created);
    throw error instanceof DirectoryError ? new UserError(`cannot create ${dir}: ${error.message}; ${hint}`) : error;
  }
}

/** Why one level of a path cannot hold a directory. */
class DirectoryError extends Error {}

/** Makes sure `level` is a directory; true if it created it. */
function ensureLevel(level: string, dir: string): boolean {
  const found = statLevel(level);
  if (found === 'directory') return false;
  if (found === 'file') throw new DirectoryError(`${level} is a file, not a directory`);
  if (found === 'dangling') {
    throw new DirectoryError(`${level} is a symbolic link to ${fs.readlinkSync(level)}, which does not exist (is a disk not mounted?)`);
  }
  try {
    fs.mkdirSync(level);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && statLevel(level) === 'directory') return false;
    const parent = path.dirname(level);
    if (code === 'EACCES' || code === 'EPERM') throw new DirectoryError(`${parent} is not writable (${code})`);
    if (code === 'EROFS') throw new DirectoryError(`${parent} is on a read-only file system`);
    if (code === 'ENOENT') throw new DirectoryError(`${parent} does not accept new directories (${dir} cannot exist there)`);
    throw new DirectoryError(`${level} could not be made (${code ?? String(error)})`);
  }
}

function statLevel(level: string): 'directory' | 'file' | 'dangling' | 'missing' {
  let link: fs.Stats;
  try {
    link = fs.lstatSync(level);
  } catch {
    return 'missing';
  }
  if (!link.isSymbolicLink()) return link.isDirectory() ? 'directory' : 'file';
  try {
    return fs.statSync(level).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'dangling';
  }
}

/** Removes directories makeDirectory created, innermost first, if they are still empty. */
export function removeCreated(created: string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // Something was put there meanwhile: it stays.
    }
  }
}
