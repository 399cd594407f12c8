import type { ModelConfig } from '../../model/config.js';
import type { TrainingConfig } from '../../train/config.js';

/**
 * What rnn-web writes to the site's site.json and the page reads: the shapes shared by the Node
 * side (web/site.ts) and the browser side (this folder).
 */

/** One trained model's card: where it came from and how far it got. */
export interface ModelCard {
  /** The checkpoint directory rnn-web read. */
  checkpoint: string;
  /** The training corpus's file name, and its size in bytes when the file was still there. */
  corpus: string;
  corpusBytes: number | null;
  corpusSha256: string;
  model: ModelConfig;
  training: TrainingConfig;
  step: number;
  epoch: number;
  trainingSeconds: number;
  bestValidationLoss: number | null;
  savedAt: string;
}

export interface SiteMember {
  /** The folder, relative to the page, that holds the member's model.json and weights.bin. */
  path: string;
  /** Its loss curve, an SVG file relative to the page. */
  lossPlot: string;
  card: ModelCard;
}

export interface SiteData {
  format: string;
  version: number;
  title: string;
  /** rnn-train's version. */
  generatedBy: string;
  vocabulary: string[];
  /** One model, or an ensemble's members, which predict with the mean of their distributions. */
  members: SiteMember[];
  /** A passage offered for "Look inside"; empty when there is none. */
  excerpt: string;
  /** The rnn-sample command, up to its flags, that generates what the page generates. */
  sampleCommand: string;
}
