/**
 * Named bundles of rnn-train flags, sized by char-rnn's rule of thumb (parameters of the order of
 * the corpus's characters): `tiny` (0.87 M parameters) suits about 1 MB of text or a 10-minute
 * run, `small` (3.3 M) about 5 MB, `medium` (12 M) about 20 MB and `large` (22 M) about 100 MB.
 * The more text per parameter, the less dropout is needed. `ensemble` trains two 2×768 models side
 * by side, one core each, which predict together: on ~1 MB of text and a 2-core machine, the
 * best an hour buys (README, "Ensembles"). tiny, small and ensemble were measured on
 * tiny-shakespeare (README, "What 10 minutes buys"); medium and large only for speed. Flags given
 * explicitly override a preset's.
 */
export const PRESETS = {
  tiny: { layers: 2, hidden: 256, embedding: 64, dropout: 0.1, seqLen: 64, batchSize: 48, lr: 3e-3 },
  small: { layers: 2, hidden: 512, embedding: 64, dropout: 0.25, seqLen: 100, batchSize: 32, lr: 2e-3 },
  medium: { layers: 3, hidden: 768, embedding: 128, dropout: 0.2, seqLen: 128, batchSize: 32, lr: 1.5e-3 },
  large: { layers: 3, hidden: 1024, embedding: 128, dropout: 0.1, seqLen: 128, batchSize: 32, lr: 1e-3 },
  ensemble: { layers: 2, hidden: 768, embedding: 64, dropout: 0.4, seqLen: 100, batchSize: 32, lr: 2e-3, ema: 0.999, members: 2 },
} as const;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];
