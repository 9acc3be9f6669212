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

describe('sendBatch with a bad message in it', () => {
  for (const traced of [false, true]) {
    it(`refuses the whole batch: nothing of it is sent, and the error names the message${traced ? ' (traced)' : ''}`, () => {
      const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, 4096, 1, undefined, traced ? 1 : undefined);
      const serve = () => {
        while (hw.engine.round() > 0);
      };
      const got: number[] = [];
      const take = () => rx.drainBytes((bytes, offset) => got.push(bytes[offset]));
      expect(tx.sendBatch([message(1)])).toBe(1);
      for (const [bad, refused] of [
        ['not bytes', /^EINVAL: sendBatch: messages\[2\]: each message must be a Uint8Array \(or another ArrayBufferView, or an ArrayBuffer\), got "not bytes"; nothing of the batch was sent/],
        [new Uint8Array(65), /^EMSGSIZE: sendBatch: messages\[2\]: message of 65 bytes exceeds maxMessageBytes 64; nothing of the batch was sent/],
      ] as const) {
        expect(() => tx.sendBatch([message(2), message(3), bad as Uint8Array, message(4)])).toThrow(refused);
      }
      expect(tx.sendBatch([message(5)])).toBe(1);
      serve();
      take();
      // Only the two good batches arrived; the refused ones left nothing in the ring.
      expect(got).toEqual([1, 5]);
      expect(readPartitionStats(hw.counters.values, 1, 2, '').sent).toBe(2);
    });
  }
});

describe('sendBatch whose messages throw when read', () => {
  it("an accessor's own error reaches the caller unchanged, and nothing of the batch is sent (review, wave 20: what was claimed before it went)", () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, 4096);
    const batch = [message(1), message(2)];
    const boom = new TypeError('the accessor failed');
    Object.defineProperty(batch, 1, {
      get() {
        throw boom;
      },
    });
    expect(() => tx.sendBatch(batch)).toThrow(boom);
    expect(tx.sendBatch([message(3)])).toBe(1);
    while (hw.engine.round() > 0);
    const got: number[] = [];
    rx.drainBytes((bytes, offset) => got.push(bytes[offset]));
    expect(got).toEqual([3]);
    expect(readPartitionStats(hw.counters.values, 1, 2, '').sent).toBe(1);
  });
});

describe('sendBatch while reading its messages runs code that sends', () => {
  it('a send made by an accessor of the batch stays sent, and so do the messages before the bad one', () => {
    const { tx: [a, b], rx: [ra, rb], hw } = verifiedPaths(64, 4096, 2);
    const batch = [message(1)];
    Object.defineProperty(batch, 1, {
      get() {
        b.send(message(99)); // another channel of the same queue pair, mid-batch
        return 'not bytes';
      },
    });
    batch.length = 2;
    expect(() => a.sendBatch(batch)).toThrow(/^EINVAL: sendBatch: messages\[1\]: .*; the 1 before it were sent \(a send made while the batch read its messages/);
    b.send(message(7));
    while (hw.engine.round() > 0);
    const got: string[] = [];
    ra.drainBytes((bytes, offset) => got.push(`a${bytes[offset]}`));
    rb.drainBytes((bytes, offset) => got.push(`b${bytes[offset]}`));
    expect(got).toEqual(['a1', 'b99', 'b7']);
  });
});
