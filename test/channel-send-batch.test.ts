/**
 * sendBatch's checks, in this thread against a hardware engine driven by hand: a batch checks once
 * whether the channel may still send (nothing in a batch reads completions, so nothing in it can
 * fail the channel), and an empty batch only reads the completion ring, which is how a sender
 * whose channel failed keeps learning how many of its messages the hardware refused.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { readPartitionStats } from '../src/shared/counter-block.js';

const message = (n: number): Uint8Array => new Uint8Array(16).fill(n);
const closed = expect.objectContaining({ name: 'ChannelError', code: 'ECLOSED' });

describe('sendBatch on a channel that failed', () => {
  it('a batch throws the failure and hands nothing over; an empty batch throws nothing and reads the refusals', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, 4096);
    const serve = () => {
      while (hw.engine.round() > 0);
    };
    expect(tx.sendBatch([message(1), message(2)])).toBe(2);
    serve();
    // Messages written before this side hears of the receiver's close: the hardware refuses them.
    void rx.close();
    serve();
    expect(tx.sendBatch([message(3), message(4), message(5)])).toBe(3);
    serve();
    // An empty batch reads the completion ring: the three refusals arrive, and it throws nothing.
    expect(() => tx.sendBatch([])).not.toThrow();
    expect(tx.failedSends).toEqual({ ECLOSED: 3 });
    // From now on a batch with messages throws, and hands none of them over.
    expect(() => tx.sendBatch([message(6)])).toThrow(closed);
    serve();
    expect(() => tx.sendBatch([])).not.toThrow();
    expect(tx.failedSends).toEqual({ ECLOSED: 3 });
    // The hardware saw two messages through and three refused; message 6 never reached it.
    const sender = readPartitionStats(hw.counters.values, 1, 2, '');
    expect([sender.sent, sender.sendErrors]).toEqual([2, 3]);
  });
});
