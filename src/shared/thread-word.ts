/**
 * A partition thread's kernel thread id, shared between its boot and the hardware only. The
 * hardware lowers the dispatch priority of a partition that floods the engine
 * (hardware/dispatch-priority.ts), and Linux's setpriority() names a thread by this id. Node gives
 * the operator no way to learn a worker's kernel thread id, so the worker reports its own: its boot
 * writes the word before any code of the operator's OS module or of a program runs, then drops its
 * only reference (workerData's), so nothing that runs later in the partition can name another
 * thread to the hardware. 0: not known (not Linux, or the worker has not booted).
 */
import { readdirSync, readlinkSync } from 'node:fs';

/** Bytes of one partition's thread word (an Int32: its kernel thread id). */
export const THREAD_WORD_BYTES = Int32Array.BYTES_PER_ELEMENT;

/** The calling thread's kernel thread id on Linux ('/proc/thread-self' links to 'PID/task/TID'); 0 elsewhere. */
export function ownThreadId(): number {
  if (process.platform !== 'linux') return 0;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/')[2]);
    return Number.isSafeInteger(tid) && tid > 0 && tid <= 0x7fff_ffff ? tid : 0;
  } catch {
    return 0;
  }
}

/** The kernel ids of this process's threads now; none where /proc cannot say. */
export function processThreads(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [];
  }
}
