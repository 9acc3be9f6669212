/**
 * THREATS.md case 78: a stream's readable side counts its high-water mark in bytes, but each chunk
 * it holds costs ~150 bytes of heap whatever its size, and ch.stream() pushed each message as a
 * chunk of its own. A peer that sent 1-byte messages to a stream read slowly (a pipe into a sink
 * that stalls) made it hold ~150 times its mark: a 64 MiB partition with one stream of a 1 MiB mark
 * died of ERR_WORKER_OUT_OF_MEMORY after ~630,000 bytes. Now small messages that come while the
 * consumer holds data are gathered into one chunk (ChannelStream.hand, src/partitions/channel-stream.ts).
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('78: 1-byte messages to a stream piped into a stalled sink: its 1 MiB mark holds ~260 chunks, and a 64 MiB partition lives', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: 2 }] });
  const mark = 1 << 20;
  const server = await machine.partition(1).spawn(fixture('stream-sink.mjs'), { port: 80, options: { highWaterMark: mark } });
  const writer = await machine.partition(2).spawn(fixture('tiny-writer.mjs'), { partition: 1, port: 80, n: mark + 1000 });
  const held = (await server.result) as { chunks: number; bytes: number };
  // Gathered chunks of at least 4 KiB each, plus the first message, pushed alone into an empty side.
  expect(held.bytes).toBeGreaterThanOrEqual(mark);
  expect(held.chunks).toBeLessThanOrEqual(mark / 4096 + 2);
  expect(await writer.result).toEqual({ sent: mark + 1000 });
}, 60_000);

it('78: at the default mark, 1-byte messages on 4 streams hold at most 6 chunks each', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const server = await machine.partition(1).spawn(fixture('stream-sink.mjs'), { port: 80, count: 4 });
  const writers = await Promise.all(
    [1, 2, 3, 4].map(() => machine.partition(2).spawn(fixture('tiny-writer.mjs'), { partition: 1, port: 80, n: 20_000 })),
  );
  const held = (await server.result) as { chunks: number; bytes: number };
  expect(held.bytes).toBeGreaterThanOrEqual(4 * 16384);
  expect(held.chunks).toBeLessThanOrEqual(4 * 6);
  for (const w of writers) expect(await w.result).toEqual({ sent: 20_000 });
}, 60_000);

it('78: what is gathered reaches a slow reader in order and whole while its peer still holds the channel open', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const hold = new SharedArrayBuffer(4);
  const sizes = [1, 3, 700, 2, 5000, 1, 64];
  const n = 3000;
  const total = Array.from({ length: n }, (_, i) => sizes[i % sizes.length]).reduce((a, b) => a + b, 0);
  const server = await machine.partition(1).spawn(fixture('stream-sink.mjs'), { port: 80, read: total });
  const writer = await machine.partition(2).spawn(fixture('tiny-writer.mjs'), { partition: 1, port: 80, n, sizes, hold });
  expect(await server.result).toEqual({ bytes: total, misordered: 0 });
  Atomics.store(new Int32Array(hold), 0, 1);
  expect(await writer.result).toEqual({ sent: n });
}, 60_000);
