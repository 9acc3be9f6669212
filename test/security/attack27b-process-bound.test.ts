/**
 * THREATS.md case 135: while a process waits on one channel, its receive pump copies what it reads
 * past for the process's other channels into their queues, at most case 44's 4 MiB of charges per
 * channel, and that bound was per channel only: a peer that opens many channels to one honest
 * server process (a server accepts every client) and fills each to just under its bound, while
 * the server waits on another channel, made that process hold channels × 4 MiB (8 channels: 33 MB;
 * the default 64 channel slots: 256 MiB; 4096: 16 GiB), outside its heap limit. Now a process's
 * channels together keep at most four bounds (16 MiB); past it the pump holds the ring as at one
 * channel's bound, and when the hold runs out the channel that keeps the most ends (ENOBUFS).
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

const MIB = 1024 * 1024;
/** Case 44's bound per channel (4 MiB at the default maxMessageBytes) and its charge per message. */
const PER_CHANNEL = 4 * MIB;
const charge = (bytes: number): number => bytes + 128;
/** What a process keeps for its channels together now: four channels' bounds. */
const PER_PROCESS = 4 * PER_CHANNEL;

interface ClientResult {
  partition: number;
  client: number;
  messages: number;
  bytes: number;
  bad: number;
  error?: string;
}

it.each([
  ['left open', false],
  ['each closed cleanly once written (ended, still kept: dropped all the same)', true],
])('135: a peer that fills many channels of one process to just under their bound makes it hold at most four bounds (8 channels: 33 MB before), the channels %s', async (_, closeEach) => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] });
  const channels = 8;
  const bytes = 64 * 1024;
  // 63 messages of 64 KiB: 4,136,832 bytes of charges, just under the bound (64 would pass it).
  const messages = Math.floor(PER_CHANNEL / charge(bytes));
  expect(messages * charge(bytes)).toBeLessThanOrEqual(PER_CHANNEL);
  expect((messages + 1) * charge(bytes)).toBeGreaterThan(PER_CHANNEL);
  const server = await machine.partition(1).spawn(fixture('attack27b-many-server.mjs'), { port: 80, clients: channels + 1, controlPartition: 2 });
  const peer = await machine.partition(2).spawn(fixture('attack27b-many-peer.mjs'), { partition: 1, port: 80, channels, messages, bytes, closeEach });
  // An honest client of the same process: 20 messages of 100 bytes, sent while the flood comes.
  const honest = await machine.partition(3).spawn(fixture('attack27b-honest-client.mjs'), { partition: 1, port: 80, client: 200, messages: 20, bytes: 100 });
  expect(await honest.result).toEqual({ written: 20 });
  const sent = (await peer.result) as { written: number; refused: string[] };
  const got = (await server.result) as { go: number; held: number; most: number; results: ClientResult[] };
  expect(got.go).toBe(1);
  // What the process held in its queues when the control message came, all of the flood read past
  // (before: 8 × 4,136,832 = 33,094,656 bytes of charges, and as much in ArrayBuffers).
  expect(got.held).toBeLessThanOrEqual(PER_PROCESS);
  expect(got.most).toBeLessThanOrEqual(PER_CHANNEL);
  // The honest client's 20 messages all read, byte for byte.
  const mine = got.results.filter((r) => r.partition === 3);
  expect(mine).toEqual([{ partition: 3, client: 200, messages: 20, bytes: 2000, bad: 0 }]);
  // Each of the peer's channels was read whole, byte for byte, or ended ENOBUFS (what it kept dropped,
  // as at case 44's bound); none half-read.
  const flood = got.results.filter((r) => r.partition === 2);
  expect(flood).toHaveLength(channels);
  let whole = 0;
  for (const r of flood) {
    expect(r.bad).toBe(0);
    if (r.error === undefined) {
      whole++;
      expect(r).toMatchObject({ messages, bytes: messages * bytes });
    } else {
      expect(r).toMatchObject({ error: 'ENOBUFS', messages: 0, bytes: 0 });
    }
  }
  // The first four filled the process's bound; each later one was held there until the hold ran
  // out and the one keeping the most (the oldest of the full ones) ended: the last four read whole.
  expect(whole).toBe(PER_PROCESS / PER_CHANNEL);
  expect(flood.filter((r) => r.error === undefined).map((r) => r.client)).toEqual([4, 5, 6, 7]);
  // Every write went into the peer's ring; what reached the ended channels was refused there, or dropped with what they kept.
  expect(sent).toEqual({ written: channels * messages, refused: [] });
}, 20_000);
