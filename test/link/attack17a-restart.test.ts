/**
 * Attack run 17a, a node restarted while its peers hold channels to it (THREATS, "Found nothing
 * (attack run 17a)"): node 2 and node 3 are separate processes (./harness.ts), node 1 the test's
 * hostile peer with a channel into node 2. Node 3 is killed (SIGKILL) while node 2 streams to it,
 * and started again with the same id, certificate and port. Node 2's stream ends ELINKDOWN, the
 * link comes back (a new link: nothing of the old channel goes over it), a new channel reaches the
 * new node 3 whole, and node 1's channel, over another link, never notices.
 */
import { afterAll, afterEach, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { closeNodes, PROGRESS, READY, startNode, STOP, type NodeConfig } from './harness.js';
import { HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { waitFor } from '../security/harness.js';
import { fillMessage } from './programs/messages.mjs';

const certs = makeCertificates([1, 2, 3]);
afterAll(() => certs.remove());
afterEach(() => closeNodes());
const PORT = 7;
const SIZE = 64;

it('node 3 killed and started again with the same id and certificate: only its channel ends, the new link carries a new one whole, node 1\'s channel into node 2 is untouched', async () => {
  const nodeC = (port: number): NodeConfig => ({ wait: 'sleep', partitions: [{ id: 1 }], node: { id: 3, listen: { host: LOOPBACK, port }, peers: [{ id: 2 }], certificates: certs.paths(3), deadAfterMs: 1000 } });
  const c1 = await startNode(nodeC(0));
  const cPort = c1.port!;
  const a = await startNode({ wait: 'sleep', partitions: [{ id: 1 }], node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: cPort }], certificates: certs.paths(2), deadAfterMs: 1000 } });
  const peer = await HostilePeer.dial(a.port!, certs.tls(1));
  try {
    const linkTo = async (node: number) => (await a.stats()).links.find((l: { node: number }) => l.node === node);
    await waitFor('both links up', async () => (await linkTo(1)).state === 'up' && (await linkTo(3)).state === 'up');

    // Node 1's channel into node 2's partition: a receiver there, node 1 sending in the shared format.
    const fromB = await a.spawn(1, 'receiver', { port: PORT, size: SIZE });
    await waitFor('node 2\'s receiver listening', async () => (await fromB.control.read())[READY] === 1);
    const opened = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 60 });
    let sequence = 0;
    const sendFromB = (n: number) => {
      for (let i = 0; i < n; i++, sequence++) {
        peer.send(peer.dataFrame([{ channel: opened.channel, sourcePartition: 1, sequence: sequence + 1, key: opened.key, payload: fillMessage(new Uint8Array(SIZE), sequence, 1) }]));
      }
    };
    sendFromB(50);

    // Node 2 streams to node 3 until node 3 is killed.
    const rx1 = await c1.spawn(1, 'receiver', { port: PORT, size: SIZE });
    rx1.result.catch(() => {});
    const tx1 = await a.spawn(1, 'sender', { node: 3, partition: 1, port: PORT, size: SIZE });
    await waitFor('the stream to node 3 going', async () => (await tx1.control.read())[PROGRESS] > 200);
    await c1.kill('SIGKILL');
    const ended = await tx1.result;
    expect(ended).toMatchObject({ connected: true, error: 'ELINKDOWN' });

    // Node 3 again, same id, certificate and port: node 2 dials it, a new link.
    const c2 = await startNode(nodeC(cPort));
    await waitFor('the link to the new node 3', async () => {
      const l = await linkTo(3);
      return l.state === 'up' && l.ups === 2;
    });
    const rx2 = await c2.spawn(1, 'receiver', { port: PORT, size: SIZE });
    const tx2 = await a.spawn(1, 'sender', { node: 3, partition: 1, port: PORT, size: SIZE, count: 300 });
    expect(await tx2.result).toMatchObject({ connected: true, sent: 300, error: undefined });
    const got = await rx2.result;
    expect(got.channels).toEqual([expect.objectContaining({ received: 300, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);
    expect((await c2.stats()).links[0]).toMatchObject({ state: 'up', ups: 1, downs: 0, unacknowledged: 0 });
    expect((await c2.stats()).links[0].violations.total).toBe(0);

    // Node 1's channel went on through all of it.
    sendFromB(50);
    peer.send(peer.closeFrame(opened.channel, 60, 0));
    const b = await fromB.result;
    expect(b.channels).toEqual([expect.objectContaining({ received: 100, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' })]);
    const one = await linkTo(1);
    expect(one).toMatchObject({ state: 'up', ups: 1, downs: 0, messagesReceived: 100 });
    expect(one.violations.total).toBe(0);
    const three = await linkTo(3);
    expect(three).toMatchObject({ state: 'up', ups: 2, downs: 1 });
    expect(three.violations.total).toBe(0);
    await tx1.control.set(STOP, 1);
  } finally {
    peer.close();
  }
}, 120_000);
