/**
 * What Linux says about this process's threads, for the dispatch priority (dispatch-priority.ts):
 * which threads there are, how long each has wanted a CPU, and whether a thread's priority, once
 * lowered, may be set back. Everything here reads /proc; elsewhere it answers "nothing known".
 */
import { existsSync, readFileSync } from 'node:fs';

/**
 * Whether this process may set a lowered thread back: on Linux, with CAP_SYS_NICE in its
 * effective set, or with an RLIMIT_NICE of 20 or more (a nice of 0 reachable again). Elsewhere the
 * kernel lets a thread's priority only fall.
 */
export function canSetPriorityBack(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (caps !== null && (BigInt(`0x${caps[1]}`) >> 23n) & 1n) return true; // CAP_SYS_NICE
    const limit = /^Max nice priority\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return limit !== null && (limit[1] === 'unlimited' || Number(limit[1]) >= 20);
  } catch {
    return false;
  }
}

/** The kernel ids of this process's threads now (the operator reads them too, as it starts a machine: shared/thread-word.ts). */
export { processThreads } from '../shared/thread-word.js';

/** Whether `thread` is a thread of this process now. */
export function isProcessThread(thread: number): boolean {
  return thread > 0 && existsSync(`/proc/self/task/${thread}`);
}

/**
 * Nanoseconds thread `thread` of this process has wanted a CPU: run on one, or waited in a run
 * queue (the first two fields of its schedstat). A spinning thread wants one all the time however
 * many threads share the cores; one that waits for its replies does not. Undefined if unknown.
 */
export function wantedCpuNs(thread: number): number | undefined {
  if (thread <= 0) return undefined;
  try {
    const fields = readFileSync(`/proc/self/task/${thread}/schedstat`, 'latin1').split(' ');
    const ns = Number(fields[0]) + Number(fields[1]);
    return Number.isFinite(ns) ? ns : undefined;
  } catch {
    return undefined;
  }
}

/** How far back a WantedShare looks, and the least span it judges by. */
const WINDOW_MS = 100;
const MIN_SPAN_MS = 60;

/**
 * The share of the time one thread wanted a CPU over its last WINDOW_MS of samples. One 20 ms
 * interval is not enough: the kernel adds a run-queue wait to schedstat only when the wait ends, so
 * a thread that spins beside many others read 0.69–0.79 in some intervals and over 1 in the next.
 */
export class WantedShare {
  private readonly times: number[] = [];
  private readonly wanted: number[] = [];
  /** Sampled for thread `thread`; a sample for another thread (the word named a new one) starts over. */
  private thread = 0;

  /** Take a sample at `t` ms; false when the thread is gone or unknown (the samples start over). */
  sample(thread: number, t: number): boolean {
    const ns = wantedCpuNs(thread);
    if (ns === undefined || thread !== this.thread) {
      this.times.length = 0;
      this.wanted.length = 0;
      this.thread = ns === undefined ? 0 : thread;
      if (ns === undefined) return false;
    }
    this.times.push(t);
    this.wanted.push(ns);
    while (this.times.length > 2 && t - this.times[1] >= WINDOW_MS) {
      this.times.shift();
      this.wanted.shift();
    }
    return true;
  }

  /** The share over the samples kept; NaN until they span MIN_SPAN_MS. */
  share(): number {
    const n = this.times.length;
    const span = n < 2 ? 0 : this.times[n - 1] - this.times[0];
    return span < MIN_SPAN_MS ? NaN : (this.wanted[n - 1] - this.wanted[0]) / (span * 1e6);
  }
}
