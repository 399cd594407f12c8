import type { TextInspection } from '../../sample/inspect.js';
import type { PageBackend } from './backend.js';
import type { SiteMember } from './site-data.js';

/** What the page asks the Look inside worker (inside-worker.ts): read `ids` with the site's models. */
export interface InspectRequest {
  /** The page's address, against which the members' folders are found. */
  site: string;
  members: SiteMember[];
  /** The backend the page runs on, so that the worker computes as the page would. */
  backend: PageBackend;
  ids: Int32Array;
}

/** What the worker answers: progress, then the inspection or an error. */
export type InspectReply = { kind: 'progress'; read: number } | { kind: 'done'; inspection: TextInspection } | { kind: 'error'; message: string };
