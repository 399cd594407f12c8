/** A command-line value that does not parse; the message says what is allowed. */
export class InvalidValue extends Error {}

/** Parsers of option values that reject bad ones with a message naming what is allowed. */
export function integerAtLeast(minimum: number, maximum = Infinity): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < minimum || n > maximum) {
      throw new InvalidValue(`expected a whole number ≥ ${minimum}${Number.isFinite(maximum) ? ` and ≤ ${maximum}` : ''}`);
    }
    return n;
  };
}

export interface RangeBounds {
  minimumExclusive?: boolean;
  maximumExclusive?: boolean;
}

export function numberInRange(
  minimum: number,
  maximum: number,
  { minimumExclusive = false, maximumExclusive = false }: RangeBounds = {},
): (value: string) => number {
  return (value) => {
    const n = Number(value);
    const low = minimumExclusive ? n > minimum : n >= minimum;
    const high = maximumExclusive ? n < maximum : n <= maximum;
    if (value.trim() === '' || !Number.isFinite(n) || !low || !high) {
      const range = `${minimumExclusive ? '>' : '≥'} ${minimum}${Number.isFinite(maximum) ? ` and ${maximumExclusive ? '<' : '≤'} ${maximum}` : ''}`;
      throw new InvalidValue(`expected a number ${range}`);
    }
    return n;
  };
}

/** A duration such as `10m`, `90s`, `1h30m` or `1.5h`, in seconds. */
export function duration(value: string): number {
  const match = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(value.trim());
  const seconds = match ? 3600 * Number(match[1] ?? 0) + 60 * Number(match[2] ?? 0) + Number(match[3] ?? 0) : 0;
  if (!match || !(seconds > 0)) throw new InvalidValue('expected a duration such as 10m, 90s or 1h30m');
  return seconds;
}
