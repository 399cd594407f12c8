import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isAlive } from '../util/process.js';

/**
 * A lock on one cache entry between processes, so that two first runs started at once (two
 * terminals, two test workers) build it once: the second waits, then finds it built. The lock is
 * a directory, because mkdir is atomic on every local file system, with its owner's pid and host
 * inside. A lock whose owner died (kill -9, a reboot) is taken over rather than waited on.
 */

interface Owner {
  pid: number;
  host: string;
  since: number;
}

/** No build takes this long; a lock older than this is abandoned whatever its owner file says. */
const ABANDONED_MS = 30 * 60_000;
const POLL_MS = 500;

function readOwner(lock: string): Owner | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(lock, 'owner.json'), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner can no longer release it. */
function abandoned(lock: string): boolean {
  let created: number;
  try {
    created = fs.statSync(lock).mtimeMs;
  } catch {
    return false;
  }
  const owner = readOwner(lock);
  if (Date.now() - created > ABANDONED_MS) return true;
  // An owner file not yet written: the owner is between its mkdir and its write.
  if (!owner) return Date.now() - created > 10_000;
  return owner.host === os.hostname() && !isAlive(owner.pid);
}

function tryAcquire(lock: string): boolean {
  try {
    fs.mkdirSync(lock);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  const owner: Owner = { pid: process.pid, host: os.hostname(), since: Date.now() };
  fs.writeFileSync(path.join(lock, 'owner.json'), JSON.stringify(owner));
  return true;
}

/** Moves an abandoned lock aside before removing it, so that two processes cannot both remove a fresh one. */
function breakLock(lock: string): void {
  const aside = `${lock}.abandoned-${process.pid}-${Date.now()}`;
  try {
    fs.renameSync(lock, aside);
  } catch {
    return;
  }
  fs.rmSync(aside, { recursive: true, force: true });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` holding `lock` (a path that must not exist otherwise). `onWait` is told once, with
 * the owner's pid, when another process holds it.
 */
export async function withLock<T>(lock: string, work: () => Promise<T>, onWait: (pid: number | undefined) => void): Promise<T> {
  let told = false;
  while (!tryAcquire(lock)) {
    if (abandoned(lock)) {
      breakLock(lock);
      continue;
    }
    if (!told) onWait(readOwner(lock)?.pid);
    told = true;
    await sleep(POLL_MS);
  }
  const release = () => fs.rmSync(lock, { recursive: true, force: true });
  // A Ctrl-C while building must not leave a lock that stalls the next run for ten seconds.
  process.once('exit', release);
  try {
    return await work();
  } finally {
    process.off('exit', release);
    release();
  }
}
