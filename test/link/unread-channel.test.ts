/**
 * THREATS case 48: one receive ring its process does not read must hold back only its own
 * channel, never the link. Two nodes in two OS processes: partition 1 of node 2 accepts a 4 KiB
 * stream from node 1 and reads nothing; once that stream stands still (its window is spent:
 * per-channel credit, docs/LINK.md), an honest pair of other partitions opens a channel over the
 * same link and moves 100 messages. Before the credit, the link's reader stopped at the full ring:
 * the honest pair got 0 of 100 (even its CONNECT waited) and the link was never judged silent.
 * Then the idle reader reads: everything the stream sent arrives, exactly once. Against a hostile
 * peer (./hostile-peer.ts): one that fills a ring nobody reads and then goes silent is still judged
 * dead (the reader never stops, so silence is judged all along), and a newer connection from the
 * same node drops what was kept with the old link.
 */
import { afterEach, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { GO, PROGRESS, READY, startNode, STOP } from './harness.js';
import { F, HostilePeer, type ForgedMessage } from './hostile-peer.js';
import { linkTo, LOOPBACK, startLinkedPair, until, untilStill, type LinkedPair } from './pair.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let pair: LinkedPair | undefined;
const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  await pair?.close();
  pair = undefined;
  for (const c of cleanups.splice(0)) await c();
});

it('48: a partition that reads nothing of a stream over a link holds back that stream only; an honest pair over the same link goes on', async () => {
  pair = await startLinkedPair({ partitions: [{ id: 1 }, { id: 2 }], heartbeatMs: 50, deadAfterMs: 400 });
  const { a, b } = pair;
  const idle = await b.spawn(1, 'read-later', { port: 8 });
  const stream = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 8, size: 4096 });
  // The stream stands still once its ring on node 2 is full and its window is spent.
  const last = await untilStill(stream, 100);
  expect(last, 'the unread stream never stood still').toBeDefined();

  const rx = await b.spawn(2, 'receiver', { port: 7, size: 64 });
  const tx = await a.spawn(2, 'sender', { node: 2, partition: 2, port: 7, size: 64, count: 100 });
  const [sent, received] = await Promise.race([
    Promise.all([tx.result, rx.result]),
    sleep(15_000).then(() => {
      throw new Error('the honest pair did not finish within 15 s beside the unread stream');
    }),
  ]);
  expect(sent).toMatchObject({ connected: true, sent: 100, error: undefined });
  expect(received.channels).toEqual([expect.objectContaining({ received: 100, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);

  // Node 2 keeps what its ring could not take, within the window it granted (4 MiB by default).
  const keeping = (await linkTo(b, 1)).keptBytes;
  expect(keeping).toBeGreaterThan(0);
  expect(keeping).toBeLessThanOrEqual(4 * 1024 * 1024);

  // Meanwhile the link stayed up (heartbeats were read all along) and saw nothing it had to refuse.
  for (const [node, peer] of [[a, 2], [b, 1]] as const) {
    const link = await linkTo(node, peer);
    expect(link.state).toBe('up');
    expect(link.downs).toBe(0);
    expect(link.violations.total).toBe(0);
  }

  // The idle reader reads at last: the stream goes on, and what it sent arrives exactly once.
  await idle.control.set(GO, 1);
  // Until the stream has sent more than where it stood (a fixed pause decided this before).
  await until('the stream to go on', async () => (await stream.control.read())[PROGRESS] > last!);
  await stream.control.set(STOP, 1);
  const streamed = await stream.result;
  expect(streamed).toMatchObject({ connected: true, error: undefined });
  expect(streamed.sent).toBeGreaterThan(last!);
  expect(await idle.result).toEqual({ read: streamed.sent, end: 'ECLOSED' });
  expect((await linkTo(b, 1)).keptBytes).toBe(0);
}, 60_000);

/**
 * Node 2 (its own process, `deadAfterMs` given) with a partition that accepts one channel on port 8
 * and reads nothing until told; a hostile peer (node 1's certificate) opens that channel and sends
 * 1 MiB of 4 KiB messages, well within the window: the 256 KiB ring fills and the rest is kept aside.
 */
async function unreadRingFilledByAPeer(deadAfterMs: number) {
  const certs = makeCertificates([1, 2]);
  cleanups.push(() => certs.remove());
  const b = await startNode({ partitions: [{ id: 1 }], wait: 'sleep', node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs } });
  cleanups.push(() => b.close());
  const idle = await b.spawn(1, 'read-later', { port: 8 });
  await until('the listener', async () => (await idle.control.read())[READY] === 1);
  const peer = await HostilePeer.dial(b.port!, certs.tls(1));
  cleanups.push(() => peer.close());
  const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 8, sourceChannel: 5 });
  for (let sequence = 1; sequence <= 256; sequence++) {
    const m: ForgedMessage = { channel, sourcePartition: 1, sequence, key, payload: new Uint8Array(4096) };
    peer.send(peer.dataFrame([m]));
  }
  await until('messages kept aside on node 2', async () => (await linkTo(b, 1)).keptBytes > 0);
  return { b, idle, peer, certs };
}

it('48: a peer that fills a ring nobody reads and then goes silent is judged dead within deadAfterMs (silence is judged all along)', async () => {
  const { b, peer } = await unreadRingFilledByAPeer(400);
  const silentAt = performance.now();
  peer.silence();
  const down = await b.waitForEvent('linkDown', (i) => i.node === 1, 5000);
  const after = performance.now() - silentAt;
  expect(down.info.reason).toMatch(/^nothing arrived for \d+ ms/);
  // deadAfterMs, the check's period (50 ms) and a turn of the event loop, with room for a loaded host.
  expect(after).toBeLessThan(400 + 1000);
  expect((await linkTo(b, 1)).keptBytes).toBe(0);
}, 30_000);

it('48: a newer connection from the same node while messages are kept aside: they are dropped with the old link, and the reader gets what reached its ring, then its channel ends', async () => {
  const { b, idle, certs } = await unreadRingFilledByAPeer(5000);
  const second = await HostilePeer.dial(b.port!, certs.tls(1));
  cleanups.push(() => second.close());
  await b.waitForEvent('linkDown', (i) => i.node === 1);
  await until('the new link', async () => (await linkTo(b, 1)).state === 'up');
  const link = await linkTo(b, 1);
  expect(link.keptBytes).toBe(0);
  expect(link.violations.total).toBe(0);
  // The reader reads at last: what had reached its ring (about 63 of the 4 KiB messages), then the end.
  await idle.control.set(GO, 1);
  const { read } = await idle.result;
  expect(read).toBeGreaterThan(0);
  expect(read).toBeLessThan(256);
}, 30_000);
