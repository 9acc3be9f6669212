/**
 * A newer authenticated connection from the same node replaces the older one (docs/LINK.md, "The
 * link"): the old link goes down first, with everything that means, and nothing of it survives
 * into the new one. The test process dials node 2 twice as node 1 (./hostile-peer.ts), opening a
 * channel over the first connection. When the second is accepted: the first is closed, `linkDown`
 * says why before the new `linkUp`, `downs` and `ups` count each, the receiving program's channel
 * ends with ELINKDOWN, and a frame on the new connection naming the old channel is refused and
 * counted as `unknownChannel`, not delivered.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { closeNodes, PROGRESS, READY, startNode, type NodeProcess, type RemoteProgram } from './harness.js';
import { HostilePeer } from './hostile-peer.js';
import { linkTo, LOOPBACK, until } from './pair.js';
import { fillMessage } from './programs/messages.mjs';

const SIZE = 64;
const PORT = 7;
const TAG = 0x5eed;

const certs = makeCertificates([1, 2]);
let b: NodeProcess;
let rx: RemoteProgram;
let first: HostilePeer | undefined;
let second: HostilePeer | undefined;

beforeAll(async () => {
  b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 5000 },
  });
  rx = await b.spawn(1, 'receiver', { port: PORT, size: SIZE });
  await until('the receiver to listen', async () => (await rx.control.read())[READY] === 1);
});
afterAll(async () => {
  first?.close();
  second?.close();
  await closeNodes();
  certs.remove();
});

it('a second connection from node 1 takes the link down first: old channel ended, counted, its id refused on the new one', async () => {
  first = await HostilePeer.dial(b.port!, certs.tls(1));
  const { key, channel } = await first.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 11 });
  first.send(first.dataFrame([{ channel, sourcePartition: 1, sequence: 1, key, payload: fillMessage(new Uint8Array(SIZE), 0, TAG) }]));
  await until('the first message to arrive', async () => (await rx.control.read())[PROGRESS] === 1);
  expect(await linkTo(b, 1)).toMatchObject({ state: 'up', ups: 1, downs: 0 });

  second = await HostilePeer.dial(b.port!, certs.tls(1));
  await until('node 2 to close the first connection', async () => first!.closed);
  const down = await b.waitForEvent('linkDown', (e) => e.node === 1);
  expect(down.info.reason).toBe('replaced by a newer connection from the same node');
  const ups = () => b.events.filter((e) => e.name === 'linkUp' && e.info.node === 1);
  await until('the second linkUp', async () => ups().length === 2);
  expect(ups()).toHaveLength(2);
  expect(ups()[1].at).toBeGreaterThanOrEqual(down.at);
  expect((await rx.result).channels).toEqual([expect.objectContaining({ received: 1, outOfOrder: 0, corrupt: 0, end: 'ELINKDOWN' })]);
  expect(await linkTo(b, 1)).toMatchObject({ state: 'up', ups: 2, downs: 1 });

  // The old channel's id and key mean nothing on the new connection.
  second.send(second.dataFrame([{ channel, sourcePartition: 1, sequence: 2, key, payload: fillMessage(new Uint8Array(SIZE), 1, TAG) }]));
  await until('the stale frame to be counted', async () => (await linkTo(b, 1)).violations.unknownChannel === 1);
  expect((await linkTo(b, 1)).violations).toMatchObject({ total: 1, unknownChannel: 1, keyMismatch: 0 });
  expect((await rx.control.read())[PROGRESS]).toBe(1);
}, 30_000);
