/**
 * The descriptor module: where every word of shared memory lives.
 *
 * Nothing outside this file writes a number literal for a shared-memory
 * offset. Offsets are in bytes unless the name ends in `_WORD` (an index into
 * an Int32Array/Uint32Array over the same buffer).
 *
 * A ring region (one SPSC ring) looks like this, each line 64 bytes so that
 * the producer's and the consumer's hot words never share a cache line:
 *
 *   base +   0  ┌ producer line ─ PRODUCER_POSITION (u32, free-running), CAPACITY (u32, set once)
 *   base +  64  ├ consumer line ─ CONSUMER_POSITION (u32, free-running)
 *   base + 128  ├ data-wait line ─ DATA_WAITING flag, DATA_BELL counter
 *   base + 192  ├ space-wait line ─ SPACE_WAITING flag, SPACE_BELL counter
 *   base + 256  └ data: `capacity` bytes of records (capacity a power of two)
 *
 * A record is 8-byte aligned and starts with a header:
 *
 *   +0 length (u32): header + body bytes, before alignment
 *   +4 type   (u32): one of RecordType
 *   +8 body
 *
 * A PAD record fills the tail of the data area when the next record does not
 * fit before the wrap; its length runs exactly to the end of the data area.
 *
 * A partition's port buffer (the only shared memory a partition ever holds):
 *
 *   0            ┌ port header line: magic, version, geometry (hardware-written once), hardware-gone word (operator)
 *   64           ├ hardware-sleep line: HW_SLEEPING flag (hardware announces it sleeps)
 *   128          ├ doorbell line: HW_DOORBELL counter (partition rings it)
 *   192          ├ connection table: channelSlots × CONNECTION_ENTRY_BYTES (hardware-written)
 *   …            ├ queue pair 0: send ring │ receive ring │ completion ring
 *   …            ├ queue pair 1: …
 *                └ …
 */

export const CACHE_LINE_BYTES = 64;

/*
 * The layouts every message passes through (a record's header, the bodies of work requests,
 * deliveries and completions, the record types) are const enums, not consts: tsc writes their
 * numbers into the code that uses them. An imported `const` is, in V8, a module-variable load
 * and a hole check at each use, kept in optimized code and counted in the bytecode V8 budgets
 * for inlining (about 920 bytes into one function): in the engine's loop those made the
 * difference between every step inlined and two of them left as calls. `preserveConstEnums`
 * keeps each enum's object too, for JavaScript importers of lparlink/internal.
 */

/** Every record's header (agrona's record descriptor). */
export const enum RecordLayout {
  /** Records start on this boundary; a record's padding up to it is zeroed. */
  ALIGN_BYTES = 8,
  HEADER_BYTES = 8,
  /** Header fields, relative to the record's start. */
  LENGTH_OFFSET = 0,
  TYPE_OFFSET = 4,
}

// Ring region, relative to the ring base.
export const RING_PRODUCER_POSITION_OFFSET = 0;
/** Written once by the owner; a peer checks it on attach, the hardware never trusts it. */
export const RING_CAPACITY_OFFSET = 4;
export const RING_CONSUMER_POSITION_OFFSET = CACHE_LINE_BYTES;
/**
 * Send rings only, consumer-written (the hardware), with RING_BLOCKED_CHANNEL_OFFSET: 1 while the
 * SEND at the ring's head waits there because its receive ring is full, naming its channel, so
 * that the process can tell another channel's head from its own (THREATS case 51); 0 otherwise.
 */
export const RING_BLOCKED_OFFSET = CACHE_LINE_BYTES + 4;
export const RING_BLOCKED_CHANNEL_OFFSET = CACHE_LINE_BYTES + 8;
export const RING_DATA_WAITING_OFFSET = 2 * CACHE_LINE_BYTES;
export const RING_DATA_BELL_OFFSET = 2 * CACHE_LINE_BYTES + 4;
export const RING_SPACE_WAITING_OFFSET = 3 * CACHE_LINE_BYTES;
export const RING_SPACE_BELL_OFFSET = 3 * CACHE_LINE_BYTES + 4;
/**
 * Send rings only, a hint: the producer raises it when a work request of another channel than the
 * SEND at the ring's head found no room, and the hardware takes it (back to 0) when it decides
 * whether to keep that SEND aside, its receive ring being full, rather than let it stop the ring
 * (THREATS case 51). Any value a partition writes here changes only how its own SENDs wait.
 */
export const RING_OTHERS_WAITING_OFFSET = 3 * CACHE_LINE_BYTES + 8;
export const RING_HEADER_BYTES = 4 * CACHE_LINE_BYTES;

export const MIN_RING_CAPACITY = 1024;
export const MAX_RING_CAPACITY = 1 << 30;

/** Record types. Zero is never valid, so zeroed memory never parses as a record. */
export const enum RecordType {
  /** Fills the end of the data area before the wrap. */
  PAD = 1,
  /** partition → hardware: body = SendBody + payload. */
  SEND = 2,
  /** partition → hardware: body = SendBody (no payload); closes the channel in order after earlier SENDs. */
  CLOSE = 3,
  /** partition → hardware: body = SendBody with channel 0; the process on this queue pair has ended. */
  DETACH = 4,
  /** hardware → partition: body = DeliverBody + payload. */
  DATA = 5,
  /** hardware → partition: body = DeliverBody, `status` says why the stream ended. */
  END = 6,
  /** hardware → partition, on the completion ring: body = CompletionBody. */
  COMPLETION = 7,
  /** Used by benchmarks and tests of the bare ring. */
  RAW = 8,
}

/** SEND / CLOSE / DETACH body (partition-written; every field fetched once and validated). */
export const enum SendBody {
  CHANNEL_OFFSET = 0,
  FLAGS_OFFSET = 4,
  BYTES = 8,
}

/** DATA / END body (hardware-written). */
export const enum DeliverBody {
  CHANNEL_OFFSET = 0,
  STATUS_OFFSET = 4,
  BYTES = 8,
}

/** COMPLETION body (hardware-written). */
export const enum CompletionBody {
  STATUS_OFFSET = 0,
  CHANNEL_OFFSET = 4,
  OPCODE_OFFSET = 8,
  COUNT_OFFSET = 12,
  BYTES = 16,
}

// Port header, line 0 (written once by the hardware when it allocates the port).
export const PORT_MAGIC = 0x4c50_4152; // "LPAR"
export const PORT_VERSION = 1;
export const PORT_MAGIC_WORD = 0;
export const PORT_VERSION_WORD = 1;
export const PORT_BYTES_WORD = 2;
export const PORT_PARTITION_WORD = 3;
export const PORT_QUEUE_PAIRS_WORD = 4;
export const PORT_CHANNEL_SLOTS_WORD = 5;
export const PORT_SEND_RING_BYTES_WORD = 6;
export const PORT_RECEIVE_RING_BYTES_WORD = 7;
export const PORT_COMPLETION_RING_BYTES_WORD = 8;
export const PORT_MAX_MESSAGE_BYTES_WORD = 9;
/**
 * Set to 1 by the operator when the hardware worker died, after which it rings every bell of the
 * port: a thread blocked in Atomics.wait (the blocking receive and send calls) cannot hear the
 * control plane's EHWRESET, so it reads this word after each wake-up. Nobody else reads it; a
 * partition that writes it only fails its own blocking calls.
 */
export const PORT_HARDWARE_GONE_WORD = 10;

export const PORT_HW_SLEEPING_OFFSET = CACHE_LINE_BYTES;
export const PORT_HW_DOORBELL_OFFSET = 2 * CACHE_LINE_BYTES;
export const PORT_CONNECTION_TABLE_OFFSET = 3 * CACHE_LINE_BYTES;

// Connection table entry (claim 13): hardware-written, partition-read; never read back by the hardware.
export const CONNECTION_HANDLE_OFFSET = 0;
export const CONNECTION_LOCAL_PROCESS_OFFSET = 4;
export const CONNECTION_REMOTE_PARTITION_OFFSET = 8;
export const CONNECTION_REMOTE_PROCESS_OFFSET = 12;
export const CONNECTION_STATE_OFFSET = 16;
/** The node of the other end: the machine's own node id for a local peer (0 when the machine is not a node). */
export const CONNECTION_REMOTE_NODE_OFFSET = 20;
/**
 * 1 while the hardware keeps this end's messages aside because the other end's receive ring is
 * full (THREATS case 51): the process's library sends no more on the channel until it reads 0 (its
 * space bell rings then), so the channel's messages never stop its other channels' work requests.
 */
export const CONNECTION_HELD_OFFSET = 24;
export const CONNECTION_ENTRY_BYTES = 32;

/** Connection states as written in the connection table. */
/** LINK_DOWN: the other end is on another node and the link to it went down (docs/LINK.md). */
export const enum ConnectionState {
  FREE = 0,
  OPEN = 1,
  PEER_CLOSED = 2,
  CLOSED = 3,
  PEER_DEAD = 4,
  LINK_DOWN = 5,
}

/**
 * Channel handles are one u32: the slot index in the low `handleSlotBits(channelSlots)` bits, the
 * slot's generation in the rest. Narrow slot fields leave the generation room: with the default 64
 * slots it has 26 bits, so one slot goes through 2^26 channels before its generations run out, and
 * then it is retired rather than wrapped (a handle, once closed, is never accepted again).
 */
export function handleSlotBits(channelSlots: number): number {
  return Math.max(1, 32 - Math.clz32(channelSlots - 1));
}

/** The last generation a slot may carry before it retires. */
export function lastHandleGeneration(channelSlots: number): number {
  return 2 ** (32 - handleSlotBits(channelSlots)) - 1;
}

export function handleSlot(handle: number, channelSlots: number): number {
  return handle & ((1 << handleSlotBits(channelSlots)) - 1);
}

export function handleGeneration(handle: number, channelSlots: number): number {
  return handle >>> handleSlotBits(channelSlots);
}

export function alignUp(n: number, to: number): number {
  return (n + to - 1) & ~(to - 1);
}

export function ringRegionBytes(capacity: number): number {
  return RING_HEADER_BYTES + capacity;
}

/** What a port holds, as chosen by the machine's options. */
export interface PortGeometry {
  readonly queuePairs: number;
  readonly channelSlots: number;
  readonly sendRingBytes: number;
  readonly receiveRingBytes: number;
  readonly completionRingBytes: number;
  readonly maxMessageBytes: number;
}

/** Byte offsets of one queue pair's three rings inside a port. */
export interface QueuePairOffsets {
  readonly send: number;
  readonly receive: number;
  readonly completion: number;
}

export function queuePairBytes(g: PortGeometry): number {
  return (
    ringRegionBytes(g.sendRingBytes) + ringRegionBytes(g.receiveRingBytes) + ringRegionBytes(g.completionRingBytes)
  );
}

export function connectionTableBytes(g: PortGeometry): number {
  return alignUp(g.channelSlots * CONNECTION_ENTRY_BYTES, CACHE_LINE_BYTES);
}

export function queuePairOffsets(g: PortGeometry, qp: number): QueuePairOffsets {
  const send = PORT_CONNECTION_TABLE_OFFSET + connectionTableBytes(g) + qp * queuePairBytes(g);
  const receive = send + ringRegionBytes(g.sendRingBytes);
  const completion = receive + ringRegionBytes(g.receiveRingBytes);
  return { send, receive, completion };
}

export function portBytes(g: PortGeometry): number {
  return PORT_CONNECTION_TABLE_OFFSET + connectionTableBytes(g) + g.queuePairs * queuePairBytes(g);
}

export function connectionEntryOffset(slot: number): number {
  return PORT_CONNECTION_TABLE_OFFSET + slot * CONNECTION_ENTRY_BYTES;
}

/** The largest record a ring of this capacity accepts: half the ring, so a record always fits after a wrap. */
export function maxRecordBytes(capacity: number): number {
  return capacity / 2;
}

/**
 * Counters: a Float64Array the hardware writes and only the operator (main
 * thread) reads; no partition ever holds it. One block of PER_PARTITION slots
 * per partition slot. A const enum, as the record layouts above are: the
 * engine adds to four of these slots once per run of messages.
 */
export const enum CounterSlot {
  SENT = 0,
  DELIVERED = 1,
  BYTES_SENT = 2,
  BYTES_DELIVERED = 3,
  SEND_ERRORS = 4,
  COMPLETIONS_DROPPED = 5,
  VIOLATIONS_TOTAL = 6,
  /** The first of VIOLATION_KINDS' counters, one per kind, in that order. */
  FIRST_VIOLATION = 7,
  /** Doorbell rings that woke the hardware and led to no progress on that partition's rings (a storm shows here). */
  IDLE_WAKEUPS = FIRST_VIOLATION + 11, // VIOLATION_KINDS.length, which an enum cannot read (checked below)
  /** Control calls refused at a per-partition bound: listeners, pending accepts (THREATS case 30). */
  CONTROL_REFUSALS,
  /** Times this partition's doorbell woke the hardware, idle or not (a storm's throttle shows here). */
  DOORBELL_WAKEUPS,
  /** Messages the hardware keeps aside now for this partition's full receive rings (a gauge: THREATS case 51). */
  KEPT,
  /** Times the hardware lowered this partition's thread's dispatch priority for flooding the engine (hardware/dispatch-priority.ts). */
  DEMOTIONS,
  /** Not a slot: how many there are in a partition's block. */
  PER_PARTITION,
}
/**
 * Violation kinds, each its own counter from CounterSlot.FIRST_VIOLATION, in this order; the keys of
 * `stats().partitions[i].violations`. Counted on the partition that broke the rule (keyMismatch:
 * on the receiving side), with the completion status the sender gets:
 *
 * - `badHandle`: a work request names a channel slot past the table or one that is not open (EINVAL)
 * - `notOwner`: it names a channel another process (queue pair) owns (EPERM)
 * - `staleHandle`: it names a closed channel whose slot was reused (ESTALE)
 * - `badLength`: a record's length does not fit its type, or the ring holds a malformed record (EINVAL; malformed: the queue pair is faulted)
 * - `badOpcode`: an unknown record type (EINVAL)
 * - `badFlags`: a non-zero flags word (EINVAL)
 * - `messageSize`: a payload over `maxMessageBytes` (EMSGSIZE)
 * - `sendRingPosition`: the send ring's producer position is impossible; the queue pair is faulted (EFAULT)
 * - `receiveRingPosition`: the receive ring's consumer position is impossible; the queue pair is faulted (EFAULT)
 * - `keyMismatch`: a message's key did not verify at the receive stage; dropped (sender: EPERM)
 * - `badControlMessage`: a control-plane message that is not a well-formed call; dropped, and the
 *   partition's control port pauses (THREATS case 59)
 */
export const VIOLATION_KINDS = [
  'badHandle',
  'notOwner',
  'staleHandle',
  'badLength',
  'badOpcode',
  'badFlags',
  'messageSize',
  'sendRingPosition',
  'receiveRingPosition',
  'keyMismatch',
  'badControlMessage',
] as const;
/** One of {@link VIOLATION_KINDS}. */
export type ViolationKind = (typeof VIOLATION_KINDS)[number];
// A const enum holds only what tsc can compute, which VIOLATION_KINDS.length is not: a kind added or
// removed without changing IDLE_WAKEUPS's 11 would shift the slots after the violations. Caught
// when the module loads.
if (CounterSlot.FIRST_VIOLATION + VIOLATION_KINDS.length !== CounterSlot.IDLE_WAKEUPS) {
  throw new Error(
    `layout: the ${VIOLATION_KINDS.length} violation kinds from slot ${CounterSlot.FIRST_VIOLATION} do not end at CounterSlot.IDLE_WAKEUPS (${CounterSlot.IDLE_WAKEUPS}): set IDLE_WAKEUPS to FIRST_VIOLATION + ${VIOLATION_KINDS.length}`,
  );
}
/** Violation counters saturate here, like InfiniBand's 32-bit port counters. */
export const VIOLATION_COUNTER_MAX = 0xffff_ffff;

/**
 * Channel counters: one cache line per channel end (entry = partition slot × channelSlots +
 * channel slot), which the hardware writes and only the operator reads, like the counter block.
 * The first half is u32 words saying which channel the line counts (a mirror of the connection
 * table's entry, written by the hardware into memory no partition holds, so a partition that
 * scribbles on its own table cannot make stats() misname a channel); the second half is four
 * float64 counts. VERSION is a sequence lock: odd while the hardware rewrites the line's
 * identity (a new channel in the slot zeroes the counts), so a reader that sees it change reads again.
 */
export const enum ChannelCounterLayout {
  BYTES = CACHE_LINE_BYTES,
  // u32 words from the line's start.
  VERSION_WORD = 0,
  HANDLE_WORD = 1,
  STATE_WORD = 2,
  LOCAL_PROCESS_WORD = 3,
  REMOTE_NODE_WORD = 4,
  REMOTE_PARTITION_WORD = 5,
  REMOTE_PROCESS_WORD = 6,
  WORDS = 16,
  // float64 slots from the line's start (the first four hold the words above).
  SENT = 4,
  BYTES_SENT = 5,
  DELIVERED = 6,
  BYTES_DELIVERED = 7,
  SLOTS = 8,
}
