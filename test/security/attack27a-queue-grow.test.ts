/**
 * THREATS.md case 134: a channel's queue (what the receive pump copied out for it while the process
 * read another channel) was an array with a head index, reset only when the reader took everything.
 * A peer that keeps the queue from ever running empty (it floods one channel to its unread bound
 * while the server's process also waits on a quiet channel, and the server does some awaited work
 * of its own per message) grew that array by a slot per message it sent, for as long as it sent:
 * 141,000 slots after 150,000 messages of 8 bytes, while it never held more than 30,840 untaken.
 * Now the taken slots go once they are as many as the untaken ones.
 */
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

/** What case 44's bound keeps of 8-byte messages: 4 MiB at keptCharge (8 + 128 bytes) each. */
const KEPT_AT_BOUND = Math.floor((4 * 1024 * 1024) / (8 + 128));

it('134: a flood kept at its unread bound grows the queue array to at most twice what it holds (141,000 slots for 150,000 messages before)', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  const server = await machine.partition(1).spawn(fixture('attack27a-two-readers.mjs'), { port: 80, channels: 2, yieldEach: true });
  const messages = 150_000;
  const peer = await machine.partition(2).spawn(fixture('attack27a-flood-one.mjs'), { partition: 1, port: 80, messages, bytes: 8 });
  expect(await peer.result).toEqual({ sent: messages });
  const [flooded, quiet] = (await server.result) as Array<{ messages: number; bytes: number; mostLength: number; mostUntaken: number }>;
  // Every message read, in full, and nothing on the quiet channel.
  expect(flooded.messages).toBe(messages);
  expect(flooded.bytes).toBe(8 * messages);
  expect(quiet).toEqual({ messages: 0, bytes: 0, mostLength: 0, mostUntaken: 0 });
  // The flood reached case 44's bound (the queue held what the bound allows, no more)...
  expect(flooded.mostUntaken).toBeGreaterThan(KEPT_AT_BOUND / 2);
  expect(flooded.mostUntaken).toBeLessThanOrEqual(KEPT_AT_BOUND);
  // ...and the array under it holds at most twice that (before: a slot per message, 141,000 or so).
  expect(flooded.mostLength).toBeLessThanOrEqual(2 * KEPT_AT_BOUND);
}, 60_000);
