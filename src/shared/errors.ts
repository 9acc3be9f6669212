/**
 * Typed errors and the numeric status codes the hardware writes into
 * completions and END records. The string code is the public contract; the
 * number is only its wire form.
 */

export const Status = {
  OK: 0,
  EPOLICY: 1,
  ECONNREFUSED: 2,
  ECLOSED: 3,
  EPEERDEAD: 4,
  ESTALE: 5,
  EMSGSIZE: 6,
  EPERM: 7,
  EINVAL: 8,
  EAGAIN: 9,
  EFAULT: 10,
  EHWRESET: 11,
  EMFILE: 12,
  EADDRINUSE: 13,
  ELINKDOWN: 14,
  ENOBUFS: 15,
  ETIMEDOUT: 16,
} as const;
export type StatusName = keyof typeof Status;
/**
 * The `code` of a {@link ChannelError}; each message ends with what to do about it:
 *
 * - `EPOLICY`: the machine policy forbids this pair of partitions (add it to `policy.allow`)
 * - `ECONNREFUSED`: nobody listens on that partition and port, the partition does not exist or is down, or the listener's backlog (64, and at most half the partition's channel slots) is full (start the listener first; retry)
 * - `ECLOSED`: the channel (or listener) is closed, by this side or cleanly by the peer, or the process that opened it has ended
 * - `EPEERDEAD`: the peer partition died, or the peer process's main threw with the channel open
 * - `ESTALE`: the handle names a closed channel whose slot was reused
 * - `EMSGSIZE`: the message is over `maxMessageBytes` (receiving: over the buffer given to `recvInto`)
 * - `EPERM`: this process does not own that channel (or its message failed verification)
 * - `EINVAL`: an argument was invalid; the message names it
 * - `EAGAIN`: the send ring is full, or the channel is held: its receiver's ring is full and the
 *   hardware keeps what was sent since aside until it reads (`await channel.write()` waits instead)
 * - `EFAULT`: the queue pair's ring is corrupt; the hardware stopped serving it
 * - `EHWRESET`: the hardware worker stopped; the machine failed closed
 * - `EMFILE`: no free process or channel slot (`processesPerPartition`, `channelsPerPartition`), `listenersPerPartition` reached, or every slot retired
 * - `EADDRINUSE`: a listener already holds that port in this partition
 * - `ELINKDOWN`: the link to the peer's node is down (or went down): the channel ended, sends it had
 *   not acknowledged failed, nothing more arrives on it
 * - `ENOBUFS`: the channel held as many unread messages as a process keeps for one (4 MiB) while
 *   its process read others (or before it was accepted), and nothing read it for 1 s; it was
 *   closed here and what it held was dropped, and its sender saw `ECLOSED`. Over a link, also: the
 *   other node put more of the channel on the wire than its window (it breaks the protocol); or
 *   the sender closed the channel while this end read nothing, and after 10 × `node.deadAfterMs`
 *   (at least 2 s) its hardware dropped what it still held for it (its sender sees `ENOBUFS` too)
 * - `ETIMEDOUT`: a connect to another node got no answer from that node's hardware within its
 *   bound (10 × `node.deadAfterMs`, at least 2 s) while the link stayed up
 */
export type ChannelErrorCode = Exclude<StatusName, 'OK'>;

const statusNames: StatusName[] = [];
for (const [name, value] of Object.entries(Status)) statusNames[value] = name as StatusName;

export function statusName(status: number): StatusName | undefined {
  return statusNames[status];
}

/** What each code means and what the caller can do about it; appended to messages. */
const advice: Record<ChannelErrorCode, string> = {
  EPOLICY: 'the machine policy forbids this pair of partitions; add the pair to policy.allow in createMachine',
  ECONNREFUSED:
    'check the partition id and the port; if they are right, start a listener there first (await listener.ready), or connect with { retry: { timeoutMs } } to wait for one',
  ECLOSED: 'the channel is closed; open a new channel with connect() or accept()',
  EPEERDEAD: 'the peer partition or process ended; reconnect once it is running again',
  ESTALE: 'the channel handle belongs to a closed channel whose slot was reused; use the handle of a live channel',
  EMSGSIZE: 'the message does not fit; sending: split it or raise maxMessageBytes in createMachine; receiving: pass a larger buffer',
  EPERM: 'this queue pair does not own that channel; send only on channels your process opened or accepted',
  EINVAL: 'fix the argument or field the message names',
  EAGAIN: 'the send ring is full; await channel.write() to wait for space, or retry later',
  EFAULT: 'the ring of that queue pair is corrupt; the hardware stopped serving it',
  EHWRESET: 'the hardware worker stopped; the machine failed closed, create a new machine',
  EMFILE: 'no free slot is left; close channels or processes, or raise the limit in createMachine',
  EADDRINUSE: 'a listener already holds that port in this partition; close it or pick another port',
  ENOBUFS:
    'read every channel a peer may keep sending on, or close it, and accept promptly: while a process reads other channels it keeps at most 4 MiB of unread messages per channel (or 4 of the largest, if more), then holds that channel back for 1 s (over a link: the other node sent past the channel\'s window, which no honest node does, or gave up on a reader that read nothing after its sender closed)',
  ETIMEDOUT:
    "the other node's hardware did not answer the connect although the link is up (it is overloaded, or does not follow the protocol); retry later, and check that node",
  ELINKDOWN:
    "the link to that node is down; sends it had not acknowledged were not delivered and the channel is not resumed: wait for the link (machine.linkUp(node) in the operator, or connect with { retry: { timeoutMs } }) and open a new channel",
};

/**
 * An error of the data or control plane, as a program sees it (connect, listen, send, recv, …).
 * The message is `CODE: what happened (what to do)`.
 */
export class ChannelError extends Error {
  /** Always `'ChannelError'` (survives structured cloning as a string). */
  override readonly name = 'ChannelError';
  /** What went wrong; see {@link ChannelErrorCode}. */
  readonly code: ChannelErrorCode;
  /** What happened, as the message says it, without the code and the advice. */
  readonly detail: string;
  /** `todo`: what to do, where the code's usual advice does not fit this case. */
  constructor(code: ChannelErrorCode, detail: string, todo: string = advice[code]) {
    super(`${code}: ${detail} (${todo})`);
    this.code = code;
    this.detail = detail;
  }
}

/**
 * The `code` of a {@link MachineError}:
 *
 * - `EINVAL`: a bad argument or option; the message names it (`createMachine: partitions[1].id …`,
 *   `spawn: program …`). Nothing was started.
 * - `ECLOSED`: the machine is closed (create a new one), or it was closed while the program ran
 *   (on `handle.result`: await results before close()).
 * - `EPARTITIONDOWN`: the partition is not running or died (`restart()` it); on `handle.result`:
 *   it died while the program ran.
 * - `EHWRESET`: the hardware worker died; the machine failed closed (close it, create a new one).
 * - `EABORTED`: on `handle.result`: spawn's `signal` aborted or its `timeoutMs` passed (the `cause`
 *   is the signal's reason); from spawn: the signal was already aborted.
 * - `EIO`: `exportTrace`'s destination failed while it wrote (a full disk, a stream destroyed or
 *   ended early; the `cause` is the failure): export again somewhere that takes it.
 * - `ETIMEDOUT`: `linkUp` waited its `timeoutMs` and the link is not up; the message says what its
 *   counters show.
 */
export type MachineErrorCode = 'EINVAL' | 'ECLOSED' | 'EPARTITIONDOWN' | 'EHWRESET' | 'EABORTED' | 'EIO' | 'ETIMEDOUT';

/** A bad option or misuse of the machine (operator side). The message says what was wrong and what to do. */
export class MachineError extends Error {
  /** Always `'MachineError'`. */
  override readonly name = 'MachineError';
  /** What went wrong: one of {@link MachineErrorCode} (a string, so codes may be added). */
  readonly code: MachineErrorCode | (string & {});
  /** What happened, as the message says it after the code. */
  readonly detail: string;
  /** `message`: what happened (the `detail`); the error's message is the code, a colon, then it. */
  constructor(code: MachineErrorCode | (string & {}), message: string, options?: ErrorOptions) {
    // The code leads the message, as a ChannelError's does: a test runner that prints only the message still shows it.
    super(`${code}: ${message}`, options);
    this.code = code;
    this.detail = message;
  }
}

/** The shape of a SharedArrayBuffer-backed region does not match what was expected. */
export class LayoutError extends Error {
  /** Always `'LayoutError'`. */
  override readonly name = 'LayoutError';
}

export function channelErrorFromStatus(status: number, detail: string): ChannelError {
  const name = statusName(status);
  const code: ChannelErrorCode = name === undefined || name === 'OK' ? 'EINVAL' : name;
  return new ChannelError(code, detail);
}

/**
 * `text` with control characters (C0, DEL, C1, and the bidirectional marks, embeddings, overrides
 * and isolates: U+061C, U+200E/F, U+202A–E, U+2066–9, the Trojan Source list) written as escapes,
 * for what goes to the operator's terminal and holds a partition's words. A function's name, its
 * file's URL (`lparlink profile`, THREATS case 71) and a program's error (the library's warnings,
 * case 74) are a partition's program's to choose: raw, they set the terminal's title, cleared its
 * screen, or hid what followed.
 */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * A value as an error message shows it: a string quoted (so "1" never reads as the number 1),
 * a number, boolean, null or undefined as itself, anything else by its kind ("a Uint16Array",
 * "an array of 3", "a function").
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name !== 'string' || name === '' || name === 'Object') return 'an object';
  // 'an ArrayBuffer', 'an Int8Array'; but 'a Uint8Array', 'a URL' (said 'you').
  return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
}
