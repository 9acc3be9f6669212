/** Leak probes for the embedding tests: threads, handles, heap. */
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread } from 'node:worker_threads';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** OS threads of this process (Linux), or undefined where they cannot be told apart from other tests' threads. */
export function threadCount(): number | undefined {
  // Under vitest's threads pool other test files share this process: counting its threads says nothing.
  if (!isMainThread) return undefined;
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return undefined;
  }
}

/** Active libuv handles and requests, by kind, sorted (e.g. ['MessagePort', 'Timeout']). */
export function resources(): string[] {
  return process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap' && r !== 'FSReqCallback').sort();
}

/** Resources in `after` that were not in `before` (by kind and count); [] when nothing was left behind. */
export function newResources(before: string[], after: string[] = resources()): string[] {
  const left = [...before];
  return after.filter((r) => {
    const i = left.indexOf(r);
    if (i === -1) return true;
    left.splice(i, 1);
    return false;
  });
}

/** Heap and ArrayBuffer bytes after a full collection. */
export async function memory(): Promise<{ heapUsed: number; arrayBuffers: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** Poll until fn() holds (threads end a little after their exit event); no fixed sleeps. */
export async function until(fn: () => boolean, what: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Wait until this process is back to `base` threads (no-op where threads cannot be counted). */
export async function threadsBackTo(base: number | undefined): Promise<void> {
  if (base === undefined) return;
  await until(() => (threadCount() ?? 0) <= base, () => `threads ${threadCount()} > ${base}`);
}

/** The smallest machine: tiny rings and tables, for fast create/close cycles. */
export const SMALL = {
  processesPerPartition: 1,
  channelsPerPartition: 2,
  sendRingBytes: 1024,
  receiveRingBytes: 1024,
  wait: 'sleep',
} as const;
