/**
 * `lparlink bench`: perftest-style suites for partition-to-partition
 * messaging, each lparlink row beside the baselines measured in the same run
 * (raw relay, raw ring, postMessage, comlink, piscina).
 *
 *   lparlink bench [--suite NAME] [--partitions N] [--size BYTES…] [--duration S]
 *                  [--wait spin|sleep|adaptive] [--json [FILE]] [--report FILE] [--cpu-prof DIR]
 */
import { writeFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import type { Machine, WaitMode } from '../src/index.js';
import { WAIT_MODES } from '../src/internal.js';
import { setMachineHook, withMachine } from './fabric.js';
import { PROFILE_ENV, runProfiled, ThreadRegistry, topFunctions } from './profile.js';
import { renderReport } from './report.js';
import { fillRatios, machineInfo, type BenchJson, type ResultRow } from './results.js';
import { formatRingBench, setBenchWorkerHook } from './ring.js';
import { ALL, SUITES, type Case, type RunContext, type SuiteOptions } from './suites.js';

const DEFAULT_DURATION_S = 1;
const DEFAULT_PARTITIONS = 4;
const MAX_PAYLOAD = 64 * 1024;
/** The ring suite's own default, kept from before the other suites existed. */
const RING_DEFAULT_DURATION_S = 5;

const usage = `usage: lparlink bench [--suite NAME] [--partitions N] [--size BYTES…] [--duration S]
                      [--wait spin|sleep|adaptive] [--json [FILE]] [--report FILE] [--cpu-prof DIR]

options:
  --suite NAME      a suite below, or 'all' (default: all but ring; about a minute on 2 cores)
  --partitions N    most partitions for all-to-all, fan-in and fairness (default ${DEFAULT_PARTITIONS}, 2 to 64)
  --size BYTES…     payload sizes, e.g. --size 64 4K 64K (default: each suite's own; 4 to 64K)
  --duration S      seconds per case (default ${DEFAULT_DURATION_S}; the ring suite's default is ${RING_DEFAULT_DURATION_S})
  --wait MODE       how idle threads wait: spin, sleep or adaptive (default adaptive)
  --json [FILE]     write { machine, results } as JSON to FILE (stdout without FILE)
  --report FILE     write a self-contained HTML report with charts
  --cpu-prof DIR    write one .cpuprofile per thread and DIR/threads.json (thread id → name)
  -h, --help        show this help

suites:
${Object.entries(SUITES)
  .map(([name, s]) => `  ${name.padEnd(12)}  ${s.describe}`)
  .join('\n')}

Every lparlink row shows its ratio to the raw relay (producer → relay →
consumer over two plain rings, no verification) and to postMessage, both
measured in the same run with the same payload.
`;

function fail(message: string): number {
  process.stderr.write(`lparlink bench: ${message}\n\n${usage}`);
  return 2;
}

/** 64, 4K, 4KiB, 64k → bytes; NaN when unreadable. */
function parseSize(text: string): number {
  const m = /^(\d+)\s*(k|kb|kib)?$/i.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number(m[1]) * (m[2] ? 1024 : 1);
}

/**
 * parseArgs wants `--size 64 --size 4K`; also accept `--size 64 4K 64K`,
 * `--size 64,4K`, and a bare `--json` (print to stdout).
 */
function normalize(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--size') {
      let any = false;
      while (i + 1 < argv.length && !argv[i + 1].startsWith('-')) {
        for (const part of argv[++i].split(',').filter(Boolean)) out.push('--size', part);
        any = true;
      }
      if (!any) out.push('--size', '');
    } else if (a === '--json' && (i + 1 >= argv.length || argv[i + 1].startsWith('-'))) {
      out.push('--json', '-');
    } else out.push(a);
  }
  return out;
}

function fmt(v: number | null, digits = 2): string {
  if (v === null || !Number.isFinite(v)) return '';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(digits);
}

export function formatTable(json: BenchJson): string {
  const m = json.machine;
  const lines = [
    `machine: ${m.cores} cores, ${m.cpuModel}, Node ${m.node} (${m.platform}/${m.arch}), ${m.memoryGiB} GiB; ` +
      `load ${m.loadAverage.join(' ')}; wait ${m.wait}; ${m.durationSeconds} s per case`,
  ];
  const head = ['suite', 'system', 'variant', 'bytes', 'parts', 'msgs/s', 'MB/s', 'p50 µs', 'p99 µs', 'p99.9 µs', '×relay', '×postMsg'];
  const rows = json.results.map((r) => [
    r.suite,
    r.system,
    r.variant,
    String(r.payloadBytes),
    r.partitions === null ? '' : String(r.partitions),
    fmt(r.msgsPerSec, 0),
    fmt(r.mbPerSec, 1),
    fmt(r.p50us),
    fmt(r.p99us),
    fmt(r.p999us),
    r.vsRawRelay === null ? '' : `${r.vsRawRelay.toFixed(2)}×`,
    r.vsPostMessage === null ? '' : `${r.vsPostMessage.toFixed(1)}×`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  lines.push('', line(head), ...rows.map(line));
  const notes = json.results.filter((r) => r.note && r.suite !== 'micro').map((r) => `${r.suite}: ${r.note}`);
  if (notes.length > 0) lines.push('', ...notes);
  return `${lines.join('\n')}\n`;
}

/** Boots at most one machine per (suite, partitions) and reuses it across that suite's cases. */
class MachinePool implements RunContext {
  private current: { key: string; machine: Machine; done: () => void; closed: Promise<void> } | undefined;
  ringReport?: RunContext['ringReport'];

  constructor(private readonly wait: WaitMode, private readonly maxPayload: number) {}

  async machine(partitions: number, label: string): Promise<Machine> {
    const key = `${label}:${partitions}`;
    if (this.current?.key === key) return this.current.machine;
    await this.close();
    let done!: () => void;
    const release = new Promise<void>((r) => (done = r));
    let booted!: (m: Machine) => void;
    const ready = new Promise<Machine>((r) => (booted = r));
    const closed = withMachine(partitions, { wait: this.wait, maxPayload: this.maxPayload }, label, async (m) => {
      booted(m);
      await release;
    });
    const machine = await Promise.race([ready, closed.then(() => Promise.reject(new Error('machine closed while booting')))]);
    this.current = { key, machine, done, closed };
    return machine;
  }

  async close(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    if (c !== undefined) {
      c.done();
      await c.closed;
    }
  }
}

export async function runBenchCli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: normalize(argv),
      options: {
        suite: { type: 'string', default: 'all' },
        partitions: { type: 'string' },
        size: { type: 'string', multiple: true },
        duration: { type: 'string' },
        wait: { type: 'string', default: 'adaptive' },
        json: { type: 'string' },
        report: { type: 'string' },
        'cpu-prof': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return fail((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const suiteNames = values.suite === 'all' ? ALL : values.suite.split(',');
  for (const s of suiteNames) if (SUITES[s] === undefined) return fail(`unknown suite '${s}'`);
  const wait = values.wait as WaitMode;
  if (!WAIT_MODES.includes(wait)) return fail(`--wait must be one of ${WAIT_MODES.join(', ')}, got '${values.wait}'`);
  let durationSeconds = suiteNames.length === 1 && suiteNames[0] === 'ring' ? RING_DEFAULT_DURATION_S : DEFAULT_DURATION_S;
  if (values.duration !== undefined) {
    durationSeconds = Number(values.duration);
    if (!(durationSeconds > 0) || !Number.isFinite(durationSeconds)) {
      return fail(`--duration must be a positive number of seconds, got '${values.duration}'`);
    }
  }
  let partitions = DEFAULT_PARTITIONS;
  if (values.partitions !== undefined) {
    partitions = Number(values.partitions);
    if (!Number.isInteger(partitions) || partitions < 2 || partitions > 64) {
      return fail(`--partitions must be an integer from 2 to 64, got '${values.partitions}'`);
    }
  }
  let sizes: number[] | undefined;
  if (values.size !== undefined) {
    sizes = values.size.map(parseSize);
    const bad = values.size.find((s, i) => !(sizes![i] >= 4 && sizes![i] <= MAX_PAYLOAD && sizes![i] % 4 === 0));
    if (bad !== undefined) return fail(`--size takes byte counts that are multiples of 4 from 4 to 64K (e.g. 64 4K 64K), got '${bad}'`);
  }

  // --cpu-prof: run again under the profiler, then name the profiles.
  const profDir = values['cpu-prof'];
  if (profDir !== undefined && process.env[PROFILE_ENV] === undefined) {
    const rest = argv.filter((a, i) => a !== '--cpu-prof' && argv[i - 1] !== '--cpu-prof' && !a.startsWith('--cpu-prof='));
    const script = fileURLToPath(new URL('../../bin/lparlink.mjs', import.meta.url));
    const dir = resolvePath(profDir);
    const { code, files } = await runProfiled(dir, rest, script);
    // With --json to stdout the summary goes to stderr, so stdout stays one JSON document.
    const out = values.json === '-' ? process.stderr : process.stdout;
    out.write(`\nCPU profiles in ${dir} (thread names in threads.json), busiest functions per thread:\n`);
    const shown = new Set<string>();
    for (const f of files) {
      const key = `${f.name}|${f.label}`;
      if (shown.has(key) || !(f.name.startsWith('hardware') || f.name.startsWith('partition') || f.name === 'main')) continue;
      shown.add(key);
      const top = topFunctions(resolvePath(dir, f.file), 3)
        .map((t) => `${t.fn} ${t.percent.toFixed(0)}%`)
        .join(', ');
      out.write(`  ${f.name.padEnd(12)} ${f.label.padEnd(12)} ${f.file}  ${top}\n`);
    }
    return code;
  }
  const registry = process.env[PROFILE_ENV] !== undefined ? new ThreadRegistry() : undefined;
  if (registry !== undefined) {
    setMachineHook((m, label) => registry.machine(m, label));
    setBenchWorkerHook((w, names) => registry.workers(w, names));
  }

  const options: SuiteOptions = { wait, durationSeconds, sizes, partitions };
  const cases: Case[] = suiteNames.flatMap((s) => SUITES[s].cases(options));
  const maxPayload = Math.max(64, ...(sizes ?? [MAX_PAYLOAD]));
  const pool = new MachinePool(wait, maxPayload);
  const json: BenchJson = { machine: machineInfo(wait, durationSeconds), command: `lparlink bench ${argv.join(' ')}`.trim(), results: [] };
  const toStdout = values.json === '-';
  const bar =
    process.stderr.isTTY && !toStdout
      ? new cliProgress.SingleBar(
          { format: 'bench [{bar}] {value}/{total} cases | {eta_formatted} left | {case}', hideCursor: true, stream: process.stderr, etaBuffer: 4 },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(cases.length, 0, { case: cases[0]?.label ?? '' });
  try {
    for (const [i, c] of cases.entries()) {
      bar?.update(i, { case: c.label });
      if (registry !== undefined) registry.label = c.suite;
      if (bar === undefined && !toStdout) process.stderr.write(`[${i + 1}/${cases.length}] ${c.label}\n`);
      const rows: ResultRow[] = await c.run(pool);
      json.results.push(...rows);
      if (!cases[i + 1] || cases[i + 1].suite !== c.suite) await pool.close();
    }
    bar?.update(cases.length, { case: 'done' });
  } finally {
    bar?.stop();
    await pool.close();
    registry?.write(process.env[PROFILE_ENV]!);
  }
  fillRatios(json.results);
  if (pool.ringReport !== undefined) json.ring = pool.ringReport;

  if (toStdout) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else {
    process.stdout.write(formatTable(json));
    if (pool.ringReport !== undefined) process.stdout.write(`\n${formatRingBench(pool.ringReport)}`);
  }
  if (values.json !== undefined && !toStdout) writeFileSync(values.json, `${JSON.stringify(json, null, 2)}\n`);
  if (values.report !== undefined) {
    writeFileSync(values.report, renderReport(json));
    if (!toStdout) process.stdout.write(`report: ${resolvePath(values.report)}\n`);
  }
  return 0;
}
