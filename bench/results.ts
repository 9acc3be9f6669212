/**
 * What every suite produces: rows in the `--json` shape other tools read,
 * `{ machine, results: [{ suite, system, payloadBytes, msgsPerSec, mbPerSec,
 * p50us, p99us, … }] }`, plus the ratios each lparlink row carries.
 */
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { WaitMode } from '../src/index.js';
import type { Spread } from './spread.js';
import { DispatchPriority } from '../src/hardware/dispatch-priority.js';

export const SYSTEMS = ['lparlink', 'raw-relay', 'raw-ring', 'postMessage', 'comlink', 'piscina', 'raw-tls'] as const;
export type System = (typeof SYSTEMS)[number];

export interface ResultRow {
  suite: string;
  system: System;
  /** How the system was driven: 'batched', 'per-message', 'calls', 'tasks', 'round-trip', 'stream beside flooder', … */
  variant: string;
  payloadBytes: number;
  /** Partitions taking part (multi-partition suites), else null. */
  partitions: number | null;
  /** Samples (rounds) the figures come from; each figure is their median, `spread` has every one. */
  samples: number;
  /** Messages (throughput suites) or round trips (latency suite) per second. */
  msgsPerSec: number | null;
  mbPerSec: number | null;
  /**
   * Rows of round trips (latency; fairness's request/response, from its typical pair), µs as
   * ib_send_lat prints them: min and max over all samples, mean and stdev of all round trips pooled.
   */
  minUs: number | null;
  meanUs: number | null;
  stdevUs: number | null;
  p50us: number | null;
  p99us: number | null;
  p999us: number | null;
  maxUs: number | null;
  /** Rows of round trips: round trips timed, all samples together; null in other rows, as every figure that does not apply. */
  roundTrips: number | null;
  /**
   * lparlink rows: msgsPerSec over the raw relay's of the same shape (same suite, payload and
   * variant; for latency, relay p50 over lparlink's, so above 1 means lparlink is faster). Null
   * where the run has no baseline of the same shape (all-to-all, fan-in, fairness).
   */
  vsRawRelay: number | null;
  /** lparlink rows: the same against postMessage (one message per post), same suite and payload. */
  vsPostMessage: number | null;
  /**
   * lparlink rows of the link suite: msgsPerSec over the raw TLS socket's of the same payload
   * (framed messages in large writes between the same two processes); null elsewhere.
   */
  vsRawTls: number | null;
  /** Per figure above (msgsPerSec, p50us, vsRawRelay, …), every sample and their range; ratios are paired within a round. */
  spread: Partial<Record<SpreadField, Spread>>;
  /** Fairness rows: the shares the restated targets judge. */
  fairness: FairnessFigures | null;
  /** Latency rows: [percentile, µs] points for the distribution chart (the sample with the median p50). */
  distribution?: Array<[number, number]>;
  /** Anything else worth keeping. */
  note?: string;
}

/** The figures a row can carry a spread for. */
export const SPREAD_FIELDS = ['msgsPerSec', 'mbPerSec', 'p50us', 'p99us', 'p999us', 'vsRawRelay', 'vsPostMessage', 'vsRawTls'] as const;
export type SpreadField = (typeof SPREAD_FIELDS)[number] | 'share' | 'keptOfAlone' | 'jainIndex';

/**
 * Fairness beside a flooder. Streams: every sender is backlogged, so each
 * should get an equal share of the engine (Jain's index over their rates near
 * 1), and an honest stream cannot keep more of its alone rate than its equal
 * share. Request/response: the pair barely loads the engine, so it should
 * keep most of its alone rate.
 */
export interface FairnessFigures {
  /** The honest pairs' msgs/s beside the flooder over their msgs/s alone. */
  keptOfAlone: number;
  /** Streams: the honest senders' fraction of all messages delivered while every sender was backlogged. */
  share: number | null;
  /** Streams: what `share` is with equal shares, honest senders / all senders. */
  equalShare: number | null;
  /** Streams: Jain's index over every backlogged sender's msgs/s (target ≥ 0.95). */
  jainIndex: number | null;
  /** What the row is judged against: `jainIndex` ≥ 0.95 for streams, `keptOfAlone` ≥ 0.8 for request/response. */
  target: string;
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
  /** 1, 5 and 15 minute load averages when the run ended. */
  loadAverageAtEnd?: number[];
  wait: WaitMode;
  /**
   * Whether the machines lowered flooding partitions' threads (createMachine's demoteFlooders):
   * 'on'; 'off' (--no-demote); 'unavailable' where this process cannot set a thread's priority
   * back (not Linux, or neither CAP_SYS_NICE nor an RLIMIT_NICE that allows it).
   */
  demoteFlooders?: 'on' | 'off' | 'unavailable';
  /** Seconds of measurement per case, all its samples together. */
  durationSeconds: number;
  /** Samples (rounds) per case, and the seconds each runs. */
  samples: number;
  secondsPerSample: number;
  date: string;
}

export interface BenchJson {
  /** The lparlink version that ran. */
  version: string;
  machine: MachineInfo;
  command: string;
  results: ResultRow[];
  /** The ring suite's own report, unchanged (for tools that read `lparlink bench --suite ring --json`). */
  ring?: unknown;
}

export function roundedLoad(): number[] {
  return loadavg().map((l) => Math.round(l * 100) / 100);
}

export function machineInfo(wait: WaitMode, durationSeconds: number, samples: number, demoteFlooders: boolean): MachineInfo {
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
    loadAverage: roundedLoad(),
    wait,
    demoteFlooders: !demoteFlooders ? 'off' : DispatchPriority.available() ? 'on' : 'unavailable',
    durationSeconds,
    samples,
    secondsPerSample: durationSeconds / samples,
    date: new Date().toISOString(),
  };
}

export function row(r: Partial<ResultRow> & Pick<ResultRow, 'suite' | 'system' | 'variant' | 'payloadBytes'>): ResultRow {
  return {
    partitions: null,
    samples: 1,
    msgsPerSec: null,
    mbPerSec: null,
    minUs: null,
    meanUs: null,
    stdevUs: null,
    p50us: null,
    p99us: null,
    p999us: null,
    maxUs: null,
    roundTrips: null,
    vsRawRelay: null,
    vsPostMessage: null,
    vsRawTls: null,
    spread: {},
    fairness: null,
    ...r,
  };
}

export function mbPerSec(msgsPerSec: number, payloadBytes: number): number {
  return (msgsPerSec * payloadBytes) / 1e6;
}

/** The latency rows whose two ends share one thread (lparlink: one partition), paired with each other only. */
export const ONE_THREAD = 'round-trip one thread';

/**
 * The latency row of comlink calls over a channel (exposeOverChannel, wrapChannel): its shape is the
 * comlink baseline's call, which has no ratio column; the table puts the two side by side.
 */
export const RPC_CALL = 'rpc call';

/** Suites whose lparlink rows have baselines of their own shape in the run. */
const COMPARED_SUITES = new Set(['bandwidth', 'latency', 'micro']);

/**
 * Fill vsRawRelay and vsPostMessage on the lparlink rows of one round from
 * the baseline rows of that round with the same shape: same suite and
 * payload, and for throughput the same variant (batched against batched,
 * per message against per message). Rows of a shape the baselines do not
 * have (all-to-all, fan-in, fairness) get none rather than a ratio against a
 * different shape; the bandwidth suite's `for-await` rows (the async API)
 * have no relay twin, so only postMessage's ratio (one post per message, as
 * one awaited write() per message); the latency suite's `rpc call` row, comlink over a channel,
 * none (its twin is the comlink baseline's call). Throughput compares msgs/s; latency compares p50
 * (baseline p50 over lparlink's, so above 1 means lparlink is faster).
 * Link rows compare with the raw TLS socket of the same payload only: both of
 * their variants against its one (large writes), the ceiling of either.
 */
export function fillRatios(rows: ResultRow[]): void {
  const same = (system: System, r: ResultRow, byVariant: boolean): ResultRow | undefined =>
    rows.find((x) => x.system === system && x.suite === r.suite && x.payloadBytes === r.payloadBytes && (!byVariant || x.variant === r.variant));
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a && b ? a / b : null);
  for (const r of rows) {
    if (r.system !== 'lparlink') continue;
    if (r.suite === 'link') {
      r.vsRawTls = ratio(r.msgsPerSec, same('raw-tls', r, false)?.msgsPerSec);
    } else if (!COMPARED_SUITES.has(r.suite)) {
      r.vsRawRelay = null;
      r.vsPostMessage = null;
    } else if (r.suite === 'latency' && r.variant === RPC_CALL) {
      r.vsRawRelay = null;
      r.vsPostMessage = null;
    } else if (r.suite === 'latency') {
      // Both ends in one thread is a shape of its own (two threads busy, not three): only the relay has it.
      const baseline = (system: System): ResultRow | undefined =>
        rows.find((x) => x.system === system && x.suite === r.suite && x.payloadBytes === r.payloadBytes && (x.variant === ONE_THREAD) === (r.variant === ONE_THREAD));
      r.vsRawRelay = ratio(baseline('raw-relay')?.p50us, r.p50us);
      r.vsPostMessage = ratio(baseline('postMessage')?.p50us, r.p50us);
    } else {
      r.vsRawRelay = ratio(r.msgsPerSec, same('raw-relay', r, true)?.msgsPerSec);
      // Single-thread (micro) rows: postMessage has no single-thread twin.
      r.vsPostMessage = r.suite === 'micro' ? null : ratio(r.msgsPerSec, same('postMessage', r, false)?.msgsPerSec);
    }
  }
}
