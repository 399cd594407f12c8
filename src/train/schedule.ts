export const SCHEDULES = ['cosine', 'constant', 'decay'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];

/**
 * How the learning rate moves during a run.
 * - `cosine`: from the base rate down to a tenth of it along half a cosine over the run (as
 *   nanoGPT does); annealing at the end is where a run with a fixed length gains most.
 * - `constant`: the base rate throughout.
 * - `decay`: char-rnn's rule, the rate multiplied by `decayRate` after every epoch past `decayAfter`.
 * Each may start with a linear warm-up over `warmupSteps`.
 */
export interface Schedule {
  name: ScheduleName;
  warmupSteps: number;
  decayRate: number;
  decayAfter: number;
}

/** Where the run stands when a step is about to be taken. */
export interface SchedulePosition {
  /** Steps already taken. */
  step: number;
  epoch: number;
  /** Fraction of the run done, 0 to 1: steps over total steps, or training time over the time budget. */
  progress: number;
}

const COSINE_FLOOR = 0.1;

export function learningRateAt(base: number, schedule: Schedule, at: SchedulePosition): number {
  const warmup = schedule.warmupSteps > 0 ? Math.min(1, (at.step + 1) / schedule.warmupSteps) : 1;
  switch (schedule.name) {
    case 'constant':
      return base * warmup;
    case 'cosine': {
      const progress = Math.min(1, Math.max(0, at.progress));
      return base * warmup * (COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
    case 'decay':
      return base * warmup * schedule.decayRate ** Math.max(0, at.epoch - schedule.decayAfter);
  }
}
