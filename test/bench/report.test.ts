/**
 * `--report` renders in a real browser: headless Chromium opens the page
 * (file://, no network) and its script draws every chart as SVG. CI installs
 * the Debian `chromium` package (.ci/run); without it this test is skipped
 * and says how to install it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
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

function dumpDom(browser: string, file: string, profile: string): Promise<string> {
  const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', `--user-data-dir=${profile}`, '--virtual-time-budget=5000', '--dump-dom', pathToFileURL(file).href];
  return new Promise((resolve, reject) => {
    execFile(browser, args, { timeout: 60_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

describe.skipIf(chromium === undefined && !required)('bench --report in headless Chromium', () => {
  afterAll(removeTempDirs);
  it('draws the throughput, bandwidth, latency, scaling and fairness charts', async () => {
    const dir = tempDir();
    const file = join(dir, 'report.html');
    const r = await bench(['--suite', 'bandwidth,latency,all-to-all,fairness', '--size', '64', '--partitions', '3', '--duration', '0.05', '--report', file]);
    expect(r.code).toBe(0);
    const html = readFileSync(file, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|(src|href|url)\(?=?["']?https?:|import\(|fetch\(/); // self-contained
    if (chromium === undefined) throw new Error('CI needs Chromium for this test: apt-get install -y chromium (.ci/run does)');
    const dom = await dumpDom(chromium, file, join(dir, 'chromium-profile'));
    expect(dom).toMatch(/<body[^>]*data-charts-rendered="5"/);
    const charts = [...dom.matchAll(/<svg class="chart" data-chart="([\w-]+)"/g)].map((m) => m[1]);
    expect(charts).toEqual(['throughput', 'bandwidth', 'latency', 'scaling', 'fairness']);
    // Each chart holds data, not the "no data" placeholder: a line per system, a bar per fairness run.
    const series = (chart: string): string[] => {
      const svg = dom.slice(dom.indexOf(`data-chart="${chart}"`), dom.indexOf('</svg>', dom.indexOf(`data-chart="${chart}"`)));
      return [...svg.matchAll(/class="series"(?: data-series="([^"]+)")?/g)].map((m) => m[1] ?? 'bar');
    };
    expect(series('throughput')).toEqual(expect.arrayContaining(['lparlink', 'raw-relay', 'postMessage', 'comlink', 'piscina', 'lparlink per-message']));
    expect(series('latency')).toEqual(expect.arrayContaining(['lparlink', 'raw-ring', 'raw-relay', 'postMessage', 'comlink', 'piscina']));
    expect(series('scaling')).toEqual(['all-to-all']);
    expect(series('fairness')).toHaveLength(4); // stream and request-response, each alone and beside the flooder
    expect(dom).not.toMatch(/<text[^>]*class="empty"/); // no chart fell back to its "no data" placeholder
  }, 180_000);
});
