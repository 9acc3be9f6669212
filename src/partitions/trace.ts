/**
 * A partition's trace: it numbers each channel's messages itself, sent and received (as the
 * hardware numbers them per channel entry), and records every `sample`-th one's send and receive,
 * every `sample`-th sleep of a pump or writer with its wake-up, and every `sample`-th ring of the
 * hardware's doorbell, into this partition worker's own trace ring (shared with the operator only).
 */
import { isSampled, TraceKind, type TraceWait } from '../shared/trace-layout.js';
import { traceNow, TraceWriter } from '../shared/trace-ring.js';

export class PartitionTrace {
  private readonly writer: TraceWriter;
  /** Messages sent and received so far, per channel handle (a handle is never reused for another channel). */
  private readonly sentCount = new Map<number, number>();
  private readonly receivedCount = new Map<number, number>();
  private receiveStarted = 0;
  private receiveHandle = 0;
  private sleeps = 0;
  private rings = 0;

  constructor(
    ring: SharedArrayBuffer,
    readonly sample: number,
  ) {
    this.writer = new TraceWriter(ring);
  }

  /** A start time when the next message sent on `handle` is sampled, else 0; pass it to sent() once it went out. */
  sendStarting(handle: number): number {
    return isSampled((this.sentCount.get(handle) ?? 0) + 1, this.sample) ? traceNow() : 0;
  }

  /** The message on `handle` is in the send ring; `started` is what sendStarting() returned. */
  sent(handle: number, started: number): void {
    const n = (this.sentCount.get(handle) ?? 0) + 1;
    this.sentCount.set(handle, n);
    if (started !== 0) this.writer.record(TraceKind.SEND, handle, n, 0, 0, 0, started, traceNow());
  }

  /** The receiver takes `handle`'s next message: its number when sampled (pass it to received()), else 0. */
  receiving(handle: number): number {
    const n = (this.receivedCount.get(handle) ?? 0) + 1;
    this.receivedCount.set(handle, n);
    if (!isSampled(n, this.sample)) return 0;
    this.receiveHandle = handle;
    this.receiveStarted = traceNow();
    return n;
  }

  /** Message `n` (from the last receiving(); a partition takes one message at a time) was handed to its reader. */
  received(n: number): void {
    this.writer.record(TraceKind.RECEIVE, this.receiveHandle, n, 0, 0, 0, this.receiveStarted, traceNow());
  }

  /** The channel is gone from this partition: its counts go too. */
  forget(handle: number): void {
    this.sentCount.delete(handle);
    this.receivedCount.delete(handle);
  }

  /** A thread of this partition goes to sleep; returns whether the sleep is recorded (pass it to woke()). */
  sleeping(on: TraceWait, queuePair: number): boolean {
    if (!isSampled(++this.sleeps, this.sample)) return false;
    this.writer.record(TraceKind.SLEEP, on, queuePair, 0, 0, 0, traceNow());
    return true;
  }

  woke(recorded: boolean, on: TraceWait, queuePair: number): void {
    if (recorded) this.writer.record(TraceKind.WOKE, on, queuePair, 0, 0, 0, traceNow());
  }

  /** A send of this queue pair rang the hardware's doorbell (the hardware had announced it sleeps). */
  rang(queuePair: number): void {
    if (isSampled(++this.rings, this.sample)) this.writer.record(TraceKind.RANG, queuePair, 0, 0, 0, 0, traceNow());
  }
}
