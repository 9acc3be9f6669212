/**
 * The trace ring's memory, as every thread agrees on it (a descriptor module, like layout.ts):
 * a header, then fixed-size records written by one thread and read by the operator.
 *
 * Each thread that traces owns one ring: every partition worker its own (shared only with the
 * operator, never with the hardware or another partition: invariant 3), the hardware worker one.
 * The writer overwrites the oldest record when the ring is full; the operator counts what was
 * overwritten as dropped.
 *
 * Header (u32 words):
 *   0  TRACE_MAGIC
 *   1  capacity in records (the operator trusts its own copy, never this word)
 *   2  records written so far (wraps at 2^32; stored last, after the record it counts)
 *
 * Record (TRACE_RECORD_BYTES = 64): u32 words 0..7, then four f64 timestamps at bytes 32..63,
 * in microseconds of `process.hrtime` (the same monotonic clock in every thread of the process,
 * and the clock Node's own trace events use).
 *
 *   word 0  kind (TraceKind)
 *   words 1..5  the kind's fields (below), u32 each
 *   words 6..7  reserved, zero
 *   t0..t3  the kind's times; unused ones are 0
 *
 * | kind | fields 1..5 | times |
 * |---|---|---|
 * | SEND (partition) | handle, message number | claim began, message copied |
 * | RECEIVE (partition) | handle, message number | take began, message handed over |
 * | HARDWARE_MESSAGE | from partition index, from handle, to partition index, delivery handle, message number | stamp, verify, deliver began, deliver ended |
 * | HARDWARE_REFUSED | from partition index, from handle, to partition index (or NO_PARTITION), TraceRefusal, message number | stamp, verify began, verify ended (KEY_MISMATCH); stamp, verify, deliver began, deliver ended (RECEIVER_FAULTED) |
 * | SLEEP | TraceWait, queue pair (hardware: 0) | went to sleep |
 * | WOKE | TraceWait, queue pair (hardware: partition index whose doorbell woke it, or NO_PARTITION) | woke |
 * | RANG (partition) | queue pair whose send rang the hardware's doorbell | rang |
 * | VIOLATION (hardware) | partition index, index in VIOLATION_KINDS | counted |
 * | LINK_SEND (hardware) | from partition index, from handle, to node, 1 if held for its window (else 0), message number | stamp, handed to the link (or to the hold) |
 * | LINK_DELIVER (hardware) | from node, to partition index, delivery handle, 0, message number | deliver began, deliver ended |
 *
 * A message to or from another node has its hardware stage on each node (LINK_SEND on the
 * sender's, LINK_DELIVER on the receiver's): each node's trace is its own file.
 */

export const TRACE_MAGIC = 0x4c_50_54_52; // "LPTR"
export const TRACE_HEADER_BYTES = 64;
export const TRACE_MAGIC_WORD = 0;
export const TRACE_CAPACITY_WORD = 1;
export const TRACE_WRITTEN_WORD = 2;

export const TRACE_RECORD_BYTES = 64;
export const TRACE_RECORD_WORDS = TRACE_RECORD_BYTES / 4;
/** Fields are u32 words 1..5 of a record. */
export const TRACE_FIELD_COUNT = 5;
/** Timestamps are f64 slots 4..7 of a record (bytes 32..63). */
export const TRACE_TIME_SLOT = 4;
export const TRACE_TIME_COUNT = 4;

export const TraceKind = {
  SEND: 1,
  RECEIVE: 2,
  HARDWARE_MESSAGE: 3,
  HARDWARE_REFUSED: 4,
  SLEEP: 5,
  WOKE: 6,
  RANG: 7,
  VIOLATION: 8,
  LINK_SEND: 9,
  LINK_DELIVER: 10,
} as const;
export type TraceKind = (typeof TraceKind)[keyof typeof TraceKind];

/** What a thread slept on (field 1 of SLEEP and WOKE). */
export const TraceWait = {
  /** The hardware, on every port's doorbell (field 2 of WOKE: the partition index whose bell woke it, or NO_PARTITION). */
  DOORBELLS: 1,
  /** A process's receive pump, on its receive ring's data bell (field 2: queue pair). */
  RECEIVE_RING: 2,
  /** A process's write(), on its send ring's space bell (field 2: queue pair). */
  SEND_SPACE: 3,
} as const;
export type TraceWait = (typeof TraceWait)[keyof typeof TraceWait];

/**
 * Why the hardware refused a message (field 4 of HARDWARE_REFUSED), and at which stage: the export
 * labels the stage's slice `"refused": <name>` (TRACE_REFUSALS) and draws no arrow for it.
 */
export const TraceRefusal = {
  /** It failed verification (no receiving end, or the key did not match): EPERM, at verify. */
  KEY_MISMATCH: 0,
  /** It passed verification, but its receiver's queue pair is faulted, or faulted on this message's claim: EFAULT, at deliver (THREATS case 133). */
  RECEIVER_FAULTED: 1,
} as const;
export type TraceRefusal = (typeof TraceRefusal)[keyof typeof TraceRefusal];
/** The export's names of the TraceRefusal values, by value. */
export const TRACE_REFUSALS = ['keyMismatch', 'receiverFaulted'] as const;

/** Field value for "no partition": a refused message with no receiving end, a wake-up nobody's bell explains. */
export const NO_PARTITION = 0xffff_ffff;

/** Bytes of a trace ring of `records` records. */
export function traceRingBytes(records: number): number {
  return TRACE_HEADER_BYTES + records * TRACE_RECORD_BYTES;
}

/**
 * Which message numbers are traced: every `sample`-th, counting from 1. The sender, the hardware
 * and the receiver each count a channel's messages themselves and so pick the same ones without
 * telling each other. A power of two is tested with a mask: this runs for every message while
 * tracing is on, and an integer division costs tens of cycles.
 */
export class Sampling {
  private readonly mask: number;

  constructor(readonly every: number) {
    this.mask = (every & (every - 1)) === 0 && every <= 0x4000_0000 ? every - 1 : -1;
  }

  has(n: number): boolean {
    return this.mask >= 0 ? (n & this.mask) === 0 : n % this.every === 0;
  }

  /** How many numbers from `n` on, `n` included, come before the next sampled one: 0 when `n` is sampled. Once a run, not per message. */
  unsampledFrom(n: number): number {
    const r = n % this.every;
    return r === 0 ? 0 : this.every - r;
  }
}
