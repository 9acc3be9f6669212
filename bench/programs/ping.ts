/**
 * Bench program: round trips to an echo server (pong.ts) for `durationMs`,
 * one message in flight, each timed into a node:perf_hooks histogram.
 */
import type { Channel, Process, WaitMode } from '../../src/index.js';
import { connectRetry, latencyRecorder, nextMessageInto, nextMessageIntoSync, payload, pollSpinsFor, receiveBuffer, sendOne, type LatencySummary } from './common.js';

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
}

/** Round trips before the clock starts (JIT warm-up), however short warmupMs is. */
const WARMUP = 200;

async function receiveReply(ch: Channel, buffer: Uint8Array, spins: number, blocking: boolean): Promise<number> {
  const n = blocking ? nextMessageIntoSync(ch, buffer) : await nextMessageInto(ch, buffer, spins);
  if (n < 0) throw new Error('the echo server closed the channel');
  return n;
}

export default async function main(proc: Process, args: PingArgs): Promise<LatencySummary> {
  const ch = await connectRetry(proc, args.partition, args.port);
  const m = payload(args.size);
  const spins = pollSpinsFor(args.wait);
  const buffer = receiveBuffer(ch);
  const blocking = args.blocking === true;
  const warmUntil = performance.now() + (args.warmupMs ?? 0);
  for (let i = 0; i < WARMUP || performance.now() < warmUntil; i++) {
    await sendOne(ch, m);
    await receiveReply(ch, buffer, spins, blocking);
  }
  const rec = latencyRecorder();
  const start = performance.now();
  const end = start + args.durationMs;
  let n = 0;
  for (let now = start; now < end; n++) {
    const t0 = now;
    await sendOne(ch, m);
    await receiveReply(ch, buffer, spins, blocking);
    now = performance.now();
    rec.record((now - t0) * 1e6);
  }
  const seconds = (performance.now() - start) / 1000;
  await ch.close();
  return rec.summary(n, seconds);
}
