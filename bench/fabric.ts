/**
 * The lparlink side of every suite: boots a machine, spawns the bench
 * programs (dist/bench/programs/*.js) in its partitions and collects what
 * they measured. Nothing here reaches into the machine's memory; programs
 * measure themselves and report through `handle.result`.
 */
import { createMachine, type Machine, type WaitMode } from '../src/index.js';
import { setThreadLabel } from '../src/internal.js';
import type { LatencySummary } from './latency-stats.js';
import type { ReceiveMode, ReceiveTally } from './programs/common.js';
import type { MeshArgs } from './programs/mesh.js';
import type { PingArgs } from './programs/ping.js';
import type { PongArgs } from './programs/pong.js';
import type { RpcCallArgs } from './programs/rpc-call.js';
import type { RpcServeArgs } from './programs/rpc-serve.js';
import type { StreamRecvArgs } from './programs/stream-recv.js';
import type { StreamSendArgs } from './programs/stream-send.js';
import type { BenchTrace } from './trace.js';

const program = (name: string): URL => new URL(`./programs/${name}.js`, import.meta.url);
/** The bench programs, compiled beside this module. */
export const PROGRAMS = {
  streamSend: program('stream-send'),
  streamRecv: program('stream-recv'),
  ping: program('ping'),
  pong: program('pong'),
  mesh: program('mesh'),
  rpcServe: program('rpc-serve'),
  rpcCall: program('rpc-call'),
};

export interface FabricOptions {
  readonly wait: WaitMode;
  /** Largest payload the cases will send (sizes the rings unless `ringBytes`). */
  readonly maxPayload: number;
  /** Every send and receive ring's bytes (default: enough for a few of the largest message, at least 256 KiB). */
  readonly ringBytes?: number;
  /** --trace: the machine traces, and its rings go into the run's trace file before it closes. */
  readonly trace?: BenchTrace;
  /** createMachine's demoteFlooders (--no-demote: false); default true. */
  readonly demoteFlooders?: boolean;
}

/**
 * Every ring of the streams (bandwidth, all-to-all, fan-in; both nodes of the link suite),
 * lparlink's and the raw baselines' alike. On this 2-core VM a wake-up costs ~25 µs a hop and a
 * woken thread often waits for a core: a 256 KiB ring holds 63 messages of 4 KiB, about 60 µs of
 * the hardware's work, so the pipeline stalled on nearly every wake-up (4 KiB one message at a
 * time: lparlink 0.48M -> 0.88M msgs/s with 4 MiB, the raw relay 0.73M -> 1.42M: the ratio did
 * not move; two partitions streaming to each other: 2.0–2.4M -> 9.1–11.2M). Over a link the
 * raw TLS socket buffers megabytes in the kernel and in Node, and the receiving node's 256 KiB
 * ring paused its socket ~1000 times a second.
 */
export const STREAM_RING_BYTES = 4 * 1024 * 1024;

/** The scaling suites' rings together (each partition's send and receive ring), at most. */
const SCALING_RINGS_BYTES = 64 * 1024 * 1024;

/**
 * The rings of the scaling suites (all-to-all, fan-in) for `partitions` partitions:
 * STREAM_RING_BYTES up to 8 partitions, then halved as the count doubles (a power of two, at
 * least the machine's default). Each partition's rings are touched whole, and a closed machine's
 * go back only when the main thread collects garbage: at 4 MiB each, a run to 32 partitions
 * peaked at 1.5 GB resident. With more partitions than cores each stream runs a smaller share of
 * the time, and 1 MiB rings at 12–16 partitions moved what 4 MiB ones did (0.9–1.0M msgs/s
 * against 0.8–1.4M, one sample each).
 */
export function scalingRingBytes(partitions: number): number {
  const fits = Math.floor(SCALING_RINGS_BYTES / (2 * Math.max(1, partitions)));
  return Math.max(256 * 1024, Math.min(STREAM_RING_BYTES, 2 ** Math.floor(Math.log2(fits))));
}

/** Ring sizes that hold at least a few of the largest messages. */
function ringBytes(maxPayload: number): number {
  let n = 256 * 1024;
  while (n / 2 < maxPayload + 64) n *= 2;
  return n;
}

export async function withMachine<T>(partitions: number, o: FabricOptions, label: string, body: (m: Machine) => Promise<T>): Promise<T> {
  const ring = o.ringBytes ?? ringBytes(o.maxPayload);
  // Under --cpu-prof the machine's threads are recorded with this label, e.g. fan-in-3.
  setThreadLabel(label);
  const machine = await createMachine({
    partitions: Array.from({ length: partitions }, (_, i) => ({ id: i + 1 })),
    wait: o.wait,
    sendRingBytes: ring,
    receiveRingBytes: ring,
    maxMessageBytes: Math.max(o.maxPayload, 64),
    trace: o.trace?.machineOption,
    demoteFlooders: o.demoteFlooders ?? true,
  });
  try {
    return await body(machine);
  } finally {
    try {
      await o.trace?.addMachine(machine, label);
    } finally {
      await machine.close();
    }
  }
}

let nextPort = 1000;

interface StreamCase {
  size: number;
  batch: number;
  durationSeconds: number;
  /** The sender awaits a write() per message (batch ignored). */
  awaitEach?: boolean;
}

/** A stream-send process in partition `from`, to `to:port`. */
function sender(m: Machine, from: number, to: number, port: number, c: StreamCase) {
  const args: StreamSendArgs = { partition: to, port, size: c.size, batch: c.batch, durationMs: c.durationSeconds * 1000, awaitEach: c.awaitEach };
  return m.partition(from).spawn(PROGRAMS.streamSend, args);
}

/** A stream-recv process in partition `at`, accepting `channels` streams on `port`. */
function receiver(m: Machine, o: FabricOptions, at: number, port: number, channels: number, mode: ReceiveMode = 'drain') {
  const args: StreamRecvArgs = { port, channels, mode, wait: o.wait };
  return m.partition(at).spawn(PROGRAMS.streamRecv, args);
}

/** One-way stream partition 2 → partition 1, measured at the receiver. */
export async function stream(
  m: Machine,
  o: FabricOptions,
  c: StreamCase & { mode: ReceiveMode },
): Promise<ReceiveTally> {
  const port = nextPort++;
  const rx = await receiver(m, o, 1, port, 1, c.mode);
  const tx = await sender(m, 2, 1, port, c);
  await tx.result;
  return (await rx.result) as ReceiveTally;
}

/**
 * How long the first round trips on a machine run untimed. A fresh machine's threads make round
 * trips at a fifth of their later rate for most of a second here (2 cores: the JIT's background
 * compiles wait for a core), so the first sample of the latency and fairness suites measured the
 * compiler rather than the machine (p50 155 µs against 56 µs in the samples after it).
 */
const MACHINE_WARMUP_MS = 1000;
const warmMachines = new WeakSet<Machine>();

/** The untimed warm-up for a program's first round trips on `m`: MACHINE_WARMUP_MS the first time, then none. */
function warmupFor(m: Machine): number {
  if (warmMachines.has(m)) return 0;
  warmMachines.add(m);
  return MACHINE_WARMUP_MS;
}

/**
 * Round trips client → server → client (partitions 2 and 1 unless given), one message in flight.
 * `echoHere`: the client's program is its own server (both ends in one partition, blocking).
 */
export async function pingPong(
  m: Machine,
  o: FabricOptions,
  c: { size: number; durationSeconds: number; server?: number; client?: number; blocking?: boolean; echoHere?: boolean },
): Promise<LatencySummary> {
  const port = nextPort++;
  const clientAt = c.client ?? 2;
  const serverAt = c.echoHere === true ? clientAt : (c.server ?? 1);
  const server = c.echoHere === true ? undefined : await m.partition(serverAt).spawn(PROGRAMS.pong, { port, wait: o.wait, blocking: c.blocking } satisfies PongArgs);
  const client = await m.partition(clientAt).spawn(PROGRAMS.ping, {
    partition: serverAt,
    port,
    size: c.size,
    durationMs: c.durationSeconds * 1000,
    wait: o.wait,
    blocking: c.blocking,
    echoHere: c.echoHere,
    warmupMs: warmupFor(m),
  } satisfies PingArgs);
  const summary = (await client.result) as LatencySummary;
  await server?.result;
  return summary;
}

/**
 * comlink over a channel: partition 2 calls `echo` on partition 1 (wrapChannel, exposeOverChannel),
 * one call at a time, timed as the comlink baseline's calls over a MessagePort are.
 */
export async function rpcCalls(m: Machine, c: { size: number; durationSeconds: number }): Promise<LatencySummary> {
  const port = nextPort++;
  const server = await m.partition(1).spawn(PROGRAMS.rpcServe, { port } satisfies RpcServeArgs);
  const client = await m.partition(2).spawn(PROGRAMS.rpcCall, {
    partition: 1,
    port,
    size: c.size,
    durationMs: c.durationSeconds * 1000,
    warmupMs: warmupFor(m),
  } satisfies RpcCallArgs);
  const summary = (await client.result) as LatencySummary;
  await server.result;
  return summary;
}

/** Every partition streams to every other one; returns messages received per second, all partitions together. */
export async function allToAll(
  m: Machine,
  c: { partitions: number; size: number; batch: number; durationSeconds: number },
): Promise<{ msgsPerSec: number; messages: number }> {
  const port = nextPort++;
  const ids = Array.from({ length: c.partitions }, (_, i) => i + 1);
  const handles = await Promise.all(
    ids.map((id) =>
      m.partition(id).spawn(PROGRAMS.mesh, {
        peers: ids.filter((p) => p !== id),
        port,
        size: c.size,
        batch: c.batch,
        durationMs: c.durationSeconds * 1000,
      } satisfies MeshArgs),
    ),
  );
  const tallies = (await Promise.all(handles.map((h) => h.result))) as ReceiveTally[];
  const messages = tallies.reduce((s, t) => s + t.messages, 0);
  const seconds = Math.max(...tallies.map((t) => t.seconds));
  return { msgsPerSec: messages / seconds, messages };
}

/** Partitions 2..N each stream to partition 1 on their own channel. */
export async function fanIn(
  m: Machine,
  o: FabricOptions,
  c: StreamCase & { partitions: number },
): Promise<ReceiveTally> {
  const port = nextPort++;
  const senders = c.partitions - 1;
  const rx = await receiver(m, o, 1, port, senders);
  const txs = await Promise.all(Array.from({ length: senders }, (_, i) => sender(m, i + 2, 1, port, c)));
  await Promise.all(txs.map((t) => t.result));
  return (await rx.result) as ReceiveTally;
}

/** Messages per sendBatch of the flooder: eight times an honest stream's, so it never leaves its queue pair idle. */
const FLOOD_BATCH = 256;

interface FairnessCase extends StreamCase {
  /** Honest pairs: partition 2i+2 sends to partition 2i+1. The flooder is partition 2·pairs+1. */
  pairs: number;
}

/** msgs/s of one stream from `from` to `to`, measured at its receiver; the receiver listens before the sender starts. */
async function startStream(m: Machine, o: FabricOptions, from: number, to: number, c: StreamCase): Promise<() => Promise<number>> {
  const port = nextPort++;
  const rx = await receiver(m, o, to, port, 1);
  return async () => {
    const tx = await sender(m, from, to, port, c);
    await tx.result;
    const t = (await rx.result) as ReceiveTally;
    return t.messages / t.seconds;
  };
}

/**
 * Backlogged senders: the honest pairs streaming at full rate, alone, and
 * then beside a flooder (the last partition streaming in batches of
 * FLOOD_BATCH to a sink in its own partition, so the flood adds one thread,
 * not two) started at the same moment and running as long. Every sender is
 * backlogged, so each should get an equal share of the engine. Returns each
 * honest pair's msgs/s alone and beside, and the flooder's, each measured at
 * its receiver from its first message to its last.
 */
export async function fairnessStreams(m: Machine, o: FabricOptions, c: FairnessCase): Promise<{ alone: number[]; beside: number[]; flooder: number }> {
  const honest = (): Promise<Array<() => Promise<number>>> =>
    Promise.all(Array.from({ length: c.pairs }, (_, i) => startStream(m, o, 2 * i + 2, 2 * i + 1, c)));
  const alone = await Promise.all((await honest()).map((go) => go()));
  const flooder = 2 * c.pairs + 1;
  const ready = [...(await honest()), await startStream(m, o, flooder, flooder, { ...c, batch: FLOOD_BATCH })];
  const rates = await Promise.all(ready.map((go) => go()));
  return { alone, beside: rates.slice(0, c.pairs), flooder: rates[c.pairs] };
}

/** What the request/response case measured, alone and beside the flooder. */
export interface RequestResponseFairness {
  /** Round trips per second, all pairs together. */
  alone: number;
  beside: number;
  /**
   * Each run's round-trip times, from one pair: the one whose p50 is the pairs' median (the upper
   * one for an even count, so never the faster half; with one pair, that pair). They tell whether
   * the pairs lost their rate evenly or to a tail; `alone` and `beside` count every pair.
   */
  aloneLatency: LatencySummary;
  besideLatency: LatencySummary;
}

/**
 * Honest pairs making round trips one at a time, alone and then beside a
 * flooder that is already at full rate and outlasts them. The pairs hardly
 * load the engine, so they should keep most of their alone rate.
 */
export async function fairnessRequestResponse(m: Machine, o: FabricOptions, c: FairnessCase): Promise<RequestResponseFairness> {
  const honest = async (): Promise<{ rate: number; typical: LatencySummary }> => {
    const runs = await Promise.all(
      Array.from({ length: c.pairs }, (_, i) => pingPong(m, o, { size: c.size, durationSeconds: c.durationSeconds, server: 2 * i + 1, client: 2 * i + 2 })),
    );
    const byP50 = [...runs].sort((a, b) => a.p50us - b.p50us);
    return { rate: runs.reduce((a, s) => a + s.roundTrips / s.seconds, 0), typical: byP50[byP50.length >> 1] };
  };
  const alone = await honest();
  const flooder = 2 * c.pairs + 1;
  const port = nextPort++;
  const sink = await receiver(m, o, flooder, port, 1);
  const flood = await sender(m, flooder, flooder, port, { size: c.size, batch: FLOOD_BATCH, durationSeconds: c.durationSeconds + 0.4 });
  await new Promise((r) => setTimeout(r, 100)); // let the flood reach full rate
  const beside = await honest();
  await flood.result;
  await sink.result;
  return { alone: alone.rate, beside: beside.rate, aloneLatency: alone.typical, besideLatency: beside.typical };
}
