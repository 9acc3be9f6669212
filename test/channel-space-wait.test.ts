/**
 * Waiting for send-ring space, with several waiters on one queue pair: the writes of its channels
 * and a close's CLOSE share one flag, which the hardware reads before it rings. Whatever wakes one
 * waiter (a close of its channel, space the hardware freed), the others must still be rung when
 * space comes: a close that waits for room for its CLOSE must finish once the ring drains, and a
 * write on another channel must go out. In this thread, against a hardware engine driven by hand.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { Channel } from '../src/partitions/channel.js';

/** Fill the sender's ring so that not even a message of 0 bytes (or a CLOSE) fits. */
function fill(ch: Channel): void {
  for (const size of [64, 0]) {
    try {
      for (;;) ch.send(new Uint8Array(size));
    } catch (e) {
      expect((e as { code?: string }).code).toBe('EAGAIN');
    }
  }
}

/**
 * Serve, hand space back and let the partition side run, until `done()` or a bound of turns (never
 * a hang), then serve once more: what the last turn posted (a CLOSE) reaches the peer.
 */
async function serveUntil(hw: ReturnType<typeof verifiedPaths>['hw'], receivers: Channel[], done: () => boolean): Promise<void> {
  const serve = (): void => {
    while (hw.engine.round() > 0);
    hw.engine.releaseAll();
    for (const r of receivers) r.drainBytes(() => {});
  };
  for (let turn = 0; turn < 500 && !done(); turn++) {
    serve();
    await new Promise((resolve) => setImmediate(resolve));
  }
  serve();
}

/** Start a write() on `ch` that must wait for space, then close `ch`: the write's outcome, and a probe of the close. */
async function writeThenClose(ch: Channel): Promise<{ write: string | undefined; closed: () => string }> {
  const writing = ch.write(new Uint8Array(64)).then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  );
  let closed = 'waiting';
  void ch.close().then(() => (closed = 'resolved'));
  return { write: await writing, closed: () => closed };
}

describe('waiting for send-ring space', () => {
  it('close() of a channel whose write() waits, with no room for the CLOSE: the write rejects, the close finishes once the ring drains, the peer sees the end', async () => {
    const { tx: [a], rx: [ra], hw } = verifiedPaths(64, 4096, 1);
    fill(a);
    const { write, closed } = await writeThenClose(a);
    expect(write).toBe('ECLOSED');
    await serveUntil(hw, [ra], () => closed() !== 'waiting');
    expect(closed()).toBe('resolved');
    await expect(ra.recv()).rejects.toMatchObject({ code: 'ECLOSED' });
  });

  it('two channels of one queue pair wait for space; one closes: the other write still goes out when space comes', async () => {
    const { tx: [a, b], rx: [ra, rb], hw } = verifiedPaths(64, 4096, 2);
    fill(a);
    let wrote = 'waiting';
    void b.write(new Uint8Array(64).fill(7)).then(() => (wrote = 'resolved'));
    const { write, closed } = await writeThenClose(a);
    expect(write).toBe('ECLOSED');
    let got = 0;
    await serveUntil(hw, [ra], () => wrote !== 'waiting' && closed() !== 'waiting');
    expect([wrote, closed()]).toEqual(['resolved', 'resolved']);
    rb.drainBytes((bytes, offset) => (got = bytes[offset]));
    expect(got).toBe(7);
  });
});
