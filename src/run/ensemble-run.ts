import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../util/errors.js';
import type { Checkpoint } from './checkpoint.js';
import { ENSEMBLE_FILE, ENSEMBLE_FORMAT } from './files.js';
import { RunDirectory } from './run-directory.js';

/**
 * An ensemble's run directory (rnn-train --members): ensemble.json names its members, each an
 * ordinary run directory inside it, trained on its own with its own seed.
 *
 *   ensemble.json    {"format": "rnn-train-ensemble", "members": ["member-1", "member-2"], …}
 *   member-1/        a run directory (checkpoints/, latest, best, metrics)
 *   member-2/
 */

export interface EnsembleManifest {
  format: typeof ENSEMBLE_FORMAT;
  /** Member run directories, relative to the ensemble's. */
  members: string[];
  /** The members' best checkpoints scored together on the validation text, once training ended. */
  validationLoss?: number;
}

export function isEnsembleRun(dir: string): boolean {
  return fs.existsSync(path.join(dir, ENSEMBLE_FILE));
}

export function readEnsemble(dir: string): EnsembleManifest {
  const file = path.join(dir, ENSEMBLE_FILE);
  let manifest: Partial<EnsembleManifest>;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<EnsembleManifest>;
  } catch (error) {
    throw new UserError(`${file} cannot be read (${(error as Error).message.split('\n')[0]}); it should list the ensemble's member directories`);
  }
  const { members } = manifest;
  if (manifest.format !== ENSEMBLE_FORMAT || !Array.isArray(members) || members.length === 0 || !members.every((m) => typeof m === 'string')) {
    throw new UserError(`${file} is not an rnn-train ensemble manifest; it should list the ensemble's member directories`);
  }
  return { ...manifest, format: ENSEMBLE_FORMAT, members };
}

/** Written under a temporary name and renamed, so that a crash leaves the old manifest or the new. */
export function writeEnsemble(dir: string, manifest: Omit<EnsembleManifest, 'format'>): void {
  const file = path.join(dir, ENSEMBLE_FILE);
  fs.writeFileSync(`${file}.tmp`, `${JSON.stringify({ format: ENSEMBLE_FORMAT, ...manifest }, null, 2)}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

function memberDirectories(dir: string): string[] {
  return readEnsemble(dir).members.map((member) => path.join(dir, member));
}

/** Whether any member has saved a checkpoint: then the ensemble is a run to resume, not to overwrite. */
export function ensembleHasCheckpoints(dir: string): boolean {
  return isEnsembleRun(dir) && memberDirectories(dir).some((member) => new RunDirectory(member).hasCheckpoints());
}

/** What a user named as models: an ensemble's run directory stands for each of its members. */
export function expandEnsembles(given: string[]): string[] {
  return given.flatMap((dir) => (fs.existsSync(dir) && fs.statSync(dir).isDirectory() && isEnsembleRun(dir) ? memberDirectories(dir) : [dir]));
}

/** Refuses checkpoints that cannot predict together: their models must share one vocabulary, in one order. */
export function checkEnsemble(members: { dir: string; checkpoint: Checkpoint }[]): void {
  const [first, ...others] = members;
  for (const { dir, checkpoint } of others) {
    if (JSON.stringify(checkpoint.vocabulary) !== JSON.stringify(first.checkpoint.vocabulary)) {
      throw new UserError(`${dir} has a different vocabulary from ${first.dir}; an ensemble needs models trained on the same text`);
    }
  }
}
