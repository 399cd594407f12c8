import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './errors.js';
import { readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.js';

/**
 * A training run's output directory:
 *
 *   checkpoints/step-000500/   complete checkpoint directories
 *   latest -> checkpoints/step-000500
 *   best   -> checkpoints/step-000400   (lowest validation loss so far)
 *
 * A checkpoint is written under a temporary name and renamed when complete; `latest` and `best`
 * are symlinks replaced by rename(2), which is atomic. So a crash at any moment leaves both names
 * pointing at complete checkpoints.
 */
export class RunDirectory {
  constructor(readonly dir: string) {}

  get latest(): string {
    return path.join(this.dir, 'latest');
  }

  get best(): string {
    return path.join(this.dir, 'best');
  }

  hasCheckpoints(): boolean {
    return fs.existsSync(this.latest) || fs.existsSync(this.best);
  }

  /** Creates the directory and proves it writable, before any training time is spent. */
  prepare(): void {
    try {
      fs.mkdirSync(path.join(this.dir, 'checkpoints'), { recursive: true });
      const probe = path.join(this.dir, `.write-test-${process.pid}`);
      fs.writeFileSync(probe, 'ok');
      fs.rmSync(probe);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'error';
      throw new UserError(`cannot write to output directory ${this.dir} (${code}); choose another --out`);
    }
  }

  /** Saves a checkpoint and points `latest` (and `best` if asked) at it. Returns its directory. */
  save(checkpoint: Checkpoint, isBest: boolean): string {
    const name = `step-${String(checkpoint.step).padStart(7, '0')}`;
    const target = path.join(this.dir, 'checkpoints', name);
    const partial = path.join(this.dir, 'checkpoints', `.partial-${name}-${process.pid}`);
    fs.rmSync(partial, { recursive: true, force: true });
    writeCheckpoint(partial, checkpoint);
    fs.rmSync(target, { recursive: true, force: true });
    fs.renameSync(partial, target);
    this.point('latest', name);
    if (isBest) this.point('best', name);
    this.prune();
    return target;
  }

  private point(link: 'latest' | 'best', name: string): void {
    const temporary = path.join(this.dir, `.${link}-${process.pid}`);
    fs.rmSync(temporary, { force: true });
    fs.symlinkSync(path.join('checkpoints', name), temporary);
    fs.renameSync(temporary, path.join(this.dir, link));
  }

  /** Removes checkpoints that neither `latest` nor `best` points at, and abandoned partial writes. */
  private prune(): void {
    const keep = new Set(
      [this.latest, this.best].filter((link) => fs.existsSync(link)).map((link) => path.basename(fs.readlinkSync(link))),
    );
    const checkpoints = path.join(this.dir, 'checkpoints');
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
export function resolveCheckpoint(given: string): string {
  if (!fs.existsSync(given)) throw new UserError(`checkpoint not found: ${given}`);
  if (!fs.statSync(given).isDirectory()) {
    throw new UserError(`${given} is not a checkpoint; give a run directory (from rnn-train --out) or a checkpoint directory`);
  }
  if (fs.existsSync(path.join(given, 'checkpoint.json'))) return given;
  const run = new RunDirectory(given);
  for (const link of [run.best, run.latest]) if (fs.existsSync(link)) return link;
  if (fs.existsSync(path.join(given, 'weights.bin'))) return given;
  throw new UserError(`${given} holds no checkpoint; give a run directory written by rnn-train or one of its checkpoint directories`);
}

export function loadCheckpoint(given: string): { dir: string; checkpoint: Checkpoint } {
  const dir = resolveCheckpoint(given);
  return { dir, checkpoint: readCheckpoint(dir) };
}
