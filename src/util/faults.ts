const reached = new Map<string, number>();

/**
 * Fault injection for the crash tests: with RNN_TRAIN_KILL_AT=<point>[:<n>], the process sends
 * itself SIGKILL the n-th time (default first) it reaches that point, exactly as `kill -9` would
 * land there. Only the tests set it; the points are where a crash is most dangerous (between the
 * files of a checkpoint, before its rename, before the links move) and after a given step.
 */
export function faultPoint(point: string): void {
  const wanted = process.env.RNN_TRAIN_KILL_AT;
  if (wanted === undefined) return;
  const count = (reached.get(point) ?? 0) + 1;
  reached.set(point, count);
  const [name, nth = '1'] = wanted.split(':');
  if (name === point && String(count) === nth) process.kill(process.pid, 'SIGKILL');
}

let nanInjected = false;

/**
 * With RNN_TRAIN_NAN_AT_STEP=<n>, the loss of step n reads as NaN, once, as if training had
 * diverged there: the test of --on-nan rollback needs a divergence that a rollback then cures.
 */
export function injectedNan(step: number, loss: number): number {
  if (nanInjected || process.env.RNN_TRAIN_NAN_AT_STEP !== String(step)) return loss;
  nanInjected = true;
  return Number.NaN;
}
