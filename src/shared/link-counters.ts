/**
 * The link counter block's contract: one block of Float64 counters per
 * configured peer node (in `node.peers` order), then one machine-wide block.
 * The hardware writes it (hardware/link/link-counters.ts), the operator reads
 * it with a plain load for `machine.stats().links`; no partition holds it.
 */

/** Violation kinds of a link, counted per remote node; each dropped message or frame counts once. */
export const LINK_VIOLATION_KINDS = [
  /** A message's key does not match the receiving end's own key-table entry. */
  'keyMismatch',
  /** A message, ACK or CLOSE names a channel id that is not an open channel of this node. */
  'unknownChannel',
  /** A message names a channel of this node whose other end is not on that node and partition. */
  'wrongSource',
  /** A message's sequence number is not the next one its channel expects (a replay, a gap, a reorder). */
  'sequence',
  /** A field of a frame lies about a length (payload past the frame end, a count that does not fit, a message over maxMessageBytes). */
  'badLength',
  /** A frame of an unknown type, with reserved bytes set, of the wrong size, or a reply to nothing asked. */
  'badFrame',
  /**
   * A message past its channel's window: the peer put more of one channel on the wire, unacknowledged,
   * than the window this node granted it (honest nodes never do). The channel ends.
   */
  'window',
] as const;
/** One of {@link LINK_VIOLATION_KINDS}. */
export type LinkViolationKind = (typeof LINK_VIOLATION_KINDS)[number];

/** Link states, as the `LINK_STATE` counter holds them. */
export const LinkState = { CONNECTING: 0, UP: 1, DOWN: 2 } as const;
/** A link's state in {@link LinkStats}. */
export type LinkStateName = 'connecting' | 'up' | 'down';
const STATE_NAMES: LinkStateName[] = ['connecting', 'up', 'down'];

export const LINK_STATE = 0;
export const LINK_BYTES_SENT = 1;
export const LINK_BYTES_RECEIVED = 2;
export const LINK_FRAMES_SENT = 3;
export const LINK_FRAMES_RECEIVED = 4;
export const LINK_MESSAGES_SENT = 5;
export const LINK_MESSAGES_RECEIVED = 6;
export const LINK_AUTH_FAILURES = 7;
export const LINK_UNACKNOWLEDGED = 8;
export const LINK_UPS = 9;
export const LINK_DOWNS = 10;
export const LINK_VIOLATIONS_TOTAL = 11;
export const LINK_FIRST_VIOLATION = 12;
export const LINK_DIAL_FAILURES = LINK_FIRST_VIOLATION + LINK_VIOLATION_KINDS.length;
/** A gauge, not a count: window bytes kept aside now (docs/LINK.md). */
export const LINK_KEPT_BYTES = LINK_DIAL_FAILURES + 1;
/** A gauge too: window bytes this node's senders have waiting for the peer's window, kept aside (THREATS case 52). */
export const LINK_HELD_BYTES = LINK_KEPT_BYTES + 1;
export const LINK_COUNTERS_PER_PEER = LINK_HELD_BYTES + 1;
/** In the machine-wide block after the peers': TLS peers refused because their certificate named no configured peer. */
export const LINK_UNKNOWN_IDENTITIES = 0;
export const LINK_MACHINE_COUNTERS = 1;

export const LINK_VIOLATION_COUNTER = Object.fromEntries(LINK_VIOLATION_KINDS.map((k, i) => [k, LINK_FIRST_VIOLATION + i])) as Readonly<
  Record<LinkViolationKind, number>
>;

export function linkCounterBytes(peers: number): number {
  return (peers * LINK_COUNTERS_PER_PEER + LINK_MACHINE_COUNTERS) * Float64Array.BYTES_PER_ELEMENT;
}

/** Where the machine-wide block starts, in Float64 elements. */
export function linkMachineBlock(peers: number): number {
  return peers * LINK_COUNTERS_PER_PEER;
}

/** One link to a peer node, as `machine.stats().links` reports it. Counters only grow, but for `state` and `keptBytes`. */
export interface LinkStats {
  /** The peer's node id. */
  node: number;
  /** `'connecting'` until the first handshake succeeds, `'up'` while it carries traffic, `'down'` after it failed (it redials) and once the machine is closed. */
  state: LinkStateName;
  /**
   * Whether this node dials the peer (it has the peer's `port`, and it does not listen or has the
   * smaller id); false: it waits to be dialed. Both nodes false, with every counter at 0: nobody
   * dials (docs/LINK.md, "Who dials").
   */
  dials: boolean;
  /** Frame bytes written to the TLS socket (not counting TLS record overhead). */
  bytesSent: number;
  /** Bytes read from the TLS socket. */
  bytesReceived: number;
  /** Frames of every type written. */
  framesSent: number;
  /** Frames of every type read (well-formed in length; their content may still have been refused). */
  framesReceived: number;
  /** Messages sent over the link in DATA frames. */
  messagesSent: number;
  /** Messages received from the link that passed verification and were delivered to a receive ring. */
  messagesReceived: number;
  /** Messages and frames from this node dropped by verification, by kind (see {@link LINK_VIOLATION_KINDS}). */
  violations: {
    /** All of them, every kind together. */
    total: number;
  } & Record<LinkViolationKind, number>;
  /** Handshakes with this node refused: wrong CA, certificate naming another node than dialed, older TLS. */
  authFailures: number;
  /**
   * Dials of this node that failed before any handshake was refused: the connection refused or
   * unreachable, the host not found, or a peer silent past the handshake bound (docs/LINK.md).
   * Each is dialed again; a link stuck in `'connecting'` with this counter growing is not reachable.
   */
  dialFailures: number;
  /** Sends that the link had not acknowledged when it went down: each failed with `ELINKDOWN`. */
  unacknowledged: number;
  /**
   * Now, not a count: bytes of this node's channels with that node that arrived while their
   * receive ring was full, kept aside by this node's hardware until the ring's reader frees space
   * (each channel at most the window this node granted: `node.channelWindowBytes`, or one message of
   * its `maxMessageBytes` if that is more; counted as in
   * DATA frames: 8 per message plus its payload rounded up to 8). Growing and staying up: a
   * partition that does not read what it was sent.
   */
  keptBytes: number;
  /**
   * Now, not a count: bytes this node's partitions sent to that node past their channel's window
   * (its reader is not reading) while their process had other work requests waiting behind them,
   * kept aside by this node's hardware, their channel held, until the peer grants room (THREATS
   * case 52; each channel at most twice `sendRingBytes`; counted as `keptBytes` is).
   */
  heldBytes: number;
  /** Times the link came up. */
  ups: number;
  /** Times the link went down. */
  downs: number;
}

/** Operator side: read the block of the peer at `p` (its index in `node.peers`); `dials` from the options. */
export function readLinkStats(values: Float64Array, p: number, node: number, dials: boolean): LinkStats {
  const at = p * LINK_COUNTERS_PER_PEER;
  const violations = { total: values[at + LINK_VIOLATIONS_TOTAL] } as LinkStats['violations'];
  for (const kind of LINK_VIOLATION_KINDS) violations[kind] = values[at + LINK_VIOLATION_COUNTER[kind]];
  return {
    node,
    state: STATE_NAMES[values[at + LINK_STATE]] ?? 'down',
    dials,
    bytesSent: values[at + LINK_BYTES_SENT],
    bytesReceived: values[at + LINK_BYTES_RECEIVED],
    framesSent: values[at + LINK_FRAMES_SENT],
    framesReceived: values[at + LINK_FRAMES_RECEIVED],
    messagesSent: values[at + LINK_MESSAGES_SENT],
    messagesReceived: values[at + LINK_MESSAGES_RECEIVED],
    violations,
    authFailures: values[at + LINK_AUTH_FAILURES],
    dialFailures: values[at + LINK_DIAL_FAILURES],
    unacknowledged: values[at + LINK_UNACKNOWLEDGED],
    keptBytes: values[at + LINK_KEPT_BYTES],
    heldBytes: values[at + LINK_HELD_BYTES],
    ups: values[at + LINK_UPS],
    downs: values[at + LINK_DOWNS],
  };
}
