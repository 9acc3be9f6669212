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
 * It also says when one turn of the event loop has read for READ_SLICE_MS (`spent`): a peer that
 * keeps the ring from running empty would otherwise keep a reader that awaits (`for await`,
 * `recv()`, a stream) in microtasks for as long as it sends, and the partition's timers, I/O and
 * control calls (accept, connect) would never run (THREATS case 61). Receives that await take
 * nothing more from the ring until the next turn; polls and blocking receives are not held back.
 */
import { now } from '../shared/clock.js';
import type { RingConsumer } from '../shared/ring.js';

/**
 * How long one turn of the event loop reads from a ring for the receives that await. Time, not
 * bytes: a ring's worth was 4 messages of 64 KiB (a turn every ~45 µs cost the 64 KiB stream ~15%)
 * but 13,000 of 64 B, at 20 µs of work each a quarter of a second of timers held back. A turn costs
 * a few µs, so 5 ms slices cost well under 1%; the clock is read about every LOOK_MS, at a batch
 * of released space, never per message.
 */
const READ_SLICE_MS = 5;

/**
 * About how far apart the looks at the clock are: the batches between two looks (a sixteenth of
 * the ring each) double while looks come sooner, down to one look a ring, and halve while they come
 * later, up to one a batch. A look per batch, at 4 KiB messages in a 256 KiB ring one every 4
 * messages at ~90 ns a look here, cost the receiver ~15 ns a message (`--suite micro`, 4 KiB
 * batched: 47 ns against 30); a slow reader still looks every batch.
 */
const LOOK_MS = 0.5;
const MOST_BATCHES_PER_LOOK = 16;

export class ReceiveRelease {
  /** Consumed position at the last release, and at the last release that may wake the producer. */
  private releasedAt: number;
  private wokeAt: number;
  private flushQueued = false;
  private readonly batchBytes: number;
  private readonly wakeEveryBytes: number;
  /** A free-space threshold no ring reaches: the release stores the position and holds its wake-up back. */
  private readonly holdWake: number;
  /** When this turn of the event loop first looked at the clock (0: not yet); its slice counts from there. */
  private turnStartedAt = 0;
  /** Batches between two looks at the clock (LOOK_MS), and until the next; not reset by a flush or a turn, so a reader that often runs the ring empty still looks. */
  private batchesPerLook = 1;
  private batchesToLook = 1;
  private lookedAt = 0;
  /**
   * This turn of the event loop has read for READ_SLICE_MS (looked at once a batch): receives that
   * await wait for the next turn, so a ring kept full by its peer cannot keep them from yielding
   * (THREATS case 61).
   */
  spent = false;

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
    // The clock once every few batches, never per message: a turn that reads one message (a round
    // trip) mostly reads no clock at all.
    if (--this.batchesToLook === 0) this.lookAtTheClock();
    // Counted from the last wake-up, not from what this side last saw of the producer: a woken producer refills
    // the ring behind the consumer's back, and a threshold on apparent free space would then wake it every batch.
    if (((position - this.wokeAt) >>> 0) >= this.wakeEveryBytes) {
      this.wokeAt = position;
      this.ring.release();
    } else this.ring.release(this.holdWake);
  }

  /** Whether this turn's slice is spent (it counts from the turn's first look), and when to look next (LOOK_MS). */
  private lookAtTheClock(): void {
    const at = now();
    const since = at - this.lookedAt;
    this.lookedAt = at;
    if (since < LOOK_MS / 2) this.batchesPerLook = Math.min(2 * this.batchesPerLook, MOST_BATCHES_PER_LOOK);
    else if (since > 2 * LOOK_MS) this.batchesPerLook = Math.max(this.batchesPerLook >> 1, 1);
    this.batchesToLook = this.batchesPerLook;
    if (this.turnStartedAt === 0) this.turnStartedAt = at;
    else if (at - this.turnStartedAt >= READ_SLICE_MS) this.spent = true;
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
    this.turnStartedAt = 0;
    this.spent = false;
  };
}
