/**
 * Merging the rounds of a run: every case runs once per round, and each
 * figure of a row becomes the median of its samples, with every sample kept
 * in `spread`. Ratios are filled within each round first (lparlink and its
 * baseline measured seconds apart, under the same load) and then merged like
 * any other figure.
 */
import { fillRatios, SPREAD_FIELDS, type ResultRow } from './results.js';
import { median, spreadOf } from './spread.js';

function key(r: ResultRow): string {
  return `${r.suite}|${r.system}|${r.variant}|${r.payloadBytes}|${r.partitions ?? ''}`;
}

/** All round trips of the samples as one population: exact mean, pooled standard deviation. */
function pooledLatency(rows: readonly ResultRow[]): Pick<ResultRow, 'minUs' | 'meanUs' | 'stdevUs' | 'maxUs' | 'roundTrips'> {
  const n = rows.map((r) => r.roundTrips ?? 0);
  const total = n.reduce((a, b) => a + b, 0);
  if (total === 0 || rows.some((r) => r.meanUs === null || r.stdevUs === null)) {
    return { minUs: null, meanUs: null, stdevUs: null, maxUs: null, roundTrips: total };
  }
  const mean = rows.reduce((a, r, i) => a + n[i] * r.meanUs!, 0) / total;
  const squares = rows.reduce((a, r, i) => a + n[i] * (r.stdevUs! ** 2 + (r.meanUs! - mean) ** 2), 0);
  return {
    minUs: Math.min(...rows.map((r) => r.minUs!)),
    meanUs: mean,
    stdevUs: Math.sqrt(squares / total),
    maxUs: Math.max(...rows.map((r) => r.maxUs!)),
    roundTrips: total,
  };
}

function mergeOne(samples: readonly ResultRow[]): ResultRow {
  const first = samples[0];
  const merged: ResultRow = { ...first, samples: samples.length, spread: {} };
  for (const field of SPREAD_FIELDS) {
    const values = samples.map((r) => r[field]).filter((v): v is number => v !== null && Number.isFinite(v));
    merged[field] = values.length > 0 ? median(values) : null;
    if (values.length > 0) merged.spread[field] = spreadOf(values);
  }
  if (first.fairness !== null) {
    const figures = { ...first.fairness };
    for (const field of ['keptOfAlone', 'share', 'jainIndex'] as const) {
      const values = samples.map((r) => r.fairness?.[field]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
      if (values.length === 0) continue;
      figures[field] = median(values);
      merged.spread[field] = spreadOf(values);
    }
    merged.fairness = figures;
  }
  // Rows of round trips (latency; fairness's request/response): every round trip of the samples pooled.
  if (first.roundTrips !== null) Object.assign(merged, pooledLatency(samples));
  if (first.suite === 'latency') {
    // The chart shows one real distribution: the sample whose p50 is the median's.
    const typical = samples.reduce((best, r) => (Math.abs(r.p50us! - merged.p50us!) < Math.abs(best.p50us! - merged.p50us!) ? r : best));
    merged.distribution = typical.distribution;
  }
  return merged;
}

/** One row per case and system, in the order of their first appearance; ratios paired within rounds. */
export function mergeRounds(rounds: ResultRow[][]): ResultRow[] {
  const byKey = new Map<string, ResultRow[]>();
  for (const round of rounds) {
    fillRatios(round);
    for (const r of round) {
      const k = key(r);
      const list = byKey.get(k);
      if (list === undefined) byKey.set(k, [r]);
      else list.push(r);
    }
  }
  return [...byKey.values()].map(mergeOne);
}
