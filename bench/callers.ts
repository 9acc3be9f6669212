/**
 * Request/response baselines driven from the main thread: comlink calls to a
 * worker, and piscina tasks on a one-thread pool. Throughput keeps a window
 * of calls in flight (`take`: the payload goes over, a number comes back);
 * latency makes one call at a time (`echo`: the payload goes both ways).
 */
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workerEntry } from '../src/internal.js';
import { releaseProxy, wrap, nodeEndpoint, type Remote } from '../src/shared/control-plane.js';
import type { ComlinkBenchApi } from './comlink-worker.js';
import { timeEach, type LatencySummary } from './latency-stats.js';
import { notifyBenchWorkers } from './ring.js';

/** Calls in flight in the throughput runs. */
const WINDOW = 64;
const WARMUP_CALLS = 200;

export interface CallerOptions {
  readonly system: 'comlink' | 'piscina';
  readonly bodyBytes: number;
  readonly durationSeconds: number;
}

interface Caller {
  take(m: Uint8Array): Promise<unknown>;
  echo(m: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}

async function open(system: CallerOptions['system']): Promise<Caller> {
  if (system === 'comlink') {
    const worker = new Worker(workerEntry('../bench/comlink-worker'), { name: 'bench-comlink' });
    notifyBenchWorkers([worker], ['bench-comlink']);
    const api: Remote<ComlinkBenchApi> = wrap<ComlinkBenchApi>(nodeEndpoint(worker));
    return {
      take: (m) => api.take(m),
      echo: (m) => api.echo(m),
      async close() {
        api[releaseProxy]();
        await worker.terminate();
      },
    };
  }
  const pool = new Piscina({ filename: workerEntry('../bench/piscina-task').href, minThreads: 1, maxThreads: 1, idleTimeout: 60_000 });
  notifyBenchWorkers(pool.threads, pool.threads.map(() => 'bench-piscina'));
  return {
    take: (m) => pool.run({ m, echo: false }),
    echo: (m) => pool.run({ m, echo: true }),
    close: () => pool.destroy(),
  };
}

/** Calls (or tasks) completed per second with WINDOW in flight. */
export async function callerThroughput(o: CallerOptions): Promise<number> {
  const c = await open(o.system);
  try {
    const m = new Uint8Array(o.bodyBytes).fill(0x5a);
    for (let i = 0; i < WARMUP_CALLS; i++) await c.take(m);
    let done = 0;
    const start = performance.now();
    const end = start + o.durationSeconds * 1000;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        await c.take(m);
        done++;
      }
    };
    await Promise.all(Array.from({ length: WINDOW }, lane));
    return done / ((performance.now() - start) / 1000);
  } finally {
    await c.close();
  }
}

/** One call at a time, each round trip in a histogram. */
export async function callerLatency(o: CallerOptions): Promise<LatencySummary> {
  const c = await open(o.system);
  try {
    const m = new Uint8Array(o.bodyBytes).fill(0x5a);
    for (let i = 0; i < WARMUP_CALLS; i++) await c.echo(m);
    return await timeEach(o.durationSeconds * 1000, () => c.echo(m));
  } finally {
    await c.close();
  }
}
