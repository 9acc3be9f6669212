/**
 * What every suite produces: rows in the `--json` shape other tools read,
 * `{ machine, results: [{ suite, system, payloadBytes, msgsPerSec, mbPerSec,
 * p50us, p99us, … }] }`, plus the ratios each lparlink row carries.
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { WaitMode } from '../src/index.js';

export const SYSTEMS = ['lparlink', 'raw-relay', 'raw-ring', 'postMessage', 'comlink', 'piscina'] as const;
export type System = (typeof SYSTEMS)[number];

export interface ResultRow {
  suite: string;
  system: System;
  /** How the system was driven: 'batched', 'per-message', 'calls', 'tasks', 'round-trip', 'alone', 'beside-flooder', … */
  variant: string;
  payloadBytes: number;
  /** Partitions taking part (multi-partition suites), else null. */
  partitions: number | null;
  /** Messages (throughput suites) or round trips (latency suite) per second. */
  msgsPerSec: number | null;
  mbPerSec: number | null;
  p50us: number | null;
  p99us: number | null;
  p999us: number | null;
  /** lparlink rows: msgsPerSec over the raw relay's (same payload, same variant where it exists; for latency, p50 ratio). */
  vsRawRelay: number | null;
  /** lparlink rows: msgsPerSec over postMessage's (same payload, one message per post). */
  vsPostMessage: number | null;
  /** Latency rows: [percentile, µs] points for the distribution chart. */
  distribution?: Array<[number, number]>;
  /** Anything else worth keeping (fairness fraction, messages counted, …). */
  note?: string;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  memoryGiB: number;
  freeMemoryGiB: number;
  /** 1, 5 and 15 minute load averages when the run started: a loaded machine makes noisy numbers. */
  loadAverage: number[];
  wait: WaitMode;
  durationSeconds: number;
  date: string;
}

export interface BenchJson {
  machine: MachineInfo;
  command: string;
  results: ResultRow[];
  /** The ring suite's own report, unchanged (for tools that read `lparlink bench --suite ring --json`). */
  ring?: unknown;
}

export function machineInfo(wait: WaitMode, durationSeconds: number): MachineInfo {
  const c = cpus();
  const gib = (n: number): number => Math.round((n / 2 ** 30) * 10) / 10;
  return {
    cores: c.length,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    memoryGiB: gib(totalmem()),
    freeMemoryGiB: gib(freemem()),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    wait,
    durationSeconds,
    date: new Date().toISOString(),
  };
}

export function row(r: Partial<ResultRow> & Pick<ResultRow, 'suite' | 'system' | 'variant' | 'payloadBytes'>): ResultRow {
  return {
    partitions: null,
    msgsPerSec: null,
    mbPerSec: null,
    p50us: null,
    p99us: null,
    p999us: null,
    vsRawRelay: null,
    vsPostMessage: null,
    ...r,
  };
}

export function mbPerSec(msgsPerSec: number, payloadBytes: number): number {
  return (msgsPerSec * payloadBytes) / 1e6;
}

/**
 * Fill vsRawRelay and vsPostMessage on every lparlink row from the baseline
 * rows of the same run: the same suite and payload first, the bandwidth
 * suite's as a fallback (multi-partition suites have no baselines of their
 * own). Throughput compares msgs/s; latency compares p50 (baseline p50 over
 * lparlink's, so above 1 means lparlink is faster).
 */
export function fillRatios(rows: ResultRow[]): void {
  const find = (system: System, suite: string, payload: number, variant?: string): ResultRow | undefined => {
    const pool = rows.filter((r) => r.system === system && r.payloadBytes === payload);
    return (
      pool.find((r) => r.suite === suite && (variant === undefined || r.variant === variant)) ??
      pool.find((r) => r.suite === suite) ??
      pool.find((r) => r.suite === 'bandwidth' && (variant === undefined || r.variant === variant)) ??
      pool.find((r) => r.suite === 'bandwidth')
    );
  };
  for (const r of rows) {
    if (r.system !== 'lparlink') continue;
    const variant = r.variant === 'per-message' ? 'per-message' : r.suite === 'latency' ? undefined : 'batched';
    const relay = find('raw-relay', r.suite, r.payloadBytes, variant);
    const pm = find('postMessage', r.suite, r.payloadBytes);
    if (r.suite === 'micro') {
      // Single-thread costs: only the same stages of the relay compare; postMessage has no single-thread twin.
      const same = rows.find((x) => x.suite === 'micro' && x.system === 'raw-relay' && x.variant === r.variant && x.payloadBytes === r.payloadBytes);
      r.vsRawRelay = same?.msgsPerSec && r.msgsPerSec ? r.msgsPerSec / same.msgsPerSec : null;
      r.vsPostMessage = null;
    } else if (r.suite === 'latency') {
      r.vsRawRelay = relay?.p50us && r.p50us ? relay.p50us / r.p50us : null;
      r.vsPostMessage = pm?.p50us && r.p50us ? pm.p50us / r.p50us : null;
    } else {
      r.vsRawRelay = relay?.msgsPerSec && r.msgsPerSec ? r.msgsPerSec / relay.msgsPerSec : null;
      r.vsPostMessage = pm?.msgsPerSec && r.msgsPerSec ? r.msgsPerSec / pm.msgsPerSec : null;
    }
  }
}
