/**
 * When a channel's end is seen, its failedSends already counts the sends that end failed. The
 * hardware writes those completions in the same round as the END, to a different ring: a process
 * that met the END first (it walked its receive ring before reading completions) used to end its
 * read loop with failedSends still empty (CI, node-close-peer.test.ts, 1 run in many). Driven in
 * this thread against a real engine (one round() at a time), so the order is chosen, not raced.
 */
import { expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';
import { CounterSlot } from '../src/shared/layout.js';

const RING = 4096;

it('a peer that closes with messages kept for it: the sender sees its END with every refused send already in failedSends', () => {
  const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, RING);
  // Past the receiver's ring: the rest is kept aside in the hardware for it.
  let sent = 0;
  for (let i = 0; i < 200; i++) {
    try {
      tx.send(new Uint8Array(64).fill(i));
      sent++;
    } catch (e) {
      if (!(e instanceof ChannelError && e.code === 'EAGAIN')) throw e;
    }
    while (hw.engine.round() > 0);
  }
  // The hardware refuses what it kept for the receiver (what reached the receiver's ring was delivered).
  void rx.close();
  while (hw.engine.round() > 0);
  expect(sent).toBeGreaterThan(0);
  // The sender's next look at its ring finds the END first (tryRecv walks the receive ring only).
  expect(tx.tryRecv()).toBeUndefined();
  const txPartition = 1; // verifiedPaths: tx is partition 2's, index 1
  const refused = hw.counters.values[txPartition * CounterSlot.PER_PARTITION + CounterSlot.SEND_ERRORS];
  expect(refused).toBeGreaterThan(0);
  expect({ ...tx.failedSends }).toEqual({ ECLOSED: refused });
});
