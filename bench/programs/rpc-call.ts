/**
 * Bench program: call `echo` on rpc-serve over a channel (wrapChannel) for `durationMs`, one call at
 * a time, each timed into a node:perf_hooks histogram, as the comlink baseline's calls are timed.
 */
import { wrapChannel, type Process } from '../../src/index.js';
import { connectRetry, payload, timeEach, type LatencySummary } from './common.js';
import type { RpcBenchApi } from './rpc-serve.js';

export interface RpcCallArgs {
  partition: number;
  port: number;
  size: number;
  durationMs: number;
  /** Keep making untimed calls for this long too (a fresh machine's threads are still being compiled). */
  warmupMs?: number;
}

/**
 * Calls before the clock starts (JIT warm-up), however short warmupMs is. More than the comlink
 * baseline's 200: a call here runs comlink, v8.serialize and the channel's own code in two fresh
 * partitions. After 200, the default 0.25 s samples measured much of the warm-up (p50 208 µs in
 * one run, against 107–116 µs after 2000, and 83 µs in 1 s samples).
 */
const WARMUP = 2000;

export default async function main(proc: Process, args: RpcCallArgs): Promise<LatencySummary> {
  const ch = await connectRetry(proc, args.partition, args.port);
  const api = wrapChannel<RpcBenchApi>(ch);
  const m = payload(args.size);
  const warmUntil = performance.now() + (args.warmupMs ?? 0);
  for (let i = 0; i < WARMUP || performance.now() < warmUntil; i++) await api.echo(m);
  const summary = await timeEach(args.durationMs, () => api.echo(m));
  await ch.close();
  return summary;
}
