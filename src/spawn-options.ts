/**
 * Bounding and cancelling a program: spawn's `{ signal, timeoutMs, abortGraceMs }`.
 * A program is JavaScript running on its partition's thread, so it cannot be
 * stopped from outside without stopping that thread. Cancelling therefore has
 * two steps: the program's `proc.signal` aborts and its channels close (a
 * program waiting on a channel ends at once); if it is still running after
 * the grace period (a busy loop, an await on something else), its partition
 * is restarted.
 */
import { describeValue, MachineError } from './shared/errors.js';

/** The third argument of {@link PartitionHandle.spawn}. */
export interface SpawnOptions {
  /**
   * Abort the program when this signal aborts (piscina-style): `handle.result` rejects with
   * `MachineError` `EABORTED` (its `cause` is `signal.reason`), the program's `proc.signal` aborts and
   * its channels close (peers see `ECLOSED`). An already aborted signal rejects spawn itself.
   */
  signal?: AbortSignal;
  /**
   * Abort the program, as `signal` would, if it has not ended this many milliseconds after spawn was
   * called. The bound covers the start: a main that never yields holds spawn, which then rejects.
   * 0 aborts it before it has started (spawn rejects with `EABORTED`), as `AbortSignal.timeout(0)`
   * would; unlike connect's `retry.timeoutMs`, a window for retries, where 0 means one attempt.
   */
  timeoutMs?: number;
  /**
   * How long an aborted program may keep running before its partition is restarted (2000 ms
   * by default): that ends the program, and every other program of that
   * partition with `EPARTITIONDOWN`, and emits `partitionExit`.
   */
  abortGraceMs?: number;
}

/** Milliseconds an aborted program may take to end before its partition is restarted. */
export const DEFAULT_ABORT_GRACE_MS = 2000;

/** The largest delay a Node timer honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const KNOWN = new Set(['signal', 'timeoutMs', 'abortGraceMs']);

/** A delay option in milliseconds, checked (undefined: not given): MachineError EINVAL naming `what` otherwise. */
export function checkDelay(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_TIMER_MS) {
    throw new MachineError('EINVAL', `${what} must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${describeValue(value)}`);
  }
  return value;
}

/** spawn's options, checked: every problem is a MachineError EINVAL naming the option. */
export function checkSpawnOptions(options: unknown): SpawnOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new MachineError('EINVAL', `spawn: options must be an object { signal?, timeoutMs?, abortGraceMs? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) throw new MachineError('EINVAL', `spawn: unknown option ${JSON.stringify(key)}; known: signal, timeoutMs, abortGraceMs`);
  }
  const { signal } = options as SpawnOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new MachineError('EINVAL', `spawn: options.signal must be an AbortSignal (new AbortController().signal), got ${describeValue(signal)}`);
  }
  return {
    signal,
    timeoutMs: checkDelay((options as SpawnOptions).timeoutMs, 'spawn: options.timeoutMs'),
    abortGraceMs: checkDelay((options as SpawnOptions).abortGraceMs, 'spawn: options.abortGraceMs'),
  };
}

/** Why a program is being cancelled: the signal's reason, or the timeout. */
export interface Cancellation {
  /** Says what cancelled it, for the error message. */
  why: string;
  /** `signal.reason`, when a signal cancelled it. */
  cause: unknown;
}

/**
 * Watch a program's signal and timeout. `cancelled` resolves with the first of them; it never
 * rejects and stays pending when neither fires. `stop()` ends the watch (the program ended).
 */
export function watchCancellation(options: SpawnOptions): { cancelled: Promise<Cancellation>; stop(): void } {
  let stop = (): void => {};
  const cancelled = new Promise<Cancellation>((resolve) => {
    const { signal, timeoutMs } = options;
    const onAbort = (): void => resolve({ why: `its signal aborted (${reasonText(signal?.reason)})`, cause: signal?.reason });
    signal?.addEventListener('abort', onAbort, { once: true });
    // Unref'd: an in-flight program already holds the process open; this timer alone must not.
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => resolve({ why: `it ran past timeoutMs ${timeoutMs}`, cause: undefined }), timeoutMs).unref();
    stop = () => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== undefined) clearTimeout(timer);
    };
  });
  return { cancelled, stop: () => stop() };
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return `${reason.name}: ${reason.message}`;
  return String(reason);
}
