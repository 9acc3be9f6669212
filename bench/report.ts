/**
 * `--report FILE`: one self-contained HTML page (no network, no CDN). uPlot
 * (its script and stylesheet, read from node_modules when the report is
 * written) draws the charts report-charts.ts decides on; the page also shows
 * the lparlink version, the machine, the command, and one table per kind of
 * figure with every case's spread of samples. The results are embedded as
 * JSON too, for anyone who wants the numbers back out of the page.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CHART_NAMES, chartSpecs } from './report-charts.js';
import { DRAW_SCRIPT, ERROR_CAPTURE } from './report-page.js';
import type { BenchJson, ResultRow, SpreadField } from './results.js';

/** uPlot's browser build and stylesheet, resolved the way Node resolves the dependency (also from an installed lparlink). */
function uplotAssets(): { script: string; style: string } {
  const require = createRequire(import.meta.url);
  const read = (file: string): string => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8');
  const script = read('uPlot.iife.min.js');
  // Inlined in a <script> element, the text must not close it early.
  if (/<\/script/i.test(script)) throw new Error('uplot/dist/uPlot.iife.min.js contains "</script", so it cannot be inlined; pin another uplot version');
  return { script, style: read('uPlot.min.css') };
}

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; margin: 0 0 4px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }
td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
td.text, th.text { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 24px; }
figure { margin: 0; max-width: 560px; } figcaption { font-size: 12px; color: #555; }
code { background: #f4f4f4; padding: 1px 4px; }
.note { color: #555; }
.tables { overflow-x: auto; }
`;

const n = (v: number | null | undefined, digits = 2): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(digits);

/** min, median and max of a figure's samples (the median is the row's figure). */
function spreadCells(r: ResultRow, field: SpreadField, median: number | null, digits: number): string[] {
  const s = r.spread[field];
  return [n(s?.min ?? median, digits), n(median, digits), n(s?.max ?? median, digits)];
}

interface Column {
  head: string;
  text?: boolean;
}

function htmlTable(columns: Column[], rows: string[][]): string {
  const th = columns.map((c) => `<th${c.text === true ? ' class="text"' : ''}>${escapeHtml(c.head)}</th>`).join('');
  const body = rows
    .map((cells) => `<tr>${cells.map((cell, i) => `<td${columns[i].text === true ? ' class="text"' : ''}>${escapeHtml(cell)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const shape: Column[] = [{ head: 'suite', text: true }, { head: 'system', text: true }, { head: 'variant', text: true }, { head: 'payload B' }, { head: 'partitions' }, { head: 'samples' }];
const shapeCells = (r: ResultRow): string[] => [r.suite, r.system, r.variant, String(r.payloadBytes), r.partitions === null ? '' : String(r.partitions), String(r.samples)];

function throughputTable(rows: readonly ResultRow[]): string {
  const own = rows.filter((r) => r.msgsPerSec !== null && r.p50us === null && r.suite !== 'fairness');
  if (own.length === 0) return '';
  const columns: Column[] = [...shape, { head: 'msgs/s min' }, { head: 'msgs/s median' }, { head: 'msgs/s max' }, { head: 'MB/s' }, { head: '× raw relay' }, { head: '× postMessage' }, { head: '× raw TLS' }];
  return `<h2>Throughput</h2>\n${htmlTable(
    columns,
    own.map((r) => [...shapeCells(r), ...spreadCells(r, 'msgsPerSec', r.msgsPerSec, 0), n(r.mbPerSec, 1), n(r.vsRawRelay), n(r.vsPostMessage), n(r.vsRawTls)]),
  )}`;
}

function latencyTable(rows: readonly ResultRow[]): string {
  const own = rows.filter((r) => r.suite === 'latency');
  if (own.length === 0) return '';
  const columns: Column[] = [...shape, { head: 'round trips' }, { head: 'min µs' }, { head: 'mean µs' }, { head: 'stdev µs' }, { head: 'p50 µs min' }, { head: 'p50 µs median' }, { head: 'p50 µs max' }, { head: 'p99 µs' }, { head: 'p99.9 µs' }, { head: 'max µs' }, { head: '× raw relay' }, { head: '× postMessage' }];
  return `<h2>Round-trip latency</h2>\n${htmlTable(
    columns,
    own.map((r) => [...shapeCells(r), String(r.roundTrips ?? ''), n(r.minUs), n(r.meanUs), n(r.stdevUs), ...spreadCells(r, 'p50us', r.p50us, 2), n(r.p99us), n(r.p999us), n(r.maxUs), n(r.vsRawRelay), n(r.vsPostMessage)]),
  )}`;
}

function fairnessTable(rows: readonly ResultRow[]): string {
  const own = rows.filter((r) => r.suite === 'fairness');
  if (own.length === 0) return '';
  const columns: Column[] = [...shape, { head: 'msgs/s min' }, { head: 'msgs/s median' }, { head: 'msgs/s max' }, { head: 'round trip p50 µs' }, { head: 'p99 µs' }, { head: 'mean µs' }, { head: 'kept of alone' }, { head: 'share' }, { head: 'equal share' }, { head: "Jain's index" }, { head: 'target', text: true }];
  return `<h2>Fairness</h2>\n${htmlTable(
    columns,
    own.map((r) => {
      const f = r.fairness;
      return [...shapeCells(r), ...spreadCells(r, 'msgsPerSec', r.msgsPerSec, 0), n(r.p50us), n(r.p99us), n(r.meanUs), n(f?.keptOfAlone), n(f?.share), n(f?.equalShare), n(f?.jainIndex), f?.target ?? ''];
    }),
  )}`;
}

function facts(json: BenchJson): string {
  const m = json.machine;
  const items: Array<[string, string]> = [
    ['lparlink', json.version],
    ['command', json.command],
    ['machine', `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB (${m.freeMemoryGiB} GiB free at start), ${m.platform}/${m.arch}`],
    ['Node', `${m.node} (V8 ${m.v8})`],
    ['load average', `${m.loadAverage.join(' / ')} at start, ${(m.loadAverageAtEnd ?? []).join(' / ') || '—'} at end (1, 5, 15 min)`],
    ['samples', `${m.samples} of ${+m.secondsPerSample.toFixed(3)} s per case; wait mode ${m.wait}`],
    ['date', m.date],
  ];
  return `<dl class="facts">${items.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${k === 'command' ? `<code>${escapeHtml(v)}</code>` : escapeHtml(v)}</dd>`).join('')}</dl>`;
}

export function renderReport(json: BenchJson): string {
  const uplot = uplotAssets();
  const charts = chartSpecs(json);
  const missing = Object.keys(CHART_NAMES).filter((id) => !charts.some((c) => c.id === id)).map((id) => CHART_NAMES[id]);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<script>${ERROR_CAPTURE}</script>
<title>lparlink ${escapeHtml(json.version)} bench — ${escapeHtml(json.machine.date)}</title>
<style>${uplot.style}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>lparlink bench</h1>
${facts(json)}
<p class="note">Each figure is the median of its samples; the tables give every case's lowest, median and highest sample.
Ratios pair lparlink with the baseline of the same shape measured in the same round; all-to-all, fan-in and fairness have
no baseline of their shape. Hover a chart to read its values in the legend under it.</p>
<h2>Charts</h2>
${missing.length > 0 ? `<p class="note">No data in this run for: ${missing.join(', ')}.</p>` : ''}
<div id="charts" class="charts"></div>
<div class="tables">
${throughputTable(json.results)}
${latencyTable(json.results)}
${fairnessTable(json.results)}
</div>
<script id="bench-data" type="application/json">${scriptJson(json)}</script>
<script id="chart-data" type="application/json">${scriptJson(charts)}</script>
<script>${uplot.script}</script>
<script>${DRAW_SCRIPT}</script>
</body>
</html>
`;
}
