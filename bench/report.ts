/**
 * `--report FILE`: one self-contained HTML page (no network, no CDN). The
 * results are embedded as JSON and an inline script draws the charts as SVG:
 * throughput against payload size, the round-trip latency distribution,
 * scaling with partitions, and fairness beside a flooder. Once drawn, the
 * page sets `data-charts-rendered` on <body> to the number of charts, which
 * the report test reads back from headless Chromium.
 */
import type { BenchJson, ResultRow } from './results.js';

/** JSON that is safe inside a <script> element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 12px; }
td, th { padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }
td:first-child, th:first-child, td:nth-child(2), td:nth-child(3) { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; max-width: 520px; }
svg.chart { background: #fff; border: 1px solid #ccc; }
.axis text, .legend text { font-size: 11px; fill: #333; }
.grid line { stroke: #eee; }
.empty { fill: #999; font-size: 13px; }
code { background: #f4f4f4; padding: 1px 4px; }
`;

/** The drawing code, run in the browser. Kept dependency-free on purpose. */
const SCRIPT = String.raw`
const data = JSON.parse(document.getElementById('bench-data').textContent);
const COLORS = { lparlink: '#d62728', 'raw-relay': '#1f77b4', 'raw-ring': '#17becf', postMessage: '#2ca02c', comlink: '#9467bd', piscina: '#ff7f0e' };
const NS = 'http://www.w3.org/2000/svg';
function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}
function fmt(v) {
  if (v >= 1e9) return (v / 1e9).toPrecision(3) + 'G';
  if (v >= 1e6) return (v / 1e6).toPrecision(3) + 'M';
  if (v >= 1e3) return (v / 1e3).toPrecision(3) + 'k';
  if (v >= 1) return v.toPrecision(3);
  return v.toPrecision(2);
}
function bytes(v) { return v >= 1024 ? (v / 1024) + ' KiB' : v + ' B'; }
/** A line chart: series [{ name, color, dash, points: [[x, y]] }]. */
function lineChart(host, { id, title, xLabel, yLabel, series, xLog, yLog, xFormat, xTicks, caption }) {
  const W = 540, H = 320, L = 64, R = 170, T = 28, B = 44;
  const fig = document.createElement('figure');
  const svg = el('svg', { class: 'chart', 'data-chart': id, width: W, height: H, viewBox: '0 0 ' + W + ' ' + H }, fig);
  el('text', { x: L, y: 18, 'font-weight': 'bold', 'font-size': 13 }, svg).textContent = title;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!yLog || y > 0) && (!xLog || x > 0));
  if (pts.length === 0) {
    el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, svg).textContent = 'no data in this run';
    host.appendChild(fig);
    return fig;
  }
  const tx = (v) => (xLog ? Math.log10(v) : v), ty = (v) => (yLog ? Math.log10(v) : v);
  let x0 = Math.min(...pts.map((p) => tx(p[0]))), x1 = Math.max(...pts.map((p) => tx(p[0])));
  let y0 = Math.min(...pts.map((p) => ty(p[1]))), y1 = Math.max(...pts.map((p) => ty(p[1])));
  if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
  if (y0 === y1) { y0 -= 0.5; y1 += 0.5; }
  if (yLog) { y0 = Math.floor(y0); y1 = Math.ceil(y1); } else { y0 = Math.min(0, y0); y1 = y1 * 1.1; }
  const sx = (v) => L + ((tx(v) - x0) / (x1 - x0)) * (W - L - R), sy = (v) => H - B - ((ty(v) - y0) / (y1 - y0)) * (H - T - B);
  const grid = el('g', { class: 'grid' }, svg), axis = el('g', { class: 'axis' }, svg);
  const yTicks = yLog ? Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i)) : Array.from({ length: 6 }, (_, i) => y0 + ((y1 - y0) * i) / 5);
  for (const v of yTicks) {
    el('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v) }, grid);
    el('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end' }, axis).textContent = fmt(v);
  }
  const xs = xTicks || [...new Set(pts.map((p) => p[0]))].sort((a, b) => a - b);
  for (const v of xs) el('text', { x: sx(v), y: H - B + 16, 'text-anchor': 'middle' }, axis).textContent = xFormat ? xFormat(v) : fmt(v);
  el('line', { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: '#333' }, axis);
  el('line', { x1: L, x2: L, y1: T, y2: H - B, stroke: '#333' }, axis);
  el('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle' }, axis).textContent = xLabel;
  el('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: 'rotate(-90 14 ' + (T + H - B) / 2 + ')' }, axis).textContent = yLabel;
  const legend = el('g', { class: 'legend' }, svg);
  series.forEach((s, i) => {
    const p = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!yLog || y > 0) && (!xLog || x > 0)).sort((a, b) => a[0] - b[0]);
    if (p.length === 0) return;
    el('path', { class: 'series', 'data-series': s.name, d: p.map(([x, y], k) => (k ? 'L' : 'M') + sx(x).toFixed(1) + ' ' + sy(y).toFixed(1)).join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash || '' }, svg);
    for (const [x, y] of p) el('circle', { cx: sx(x), cy: sy(y), r: 3, fill: s.color }, svg).appendChild(el('title', {})).textContent = s.name + ': ' + fmt(y);
    const ly = T + 8 + i * 16;
    el('line', { x1: W - R + 10, x2: W - R + 30, y1: ly, y2: ly, stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash || '' }, legend);
    el('text', { x: W - R + 34, y: ly + 4 }, legend).textContent = s.name;
  });
  if (caption) fig.appendChild(Object.assign(document.createElement('figcaption'), { textContent: caption }));
  host.appendChild(fig);
  return fig;
}
function bars(host, { id, title, yLabel, items, caption }) {
  const W = 520, H = 320, L = 64, T = 28, B = 60;
  const fig = document.createElement('figure');
  const svg = el('svg', { class: 'chart', 'data-chart': id, width: W, height: H, viewBox: '0 0 ' + W + ' ' + H }, fig);
  el('text', { x: L, y: 18, 'font-weight': 'bold', 'font-size': 13 }, svg).textContent = title;
  if (items.length === 0) {
    el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, svg).textContent = 'no data in this run';
  } else {
    const max = Math.max(...items.map((i) => i.value)) * 1.15;
    const bw = (W - L - 20) / items.length;
    const axis = el('g', { class: 'axis' }, svg);
    items.forEach((it, k) => {
      const h = ((H - T - B) * it.value) / max;
      const x = L + k * bw + bw * 0.15;
      el('rect', { class: 'series', x, y: H - B - h, width: bw * 0.7, height: h, fill: it.color }, svg);
      el('text', { x: x + bw * 0.35, y: H - B - h - 4, 'text-anchor': 'middle' }, axis).textContent = fmt(it.value);
      el('text', { x: x + bw * 0.35, y: H - B + 16, 'text-anchor': 'middle' }, axis).textContent = it.label;
    });
    el('line', { x1: L, x2: W - 20, y1: H - B, y2: H - B, stroke: '#333' }, axis);
    el('text', { x: 14, y: (T + H - B) / 2, 'text-anchor': 'middle', transform: 'rotate(-90 14 ' + (T + H - B) / 2 + ')' }, axis).textContent = yLabel;
  }
  if (caption) fig.appendChild(Object.assign(document.createElement('figcaption'), { textContent: caption }));
  host.appendChild(fig);
  return fig;
}
const rows = data.results;
const host = document.getElementById('charts');
const bySystem = (pred) => {
  const m = new Map();
  for (const r of rows.filter(pred)) {
    const key = r.system + (r.variant === 'per-message' && (r.system === 'lparlink' || r.system.startsWith('raw')) ? ' per-message' : '');
    if (!m.has(key)) m.set(key, { name: key, color: COLORS[r.system] || '#555', dash: key.endsWith('per-message') ? '5 3' : '', points: [] });
    m.get(key).points.push(r);
  }
  return [...m.values()];
};
const bw = (r) => r.suite === 'bandwidth' && r.msgsPerSec != null;
let drawn = 0;
lineChart(host, { id: 'throughput', title: 'One-way throughput vs payload', xLabel: 'payload (bytes)', yLabel: 'messages / s', xLog: true, yLog: true, xFormat: bytes,
  series: bySystem(bw).map((s) => ({ ...s, points: s.points.map((r) => [r.payloadBytes, r.msgsPerSec]) })),
  caption: 'Solid: batched (lparlink sendBatch + zero-copy drain; raw rings publish every 32 records) or one message per post/call. Dashed: one publish per message.' }); drawn++;
lineChart(host, { id: 'bandwidth', title: 'One-way bandwidth vs payload', xLabel: 'payload (bytes)', yLabel: 'MB / s', xLog: true, yLog: true, xFormat: bytes,
  series: bySystem(bw).map((s) => ({ ...s, points: s.points.map((r) => [r.payloadBytes, r.mbPerSec]) })) }); drawn++;
const lat = rows.filter((r) => r.suite === 'latency' && r.distribution);
const latSize = lat.length ? Math.min(...lat.map((r) => r.payloadBytes)) : 0;
lineChart(host, { id: 'latency', title: 'Round-trip latency distribution (' + bytes(latSize) + ')', xLabel: 'percentile', yLabel: 'µs', xLog: true, yLog: true,
  xFormat: (v) => String(+(100 - 100 / v).toPrecision(4)),
  series: lat.filter((r) => r.payloadBytes === latSize).map((r) => ({ name: r.system, color: COLORS[r.system] || '#555', points: r.distribution.filter(([p]) => p >= 25 && p < 100).map(([p, us]) => [100 / (100 - p), us]) })),
  xTicks: [2, 10, 100, 1000, 10000],
  caption: 'x: percentile on a "nines" scale (50, 90, 99, 99.9 …); y: round-trip time, one message in flight.' });
drawn++;
const scale = rows.filter((r) => (r.suite === 'all-to-all' || r.suite === 'fan-in') && r.partitions != null);
lineChart(host, { id: 'scaling', title: 'Scaling with partitions', xLabel: 'partitions', yLabel: 'messages / s (all receivers)', yLog: false, xFormat: (v) => String(v),
  series: ['all-to-all', 'fan-in'].map((suite, i) => ({ name: suite, color: ['#d62728', '#8c564b'][i], points: scale.filter((r) => r.suite === suite).map((r) => [r.partitions, r.msgsPerSec]) })).filter((s) => s.points.length) }); drawn++;
const fair = rows.filter((r) => r.suite === 'fairness' && (r.variant.endsWith(' alone') || r.variant.endsWith(' beside flooder')));
const short = (v) => v.replace('request-response', 'req/resp').replace('beside flooder', '+ flooder');
const judged = fair.filter((r) => r.fairness).map((r) => {
  const f = r.fairness;
  const kind = r.variant.replace(/ beside flooder$/, '');
  return f.jainIndex != null
    ? kind + ": Jain's index " + f.jainIndex.toFixed(2) + ' (target ≥ 0.95), share ' + f.share.toFixed(2) + ' against an equal share of ' + f.equalShare.toFixed(2)
    : kind + ': kept ' + f.keptOfAlone.toFixed(2) + ' of its alone rate (target ≥ 0.8)';
});
bars(host, { id: 'fairness', title: 'Honest pairs alone and beside a flooder', yLabel: 'messages or round trips / s', items: fair.map((r) => ({ label: short(r.variant), value: r.msgsPerSec, color: r.variant.endsWith('alone') ? '#1f77b4' : '#d62728' })),
  caption: judged.join('; ') }); drawn++;
document.body.setAttribute('data-charts-rendered', String(drawn));
`;

function table(json: BenchJson): string {
  const head = ['suite', 'system', 'variant', 'payload', 'partitions', 'samples', 'msgs/s', 'msgs/s min–max', 'MB/s', 'min µs', 'mean µs', 'stdev µs', 'p50 µs', 'p99 µs', 'p99.9 µs', 'max µs', '× raw relay', '× postMessage', "Jain's index"];
  const n = (v: number | null | undefined, d = 2): string => (v === null || v === undefined ? '' : v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(d));
  const range = (r: ResultRow): string => {
    const s = r.spread.msgsPerSec;
    return s === undefined || s.values.length < 2 ? '' : `${n(s.min, 0)}–${n(s.max, 0)}`;
  };
  const body = json.results
    .map((r) =>
      [r.suite, r.system, r.variant, String(r.payloadBytes), r.partitions === null ? '' : String(r.partitions), String(r.samples), n(r.msgsPerSec, 0), range(r), n(r.mbPerSec, 1),
        n(r.minUs), n(r.meanUs), n(r.stdevUs), n(r.p50us), n(r.p99us), n(r.p999us), n(r.maxUs), n(r.vsRawRelay), n(r.vsPostMessage), n(r.fairness?.jainIndex)]
        .map((c) => `<td>${escapeHtml(c)}</td>`)
        .join(''),
    )
    .map((cells) => `<tr>${cells}</tr>`)
    .join('\n');
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

export function renderReport(json: BenchJson): string {
  const m = json.machine;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lparlink bench — ${escapeHtml(m.date)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>lparlink bench</h1>
<p><code>${escapeHtml(json.command)}</code></p>
<p>${m.cores} cores (${escapeHtml(m.cpuModel)}), Node ${escapeHtml(m.node)}, ${escapeHtml(m.platform)}/${escapeHtml(m.arch)}, ${m.memoryGiB} GiB;
load average at start ${m.loadAverage.join(' / ')}, at end ${(m.loadAverageAtEnd ?? []).join(' / ')}; wait mode <b>${escapeHtml(m.wait)}</b>;
${m.samples} sample(s) of ${+m.secondsPerSample.toFixed(3)} s per case; ${escapeHtml(m.date)}.
Each figure is the median of its samples. Ratios pair lparlink with the baseline of the same shape measured in the same round;
all-to-all, fan-in and fairness have no baseline of their shape.</p>
<h2>Charts</h2>
<div id="charts" class="charts"></div>
<h2>Results</h2>
${table(json)}
<script id="bench-data" type="application/json">${scriptJson(json)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
