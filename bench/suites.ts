/**
 * The suites of `lparlink bench`, as lists of cases. A case measures one
 * system at one payload and returns result rows; the CLI runs the cases in
 * order, one at a time (every case wants the machine's cores to itself),
 * with a progress bar, and then fills in the ratios.
 */
import { runLifecycleBench } from './lifecycle.js';
import type { Machine, WaitMode } from '../src/index.js';
import { spinBudget } from '../src/internal.js';
import { callerLatency, callerThroughput } from './callers.js';
import { allToAll, fairness, fanIn, pingPong, stream, withMachine, type FabricOptions } from './fabric.js';
import { runRawLatency } from './latency.js';
import { runMicro } from './micro.js';
import type { LatencySummary } from './programs/common.js';
import { mbPerSec, row, type ResultRow, type System } from './results.js';
import { runPipeline, runRingBench, type RingBenchReport } from './ring.js';

export interface SuiteOptions {
  readonly wait: WaitMode;
  /** Seconds each case runs. */
  readonly durationSeconds: number;
  /** Payload sizes; the suites' defaults when absent. */
  readonly sizes?: readonly number[];
  /** Most partitions the multi-partition suites use. */
  readonly partitions: number;
}

export interface Case {
  readonly suite: string;
  /** Shown in the progress bar. */
  readonly label: string;
  run(ctx: RunContext): Promise<ResultRow[]>;
}

/** Shared by the cases of one run: lparlink cases of a suite reuse one booted machine. */
export interface RunContext {
  machine(partitions: number, label: string): Promise<Machine>;
  /** The ring suite's own report, kept for --json compatibility. */
  ringReport?: RingBenchReport;
}

/** Messages per sendBatch, records per publish in the batched cases. */
export const BATCH = 32;
/** Ring data bytes of the raw baselines: the machine's default ring size. */
const RAW_RING_BYTES = 256 * 1024;

export const DEFAULT_SIZES = {
  bandwidth: [64, 1024, 4096, 65536],
  latency: [64],
  multi: [64],
  micro: [64, 4096],
} as const;

/** Per-message variants run at payloads up to this size (the message-rate regime). */
const PER_MESSAGE_MAX = 4096;

function rawRing(bytes: number): number {
  let n = RAW_RING_BYTES;
  while (n / 2 < bytes + 64) n *= 2;
  return n;
}

function throughputRow(suite: string, system: System, variant: string, size: number, msgsPerSec: number, extra: Partial<ResultRow> = {}): ResultRow {
  return row({ suite, system, variant, payloadBytes: size, msgsPerSec, mbPerSec: mbPerSec(msgsPerSec, size), ...extra });
}

function latencyRow(system: System, size: number, s: LatencySummary, variant = 'round-trip'): ResultRow {
  return row({
    suite: 'latency',
    system,
    variant,
    payloadBytes: size,
    msgsPerSec: s.roundTrips / s.seconds,
    p50us: s.p50us,
    p99us: s.p99us,
    p999us: s.p999us,
    distribution: s.distribution,
  });
}

function fabricOptions(o: SuiteOptions, sizes: readonly number[]): FabricOptions {
  return { wait: o.wait, maxPayload: Math.max(...sizes) };
}

function bandwidth(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.bandwidth;
  const fo = fabricOptions(o, sizes);
  const d = o.durationSeconds;
  const spins = spinBudget(o.wait);
  const cases: Case[] = [];
  const suite = 'bandwidth';
  for (const size of sizes) {
    const variants: Array<['batched' | 'per-message', number]> = [['batched', BATCH]];
    if (size <= PER_MESSAGE_MAX) variants.push(['per-message', 1]);
    for (const [variant, batch] of variants) {
      cases.push({
        suite,
        label: `lparlink ${variant} ${size} B`,
        async run(ctx) {
          const m = await ctx.machine(2, suite);
          const t = await stream(m, fo, { size, batch, mode: variant === 'batched' ? 'drain' : 'recv', durationSeconds: d });
          return [throughputRow(suite, 'lparlink', variant, size, t.messages / t.seconds, { partitions: 2 })];
        },
      });
      for (const [system, roles] of [
        ['raw-relay', ['producer', 'relay', 'consumer']],
        ['raw-ring', ['producer', 'consumer']],
      ] as const) {
        cases.push({
          suite,
          label: `${system} ${variant} ${size} B`,
          async run() {
            const r = await runPipeline({ roles, bodyBytes: size, batch, capacity: rawRing(size), durationSeconds: d, fill: 'copy', spins, name: `${system} ${variant}` });
            return [throughputRow(suite, system, variant, size, r.msgsPerSec)];
          },
        });
      }
    }
    cases.push({
      suite,
      label: `postMessage ${size} B`,
      async run() {
        const r = await runPipeline({ roles: ['sender', 'receiver'], bodyBytes: size, batch: 1, capacity: RAW_RING_BYTES, durationSeconds: d, name: 'postMessage' });
        return [throughputRow(suite, 'postMessage', 'per-message', size, r.msgsPerSec)];
      },
    });
    for (const system of ['comlink', 'piscina'] as const) {
      cases.push({
        suite,
        label: `${system} ${size} B`,
        async run() {
          const rate = await callerThroughput({ system, bodyBytes: size, durationSeconds: d });
          return [throughputRow(suite, system, system === 'comlink' ? 'calls' : 'tasks', size, rate)];
        },
      });
    }
  }
  return cases;
}

function latency(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.latency;
  const fo = fabricOptions(o, sizes);
  const d = o.durationSeconds;
  const spins = spinBudget(o.wait);
  const cases: Case[] = [];
  for (const size of sizes) {
    cases.push({
      suite: 'latency',
      label: `lparlink round trip ${size} B`,
      async run(ctx) {
        const m = await ctx.machine(2, 'latency');
        return [{ ...latencyRow('lparlink', size, await pingPong(m, fo, { size, durationSeconds: d })), partitions: 2 }];
      },
    });
    for (const system of ['raw-ring', 'raw-relay', 'postMessage'] as const) {
      cases.push({
        suite: 'latency',
        label: `${system} round trip ${size} B`,
        async run() {
          return [latencyRow(system, size, await runRawLatency({ system, bodyBytes: size, durationSeconds: d, spins, capacity: rawRing(size) }))];
        },
      });
    }
    for (const system of ['comlink', 'piscina'] as const) {
      cases.push({
        suite: 'latency',
        label: `${system} round trip ${size} B`,
        async run() {
          return [latencyRow(system, size, await callerLatency({ system, bodyBytes: size, durationSeconds: d }), system === 'comlink' ? 'call' : 'task')];
        },
      });
    }
  }
  return cases;
}

/** Partition counts for the scaling suites: 2 (or 3) up to --partitions. */
function counts(from: number, to: number): number[] {
  const out: number[] = [];
  for (let n = from; n <= to; n++) out.push(n);
  return out.length > 0 ? out : [from];
}

function allToAllSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.multi;
  const fo = fabricOptions(o, sizes);
  return sizes.flatMap((size) =>
    counts(2, o.partitions).map(
      (n): Case => ({
        suite: 'all-to-all',
        label: `lparlink all-to-all ${n} partitions ${size} B`,
        async run() {
          const r = await withMachine(n, fo, `all-to-all-${n}`, (m) => allToAll(m, { partitions: n, size, batch: BATCH, durationSeconds: o.durationSeconds }));
          return [throughputRow('all-to-all', 'lparlink', 'batched', size, r.msgsPerSec, { partitions: n })];
        },
      }),
    ),
  );
}

function fanInSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.multi;
  const fo = fabricOptions(o, sizes);
  return sizes.flatMap((size) =>
    counts(3, Math.max(3, o.partitions)).map(
      (n): Case => ({
        suite: 'fan-in',
        label: `lparlink fan-in ${n - 1} → 1, ${size} B`,
        async run() {
          const t = await withMachine(n, fo, `fan-in-${n}`, (m) => fanIn(m, fo, { partitions: n, size, batch: BATCH, durationSeconds: o.durationSeconds }));
          return [throughputRow('fan-in', 'lparlink', 'batched', size, t.messages / t.seconds, { partitions: n })];
        },
      }),
    ),
  );
}

function fairnessSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.multi;
  const fo = fabricOptions(o, sizes);
  const pairs = Math.max(1, Math.floor((o.partitions - 1) / 2));
  const n = 2 * pairs + 1;
  return sizes.flatMap((size) =>
    (['stream', 'request-response'] as const).map(
      (honest): Case => ({
        suite: 'fairness',
        label: `lparlink fairness: ${pairs} ${honest} pair(s) beside a flooder, ${size} B`,
        async run() {
          const r = await withMachine(n, fo, 'fairness', (m) => fairness(m, fo, { pairs, size, batch: BATCH, durationSeconds: o.durationSeconds, honest }));
          const share = r.beside / r.alone;
          const what = honest === 'stream' ? 'a saturating stream' : 'round trips, one in flight';
          const note = `${what}: honest share beside the flooder ${share.toFixed(2)} of alone (target ≥ 0.8)`;
          return [
            throughputRow('fairness', 'lparlink', `${honest} alone`, size, r.alone, { partitions: n }),
            throughputRow('fairness', 'lparlink', `${honest} beside flooder`, size, r.beside, { partitions: n, note }),
          ];
        },
      }),
    ),
  );
}

/** Single-thread CPU cost per message (tinybench): the verified path's own work beside the relay's and the ring's. */
function microSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.micro;
  return sizes.map(
    (size): Case => ({
      suite: 'micro',
      label: `single-thread cost per message, ${size} B (tinybench)`,
      async run() {
        const results = await runMicro(size, BATCH, Math.min(1000, (o.durationSeconds * 1000) / 4));
        return results.map((r) =>
          throughputRow('micro', r.system, r.variant, size, 1e9 / r.nsPerMessage, { note: `${r.system} ${r.variant}: ${r.nsPerMessage.toFixed(0)} ns per message ±${r.rme.toFixed(1)}%` }),
        );
      },
    }),
  );
}

/** The ring suite as its author wrote it: one-way, 64 B, ring per-record, ring batched, postMessage. */
function ringSuite(o: SuiteOptions): Case[] {
  return [
    {
      suite: 'ring',
      label: 'ring: postMessage, ring per-record, ring batched',
      async run(ctx) {
        const report = await runRingBench({ durationSeconds: o.durationSeconds });
        ctx.ringReport = report;
        return report.cases.map((c) =>
          throughputRow(
            'ring',
            c.name === 'postMessage' ? 'postMessage' : 'raw-ring',
            c.name === 'ring batched' ? 'batched' : 'per-message',
            report.bodyBytes,
            c.msgsPerSec,
          ),
        );
      },
    },
  ];
}

function lifecycleSuite(o: SuiteOptions): Case[] {
  return [
    {
      suite: 'lifecycle',
      label: 'lifecycle: boot and close of a machine against bare new Worker spawns',
      async run() {
        const r = await runLifecycleBench({ partitions: Math.min(o.partitions, 4) });
        const note = (what: string, s: { median: number }) => `${what} median ${s.median.toFixed(1)} ms`;
        return [
          row({ suite: 'lifecycle', system: 'lparlink', variant: 'boot', payloadBytes: 0, partitions: r.partitions,
            note: `${note('createMachine', r.bootMs)} = ${(r.bootMs.median / r.bareSpawnMs.median).toFixed(1)}× one bare spawn (target ≤ 3)` }),
          row({ suite: 'lifecycle', system: 'lparlink', variant: 'close', payloadBytes: 0, partitions: r.partitions,
            note: `${note('close()', r.closeMs)} (target ≤ 50 ms)` }),
          row({ suite: 'lifecycle', system: 'lparlink', variant: 'first-result', payloadBytes: 0, partitions: r.partitions,
            note: note('boot + one program per partition', r.firstResultMs) }),
        ];
      },
    },
  ];
}

export const SUITES: Record<string, { describe: string; cases(o: SuiteOptions): Case[] }> = {
  lifecycle: { describe: 'boot and close of a machine against bare new Worker spawns (not in all)', cases: lifecycleSuite },
  bandwidth: {
    describe: 'one-way msgs/s and MB/s over payload sizes, lparlink (batched, per-message) against every baseline',
    cases: bandwidth,
  },
  latency: { describe: 'round trips, one in flight: p50/p99/p99.9 against every baseline', cases: latency },
  'all-to-all': { describe: 'every partition streams to every other (2 … --partitions partitions)', cases: allToAllSuite },
  'fan-in': { describe: 'many senders, one receiver (3 … --partitions partitions)', cases: fanInSuite },
  fairness: { describe: "honest pairs' throughput beside a flooding partition, as a share of alone", cases: fairnessSuite },
  ring: { describe: 'the bare ring between two workers: per-record, batched, postMessage (64 B)', cases: ringSuite },
  micro: { describe: 'CPU per message with every stage in one thread (tinybench): lparlink, raw relay, raw ring', cases: microSuite },
};

/** What `--suite all` (the default) runs, in order. */
export const ALL = ['micro', 'bandwidth', 'latency', 'all-to-all', 'fan-in', 'fairness'];
