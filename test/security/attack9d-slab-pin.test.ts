/**
 * THREATS.md case 86: a message recv() hands out is a view of a slab the process's received messages
 * share, and "yours to keep" (README). With one 64 KiB slab for every size, a peer that followed each
 * 1-byte message its reader keeps with 64 KiB its reader drops made each kept byte pin a whole slab
 * outside the heap: an honest board that kept 2,000 one-byte posts pinned 124 MB (125 MB more
 * ArrayBuffer memory after a full collection). Now slabs are per size class, each at most 32 messages
 * of its class (MessageSlab, src/partitions/message-slab.ts), and a kept view pins less than 256 times
 * its own span.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('86: 2,000 one-byte posts a board keeps, each followed by 64 KiB it drops, pin 1 KiB a 128 of them (124 MB before)', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const board = await machine.partition(1).spawn(fixture('board-server.mjs'), { port: 80 });
  const posts = 2000;
  const poster = await machine.partition(2).spawn(fixture('board-poster.mjs'), { partition: 1, port: 80, posts, pings: 4, pingBytes: 16384 });
  expect(await poster.result).toEqual({ sent: posts });
  const kept = (await board.result) as { posts: number; postBytes: number; pings: number; pinned: number; held: number };
  expect(kept).toMatchObject({ posts, postBytes: posts, pings: 4 * posts });
  // Each post's span is 8 bytes (views start 8-aligned): 1 KiB slabs of 128 posts each, at most
  // two of them part-filled (the pump's, and the channel's own for what it kept while no receive
  // waited). Before, one 64 KiB slab a post: 123,928,576 bytes in a run.
  expect(kept.pinned).toBeGreaterThan(0);
  expect(kept.pinned).toBeLessThanOrEqual((Math.ceil(posts / 128) + 2) * 1024);
}, 60_000);
