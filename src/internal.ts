/**
 * Building blocks under the public API, for benchmarks, tests and people who
 * want the bare ring. Not covered by semver.
 */
export * from './shared/layout.js';
export * from './shared/ring.js';
export * from './shared/wait.js';
export * from './shared/errors.js';
export { workerEntry } from './shared/workers.js';
export * from './shared/port.js';
export { setBytes } from './shared/shared-copy.js';
export { recordThreadName, setThreadLabel, THREAD_NAMES_ENV, type ThreadNameRecord } from './thread-names.js';
export { droppedAdvice } from './trace-export.js';
export { DEFAULTS, MAX_TRACE_RECORDS, MIN_TRACE_RECORDS } from './options.js';
export { comlinkBytesHeld } from './partitions/comlink-held.js';
