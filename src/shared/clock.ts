/**
 * The clock of every wait and deadline. `performance` comes from node:perf_hooks, not the global:
 * on Node 20 the global is a lazy accessor, so each read of it is a getter call (~15–20 ns beside
 * the clock read's own ~55 ns on this project's VMs). A deadline of Infinity, the default of every
 * blocking call, reads no clock at all, and the blocking calls read it only once they must wait:
 * read once a call, even with room or a message there at once, it cost as much as the rest of it.
 */
import { performance } from 'node:perf_hooks';

/** Milliseconds on the monotonic clock. */
export function now(): number {
  return performance.now();
}

/** The moment `timeoutMs` from now; Infinity (no clock read) for no bound. */
export function deadlineAfter(timeoutMs: number): number {
  return timeoutMs === Number.POSITIVE_INFINITY ? timeoutMs : performance.now() + timeoutMs;
}

/** Milliseconds left until `deadline`; Infinity (no clock read) for no bound. */
export function timeLeft(deadline: number): number {
  return deadline === Number.POSITIVE_INFINITY ? deadline : deadline - performance.now();
}
