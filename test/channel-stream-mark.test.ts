/**
 * ch.stream()'s readable side holds at most its high-water mark and one message over it, with case
 * 78's gathering of small messages: gathered bytes count against the mark. Counted apart, a side
 * just under its mark gathered small messages, then pushed them and the large message after them
 * (51,582 bytes held at a 32 KiB mark with 16 KiB messages in a CI run). The channel here is a stub
 * that hands the stream a scripted run of messages and then has nothing more, and nothing consumes.
 */
import { expect, it } from 'vitest';
import { ChannelStream, type StreamedChannel } from '../src/partitions/channel-stream.js';

function scriptedChannel(sizes: number[]): StreamedChannel & { taken: number } {
  const queue = sizes.map((n) => new Uint8Array(n).fill(7));
  const ch = {
    taken: 0,
    maxMessageBytes: 16384,
    takeInTurn() {
      const m = queue.shift();
      if (m !== undefined) ch.taken++;
      return m;
    },
    readable: () => new Promise<boolean>(() => {}), // nothing more arrives
    write: async () => {},
    close: async () => {},
    handle: 1,
  };
  return ch as unknown as StreamedChannel & { taken: number };
}

it('a side just under its mark stops at small messages that reach it, before a large one: mark + one message at most', async () => {
  const mark = 32768;
  const ch = scriptedChannel([16384, 16383, 1000, 1000, 1000, 1000, 16384]);
  const s = new ChannelStream(ch, { readableHighWaterMark: mark });
  s.read(0); // Node's own poll: starts the pull, as pipe() and 'readable' do
  await new Promise((r) => setImmediate(r));
  expect(s.readableLength).toBeLessThanOrEqual(mark + ch.maxMessageBytes);
  // It stopped at the mark: 16,384 + 16,383 + the first 1,000, pushed once they reached it.
  expect([ch.taken, s.readableLength]).toEqual([3, 33767]);
  // What it held comes out whole and in order once read, and reading takes the rest.
  const got: number[] = [];
  s.on('data', (c: Buffer) => got.push(c.byteLength));
  await new Promise((r) => setImmediate(r));
  expect(got.reduce((a, b) => a + b, 0)).toBe(16384 + 16383 + 4000 + 16384);
  s.destroy();
});
