/**
 * Bench program: round trips to an echo server (pong.ts) for `durationMs`,
 * one message in flight, each timed into a node:perf_hooks histogram.
 */
import type { Channel, Process, WaitMode } from '../../src/index.js';
import { connectRetry, latencyRecorder, nextMessage, payload, pollSpinsFor, sendOne, type LatencySummary } from './common.js';

export interface PingArgs {
  partition: number;
  port: number;
  size: number;
  durationMs: number;
  wait: WaitMode;
}

/** Round trips before the clock starts (JIT warm-up). */
const WARMUP = 200;

async function receiveReply(ch: Channel, spins: number): Promise<Uint8Array> {
  const m = await nextMessage(ch, spins);
  if (m === undefined) throw new Error('the echo server closed the channel');
  return m;
}

export default async function main(proc: Process, args: PingArgs): Promise<LatencySummary> {
  const ch = await connectRetry(proc, args.partition, args.port);
  const m = payload(args.size);
  const spins = pollSpinsFor(args.wait);
  for (let i = 0; i < WARMUP; i++) {
    await sendOne(ch, m);
    await receiveReply(ch, spins);
  }
  const rec = latencyRecorder();
  const start = performance.now();
  const end = start + args.durationMs;
  let n = 0;
  for (let now = start; now < end; n++) {
    const t0 = now;
    await sendOne(ch, m);
    await receiveReply(ch, spins);
    now = performance.now();
    rec.record((now - t0) * 1e6);
  }
  const seconds = (performance.now() - start) / 1000;
  await ch.close();
  return rec.summary(n, seconds);
}
