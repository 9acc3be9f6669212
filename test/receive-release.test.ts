/**
 * Receive-side release thresholds: a consumer reading record by record hands ring space back in
 * batches, so a producer asleep on a full ring (the hardware) is woken a few times per ring, not
 * once per record; and whatever was held back is handed back, with a wake-up, once the consumer
 * stops (flush, or the next event-loop turn), so the producer never sleeps on free space.
 */
import { describe, expect, it } from 'vitest';
import { ReceiveRelease } from '../src/partitions/receive-release.js';
import { allocateRing, EMPTY, ownSignals, RecordType, RingConsumer, RingProducer } from '../src/internal.js';

const CAPACITY = 4096;
const BODY = 56; // 64-byte records: 64 per ring

function setup() {
  const loc = allocateRing(CAPACITY);
  const producer = new RingProducer(loc);
  const consumer = new RingConsumer(loc);
  const release = new ReceiveRelease(consumer);
  const i32 = new Int32Array(loc.buffer);
  const bell = ownSignals(loc.base).spaceBell;
  /** The producer fills the ring, then announces it waits for space, as the hardware does. */
  const fill = (): number => {
    let n = 0;
    while (producer.tryClaim(RecordType.RAW, BODY) >= 0) n++;
    producer.publish();
    producer.announceWaitingForSpace();
    return n;
  };
  const consumeOne = (): void => {
    expect(consumer.poll()).toBe(RecordType.RAW);
    consumer.consume();
    release.consumed();
  };
  return { producer, consumer, release, fill, consumeOne, rings: () => Atomics.load(i32, bell) };
}

describe('receive-side release thresholds', () => {
  it('a producer asleep on a full ring wakes a few times per ring of records, not once per record', () => {
    const { producer, fill, consumeOne, rings } = setup();
    const perRing = fill();
    expect(perRing).toBe(CAPACITY / (BODY + 8));
    let wakes = 0;
    let seen = rings();
    const records = perRing * 20;
    for (let i = 0; i < records; i++) {
      consumeOne();
      if (rings() !== seen) {
        seen = rings();
        wakes++;
        producer.clearWaitingForSpace();
        fill(); // woken: it refills what is free and sleeps again
      }
    }
    // One wake per quarter ring freed: about 4 per ring (releasing per record woke it once per record).
    expect(wakes).toBeGreaterThanOrEqual(20);
    expect(wakes).toBeLessThanOrEqual(20 * 5);
  });

  it('space held back goes back with a wake-up when the consumer stops (flush)', () => {
    const { consumer, release, fill, consumeOne, rings } = setup();
    fill();
    const before = rings();
    consumeOne();
    consumeOne();
    expect(rings()).toBe(before); // below the batch: nothing handed back yet
    release.flush();
    expect(rings()).toBe(before + 1);
    expect(consumer.consumedPosition).toBe(2 * (BODY + 8));
  });

  it('space held back goes back with a wake-up on the next event-loop turn, with no flush', async () => {
    const { fill, consumeOne, rings, producer } = setup();
    fill();
    const before = rings();
    consumeOne();
    expect(rings()).toBe(before);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rings()).toBe(before + 1);
    expect(producer.canClaim(BODY)).toBe(true);
  });

  it('a consumer that reaches the end of the ring and flushes hands everything back', () => {
    const { consumer, release, fill, consumeOne, producer } = setup();
    const n = fill();
    for (let i = 0; i < n; i++) consumeOne();
    expect(consumer.poll()).toBe(EMPTY);
    release.flush();
    expect(producer.freeBytes()).toBe(CAPACITY);
  });
});
