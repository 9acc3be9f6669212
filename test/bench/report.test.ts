/**
 * `--report` renders in a real browser: headless Chromium opens the page
 * (file://, no network), uPlot draws each chart, and the page records per
 * chart what it plotted (series, points, painted canvas pixels) and every
 * error it saw; --dump-dom hands that back. The expected series and points
 * come from the bench's own JSON, counted here, not from the page. CI
 * installs the Debian `chromium` package (.ci/run); without it this test is
 * skipped locally and says how to install it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../bench/report.js';
import type { BenchJson, ResultRow } from '../../bench/results.js';
import { bench, removeTempDirs, tempDir } from './helpers.js';

function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      // not this one
    }
  }
  return undefined;
}

const chromium = findChromium();
// Locally the browser check is optional; in CI (.ci/run installs Chromium) a missing browser is a failure, not a skip.
const required = process.env.CI === 'true';
if (chromium === undefined && !required) {
  console.warn('report.test: no Chromium found; skipping the browser check (install it with `apt-get install -y chromium`)');
}

function dumpDom(file: string, profile: string): Promise<string> {
  if (chromium === undefined) throw new Error('CI needs Chromium for this test: apt-get install -y chromium (.ci/run does)');
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=10000', '--dump-dom', pathToFileURL(file).href];
  return new Promise((resolve, reject) => {
    execFile(chromium, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

interface Expected {
  series: number;
  points: number;
}

/** What each chart must show, counted from the results the way the README describes the charts. */
function expectedCharts(results: readonly ResultRow[]): Record<string, Expected> {
  const out: Record<string, Expected> = {};
  const bw = results.filter((r) => r.suite === 'bandwidth' && r.msgsPerSec !== null);
  if (bw.length > 0) {
    const lines = { series: new Set(bw.map((r) => `${r.system}|${r.variant}`)).size, points: bw.length };
    out.throughput = lines;
    out.bandwidth = lines;
  }
  const lat = results.filter((r) => r.suite === 'latency' && r.distribution !== undefined);
  if (lat.length > 0) {
    const smallest = lat.filter((r) => r.payloadBytes === Math.min(...lat.map((x) => x.payloadBytes)));
    // Percentiles from p25 up to, not including, the maximum (p100 is infinitely far on a nines axis).
    out.latency = { series: smallest.length, points: smallest.reduce((n, r) => n + r.distribution!.filter(([p]) => p >= 25 && p < 100).length, 0) };
  }
  if (new Set(lat.map((r) => r.payloadBytes)).size > 1) {
    out['latency-by-size'] = { series: new Set(lat.map((r) => `${r.system}|${r.variant}`)).size, points: lat.length };
  }
  const multi = results.filter((r) => r.suite === 'all-to-all' || r.suite === 'fan-in');
  if (multi.length > 0) {
    const smallest = multi.filter((r) => r.payloadBytes === Math.min(...multi.map((x) => x.payloadBytes)));
    out.scaling = { series: new Set(smallest.map((r) => r.suite)).size, points: smallest.length };
  }
  const judged = results.filter((r) => r.suite === 'fairness' && r.fairness !== null);
  if (judged.length > 0) {
    // Streams: kept of alone, share and Jain's index, with the equal share and 0.95 as markers; request/response: kept of alone and 0.8.
    out.fairness = { series: 2, points: judged.reduce((n, r) => n + (r.fairness!.jainIndex !== null ? 5 : 2), 0) };
  }
  return out;
}

/** Everything wrong with a dumped report page; empty when it ran cleanly and drew `expected`. */
function reportProblems(dom: string, expected: Record<string, Expected>): string[] {
  const problems: string[] = [];
  const errors = /<html[^>]*\sdata-errors="([^"]*)"/.exec(dom);
  if (errors === null) problems.push('the error capture never ran (no data-errors on <html>)');
  else {
    const list = JSON.parse(errors[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as string[];
    for (const e of list) problems.push(`page error: ${e}`);
  }
  const rendered = /<body[^>]*\sdata-charts-rendered="(\d+)"/.exec(dom);
  const ids = Object.keys(expected);
  if (rendered === null) problems.push('the charts never finished (no data-charts-rendered on <body>)');
  else if (Number(rendered[1]) !== ids.length) problems.push(`${rendered[1]} charts rendered, expected ${ids.length}`);
  const figures = [...dom.matchAll(/<figure data-chart="([\w-]+)"(?: data-series="(\d+)" data-points="(\d+)" data-painted="(\d+)")?/g)];
  const drawnIds = figures.map((f) => f[1]);
  if (drawnIds.join() !== ids.join()) problems.push(`charts on the page: [${drawnIds.join(', ')}], expected [${ids.join(', ')}]`);
  for (const [, id, series, points, painted] of figures) {
    const want = expected[id];
    if (want === undefined) continue;
    if (series === undefined) {
      problems.push(`${id}: uPlot never drew it`);
      continue;
    }
    if (Number(series) !== want.series) problems.push(`${id}: ${series} series plotted, expected ${want.series}`);
    if (Number(points) !== want.points) problems.push(`${id}: ${points} points plotted, expected ${want.points}`);
    if (Number(painted) === 0) problems.push(`${id}: the canvas has no pixel in any series colour`);
  }
  return problems;
}

describe.skipIf(chromium === undefined && !required)('bench --report in headless Chromium', () => {
  const dir = tempDir();
  const file = join(dir, 'report.html');
  let json: BenchJson;
  let html = '';
  // The full report is opened once and read by the tests that look at it.
  let fullDom: Promise<string> | undefined;
  const openFull = (): Promise<string> => (fullDom ??= dumpDom(file, join(dir, 'chromium-full')));

  beforeAll(async () => {
    const r = await bench(['--suite', 'bandwidth,latency,all-to-all,fairness', '--size', '64', '1024', '--partitions', '3', '--duration', '0.05', '--report', file, '--json', join(dir, 'report.json')]);
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    json = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as BenchJson;
    html = readFileSync(file, 'utf8');
  }, 180_000);
  afterAll(removeTempDirs);

  it('draws throughput, bandwidth, latency (distribution and by payload), scaling and fairness with uPlot, every series and point, and no page error', async () => {
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|(src|href|url)\(?=?["']?https?:|import\(|fetch\(/); // self-contained
    expect(html).toContain('uPlot'); // the library is inlined, not fetched
    const expected = expectedCharts(json.results);
    expect(Object.keys(expected)).toEqual(['throughput', 'bandwidth', 'latency', 'latency-by-size', 'scaling', 'fairness']);
    expect(expected.throughput.points).toBe(20); // 10 systems and variants × 2 payloads: the count is not vacuous
    const dom = await openFull();
    expect(reportProblems(dom, expected)).toEqual([]);
    // uPlot built its axes and live legend (values on hover), one legend row per series.
    expect(dom.match(/class="u-legend/g)?.length).toBe(6);
  }, 90_000);

  it('shows the version, machine, command, and each case min / median / max in its table', async () => {
    const dom = await openFull();
    const m = json.machine;
    expect(dom).toContain(`<dt>lparlink</dt><dd>${json.version}</dd>`);
    expect(dom).toContain(`${m.cpuModel}, ${m.cores} cores`);
    expect(dom).toContain(`${m.node} (V8 ${m.v8})`);
    expect(dom).toMatch(/<dt>load average<\/dt><dd>[\d.]+ \/ [\d.]+ \/ [\d.]+ at start, [\d.]+ \/ [\d.]+ \/ [\d.]+ at end/);
    expect(dom).toContain(`<code>${json.command}</code>`);
    expect(json.command).toMatch(/^lparlink bench --suite bandwidth,latency/);
    expect(dom).toMatch(/<th>msgs\/s min<\/th><th>msgs\/s median<\/th><th>msgs\/s max<\/th>/);
    expect(dom).toMatch(/<th>p50 µs min<\/th><th>p50 µs median<\/th><th>p50 µs max<\/th>/);
    const row = json.results.find((r) => r.suite === 'bandwidth' && r.system === 'lparlink' && r.variant === 'batched' && r.payloadBytes === 64)!;
    const s = row.spread.msgsPerSec!;
    const cell = (v: number): string => Math.round(v).toLocaleString('en-US');
    expect(dom).toContain(`<td>${cell(s.min)}</td><td>${cell(row.msgsPerSec!)}</td><td>${cell(s.max)}</td>`);
  }, 90_000);

  it('shows only the charts a run has data for', async () => {
    const only = { ...json, results: json.results.filter((r) => r.suite === 'bandwidth') };
    const subset = join(dir, 'bandwidth-only.html');
    writeFileSync(subset, renderReport(only));
    const dom = await dumpDom(subset, join(dir, 'chromium-subset'));
    const expected = expectedCharts(only.results);
    expect(Object.keys(expected)).toEqual(['throughput', 'bandwidth']);
    expect(reportProblems(dom, expected)).toEqual([]);
    expect(dom).toContain('No data in this run for: latency distribution, latency by payload (needs two sizes or more), scaling with partitions, fairness.');
    expect(dom).not.toMatch(/<h2>Round-trip latency<\/h2>|<h2>Fairness<\/h2>/);
  }, 90_000);

  it('the check fails on a page whose chart data is broken: the parse error is caught and nothing is drawn', async () => {
    const start = html.indexOf('<script id="chart-data" type="application/json">');
    expect(start).toBeGreaterThan(0);
    const end = html.indexOf('</script>', start);
    const broken = join(dir, 'broken.html');
    writeFileSync(broken, `${html.slice(0, start)}<script id="chart-data" type="application/json">[{"id": "throughput", "xs": [64, ${html.slice(end)}`);
    const dom = await dumpDom(broken, join(dir, 'chromium-broken'));
    const problems = reportProblems(dom, expectedCharts(json.results));
    expect(problems).toContainEqual(expect.stringMatching(/^page error: error: .*JSON/));
    expect(problems).toContain('the charts never finished (no data-charts-rendered on <body>)');
  }, 90_000);
});
