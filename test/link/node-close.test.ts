/**
 * machine.close() on a node, seen from the other node. The close used to terminate the hardware
 * worker at once, with whatever its sockets had not yet written: a program that wrote its messages
 * and closed its channel, on a node closed as soon as the program returned, reached the other
 * node's reader as ELINKDOWN, with none or part of its messages. Now the partitions stop first,
 * the hardware serves what they had published, closes their channels (EPEERDEAD for those still
 * open), writes it all out and ends each socket; and a channel whose peer's CLOSE arrived before
 * its link went down still hands its reader what was kept for it, then ends as that CLOSE says.
 */
import { afterEach, expect, it } from 'vitest';
import { GO, PROGRESS, READY } from './harness.js';
import { linkTo, startLinkedPair, until, type LinkedPair } from './pair.js';

let pair: LinkedPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const MESSAGES = 20_000;

it.each([
  ['the default window', undefined],
  ['a 64 KiB window (the SENDs behind it wait for ACKs while the node closes)', 64 * 1024],
])('a writer that wrote and closed, its node closed at once (%s): the reader on the other node reads every message, in order, then the clean end', async (_, channelWindowBytes) => {
  pair = await startLinkedPair({ ...(channelWindowBytes === undefined ? {} : { channelWindowBytes }) });
  const { a, b } = pair;
  const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
  await until('the receiver to listen', async () => (await rx.control.read())[READY] === 1);
  const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, count: MESSAGES, size: 64 });
  expect(await tx.result).toMatchObject({ connected: true, sent: MESSAGES, error: undefined });
  expect((await a.close()).code).toBe(0);
  const { channels } = await rx.result;
  expect(channels).toEqual([expect.objectContaining({ received: MESSAGES, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);
}, 60_000);

it('a slow path that keeps moving (50 ms each way, a 64 KiB window): the close waits while ACKs come, and the reader reads every message, then the clean end', async () => {
  // What the sender's ring holds when its program returns (1 MiB) takes the handover over a second,
  // a window per round trip: past one quiet period (deadAfterMs, 400 ms) more than twice over, but
  // never standing still that long. A bound on its whole length cut it short (ELINKDOWN after part
  // of the messages, as a loaded host did in CI); only a peer that stops answering should.
  pair = await startLinkedPair({ relay: true, channelWindowBytes: 64 * 1024, machine: { sendRingBytes: 1 << 20 } });
  const { a, b } = pair;
  const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
  await until('the receiver to listen', async () => (await rx.control.read())[READY] === 1);
  pair.relay!.delay(50);
  const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, count: MESSAGES, size: 64 });
  expect(await tx.result).toMatchObject({ connected: true, sent: MESSAGES, error: undefined });
  const closing = performance.now();
  expect((await a.close()).code).toBe(0);
  const closeMs = performance.now() - closing;
  const { channels } = await rx.result;
  expect(channels).toEqual([expect.objectContaining({ received: MESSAGES, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);
  // The case it is meant to be: a handover longer than one quiet period (not a timing claim: a floor the path's delay sets).
  expect(closeMs).toBeGreaterThan(400);
}, 60_000);

it('the reader had read none of them (its node kept them aside) and reads them after the link went down: every message, then the clean end', async () => {
  pair = await startLinkedPair({ machine: { receiveRingBytes: 16 * 1024 } });
  const { a, b } = pair;
  const rx = await b.spawn(1, 'read-later', { port: 8 });
  await until('the reader to listen', async () => (await rx.control.read())[READY] === 1);
  const count = 5_000; // ~0.5 MB: past its 16 KiB ring, within the 4 MiB window node 2 keeps for it
  const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 8, count, size: 64 });
  expect(await tx.result).toMatchObject({ connected: true, sent: count, error: undefined });
  expect((await a.close()).code).toBe(0);
  await until('node 2 to see the link down', async () => (await linkTo(b, 1)).state === 'down');
  expect((await linkTo(b, 1)).keptBytes).toBeGreaterThan(0);
  await rx.control.set(GO, 1);
  expect(await rx.result).toEqual({ read: count, end: 'ECLOSED' });
  expect((await linkTo(b, 1)).keptBytes).toBe(0);
}, 60_000);

it('a writer still writing when its node closes: the reader gets every message that node sent, in order, then EPEERDEAD, not ELINKDOWN', async () => {
  pair = await startLinkedPair();
  const { a, b } = pair;
  const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
  await until('the receiver to listen', async () => (await rx.control.read())[READY] === 1);
  const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, size: 64 });
  await until('messages to flow', async () => (await rx.control.read())[PROGRESS] > 5_000);
  expect((await a.close()).code).toBe(0);
  await expect(tx.result).rejects.toThrow(); // the machine closed under it
  const { channels } = await rx.result;
  const link = await linkTo(b, 1);
  expect(channels).toEqual([expect.objectContaining({ outOfOrder: 0, corrupt: 0, end: 'EPEERDEAD' })]);
  expect(channels[0].received).toBe(link.messagesReceived);
  expect(link.violations.total).toBe(0);
}, 60_000);
