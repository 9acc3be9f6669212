/**
 * A process's queue pair, partition side: its send queue (work requests out,
 * completions back), its receive pump (deliveries in), the registry of the
 * channels they serve, and the queue pair's life: a failure every channel
 * learns of, and the detach at the end of a process.
 */
import { ChannelError, Status } from '../shared/errors.js';
import { CONNECTION_HELD_OFFSET, connectionEntryOffset, handleSlot, RecordType, type PortGeometry } from '../shared/layout.js';
import { queuePairRings } from '../shared/port.js';
import { RingConsumer, RingProducer } from '../shared/ring.js';
import type { WaitPolicy } from '../shared/wait.js';
import { ChannelRegistry, unreadBytesPerChannel, type ChannelSink } from './channel-registry.js';
import { ReceivePump } from './receive-pump.js';
import { SendQueue } from './send-queue.js';
import type { PartitionTrace } from './trace.js';
import { Tripwire } from '../shared/tripwire.js';

export class ProcessQueuePair {
  readonly channels: ChannelRegistry;
  readonly sendQueue: SendQueue;
  readonly pump: ReceivePump;
  /** Set when the queue pair can no longer work (hardware reset, ring fault). */
  failure: ChannelError | undefined;
  private detachAcked: (() => void) | undefined;
  /** Ends a detach's wait for its acknowledgement if the queue pair fails first. */
  private readonly failed = new Tripwire();

  constructor(
    buffer: SharedArrayBuffer,
    private readonly geometry: PortGeometry,
    readonly index: number,
    wait: WaitPolicy,
    /** This partition's trace, when the machine traces; the send queue and the pump record into it. */
    tracer: PartitionTrace | undefined = undefined,
  ) {
    this.channels = new ChannelRegistry(unreadBytesPerChannel(geometry.maxMessageBytes), geometry.channelSlots);
    const rings = queuePairRings(buffer, geometry, index);
    this.sendQueue = new SendQueue(new RingProducer(rings.send), new RingConsumer(rings.completion), this.channels, this, wait, tracer);
    const { dataWaiting, dataBell } = rings.receive.signals!;
    this.pump = new ReceivePump(new RingConsumer(rings.receive), dataWaiting, dataBell, this.channels, this.sendQueue, this, wait, tracer);
  }

  get maxMessageBytes(): number {
    return this.geometry.maxMessageBytes;
  }

  /** Word (of the port, as an Int32Array) where the hardware marks `handle`'s end held (THREATS case 51). */
  heldWord(handle: number): number {
    return (connectionEntryOffset(handleSlot(handle, this.geometry.channelSlots)) + CONNECTION_HELD_OFFSET) >> 2;
  }

  /** The send ring (for code that writes work requests by hand, as tests of the hardware do). */
  get send(): RingProducer {
    return this.sendQueue.ring;
  }

  get completion(): RingConsumer {
    return this.sendQueue.completions;
  }

  /** Claim a work request; returns the payload offset, FULL, or FAULT. */
  claimWorkRequest(type: number, handle: number, payloadBytes: number): number {
    return this.sendQueue.claim(type, handle, payloadBytes);
  }

  /** Publish now, unless a batch is open. */
  publish(): void {
    this.sendQueue.publish();
  }

  adopt(handle: number, sink: ChannelSink): void {
    this.channels.adopt(handle, sink);
    this.pump.unhold(handle); // held before it was accepted: it has a reader now
  }

  forget(handle: number): void {
    this.channels.forget(handle);
    this.pump.stopVisits(handle); // a drain of it, closed by its own callback, hands out no more
    this.pump.unhold(handle); // what arrives for it now is dropped
  }

  /** Connections waiting to be accepted that the hardware refused (their listener closed): nothing of them is kept. */
  refused(handles: readonly number[]): void {
    for (const h of handles) if (typeof h === 'number') this.forget(h);
  }

  /** @internal the send queue read the hardware's acknowledgement of DETACH. */
  detachAcknowledged(): void {
    this.detachAcked?.();
  }

  /** The hardware is gone or the queue pair faulted: every channel and waiter learns why. */
  fail(error: ChannelError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.pump.stopVisits(); // a drain running now (its callback made the failure) hands out no more
    for (const sink of this.channels.openSinks()) sink.end(Status[error.code]);
    this.failed.trip(error);
    this.pump.nudge();
  }

  /**
   * End of a process: close what it left open (in order, after its data),
   * detach, wait for the hardware's acknowledgement, then throw away
   * anything still queued so the next process starts clean.
   */
  async detach(openHandles: number[]): Promise<void> {
    const acked = new Promise<void>((resolve) => (this.detachAcked = resolve));
    const release = this.pump.want();
    try {
      for (const h of openHandles) await this.sendQueue.post(RecordType.CLOSE, h);
      await this.sendQueue.post(RecordType.DETACH, 0);
      // The acknowledgement, or the queue pair's failure (a race per program run, none kept after it).
      await this.failed.race(acked).catch(() => {});
    } finally {
      release();
      this.detachAcked = undefined;
    }
    // Every record left is dropped, none held at a bound (a hold would leave them to the next process).
    this.channels.closeEarly();
    this.pump.dropHold();
    if (this.failure === undefined) this.pump.step();
    this.channels.clear();
    this.pump.dropHold();
  }
}
