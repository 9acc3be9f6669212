/**
 * Connect readiness: programs started together race their listeners, and a
 * connect that arrives before the listen is refused. `proc.connect(target,
 * { retry: { timeoutMs } })` retries such refusals with a short backoff until
 * the deadline, so no program needs its own retry loop or a fixed sleep.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ChannelError, describeValue } from '../shared/errors.js';
import { now } from '../shared/clock.js';
import type { Tripwire } from '../shared/tripwire.js';

/** The second argument of `proc.connect(target, options)`. */
export interface ConnectOptions {
  /**
   * Wait for a listener: retry while the connect is refused with
   * `ECONNREFUSED` (nobody listens yet, or the partition is still down), with
   * a short backoff, for up to `timeoutMs` milliseconds; then reject with
   * `ECONNREFUSED` saying how long it waited. A connect to another node also
   * retries `ELINKDOWN` (its link is not up yet) and, at the deadline, rejects
   * with whichever of the two came last. Other errors are not retried.
   */
  retry?: {
    /** How long to keep retrying, in milliseconds, from the first attempt. */
    timeoutMs: number;
  };
}

/** setTimeout's limit: a longer wait would fire at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Backoff between attempts: from the first, doubling, up to the last (ms). */
const FIRST_BACKOFF_MS = 1;
const MAX_BACKOFF_MS = 50;

/** The retry deadline from connect's options (undefined: one attempt), or EINVAL naming what was wrong. */
export function retryTimeout(options: unknown): number | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ChannelError('EINVAL', `connect: options must be an object such as { retry: { timeoutMs: 5000 } }, got ${describeValue(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (name !== 'retry') throw new ChannelError('EINVAL', `connect: '${name}' is not an option; the only option is retry: { timeoutMs }`);
  }
  const { retry } = options as { retry?: unknown };
  if (retry === undefined) return undefined;
  if (typeof retry !== 'object' || retry === null || Array.isArray(retry)) {
    throw new ChannelError('EINVAL', `connect: retry must be an object { timeoutMs }, got ${describeValue(retry)}`);
  }
  for (const name of Object.keys(retry)) {
    if (name !== 'timeoutMs') throw new ChannelError('EINVAL', `connect: retry.${name} is not an option; retry takes { timeoutMs }`);
  }
  const { timeoutMs } = retry as { timeoutMs?: unknown };
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ChannelError('EINVAL', `connect: retry.timeoutMs must be an integer number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${describeValue(timeoutMs)}`);
  }
  return timeoutMs;
}

/**
 * Run `attempt` until it does not fail with ECONNREFUSED or `timeoutMs` has
 * passed; the first attempt runs at once. `target` names the listener in the
 * final error ("port 7 of partition 1"). `aborted` ends a wait between attempts
 * at once (its race() rejects); `attempt` itself then throws why.
 */
export async function retryWhileRefused<T>(attempt: () => Promise<T>, timeoutMs: number, target: string, node?: number, aborted?: Tripwire): Promise<T> {
  const deadline = now() + timeoutMs;
  let backoff = FIRST_BACKOFF_MS;
  for (let attempts = 1; ; attempts++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof ChannelError) || (e.code !== 'ECONNREFUSED' && e.code !== 'ELINKDOWN')) throw e;
      const left = deadline - now();
      if (left <= 0) {
        const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
        if (e.code === 'ELINKDOWN') {
          // It waited already: the advice starts at what to check.
          throw new ChannelError('ELINKDOWN', `the link to node ${node ?? '?'} was not up within ${timeoutMs} ms, for ${target} (${tries})`, linkNotUpAdvice(node, true));
        }
        // It waited already: the usual advice (retry to wait for a listener) would send it round again.
        throw new ChannelError(
          'ECONNREFUSED',
          `nobody listened on ${target} within ${timeoutMs} ms (${tries})`,
          'check the partition id and the port; if they are right, start its listener sooner (await listener.ready before connecting) or give retry a longer timeoutMs',
        );
      }
      // Woken by `aborted` (the operator aborted the process): the next attempt says so (THREATS case
      // 105). A race, not the abort signal given to sleep(): that added a listener to the signal per
      // retrying connect, and Node warns of a leak past ten (case 109). The timer left behind is
      // at most MAX_BACKOFF_MS.
      const wait = sleep(Math.min(backoff, left));
      await (aborted === undefined ? wait : aborted.race(wait)).catch(() => {});
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

/**
 * What to do when a connect finds the link to `node` not up. A connect has no sends for the link
 * to have lost and no channel to resume, so ELINKDOWN's usual advice (a link that went down) does
 * not fit; a link that never comes up is most often a node not running, a peers entry naming the
 * wrong place, or certificates from two CAs.
 */
export function linkNotUpAdvice(node: number | undefined, waited = false): string {
  const which = node === undefined ? 'the other node' : `node ${node}`;
  return (
    (waited ? `check that ${which} runs and that each node's ` : `wait for it (machine.linkUp(node) in the operator, or connect with { retry: { timeoutMs } }); if it never comes up, check that ${which} runs and that each node's `) +
    'peers entry names where the other listens (machine.stats().links[i].dialFailures growing: nothing answers there; ' +
    'dials false on both nodes: neither dials the other); authFailures and unknownIdentities above 0 mean the two certificates do not come ' +
    'from one CA or name other node ids, or, authFailures alone, that each node dials the other (a node that does not listen dials; give ' +
    'its peers no port for it)'
  );
}
