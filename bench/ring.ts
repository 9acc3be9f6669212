/**
 * One-way throughput between two worker threads: the SPSC ring, publishing
 * per record and in batches, against postMessage with one message per post.
 * All cases run in one process, one after another, so their ratios compare
 * like with like (absolute numbers on shared machines vary by up to 2×).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageChannel, Worker } from 'node:worker_threads';
import { allocateRing, recordThreadName, workerEntry } from '../src/internal.js';
import { CONTROL_GO, CONTROL_STOP, CONTROL_WORDS, type WorkerInput, type WorkerResult } from './ring-protocol.js';

export interface RingBenchOptions {
  /** Seconds each case runs (default 5). */
  readonly durationSeconds?: number;
  /** Payload bytes per message (default 64; a multiple of 4). */
  readonly bodyBytes?: number;
  /** Records per publish in the batched case (default 32). */
  readonly batch?: number;
  /** Ring data bytes (default 64 KiB; a power of two). */
  readonly capacity?: number;
}

export type RingBenchCaseName = 'postMessage' | 'ring per-record' | 'ring batched';

export interface RingBenchCase {
  readonly name: RingBenchCaseName;
  /** Messages per publish (ring) or 1 (postMessage). */
  readonly batch: number;
  readonly messages: number;
  readonly seconds: number;
  readonly msgsPerSec: number;
  /** msgsPerSec divided by postMessage's. */
  readonly ratio: number;
}

export interface RingBenchReport {
  readonly bodyBytes: number;
  readonly capacity: number;
  readonly durationSeconds: number;
  readonly cases: readonly RingBenchCase[];
}

const DEFAULTS = { durationSeconds: 5, bodyBytes: 64, batch: 32, capacity: 64 * 1024 } as const;

interface CaseSpec {
  readonly name: RingBenchCaseName;
  readonly batch: number;
  readonly roles: readonly [WorkerInput['role'], WorkerInput['role']];
}

/** A worker's two messages: 'ready' once it is set up, then its result. */
export function track<R = WorkerResult>(w: Worker): { ready: Promise<void>; result: Promise<R> } {
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const result = new Promise<R>((resolve, reject) => {
    w.on('message', (m: 'ready' | R) => (m === 'ready' ? markReady() : resolve(m)));
    w.on('error', reject);
    w.on('exit', (code) => reject(new Error(`benchmark worker exited with code ${code} before reporting`)));
  });
  result.catch(() => {}); // reported through the awaits below; this only keeps a second failure from being unhandled
  return { ready, result };
}

/** What one measured pipeline moved: messages that reached the last worker, over its own clock. */
export interface PipelineMeasurement {
  readonly messages: number;
  readonly seconds: number;
  readonly msgsPerSec: number;
}

export interface PipelineSpec {
  /** sender/receiver: postMessage; producer/consumer: one ring; producer/relay/consumer: two rings and a relay. */
  readonly roles: readonly WorkerInput['role'][];
  readonly bodyBytes: number;
  readonly batch: number;
  readonly capacity: number;
  readonly durationSeconds: number;
  readonly fill?: WorkerInput['fill'];
  readonly spins?: number;
  /** The case's name in errors. */
  readonly name: string;
}

/**
 * Start the workers of a case (two, or three with a relay), run them for
 * `durationSeconds`, and check that everything sent arrived, in order.
 */
export async function runPipeline(spec: PipelineSpec): Promise<PipelineMeasurement> {
  const control = new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT);
  const controlWords = new Int32Array(control);
  const common = { control, bodyBytes: spec.bodyBytes, batch: spec.batch, fill: spec.fill, spins: spec.spins };
  const inputs: WorkerInput[] = [];
  const transfers: MessageChannel['port1'][][] = [];
  if (spec.roles[0] === 'producer') {
    const rings = spec.roles.slice(1).map(() => allocateRing(spec.capacity));
    spec.roles.forEach((role, i) => {
      inputs.push({ ...common, role, ring: rings[i === 0 ? 0 : i - 1], ring2: role === 'relay' ? rings[i] : undefined });
      transfers.push([]);
    });
  } else {
    const { port1, port2 } = new MessageChannel();
    inputs.push({ ...common, role: spec.roles[0], port: port1 }, { ...common, role: spec.roles[1], port: port2 });
    transfers.push([port1], [port2]);
  }
  const entry = workerEntry('../bench/ring-worker');
  const names = spec.roles.map((r) => `bench-${r}`);
  const workers = inputs.map((workerData, i) => new Worker(entry, { workerData, transferList: transfers[i], name: names[i] }));
  notifyBenchWorkers(workers, names);
  try {
    const handles = workers.map(track);
    await Promise.race([Promise.all(handles.map((h) => h.ready)), ...handles.map((h) => h.result)]);
    Atomics.store(controlWords, CONTROL_GO, 1);
    Atomics.notify(controlWords, CONTROL_GO);
    await sleep(spec.durationSeconds * 1000);
    Atomics.store(controlWords, CONTROL_STOP, 1);
    const results = await Promise.all(handles.map((h) => h.result));
    const sent = results[0];
    const received = results[results.length - 1];
    if (received.messages !== sent.messages || received.outOfOrder !== 0) {
      throw new Error(
        `${spec.name}: sent ${sent.messages} messages, received ${received.messages}, ${received.outOfOrder} out of order`,
      );
    }
    return { messages: received.messages, seconds: received.seconds, msgsPerSec: received.messages / received.seconds };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Under a profiler runner (--cpu-prof, `lparlink profile`), record the names of a pipeline's workers. */
export function notifyBenchWorkers(workers: Worker[], names: string[]): void {
  workers.forEach((w, i) => recordThreadName(w.threadId, names[i]));
}

async function runCase(spec: CaseSpec, o: Required<RingBenchOptions>): Promise<Omit<RingBenchCase, 'ratio'>> {
  const m = await runPipeline({ ...o, roles: spec.roles, batch: spec.batch, name: spec.name });
  return { name: spec.name, batch: spec.batch, ...m };
}

export async function runRingBench(options: RingBenchOptions = {}): Promise<RingBenchReport> {
  const o: Required<RingBenchOptions> = { ...DEFAULTS, ...options };
  if (!Number.isInteger(o.bodyBytes) || o.bodyBytes < 4 || o.bodyBytes % 4 !== 0) {
    throw new RangeError(`bodyBytes ${o.bodyBytes} must be a multiple of 4, at least 4`);
  }
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new RangeError(`batch ${o.batch} must be a positive integer`);
  if (!(o.durationSeconds > 0)) throw new RangeError(`durationSeconds ${o.durationSeconds} must be positive`);
  const specs: CaseSpec[] = [
    { name: 'postMessage', batch: 1, roles: ['sender', 'receiver'] },
    { name: 'ring per-record', batch: 1, roles: ['producer', 'consumer'] },
    { name: 'ring batched', batch: o.batch, roles: ['producer', 'consumer'] },
  ];
  const measured = [];
  for (const spec of specs) measured.push(await runCase(spec, o));
  const baseline = measured[0].msgsPerSec;
  return {
    bodyBytes: o.bodyBytes,
    capacity: o.capacity,
    durationSeconds: o.durationSeconds,
    cases: measured.map((c) => ({ ...c, ratio: c.msgsPerSec / baseline })),
  };
}

function si(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0);
}

export function formatRingBench(report: RingBenchReport): string {
  const head = `ring: one-way, ${report.bodyBytes}-byte messages, ring capacity ${report.capacity} bytes, ${report.durationSeconds} s per case`;
  const rows = [['case', 'batch', 'messages', 'msgs/s', 'vs postMessage']];
  for (const c of report.cases) {
    rows.push([c.name, String(c.batch), si(c.messages), si(c.msgsPerSec), `${c.ratio.toFixed(1)}×`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  '));
  return [head, ...lines].join('\n') + '\n';
}
