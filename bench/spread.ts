/**
 * Several samples of one figure, and how far apart they lie. A case runs
 * more than once because one run on a shared machine can be off by 2×; the
 * table shows the median and the range, --json every sample.
 */
export interface Spread {
  /** Every sample, in the order the rounds ran. */
  values: number[];
  min: number;
  max: number;
  mean: number;
  /** Sample standard deviation (n − 1); 0 for a single sample. */
  stdev: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values: pass at least one sample');
  const v = values.slice().sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function spreadOf(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of no values: pass at least one sample');
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const squares = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return {
    values: values.slice(),
    min: Math.min(...values),
    max: Math.max(...values),
    mean,
    stdev: values.length > 1 ? Math.sqrt(squares / (values.length - 1)) : 0,
  };
}

/**
 * Jain's fairness index of the rates: 1 when every sender got the same, 1/n
 * when one got everything. (Σx)² / (n · Σx²).
 */
export function jainIndex(rates: readonly number[]): number {
  if (rates.length === 0 || rates.some((r) => !(r >= 0))) throw new RangeError(`Jain's index needs non-negative rates, got [${rates.join(', ')}]`);
  const sum = rates.reduce((a, b) => a + b, 0);
  const squares = rates.reduce((a, b) => a + b * b, 0);
  return squares === 0 ? 1 : (sum * sum) / (rates.length * squares);
}
