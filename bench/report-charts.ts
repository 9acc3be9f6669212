/**
 * What the report draws, decided here from the results rather than in the
 * page: each chart's x values and one column of y values per series, aligned
 * as uPlot wants them (null where a series has no point). A chart with no
 * point is left out, so the page only shows charts that have data.
 */
import type { BenchJson, ResultRow } from './results.js';

/** How the page labels an axis's values. */
export type AxisFormat = 'bytes' | 'count' | 'si' | 'nines' | 'fraction' | 'categories';

export interface ChartAxis {
  label: string;
  format: AxisFormat;
  /** Logarithmic with this base, else linear. */
  log?: 2 | 10;
  /** A fixed range; otherwise uPlot fits the data. */
  range?: [number, number];
  /** Ticks at exactly these values (the payload sizes measured, the percentiles worth reading). */
  ticks?: number[];
  /** format 'categories': the label of x = 0, 1, 2, … */
  categories?: string[];
}

export interface ChartSeries {
  label: string;
  color: string;
  dash?: number[];
  style: 'line' | 'bars' | 'points';
  /** One value per x; null where this series was not measured. */
  values: Array<number | null>;
}

export interface ChartSpec {
  id: string;
  title: string;
  caption: string;
  x: ChartAxis;
  y: ChartAxis;
  xs: number[];
  series: ChartSeries[];
}

/** One colour per series, so the page's pixel check can tell a drawn series from the axes. */
const COLORS: Record<string, string> = {
  lparlink: '#d62728',
  'lparlink per-message': '#ff9896',
  'raw-relay': '#1f77b4',
  'raw-relay per-message': '#aec7e8',
  'raw-ring': '#17becf',
  'raw-ring per-message': '#9edae5',
  'lparlink round-trip blocking': '#ff9896',
  postMessage: '#2ca02c',
  comlink: '#9467bd',
  piscina: '#ff7f0e',
  'all-to-all': '#8c564b',
  'fan-in': '#e377c2',
};
const FALLBACK_COLORS = ['#7f7f7f', '#bcbd22', '#393b79', '#637939', '#8c6d31', '#843c39'];

function colorOf(label: string, used: Set<string>): string {
  const c = COLORS[label] ?? FALLBACK_COLORS.find((f) => !used.has(f)) ?? '#000000';
  used.add(c);
  return c;
}

/** A system's other variants (per message, blocking) dashed beside its usual one. */
const dashOf = (label: string): number[] | undefined => (label.includes(' ') ? [6, 4] : undefined);

const isPositive = (v: number | null | undefined): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Group rows into series by `key`, one value per x from `xOf`, `yOf`; rows without a positive y are skipped. */
function lineSeries(
  rows: readonly ResultRow[],
  key: (r: ResultRow) => string,
  xOf: (r: ResultRow) => number,
  yOf: (r: ResultRow) => number | null,
): { xs: number[]; series: ChartSeries[] } {
  const kept = rows.filter((r) => isPositive(yOf(r)));
  const xs = [...new Set(kept.map(xOf))].sort((a, b) => a - b);
  const used = new Set<string>();
  const series: ChartSeries[] = [];
  for (const label of [...new Set(kept.map(key))]) {
    const values = xs.map((x) => {
      const r = kept.find((k) => key(k) === label && xOf(k) === x);
      return r === undefined ? null : yOf(r);
    });
    series.push({ label, color: colorOf(label, used), dash: dashOf(label), style: 'line', values });
  }
  return { xs, series };
}

/**
 * A series per system and variant: the system's name alone when it ran one
 * variant, else with the variant after it (batched, the usual way to drive
 * the rings, stays unnamed): `lparlink`, `lparlink per-message`, `lparlink round-trip blocking`.
 */
function bySystemAndVariant(rows: readonly ResultRow[]): (r: ResultRow) => string {
  const unnamed = new Map<string, string>();
  for (const r of rows) if (!unnamed.has(r.system) || r.variant === 'batched') unnamed.set(r.system, r.variant);
  return (r) => (r.variant === unnamed.get(r.system) ? r.system : `${r.system} ${r.variant}`);
}

function payloadAxis(xs: number[]): ChartAxis {
  return { label: 'payload', format: 'bytes', log: 2, ticks: xs, range: [xs[0] / 1.5, xs[xs.length - 1] * 1.5] };
}

function throughputCharts(rows: readonly ResultRow[]): ChartSpec[] {
  const bw = rows.filter((r) => r.suite === 'bandwidth' && isPositive(r.msgsPerSec));
  if (bw.length === 0) return [];
  const caption =
    'Solid: batched (lparlink sendBatch of 32 and zero-copy drain; the raw rings publish every 32 records) or one message per post, call or task. Dashed: one publish per message. Median of the samples.';
  const key = bySystemAndVariant(bw);
  const msgs = lineSeries(bw, key, (r) => r.payloadBytes, (r) => r.msgsPerSec);
  const mb = lineSeries(bw, key, (r) => r.payloadBytes, (r) => r.mbPerSec);
  return [
    { id: 'throughput', title: 'One-way throughput against payload', caption, x: payloadAxis(msgs.xs), y: { label: 'messages / s', format: 'si', log: 10 }, ...msgs },
    { id: 'bandwidth', title: 'One-way bandwidth against payload', caption, x: payloadAxis(mb.xs), y: { label: 'MB / s', format: 'si', log: 10 }, ...mb },
  ];
}

/** Percentiles on a "nines" axis: x = 100 / (100 − p), so 50 → 2, 99 → 100, 99.9 → 1000. */
const nines = (p: number): number => 100 / (100 - p);

function latencyChart(rows: readonly ResultRow[]): ChartSpec[] {
  const lat = rows.filter((r) => r.suite === 'latency' && r.distribution !== undefined && r.distribution.length > 0);
  if (lat.length === 0) return [];
  const size = Math.min(...lat.map((r) => r.payloadBytes));
  const shown = lat.filter((r) => r.payloadBytes === size);
  const key = bySystemAndVariant(shown);
  const points = shown.flatMap((r) => r.distribution!.filter(([p]) => p >= 25 && p < 100).map(([p, us]) => ({ label: key(r), x: nines(p), us })));
  const xs = [...new Set(points.map((p) => p.x))].sort((a, b) => a - b);
  const used = new Set<string>();
  const series: ChartSeries[] = [...new Set(points.map((p) => p.label))].map((label) => ({
    label,
    color: colorOf(label, used),
    dash: dashOf(label),
    style: 'line',
    values: xs.map((x) => points.find((p) => p.label === label && p.x === x)?.us ?? null),
  }));
  return [
    {
      id: 'latency',
      title: `Round-trip latency distribution, ${size} B`,
      caption: 'x: percentile on a "nines" scale (50, 90, 99, 99.9 …); y: round-trip time with one message in flight, from the sample with the median p50.',
      x: { label: 'percentile', format: 'nines', log: 10, ticks: [50, 90, 99, 99.9, 99.99].map(nines) },
      y: { label: 'µs', format: 'si', log: 10 },
      xs,
      series,
    },
  ];
}

/** p50 against payload, once the run measured round trips at more than one size. */
function latencyBySizeChart(rows: readonly ResultRow[]): ChartSpec[] {
  const lat = rows.filter((r) => r.suite === 'latency' && isPositive(r.p50us));
  if (new Set(lat.map((r) => r.payloadBytes)).size < 2) return [];
  const { xs, series } = lineSeries(lat, bySystemAndVariant(lat), (r) => r.payloadBytes, (r) => r.p50us);
  return [
    {
      id: 'latency-by-size',
      title: 'Round-trip p50 against payload',
      caption: 'Median round trip, one message in flight; each point the median of its samples (the latency table gives their range).',
      x: payloadAxis(xs),
      y: { label: 'µs', format: 'si', log: 10 },
      xs,
      series,
    },
  ];
}

function scalingChart(rows: readonly ResultRow[]): ChartSpec[] {
  const multi = rows.filter((r) => (r.suite === 'all-to-all' || r.suite === 'fan-in') && r.partitions !== null && isPositive(r.msgsPerSec));
  if (multi.length === 0) return [];
  // One payload: the smallest measured, so every point is the same shape.
  const size = Math.min(...multi.map((r) => r.payloadBytes));
  const { xs, series } = lineSeries(multi.filter((r) => r.payloadBytes === size), (r) => r.suite, (r) => r.partitions!, (r) => r.msgsPerSec);
  return [
    {
      id: 'scaling',
      title: `Scaling with partitions, ${size} B`,
      caption: 'Messages per second delivered to all receivers together. All-to-all: every partition streams to every other one; fan-in: every other partition streams to one.',
      x: { label: 'partitions', format: 'count', ticks: xs, range: [xs[0] - 0.5, xs[xs.length - 1] + 0.5] },
      y: { label: 'messages / s', format: 'si', range: [0, Math.max(0, ...series.flatMap((s) => s.values.filter(isPositive))) * 1.15] },
      xs,
      series,
    },
  ];
}

/**
 * Fairness as fractions on one axis, never raw rates side by side: each honest
 * kind's rate beside the flooder as a share of its rate alone, and for streams
 * their share of what was delivered and Jain's index; the targets as markers.
 */
function fairnessChart(rows: readonly ResultRow[]): ChartSpec[] {
  const categories: string[] = [];
  const measured: Array<number | null> = [];
  const targets: Array<number | null> = [];
  const add = (label: string, value: number | null, target: number | null): void => {
    if (value === null || !Number.isFinite(value)) return;
    categories.push(label);
    measured.push(value);
    targets.push(target);
  };
  const judged = rows.filter((x) => x.suite === 'fairness' && x.fairness !== null);
  const sizes = new Set(judged.map((r) => r.payloadBytes));
  for (const r of judged) {
    const f = r.fairness!;
    const kind = (sizes.size > 1 ? `${r.payloadBytes} B ` : '') + r.variant.replace(/ beside flooder$/, '').replace('request-response', 'req/resp');
    if (f.jainIndex !== null) {
      add(`${kind} kept`, f.keptOfAlone, null);
      add(`${kind} share`, f.share, f.equalShare);
      add(`${kind} Jain`, f.jainIndex, 0.95);
    } else {
      add(`${kind} kept`, f.keptOfAlone, 0.8);
    }
  }
  const top = Math.max(1, ...measured.filter(isPositive)) * 1.1;
  return [
    {
      id: 'fairness',
      title: 'Fairness beside a flooder',
      caption:
        "Bars: kept (of alone) is the honest pairs' rate beside the flooder over their rate alone; share is the honest streams' fraction of all messages delivered while every sender was backlogged; Jain's index is over every sender's rate. Markers: the target (Jain's index ≥ 0.95 for streams, kept of alone ≥ 0.8 for request/response) or, for share, the equal share.",
      x: { label: 'figure', format: 'categories', categories, range: [-0.5, categories.length - 0.5], ticks: categories.map((_, i) => i) },
      y: { label: 'fraction', format: 'fraction', range: [0, top] },
      xs: categories.map((_, i) => i),
      series: [
        { label: 'measured', color: '#1f77b4', style: 'bars', values: measured },
        { label: 'target or equal share', color: '#d62728', style: 'points', values: targets },
      ],
    },
  ];
}

/** Every chart the results have data for, in page order. */
export function chartSpecs(json: BenchJson): ChartSpec[] {
  const rows = json.results;
  return [...throughputCharts(rows), ...latencyChart(rows), ...latencyBySizeChart(rows), ...scalingChart(rows), ...fairnessChart(rows)].filter((c) =>
    c.series.some((s) => s.values.some((v) => v !== null)),
  );
}

/** The charts a report can hold, by id, for saying which this run left out. */
export const CHART_NAMES: Readonly<Record<string, string>> = {
  throughput: 'throughput',
  bandwidth: 'bandwidth',
  latency: 'latency distribution',
  'latency-by-size': 'latency by payload (needs two sizes or more)',
  scaling: 'scaling with partitions',
  fairness: 'fairness',
};
