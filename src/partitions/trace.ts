/**
 * A partition's trace: it numbers each channel's messages itself, sent and received (as the
 * hardware numbers them per channel entry), and records every `sample`-th one's send and receive,
 * every `sample`-th sleep of a pump or writer with its wake-up, and every `sample`-th ring of the
 * hardware's doorbell, into this partition worker's own trace ring (shared with the operator only).
 */
import { handleSlotBits } from '../shared/layout.js';
import { Sampling, TraceKind, type TraceWait } from '../shared/trace-layout.js';
import { traceNow, TraceWriter } from '../shared/trace-ring.js';

export class PartitionTrace {
  private readonly writer: TraceWriter;
  private readonly sampling: Sampling;
  /**
   * Messages sent and received so far per channel, by the handle's slot, with the handle they
   * belong to: a slot's next channel has another handle (a handle is never reused), and its count
   * starts over. Typed arrays, not maps: this runs for every message while tracing is on.
   */
  private readonly slotMask: number;
  private readonly sentHandle: Uint32Array;
  private readonly sentCount: Uint32Array;
  private readonly receivedHandle: Uint32Array;
  private readonly receivedCount: Uint32Array;
  private receiveStarted = 0;
  private receiveHandle = 0;
  private sleeps = 0;
  private rings = 0;

  constructor(
    ring: SharedArrayBuffer,
    readonly sample: number,
    channelSlots: number,
  ) {
    this.writer = new TraceWriter(ring);
    this.sampling = new Sampling(sample);
    this.slotMask = (1 << handleSlotBits(channelSlots)) - 1;
    this.sentHandle = new Uint32Array(this.slotMask + 1);
    this.sentCount = new Uint32Array(this.slotMask + 1);
    this.receivedHandle = new Uint32Array(this.slotMask + 1);
    this.receivedCount = new Uint32Array(this.slotMask + 1);
  }

  /** The number `handle`'s next message gets in `handles`/`counts`. */
  private next(handles: Uint32Array, counts: Uint32Array, handle: number): number {
    const slot = handle & this.slotMask;
    return handles[slot] === handle ? counts[slot] + 1 : 1;
  }

  private count(handles: Uint32Array, counts: Uint32Array, handle: number, n: number): void {
    const slot = handle & this.slotMask;
    handles[slot] = handle;
    counts[slot] = n;
  }

  /** A start time when the next message sent on `handle` is sampled, else 0; pass it to sent() once it went out. */
  sendStarting(handle: number): number {
    return this.sampling.has(this.next(this.sentHandle, this.sentCount, handle)) ? traceNow() : 0;
  }

  /** The message on `handle` is in the send ring; `started` is what sendStarting() returned. */
  sent(handle: number, started: number): void {
    const n = this.next(this.sentHandle, this.sentCount, handle);
    this.count(this.sentHandle, this.sentCount, handle, n);
    if (started !== 0) this.writer.record(TraceKind.SEND, handle, n, 0, 0, 0, started, traceNow());
  }

  /** The receiver takes `handle`'s next message: its number when sampled (pass it to received()), else 0. */
  receiving(handle: number): number {
    const n = this.next(this.receivedHandle, this.receivedCount, handle);
    this.count(this.receivedHandle, this.receivedCount, handle, n);
    if (!this.sampling.has(n)) return 0;
    this.receiveHandle = handle;
    this.receiveStarted = traceNow();
    return n;
  }

  /** Message `n` (from the last receiving(); a partition takes one message at a time) was handed to its reader. */
  received(n: number): void {
    this.writer.record(TraceKind.RECEIVE, this.receiveHandle, n, 0, 0, 0, this.receiveStarted, traceNow());
  }

  /** A thread of this partition goes to sleep; returns whether the sleep is recorded (pass it to woke()). */
  sleeping(on: TraceWait, queuePair: number): boolean {
    if (!this.sampling.has(++this.sleeps)) return false;
    this.writer.record(TraceKind.SLEEP, on, queuePair, 0, 0, 0, traceNow());
    return true;
  }

  woke(recorded: boolean, on: TraceWait, queuePair: number): void {
    if (recorded) this.writer.record(TraceKind.WOKE, on, queuePair, 0, 0, 0, traceNow());
  }

  /** A send of this queue pair rang the hardware's doorbell (the hardware had announced it sleeps). */
  rang(queuePair: number): void {
    if (this.sampling.has(++this.rings)) this.writer.record(TraceKind.RANG, queuePair, 0, 0, 0, 0, traceNow());
  }
}
