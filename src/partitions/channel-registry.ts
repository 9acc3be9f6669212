/**
 * Which channel a record on this queue pair belongs to: the open channels, the ones this process
 * closed whose CLOSE the hardware has not acknowledged yet, and deliveries that arrived for a
 * handle before its Channel object existed.
 */
import { RecordType } from '../shared/layout.js';

/** What the queue pair needs from a channel to hand it deliveries and completions. */
export interface ChannelSink {
  deliver(message: Uint8Array): void;
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

export class ChannelRegistry {
  private readonly open = new Map<number, ChannelSink>();
  /**
   * Channels closed by this process whose CLOSE the hardware has not acknowledged yet: messages
   * sent before the close may still be refused (the peer died meanwhile), and their sender must
   * hear of it (invariant 5), so their SEND completions still reach the channel.
   */
  private readonly closing = new Map<number, ChannelSink>();
  /** Deliveries for handles not adopted yet (data can arrive before accept() returns). */
  private readonly early = new Map<number, Array<Uint8Array | number>>();
  /** Handles this process closed: what still arrives for them is dropped, never kept as early. */
  private readonly closed = new Set<number>();

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
    const early = this.early.get(handle);
    if (early === undefined) return;
    this.early.delete(handle);
    for (const item of early) {
      if (typeof item === 'number') sink.end(item);
      else sink.deliver(item);
    }
  }

  /** The channel was closed: no more deliveries for it; its SEND completions until the CLOSE's. */
  forget(handle: number): void {
    const sink = this.open.get(handle);
    if (sink !== undefined) this.closing.set(handle, sink);
    this.open.delete(handle);
    this.early.delete(handle);
    this.closed.add(handle);
  }

  /** The hardware serves a queue pair's work requests in order: nothing for this handle follows its CLOSE. */
  closeAcknowledged(handle: number): void {
    this.closing.delete(handle);
  }

  /** A message or an END status (a number) for a handle no channel holds yet. */
  keepEarly(handle: number, item: Uint8Array | number): void {
    if (this.closed.has(handle)) return;
    let list = this.early.get(handle);
    if (list === undefined) this.early.set(handle, (list = []));
    list.push(item);
  }

  /** The process ended: the next one on this queue pair starts clean. */
  clear(): void {
    this.open.clear();
    this.closing.clear();
    this.early.clear();
    this.closed.clear();
  }
}
