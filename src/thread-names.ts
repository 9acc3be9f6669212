/**
 * Which thread id carries which worker name, for per-thread CPU profiles.
 * `node --cpu-prof` names each profile file by pid and thread id only, so a
 * profiler runner (`lparlink profile`, `lparlink bench --cpu-prof`) sets
 * THREAD_NAMES_ENV to a file and every machine appends its workers' names
 * there as they start. Unset (every ordinary run) this costs one environment
 * read per worker started.
 */
import { appendFileSync } from 'node:fs';

/** Set by a profiler runner: the file (JSON lines) that thread names are appended to. */
export const THREAD_NAMES_ENV = 'LPARLINK_THREAD_NAMES';

/** One appended line: thread `threadId` of process `pid` is the worker `name`, started during `label`. */
export interface ThreadNameRecord {
  pid: number;
  threadId: number;
  name: string;
  label: string;
}

let currentLabel = '';

/** What the threads started from now on served (a bench case); recorded beside their names. */
export function setThreadLabel(label: string): void {
  if (typeof label !== 'string') throw new TypeError(`setThreadLabel: label must be a string, got ${typeof label}`);
  currentLabel = label;
}

/**
 * Record that `threadId` is the worker `name`, when a profiler runner asked for it.
 * Appending one line per worker, synchronously, keeps the names even when the
 * program exits abruptly (process.exit, an uncaught error) before any exit hook.
 */
export function recordThreadName(threadId: number, name: string): void {
  const file = process.env[THREAD_NAMES_ENV];
  if (file === undefined || file === '') return;
  const record: ThreadNameRecord = { pid: process.pid, threadId, name, label: currentLabel };
  try {
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  } catch (e) {
    // A profile without names is still a profile: the machine must not fail because of it.
    if (!warned) process.emitWarning(`lparlink: cannot record thread names in ${file} (${(e as Error).message}); profiles stay unnamed`);
    warned = true;
  }
}

let warned = false;
