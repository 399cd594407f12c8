/**
 * Finding interpretable hidden units, after Karpathy, Johnson and Fei-Fei, "Visualizing and
 * Understanding Recurrent Networks" (2015): a few properties of a text, position by position, and
 * the units whose activation follows each most closely (Pearson correlation).
 */

export interface TextFeature {
  name: string;
  /** The property once character t has been read, for every t. */
  values(chars: readonly string[]): Float64Array;
}

const OPENING = new Map([
  ['(', ')'],
  ['[', ']'],
  ['{', '}'],
]);
const CLOSING = new Set(OPENING.values());

export const FEATURES: TextFeature[] = [
  {
    name: 'inside quotes',
    values: (chars) => {
      let inside = false;
      return Float64Array.from(chars, (ch) => {
        if (ch === '"') inside = !inside;
        else if (ch === '“') inside = true;
        else if (ch === '”') inside = false;
        return inside ? 1 : 0;
      });
    },
  },
  {
    name: 'position in line',
    values: (chars) => {
      let column = 0;
      return Float64Array.from(chars, (ch) => (column = ch === '\n' ? 0 : column + 1));
    },
  },
  {
    name: 'bracket depth',
    values: (chars) => {
      let depth = 0;
      return Float64Array.from(chars, (ch) => {
        if (OPENING.has(ch)) depth++;
        else if (CLOSING.has(ch)) depth = Math.max(0, depth - 1);
        return depth;
      });
    },
  },
];

/** Pearson's r of `a` and `b`; NaN when either is constant. */
export function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let meanA = 0;
  let meanB = 0;
  for (let i = 0; i < n; i++) {
    meanA += a[i] / n;
    meanB += b[i] / n;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - meanA;
    const db = b[i] - meanB;
    ab += da * db;
    aa += da * da;
    bb += db * db;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : Number.NaN;
}

/** A hidden unit: member m's layer l, unit u. */
export interface UnitRef {
  member: number;
  layer: number;
  unit: number;
}

export interface UnitMatch extends UnitRef {
  r: number;
}

/**
 * The `count` units whose activations correlate most strongly (either sign) with `feature`;
 * none when the feature does not vary over the text. `activations[m][l]` is [characters × units].
 */
export function bestUnits(activations: Float32Array[][], feature: Float64Array, count: number): UnitMatch[] {
  const n = feature.length;
  const matches: UnitMatch[] = [];
  activations.forEach((layers, member) =>
    layers.forEach((values, layer) => {
      const units = values.length / n;
      const column = new Float64Array(n);
      for (let unit = 0; unit < units; unit++) {
        for (let t = 0; t < n; t++) column[t] = values[t * units + unit];
        const r = correlation(column, feature);
        if (!Number.isNaN(r)) matches.push({ member, layer, unit, r });
      }
    }),
  );
  return matches.sort((a, b) => Math.abs(b.r) - Math.abs(a.r)).slice(0, count);
}
