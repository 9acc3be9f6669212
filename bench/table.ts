/**
 * The text table `lparlink bench` prints: one section per kind of figure
 * (throughput, latency as ib_send_lat prints it, fairness, CPU per message),
 * each figure the median of its samples with their range beside it.
 */
import type { BenchJson, ResultRow, SpreadField } from './results.js';

function si(v: number | null, digits = 2): string {
  if (v === null || !Number.isFinite(v)) return '';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(digits);
}

/** "min–max" of a figure's samples; empty with fewer than two. */
function range(r: ResultRow, field: SpreadField, show: (v: number) => string): string {
  const s = r.spread[field];
  return s === undefined || s.values.length < 2 ? '' : `${show(s.min)}–${show(s.max)}`;
}

/** "median (min–max)", or the median alone with one sample. */
function withRange(r: ResultRow, field: SpreadField, value: number, show: (v: number) => string, suffix = ''): string {
  const spread = range(r, field, show);
  return spread === '' ? `${show(value)}${suffix}` : `${show(value)}${suffix} (${spread})`;
}

const two = (v: number): string => v.toFixed(2);
const ratioCell = (r: ResultRow, field: 'vsRawRelay' | 'vsPostMessage' | 'vsRawTls'): string => {
  const v = r[field];
  return v === null ? '—' : withRange(r, field, v, two, '×');
};

/** system, variant, bytes, n: the cells single-shape rows (latency, micro) start with. */
const systemAndShape = (r: ResultRow): string[] => [r.system, r.variant, String(r.payloadBytes), String(r.samples)];

/** bytes, parts, n, msgs/s, range: the cells every multi-partition row starts with. */
function shapeAndRate(r: ResultRow): string[] {
  return [
    String(r.payloadBytes),
    r.partitions === null ? '' : String(r.partitions),
    String(r.samples),
    si(r.msgsPerSec, 0),
    range(r, 'msgsPerSec', (v) => si(v, 0)),
  ];
}

function grid(head: string[], rows: string[][], leftColumns: number): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

function throughput(rows: ResultRow[]): string[] {
  return grid(
    ['suite', 'system', 'variant', 'bytes', 'parts', 'n', 'msgs/s', 'range', 'MB/s', '×relay (range)', '×postMsg (range)'],
    rows.map((r) => [
      r.suite,
      r.system,
      r.variant,
      ...shapeAndRate(r),
      si(r.mbPerSec, 1),
      r.system === 'lparlink' ? ratioCell(r, 'vsRawRelay') : '',
      r.system === 'lparlink' ? ratioCell(r, 'vsPostMessage') : '',
    ]),
    3,
  );
}

function link(rows: ResultRow[]): string[] {
  return grid(
    ['system', 'variant', 'bytes', 'n', 'msgs/s', 'range', 'MB/s', '×raw TLS (range)'],
    rows.map((r) => [
      ...systemAndShape(r),
      si(r.msgsPerSec, 0),
      range(r, 'msgsPerSec', (v) => si(v, 0)),
      si(r.mbPerSec, 1),
      r.system === 'lparlink' ? ratioCell(r, 'vsRawTls') : '',
    ]),
    2,
  );
}

function latency(rows: ResultRow[]): string[] {
  const us = (v: number | null): string => si(v, 2);
  return grid(
    ['system', 'variant', 'bytes', 'n', 'round trips', 'min', 'mean', 'stdev', 'p50', 'p50 range', 'p99', 'p99.9', 'max', '×relay p50 (range)', '×postMsg p50'],
    rows.map((r) => [
      ...systemAndShape(r),
      r.roundTrips === null ? '' : String(r.roundTrips),
      us(r.minUs),
      us(r.meanUs),
      us(r.stdevUs),
      us(r.p50us),
      range(r, 'p50us', us),
      us(r.p99us),
      us(r.p999us),
      us(r.maxUs),
      r.system === 'lparlink' ? ratioCell(r, 'vsRawRelay') : '',
      r.system === 'lparlink' ? ratioCell(r, 'vsPostMessage') : '',
    ]),
    2,
  );
}

function fairness(rows: ResultRow[]): string[] {
  const figure = (r: ResultRow, field: 'keptOfAlone' | 'share' | 'jainIndex'): string => {
    const v = r.fairness?.[field];
    return v === null || v === undefined ? '' : withRange(r, field, v, two);
  };
  // Request/response rows: the typical pair's round trip, so a rate lost evenly reads apart from one lost to a tail.
  const us = (v: number | null): string => (v === null ? '' : si(v, 2));
  return grid(
    ['variant', 'bytes', 'parts', 'n', 'msgs/s', 'range', 'p50 µs', 'p99 µs', 'mean µs', 'kept of alone', 'share (equal share)', "Jain's index", 'judged by'],
    rows.map((r) => [
      r.variant,
      ...shapeAndRate(r),
      us(r.p50us),
      us(r.p99us),
      us(r.meanUs),
      figure(r, 'keptOfAlone'),
      r.fairness?.share == null ? '' : `${figure(r, 'share')} (${r.fairness.equalShare!.toFixed(2)})`,
      figure(r, 'jainIndex'),
      r.fairness?.target ?? '',
    ]),
    1,
  );
}

function micro(rows: ResultRow[]): string[] {
  const ns = (v: number): string => (1e9 / v).toFixed(0);
  return grid(
    ['system', 'variant', 'bytes', 'n', 'ns/msg', 'range', '×relay (range)'],
    rows.map((r) => [
      ...systemAndShape(r),
      r.msgsPerSec === null ? '' : ns(r.msgsPerSec),
      // Fewer messages per second is more time per message: the range flips.
      r.spread.msgsPerSec === undefined || r.samples < 2 ? '' : `${ns(r.spread.msgsPerSec.max)}–${ns(r.spread.msgsPerSec.min)}`,
      r.system === 'lparlink' ? ratioCell(r, 'vsRawRelay') : '',
    ]),
    2,
  );
}

export function formatTable(json: BenchJson): string {
  const m = json.machine;
  // The lifecycle suite alone: its boots are counted, not timed by --duration.
  const lifecycleOnly = json.results.length > 0 && json.results.every((r) => r.suite === 'lifecycle');
  const lines = [
    `machine: ${m.cores} cores, ${m.cpuModel}, Node ${m.node} (${m.platform}/${m.arch}), ${m.memoryGiB} GiB; ` +
      `load ${m.loadAverage.join(' ')} at start, ${m.loadAverageAtEnd?.join(' ') ?? '?'} at end; ` +
      (lifecycleOnly ? 'lifecycle: a fixed number of boots and closes' : `wait ${m.wait}; flooders demoted: ${m.demoteFlooders ?? '?'}; ${m.samples} sample(s) of ${+m.secondsPerSample.toFixed(3)} s per case`),
    'Figures are the median of the samples, "range" their min–max. Ratios pair lparlink with the baseline of the same shape',
    'measured in the same round; "—": the run has no baseline of that shape.',
  ];
  const sections: Array<[string, (r: ResultRow) => boolean, (rows: ResultRow[]) => string[]]> = [
    ['throughput', (r) => ['bandwidth', 'all-to-all', 'fan-in', 'ring'].includes(r.suite), throughput],
    ['round-trip latency, µs (as ib_send_lat)', (r) => r.suite === 'latency', latency],
    ['over the link: two nodes in two OS processes, TLS 1.3 on loopback', (r) => r.suite === 'link', link],
    ['fairness', (r) => r.suite === 'fairness', fairness],
    ['CPU per message, every stage in one thread (micro)', (r) => r.suite === 'micro', micro],
  ];
  for (const [title, wanted, format] of sections) {
    const rows = json.results.filter(wanted);
    if (rows.length > 0) lines.push('', `${title}:`, ...format(rows));
  }
  const notes = json.results.filter((r) => r.note).map((r) => `${r.suite}: ${r.note}`);
  if (notes.length > 0) lines.push('', ...notes);
  return `${lines.join('\n')}\n`;
}
