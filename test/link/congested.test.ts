/**
 * A link held back keeps its promises (docs/LINK.md, THREATS case 41): a CLOSE never overtakes the
 * ACKs owed for messages delivered before it, and what stops the link is a peer that reads nothing
 * while it keeps asking, never a large message. Both found by a review of the change that made
 * ACKs wait while congested. Since per-channel credit (case 48) one unread channel no longer
 * congests the link of a peer that reads its socket: here the closing side's stream back stands
 * still at its window; node-link.test.ts makes the congested case directly.
 */
import { afterEach, expect, it } from 'vitest';
import { GO, READY, STOP } from './harness.js';
import { startLinkedPair, untilStill, type LinkedPair } from './pair.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pair: LinkedPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

it('messages delivered and read before the receiver closed are not reported failed, with the closing side\'s own stream held back', async () => {
  pair = await startLinkedPair({ partitions: [{ id: 1 }], deadAfterMs: 10_000 });
  const { a, b } = pair;
  // Channel X, node 1 -> node 2: node 2 reads 100 messages, then closes it.
  const rx = await b.spawn(1, 'read-then-close', { port: 7, count: 100 });
  const tx = await a.spawn(1, 'send-then-wait', { node: 2, partition: 1, port: 7, count: 100 });
  for (let i = 0; i < 500 && (await tx.control.read())[READY] === 0; i++) await sleep(20);
  // Channel Y, node 2 -> node 1, whose reader reads nothing yet: node 2's stream stands still at its window.
  const hog = await a.spawn(1, 'read-later', { port: 8 });
  const streamer = await b.spawn(1, 'sender', { node: 1, partition: 1, port: 8, size: 65536 });
  expect(await untilStill(streamer, 200, 300), 'node 2 stream never stood still').toBeDefined();
  await tx.control.set(GO, 1);
  expect(await rx.result).toEqual({ read: 100 });
  await sleep(200);
  await hog.control.set(GO, 1); // node 1 reads again: node 2's output (its ACKs, then the CLOSE) arrives
  const sent = await tx.result;
  await streamer.control.set(STOP, 1);
  expect(sent).toEqual({ end: 'ECLOSED', failedSends: {} });
}, 90_000);

it('a 17 MiB message to a peer that reads is delivered, and the link stays up', async () => {
  const ring = 64 * 1024 * 1024;
  const size = 17 * 1024 * 1024;
  pair = await startLinkedPair({
    partitions: [{ id: 1 }],
    machine: { sendRingBytes: ring, receiveRingBytes: ring, maxMessageBytes: 24 * 1024 * 1024, processesPerPartition: 1 },
  });
  const { a, b } = pair;
  const rx = await b.spawn(1, 'receiver', { port: 7, size });
  const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, size, count: 3 });
  const [sent, received] = await Promise.all([tx.result, rx.result]);
  expect(sent).toMatchObject({ sent: 3, error: undefined });
  expect(received.channels[0]).toMatchObject({ received: 3, end: 'ECLOSED' });
  expect([...a.events, ...b.events].filter((e) => e.name === 'linkDown')).toEqual([]);
}, 60_000);
