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

/** Which state of a layer: its output h, or (an LSTM's) cell state c. */
export type UnitState = 'h' | 'c';

/** A unit: of member m's layer l, in its state h or c, unit u. */
export interface UnitRef {
  member: number;
  layer: number;
  state: UnitState;
  unit: number;
}

/** One state of one layer over a text: [characters × units]. */
export interface StateSource {
  member: number;
  layer: number;
  state: UnitState;
  values: Float32Array;
}

/** Every layer's h, and every LSTM layer's c beside it, as TextInspection holds them. */
export function stateSources(inspection: { activations: Float32Array[][]; cells?: (Float32Array | undefined)[][] }): StateSource[] {
  return inspection.activations.flatMap((layers, member) =>
    layers.flatMap((values, layer) => {
      const c = inspection.cells?.[member]?.[layer];
      const h: StateSource = { member, layer, state: 'h', values };
      return c ? [h, { member, layer, state: 'c' as const, values: c }] : [h];
    }),
  );
}

export interface UnitMatch extends UnitRef {
  r: number;
}

/**
 * The `count` units, over every source, whose values correlate most strongly (either sign) with
 * `feature`; none when the feature does not vary over the text.
 */
export function bestUnits(sources: StateSource[], feature: Float64Array, count: number): UnitMatch[] {
  const n = feature.length;
  const matches: UnitMatch[] = [];
  for (const { member, layer, state, values } of sources) {
    const units = values.length / n;
    const column = new Float64Array(n);
    for (let unit = 0; unit < units; unit++) {
      for (let t = 0; t < n; t++) column[t] = values[t * units + unit];
      const r = correlation(column, feature);
      if (!Number.isNaN(r)) matches.push({ member, layer, state, unit, r });
    }
  }
  return matches.sort((a, b) => Math.abs(b.r) - Math.abs(a.r)).slice(0, count);
}
