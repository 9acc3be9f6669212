/**
 * Threads of this process with known kernel ids, for the dispatch priority's tests: each lowers or
 * reads a thread by its kernel id, as the hardware does a partition's. Call stopThreads() after each test.
 */
import { Worker } from 'node:worker_threads';

const workers: Worker[] = [];

/** A worker of this process that reports its kernel thread id and then idles, or spins when `spin`. */
export async function startThread(spin = false): Promise<number> {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/')[2]);
    parentPort.postMessage(tid);
    ${spin ? 'for (;;);' : 'setInterval(() => {}, 1000);'}`;
  const worker = new Worker(code, { eval: true });
  workers.push(worker);
  return new Promise<number>((resolve) => worker.once('message', resolve));
}

/** End every thread startThread() started. */
export function stopThreads(): Promise<number[]> {
  return Promise.all(workers.splice(0).map((w) => w.terminate()));
}
