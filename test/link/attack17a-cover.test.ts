/**
 * What attack run 17a tried against three nodes and found solid, kept as a test (THREATS, "Found
 * nothing (attack run 17a)"). Node 2 and node 3 run in this process, each partition on the
 * hostile OS (the rings read as the hardware writes them); node 1 is the test's hostile peer
 * (./hostile-peer.ts), dialing node 2. Node 2's partition 1 has one process with a channel to
 * node 3's partition 1 and one to node 1's partition 2.
 *
 * - Node 1 speaking for node 3: DATA naming node 2's end of node 3's channel, with node 3's
 *   partition id as its source (wrongSource), an ACK and a CLOSE naming that end
 *   (unknownChannel): each counted once on node 1's link, none on node 3's, and the channel to
 *   node 3 carries every message both ways, in order, with no END.
 * - Node 1's partition 1, which node 2's policy does not pair with partition 1, asking for it
 *   (CONNECT from partition 1: refused EPOLICY) while its partition 2 may (CONNECT_OK): the
 *   partition ids are per node, and node 2 takes the node from the link, never from a frame.
 * - Node 1 dropping its link: only the channel to node 1 ends (ELINKDOWN, in one END), its
 *   unacknowledged sends fail in one completion; the channel to node 3 goes on, its link counts
 *   no down.
 * - Node 1's certificate presented by two processes, one after the other.
 * - Node 1 granting a 64 KiB window and acknowledging nothing, while one process of node 2 streams
 *   to it and writes to node 3 (case 52's hold, across nodes): node 3 gets every message.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';
import { RecordType } from '../../src/shared/layout.js';
import { Status } from '../../src/shared/errors.js';

const certs = makeCertificates([1, 2, 3]);
afterAll(() => certs.remove());
const PORT = 7;

interface Received {
  type: number;
  channel: number;
  status: number;
  bytes: number[];
}

/** Read queue pair 0's receive ring until `n` records came (or fail after the bound). */
async function receive(os: any, n: number): Promise<Received[]> {
  const got: Received[] = [];
  await waitFor(`${n} records`, async () => {
    got.push(...((await os.readReceive(0)) as Received[]));
    return got.length >= n;
  });
  return got;
}

it('node 1 lying about node 3\'s channel, asking as a partition the policy does not pair, and dropping its link: only node 1\'s link counts it, only its channel ends', async () => {
  const machines: Machine[] = [];
  let peer: HostilePeer | undefined;
  try {
    const c = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: 3, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 2 }], tls: certs.tls(3), deadAfterMs: 5000 },
    });
    machines.push(c);
    const a = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: c.listening!.port }], tls: certs.tls(2), deadAfterMs: 5000 },
      policy: { allow: [[1, { node: 3, partition: 1 }], [1, { node: 1, partition: 2 }]] },
    });
    machines.push(a);
    peer = await HostilePeer.dial(a.listening!.port, certs.tls(1));
    const linkTo = (node: number) => a.stats().links!.find((l) => l.node === node)!;
    await waitFor('both links up', () => linkTo(1).state === 'up' && linkTo(3).state === 'up');

    const aOs = a.partition(1).os as any;
    const cOs = c.partition(1).os as any;
    expect(await aOs.open(0)).toMatchObject({ ok: true });
    expect(await cOs.open(0)).toMatchObject({ ok: true });
    expect(await cOs.listen(0, PORT)).toMatchObject({ ok: true });
    expect(await aOs.listen(0, PORT)).toMatchObject({ ok: true });

    // Node 2's channel to node 3.
    const toC = await aOs.call('connectNode', 0, 3, 1, PORT);
    expect(toC).toMatchObject({ ok: true, remoteNode: 3, remotePartition: 1 });
    const atC = await cOs.accept(0, PORT);
    expect(atC).toMatchObject({ ok: true });
    // Node 2's channel to node 1's partition 2.
    const toBAnswer = aOs.call('connectNode', 0, 1, 2, PORT) as Promise<any>;
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT to node 1');
    const toBLinkId = connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
    peer.send(peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 40, 1));
    const toB = await toBAnswer;
    expect(toB).toMatchObject({ ok: true, remoteNode: 1, remotePartition: 2 });
    // A handle's low 16 bits are the end's link id (what the other node names it by).
    expect(toB.handle & 0xffff).toBe(toBLinkId);
    const toCLinkId = toC.handle & 0xffff;

    // Node 1's partition 1 is not paired with partition 1 of node 2; its partition 2 is.
    await expect(peer.openChannel({ request: 900, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 41 })).rejects.toThrow(`status ${Status.EPOLICY}`);
    await peer.openChannel({ request: 901, sourcePartition: 2, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 42 });

    // Node 1 speaks for node 3: DATA on node 3's channel as node 3's partition 1, an ACK and a CLOSE of it.
    peer.send(peer.dataFrame([{ channel: toCLinkId, sourcePartition: 1, sequence: 1, key: new Uint8Array(16).fill(7), payload: new Uint8Array([0xee]) }]));
    peer.send(peer.ackFrame([[toCLinkId, 1, 16]]));
    peer.send(peer.closeFrame(toCLinkId, 0, Status.OK));
    await waitFor('node 1\'s lies counted', () => linkTo(1).violations.total === 3);
    expect(linkTo(1).violations).toMatchObject({ wrongSource: 1, unknownChannel: 2, sequence: 0, keyMismatch: 0 });

    // The channel to node 3 carries every message both ways.
    for (let i = 0; i < 20; i++) expect(await aOs.send(0, toC.handle, [i, 2])).toEqual(expect.any(Number));
    for (let i = 0; i < 20; i++) expect(await cOs.send(0, atC.handle, [i, 3])).toEqual(expect.any(Number));
    expect(await receive(cOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: atC.handle, status: Status.OK, bytes: [i, 2] })));
    expect(await receive(aOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: toC.handle, status: Status.OK, bytes: [i, 3] })));

    // Three sends to node 1 that it never acknowledges, then node 1 drops its link.
    for (let i = 0; i < 3; i++) expect(await aOs.send(0, toB.handle, [i])).toEqual(expect.any(Number));
    await waitFor('the three at node 1', () => peer!.dataMessages(40) === 3);
    peer.close();
    await waitFor('node 1\'s link down', () => linkTo(1).state !== 'up' && linkTo(1).downs === 1);
    // Both of node 1's channels end (the one node 2 opened, and node 1's, waiting in the listener's backlog): nothing of node 3's.
    const ended = await receive(aOs, 2);
    expect(ended.every((r) => r.type === RecordType.END && r.status === Status.ELINKDOWN && r.channel !== toC.handle)).toBe(true);
    expect(ended.map((r) => r.channel)).toContain(toB.handle);
    expect(ended).toHaveLength(2);
    await waitFor('the failed sends answered', async () => {
      const done = (await aOs.readCompletions(0)) as Array<{ status: number; count?: number }>;
      return done.some((x) => x.status === Status.ELINKDOWN);
    });
    expect(linkTo(1).unacknowledged).toBe(3);

    // Node 3's channel goes on, untouched.
    for (let i = 20; i < 40; i++) expect(await aOs.send(0, toC.handle, [i, 2])).toEqual(expect.any(Number));
    for (let i = 20; i < 40; i++) expect(await cOs.send(0, atC.handle, [i, 3])).toEqual(expect.any(Number));
    expect(await receive(cOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: atC.handle, status: Status.OK, bytes: [20 + i, 2] })));
    expect(await receive(aOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: toC.handle, status: Status.OK, bytes: [20 + i, 3] })));
    expect(linkTo(3)).toMatchObject({ state: 'up', ups: 1, downs: 0, unacknowledged: 0, messagesSent: 40, messagesReceived: 40 });
    expect(linkTo(3).violations.total).toBe(0);
    expect(c.stats().links![0]).toMatchObject({ state: 'up', downs: 0, messagesSent: 40, messagesReceived: 40 });
    expect(c.stats().links![0].violations.total).toBe(0);
    expect(a.stats().partitions[0].violations.total).toBe(0);
  } finally {
    peer?.close();
    for (const m of machines.reverse()) await m.close();
  }
}, 90_000);

it('node 1\'s certificate presented by two processes: each new connection replaces the last, only node 1\'s channels end, the old one\'s frames reach nothing, node 3\'s channel goes on', async () => {
  const machines: Machine[] = [];
  const peers: HostilePeer[] = [];
  try {
    const c = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: 3, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 2 }], tls: certs.tls(3), deadAfterMs: 5000 },
    });
    machines.push(c);
    const a = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: c.listening!.port }], tls: certs.tls(2), deadAfterMs: 5000 },
    });
    machines.push(a);
    const linkTo = (node: number) => a.stats().links!.find((l) => l.node === node)!;
    const first = await HostilePeer.dial(a.listening!.port, certs.tls(1));
    peers.push(first);
    await waitFor('both links up', () => linkTo(1).state === 'up' && linkTo(3).state === 'up');
    const aOs = a.partition(1).os as any;
    const cOs = c.partition(1).os as any;
    expect(await aOs.open(0)).toMatchObject({ ok: true });
    expect(await cOs.open(0)).toMatchObject({ ok: true });
    expect(await cOs.listen(0, PORT)).toMatchObject({ ok: true });
    expect(await aOs.listen(0, PORT)).toMatchObject({ ok: true });
    const toC = await aOs.call('connectNode', 0, 3, 1, PORT);
    const atC = await cOs.accept(0, PORT);
    expect(atC).toMatchObject({ ok: true });

    // The first process opens a channel into node 2's partition, which accepts it.
    const opened = await first.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 50 });
    const accepted = await aOs.accept(0, PORT);
    expect(accepted).toMatchObject({ ok: true, remoteNode: 1 });
    first.send(first.dataFrame([{ channel: opened.channel, sourcePartition: 1, sequence: 1, key: opened.key, payload: new Uint8Array([1]) }]));
    expect(await receive(aOs, 1)).toEqual([{ type: RecordType.DATA, channel: accepted.handle, status: Status.OK, bytes: [1] }]);

    // A second process with the same certificate: it replaces the first; the channel ends ELINKDOWN.
    const second = await HostilePeer.dial(a.listening!.port, certs.tls(1));
    peers.push(second);
    await waitFor('the second connection up', () => linkTo(1).ups === 2 && linkTo(1).state === 'up');
    expect(await receive(aOs, 1)).toEqual([{ type: RecordType.END, channel: accepted.handle, status: Status.ELINKDOWN, bytes: [] }]);
    // The first goes on writing on its old channel: node 2 reads nothing of its socket any more.
    first.send(first.dataFrame([{ channel: opened.channel, sourcePartition: 1, sequence: 2, key: opened.key, payload: new Uint8Array([2]) }]));
    second.send(second.dataFrame([{ channel: opened.channel, sourcePartition: 1, sequence: 2, key: opened.key, payload: new Uint8Array([3]) }]));
    // The second's run names a channel that ended with the first connection (no CLOSE was written for it): unknown.
    await waitFor('the second\'s run on the old channel counted', () => linkTo(1).violations.unknownChannel === 1);

    // Node 3's channel carries every message both ways meanwhile.
    for (let i = 0; i < 20; i++) expect(await aOs.send(0, toC.handle, [i, 2])).toEqual(expect.any(Number));
    for (let i = 0; i < 20; i++) expect(await cOs.send(0, atC.handle, [i, 3])).toEqual(expect.any(Number));
    expect(await receive(cOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: atC.handle, status: Status.OK, bytes: [i, 2] })));
    expect(await receive(aOs, 20)).toEqual(Array.from({ length: 20 }, (_, i) => ({ type: RecordType.DATA, channel: toC.handle, status: Status.OK, bytes: [i, 3] })));
    expect(await aOs.readReceive(0)).toEqual([]);
    expect(linkTo(1)).toMatchObject({ state: 'up', ups: 2, downs: 1, messagesReceived: 1 });
    expect(linkTo(1).violations).toMatchObject({ total: 1, unknownChannel: 1 });
    expect(linkTo(3)).toMatchObject({ state: 'up', ups: 1, downs: 0, messagesSent: 20, messagesReceived: 20 });
    expect(linkTo(3).violations.total).toBe(0);
  } finally {
    for (const p of peers) p.close();
    for (const m of machines.reverse()) await m.close();
  }
}, 90_000);

it('node 1 granting a 64 KiB window and acknowledging nothing holds back only its own channel: the same process\'s channel to node 3 gets every message', async () => {
  const machines: Machine[] = [];
  let peer: HostilePeer | undefined;
  const COUNT = 50;
  try {
    const c = await createMachine({
      wait: 'sleep',
      partitions: [{ id: 1 }],
      node: { id: 3, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 2 }], tls: certs.tls(3), deadAfterMs: 5000 },
    });
    machines.push(c);
    const a = await createMachine({
      wait: 'sleep',
      partitions: [{ id: 1 }],
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: c.listening!.port }], tls: certs.tls(2), deadAfterMs: 5000 },
    });
    machines.push(a);
    peer = await HostilePeer.dial(a.listening!.port, certs.tls(1));
    const linkTo = (node: number) => a.stats().links!.find((l) => l.node === node)!;
    await waitFor('both links up', () => linkTo(1).state === 'up' && linkTo(3).state === 'up');
    const roles = new URL('../fixtures/security/attack17a-roles.mjs', import.meta.url);
    const receiver = await c.partition(1).spawn(roles, { role: 'receive', port: PORT, count: COUNT });
    const sender = await a.partition(1).spawn(roles, { role: 'twoNodes', slow: 1, honest: 3, port: PORT, slowSize: 4096, count: COUNT, settleMs: 300 });
    sender.result.catch(() => {});
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the stream\'s CONNECT');
    const ok = peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 40, 1);
    ok.writeUInt32LE(64 * 1024, F.ConnectOkFrame.WINDOW_OFFSET);
    peer.send(ok);

    expect(await receiver.result).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    expect(await sender.result).toMatchObject({ toHonest: COUNT });
    // 64 KiB of 4 KiB messages (each 4104 window bytes: 15) reached node 1; the rest waits, some of it held.
    expect(peer.dataMessages(40)).toBe(15);
    expect(linkTo(1)).toMatchObject({ state: 'up', downs: 0 });
    expect(linkTo(1).heldBytes).toBeGreaterThan(0);
    expect(linkTo(1).violations.total).toBe(0);
    expect(linkTo(3)).toMatchObject({ state: 'up', downs: 0, messagesSent: COUNT });
    expect(a.stats().partitions[0].sendErrors).toBe(0);
  } finally {
    peer?.close();
    for (const m of machines.reverse()) await m.close();
  }
}, 90_000);
