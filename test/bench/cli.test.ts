/**
 * `lparlink bench` end to end, with tiny durations: the JSON shape other
 * tools read, samples with their spread, ratios only against a baseline of
 * the same shape, latency as ib_send_lat prints it, the restated fairness
 * figures, the ring suite as before, the argument checks, and --cpu-prof's
 * one profile per named thread. Timing is never asserted, only the shape of
 * what was measured.
 */
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineInfo, ResultRow } from '../../bench/results.js';
import { bench, bin, removeTempDirs, tempDir } from './helpers.js';

/** A file in `dir` its owner may read but not write. */
function readOnlyFile(dir: string): string {
  const file = join(dir, 'ro.html');
  writeFileSync(file, '');
  chmodSync(file, 0o444);
  return file;
}

const SYSTEMS = ['lparlink', 'raw-relay', 'raw-ring', 'postMessage', 'comlink', 'piscina'];

type Row = ResultRow;

describe('lparlink bench', () => {
  let json: { machine: MachineInfo; command: string; results: Row[] };
  let stdout = '';
  const dir = tempDir();

  beforeAll(async () => {
    const r = await bench(['--suite', 'all', '--size', '64', '--partitions', '3', '--duration', '0.1', '--samples', '2', '--json', join(dir, 'b.json'), '--report', join(dir, 'b.html')]);
    stdout = r.stdout;
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    json = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
  }, 180_000);
  afterAll(removeTempDirs);

  it('writes { machine, results } with every row in the documented shape, each figure from 2 samples with every sample kept', () => {
    expect(json.machine).toMatchObject({ cores: expect.any(Number), cpuModel: expect.any(String), node: process.version, wait: 'adaptive', samples: 2, secondsPerSample: 0.05 });
    expect(json.machine.loadAverageAtEnd).toHaveLength(3);
    expect(json.results.length).toBeGreaterThanOrEqual(15);
    for (const r of json.results) {
      expect(SYSTEMS).toContain(r.system);
      expect(typeof r.suite).toBe('string');
      expect(r.payloadBytes).toBe(64);
      for (const k of ['msgsPerSec', 'mbPerSec', 'p50us', 'p99us'] as const) {
        expect(r[k] === null || (typeof r[k] === 'number' && r[k]! > 0)).toBe(true);
      }
      expect(r.samples, `${r.suite} ${r.system} ${r.variant}`).toBe(2);
      const s = r.spread.msgsPerSec!;
      expect(s.values).toHaveLength(2);
      expect(s.min).toBe(Math.min(...s.values));
      expect(s.max).toBe(Math.max(...s.values));
      expect(r.msgsPerSec).toBe((s.values[0] + s.values[1]) / 2); // the median of two
    }
    const suites = new Set(json.results.map((r) => r.suite));
    expect([...suites].sort()).toEqual(['all-to-all', 'bandwidth', 'fairness', 'fan-in', 'latency', 'micro']);
    // Every baseline ran in the same run.
    expect(new Set(json.results.map((r) => r.system))).toEqual(new Set(SYSTEMS));
    // A figure that does not apply is null, never a missing key: round trips only in rows of round
    // trips (latency, and fairness's request/response pairs).
    for (const r of json.results) {
      if (r.suite === 'latency' || r.variant.startsWith('request-response')) expect(r.roundTrips, `${r.suite} ${r.system} ${r.variant}`).toBeGreaterThan(0);
      else expect(r.roundTrips, `${r.suite} ${r.system} ${r.variant}`).toBeNull();
    }
  });

  it('gives lparlink rows ratios only against the baseline of the same shape, paired per sample', () => {
    const ours = json.results.filter((r) => r.system === 'lparlink');
    const compared = ours.filter((r) => ['bandwidth', 'latency', 'micro'].includes(r.suite));
    expect(compared.length).toBeGreaterThanOrEqual(9);
    expect(compared.filter((r) => r.variant === 'for-await').map((r) => r.suite)).toContain('bandwidth');
    expect(compared.filter((r) => r.variant === 'rpc call').map((r) => r.suite)).toContain('latency');
    for (const r of compared) {
      const what = `${r.suite} ${r.variant}`;
      if (r.variant === 'for-await') {
        // An awaited write() per message and `for await`: the async API, which the relay has no
        // shape of; compared with postMessage only.
        expect(r.vsRawRelay, what).toBeNull();
        expect(r.vsPostMessage, what).toBeGreaterThan(0);
        continue;
      }
      if (r.variant === 'rpc call') {
        // comlink over a channel: its twin is the comlink baseline's call, a row of its own beside it.
        expect([r.vsRawRelay, r.vsPostMessage], what).toEqual([null, null]);
        expect(r.p50us, what).toBeGreaterThan(0);
        continue;
      }
      expect(r.vsRawRelay, what).toBeGreaterThan(0);
      expect(Number.isFinite(r.vsRawRelay), what).toBe(true);
      expect(r.spread.vsRawRelay!.values, what).toHaveLength(2);
      // Single-thread (micro) rows compare with the relay's same stages only, and so do round trips
      // with both ends in one thread (postMessage has no such shape).
      if (r.suite === 'micro' || r.variant === 'round-trip one thread') expect(r.vsPostMessage, what).toBeNull();
      else expect(r.vsPostMessage, what).toBeGreaterThan(0);
    }
    // Every micro stage of lparlink has its relay twin, so a ratio (the stage timing cannot give 0).
    const stages = compared.filter((r) => r.suite === 'micro' && r.variant.includes(':'));
    expect(stages).toHaveLength(6);
    // All-to-all, fan-in and fairness have no baseline of their shape: no ratio at all.
    const unmatched = ours.filter((r) => !compared.includes(r));
    expect(new Set(unmatched.map((r) => r.suite))).toEqual(new Set(['all-to-all', 'fan-in', 'fairness']));
    for (const r of unmatched) {
      expect(r.vsRawRelay).toBeNull();
      expect(r.vsPostMessage).toBeNull();
    }
  });

  it('reports latency rows as ib_send_lat does: min, mean, stdev, p50, p99, p99.9, max', () => {
    const lat = json.results.filter((r) => r.suite === 'latency');
    expect(new Set(lat.map((r) => r.system))).toEqual(new Set(SYSTEMS));
    for (const r of lat) {
      expect(r.roundTrips).toBeGreaterThan(0);
      expect(r.stdevUs).toBeGreaterThanOrEqual(0);
      expect(r.minUs! <= r.p50us! && r.p50us! <= r.p99us! && r.p99us! <= r.p999us! && r.p999us! <= r.maxUs!).toBe(true);
      expect(r.minUs! <= r.meanUs! && r.meanUs! <= r.maxUs!).toBe(true);
      expect(r.spread.p50us!.values).toHaveLength(2);
    }
  });

  it("restates fairness: Jain's index and the share against the equal share for backlogged streams, kept of alone for request/response", () => {
    const fair = json.results.filter((r) => r.suite === 'fairness');
    expect(fair.map((r) => r.variant)).toEqual(['stream alone', 'stream beside flooder', 'flooder beside stream', 'request-response alone', 'request-response beside flooder']);
    const stream = fair[1].fairness!;
    // One honest stream and the flooder: two backlogged senders.
    expect(stream.equalShare).toBe(0.5);
    expect(stream.jainIndex! >= 0.5 && stream.jainIndex! <= 1).toBe(true);
    expect(stream.share! > 0 && stream.share! < 1).toBe(true);
    expect(stream.keptOfAlone).toBeGreaterThan(0);
    expect(stream.target).toMatch(/Jain's index ≥ 0\.95/);
    const rr = fair[4].fairness!;
    expect(rr.keptOfAlone).toBeGreaterThan(0);
    expect(rr.jainIndex).toBeNull();
    expect(rr.target).toMatch(/≥ 0\.8/);
    for (const r of [fair[0], fair[2], fair[3]]) expect(r.fairness).toBeNull();
    // The request/response rows say how the rate went: the pair's round trips, alone and beside.
    for (const r of [fair[3], fair[4]]) {
      expect(r.minUs! <= r.p50us! && r.p50us! <= r.p99us! && r.p99us! <= r.maxUs!, r.variant).toBe(true);
      expect(r.minUs! <= r.meanUs! && r.meanUs! <= r.maxUs!, r.variant).toBe(true);
      expect(r.spread.p50us!.values, r.variant).toHaveLength(2);
    }
    for (const r of fair.slice(0, 3)) expect(r.p50us, r.variant).toBeNull();
  });

  it('prints the machine and one table per kind of figure, with ranges', () => {
    expect(stdout).toMatch(/^machine: \d+ cores, .+, Node v\d+.*load .+ at start, .+ at end; wait adaptive; flooders demoted: (on|unavailable); 2 sample\(s\) of 0\.05 s per case/m);
    // Each file written is named, as --report's and --trace's are.
    expect(stdout).toContain(`\njson: ${join(dir, 'b.json')}\n`);
    expect(stdout).toContain(`\nreport: ${join(dir, 'b.html')}\n`);
    expect(stdout).toMatch(/^throughput:\n.*msgs\/s\s+range\s+MB\/s\s+×relay \(range\)\s+×postMsg \(range\)/m);
    expect(stdout).toMatch(/^bandwidth\s+lparlink\s+batched\s+64\s+2\s+2\s+\S+\s+\S+–\S+\s+\S+\s+\d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\)/m);
    expect(stdout).toMatch(/^all-to-all\s+lparlink\s+batched\s+64\s+2\s+2\s+.*—\s+—$/m);
    expect(stdout).toMatch(/^round-trip latency, µs \(as ib_send_lat\):\n.*min\s+mean\s+stdev\s+p50\s+p50 range\s+p99\s+p99\.9\s+max/m);
    expect(stdout).toMatch(/^fairness:\n.*p50 µs\s+p99 µs\s+mean µs\s+kept of alone\s+share \(equal share\)\s+Jain's index/m);
    expect(stdout).toMatch(/^request-response beside flooder\s+64\s+3\s+2\s+\S+\s+\S+–\S+(\s+\d+\.\d+k?){3}\s+\d\.\d\d \(/m);
    expect(stdout).toMatch(/^stream beside flooder\s+64\s+3\s+2\s+.*\(0\.50\)/m);
    expect(stdout).toMatch(/^CPU per message, every stage in one thread \(micro\):/m);
    expect(existsSync(join(dir, 'b.html'))).toBe(true);
  });

  it('keeps --suite ring: its own table, and its report under "ring" in the JSON', async () => {
    const r = await bench(['--suite', 'ring', '--duration', '0.05', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.ring.cases.map((c: { name: string }) => c.name)).toEqual(['postMessage', 'ring per-record', 'ring batched']);
    expect(out.results.map((x: Row) => x.system)).toEqual(['postMessage', 'raw-ring', 'raw-ring']);
    // `--json -` is stdout too (it was refused: "Unexpected argument '-'").
    const dash = await bench(['--suite', 'ring', '--duration', '0.05', '--json', '-']);
    expect(dash.code).toBe(0);
    expect(JSON.parse(dash.stdout).ring.cases).toHaveLength(3);
    const table = await bench(['--suite', 'ring', '--duration', '0.05']);
    expect(table.stdout).toMatch(/^ring: one-way, 64-byte messages/m);
    // Its one case runs once, over the whole duration: the header says one sample, not the default three.
    expect(table.stdout).toMatch(/; 1 sample\(s\) of 0\.05 s per case$/m);
  }, 60_000);

  it('rejects bad arguments with exit code 2 and says what was wrong', async () => {
    for (const [args, why] of [
      [['--suite', 'nope'], /unknown suite 'nope'; the suites are lifecycle, bandwidth, .*, and all \(micro, bandwidth/],
      [['--suite', 'fan-in', '--partitions', '2'], /--partitions 2: fan-in \(senders and a receiver\) needs at least 3; give 3 or more, or leave it out of --suite/],
      // The default suites include fan-in and fairness.
      [['--partitions', '2'], /--partitions 2: fan-in .* and fairness .* need at least 3; give 3 or more, or name the suites you want with --suite/],
      // Negative values reach the option's own check, not parseArgs' "argument is ambiguous".
      [['--duration', '-1'], /--duration must be a positive number of seconds, got '-1'/],
      [['--size', '-8'], /--size takes byte counts .*got '-8'/],
      [['--size=64', '-8'], /--size takes byte counts .*got '-8'/],
      [['--wait', 'busy'], /--wait must be one of spin, sleep, adaptive/],
      [['--size', '3'], /--size takes byte counts/],
      [['--size', '128K'], /--size takes byte counts/],
      [['--partitions', '1'], /--partitions must be an integer from 2 to 64/],
      [['--duration', '0'], /--duration must be a positive number/],
      [['--samples', '0'], /--samples must be an integer from 1 to 20/],
      [['--samples', '2.5'], /--samples must be an integer from 1 to 20/],
      // Plain decimals only: Number() would read these as 16 s and 10 samples.
      [['--duration', '0x10'], /--duration must be a positive number of seconds, got '0x10'/],
      [['--samples', '1e1'], /--samples must be an integer from 1 to 20, got '1e1'/],
      [['--report', '-'], /--report - would write a file named '-' \(only --json writes to stdout\): give a file name/],
      [['--json', join(tmpdir(), 'lparlink-same.json'), '--trace', join(tmpdir(), 'lparlink-same.json')], /--json and --trace name the same file, .*lparlink-same\.json: give each its own/],
      ...((prof) => [[['--cpu-prof', prof, '--json', join(prof, 'threads.json')], /--json .*threads\.json is the threads\.json that --cpu-prof writes in .*: give another path/] as const])(tempDir()),
      [['--suite', 'lifecycle', '--duration', '1', '--wait', 'sleep'], /--suite lifecycle times a fixed number of boots \(about 10 s\) and takes no --duration, --wait: leave them out/],
      // parseArgs' own advice, on one line.
      [['--duration', '--suite', 'latency'], /Option '--duration' argument is ambiguous\. Did you forget to specify the option argument for '--duration'\?$/m],
      // Suites --trace does not record: refused rather than an empty trace.
      [['--suite', 'link', '--trace', join(tmpdir(), 'lparlink-untraced.json')], /--trace does not record the link suite \(link: its two nodes run in two processes\): run it without --trace/],
      [['--suite', 'ring,lifecycle', '--trace', join(tmpdir(), 'lparlink-untraced.json')], /--trace does not record the ring or lifecycle suite/],
    ] as const) {
      const r = await bench([...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
      // One line saying what was wrong, one saying where the usage is; not the whole usage.
      expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^lparlink bench: /), "Run 'lparlink bench --help' for usage."]);
      expect(r.stdout).toBe('');
    }
    const help = await bench(['--help']);
    expect(help.code).toBe(0);
    for (const suite of ['bandwidth', 'latency', 'all-to-all', 'fan-in', 'fairness', 'ring']) expect(help.stdout).toContain(suite);
    // The link suite's receivers leave a warm-up out: a reader of its numbers is told.
    expect(help.stdout).toMatch(/first \d+ ms \(JIT warm-up/);
  }, 60_000);

  it('a run that fails part-way prints what it measured, then one line saying what failed (exit 1)', async () => {
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    const json = await bench(['--suite', 'fan-in', '--partitions', '3', '--size', '64', '--duration', '0.2', '--samples', '1', '--json', '/dev/full']);
    expect(json.code).toBe(1);
    expect(json.stdout).toMatch(/^fan-in +lparlink +batched +64 /m);
    expect(json.stderr.trimEnd().split('\n').at(-1)).toMatch(/^lparlink bench: --json \/dev\/full: ENOSPC: no space left on device, write$/);
    // The trace fails as the first machine closes: the run stops there, with what it measured.
    const trace = await bench(['--suite', 'fan-in,all-to-all', '--partitions', '3', '--size', '64', '--duration', '0.2', '--samples', '1', '--trace', '/dev/full']);
    expect(trace.code).toBe(1);
    expect(trace.stdout).toMatch(/^fan-in +lparlink +batched +64 /m);
    expect(trace.stdout).not.toMatch(/^all-to-all/m);
    expect(trace.stderr.trimEnd().split('\n').at(-1)).toMatch(/^lparlink bench: closing the fan-in suite's machine: ENOSPC: .*; the results above are the first 1 of 3 samples$/);
  }, 90_000);

  it('without openssl the link suite says so on one line before anything runs (exit 1)', async () => {
    // A PATH with node and bash only: tools/link-certs.sh finds no openssl.
    const dir = tempDir();
    symlinkSync(process.execPath, join(dir, 'node'));
    symlinkSync('/bin/bash', join(dir, 'bash'));
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, 'bench', '--suite', 'bandwidth,link', '--size', '64', '--duration', '0.2', '--samples', '1'], { env: { ...process.env, PATH: dir } }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stdout, stderr }),
      );
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual([expect.stringMatching(/^lparlink bench: the link suite could not make node certificates \(it needs the openssl command\): .*openssl/)]);
  }, 30_000);

  it('checks output paths before the run starts: a missing folder or a folder given as a file is exit 2 at once', async () => {
    const dir = tempDir();
    for (const [args, why] of [
      [['--report', join(dir, 'missing', 'x.html')], /--report .*: the folder .*missing does not exist; create it first/],
      [['--json', dir], /--json .* is a folder; give a file name/],
      [['--cpu-prof', join(dir, 'a', 'b')], /--cpu-prof .*: the folder .*a does not exist/],
      // A folder that exists and that access(W_OK) passes for root, where no file can be made.
      [['--json', '/proc/lparlink-check.json'], /--json \/proc\/lparlink-check\.json: cannot write in the folder \/proc \(ENOENT\); choose another path/],
      [['--trace', '/proc/lparlink-check.json'], /--trace \/proc\/lparlink-check\.json: cannot write in the folder \/proc/],
      // An existing file this user may not write (none exists for root, who skips this case).
      ...(process.getuid?.() === 0 ? [] : [[['--report', readOnlyFile(dir)], /--report .*ro\.html: cannot write the file \(EACCES\)/] as const]),
    ] as const) {
      const r = await bench(['--suite', 'bandwidth', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
      expect(r.stdout).toBe('');
    }
  }, 90_000);

  it('Ctrl-C finishes the sample under way, then prints and writes the results so far and exits 130', async () => {
    const dir = tempDir();
    const out = join(dir, 'partial.json');
    const child = spawn(process.execPath, [bin, 'bench', '--suite', 'bandwidth', '--size', '64', '--duration', '3', '--json', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 60_000;
    while (!/\[2\//.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted after [1-9]\d* of \d+ samples/);
    expect(stdout).toMatch(/bandwidth\s+lparlink\s+batched\s+64/);
    const partial = JSON.parse(readFileSync(out, 'utf8')) as { results: ResultRow[] };
    expect(partial.results.length).toBeGreaterThan(0);
  }, 90_000);

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
