/**
 * `lparlink bench` end to end, with tiny durations: the JSON shape other
 * tools read, ratios on every lparlink row, the ring suite as before, the
 * argument checks, and --cpu-prof's one profile per named thread.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultRow } from '../../bench/results.js';
import { bench, removeTempDirs, tempDir } from './helpers.js';

const SYSTEMS = ['lparlink', 'raw-relay', 'raw-ring', 'postMessage', 'comlink', 'piscina'];

type Row = ResultRow;

describe('lparlink bench', () => {
  let json: { machine: Record<string, unknown>; command: string; results: Row[] };
  let stdout = '';
  const dir = tempDir();

  beforeAll(async () => {
    const r = await bench(['--suite', 'all', '--size', '64', '--partitions', '3', '--duration', '0.05', '--json', join(dir, 'b.json'), '--report', join(dir, 'b.html')]);
    stdout = r.stdout;
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    json = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
  }, 180_000);
  afterAll(removeTempDirs);

  it('writes { machine, results } with every row in the documented shape', () => {
    expect(json.machine).toMatchObject({ cores: expect.any(Number), cpuModel: expect.any(String), node: process.version, wait: 'adaptive' });
    expect(json.results.length).toBeGreaterThanOrEqual(15);
    for (const r of json.results) {
      expect(SYSTEMS).toContain(r.system);
      expect(typeof r.suite).toBe('string');
      expect(r.payloadBytes).toBe(64);
      for (const k of ['msgsPerSec', 'mbPerSec', 'p50us', 'p99us'] as const) {
        expect(r[k] === null || (typeof r[k] === 'number' && r[k]! > 0)).toBe(true);
      }
    }
    const suites = new Set(json.results.map((r) => r.suite));
    expect([...suites].sort()).toEqual(['all-to-all', 'bandwidth', 'fairness', 'fan-in', 'latency', 'micro']);
    // Every baseline ran in the same run.
    expect(new Set(json.results.map((r) => r.system))).toEqual(new Set(SYSTEMS));
  });

  it('gives every lparlink row its ratio to the raw relay and to postMessage', () => {
    const ours = json.results.filter((r) => r.system === 'lparlink');
    expect(ours.length).toBeGreaterThanOrEqual(9);
    for (const r of ours) {
      expect(r.vsRawRelay).toBeGreaterThan(0);
      // Single-thread (micro) rows compare with the relay's same stages only.
      if (r.suite === 'micro') expect(r.vsPostMessage).toBeNull();
      else expect(r.vsPostMessage).toBeGreaterThan(0);
    }
    const lat = json.results.filter((r) => r.suite === 'latency');
    for (const r of lat) expect(r.p50us! <= r.p99us! && r.p99us! <= r.p999us!).toBe(true);
  });

  it('prints the machine and a table', () => {
    expect(stdout).toMatch(/^machine: \d+ cores, .+, Node v\d+/m);
    expect(stdout).toMatch(/bandwidth\s+lparlink\s+batched\s+64\s+2\s+\S+/);
    expect(stdout).toMatch(/×relay\s+×postMsg/);
    expect(existsSync(join(dir, 'b.html'))).toBe(true);
  });

  it('keeps --suite ring: its own table, and its report under "ring" in the JSON', async () => {
    const r = await bench(['--suite', 'ring', '--duration', '0.05', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ring.cases.map((c: { name: string }) => c.name)).toEqual(['postMessage', 'ring per-record', 'ring batched']);
    expect(out.results.map((x: Row) => x.system)).toEqual(['postMessage', 'raw-ring', 'raw-ring']);
    const table = await bench(['--suite', 'ring', '--duration', '0.05']);
    expect(table.stdout).toMatch(/^ring: one-way, 64-byte messages/m);
  }, 60_000);

  it('rejects bad arguments with exit code 2 and says what was wrong', async () => {
    for (const [args, why] of [
      [['--suite', 'nope'], /unknown suite 'nope'/],
      [['--wait', 'busy'], /--wait must be one of spin, sleep, adaptive/],
      [['--size', '3'], /--size takes byte counts/],
      [['--size', '128K'], /--size takes byte counts/],
      [['--partitions', '1'], /--partitions must be an integer from 2 to 64/],
      [['--duration', '0'], /--duration must be a positive number/],
    ] as const) {
      const r = await bench([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
    }
    const help = await bench(['--help']);
    expect(help.code).toBe(0);
    for (const suite of ['bandwidth', 'latency', 'all-to-all', 'fan-in', 'fairness', 'ring']) expect(help.stdout).toContain(suite);
  }, 60_000);

  it('--cpu-prof writes one .cpuprofile per thread and names them: main, hardware-0, partition-N', async () => {
    const prof = tempDir();
    const r = await bench(['--suite', 'fan-in', '--partitions', '3', '--size', '64', '--duration', '0.05', '--cpu-prof', prof]);
    expect(r.code).toBe(0);
    const map = JSON.parse(readFileSync(join(prof, 'threads.json'), 'utf8')) as { threads: Array<{ file: string; threadId: number; name: string }> };
    const names = map.threads.map((t) => t.name).sort();
    expect(names).toEqual(['hardware-0', 'main', 'partition-1', 'partition-2', 'partition-3']);
    expect(new Set(map.threads.map((t) => t.threadId)).size).toBe(map.threads.length);
    for (const t of map.threads) {
      const p = JSON.parse(readFileSync(join(prof, t.file), 'utf8'));
      expect(p.nodes.length).toBeGreaterThan(0);
      expect(p.samples.length).toBeGreaterThan(0);
    }
    expect(r.stdout).toMatch(/hardware-0\s+fan-in-3\s+CPU\..+\.cpuprofile/);
  }, 90_000);
});
