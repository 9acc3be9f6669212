/**
 * `machine.linkUp(node)`: wait until the link to another node is up. The links' sockets live in
 * the hardware worker, which is unref'd while idle, so a `linkUp` listener alone does not keep a
 * script (or a `node --test` file) alive while a link connects: the process exited, code 13,
 * with the link still connecting. A wait through this holds the process open, for a bound the
 * caller chooses.
 */
import { describeValue, MachineError } from './shared/errors.js';
import { checkDelay } from './spawn-options.js';
import type { LinkStats } from './shared/link-counters.js';

/** Options of {@link Machine.linkUp}. */
export interface LinkUpOptions {
  /** Give up after this many milliseconds (`ETIMEDOUT`); default: no limit. */
  timeoutMs?: number;
  /** Give up when this aborts (`EABORTED`, its reason as the `cause`). */
  signal?: AbortSignal;
}

/** linkUp's options, checked: every problem is a MachineError EINVAL naming the option. */
export function checkLinkUpOptions(options: unknown): LinkUpOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new MachineError('EINVAL', `linkUp: options must be an object { timeoutMs?, signal? }, got ${describeValue(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'timeoutMs' && key !== 'signal') throw new MachineError('EINVAL', `linkUp: '${key}' is not an option; the options are timeoutMs and signal`);
  }
  const { timeoutMs, signal } = options as LinkUpOptions;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new MachineError('EINVAL', `linkUp: options.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
  return { timeoutMs: checkDelay(timeoutMs, 'linkUp: options.timeoutMs'), signal };
}

/** What the link's counters say about why it is not up, for the ETIMEDOUT message. */
export function whyNotUp(link: LinkStats): string {
  const seen = `state ${link.state}, dials ${link.dials}, dialFailures ${link.dialFailures}, authFailures ${link.authFailures}`;
  if (link.authFailures > 0) return `${seen}: handshakes were refused (machine.on('linkRefused') says why): the two nodes' certificates come from different CAs or name other node ids`;
  if (link.dialFailures > 0) return `${seen}: nothing answers at node ${link.node}'s host and port (is it started, and listening there?)`;
  if (!link.dials) return `${seen}: this node waits for node ${link.node} to dial it (is it started, with this node among its peers?)`;
  return seen;
}
