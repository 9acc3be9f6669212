/**
 * Messages to processes on this node whose receive ring was full, kept aside in the hardware's own
 * memory until their reader frees space (THREATS case 51).
 *
 * A process's channels share one send ring. A SEND left at the head of it while its receiver's
 * ring is full would stop every work request behind it: a client that stopped reading would stop
 * a server's answers to all its other clients. So when something else waits behind it (another
 * channel's work request in the ring, or the process's hint that one found no room: see
 * Engine.keepOrWait), the engine takes such a SEND out of the ring into the receiving queue pair's
 * kept messages, and marks the sending end held in its partition's connection table. The sender's
 * library sends no more on a held channel (send() says EAGAIN, write() waits) until its kept
 * messages are in the ring, so what a channel keeps stays within what its sender had in its send
 * ring when the hold began, and the batch it was sending: the bound per channel, twice the send
 * ring, leaves room for that. A sender that goes on past it waits in its own send ring, as every
 * sender did before.
 *
 * One queue per receiving queue pair, in the order the messages came, whatever their channel:
 * while it holds any, every message to that ring joins it, so the ring receives in the order the
 * hardware took them, as when nothing is kept. Each message is tagged with the handle its receiving
 * end knows the channel by. The END of a channel waits until none of its messages is kept
 * (Engine.deliverEnd); a reader that closes an end drops that end's messages.
 */
import { KeptMessages, type KeptBytesGauge } from './kept-messages.js';
import type { HardwareQueuePair, PartitionPort } from './partition-port.js';
import { messageBytes } from '../shared/link-frames.js';

/** Kept bytes are counted by what keeps them (the engine's counters), not by a link's. */
const UNCOUNTED: KeptBytesGauge = { kept() {} };
/** A queue's buffer doubles as it grows, up to this (and past it by what one message needs). */
const QUEUE_GROWTH_LIMIT = 1 << 30;

export class KeptDeliveries {
  /** Queues with messages, by receiving queue pair, and how many (a field: the engine looks at it every round). */
  private readonly queues = new Map<HardwareQueuePair, KeptMessages>();
  private queueCount = 0;
  /** Per receiving end: messages and KeptMessages bytes (messageBytes()) kept. */
  private readonly countOf: Int32Array;
  private readonly bytesOf: Float64Array;
  /**
   * Per receiving end: the sender's queue pair, its process and its handle of the channel, so that
   * messages dropped after the sender closed its end are still answered (its process keeps
   * counting refusals of a closed channel's messages, channel.failedSends).
   */
  private readonly senderQueuePairOf: (HardwareQueuePair | undefined)[];
  private readonly senderProcessOf: Int32Array;
  /** Per receiving end: the sender's partition index, which its counters need after its queue pair is let go (forgetSendersOf). */
  private readonly senderPartitionOf: Int32Array;
  private readonly senderHandleOf: Uint32Array;
  /** Per receiving end: its sender closed its end, and that CLOSE is acknowledged once nothing of it is kept. */
  private readonly closeAckPending: Uint8Array;

  constructor(
    entries: number,
    /** What one channel may keep, counted as KeptMessages counts (messageBytes(): 8 + each payload rounded up to 8). */
    readonly limitBytes: number,
    /** The slot bits of a channel handle (a tag): `tag & slotMask` is its slot. */
    private readonly slotMask: number,
  ) {
    this.countOf = new Int32Array(entries);
    this.bytesOf = new Float64Array(entries);
    this.senderQueuePairOf = new Array<HardwareQueuePair | undefined>(entries).fill(undefined);
    this.senderProcessOf = new Int32Array(entries);
    this.senderPartitionOf = new Int32Array(entries);
    this.senderHandleOf = new Uint32Array(entries);
    this.closeAckPending = new Uint8Array(entries);
  }

  /** The sender of what is kept for `d` closed its end: acknowledge that after them (takeCloseAck()). */
  deferCloseAck(d: number): void {
    this.closeAckPending[d] = 1;
  }

  /** Whether a CLOSE of the sender of `d`'s messages waits to be acknowledged; it no longer does. */
  takeCloseAck(d: number): boolean {
    const pending = this.closeAckPending[d] === 1;
    this.closeAckPending[d] = 0;
    return pending;
  }

  /** The queue pair that sent what is kept for `d`, if it still serves the process that did; and that process's handle of the channel. */
  senderQueuePair(d: number): HardwareQueuePair | undefined {
    const qp = this.senderQueuePairOf[d];
    return qp !== undefined && qp.process === this.senderProcessOf[d] ? qp : undefined;
  }

  senderHandle(d: number): number {
    return this.senderHandleOf[d];
  }

  /**
   * Nothing is kept for `d` any more and its sender was answered: let its queue pair go. It holds
   * its port, and a port its partition's every ring: kept here after a restart, it held a run's
   * old port (~4 MiB) for good, one per end that had ever kept something (THREATS case 102).
   */
  forgetSender(d: number): void {
    this.senderQueuePairOf[d] = undefined;
  }

  /**
   * The run of `port` is over (its partition went down): no kept message of it can be answered
   * there any more (senderQueuePair() finds its queue pairs stopped), so let go of them now. While
   * a reader that reads nothing kept a message of each run, forgetSender() never came, and each
   * held its run's old port (~4 MiB) for good (THREATS case 123). Control path: one pass over the ends.
   */
  forgetSendersOf(port: PartitionPort): void {
    const of = this.senderQueuePairOf;
    for (let d = 0; d < of.length; d++) if (of[d]?.port === port) of[d] = undefined;
  }

  /** Receiving queue pairs with messages kept. */
  get queuePairs(): number {
    return this.queueCount;
  }

  /** Messages kept for end `d`. */
  has(d: number): boolean {
    return this.countOf[d] > 0;
  }

  /** The partition index that sent what is kept for `d` (its queue pair's, whichever process or run it serves now). */
  sender(d: number): number {
    return this.senderPartitionOf[d];
  }

  /**
   * Keep a copy of the `bytes` payload bytes at `at` in `src`, which queue pair `sender` sent on its
   * channel `senderHandle` to end `d` of `dqp`, known there as `deliveryHandle`; false, keeping
   * nothing, when that would pass the channel's bound.
   */
  keep(dqp: HardwareQueuePair, d: number, deliveryHandle: number, sender: HardwareQueuePair, senderHandle: number, src: Uint8Array, at: number, bytes: number): boolean {
    const cost = messageBytes(bytes);
    if (this.countOf[d] > 0 && this.bytesOf[d] + cost > this.limitBytes) return false;
    let q = this.queues.get(dqp);
    if (q === undefined) {
      // For several ends at once (each message tagged with its own): no one entry, no link.
      q = new KeptMessages(-1, 0, QUEUE_GROWTH_LIMIT, UNCOUNTED);
      this.queues.set(dqp, q);
      this.queueCount = this.queues.size;
    }
    q.push(src, at, bytes, deliveryHandle);
    dqp.keptMessages++;
    this.countOf[d]++;
    this.bytesOf[d] += cost;
    this.senderQueuePairOf[d] = sender;
    this.senderProcessOf[d] = sender.process;
    this.senderPartitionOf[d] = sender.port.index;
    this.senderHandleOf[d] = senderHandle;
    return true;
  }

  /**
   * The oldest message of `dqp`'s queue went into its ring (or was found stale): forget it; it was
   * for end `d`. One of an end dropped already (drop()) was counted out of `dqp` then.
   */
  shift(dqp: HardwareQueuePair, q: KeptMessages, d: number): void {
    const cost = messageBytes(q.firstBytes);
    const dropped = q.dropped;
    const slot = q.firstTag & this.slotMask;
    if (dropped !== undefined && dropped.stale[slot] > 0) {
      dropped.stale[slot]--;
      dropped.bytes -= cost;
      if (--dropped.messages === 0) q.dropped = undefined;
    } else {
      dqp.keptMessages--;
      if (d >= 0 && this.countOf[d] > 0) {
        this.countOf[d]--;
        this.bytesOf[d] -= cost;
      }
    }
    q.shift();
    if (q.count === 0) this.forget(dqp);
  }

  /**
   * Forget what is kept for end `d` of `dqp`, known there as `deliveryHandle` (its reader closed it,
   * or stopped); how many messages that was. They are counted out at once, and left in the queue
   * (never delivered: the end is gone, or the whole queue is being dropped) until they reach its
   * head or are a quarter of what it holds. Taking them out at once cost a pass over the whole
   * queue per end: a partition that kept 2 million empty messages for 32 ends of its own and
   * closed the ends held the hardware 1.1 s, every other partition's traffic with it (THREATS
   * case 81). A pass now takes out at least a quarter of what it reads.
   */
  drop(dqp: HardwareQueuePair | undefined, d: number, deliveryHandle: number): number {
    const n = this.countOf[d];
    if (n === 0) return 0;
    const bytes = this.bytesOf[d];
    this.countOf[d] = 0;
    this.bytesOf[d] = 0;
    const q = dqp === undefined ? undefined : this.queues.get(dqp);
    if (q !== undefined && dqp !== undefined) {
      dqp.keptMessages -= n;
      const dropped = (q.dropped ??= { stale: new Uint32Array(this.slotMask + 1), messages: 0, bytes: 0 });
      dropped.stale[deliveryHandle & this.slotMask] += n;
      dropped.messages += n;
      dropped.bytes += bytes;
      if (4 * dropped.bytes >= q.bytes) this.compact(dqp, q);
    }
    return n;
  }

  /** Whether the oldest message of `q` is one of an end dropped already (drop()): never delivered. */
  firstDropped(q: KeptMessages): boolean {
    const dropped = q.dropped;
    return dropped !== undefined && dropped.stale[q.firstTag & this.slotMask] > 0;
  }

  /** Take every dropped message out of `dqp`'s queue `q`, in one pass. */
  private compact(dqp: HardwareQueuePair, q: KeptMessages): void {
    const dropped = q.dropped;
    if (dropped === undefined) return;
    q.dropped = undefined;
    q.removeStale(dropped.stale, this.slotMask);
    if (q.count === 0) this.forget(dqp);
  }

  /**
   * Every message kept for `dqp` goes at once (it stopped, or its ring broke): the tags they had,
   * each once, in the order they came (one pass), for their ends' drop() to answer their senders.
   */
  takeAll(dqp: HardwareQueuePair): number[] {
    const q = this.queues.get(dqp);
    if (q === undefined) return [];
    const tags = q.tagsInOrder(this.slotMask);
    q.clear();
    dqp.keptMessages = 0;
    this.forget(dqp);
    return tags;
  }

  private forget(dqp: HardwareQueuePair): void {
    const q = this.queues.get(dqp);
    if (q !== undefined) q.dropped = undefined;
    this.queues.delete(dqp);
    this.queueCount = this.queues.size;
  }

  /** The messages kept for `dqp`, if any are. */
  queueOf(dqp: HardwareQueuePair): KeptMessages | undefined {
    return this.queues.get(dqp);
  }

  /** Call `move` for each receiving queue pair with its queue (it moves what fits and shifts it off). */
  moveEach(move: (dqp: HardwareQueuePair, q: KeptMessages) => number): number {
    let moved = 0;
    // A copy of the keys: a queue emptied by `move` leaves the map.
    for (const [dqp, q] of [...this.queues]) moved += move(dqp, q);
    return moved;
  }
}
