/**
 * A worker's boot and end as the operator sees them: waiting for its ready
 * message (with a bound, and a hint under a debugger), saying why it exited,
 * and dropping the comlink proxy of one that has.
 */
import { url as inspectorUrl } from 'node:inspector';
import type { Worker } from 'node:worker_threads';
import { DEFAULTS } from './options.js';
import { releaseProxy, WORKER_READY, type Remote } from './shared/control-plane.js';
import { describeValue, escapeControls } from './shared/errors.js';

/**
 * Drop a comlink proxy whose worker has exited. Its calls still pending can
 * never be answered; releasing clears them, and with them the promise
 * reactions that would otherwise keep the whole machine reachable (comlink's
 * FinalizationRegistry holds the endpoint while the proxy lives).
 */
export function release(proxy: Remote<unknown>): void {
  try {
    proxy[releaseProxy]();
  } catch {
    // already released
  }
}

/**
 * @internal (exported for its test) Wait for a worker's WORKER_READY message. If it exits first,
 * reject with `fail(exitCode, error)`; if it has not booted within DEFAULTS.bootTimeoutMs, with
 * `slow()`. Listeners and the timer are removed either way.
 */
export function workerBooted(worker: Worker, fail: (exitCode: number, error: Error | undefined) => Error, slow: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    let error: Error | undefined;
    const onMessage = (m: unknown): void => {
      if (m !== WORKER_READY) return;
      done();
      resolve();
    };
    const onError = (e: unknown): void => {
      error = workerError(e);
    };
    const onExit = (code: number): void => {
      done();
      reject(fail(code, error));
    };
    // The caller closes the machine (or the partition) on this rejection, which ends the worker.
    // Not under a debugger (the inspector is open): a boot paused at a breakpoint is not stuck.
    const timer =
      inspectorUrl() === undefined
        ? setTimeout(() => {
            done();
            reject(slow());
          }, DEFAULTS.bootTimeoutMs)
        : undefined;
    // Under --inspect-brk each worker waits for a debugger to resume it, which not every client does.
    const hint = timer === undefined ? setTimeout(hintWaitingForDebugger, DEBUGGER_HINT_MS).unref() : undefined;
    const done = (): void => {
      clearTimeout(timer);
      clearTimeout(hint);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** How long a boot under an open inspector may take before the hint below is printed (once per process). */
const DEBUGGER_HINT_MS = 5000;
let debuggerHinted = false;

function hintWaitingForDebugger(): void {
  if (debuggerHinted) return;
  debuggerHinted = true;
  process.emitWarning(
    'a machine has not finished booting after 5 s with the inspector open. Under --inspect-brk (and node inspect) every worker ' +
      'thread waits for a debugger to resume it: DevTools and VS Code resume them; a client of your own must send ' +
      'Runtime.runIfWaitingForDebugger to each worker (NodeWorker.enable lists them). With --inspect, a boot paused at a breakpoint waits too',
    { code: 'LPARLINK_BOOT_WAITING' },
  );
}

/** How deep workerError looks into a `cause` chain: an error with a deeper one is rebuilt, without it. */
const MAX_WORKER_CAUSE_DEPTH = 8;

/**
 * The error a worker's 'error' event carried, as the operator may print it. Node rebuilds a
 * worker's uncaught error on this thread from what the worker sent, and a hostile partition
 * chooses every field: a `message`, `name` or `stack` that is an object no string conversion
 * takes (`{ toString: 0, valueOf: 0 }`), or a value that is no Error at all (`throw 'x'`). Formatted
 * as it came, it threw in the operator's code: lparlink's own exit message (an unhandled rejection
 * that ended the operator's process), util.inspect, `${e.message}` (THREATS case 63). An error whose
 * fields (and causes') are strings is kept as it came; any other is rebuilt as an `Error` from the
 * fields that are.
 */
export function workerError(thrown: unknown): Error {
  if (thrown instanceof Error && printable(thrown, 0)) return thrown;
  const fields = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as { name?: unknown; message?: unknown; stack?: unknown; code?: unknown };
  const message =
    typeof fields.message === 'string'
      ? fields.message
      : thrown instanceof Error
        ? `the worker threw an error whose fields are not strings (its message is ${describeValue(fields.message)})`
        : `the worker threw ${describeValue(thrown)}, not an Error`;
  const error = new Error(message);
  if (typeof fields.name === 'string') error.name = fields.name;
  error.stack = typeof fields.stack === 'string' ? fields.stack : `${error.name}: ${error.message}`;
  if (typeof fields.code === 'string' || typeof fields.code === 'number') Object.assign(error, { code: fields.code });
  return error;
}

/** Whether util.inspect and string conversion take `error` and its causes without running into a field that is no string. */
function printable(error: Error, depth: number): boolean {
  if (typeof error.name !== 'string' || typeof error.message !== 'string' || !['string', 'undefined'].includes(typeof error.stack)) return false;
  if (!('cause' in error) || !(error.cause instanceof Error)) return true;
  return depth < MAX_WORKER_CAUSE_DEPTH && printable(error.cause, depth + 1);
}

/** Exit code 13 is Node's for a module whose top-level await never settled (the event loop emptied under it). */
export function exitReason(code: number, error: Error | undefined): string {
  // Node ends a worker over its heap limit with this error and exit code 0, which reads like a clean exit.
  if ((error as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return `ran out of memory (${escapeControls(error!.message)})`;
  const unsettled = code === 13 ? ' (Node: a top-level await, or the promise its default export returned, never settled)' : '';
  // The error is the partition's (its program's or its OS's words): escaped, as the library's warnings
  // escape it (THREATS case 74), since this message is what an operator logs.
  return `exited with code ${code}${unsettled}${error ? `: ${escapeControls(error.message)}` : ''}`;
}
