/**
 * Sleeping and waking without lost wake-ups, and without a notify on the busy path.
 *
 * The sleeper reads the bell, raises a flag, re-checks its condition, and only
 * then waits on the bell. The waker, after publishing, reads the flag and rings
 * the bell (add + notify) only when it is raised, lowering it. With sequentially
 * consistent Atomics either the waker sees the flag or the sleeper sees the new
 * state, and `Atomics.wait` on a bell that already moved returns at once. The
 * bell is read before the flag goes up: a ring that lowers the flag then always
 * moves the bell past the value waited on (see announceSleep).
 */

import { availableParallelism } from 'node:os';

/**
 * How idle threads (the hardware, a process waiting to receive) wait for work: `'spin'` polls
 * without sleeping (lowest latency; burns a core per waiter, so not for small CI machines; with
 * fewer than 4 cores it sleeps after about 50 µs), `'sleep'` sleeps at once (least CPU; best for
 * tests on shared machines), `'adaptive'` spins briefly, then sleeps (the default; a process
 * waiting to receive first blocks its thread for up to 1 ms, see `eventLoopBlockMs`).
 */
export type WaitMode = 'spin' | 'sleep' | 'adaptive';
export const WAIT_MODES: readonly WaitMode[] = ['spin', 'sleep', 'adaptive'];

/**
 * A wait mode turned into numbers, once, for the machine it runs on (`resolveWaitPolicy`). The
 * operator resolves it with the options and hands the same record to the hardware worker and to
 * every partition worker, so no thread re-derives its own budgets.
 */
export interface WaitPolicy {
  readonly mode: WaitMode;
  /** Polls a thread with no event-loop duties (a bench thread, a stress worker) spends before it sleeps. */
  readonly spins: number;
  /** Synchronous polls an event-loop thread (a process's receive pump) spends before it sleeps. */
  readonly eventLoopSpins: number;
  /** How long an event-loop thread keeps polling between event-loop turns before it sleeps (spin mode). */
  readonly eventLoopPollMs: number;
  /**
   * How long a process waiting to receive, the only one of its partition waiting, may block its
   * thread in Atomics.wait before it sleeps on the event loop (0: it never blocks); also how long
   * its event loop may go without a turn while messages keep waking it that way. A blocked thread
   * wakes straight from the futex: a partition's wake-up took ~9 µs against ~26 µs through
   * Atomics.waitAsync, its task and the event loop (a 64 B round trip: two of them).
   */
  readonly eventLoopBlockMs: number;
  /**
   * How long the hardware keeps polling its rings after the last work it found before it sleeps,
   * in milliseconds (0: after one empty round). About what a sleep and a wake-up cost here, so an
   * idle gap shorter than a wake-up is bridged by polling and a longer one costs at most twice.
   */
  readonly engineIdleMs: number;
}

/**
 * With fewer cores than a sender, the hardware and a receiver need (plus the operator), a thread
 * that keeps polling takes the core the thread it waits for needs, so every budget is short there
 * (measured on 2 cores, 64-byte round trips, p50: spin polling 1 ms 3.7–4.6 ms, 50 µs 0.4–0.7 ms;
 * adaptive with 2000 polls ~390 µs, with 20 polls 86–135 µs).
 */
const FEW_CORES_BELOW = 4;

/**
 * The hardware's idle polling. On 2 cores a sleep plus a wake-up costs ~25 µs one way (a two-thread
 * Atomics ping-pong: 46 µs per round trip, blocking or async alike), and a hardware that slept after
 * 4 empty rounds (~0.3 µs) slept between every two bursts of a stream: 4 KiB one message at a time
 * ran at 210k msgs/s with all three threads asleep at once for 46% of the run; polling for ~40 µs
 * gave 400–525k, and 64 B round trips fell from ~105 to ~65 µs p50.
 */
const ENGINE_ADAPTIVE_IDLE_MS = 0.05;
/**
 * A receiving process's blocking wait (adaptive mode). Long enough to cover the other side of a
 * round trip (tens of µs), short enough that timers, I/O and control calls of the thread wait at
 * most about twice this for a turn of its event loop.
 */
const EVENT_LOOP_BLOCK_MS = 1;
const ENGINE_SPIN_IDLE_MS = 0.1;

/** The numbers behind a wait mode on a machine with `cores` cores. */
export function resolveWaitPolicy(mode: WaitMode, cores = availableParallelism()): WaitPolicy {
  const few = cores < FEW_CORES_BELOW;
  switch (mode) {
    case 'spin':
      return {
        mode,
        spins: few ? 2000 : Number.POSITIVE_INFINITY,
        eventLoopSpins: 0,
        eventLoopPollMs: few ? 0.05 : Number.POSITIVE_INFINITY,
        eventLoopBlockMs: 0,
        engineIdleMs: few ? ENGINE_SPIN_IDLE_MS : Number.POSITIVE_INFINITY,
      };
    case 'sleep':
      return { mode, spins: 0, eventLoopSpins: 0, eventLoopPollMs: 0, eventLoopBlockMs: 0, engineIdleMs: 0 };
    case 'adaptive':
      return {
        mode,
        spins: few ? 20 : 2000,
        eventLoopSpins: few ? 20 : 2000,
        eventLoopPollMs: 0,
        eventLoopBlockMs: EVENT_LOOP_BLOCK_MS,
        engineIdleMs: ENGINE_ADAPTIVE_IDLE_MS,
      };
  }
}

/** Polls before a blocking waiter sleeps, for `mode` on this machine (bench and stress threads). */
export function spinBudget(mode: WaitMode): number {
  return resolveWaitPolicy(mode).spins;
}

/**
 * Wake the other side if, and only if, it said it sleeps. The waker lowers the
 * flag as it rings (compare-and-swap), so a burst of publishes to a sleeper
 * costs one notify, not one per publish; a sleeper that wakes and still finds
 * nothing raises the flag again before it waits again. Returns whether it rang.
 */
export function ringBell(i32: Int32Array, flagWord: number, bellWord: number): boolean {
  if (Atomics.load(i32, flagWord) !== 0 && Atomics.compareExchange(i32, flagWord, 1, 0) === 1) {
    Atomics.add(i32, bellWord, 1);
    Atomics.notify(i32, bellWord);
    return true;
  }
  return false;
}

/**
 * Block this thread until `ready()` or the timeout. Only for threads with no
 * event loop duties (benchmark threads, stress tests): a blocked thread cannot
 * answer the inspector or its message port.
 */
export function sleepSync(
  i32: Int32Array,
  flagWord: number,
  bellWord: number,
  ready: () => boolean,
  spins: number,
  timeoutMs: number,
): boolean {
  const bell = announceSleep(i32, flagWord, bellWord, ready, spins);
  if (bell === undefined) return true;
  Atomics.wait(i32, bellWord, bell, timeoutMs);
  Atomics.store(i32, flagWord, 0);
  return ready();
}

/**
 * The sleeper's half of the protocol: spin, read the bell, raise the flag,
 * re-check. Returns the bell value to wait on, or undefined when `ready()`
 * came true on the way (the flag is lowered again then).
 *
 * The bell is read before the flag goes up, so every ring that lowers this
 * flag moves the bell past the value waited on. Read after, it could count a
 * late ring (a producer whose work this side had already taken, seeing the
 * flag only now): the wait would start past it, and the next producer,
 * finding the flag down, would not ring. The hardware's sleep had exactly
 * that hang (Scheduler.sleep).
 */
function announceSleep(i32: Int32Array, flagWord: number, bellWord: number, ready: () => boolean, spins: number): number | undefined {
  for (let i = 0; i < spins; i++) if (ready()) return undefined;
  const bell = Atomics.load(i32, bellWord);
  Atomics.store(i32, flagWord, 1);
  if (ready()) {
    Atomics.store(i32, flagWord, 0);
    return undefined;
  }
  return bell;
}

/** Like sleepSync, but keeps the event loop (and the inspector) alive while it waits. */
export async function sleepAsync(
  i32: Int32Array,
  flagWord: number,
  bellWord: number,
  ready: () => boolean,
  spins: number,
  timeoutMs: number,
): Promise<boolean> {
  const bell = announceSleep(i32, flagWord, bellWord, ready, spins);
  if (bell === undefined) return true;
  const result = Atomics.waitAsync(i32, bellWord, bell, timeoutMs);
  if (result.async) {
    // Node does not count a pending waitAsync as work (nodejs/node#44729): a thread
    // whose only task is this wait would exit under it. Hold a ref'd timer meanwhile.
    const keepAlive = setInterval(keepAliveTick, KEEP_ALIVE_INTERVAL_MS);
    try {
      await result.value;
    } finally {
      clearInterval(keepAlive);
    }
  }
  Atomics.store(i32, flagWord, 0);
  return ready();
}

/** Any delay works; the timer only has to exist. Below setInterval's limit of 2^31 - 1 ms. */
const KEEP_ALIVE_INTERVAL_MS = 1 << 30;
function keepAliveTick(): void {}
