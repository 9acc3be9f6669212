/**
 * How the hardware hands send-ring space back (in process, one thread): in steps of up to a
 * sixteenth of the ring while it serves, all of it before it sleeps, and never holding back so much
 * that a sender's largest SEND, wrapping, could not fit in a ring the hardware emptied. What the
 * sender sees is read from the shared consumer position, as its own claims read it. And how it
 * stops waiting for space on a receive ring once a delivery fits again.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { resolveOptions } from '../src/options.js';
import { RING_CONSUMER_POSITION_OFFSET, RING_PRODUCER_POSITION_OFFSET } from '../src/shared/layout.js';
import { queuePairRings } from '../src/shared/port.js';
import { EMPTY, RingConsumer } from '../src/shared/ring.js';

function setUp(size: number, ringBytes: number) {
  const { tx, rx, hw } = verifiedPaths(size, ringBytes);
  const geometry = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: ringBytes, receiveRingBytes: ringBytes, maxMessageBytes: Math.max(size, 64) }).geometry;
  // Partition 2's send ring as the sender sees it: free bytes by the shared positions.
  const ring = queuePairRings(hw.ports[1].buffer, geometry, 0).send;
  const words = new Uint32Array(ring.buffer);
  const seen = {
    freeBytes: () =>
      ringBytes - ((Atomics.load(words, (ring.base + RING_PRODUCER_POSITION_OFFSET) >> 2) - Atomics.load(words, (ring.base + RING_CONSUMER_POSITION_OFFSET) >> 2)) >>> 0),
  };
  const buffer = new Uint8Array(Math.max(size, 64));
  const receiveAll = (): number => {
    let n = 0;
    while (rx[0].tryRecvInto(buffer) !== undefined) n++;
    return n;
  };
  return { tx: tx[0], hw, seen, receiveAll, capacity: ringBytes };
}

describe('send-ring space handed back by the hardware', () => {
  it('goes back in steps while the hardware serves, and all of it before it sleeps', () => {
    const { tx, hw, seen, receiveAll, capacity } = setUp(64, 64 * 1024);
    const message = new Uint8Array(64).fill(7);
    tx.send(message);
    expect(hw.engine.round()).toBe(1);
    expect(receiveAll()).toBe(1);
    const span = capacity - seen.freeBytes();
    expect(span).toBeGreaterThan(64); // served, delivered, not handed back yet
    // Keep sending one at a time until a sixteenth of the ring was served: then it goes back at once.
    let sent = 1;
    while (sent * span < capacity / 16) {
      expect(capacity - seen.freeBytes()).toBe(sent * span);
      tx.send(message);
      hw.engine.round();
      sent++;
    }
    expect(seen.freeBytes()).toBe(capacity);
    tx.send(message);
    hw.engine.round();
    expect(seen.freeBytes()).toBe(capacity - span);
    hw.engine.releaseAll(); // what the scheduler does before it sleeps
    expect(seen.freeBytes()).toBe(capacity);
    expect(receiveAll()).toBe(sent);
  });

  it('never holds back so much that the largest message, wrapping, finds an emptied ring full', () => {
    // Messages up to nearly half the ring: a wrapping one needs almost the whole ring.
    const size = 2000;
    const { tx, hw, seen, receiveAll, capacity } = setUp(size, 4096);
    let state = 1;
    for (let i = 0; i < 400; i++) {
      // Mostly small messages (space held back grows between steps), now and then the largest.
      state = (state * 1103515245 + 12345) >>> 0;
      const bytes = state % 7 === 0 ? size : 8 + (state % 40);
      // The hardware served everything sent so far: whatever it held back, this must fit.
      expect(() => tx.send(new Uint8Array(bytes).fill(i & 0xff)), `message ${i} of ${bytes} B`).not.toThrow();
      expect(hw.engine.round()).toBe(1);
      expect(receiveAll()).toBe(1);
      expect(seen.freeBytes()).toBeGreaterThan(capacity - 64);
    }
  });

});

describe('the hardware waiting for receive-ring space', () => {
  it('lowers its space flag at the first delivery that fits again, even when the receiver held its wake-up', () => {
    const size = 64;
    const ringBytes = 4096;
    const { tx, hw } = verifiedPaths(size, ringBytes);
    const geometry = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: ringBytes, receiveRingBytes: ringBytes, maxMessageBytes: size }).geometry;
    // Partition 1's receive ring, read here directly rather than through its channel.
    const consumer = new RingConsumer(queuePairRings(hw.ports[0].buffer, geometry, 0).receive);
    const flag = (): number => Atomics.load(consumer.i32, consumer.signals.spaceWaiting);
    const message = new Uint8Array(size).fill(3);
    // Fill the receive ring: the hardware raises the flag and leaves that SEND in the send ring.
    for (let i = 0; i < 2 * (ringBytes / size) && flag() === 0; i++) {
      tx[0].send(message);
      hw.engine.round();
    }
    expect(flag()).toBe(1);
    expect(hw.engine.round()).toBe(0);
    // Take two records (room for the blocked one, even where it wraps) and hand their space back
    // holding the wake-up, as a drain that keeps going does.
    for (let i = 0; i < 2; i++) {
      expect(consumer.poll()).not.toBe(EMPTY);
      consumer.consume();
    }
    consumer.release(ringBytes);
    expect(flag()).toBe(1);
    // The next delivery fits: the hardware must lower the flag, or every later release rings it.
    expect(hw.engine.round()).toBe(1);
    expect(flag()).toBe(0);
  });
});
