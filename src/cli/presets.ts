/**
 * Named bundles of rnn-train flags, each measured on tiny-shakespeare on a 2-core machine (README,
 * "What 10 minutes buys"). Sized by char-rnn's rule of thumb, parameters of the order of the
 * corpus's characters: `tiny` (0.87 M parameters) suits about 1 MB of text or a 10-minute run,
 * `small` (3.3 M) about 5 MB (on 1 MB it peaks after about half an hour, then overfits). Flags
 * given explicitly override a preset's.
 */
export const PRESETS = {
  tiny: { layers: 2, hidden: 256, embedding: 64, dropout: 0.1, seqLen: 64, batchSize: 48, lr: 3e-3 },
  small: { layers: 2, hidden: 512, embedding: 64, dropout: 0.25, seqLen: 100, batchSize: 32, lr: 2e-3 },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
