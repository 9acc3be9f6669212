/**
 * Round-trip baselines (raw ring, raw relay, postMessage): starts
 * bench/latency-worker.ts in two or three workers and returns the pinger's
 * histogram summary.
 */
import { MessageChannel, Worker } from 'node:worker_threads';
import { initRing, ringRegionBytes, workerEntry } from '../src/internal.js';
import type { LatencySummary } from './latency-stats.js';
import { CONTROL_GO, CONTROL_WORDS, type RingRef } from './ring-protocol.js';
import { notifyBenchWorkers, track } from './ring.js';
import { SIGNAL_BYTES, type LatencyInput } from './latency-protocol.js';

export interface RawLatencyOptions {
  readonly system: 'raw-ring' | 'raw-relay' | 'postMessage';
  readonly bodyBytes: number;
  readonly durationSeconds: number;
  readonly spins: number;
  /** Ring data bytes (a power of two, at least twice the record). */
  readonly capacity: number;
  /** raw-relay only: ping echoes too, in its own thread (two threads: ping and the relay). */
  readonly echoInPing?: boolean;
  /** raw-relay only: the relay thread's polls before it sleeps, when not `spins` (as lparlink's hardware polls longer than its partitions). */
  readonly relaySpins?: number;
}

/** `count` rings in one buffer, after the consumers' signal lines. */
function ringsInOneBuffer(count: number, capacity: number): RingRef[] {
  const region = ringRegionBytes(capacity);
  const buffer = new SharedArrayBuffer(SIGNAL_BYTES + count * region);
  return Array.from({ length: count }, (_, i) => {
    const base = SIGNAL_BYTES + i * region;
    initRing(buffer, base, capacity);
    return { buffer, base, capacity };
  });
}

export async function runRawLatency(o: RawLatencyOptions): Promise<LatencySummary> {
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const common = { control, bodyBytes: o.bodyBytes, durationMs: o.durationSeconds * 1000, spins: o.spins };
  const inputs: LatencyInput[] = [];
  const transfers: MessageChannel['port1'][][] = [];
  if (o.system === 'postMessage') {
    const { port1, port2 } = new MessageChannel();
    inputs.push({ ...common, role: 'pm-ping', port: port1 }, { ...common, role: 'pm-pong', port: port2 });
    transfers.push([port1], [port2]);
  } else if (o.system === 'raw-ring') {
    const [a, b] = ringsInOneBuffer(2, o.capacity);
    inputs.push({ ...common, role: 'ping', from: [b], to: [a] }, { ...common, role: 'pong', from: [a], to: [b] });
    transfers.push([], []);
  } else if (o.echoInPing === true) {
    const [a, b, c, d] = ringsInOneBuffer(4, o.capacity);
    inputs.push({ ...common, role: 'ping', relay: true, echoInPing: true, from: [d, b], to: [a, c] }, { ...common, spins: o.relaySpins ?? o.spins, role: 'relay', relay: true, echoInPing: true, from: [a, c], to: [b, d] });
    transfers.push([], []);
  } else {
    const [a, b, c, d] = ringsInOneBuffer(4, o.capacity);
    inputs.push(
      { ...common, role: 'ping', relay: true, from: [d], to: [a] },
      { ...common, role: 'relay', relay: true, from: [a, c], to: [b, d] },
      { ...common, role: 'pong', relay: true, from: [b], to: [c] },
    );
    transfers.push([], [], []);
  }
  const entry = workerEntry('../bench/latency-worker');
  const names = inputs.map((i) => `bench-${o.system}-${i.role}`);
  const workers = inputs.map((workerData, i) => new Worker(entry, { workerData, transferList: transfers[i], name: names[i] }));
  notifyBenchWorkers(workers, names);
  try {
    const handles = workers.map((w) => track<unknown>(w));
    await Promise.race([Promise.all(handles.map((h) => h.ready)), ...handles.map((h) => h.result)]);
    const go = new Int32Array(control);
    Atomics.store(go, CONTROL_GO, 1);
    Atomics.notify(go, CONTROL_GO);
    const results = await Promise.all(handles.map((h) => h.result));
    return results[0] as LatencySummary;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
