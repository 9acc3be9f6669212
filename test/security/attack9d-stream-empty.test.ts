/**
 * THREATS.md case 88: ch.stream() gathers small messages that come while its readable side holds
 * data (case 78) and pushes what it gathered once that reaches the high-water mark. An empty message
 * gathered added nothing, so at the mark nothing was pushed, and the pull loop returned from a
 * _read() that had pushed nothing: Node calls _read() again only after a push, so the stream stalled
 * for good. A peer that sent a message of at least the mark and then an empty one stopped an honest
 * reader: it never got the bytes after them, nor the end (its for await never settled), and the
 * channel, unread, ended ENOBUFS once the process read another channel for a second. Now an empty
 * message is pushed, never gathered (ChannelStream.hand, src/partitions/channel-stream.ts).
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('88: a message of maxMessageBytes, then an empty one, then one byte: the stream reads all three and ends', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const cue = new SharedArrayBuffer(4);
  const reader = await machine.partition(1).spawn(fixture('stream-after-cue.mjs'), { port: 80, cue });
  const peer = await machine.partition(2).spawn(fixture('empty-after-large.mjs'), { partition: 1, port: 80, cue });
  const { sizes, sent } = (await peer.result) as { sizes: number[]; sent: number };
  expect(sent).toBe(3);
  // The empty message is no chunk (Node drops an empty push); nothing after it waits.
  expect(await reader.result).toEqual({ sizes: [sizes[0], 1], ended: true });
}, 30_000);

it('88: at a mark of 100 bytes, empty messages between messages of 100 and small ones: all 314 bytes arrive and the stream ends', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const cue = new SharedArrayBuffer(4);
  const reader = await machine.partition(1).spawn(fixture('stream-after-cue.mjs'), { port: 80, cue, options: { highWaterMark: 100 } });
  const sizes = [100, 0, 0, 3, 100, 0, 50, 0, 60, 0, 1];
  const peer = await machine.partition(2).spawn(fixture('empty-after-large.mjs'), { partition: 1, port: 80, cue, sizes });
  expect(await peer.result).toEqual({ sizes, sent: sizes.length });
  const read = (await reader.result) as { sizes: number[]; ended: boolean };
  expect(read.ended).toBe(true);
  expect(read.sizes.reduce((a, b) => a + b, 0)).toBe(314);
}, 30_000);
