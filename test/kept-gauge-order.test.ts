/**
 * The kept gauges fall only once what they held is counted elsewhere. stats() is a plain read of
 * counters the hardware writes as it goes, so an operator (or a test) that waits for a partition's
 * `kept` to reach 0, or a link's `heldBytes`, then reads `sendErrors`, must find the messages that
 * were dropped already counted there, as it finds those that moved already counted in `sent` and
 * `delivered` (Engine.moveKept writes those first). Engine.dropKept and LinkedChannels.dropHeld
 * lowered the gauge first: test/security/held-channels.test.ts ('a writer whose process ends while
 * held') read kept 0 and then sendErrors 0 instead of 50 (1 run in about 25 on a loaded 2-core
 * machine; every run with a 30 ms pause put between the two writes). Driven in this thread against
 * a real engine, so the order of the writes is seen, not raced.
 */
import { expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';
import { CounterSlot } from '../src/shared/layout.js';

const RING = 4096;

it('a reader that closes with messages kept for it: its kept gauge falls only once the refusals are counted on the sender', () => {
  // Two channels from partition 2 to partition 1, one send ring, one receive ring.
  const { tx: [tx, other], rx: [rx], hw } = verifiedPaths(64, RING, 2);
  const values = hw.counters.values;
  const counter = (partition: number, slot: CounterSlot) => values[partition * CounterSlot.PER_PARTITION + slot];
  const RX = 0; // verifiedPaths: rx is partition 1's (index 0), tx partition 2's (index 1)
  const TX = 1;
  const sendAll = (ch: typeof tx, n: number) => {
    for (let i = 0; i < n; i++) {
      try {
        ch.send(new Uint8Array(64).fill(i));
      } catch (e) {
        if (!(e instanceof ChannelError && e.code === 'EAGAIN')) throw e;
        return;
      }
    }
  };
  // A stream past the receiver's ring and through the send ring, which then waits at the head of
  // the send ring; the other channel finds no room, and its hint lets the hardware keep the stream
  // aside for the full ring (THREATS case 51).
  for (let i = 0; i < 4; i++) {
    sendAll(tx, 400);
    while (hw.engine.round() > 0);
  }
  sendAll(other, 1);
  while (hw.engine.round() > 0);
  const kept = counter(RX, CounterSlot.KEPT);
  expect(kept).toBeGreaterThan(0);
  // What an observer polling stats() would see at each write of the gauge.
  const seen: { kept: number; sendErrors: number }[] = [];
  const write = hw.counters.kept.bind(hw.counters);
  hw.counters.kept = (p: number, n: number) => {
    write(p, n);
    if (p === RX) seen.push({ kept: counter(RX, CounterSlot.KEPT), sendErrors: counter(TX, CounterSlot.SEND_ERRORS) });
  };
  const errorsBefore = counter(TX, CounterSlot.SEND_ERRORS);
  void rx.close();
  while (hw.engine.round() > 0);
  // One write of the gauge, to 0, seen with every kept message already counted as refused (the
  // SENDs still in the send ring are refused after it, as they reach the closed end).
  expect(seen).toEqual([{ kept: 0, sendErrors: errorsBefore + kept }]);
  expect(counter(TX, CounterSlot.SEND_ERRORS)).toBeGreaterThanOrEqual(errorsBefore + kept);
});
