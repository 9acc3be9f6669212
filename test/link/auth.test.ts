/**
 * Authentication of the link (issue 14; docs/LINK.md, "Identity"): TLS 1.3 with mutual
 * certificates, and the certificate's CN naming the node. Every refused connection is counted
 * where docs/LINK.md says, carries no frame, and opens no channel.
 *
 * Listening side: a real node 2 in its own OS process; the test process dials it once per case
 * with a certificate from another CA, a CN naming a node it does not know, no certificate, or
 * TLS 1.2 only (`stats().unknownIdentities`, exactly one per attempt), or as a peer that node 2
 * dials itself (that peer's `authFailures`). Afterwards the honest node 1 still links up.
 * Dialing side: a real node 1 dials a test server that presents another node's CN, a
 * certificate from another CA, or TLS 1.2 only; node 1 counts one `authFailures` per attempt
 * on its link to node 2, never brings it up, and a connect to node 2 fails ELINKDOWN.
 */
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { connect, createServer, type ConnectionOptions, type Server, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { closeNodes, startNode, type NodeProcess } from './harness.js';
import { linkTo, LOOPBACK, until } from './pair.js';

// Nodes 1 and 2 are the real pair; 3 is a node of the same CA that node 2 dials but never
// hears from; 4 is a node of the same CA that no one has configured; 'rogue' is another CA.
const certs = makeCertificates([1, 2, 3, 4]);
certs.add([1, 2], { prefix: 'rogue' });
afterAll(async () => {
  await closeNodes();
  certs.remove();
});

/** One dial at `port` with this material; resolves with how many bytes it was sent before the close. */
async function dialOnce(port: number, options: ConnectionOptions): Promise<{ bytes: number }> {
  const socket = connect({ host: LOOPBACK, port, checkServerIdentity: () => undefined, ...options });
  let bytes = 0;
  socket.on('data', (b: Buffer) => (bytes += b.length));
  socket.on('error', () => {}); // the refusal under test; what counts is what the node counted
  await new Promise((r) => socket.once('close', r));
  return { bytes };
}

describe('the listening node refuses, counts, and sends nothing to', () => {
  let b: NodeProcess;
  beforeAll(async () => {
    // Node 2 listens; node 1 dials it; node 2 dials node 3 (a larger id with a port) itself.
    b = await startNode({
      partitions: [{ id: 1 }],
      wait: 'sleep',
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: 1 }], certificates: certs.paths(2) },
    });
  });
  afterAll(() => b?.close());

  const client = (id: number, prefix?: string): ConnectionOptions => {
    const t = certs.tls(id, prefix === undefined ? {} : { prefix });
    return { key: t.key, cert: t.cert, ca: certs.tls(2).ca };
  };

  it.each<[string, () => ConnectionOptions]>([
    ['a certificate from another CA (CN lparlink-node-1)', () => client(1, 'rogue')],
    ['a CN naming a node it does not know (lparlink-node-4, same CA)', () => client(4)],
    ['no client certificate', () => ({ ca: certs.tls(2).ca })],
    ['a TLS 1.2-only client with a valid node-1 certificate', () => ({ ...client(1), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })],
    ['a valid node-1 certificate offering another frame format (ALPN lparlink/1)', () => ({ ...client(1), ALPNProtocols: ['lparlink/1'] })],
  ])('%s: one unknownIdentities, no frame, no link', async (_, options) => {
    const before = (await b.stats()).unknownIdentities;
    const r = await dialOnce(b.port!, options());
    expect(r.bytes).toBe(0);
    await until('the refusal to be counted', async () => (await b.stats()).unknownIdentities > before);
    expect((await b.stats()).unknownIdentities - before).toBe(1);
    const link1 = await linkTo(b, 1);
    expect(link1).toMatchObject({ state: 'connecting', ups: 0, authFailures: 0, framesReceived: 0, framesSent: 0 });
    expect(b.events.filter((e) => e.name === 'linkUp')).toEqual([]);
  });

  /** One dial as `peer` with `options`: nothing sent to it, one authFailures on that peer's link, no unknownIdentities. */
  async function countedOnPeer(peer: number, options: ConnectionOptions): Promise<void> {
    const before = await linkTo(b, peer);
    const unknown = (await b.stats()).unknownIdentities;
    const r = await dialOnce(b.port!, options);
    expect(r.bytes).toBe(0);
    await until(`node ${peer}'s authFailures to count the attempt`, async () => (await linkTo(b, peer)).authFailures === before.authFailures + 1);
    expect((await b.stats()).unknownIdentities).toBe(unknown);
  }

  /** The reasons of the linkRefused events `node` has seen about `peer`. */
  const refusals = (node: NodeProcess, peer: number) => node.events.filter((e) => e.name === 'linkRefused' && e.info.node === peer).map((e) => e.info.reason as string);

  it('a valid node-1 certificate offering no frame format at all (no ALPN): counted on node 1, no frame, no link', async () => {
    await countedOnPeer(1, client(1));
    await until('the refusal event', async () => refusals(b, 1).length === 1);
    expect(refusals(b, 1)).toEqual([expect.stringMatching(/^node 1 offered another frame format \(none, this node speaks lparlink\/\d+\): another lparlink version$/)]);
    expect(await linkTo(b, 1)).toMatchObject({ state: 'connecting', ups: 0, framesReceived: 0, framesSent: 0 });
    expect(b.events.filter((e) => e.name === 'linkUp')).toEqual([]);
  });

  it('a valid certificate of a peer that it dials itself (node 3): counted on that peer, no link', async () => {
    // Node 2 also keeps dialing node 3's (closed) port: that is a network failure, not counted here.
    await countedOnPeer(3, client(3));
    expect(await linkTo(b, 3)).toMatchObject({ ups: 0, framesReceived: 0 });
    await until('the refusal event', async () => refusals(b, 3).length === 1);
    expect(refusals(b, 3)).toEqual([expect.stringMatching(/^node 3 dialed this node, which dials it \(at 127\.0\.0\.1:1\): only one of two nodes dials/)]);
  });

  it('and after all of those, the honest node 1 links up and opens a channel', async () => {
    const a = await startNode({
      partitions: [{ id: 1 }],
      wait: 'sleep',
      node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port: b.port }], certificates: certs.paths(1) },
    });
    await until('the link to be up', async () => (await linkTo(a, 2)).state === 'up');
    const rx = await b.spawn(1, 'receiver', { port: 7, size: 64 });
    const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, size: 64, count: 100 });
    expect((await tx.result).sent).toBe(100);
    expect((await rx.result).channels[0]).toMatchObject({ received: 100, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' });
    expect(await linkTo(b, 1)).toMatchObject({ state: 'up', ups: 1, authFailures: 1 }); // the no-ALPN attempt above
    await a.close();
  });
});

describe('the dialing node refuses, counts, and never links with', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.close();
    await closeNodes();
  });

  /** A TLS server the test controls; counts the handshakes it completed and what it heard after. */
  async function fakeListener(options: Parameters<typeof createServer>[0]): Promise<{ port: number; handshakes: () => number; attempts: () => number }> {
    let handshakes = 0;
    let attempts = 0;
    server = createServer({ requestCert: true, rejectUnauthorized: false, ...options }, (s: TLSSocket) => {
      handshakes++;
      s.on('error', () => {});
      // Say something, as a listening node does at once: a dialer that accepted us would link up.
      s.write(Buffer.from([4, 0, 0, 0, 7, 0, 0, 0]));
    });
    server.on('connection', () => attempts++);
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server!.listen(0, LOOPBACK, r));
    return { port: (server.address() as AddressInfo).port, handshakes: () => handshakes, attempts: () => attempts };
  }

  const serverAs = (id: number, prefix?: string) => {
    const t = certs.tls(id, prefix === undefined ? {} : { prefix });
    return { key: t.key, cert: t.cert, ca: certs.tls(1).ca };
  };

  /** Node 1 dials a listener made with `options`: every attempt counted once and told why (`reason`), never up, no channel. */
  async function refusedByTheDialer(options: Parameters<typeof createServer>[0], reason: RegExp): Promise<void> {
    const fake = await fakeListener(options);
    const a = await startNode({
      partitions: [{ id: 1 }],
      wait: 'sleep',
      node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port: fake.port }], certificates: certs.paths(1) },
    });
    await until('two dial attempts', () => fake.attempts() >= 2);
    const tx = await a.spawn(1, 'sender', { node: 2, partition: 1, port: 7, count: 1, connectTimeoutMs: 0 });
    expect(await tx.result).toEqual({ connected: false, error: 'ELINKDOWN', sent: 0 });
    // Stop the attempts where they are, then every one of them must have been counted once.
    server!.close();
    const attempts = fake.attempts();
    await until('the attempts to be counted', async () => (await linkTo(a, 2)).authFailures >= attempts, 10_000);
    expect(await linkTo(a, 2)).toMatchObject({ authFailures: attempts, ups: 0, framesReceived: 0, messagesReceived: 0 });
    expect(a.events.filter((e) => e.name === 'linkUp')).toEqual([]);
    expect((await a.stats()).unknownIdentities).toBe(0);
    // One linkRefused event per counted attempt, each saying what this side saw.
    await until('an event per attempt', async () => a.events.filter((e) => e.name === 'linkRefused').length >= attempts);
    const refused = a.events.filter((e) => e.name === 'linkRefused');
    expect(refused.length).toBe(attempts);
    for (const e of refused) expect(e.info).toEqual({ node: 2, reason: expect.stringMatching(reason) });
  }

  it('a listener that takes the connection and never speaks: each attempt is given up after the handshake bound and dialed again, never counted as an authentication failure', async () => {
    // Plain TCP: it accepts, and says nothing (no TLS). Without the bound one attempt waited for good.
    let attempts = 0;
    const silent = createTcpServer((s) => {
      attempts++;
      s.on('error', () => {});
    });
    await new Promise<void>((r) => silent.listen(0, LOOPBACK, r));
    try {
      const a = await startNode({
        partitions: [{ id: 1 }],
        wait: 'sleep',
        // The bound is ten times deadAfterMs and at least 2 s.
        node: { id: 1, heartbeatMs: 10, deadAfterMs: 20, peers: [{ id: 2, host: LOOPBACK, port: (silent.address() as AddressInfo).port }], certificates: certs.paths(1) },
      });
      await until('a second attempt after the first was given up', () => attempts >= 2, 15_000);
      expect(await linkTo(a, 2)).toMatchObject({ state: 'connecting', ups: 0, authFailures: 0, framesReceived: 0 });
      // Counted where an operator looks for why a link never comes up.
      expect((await linkTo(a, 2)).dialFailures).toBeGreaterThanOrEqual(1);
    } finally {
      silent.close();
    }
  });

  const tlsFailed = (hint: string) => new RegExp(`^the TLS handshake with 127\\.0\\.0\\.1:\\d+ failed: .+ \\(${hint}\\)$`);
  it.each<[string, () => Parameters<typeof createServer>[0], RegExp]>([
    ['a listener whose CN names another node (lparlink-node-3, same CA)', () => serverAs(3), /^the peer at 127\.0\.0\.1:\d+ presented a certificate for "lparlink-node-3", not lparlink-node-2: that port belongs to another node \(check node\.peers\)$/],
    ['a listener with a certificate from another CA (CN lparlink-node-2)', () => serverAs(2, 'rogue'), tlsFailed('certificates from another CA\\?')],
    ['a TLS 1.2-only listener with a valid node-2 certificate', () => ({ ...serverAs(2), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }), tlsFailed('the peer offers an older TLS; links need TLS 1\\.3')],
    ['a listener with a valid node-2 certificate speaking another frame format (ALPN lparlink/1)', () => ({ ...serverAs(2), ALPNProtocols: ['lparlink/1'] }), tlsFailed('the peer does not speak lparlink/\\d+: another lparlink version, or not an lparlink node at that address')],
    ['a listener with a valid node-2 certificate offering no frame format (no ALPN)', () => serverAs(2), /^the peer at 127\.0\.0\.1:\d+ chose another frame format \(none, this node speaks lparlink\/\d+\): another lparlink version$/],
  ])('%s: one authFailures per attempt, never up, connects fail ELINKDOWN', async (_, options, reason) => {
    await refusedByTheDialer(options(), reason);
  });
});
