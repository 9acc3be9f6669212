/**
 * release(wakeAtFree): the hardware's hysteresis on a send ring. A producer
 * that sleeps on a full ring is woken once a quarter of it is free, not per
 * release; a wake-up held back is rung by the next plain release, even one
 * that frees nothing more, so a consumer that stops never strands it.
 */
import { describe, expect, it } from 'vitest';
import { allocateRing, RecordType, RING_SPACE_BELL_OFFSET, RING_SPACE_WAITING_OFFSET, RingConsumer, RingProducer } from '../src/internal.js';

const CAP = 4096;
const BODY = 56; // 64-byte records: 64 fill the ring

function full() {
  const loc = allocateRing(CAP);
  const producer = new RingProducer(loc);
  const consumer = new RingConsumer(loc);
  while (producer.tryClaim(RecordType.RAW, BODY) >= 0);
  producer.publish();
  const i32 = new Int32Array(loc.buffer);
  const s = { waiting: RING_SPACE_WAITING_OFFSET >> 2, bell: RING_SPACE_BELL_OFFSET >> 2 }; // the ring's own space-wait line (base 0)
  i32[s.waiting] = 1; // the producer said it sleeps
  const take = (n: number) => {
    for (let i = 0; i < n; i++) {
      expect(consumer.poll()).toBe(RecordType.RAW);
      consumer.consume();
    }
  };
  return { consumer, i32, s, take };
}

describe('RingConsumer.release(wakeAtFree)', () => {
  it('holds the wake-up until a quarter of the ring is free', () => {
    const { consumer, i32, s, take } = full();
    take(8); // 512 bytes free
    consumer.release(CAP / 4);
    expect(i32[s.bell]).toBe(0);
    expect(i32[s.waiting]).toBe(1);
    take(8); // 1024 bytes free: a quarter
    consumer.release(CAP / 4);
    expect(i32[s.bell]).toBe(1);
    expect(i32[s.waiting]).toBe(0); // the waker lowers the flag as it rings
  });

  it('a plain release rings a held wake-up even when it frees nothing more', () => {
    const { consumer, i32, s, take } = full();
    take(4);
    consumer.release(CAP / 4);
    expect(i32[s.bell]).toBe(0);
    consumer.release();
    expect(i32[s.bell]).toBe(1);
    consumer.release(); // nothing held, nothing new: no second ring
    expect(i32[s.bell]).toBe(1);
  });

  it('rings at once when the ring is empty, whatever the threshold', () => {
    const { consumer, i32, s, take } = full();
    take(64);
    consumer.release(CAP);
    expect(i32[s.bell]).toBe(1);
  });

  it('counts free space from where the producer is now, not from where the consumer last looked', () => {
    const loc = allocateRing(CAP);
    const producer = new RingProducer(loc);
    const consumer = new RingConsumer(loc);
    const i32 = new Int32Array(loc.buffer);
    const s = { waiting: RING_SPACE_WAITING_OFFSET >> 2, bell: RING_SPACE_BELL_OFFSET >> 2 };
    const publish = (n: number) => {
      for (let i = 0; i < n; i++) expect(producer.tryClaim(RecordType.RAW, BODY)).toBeGreaterThanOrEqual(0);
      producer.publish();
    };
    const take = () => {
      expect(consumer.poll()).toBe(RecordType.RAW);
      consumer.consume();
    };
    publish(4);
    take(); // the consumer's look at the producer: 4 records
    // Behind its back the producer fills the ring and sleeps on it.
    publish(60);
    expect(producer.tryClaim(RecordType.RAW, BODY)).toBeLessThan(0);
    i32[s.waiting] = 1;
    take();
    take();
    take(); // up to its last look: by that look the ring is empty now
    consumer.release(CAP / 4);
    expect(i32[s.bell]).toBe(0); // 4 of 64 records are free: below a quarter, held
    expect(i32[s.waiting]).toBe(1);
    for (let i = 0; i < 12; i++) take(); // 16 free: a quarter
    consumer.release(CAP / 4);
    expect(i32[s.bell]).toBe(1);
    expect(i32[s.waiting]).toBe(0);
  });
});
