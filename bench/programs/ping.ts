/**
 * Bench program: round trips to an echo server (pong.ts) for `durationMs`,
 * one message in flight, each timed into a node:perf_hooks histogram. With
 * `echoHere`, the echo end is this program's own (a channel to itself): two
 * busy threads in all, this one and the hardware.
 */
import type { Channel, Process, WaitMode } from '../../src/index.js';
import { connectRetry, nextMessageInto, nextMessageIntoSync, payload, pollSpinsFor, receiveBuffer, sendOne, timeEach, type LatencySummary } from './common.js';

export interface PingArgs {
  partition: number;
  port: number;
  size: number;
  durationMs: number;
  wait: WaitMode;
  /** Wait for each reply blocking the thread (recvIntoSync) instead of awaiting. */
  blocking?: boolean;
  /** Keep making untimed round trips for this long too (a fresh machine's threads are still being compiled). */
  warmupMs?: number;
  /**
   * Listen on `port` of this partition (`partition` must be its own) and echo there too, in this
   * thread: the round trip crosses the hardware twice with no third thread. Implies `blocking`.
   */
  echoHere?: boolean;
}

/** Round trips before the clock starts (JIT warm-up), however short warmupMs is. */
const WARMUP = 200;

async function receiveReply(ch: Channel, buffer: Uint8Array, spins: number, blocking: boolean): Promise<number> {
  const n = blocking ? nextMessageIntoSync(ch, buffer) : await nextMessageInto(ch, buffer, spins);
  if (n < 0) throw new Error('the echo server closed the channel');
  return n;
}

/** The channel to the echo end and, with echoHere, that end itself (accepted here). */
async function connectEcho(proc: Process, args: PingArgs): Promise<{ ch: Channel; echo: Channel | undefined }> {
  if (args.echoHere !== true) return { ch: await connectRetry(proc, args.partition, args.port), echo: undefined };
  const listener = proc.listen(args.port);
  await listener.ready;
  const [ch, echo] = await Promise.all([proc.connect({ partition: args.partition, port: args.port }), listener.accept()]);
  await listener.close();
  return { ch, echo };
}

export default async function main(proc: Process, args: PingArgs): Promise<LatencySummary> {
  const { ch, echo } = await connectEcho(proc, args);
  const m = payload(args.size);
  const spins = pollSpinsFor(args.wait);
  const buffer = receiveBuffer(ch);
  const echoBuffer = echo === undefined ? buffer : receiveBuffer(echo);
  const blocking = args.blocking === true || echo !== undefined;
  const roundTrip = async (): Promise<void> => {
    await sendOne(ch, m);
    if (echo !== undefined) await sendOne(echo, echoBuffer.subarray(0, await receiveReply(echo, echoBuffer, spins, true)));
    await receiveReply(ch, buffer, spins, blocking);
  };
  const warmUntil = performance.now() + (args.warmupMs ?? 0);
  for (let i = 0; i < WARMUP || performance.now() < warmUntil; i++) await roundTrip();
  const summary = await timeEach(args.durationMs, roundTrip);
  await ch.close();
  await echo?.close();
  return summary;
}
