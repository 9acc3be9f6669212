/**
 * Channels between two nodes, each in its own OS process on loopback (./harness.ts): claim 1's
 * key exchange across nodes, 10^5 messages each way over one channel, connects refused with the
 * exact code on the connecting side, and ELINKDOWN when the other process exits. The hostile
 * peer, authentication, relay cut / black-hole and SIGKILL cases live in their own files.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates, type CertificateSet } from './certs.js';
import { closeNodes, FAILED, GO, PROGRESS, READY, startNode, STOP, type NodeConfig, type NodeProcess } from './harness.js';

let certs: CertificateSet;
beforeAll(() => {
  certs = makeCertificates([1, 2]);
});
afterAll(() => certs?.remove());
afterEach(closeNodes);

/**
 * Node 2 listens on a free port; node 1 dials it. Each has partitions 1 and 2 unless `extra`
 * says otherwise. Resolves once both sides report the link up.
 */
async function twoNodes(extra: { one?: Partial<NodeConfig>; two?: Partial<NodeConfig> } = {}): Promise<{ a: NodeProcess; b: NodeProcess }> {
  const b = await startNode({
    partitions: [{ id: 1 }, { id: 2 }],
    ...extra.two,
    node: { id: 2, listen: { port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2) },
  });
  const a = await startNode({
    partitions: [{ id: 1 }, { id: 2 }],
    ...extra.one,
    node: { id: 1, peers: [{ id: 2, host: '127.0.0.1', port: b.port }], certificates: certs.paths(1) },
  });
  await Promise.all([a.waitForEvent('linkUp', (e) => e.node === 2), b.waitForEvent('linkUp', (e) => e.node === 1)]);
  return { a, b };
}

const linkTo = async (n: NodeProcess, node: number) => (await n.stats()).links.find((l: { node: number }) => l.node === node);

/** Poll until `read` returns what `done` accepts (the two nodes' counters settle a moment apart). */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('channels between two nodes (two OS processes)', () => {
  it('claim 1: node 1 makes the key, node 2 verifies the ids and stores it; the channel carries messages in order and both nodes count the same', async () => {
    const { a, b } = await twoNodes();
    const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
    const tx = await a.spawn(2, 'sender', { node: 2, partition: 1, port: 7, size: 64, count: 2000, batch: 8 });
    const [sent, received] = await Promise.all([tx.result, rx.result]);

    // Each end sees the other as its hardware attests it: node, partition, process.
    expect(sent).toMatchObject({ connected: true, sent: 2000, error: undefined, failedSends: {}, peer: { node: 2, partition: 1, process: rx.pid } });
    expect(received.channels).toEqual([{ peer: { node: 1, partition: 2, process: tx.pid }, received: 2000, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);

    // The key was made once, by the connecting node's hardware; the accepting node made none.
    const keysA = await a.keyHistory();
    const keysB = await b.keyHistory();
    expect(keysA).toHaveLength(1);
    expect(keysB).toHaveLength(0);
    expect(keysA[0]).toHaveLength(16);
    // Neither node's partitions can read it: no port buffer holds its bytes.
    for (const n of [a, b]) {
      const scans = await n.scanPorts(keysA);
      for (const s of scans) expect(s.found, `node ${n.id} partition ${s.partition}`).toEqual([[]]);
    }

    // Both nodes' counters agree: every message node 1 sent, node 2 received and delivered; no violation either side.
    const one = await until(() => linkTo(a, 2), (l) => l.messagesSent === 2000, 'node 1 counting its messages');
    const two = await until(() => linkTo(b, 1), (l) => l.messagesReceived === 2000, 'node 2 counting its messages');
    expect(one).toMatchObject({ node: 2, state: 'up', messagesReceived: 0, authFailures: 0, unacknowledged: 0, ups: 1, downs: 0 });
    expect(two).toMatchObject({ node: 1, state: 'up', messagesSent: 0, authFailures: 0, unacknowledged: 0, ups: 1, downs: 0 });
    expect(one.violations.total).toBe(0);
    expect(two.violations.total).toBe(0);
    const statsA = await a.stats();
    const statsB = await b.stats();
    expect(statsA.partitions.find((p: { id: number }) => p.id === 2)).toMatchObject({ sent: 2000, bytesSent: 2000 * 64, sendErrors: 0 });
    expect(statsB.partitions.find((p: { id: number }) => p.id === 1)).toMatchObject({ delivered: 2000, bytesDelivered: 2000 * 64 });
    expect(statsA.unknownIdentities).toBe(0);
    expect(statsB.unknownIdentities).toBe(0);
  });

  it('stats() counts a channel to another node on each end: what node 1\'s end sent node 2\'s end had delivered, both ways, under the ids each hardware attests', async () => {
    const { a, b } = await twoNodes();
    const rx = await b.spawn(1, 'read-later', { port: 7, writes: 3 });
    const tx = await a.spawn(2, 'send-then-wait', { node: 2, partition: 1, port: 7, count: 5 });
    // Neither program finishes (each waits for the other to close): the nodes are closed after the test.
    void rx.result.catch(() => {});
    void tx.result.catch(() => {});
    await until(() => tx.control.read(), (c) => c[READY] === 1, 'the sender connected');
    await tx.control.set(GO, 1);
    await rx.control.set(GO, 1);
    const rowOf = async (n: NodeProcess, partition: number) => (await n.stats()).partitions.find((p: { id: number }) => p.id === partition).channels;
    const counted = (rows: Array<{ sent: number; delivered: number }>, sent: number, delivered: number) =>
      rows.length === 1 && rows[0].sent === sent && rows[0].delivered === delivered;
    const one = await until(() => rowOf(a, 2), (r) => counted(r, 5, 3), 'node 1\'s end counting 5 sent and 3 delivered');
    const two = await until(() => rowOf(b, 1), (r) => counted(r, 3, 5), 'node 2\'s end counting 3 sent and 5 delivered');
    expect(one).toEqual([{ channel: expect.any(Number), localProcess: tx.pid, remoteNode: 2, remotePartition: 1, remoteProcess: rx.pid, state: 'open', sent: 5, bytesSent: 320, delivered: 3, bytesDelivered: 192 }]);
    expect(two).toEqual([{ channel: expect.any(Number), localProcess: rx.pid, remoteNode: 1, remotePartition: 2, remoteProcess: tx.pid, state: 'open', sent: 3, bytesSent: 192, delivered: 5, bytesDelivered: 320 }]);
  });

  it('10^5 messages each way over one channel: per-channel order and exactly-once on both sides', async () => {
    const { a, b } = await twoNodes();
    const count = 100_000;
    const acceptor = await b.spawn(1, 'duplex', { role: 'accept', port: 7, size: 64, count });
    const connector = await a.spawn(1, 'duplex', { role: 'connect', node: 2, partition: 1, port: 7, size: 64, count });
    const [x, y] = await Promise.all([connector.result, acceptor.result]);
    for (const side of [x, y]) {
      expect(side).toMatchObject({ connected: true, sent: count, received: count, outOfOrder: 0, corrupt: 0, failedSends: {} });
      expect(side.sendError).toBeUndefined();
      expect(side.receiveError).toBeUndefined();
    }
    expect(x.peer).toEqual({ node: 2, partition: 1, process: acceptor.pid });
    expect(y.peer).toEqual({ node: 1, partition: 1, process: connector.pid });
    const one = await until(() => linkTo(a, 2), (l) => l.messagesReceived === count && l.messagesSent === count, 'node 1 counting both ways');
    const two = await until(() => linkTo(b, 1), (l) => l.messagesReceived === count && l.messagesSent === count, 'node 2 counting both ways');
    expect(one.violations.total + two.violations.total).toBe(0);
    // A measurement, not an assertion (timing belongs to benchmarks): messages per second each way.
    console.log(`link: ${count} x 64 B each way in ${Math.max(x.ms, y.ms).toFixed(0)} ms (${Math.round(count / (Math.max(x.ms, y.ms) / 1000))} msg/s each way)`);
  });

  it('a connect refused by either node\'s policy, to nobody listening, to a partition node 2 lacks or to an unknown node gets the exact code on the connecting side', async () => {
    // Each node speaks only for pairs with one of its own partitions.
    const { a, b } = await twoNodes({
      one: { policy: { allow: [[1, 2], [1, { node: 2, partition: 1 }], [1, { node: 2, partition: 5 }], [2, { node: 2, partition: 1 }], [2, { node: 2, partition: 2 }]] } },
      two: { policy: { allow: [[1, 2], [{ node: 2, partition: 1 }, { node: 1, partition: 1 }], [2, { node: 1, partition: 2 }]] } },
    });
    const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
    await until(() => rx.control.read(), (c) => c[READY] === 1, 'the receiver listening');
    const attempt = async (partition: number, target: Record<string, number>) =>
      (await a.spawn(partition, 'sender', { ...target, count: 1, connectTimeoutMs: 0 })).result;

    // Node 2's policy has no pair (node 1 partition 2, node 2 partition 1): node 2 refuses.
    expect(await attempt(2, { node: 2, partition: 1, port: 7 })).toEqual({ connected: false, error: 'EPOLICY', sent: 0 });
    // Node 1's own policy has no pair (its partition 1, node 2 partition 2): refused before anything is sent.
    expect(await attempt(1, { node: 2, partition: 2, port: 7 })).toEqual({ connected: false, error: 'EPOLICY', sent: 0 });
    // Allowed by both, but nobody listens on port 9.
    expect(await attempt(2, { node: 2, partition: 2, port: 9 })).toEqual({ connected: false, error: 'ECONNREFUSED', sent: 0 });
    // Allowed by node 1, but node 2 has no partition 5, and so no pair with it in its policy: node 2
    // refuses it as it refuses any pair its policy lacks (asked first, it tells nothing of which
    // partitions exist or run there).
    expect(await attempt(1, { node: 2, partition: 5, port: 7 })).toEqual({ connected: false, error: 'EPOLICY', sent: 0 });
    // Node 7 is not a peer of node 1.
    expect(await attempt(1, { node: 7, partition: 1, port: 7 })).toEqual({ connected: false, error: 'EINVAL', sent: 0 });

    // None of them counted a violation on the link or left a channel behind; the allowed pair still connects.
    expect(await attempt(1, { node: 2, partition: 1, port: 7 })).toMatchObject({ connected: true, sent: 1, error: undefined, peer: { node: 2, partition: 1 } });
    expect((await rx.result).channels).toMatchObject([{ received: 1, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
    for (const [n, peer] of [[a, 2], [b, 1]] as const) expect((await linkTo(n, peer)).violations.total).toBe(0);
  });

  it('ELINKDOWN when the other process exits: the channel ends, unacknowledged sends fail and are counted, nothing more arrives, local traffic goes on', async () => {
    const { a, b } = await twoNodes();
    const rx = await b.spawn(1, 'receiver', { port: 7, size: 256 });
    const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, size: 256, batch: 16, holdAfterError: true });
    await until(() => tx.control.read(), (c) => c[PROGRESS] > 5000, 'node 1 sending');
    void rx.result.catch(() => {}); // it dies with its node

    // The other node's process exits without closing its machine (a close would close the channel
    // first: EPEERDEAD, test/link/node-close.test.ts).
    await b.kill('SIGTERM');
    const down = await a.waitForEvent('linkDown', (e) => e.node === 2);
    expect(typeof down.info.reason).toBe('string');

    // The sender learns ELINKDOWN. The sends the link had not acknowledged come back failed (the
    // link counts them), and so does anything the sender put in its ring after the link went down:
    // every error the hardware answered node 1's partition 1 with reaches the program.
    const settled = await until(
      async () => ({ control: await tx.control.read(), link: await linkTo(a, 2), sendErrors: (await a.stats()).partitions[0].sendErrors }),
      (v) => v.link.unacknowledged > 0 && v.control[FAILED] === v.sendErrors,
      'the unacknowledged sends coming back',
    );
    await tx.control.set(STOP, 1);
    const sent = await tx.result;
    expect(sent.error).toBe('ELINKDOWN');
    expect(sent.failedSends).toEqual({ ELINKDOWN: settled.sendErrors });
    expect(settled.sendErrors).toBeGreaterThanOrEqual(settled.link.unacknowledged);
    expect(settled.link).toMatchObject({ state: 'down', ups: 1, downs: 1 });
    expect(settled.link.violations.total).toBe(0);

    // A new connect to node 2 fails with ELINKDOWN while its link is down.
    const again = await (await a.spawn(2, 'sender', { node: 2, partition: 1, port: 7, count: 1, connectTimeoutMs: 100 })).result;
    expect(again).toEqual({ connected: false, error: 'ELINKDOWN', sent: 0 });

    // Node 1's own partitions keep talking to each other.
    const localRx = await a.spawn(2, 'receiver', { port: 8, size: 64 });
    const localTx = await a.spawn(1, 'sender', { partition: 2, port: 8, size: 64, count: 500 });
    expect(await localTx.result).toMatchObject({ connected: true, sent: 500, error: undefined, peer: { node: 1, partition: 2 } });
    expect((await localRx.result).channels).toEqual([{ peer: { node: 1, partition: 1, process: localTx.pid }, received: 500, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
  });
});
