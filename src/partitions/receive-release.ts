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
 *
 * It also says when one turn of the event loop has read a ring's worth (`spent`): a peer that keeps
 * the ring from running empty would otherwise keep a reader that awaits (`for await`, `recv()`, a
 * stream) in microtasks for as long as it sends, and the partition's timers, I/O and control calls
 * (accept, connect) would never run (THREATS case 61). Receives that await take nothing more from
 * the ring until the next turn; polls and blocking receives are not held back.
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
  /** The consumed position when this turn of the event loop began reading (reset by the turn's flush). */
  private turnAt: number;
  /**
   * This turn of the event loop consumed a ring's worth or more (looked at once a batch): receives
   * that await wait for the next turn, so a ring kept full by its peer cannot keep them from
   * yielding (THREATS case 61).
   */
  spent = false;

  constructor(private readonly ring: RingConsumer) {
    this.releasedAt = this.wokeAt = this.turnAt = ring.consumedPosition;
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
    if (((position - this.turnAt) >>> 0) >= this.ring.capacity) this.spent = true;
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
    // A turn of the event loop: reading starts a new slice.
    this.turnAt = this.ring.consumedPosition;
    this.spent = false;
  };
}
