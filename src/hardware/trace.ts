/**
 * The hardware's trace: it numbers each channel's messages itself (per channel-table entry, as
 * the sender numbers them per handle) and records the stamp, verify and deliver of every
 * `sample`-th one, with its own sleeps and wake-ups and the violations it counted, into the
 * hardware worker's trace ring (shared with the operator only).
 *
 * Nothing a partition writes decides what is recorded: the message numbers come from the
 * hardware's own count, so a partition cannot make it trace more (no flag in a work request),
 * and its violations and doorbell storms are recorded at a bounded rate, so a hostile partition
 * cannot flush everyone else's records out of the ring.
 */
import { NO_PARTITION, Sampling, TraceKind, TraceRefusal, TraceWait } from '../shared/trace-layout.js';
import { traceNow, TraceWriter } from '../shared/trace-ring.js';
import { VIOLATION_KINDS, type ViolationKind } from '../shared/layout.js';

/** Every violation of a partition is recorded up to this many; past it one in VIOLATION_SAMPLE_AFTER. */
const VIOLATIONS_RECORDED = 64;
const VIOLATION_SAMPLE_AFTER = 1024;

export class HardwareTrace {
  private readonly writer: TraceWriter;
  private readonly sampling: Sampling;
  /** Per channel-table entry: the handle its count belongs to (a reused entry has a new handle) and the count. */
  private readonly countedHandle: Uint32Array;
  private readonly count: Uint32Array;
  /** Per entry, the messages it received from another node (its own sends count in `count`). */
  private readonly receivedHandle: Uint32Array;
  private readonly received: Uint32Array;
  private readonly violations: Uint32Array;
  private sleeps = 0;
  /** The current sleep is recorded (every `sample`-th one, with its wake-up). */
  private sleepTraced = false;

  constructor(
    buffer: SharedArrayBuffer,
    readonly sample: number,
    entries: number,
    partitions: number,
  ) {
    this.writer = new TraceWriter(buffer);
    this.sampling = new Sampling(sample);
    this.countedHandle = new Uint32Array(entries);
    this.count = new Uint32Array(entries);
    this.receivedHandle = new Uint32Array(entries);
    this.received = new Uint32Array(entries);
    this.violations = new Uint32Array(partitions);
  }

  now(): number {
    return traceNow();
  }

  /** The number entry `e`'s next message on `handle` gets; it counts only once commit() says it was handled. */
  nextMessage(e: number, handle: number): number {
    return this.countedHandle[e] === handle ? this.count[e] + 1 : 1;
  }

  /** Message `n` of entry `e` was handled (delivered or refused); a blocked one is not, and comes back with the same number. */
  commit(e: number, handle: number, n: number): void {
    this.countedHandle[e] = handle;
    this.count[e] = n;
  }

  isSampled(n: number): boolean {
    return this.sampling.has(n);
  }

  /**
   * How many messages of a channel, numbered from `n` (nextMessage()) on, a run may take without
   * recording one: those before the next sampled one. The run then commit()s its last, and the
   * count, a u32, numbers them as one at a time does: a run past 2^32 is shorter than the sample
   * (it ends before a multiple of it), so the numbers one at a time gives after the wrap (1, 2, …)
   * hold no sampled one either.
   */
  unsampledRun(n: number): number {
    return this.sampling.unsampledFrom(n);
  }

  /** A sampled message's three stages: stamp [t0, t1), verify [t1, t2), deliver [t2, t3). */
  delivered(from: number, handle: number, to: number, deliveryHandle: number, n: number, t0: number, t1: number, t2: number, t3: number): void {
    this.writer.record(TraceKind.HARDWARE_MESSAGE, from, handle, to, deliveryHandle, n, t0, t1, t2, t3);
  }

  /** A sampled message that failed verification: stamp [t0, t1), verify [t1, t2). */
  refused(from: number, handle: number, to: number | undefined, n: number, t0: number, t1: number, t2: number): void {
    this.writer.record(TraceKind.HARDWARE_REFUSED, from, handle, to ?? NO_PARTITION, TraceRefusal.KEY_MISMATCH, n, t0, t1, t2);
  }

  /**
   * A sampled message that passed verification and was refused at deliver (EFAULT): its receiver's
   * queue pair is faulted, or faulted on its claim. Stamp [t0, t1), verify [t1, t2), deliver [t2, t3).
   */
  refusedAtDeliver(from: number, handle: number, to: number, n: number, t0: number, t1: number, t2: number, t3: number): void {
    this.writer.record(TraceKind.HARDWARE_REFUSED, from, handle, to, TraceRefusal.RECEIVER_FAULTED, n, t0, t1, t2, t3);
  }

  /** A sampled message to another node: stamp from t0, handed to its link (or, `held`, kept for its window) at t1. */
  linkSent(from: number, handle: number, node: number, held: boolean, n: number, t0: number, t1: number): void {
    this.writer.record(TraceKind.LINK_SEND, from, handle, node, held ? 1 : 0, n, t0, t1);
  }

  /** The number entry `d`'s next message from another node on `handle` gets; it counts once tookFromLink() says it is in the ring. */
  nextFromLink(d: number, handle: number): number {
    return this.receivedHandle[d] === handle ? this.received[d] + 1 : 1;
  }

  /** Message `n` from another node is in entry `d`'s ring (one kept aside for a full ring is counted when it goes in). */
  tookFromLink(d: number, handle: number, n: number): void {
    this.receivedHandle[d] = handle;
    this.received[d] = n;
  }

  /** A sampled message from node `node`, into partition `to`'s ring for `deliveryHandle`, between t0 and t1. */
  linkDelivered(node: number, to: number, deliveryHandle: number, n: number, t0: number, t1: number): void {
    this.writer.record(TraceKind.LINK_DELIVER, node, to, deliveryHandle, 0, n, t0, t1);
  }

  /** The engine goes to sleep on every port's doorbell. */
  sleeping(): void {
    this.sleepTraced = this.sampling.has(++this.sleeps);
    if (this.sleepTraced) this.writer.record(TraceKind.SLEEP, TraceWait.DOORBELLS, 0, 0, 0, 0, traceNow());
  }

  /** The engine woke from a recorded sleep: `by` is the partition index whose doorbell rang, if one did. */
  woke(by: number | undefined): void {
    if (!this.sleepTraced) return;
    this.sleepTraced = false;
    this.writer.record(TraceKind.WOKE, TraceWait.DOORBELLS, by ?? NO_PARTITION, 0, 0, 0, traceNow());
  }

  violation(partition: number, kind: ViolationKind): void {
    const n = ++this.violations[partition];
    if (n > VIOLATIONS_RECORDED && n % VIOLATION_SAMPLE_AFTER !== 0) return;
    this.writer.record(TraceKind.VIOLATION, partition, VIOLATION_KINDS.indexOf(kind), 0, 0, 0, traceNow());
  }
}
