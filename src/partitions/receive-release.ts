/**
 * When the receive side hands consumed ring space back to the hardware.
 *
 * Releasing after every record costs a store and a flag load per message, and when the hardware
 * sleeps on a full ring it wakes it once per record to move one more (a storm of 86k–132k wake-ups
 * a second was measured at 64 B per message). So space goes back in batches while the consumer
 * keeps consuming, and a sleeping hardware is woken once per quarter of the ring consumed. Whatever
 * was held back goes back, with a wake-up, as soon as the consumer stops: when it finds the ring
 * empty, when its pump goes to sleep, and at the latest on the next turn of the event loop after
 * it consumed (so a consumer that returns to other work never leaves the hardware asleep on space
 * that is free).
 */
import type { RingConsumer } from '../shared/ring.js';

export class ReceiveRelease {
  /** Consumed position at the last release, and at the last release that may wake the producer. */
  private releasedAt: number;
  private wokeAt: number;
  private flushQueued = false;
  private readonly batchBytes: number;
  private readonly wakeEveryBytes: number;
  /** A free-space threshold no ring reaches: the release stores the position and holds its wake-up back. */
  private readonly holdWake: number;

  constructor(private readonly ring: RingConsumer) {
    this.releasedAt = this.wokeAt = ring.consumedPosition;
    this.batchBytes = ring.capacity >>> 4;
    this.wakeEveryBytes = ring.capacity >>> 2;
    this.holdWake = ring.capacity + 1;
  }

  /** The consumed position from which consumed() hands space back (before it, it only makes sure the next turn does). */
  get dueAt(): number {
    return (this.releasedAt + this.batchBytes) | 0;
  }

  /** Call after each consume(), once the record's bytes are no longer read (or once after several, and at dueAt). */
  consumed(): void {
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(this.flushOnNextTurn);
    }
    const position = this.ring.consumedPosition;
    if (((position - this.releasedAt) >>> 0) < this.batchBytes) return;
    this.releasedAt = position;
    // Counted from the last wake-up, not from what this side last saw of the producer: a woken producer refills
    // the ring behind the consumer's back, and a threshold on apparent free space would then wake it every batch.
    if (((position - this.wokeAt) >>> 0) >= this.wakeEveryBytes) {
      this.wokeAt = position;
      this.ring.release();
    } else this.ring.release(this.holdWake);
  }

  /** The consumer stops: everything consumed goes back, and a sleeping producer is woken. */
  flush(): void {
    this.releasedAt = this.wokeAt = this.ring.consumedPosition;
    this.ring.release();
  }

  private readonly flushOnNextTurn = (): void => {
    this.flushQueued = false;
    this.flush();
  };
}
