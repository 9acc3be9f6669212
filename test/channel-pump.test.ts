/**
 * A receive waiter keeps its queue pair's pump running only until it settles. The pump drains
 * synchronously on its first step, inside want(), so it can settle the waiter before want()
 * returns the release function; that interest must still be handed back, or the pump runs for
 * good and drains every record past back-pressure (for this and every later process on the
 * queue pair). The queue pair here is a stub whose want() does exactly that.
 */
import { describe, expect, it } from 'vitest';
import { Channel } from '../src/partitions/channel.js';
import type { ProcessQueuePair } from '../src/partitions/queue-pair.js';

function channelWithEagerPump(onWant: (ch: Channel) => void) {
  const pump = { interest: 0 };
  let ch: Channel;
  const pumpStub = {
    peekFor: () => -1,
    nextIsFor: () => false,
    want() {
      pump.interest++;
      onWant(ch); // the pump's first, synchronous drain
      let released = false;
      return () => {
        if (released) return;
        released = true;
        pump.interest--;
      };
    },
  };
  // Only the receive side is used: the send queue's ring is there for the word the hardware marks a held end in.
  const qp = { adopt() {}, heldWord: () => 0, sendQueue: { ring: { i32: new Int32Array(1) } }, pump: pumpStub } as unknown as ProcessQueuePair;
  ch = new Channel(qp, 1, { node: 0, partition: 2, process: 1 }, () => {});
  return { ch, pump };
}

describe('receive waiters and the pump', () => {
  it('recv() settled while waking the pump hands its interest back', async () => {
    const { ch, pump } = channelWithEagerPump((c) => c.deliver(new Uint8Array([7])));
    expect(await ch.recv()).toEqual(new Uint8Array([7]));
    expect(pump.interest).toBe(0);
  });

  it('readable() settled while waking the pump hands its interest back', async () => {
    const { ch, pump } = channelWithEagerPump((c) => c.notifyReadable());
    expect(await ch.readable()).toBe(true);
    expect(pump.interest).toBe(0);
  });

  it('a waiter still pending keeps the pump running until it settles', async () => {
    const { ch, pump } = channelWithEagerPump(() => {});
    const next = ch.recv();
    expect(pump.interest).toBe(1);
    ch.deliver(new Uint8Array([1]));
    expect(await next).toEqual(new Uint8Array([1]));
    expect(pump.interest).toBe(0);
  });
});
