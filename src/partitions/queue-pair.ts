/**
 * A process's queue pair, partition side: it produces work requests on the
 * send ring and consumes deliveries and completions. One pump per queue pair
 * moves records into per-channel queues while anyone awaits; nobody
 * awaiting means nothing is drained, so a slow reader back-pressures its
 * senders through the hardware instead of buffering without bound.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ChannelError, Status } from '../shared/errors.js';
import { RecordType, type PortGeometry } from '../shared/layout.js';
import {
  completionChannel,
  completionCount,
  completionOpcode,
  completionStatus,
  deliveryChannel,
  deliveryPayload,
  deliveryStatus,
  QUEUE_PAIR_FAULT,
  workRequestBodyBytes,
  writeWorkRequest,
} from '../shared/records.js';
import { queuePairRings } from '../shared/port.js';
import { EMPTY, FAULT, RingConsumer, RingProducer } from '../shared/ring.js';
import { sleepAsync, type WaitPolicy } from '../shared/wait.js';

/** What the queue pair needs from a channel to hand it deliveries. */
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


/** A long drain hands consumed space back every this many records (mask: a power of two minus one). */
const RELEASE_EVERY_MASK = 63;

export class ProcessQueuePair {
  send: RingProducer;
  receive: RingConsumer;
  completion: RingConsumer;
  readonly sinks = new Map<number, ChannelSink>();
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
  private interest = 0;
  private pumping = false;
  private corked = 0;
  /** Inside drain()/drainTo(): a nested drain (from a drainTo callback) is a no-op. */
  private draining = false;
  private detachAcked: (() => void) | undefined;
  private failureWaiters: Array<() => void> = [];
  private readonly dataWaiting: number;
  private readonly dataBell: number;
  /** Synchronous polls before a sleep (adaptive), and how long spin mode polls through its event loop first. */
  private readonly syncSpins: number;
  private readonly spinIdleMs: number;
  /** Set when the queue pair can no longer work (hardware reset, ring fault). */
  failure: ChannelError | undefined;

  constructor(
    private readonly buffer: SharedArrayBuffer,
    private readonly geometry: PortGeometry,
    readonly index: number,
    wait: WaitPolicy,
  ) {
    const rings = queuePairRings(buffer, geometry, index);
    this.send = new RingProducer(rings.send);
    this.receive = new RingConsumer(rings.receive);
    this.completion = new RingConsumer(rings.completion);
    this.dataWaiting = rings.receive.signals!.dataWaiting;
    this.dataBell = rings.receive.signals!.dataBell;
    this.syncSpins = wait.eventLoopSpins;
    this.spinIdleMs = wait.eventLoopPollMs;
  }

  get maxMessageBytes(): number {
    return this.geometry.maxMessageBytes;
  }

  /** Claim a work request; returns the payload offset, FULL, or FAULT. */
  claimWorkRequest(type: number, handle: number, payloadBytes: number): number {
    const at = this.send.tryClaim(type, workRequestBodyBytes(payloadBytes));
    return at < 0 ? at : writeWorkRequest(this.send.u32, at, handle);
  }

  /** Publish now, unless a batch is open. */
  publish(): void {
    if (this.corked === 0) this.send.publish();
  }

  /** Run fn with publishing held back, then publish once (batched work requests). */
  batch<T>(fn: () => T): T {
    this.corked++;
    try {
      return fn();
    } finally {
      if (--this.corked === 0) this.send.publish();
    }
  }

  async waitForSpace(payloadBytes: number): Promise<void> {
    const body = workRequestBodyBytes(payloadBytes);
    const done = (): boolean => this.send.canClaim(body) || this.send.faulted || this.failure !== undefined;
    if (this.spinIdleMs > 0) {
      // Spin mode: poll between event-loop turns; on a machine with few cores, only for a moment.
      const start = performance.now();
      while (!done()) {
        if (performance.now() - start >= this.spinIdleMs) break;
        await yieldToEventLoop();
      }
      if (done()) return;
    }
    await this.send.waitForSpaceAsync(body, this.syncSpins);
  }

  /** Write a control work request (CLOSE, DETACH), waiting for ring space if needed. */
  async post(type: number, handle: number): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      const at = this.claimWorkRequest(type, handle, 0);
      if (at >= 0) {
        this.publish();
        return;
      }
      if (at === FAULT) throw new ChannelError('EFAULT', `send ring of queue pair ${this.index}: ${this.send.faultReason}`);
      await this.waitForSpace(0);
    }
  }

  adopt(handle: number, sink: ChannelSink): void {
    this.sinks.set(handle, sink);
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
    const sink = this.sinks.get(handle);
    if (sink !== undefined) this.closing.set(handle, sink);
    this.sinks.delete(handle);
    this.early.delete(handle);
    this.closed.add(handle);
  }

  /** Someone awaits a delivery or completion: make sure the pump runs. Returns a release function. */
  want(): () => void {
    this.interest++;
    if (!this.pumping) void this.pump();
    let released = false;
    return () => {
      if (!released) {
        released = true;
        this.interest--;
      }
    };
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    let idleSince = 0;
    try {
      while (this.interest > 0 && this.failure === undefined) {
        if (this.drain() > 0) {
          idleSince = 0;
          await Promise.resolve(); // let the resolved receivers run before the next drain
          continue;
        }
        if (this.spinIdleMs > 0) {
          // Spin mode: poll between event-loop turns; on a machine with few cores, only for a moment.
          const now = performance.now();
          if (idleSince === 0) idleSince = now;
          if (now - idleSince < this.spinIdleMs) {
            await yieldToEventLoop();
            continue;
          }
        }
        idleSince = 0;
        await sleepAsync(
          this.receive.i32,
          this.dataWaiting,
          this.dataBell,
          () => this.receive.hasData() || this.completion.hasData() || this.interest === 0 || this.failure !== undefined,
          this.syncSpins,
          Infinity,
        );
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Wake this queue pair's pump if it sleeps (after a failure set from outside the rings). */
  private nudge(): void {
    Atomics.add(this.receive.i32, this.dataBell, 1);
    Atomics.notify(this.receive.i32, this.dataBell);
  }

  /** Move every ready completion and delivery to its channel. Returns how many records moved. */
  drain(): number {
    if (this.draining) return 0;
    this.draining = true;
    try {
      const moved = this.drainCompletions();
      return this.failure === undefined ? moved + this.drainReceive(-1, undefined, 0) : moved;
    } finally {
      this.draining = false;
    }
  }

  /**
   * Zero-copy receive for one channel: call fn with a view of each DATA
   * record for `handle` (valid only during the call), up to `max`. Records
   * for other channels are queued on their sinks as drain() does. Returns how
   * many records fn was given.
   */
  drainTo(handle: number, fn: (message: Uint8Array) => void, max: number): number {
    if (this.draining) return 0;
    this.draining = true;
    try {
      this.drainCompletions();
      return this.failure === undefined ? this.drainReceive(handle, fn, max) : 0;
    } finally {
      this.draining = false;
    }
  }

  /**
   * Senders call this on every send: one load when nothing is pending, and a
   * process that only sends still learns promptly that its peer went away.
   */
  checkCompletions(): void {
    if (this.completion.hasData()) this.drainCompletions();
  }

  private drainCompletions(): number {
    let moved = 0;
    const cq = this.completion;
    for (let type = cq.poll(); type !== EMPTY; type = cq.poll()) {
      if (type === FAULT) return this.fail(new ChannelError('EFAULT', `completion ring: ${cq.faultReason}`));
      const u32 = cq.u32;
      const at = cq.bodyOffset;
      this.onCompletion(completionStatus(u32, at), completionChannel(u32, at), completionOpcode(u32, at), completionCount(u32, at));
      cq.consume();
      moved++;
    }
    cq.release();
    return moved;
  }

  /**
   * Walk the receive ring. Without fn, every record goes to its sink's
   * queue (copied out), except that the walk stops at a record for a sink
   * that waits to be readable. With fn, DATA records for `target` are handed
   * to fn in place (up to max; the count is returned), the rest queued.
   */
  private drainReceive(target: number, fn: ((message: Uint8Array) => void) | undefined, max: number): number {
    let moved = 0;
    let given = 0;
    const rx = this.receive;
    const u8 = rx.u8;
    const u32 = rx.u32;
    const quarter = rx.capacity >>> 2;
    let seen = 0;
    try {
      for (let type = rx.poll(); type !== EMPTY; type = rx.poll()) {
        // Hand space back as we go (every record before this one is done with), so the hardware refills
        // the ring while we drain it instead of waiting for the whole drain; it is woken once a quarter is free.
        if ((++seen & RELEASE_EVERY_MASK) === 0) rx.release(quarter);
        if (type === FAULT) return this.fail(new ChannelError('EFAULT', `receive ring: ${rx.faultReason}`));
        const at = rx.bodyOffset;
        const handle = deliveryChannel(u32, at);
        if (type === RecordType.DATA) {
          if (handle === target && fn !== undefined) {
            if (given === max) break;
            rx.consume();
            given++;
            fn(u8.subarray(deliveryPayload(at), at + rx.bodyBytes));
            continue;
          }
          const sink = this.sinks.get(handle);
          if (fn === undefined && sink !== undefined && sink.wantsReadable()) {
            sink.notifyReadable();
            moved++;
            break;
          }
          const message = u8.slice(deliveryPayload(at), at + rx.bodyBytes);
          rx.consume();
          moved++;
          if (sink === undefined) this.keepEarly(handle, message);
          else sink.deliver(message);
        } else {
          const status = deliveryStatus(u32, at);
          rx.consume();
          moved++;
          const sink = this.sinks.get(handle);
          if (sink === undefined) this.keepEarly(handle, status);
          else sink.end(status);
          if (handle === target) break;
        }
      }
    } finally {
      rx.release();
    }
    return fn === undefined ? moved : given;
  }

  /**
   * The next message for `handle`, copied out, if it is the next record in
   * the receive ring; otherwise undefined (and the ring untouched), and the
   * caller drains as usual. The per-message receive path: no queueing.
   */
  takeFor(handle: number): Uint8Array | undefined {
    if (this.draining || this.failure !== undefined) return undefined;
    this.checkCompletions();
    const rx = this.receive;
    if (rx.poll() !== RecordType.DATA) return undefined;
    const at = rx.bodyOffset;
    if (deliveryChannel(rx.u32, at) !== handle) return undefined;
    const m = rx.u8.slice(deliveryPayload(at), at + rx.bodyBytes);
    rx.consume();
    rx.release();
    return m;
  }

  /** True when the receive ring's next record is for `handle` (or anything is queued for it early). */
  receiveReady(handle: number): boolean {
    if (this.draining || this.failure !== undefined) return false;
    const rx = this.receive;
    const type = rx.poll();
    if (type === RecordType.DATA || type === RecordType.END) {
      return deliveryChannel(rx.u32, rx.bodyOffset) === handle;
    }
    return false;
  }

  private keepEarly(handle: number, item: Uint8Array | number): void {
    if (this.closed.has(handle)) return;
    let list = this.early.get(handle);
    if (list === undefined) this.early.set(handle, (list = []));
    list.push(item);
  }

  private onCompletion(status: number, handle: number, opcode: number, count: number): void {
    if (opcode === RecordType.DETACH) {
      this.detachAcked?.();
      return;
    }
    if (opcode === QUEUE_PAIR_FAULT && status === Status.EFAULT && handle === 0) {
      this.fail(new ChannelError('EFAULT', `the hardware stopped serving queue pair ${this.index} after a ring fault`));
      return;
    }
    if (status !== Status.OK) {
      const sink = this.sinks.get(handle) ?? (opcode === RecordType.SEND ? this.closing.get(handle) : undefined);
      sink?.sendFailed(status, count);
    }
    // The hardware serves a queue pair's work requests in order: nothing for this handle follows its CLOSE.
    if (opcode === RecordType.CLOSE) this.closing.delete(handle);
  }

  /** The hardware is gone or the queue pair faulted: every channel and waiter learns why. */
  fail(error: ChannelError): number {
    if (this.failure !== undefined) return 0;
    this.failure = error;
    for (const sink of this.sinks.values()) sink.end(Status[error.code]);
    for (const fn of this.failureWaiters.splice(0)) fn();
    this.nudge();
    return 0;
  }

  /**
   * End of a process: close what it left open (in order, after its data),
   * detach, wait for the hardware's acknowledgement, then throw away
   * anything still queued so the next process starts clean.
   */
  async detach(openHandles: number[]): Promise<void> {
    const acked = new Promise<void>((resolve) => (this.detachAcked = resolve));
    const release = this.want();
    try {
      for (const h of openHandles) await this.post(RecordType.CLOSE, h);
      await this.post(RecordType.DETACH, 0);
      await Promise.race([acked, new Promise<void>((resolve) => this.onFailure(resolve))]);
    } finally {
      release();
      this.detachAcked = undefined;
    }
    if (this.failure === undefined) this.drain();
    this.sinks.clear();
    this.closing.clear();
    this.early.clear();
    this.closed.clear();
  }

  private onFailure(fn: () => void): void {
    if (this.failure !== undefined) fn();
    else this.failureWaiters.push(fn);
  }
}
