/**
 * Which channel a record on this queue pair belongs to: the open channels, the ones this process
 * closed whose CLOSE the hardware has not acknowledged yet, and deliveries that arrived for a
 * handle before its Channel object existed.
 */
import { handleGeneration, handleSlot, RecordType } from '../shared/layout.js';

/**
 * Unread bytes a process keeps for one channel while it reads others, or for one it has not
 * accepted yet (THREATS case 44): the receive pump copies such messages out of the shared receive
 * ring to reach the ones behind them. Past the bound the pump leaves the channel's next message in
 * the ring, which holds its sender back through the hardware, until the channel is read
 * (UNREAD_HOLD_MS at most).
 */
const UNREAD_BYTES_PER_CHANNEL = 4 * 1024 * 1024;
/**
 * What one kept message costs besides its bytes (its view and its place in the queue: ~106 bytes of
 * heap measured on Node 20), so that a flood of empty messages is bounded too.
 */
const KEPT_MESSAGE_OVERHEAD_BYTES = 128;
/**
 * What a process keeps for all the handles it has not accepted, together, in bound-sized units. A
 * listener's close drops what was kept for the connections it refused (unlisten names them); this
 * bounds the rest, whatever the number of connections waiting at once.
 */
const EARLY_BOUNDS_PER_PROCESS = 4;
/**
 * What a process keeps for its accepted channels together, in bound-sized units (THREATS case 135).
 * The bound per channel alone let a peer that opens many channels to one process (a server accepts
 * every client) and fills each to just under it, while the process waits on another channel, make
 * that process hold channels × the bound: 8 channels 33 MB, the default 64 channel slots 256 MiB,
 * 4096 slots 16 GiB, outside its heap limit. Four, as for the channels not accepted yet: one channel
 * still gets its whole bound, and a server reading its clients in turn keeps four 4 MiB uploads
 * aside; past it the pump holds the ring as at one channel's bound, and when the hold runs out the
 * channel that keeps the most ends, not the one whose message came last.
 */
const KEPT_BOUNDS_PER_PROCESS = 4;
/**
 * How long a channel at its bound may hold the receive ring's head while nothing takes from it
 * (its process waiting on, or polling, other channels): then it ends with ENOBUFS, what it held
 * is dropped, and the ring moves again.
 */
export const UNREAD_HOLD_MS = 1000;

/** The bound on one channel's unread bytes: UNREAD_BYTES_PER_CHANNEL, or four of the largest messages. */
export function unreadBytesPerChannel(maxMessageBytes: number): number {
  return Math.max(UNREAD_BYTES_PER_CHANNEL, 4 * maxMessageBytes);
}

/** What keeping a message of `bytes` counts against its channel's bound. */
export function keptCharge(bytes: number): number {
  return bytes + KEPT_MESSAGE_OVERHEAD_BYTES;
}

/** What the queue pair needs from a channel to hand it deliveries and completions. */
export interface ChannelSink {
  /** A message a receive waits for now, or one kept before the channel was adopted. */
  deliver(message: Uint8Array): void;
  /** A receive of this channel waits now: a message for it goes to that receive, not to its queue. */
  takesNow(): boolean;
  /** Whether one more kept message of `bytes` stays within the channel's bound and its process's (keptLimit). */
  canKeep(bytes: number): boolean;
  /** What the channel's kept messages count now (keptCharge() each). */
  keptCharges(): number;
  /** Keep a copy of `bytes` at `from` of the ring (u8 and u32 over it) in the channel's queue. */
  keep(u8: Uint8Array, u32: Uint32Array, from: number, bytes: number): void;
  /**
   * The channel held the ring at its bound and was not read (`byProcess`: it kept the most when its
   * process's channels held theirs, `limit`): it ends with ENOBUFS, and what it kept is dropped.
   */
  overflowed(limit: number, byProcess?: boolean): void;
  /**
   * True when a reader waits for this channel to become readable and nothing
   * is queued: the pump then leaves the record in the ring (for a zero-copy
   * drain) and calls notifyReadable() instead of copying it out.
   */
  wantsReadable(): boolean;
  /** Wake the channel's readable() waiters: a record for it waits in the ring. */
  notifyReadable(): void;
  end(status: number): void;
  sendFailed(status: number, count: number): void;
}

/**
 * Closed handles a process remembers, newest first out last: what still arrives for one is dropped,
 * and a closing channel still hears of its refused sends. Never forgotten, a server's every closed
 * channel stayed (a CLOSE acknowledgement dropped from a full completion ring left its Channel in
 * `closing`): 20,000 connects and closes by a peer grew its heap by 46 MiB, until it died (attack
 * run, THREATS case 47). Older ones are forgotten: a refused send's completion for one goes
 * unattributed, and what still arrives for one is known stale by its slot's generation
 * (ChannelRegistry.closedGenerations; THREATS case 110).
 */
const REMEMBERED_CLOSED = 4096;

/** Set `handle` as the newest entry of `map`, forgetting the oldest past REMEMBERED_CLOSED. */
function remember<V>(map: Map<number, V>, handle: number, value: V): void {
  map.delete(handle);
  map.set(handle, value);
  if (map.size > REMEMBERED_CLOSED) map.delete(map.keys().next().value!);
}

/** The marker an early list ends with when its channel passed the bound: it ends with ENOBUFS when adopted. */
const OVERFLOWED = 'overflowed';

interface EarlyDeliveries {
  /** Copies of the kept messages in buffers of their own (a slab per handle pinned 64 KiB for one byte), END statuses, the overflow marker. */
  items: Array<Uint8Array | number | typeof OVERFLOWED>;
  charged: number;
  /** Past the bound, held too long: what arrives from now on is dropped (an END too). */
  overflowed: boolean;
}

/** What an early message costs besides keptCharge(): its own ArrayBuffer. */
const EARLY_BUFFER_OVERHEAD_BYTES = 128;

function earlyCharge(bytes: number): number {
  return keptCharge(bytes) + EARLY_BUFFER_OVERHEAD_BYTES;
}

export class ChannelRegistry {
  /** What the early lists keep together (bounded by EARLY_BOUNDS_PER_PROCESS × unreadLimit). */
  private earlyCharged = 0;
  /**
   * What the open channels' queues keep together (keptCharge() each, added and taken by the
   * channels themselves), bounded by keptLimit (THREATS case 135).
   */
  keptCharged = 0;
  /** The bound on keptCharged: KEPT_BOUNDS_PER_PROCESS × unreadLimit. */
  readonly keptLimit: number;
  /** The process is ending (closeEarly): what arrives for a handle without an open channel is dropped. */
  private draining = false;
  /** Why canKeepEarly() last said no: the handle's own bound (true) or the process's. */
  private heldAtOwnBound = false;

  constructor(
    /** unreadBytesPerChannel() of the machine's largest message. */
    readonly unreadLimit: number,
    /** The partition's channel slots: a handle's slot and generation are read from it. */
    private readonly channelSlots: number,
  ) {
    this.keptLimit = KEPT_BOUNDS_PER_PROCESS * unreadLimit;
  }

  private readonly open = new Map<number, ChannelSink>();
  /**
   * Channels closed by this process whose CLOSE the hardware has not acknowledged yet: messages
   * sent before the close may still be refused (the peer died meanwhile), and their sender must
   * hear of it (invariant 5), so their SEND completions still reach the channel.
   */
  private readonly closing = new Map<number, ChannelSink>();
  /** Deliveries for handles not adopted yet (data can arrive before accept() returns), within the bound. */
  private readonly early = new Map<number, EarlyDeliveries>();
  /** Handles this process closed: what still arrives for them is dropped, never kept as early. */
  private readonly closed = new Map<number, true>();
  /**
   * Per channel slot, the newest generation of it this process closed. A slot holds one channel at
   * a time and its generations only grow (a slot retires rather than wrap), so a record for a
   * generation up to that one is for a channel closed here, or freed before it: never adopted. The
   * bounded `closed` forgets the oldest handles, and their records used to be kept as early for
   * good: ENDs charged nothing, and nothing ever adopts or forgets such a handle again (a server that
   * closed 6,000 channels unread before each of three receives kept 912, then 1,254, then 2,644
   * lists, for as long as it ran: THREATS case 110). One entry per slot at most.
   */
  private readonly closedGenerations = new Map<number, number>();

  /** Whether `handle` is one this process closed, or older than one it closed on the same slot. */
  private closedHere(handle: number): boolean {
    if (this.closed.has(handle)) return true;
    const newest = this.closedGenerations.get(handleSlot(handle, this.channelSlots));
    return newest !== undefined && handleGeneration(handle, this.channelSlots) <= newest;
  }

  /** The open channel a delivery for `handle` goes to. */
  sink(handle: number): ChannelSink | undefined {
    return this.open.get(handle);
  }

  /** The channel an error completion for a work request on `handle` goes to, open or still closing. */
  sender(handle: number, opcode: number): ChannelSink | undefined {
    return this.open.get(handle) ?? (opcode === RecordType.SEND ? this.closing.get(handle) : undefined);
  }

  openSinks(): IterableIterator<ChannelSink> {
    return this.open.values();
  }

  adopt(handle: number, sink: ChannelSink): void {
    this.open.set(handle, sink);
    this.closed.delete(handle); // a generation counter that wrapped hands out an old handle again
    // The hardware hands this handle out live: no closed generation of its slot stands in its way.
    const slot = handleSlot(handle, this.channelSlots);
    if ((this.closedGenerations.get(slot) ?? -1) >= handleGeneration(handle, this.channelSlots)) this.closedGenerations.delete(slot);
    const early = this.early.get(handle);
    if (early === undefined) return;
    this.dropEarly(handle, early);
    for (const item of early.items) {
      if (item === OVERFLOWED) sink.overflowed(this.unreadLimit);
      else if (typeof item === 'number') sink.end(item);
      else sink.deliver(item);
    }
  }

  /**
   * The open channel whose queue keeps the most, of those that keep anything: the one a hold at the
   * process's bound ends when it runs out (THREATS case 135).
   */
  largestKept(): ChannelSink | undefined {
    let largest: ChannelSink | undefined;
    let most = 0;
    for (const sink of this.open.values()) {
      const kept = sink.keptCharges();
      if (kept > most) {
        most = kept;
        largest = sink;
      }
    }
    return largest;
  }

  /** The channel was closed: no more deliveries for it; its SEND completions until the CLOSE's. */
  forget(handle: number): void {
    const sink = this.open.get(handle);
    if (sink !== undefined) remember(this.closing, handle, sink);
    this.open.delete(handle);
    const early = this.early.get(handle);
    if (early !== undefined) this.dropEarly(handle, early);
    remember(this.closed, handle, true);
    const slot = handleSlot(handle, this.channelSlots);
    const generation = handleGeneration(handle, this.channelSlots);
    if (generation > (this.closedGenerations.get(slot) ?? -1)) this.closedGenerations.set(slot, generation);
  }

  /** The hardware serves a queue pair's work requests in order: nothing for this handle follows its CLOSE. */
  closeAcknowledged(handle: number): void {
    this.closing.delete(handle);
  }

  /** Whether a message of `bytes` for a handle no channel holds yet is kept or dropped; false: it is at its bound. */
  canKeepEarly(handle: number, bytes: number): boolean {
    if (this.draining || this.closedHere(handle)) return true; // dropped
    const early = this.early.get(handle);
    if (early?.overflowed === true) return true; // dropped
    const charge = earlyCharge(bytes);
    this.heldAtOwnBound = (early?.charged ?? 0) + charge > this.unreadLimit;
    return !this.heldAtOwnBound && this.earlyCharged + charge <= EARLY_BOUNDS_PER_PROCESS * this.unreadLimit;
  }

  /**
   * A hold on `handle`'s message ran out before anyone accepted it. At its own bound, it ends;
   * held by the process's bound, the unaccepted channel that keeps the most ends instead: not
   * whichever message came last (four hogs just under their bound made an honest client's 3 bytes
   * the ones dropped, in an attack run), and only after the hold (ended at once, an honest burst of
   * uploads to a server that accepted 400 ms late lost one, in a review).
   */
  endEarlyHold(handle: number): void {
    const largest = this.heldAtOwnBound ? handle : (this.largestEarly() ?? handle);
    this.overflowEarly(largest);
  }

  /** The handle whose early list keeps the most, of those not overflowed. */
  private largestEarly(): number | undefined {
    let largest: number | undefined;
    let most = 0;
    for (const [handle, early] of this.early) {
      if (early.charged > most) {
        most = early.charged;
        largest = handle;
      }
    }
    return largest;
  }

  /**
   * Keep a message for a handle no channel holds yet (a copy of `bytes` at `from` of the ring), or
   * drop it when that handle was closed or overflowed. canKeepEarly() said it may.
   */
  keepEarly(handle: number, u8: Uint8Array, from: number, bytes: number): void {
    if (this.draining || this.closedHere(handle)) return;
    const early = this.earlyFor(handle);
    if (early.overflowed) return;
    const charge = earlyCharge(bytes);
    early.charged += charge;
    this.earlyCharged += charge;
    early.items.push(u8.slice(from, from + bytes));
  }

  /** An END status for a handle no channel holds yet. */
  keepEarlyEnd(handle: number, status: number): void {
    if (this.draining || this.closedHere(handle)) return;
    const early = this.earlyFor(handle);
    if (!early.overflowed) early.items.push(status);
  }

  /**
   * The handle held the ring at its bound and nobody accepted it: all of it is dropped (its accept
   * will end it with ENOBUFS, and memory kept for it might outlive its slot), and so is what follows.
   */
  overflowEarly(handle: number): void {
    const early = this.earlyFor(handle);
    if (early.overflowed) return;
    this.earlyCharged -= early.charged;
    early.charged = 0;
    early.items = [OVERFLOWED];
    early.overflowed = true;
  }

  private dropEarly(handle: number, early: EarlyDeliveries): void {
    this.earlyCharged -= early.charged;
    this.early.delete(handle);
  }

  private earlyFor(handle: number): EarlyDeliveries {
    let early = this.early.get(handle);
    if (early === undefined) this.early.set(handle, (early = { items: [], charged: 0, overflowed: false }));
    return early;
  }

  /** The process is ending: what arrives for a handle it never adopted is dropped from now on. */
  closeEarly(): void {
    this.draining = true;
    this.early.clear();
    this.earlyCharged = 0;
  }

  /** The process ended: the next one on this queue pair starts clean. */
  clear(): void {
    this.open.clear();
    this.keptCharged = 0;
    this.closing.clear();
    this.early.clear();
    this.earlyCharged = 0;
    this.closed.clear();
    this.closedGenerations.clear();
    this.draining = false;
  }
}
