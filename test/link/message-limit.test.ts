/**
 * Two nodes with different maxMessageBytes (two OS processes, ./harness.ts): node 1 takes messages
 * of up to 64 KiB, node 2 of up to 16 KiB. Each states its limit when a channel opens (CONNECT,
 * CONNECT_OK), and a channel between them carries messages up to the smaller, both ways: the
 * channel's maxMessageBytes says so on both ends, a send over it fails at once with EMSGSIZE and
 * nothing sent, and messages at it arrive whole. Before, node 1 sent what node 2 could not take:
 * node 2 dropped it as a peer's bad frame (counted against node 1), and the channel's sequence
 * broke behind it.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { makeCertificates, type CertificateSet } from './certs.js';
import { closeNodes, startNode } from './harness.js';

let certs: CertificateSet;
beforeAll(() => {
  certs = makeCertificates([1, 2]);
});
afterAll(() => certs?.remove());
afterEach(closeNodes);

const BIG = 64 * 1024;
const SMALL = 16 * 1024;

interface Sizes {
  maxMessageBytes: number;
  over: { code: string; message?: string };
  got: Array<{ length: number; first: number; last: number }>;
  end: string | undefined;
  failedSends: Record<string, number>;
}

it('a channel between nodes with different maxMessageBytes carries messages up to the smaller, both ways, whichever node connects', async () => {
  const b = await startNode({ partitions: [{ id: 1 }], maxMessageBytes: SMALL, node: { id: 2, listen: { port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2) } });
  const a = await startNode({ partitions: [{ id: 1 }], maxMessageBytes: BIG, node: { id: 1, peers: [{ id: 2, host: '127.0.0.1', port: b.port }], certificates: certs.paths(1) } });
  await Promise.all([a.waitForEvent('linkUp', (e) => e.node === 2), b.waitForEvent('linkUp', (e) => e.node === 1)]);

  // Node 1 (the larger limit) connects to node 2, then node 2 connects to node 1.
  for (const [acceptor, connector, port] of [
    [b, a, 7],
    [a, b, 8],
  ] as const) {
    const accepting = await acceptor.spawn(1, 'sizes', { role: 'accept', port, fill: 0x10 });
    const connecting = await connector.spawn(1, 'sizes', { role: 'connect', node: acceptor.id, partition: 1, port, fill: 0x20 });
    const [x, y] = (await Promise.all([accepting.result, connecting.result])) as [Sizes, Sizes];
    for (const [side, other, r] of [
      [acceptor, connector, x],
      [connector, acceptor, y],
    ] as const) {
      expect(r.maxMessageBytes, `node ${side.id}'s end`).toBe(SMALL);
      expect(r.over.code, `node ${side.id}'s send of ${SMALL + 1} bytes`).toBe('EMSGSIZE');
      // Node 1's own limit is larger: its error says whose limit it is.
      if (side.id === 1) expect(r.over.message).toMatch(`exceeds maxMessageBytes ${SMALL} (the channel's: node 2 takes messages of at most ${SMALL} bytes, this node's maxMessageBytes is ${BIG})`);
      const fill = r === x ? 0x20 : 0x10;
      expect(r.got, `what node ${side.id} received from node ${other.id}`).toEqual([
        { length: SMALL, first: fill, last: fill + 1 },
        { length: 1, first: fill, last: fill },
      ]);
      expect(r.failedSends).toEqual({});
    }
  }
  // Nothing was refused as a bad frame, the link never went down.
  for (const [n, peer] of [
    [a, 2],
    [b, 1],
  ] as const) {
    const link = (await n.stats()).links.find((l: { node: number }) => l.node === peer);
    expect(link).toMatchObject({ state: 'up', ups: 1, downs: 0 });
    expect(link.violations.total, `violations counted by node ${n.id}`).toBe(0);
  }
});
