/**
 * THREATS case 52, case 51 over a link: a process's channels share one send ring, so a SEND
 * waiting at its head for its channel's window (the other node's reader does not read: its ring
 * there is full, and so is what that node keeps aside for it) held back every work request behind
 * it, on every other channel of the process. Node 1 runs a server (one process) answering two
 * clients on node 2: an honest one making round trips (partition 2), and a greedy one (partition 1)
 * that sends requests and reads no answer until told. Rings of 16 KiB and a 64 KiB window make the
 * greedy channel's window run out after about 75 answers of 1 KiB. Before the fix the honest
 * client's sixth round trip timed out.
 */
import { afterEach, expect, it } from 'vitest';
import { GO, PROGRESS, READY, STOP, type RemoteProgram } from './harness.js';
import { linkTo, startLinkedPair, until, type LinkedPair } from './pair.js';

let pair: LinkedPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const ROUND_TRIPS = 20;
const REQUESTS = 400;
const BYTES = 1024;

/** The server, the honest client's first 5 round trips, and the greedy client's window spent: the honest client is told to go on. */
async function greedyBesideHonest(serverArgs: Record<string, unknown> = {}, timing: { heartbeatMs?: number; deadAfterMs?: number } = {}): Promise<{ server: RemoteProgram; honest: RemoteProgram; greedy: RemoteProgram }> {
  pair = await startLinkedPair({
    partitions: [{ id: 1 }, { id: 2 }],
    machine: { sendRingBytes: 16 * 1024, receiveRingBytes: 16 * 1024 },
    channelWindowBytes: 64 * 1024,
    ...timing,
  });
  const { a, b } = pair;
  const server = await a.spawn(1, 'answer-clients', { port: 7, clients: 2, ...serverArgs });
  await until('the server to listen', async () => (await server.control.read())[READY] === 1);
  const honest = await b.spawn(2, 'round-trips', { node: 1, partition: 1, port: 7, n: ROUND_TRIPS, waitAt: 5, bytes: BYTES, timeoutMs: 8000 });
  await until("the honest client's first round trips", async () => (await honest.control.read())[PROGRESS] === 5);
  const greedy = await b.spawn(1, 'unread-requests', { node: 1, partition: 1, port: 7, bytes: BYTES, count: REQUESTS });
  // Its answers fill its ring on node 2, then what node 2 keeps aside for it (the window): node
  // 1's next answer to it waits at the head of the server's send ring.
  await until('node 2 to keep answers aside for the greedy client', async () => (await linkTo(b, 1)).keptBytes > 48 * 1024);
  await new Promise((r) => setTimeout(r, 300));
  await honest.control.set(GO, 1);
  return { server, honest, greedy };
}

async function linksClean(): Promise<void> {
  for (const [node, peer] of [[pair!.a, 2], [pair!.b, 1]] as const) {
    const link = await linkTo(node, peer);
    expect(link.state).toBe('up');
    expect(link.violations.total).toBe(0);
  }
}

it("52: a client on another node that reads none of its answers does not hold back the server's answers to an honest client; read at last, every answer arrives once, in order", async () => {
  const { server, honest, greedy } = await greedyBesideHonest();
  expect(await honest.result).toEqual({ done: ROUND_TRIPS, timedOut: false });
  // The greedy client's end is held on node 1: its answers past the window wait there.
  const heldNow = (await linkTo(pair!.a, 2)).heldBytes;
  expect(heldNow).toBeGreaterThan(0);
  expect(heldNow).toBeLessThanOrEqual(2 * 16 * 1024);
  await greedy.control.set(GO, 1);
  await until('the greedy client to read every answer', async () => (await linkTo(pair!.a, 2)).heldBytes === 0 && (await pair!.b.stats()).partitions[0].delivered >= REQUESTS);
  await server.control.set(STOP, 1);
  const { table, answered } = await server.result;
  await greedy.control.set(STOP, 1);
  expect(await greedy.result).toEqual({ sent: REQUESTS, read: REQUESTS, wrong: 0, end: 'open' });
  expect(answered).toEqual({ '2:1': REQUESTS, '2:2': ROUND_TRIPS });
  // No longer held once what was held went (the server's end to the honest client, which closed, is ended).
  expect(table).toEqual(expect.arrayContaining([{ remoteNode: 2, remotePartition: 1, held: false }, { remoteNode: 2, remotePartition: 2, held: false }]));
  await linksClean();
}, 60_000);

it('52: the server closes the held channel: its CLOSE waits behind what was held, and the client reads every answer written before it, then the end', async () => {
  const { server, honest, greedy } = await greedyBesideHonest({ closePartition: 1 });
  expect(await honest.result).toEqual({ done: ROUND_TRIPS, timedOut: false });
  await server.control.set(GO, 1);
  await until('the server to close the held channel', async () => (await server.control.read())[PROGRESS] === 1);
  await greedy.control.set(GO, 1);
  await greedy.control.set(STOP, 1);
  const outcome = await greedy.result;
  await server.control.set(STOP, 1);
  const { table, afterClose, answered } = await server.result;
  const greedyEnd = { remoteNode: 2, remotePartition: 1, held: true };
  // Held when the server closed it, and still there (open, held) after: the CLOSE waits.
  expect(table).toContainEqual(greedyEnd);
  expect(afterClose).toContainEqual(greedyEnd);
  expect(answered['2:1']).toBeGreaterThan(75);
  expect(outcome).toEqual({ sent: REQUESTS, read: answered['2:1'], wrong: 0, end: 'ECLOSED' });
  expect((await linkTo(pair!.a, 2)).heldBytes).toBe(0);
  await linksClean();
}, 60_000);

it('52: the server closes the held channel and its reader never reads: after 10 × deadAfterMs (at least 2 s) with nothing sent, what was held is dropped, the slot is free, and the reader gets what reached it, then ENOBUFS', async () => {
  const { server, honest, greedy } = await greedyBesideHonest({ closePartition: 1 }, { heartbeatMs: 50, deadAfterMs: 400 });
  expect(await honest.result).toEqual({ done: ROUND_TRIPS, timedOut: false });
  await server.control.set(GO, 1);
  await until('the server to close the held channel', async () => (await server.control.read())[PROGRESS] === 1);
  const closedAt = performance.now();
  await until('node 1 to give up what it held', async () => (await linkTo(pair!.a, 2)).heldBytes === 0);
  // Not before the bound: 10 × 400 ms (less the 200 ms the server waited before it said it had closed).
  expect(performance.now() - closedAt).toBeGreaterThan(3500);
  await greedy.control.set(GO, 1);
  await greedy.control.set(STOP, 1);
  const outcome = await greedy.result;
  await server.control.set(STOP, 1);
  const { afterClose, final, answered } = await server.result;
  expect(afterClose).toContainEqual({ remoteNode: 2, remotePartition: 1, held: true });
  // Freed: only the end of the honest client (which closed it) is left in the server's table.
  expect(final).toEqual([{ remoteNode: 2, remotePartition: 2, held: false }]);
  expect(outcome).toMatchObject({ sent: REQUESTS, wrong: 0, end: 'ENOBUFS' });
  expect(outcome.read).toBeGreaterThan(0);
  expect(outcome.read).toBeLessThan(answered['2:1']);
  await linksClean();
}, 60_000);

it("52: the held channel's reader ends without reading: what was held is dropped, the server hears why, and the honest client goes on", async () => {
  const { server, honest, greedy } = await greedyBesideHonest();
  expect(await honest.result).toEqual({ done: ROUND_TRIPS, timedOut: false });
  expect((await linkTo(pair!.a, 2)).heldBytes).toBeGreaterThan(0);
  const errorsBefore = (await pair!.a.stats()).partitions[0].sendErrors;
  // The greedy client's process ends: its end closes, and node 1 drops what it held for it.
  await greedy.control.set(STOP, 1);
  expect(await greedy.result).toEqual({ sent: REQUESTS, read: 0, wrong: 0, end: 'stopped' });
  await until('node 1 to drop what it held', async () => (await linkTo(pair!.a, 2)).heldBytes === 0);
  // The server heard of what was not delivered: the held answers and those on the wire.
  expect((await pair!.a.stats()).partitions[0].sendErrors).toBeGreaterThan(errorsBefore);
  await server.control.set(STOP, 1);
  const { table } = await server.result;
  // The greedy end ended (its reader went), and is no longer held.
  expect(table).toEqual(expect.arrayContaining([{ remoteNode: 2, remotePartition: 1, held: false }]));
  await linksClean();
}, 60_000);
