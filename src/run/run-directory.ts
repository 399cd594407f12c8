import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import { fsyncDirectory, readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';
import type { CheckpointStore, TrainingSnapshot } from '../train/config.js';
import { faultPoint } from '../util/faults.js';
import { CHECKPOINT_FILES, RUN_FILES, checkpointName } from './files.js';
import { makeDirectory, removeCreated } from '../util/fs.js';
import { isAlive } from '../util/process.js';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

function errorCode(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ? `${code}: ${message.replace(/^\w+: /, '').split(',')[0]}` : String(message);
}

/**
 * A training run's output directory:
 *
 *   checkpoints/step-0000500/   complete checkpoint directories
 *   latest -> checkpoints/step-0000500
 *   best   -> checkpoints/step-0000400   (lowest validation loss so far)
 *   lock                        while a trainer works here: its pid
 *
 * A checkpoint is written under a temporary name and renamed when complete; `latest` and `best`
 * are symlinks replaced by rename(2), which is atomic. So a crash at any moment leaves both names
 * pointing at complete checkpoints.
 */
export class RunDirectory implements CheckpointStore {
  private locked = false;
  /** Directories prepare() created, and the entries the directory had before it. */
  private created: string[] = [];
  /** What the directory held before prepare(); undefined until it ran. */
  private preexisting?: Set<string>;

  constructor(readonly dir: string) {}

  get latest(): string {
    return path.join(this.dir, RUN_FILES.latest);
  }

  get best(): string {
    return path.join(this.dir, RUN_FILES.best);
  }

  hasCheckpoints(): boolean {
    return fs.existsSync(this.latest) || fs.existsSync(this.best);
  }

  hasLatest(): boolean {
    return fs.existsSync(this.latest);
  }

  readLatest(): Checkpoint {
    return readCheckpoint(this.latest);
  }

  /**
   * Creates the directory and proves it writable, before any training time is spent. An ensemble's
   * directory holds its members' runs, not checkpoints of its own.
   */
  prepare({ checkpoints = true } = {}): void {
    this.preexisting = new Set(fs.existsSync(this.dir) && fs.statSync(this.dir).isDirectory() ? fs.readdirSync(this.dir) : []);
    this.created = makeDirectory(this.dir, 'choose another --out');
    try {
      if (checkpoints) this.created.push(...makeDirectory(path.join(this.dir, RUN_FILES.checkpoints), 'choose another --out'));
    } catch (error) {
      removeCreated(this.created);
      throw error;
    }
    try {
      const probe = path.join(this.dir, `.write-test-${process.pid}`);
      fs.writeFileSync(probe, 'ok');
      fs.rmSync(probe);
    } catch (error) {
      this.discardIfEmpty();
      throw new UserError(`cannot write to output directory ${this.dir} (${errorCode(error)}); choose another --out`);
    }
  }

  /**
   * After a run that saved no checkpoint (it failed, or was stopped, before its first): releases
   * the lock and removes what this process added to the directory, so that a failed start leaves
   * nothing behind. Entries that were there before prepare() stay.
   */
  discardIfEmpty(): void {
    const before = this.preexisting;
    if (before === undefined || this.hasCheckpoints()) return;
    this.unlock();
    for (const name of [RUN_FILES.metrics, RUN_FILES.lossPlot, RUN_FILES.checkpoints]) {
      if (!before.has(name)) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    }
    removeCreated(this.created);
    this.created = [];
  }

  /** Refuses to start when the disk cannot hold three checkpoints at once: best, latest and the one being written. */
  ensureSpace(checkpointBytes: number): void {
    const { bavail, bsize } = fs.statfsSync(this.dir);
    const needed = 3 * checkpointBytes;
    if (bavail * bsize < needed) {
      const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
      throw new UserError(
        `not enough free space for checkpoints in ${this.dir}: they need about ${mb(needed)}, ${mb(bavail * bsize)} is free; free some space or choose another --out`,
      );
    }
  }

  /**
   * Makes this process the only trainer working in the directory. A lock left by a process that
   * no longer exists (e.g. after kill -9) is taken over; a live owner's is refused.
   */
  lock(): void {
    const file = path.join(this.dir, RUN_FILES.lock);
    const owner: LockOwner = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
        this.locked = true;
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new UserError(`cannot write to output directory ${this.dir} (${errorCode(error)}); choose another --out`);
        }
      }
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch {
        continue; // released meanwhile
      }
      let holder: Partial<LockOwner> = {};
      try {
        holder = JSON.parse(text) as LockOwner;
      } catch {
        // A lock torn by a crash during its own write has no live owner to protect.
      }
      if (typeof holder.pid === 'number' && holder.pid !== process.pid && isAlive(holder.pid)) {
        throw new UserError(
          `${this.dir} is in use by another rnn-train (pid ${holder.pid}, since ${holder.started}); wait for it to finish, stop it, or choose another --out`,
        );
      }
      // Stale: move it aside under a name of our own, and only delete it if it is still the stale one.
      const aside = `${file}.stale-${process.pid}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        continue;
      }
      if (fs.readFileSync(aside, 'utf8') === text) fs.rmSync(aside, { force: true });
      else fs.renameSync(aside, file); // another trainer took it over in between: give it back
    }
    throw new UserError(`could not lock ${this.dir}: another rnn-train keeps taking it; choose another --out`);
  }

  unlock(): void {
    if (!this.locked) return;
    this.locked = false;
    fs.rmSync(path.join(this.dir, RUN_FILES.lock), { force: true });
  }

  /**
   * Saves a checkpoint and points `latest` (and `best` if asked) at it. Returns its directory. If
   * the write fails (disk full, say), the partial files are removed, the links still point at the
   * previous checkpoints, and the error says so.
   */
  save(checkpoint: TrainingSnapshot, isBest: boolean): string {
    const name = checkpointName(checkpoint.progress.step);
    const target = path.join(this.dir, RUN_FILES.checkpoints, name);
    const partial = path.join(this.dir, RUN_FILES.checkpoints, `.partial-${name}-${process.pid}`);
    try {
      fs.rmSync(partial, { recursive: true, force: true });
      writeCheckpoint(partial, checkpoint);
      faultPoint('checkpoint-before-rename');
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(partial, target);
      fsyncDirectory(path.dirname(target));
    } catch (error) {
      fs.rmSync(partial, { recursive: true, force: true });
      const previous = this.hasLatest() ? `the previous checkpoint ${fs.readlinkSync(this.latest)} is intact` : 'no earlier checkpoint exists';
      throw new UserError(`could not write checkpoint ${target} (${errorCode(error)}); ${previous}`);
    }
    faultPoint('checkpoint-before-links');
    this.point(RUN_FILES.latest, name);
    if (isBest) this.point(RUN_FILES.best, name);
    this.prune();
    return target;
  }

  private point(link: 'latest' | 'best', name: string): void {
    const temporary = path.join(this.dir, `.${link}-${process.pid}`);
    fs.rmSync(temporary, { force: true });
    fs.symlinkSync(path.join(RUN_FILES.checkpoints, name), temporary);
    faultPoint(`checkpoint-${link}-link-created`);
    fs.renameSync(temporary, path.join(this.dir, link));
  }

  /** Removes checkpoints that neither `latest` nor `best` points at, and what crashed writers left. */
  private prune(): void {
    for (const entry of fs.readdirSync(this.dir)) {
      if (/^\.(latest|best|write-test)-\d+$/.test(entry) && !entry.endsWith(`-${process.pid}`)) fs.rmSync(path.join(this.dir, entry), { force: true });
    }
    const keep = new Set([this.latest, this.best].filter((link) => fs.existsSync(link)).map((link) => path.basename(fs.readlinkSync(link))));
    const checkpoints = path.join(this.dir, RUN_FILES.checkpoints);
    for (const entry of fs.readdirSync(checkpoints)) {
      const abandoned = entry.startsWith('.partial-') && !entry.endsWith(`-${process.pid}`);
      if ((entry.startsWith('step-') && !keep.has(entry)) || abandoned) {
        fs.rmSync(path.join(checkpoints, entry), { recursive: true, force: true });
      }
    }
  }
}

/**
 * Resolves what a user named as a checkpoint: a run directory (its best checkpoint, else its latest)
 * or a checkpoint directory itself.
 */
function resolveCheckpoint(given: string): string {
  if (!fs.existsSync(given)) throw new UserError(`checkpoint not found: ${given}`);
  if (!fs.statSync(given).isDirectory()) {
    throw new UserError(`${given} is not a checkpoint; give a run directory (from rnn-train --out) or a checkpoint directory`);
  }
  if (fs.existsSync(path.join(given, CHECKPOINT_FILES.meta))) return given;
  const run = new RunDirectory(given);
  for (const link of [run.best, run.latest]) if (fs.existsSync(link)) return link;
  if (fs.existsSync(path.join(given, CHECKPOINT_FILES.weights))) return given;
  if (fs.existsSync(path.join(given, RUN_FILES.lock)) || fs.existsSync(path.join(given, RUN_FILES.checkpoints))) {
    throw new UserError(
      `${given} is a run directory with no checkpoint yet; rnn-train saves its first after --eval-every steps, at the end, or when stopped: wait for it, or give another run`,
    );
  }
  throw new UserError(`${given} holds no checkpoint; give a run directory written by rnn-train or one of its checkpoint directories`);
}

/** The refusal of a new run (one model's or an ensemble's) where a run already is. */
export function alreadyHoldsRun(dir: string): UserError {
  return new UserError(`${dir} already holds a training run; continue it with --resume ${dir}, choose another --out, or delete it to start over`);
}

export function loadCheckpoint(given: string): { dir: string; checkpoint: Checkpoint } {
  const dir = resolveCheckpoint(given);
  return { dir, checkpoint: readCheckpoint(dir) };
}
