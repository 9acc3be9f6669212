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
import { allToAll, fairnessRequestResponse, fairnessStreams, fanIn, pingPong, rpcCalls, scalingRingBytes, stream, STREAM_RING_BYTES, type FabricOptions } from './fabric.js';
import { runRawLatency } from './latency.js';
import { linkStream, rawTlsStream } from './link.js';
import { runMicro } from './micro.js';
import type { LatencySummary } from './latency-stats.js';
import { mbPerSec, ONE_THREAD, row, RPC_CALL, type ResultRow, type System } from './results.js';
import { jainIndex } from './spread.js';
import { runPipeline, runRingBench, type RingBenchReport } from './ring.js';
import type { BenchTrace } from './trace.js';

export interface SuiteOptions {
  readonly wait: WaitMode;
  /** Seconds each sample of a case runs. */
  readonly durationSeconds: number;
  /** Samples (rounds) of each case; cases that run `once` get durationSeconds × samples in one go. */
  readonly samples: number;
  /** Payload sizes; the suites' defaults when absent. */
  readonly sizes?: readonly number[];
  /** Most partitions the multi-partition suites use. */
  readonly partitions: number;
}

export interface Case {
  readonly suite: string;
  /** Shown in the progress bar. */
  readonly label: string;
  /** Run in the first round only: the case repeats and summarises its own measurements. */
  readonly once?: boolean;
  run(ctx: RunContext): Promise<ResultRow[]>;
}

/** Shared by the cases of one run: lparlink cases of a suite reuse one booted machine. */
export interface RunContext {
  /**
   * `ringBytes`: every ring's size (default: sized for the run's largest payload). `messageBytes`:
   * the least maxMessageBytes the case needs (default: the run's largest payload).
   */
  machine(partitions: number, label: string, ringBytes?: number, messageBytes?: number): Promise<Machine>;
  /** The ring suite's own report, kept for --json compatibility. */
  ringReport?: RingBenchReport;
  /** --trace: where the run's trace goes. */
  readonly trace?: BenchTrace;
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
  link: [64, 4096],
} as const;

/** Per-message variants run at payloads up to this size (the message-rate regime). */
const PER_MESSAGE_MAX = 4096;
/** What a comlink call over a channel adds to its payload in the message that carries it, with room to spare. */
const RPC_CALL_OVERHEAD_BYTES = 1024;

function rawRing(bytes: number): number {
  let n = RAW_RING_BYTES;
  while (n / 2 < bytes + 64) n *= 2;
  return n;
}

function throughputRow(suite: string, system: System, variant: string, size: number, msgsPerSec: number, extra: Partial<ResultRow> = {}): ResultRow {
  return row({ suite, system, variant, payloadBytes: size, msgsPerSec, mbPerSec: mbPerSec(msgsPerSec, size), ...extra });
}

/** A row's round-trip figures, as ib_send_lat prints them, from one run's summary. */
function roundTripFigures(s: LatencySummary): Partial<ResultRow> {
  return {
    roundTrips: s.roundTrips,
    minUs: s.minUs,
    meanUs: s.meanUs,
    stdevUs: s.stdevUs,
    p50us: s.p50us,
    p99us: s.p99us,
    p999us: s.p999us,
    maxUs: s.maxUs,
  };
}

function latencyRow(system: System, size: number, s: LatencySummary, variant = 'round-trip'): ResultRow {
  return row({
    suite: 'latency',
    system,
    variant,
    payloadBytes: size,
    msgsPerSec: s.roundTrips / s.seconds,
    ...roundTripFigures(s),
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
          const m = await ctx.machine(2, suite, STREAM_RING_BYTES);
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
            const r = await runPipeline({ roles, bodyBytes: size, batch, capacity: STREAM_RING_BYTES, durationSeconds: d, fill: 'copy', spins, name: `${system} ${variant}` });
            return [throughputRow(suite, system, variant, size, r.msgsPerSec)];
          },
        });
      }
    }
    if (size <= PER_MESSAGE_MAX) {
      // As an async program streams: an awaited write() per message and `for await` at the
      // receiver. Beside postMessage (a post per message, a 'message' event each), the async API's
      // own baseline; the relay has no such shape.
      cases.push({
        suite,
        label: `lparlink for-await ${size} B`,
        async run(ctx) {
          const m = await ctx.machine(2, suite, STREAM_RING_BYTES);
          const t = await stream(m, fo, { size, batch: 1, awaitEach: true, mode: 'iterate', durationSeconds: d });
          return [throughputRow(suite, 'lparlink', 'for-await', size, t.messages / t.seconds, { partitions: 2 })];
        },
      });
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

/** Polls before the one-thread relay's threads sleep (each a few ns: about as long as lparlink's hardware polls idle). */
const ONE_THREAD_RELAY_POLLS = 2000;

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
    cases.push({
      suite: 'latency',
      label: `lparlink round trip ${size} B, blocking receive`,
      async run(ctx) {
        const m = await ctx.machine(2, 'latency');
        const s = await pingPong(m, fo, { size, durationSeconds: d, blocking: true });
        return [{ ...latencyRow('lparlink', size, s, 'round-trip blocking'), partitions: 2 }];
      },
    });
    // Both ends in one thread: two busy threads (that one and the hardware or the relay), so on a
    // 2-core machine each has a core, as every thread of the two-partition shape would on 3 or more.
    cases.push({
      suite: 'latency',
      label: `lparlink round trip ${size} B, both ends in one partition`,
      async run(ctx) {
        const m = await ctx.machine(2, 'latency');
        const s = await pingPong(m, fo, { size, durationSeconds: d, echoHere: true });
        return [{ ...latencyRow('lparlink', size, s, ONE_THREAD), partitions: 1 }];
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
    cases.push({
      suite: 'latency',
      label: `raw-relay round trip ${size} B, both ends in one thread`,
      async run() {
        // The relay polls before it sleeps as lparlink's hardware does (engineIdleMs, tens of µs)
        // unless the mode sleeps at once: with adaptive's 20 polls it slept at every hop (p50 92 µs
        // against 0.85 µs with 1000 or more). Ping, like lparlink's process, polls the mode's own.
        const relaySpins = o.wait === 'sleep' ? 0 : Math.max(spins, ONE_THREAD_RELAY_POLLS);
        const s = await runRawLatency({ system: 'raw-relay', bodyBytes: size, durationSeconds: d, spins, relaySpins, capacity: rawRing(size), echoInPing: true });
        return [latencyRow('raw-relay', size, s, ONE_THREAD)];
      },
    });
    cases.push({
      suite: 'latency',
      label: `lparlink rpc call ${size} B (comlink over a channel)`,
      async run(ctx) {
        // Messages that hold a whole call (its structured clone is ~120 B more than the payload), as
        // comlink's over a MessagePort go whole: with the suite's 64 B, each would go in three fragments.
        const m = await ctx.machine(2, 'latency', undefined, size + RPC_CALL_OVERHEAD_BYTES);
        return [{ ...latencyRow('lparlink', size, await rpcCalls(m, { size, durationSeconds: d }), RPC_CALL), partitions: 2 }];
      },
    });
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
  return sizes.flatMap((size) =>
    counts(2, o.partitions).map(
      (n): Case => ({
        suite: 'all-to-all',
        label: `lparlink all-to-all ${n} partitions ${size} B`,
        async run(ctx) {
          const m = await ctx.machine(n, `all-to-all-${n}`, scalingRingBytes(n));
          const r = await allToAll(m, { partitions: n, size, batch: BATCH, durationSeconds: o.durationSeconds });
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
        async run(ctx) {
          const m = await ctx.machine(n, `fan-in-${n}`, scalingRingBytes(n));
          const t = await fanIn(m, fo, { partitions: n, size, batch: BATCH, durationSeconds: o.durationSeconds });
          return [throughputRow('fan-in', 'lparlink', 'batched', size, t.messages / t.seconds, { partitions: n })];
        },
      }),
    ),
  );
}

/** What the restated fairness targets ask (issue 11). */
export const FAIRNESS_TARGETS = { jainIndex: 0.95, requestResponseKept: 0.8 } as const;

function fairnessSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.multi;
  const fo = fabricOptions(o, sizes);
  const pairs = Math.max(1, Math.floor((o.partitions - 1) / 2));
  const n = 2 * pairs + 1;
  const suite = 'fairness';
  return sizes.flatMap((size): Case[] => {
    const c = { pairs, size, batch: BATCH, durationSeconds: o.durationSeconds };
    return [
      {
        suite,
        label: `lparlink fairness: ${pairs} stream(s) and a flooder, all backlogged, ${size} B`,
        async run(ctx) {
          const m = await ctx.machine(n, suite);
          const r = await fairnessStreams(m, fo, c);
          const sum = (x: number[]): number => x.reduce((a, b) => a + b, 0);
          const alone = sum(r.alone);
          const beside = sum(r.beside);
          const fairness = {
            keptOfAlone: beside / alone,
            share: beside / (beside + r.flooder),
            equalShare: pairs / (pairs + 1),
            jainIndex: jainIndex([...r.beside, r.flooder]),
            target: `Jain's index ≥ ${FAIRNESS_TARGETS.jainIndex}; share against the equal share`,
          };
          return [
            throughputRow(suite, 'lparlink', 'stream alone', size, alone, { partitions: n }),
            throughputRow(suite, 'lparlink', 'stream beside flooder', size, beside, { partitions: n, fairness }),
            throughputRow(suite, 'lparlink', 'flooder beside stream', size, r.flooder, { partitions: n }),
          ];
        },
      },
      {
        suite,
        label: `lparlink fairness: ${pairs} request/response pair(s) beside a flooder, ${size} B`,
        async run(ctx) {
          const m = await ctx.machine(n, suite);
          const r = await fairnessRequestResponse(m, fo, c);
          const fairness = {
            keptOfAlone: r.beside / r.alone,
            share: null,
            equalShare: null,
            jainIndex: null,
            target: `kept of alone ≥ ${FAIRNESS_TARGETS.requestResponseKept}`,
          };
          return [
            throughputRow(suite, 'lparlink', 'request-response alone', size, r.alone, { partitions: n, ...roundTripFigures(r.aloneLatency) }),
            throughputRow(suite, 'lparlink', 'request-response beside flooder', size, r.beside, { partitions: n, fairness, ...roundTripFigures(r.besideLatency) }),
          ];
        },
      },
    ];
  });
}

/** Single-thread CPU cost per message (tinybench): the verified path's own work beside the relay's and the ring's. */
function microSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.micro;
  return sizes.map(
    (size): Case => ({
      suite: 'micro',
      label: `single-thread cost per message, ${size} B (tinybench)`,
      async run(ctx) {
        const results = await runMicro(size, BATCH, Math.min(1000, (o.durationSeconds * 1000) / 4), ctx.trace);
        return results.map((r) => throughputRow('micro', r.system, r.variant, size, 1e9 / r.nsPerMessage));
      },
    }),
  );
}

/**
 * Every link sample starts two fresh processes, so its first fraction of a second is the JIT
 * compiling four threads' hot paths (lparlink) or one socket's (the raw socket, mostly native
 * code): 64 B streams ran ~2.2M messages/s in 0.5 s samples and ~3.4M in 2.5 s ones. The receivers
 * of both systems leave this much of each sample out (a quarter of a shorter sample), so the
 * suite compares steady states.
 */
export const LINK_WARMUP_MS = 250;

/**
 * Two nodes as two OS processes over loopback TLS 1.3 (bench/link.ts): lparlink batched and per
 * message, and the raw TLS socket with the same large writes, one round after another so that
 * their ratio pairs up within each round.
 */
function linkSuite(o: SuiteOptions): Case[] {
  const sizes = o.sizes ?? DEFAULT_SIZES.link;
  const maxPayload = Math.max(...sizes);
  const d = o.durationSeconds;
  const warmupMs = Math.min(LINK_WARMUP_MS, (d * 1000) / 4);
  const suite = 'link';
  return sizes.flatMap((size): Case[] => [
    ...(
      [
        ['batched', BATCH, 'drain'],
        ['per-message', 1, 'recv'],
      ] as const
    ).map(
      ([variant, batch, mode]): Case => ({
        suite,
        label: `lparlink over the link, ${variant} ${size} B`,
        async run() {
          const t = await linkStream({ size, batch, mode, durationSeconds: d, wait: o.wait, maxPayload, warmupMs });
          return [throughputRow(suite, 'lparlink', variant, size, t.messages / t.seconds)];
        },
      }),
    ),
    {
      suite,
      label: `raw TLS socket, large writes ${size} B`,
      async run() {
        const t = await rawTlsStream({ size, durationSeconds: d, warmupMs });
        return [throughputRow(suite, 'raw-tls', 'large writes', size, t.messages / t.seconds)];
      },
    },
  ]);
}

/** The ring suite as its author wrote it: one-way, 64 B, ring per-record, ring batched, postMessage. */
function ringSuite(o: SuiteOptions): Case[] {
  return [
    {
      suite: 'ring',
      label: 'ring: postMessage, ring per-record, ring batched',
      once: true,
      async run(ctx) {
        const report = await runRingBench({ durationSeconds: o.durationSeconds * o.samples });
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
      once: true,
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

/**
 * A suite: its cases, and whether its rounds interleave (every case once per
 * round, so lparlink and its baselines share each round's load and their
 * ratios pair up) or run each case's samples back to back (suites without
 * baselines, which then reuse one booted machine per case).
 */
export interface Suite {
  readonly describe: string;
  readonly interleaved: boolean;
  cases(o: SuiteOptions): Case[];
}

export const SUITES: Record<string, Suite> = {
  lifecycle: { describe: 'boot and close of a machine against bare new Worker spawns (not in all)', interleaved: false, cases: lifecycleSuite },
  bandwidth: {
    describe: 'one-way msgs/s and MB/s over payload sizes, lparlink (batched, per-message) against every baseline',
    interleaved: true,
    cases: bandwidth,
  },
  latency: { describe: 'round trips, one in flight: min/mean/stdev/p50/p99/p99.9/max against every baseline', interleaved: true, cases: latency },
  'all-to-all': { describe: 'every partition streams to every other (2 … --partitions partitions); no baseline of this shape', interleaved: false, cases: allToAllSuite },
  'fan-in': { describe: 'many senders, one receiver (3 … --partitions partitions); no baseline of this shape', interleaved: false, cases: fanInSuite },
  fairness: {
    describe: "backlogged streams beside a flooder (Jain's index, share against the equal share); request/response pairs beside it, as a share of alone",
    interleaved: false,
    cases: fairnessSuite,
  },
  ring: { describe: 'the bare ring between two workers: per-record, batched, postMessage (64 B) (not in all)', interleaved: false, cases: ringSuite },
  link: {
    describe: 'two nodes as two OS processes over loopback TLS 1.3, 64 B and 4 KiB, against a raw TLS socket with the same large writes (not in all)',
    interleaved: true,
    cases: linkSuite,
  },
  micro: { describe: 'CPU per message with every stage in one thread (tinybench): lparlink, raw relay, raw ring', interleaved: true, cases: microSuite },
};

/** What `--suite all` (the default) runs, in order. */
export const ALL = ['micro', 'bandwidth', 'latency', 'all-to-all', 'fan-in', 'fairness'];
