/**
 * The `node` option and node-qualified policy pairs: every mistake is a MachineError EINVAL that
 * names the field and says what to do, before any worker starts; a good option boots a node that
 * listens where machine.listening says, and a port it cannot listen on fails createMachine.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';
import { makeCertificates, type CertificateSet } from './certs.js';
import { dialsPeer } from '../../src/shared/boot.js';

let certs: CertificateSet;
/** An intermediate CA signed by certs' root (a CA certificate that is not self-signed). */
let intermediate: string;
beforeAll(() => {
  certs = makeCertificates([1, 2]);
  certs.add([1], { prefix: 'rogue' });
  const at = (name: string) => join(certs.dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', at('inter.key'));
  openssl('req', '-new', '-key', at('inter.key'), '-subj', '/CN=lparlink intermediate', '-out', at('inter.csr'));
  writeFileSync(at('inter.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
  openssl('x509', '-req', '-in', at('inter.csr'), '-CA', certs.paths(1).ca, '-CAkey', join(certs.dir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', at('inter.ext'), '-out', at('inter.crt'));
  intermediate = readFileSync(at('inter.crt'), 'utf8');
});
afterAll(() => certs?.remove());

async function refusal(options: unknown): Promise<MachineError> {
  const e = await createMachine(options as never).then(
    async (m) => {
      await m.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MachineError);
  expect((e as MachineError).code).toBe('EINVAL');
  return e as MachineError;
}

describe('createMachine({ node }): bad options are refused with what to do', () => {
  const node = (more: Record<string, unknown> = {}) => ({ id: 1, listen: { port: 0 }, peers: [{ id: 2 }], tls: certs.tls(1), ...more });
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['node not an object', () => ({ partitions: [{ id: 1 }], node: 1 }), /createMachine: node must be an object like \{ id: 1/],
    ['unknown node field', () => ({ partitions: [{ id: 1 }], node: node({ lisen: {} }) }), /node\.lisen is not an option here \(known: id, listen, peers, tls/],
    ['node id 0', () => ({ partitions: [{ id: 1 }], node: node({ id: 0 }) }), /node\.id must be an integer from 1 to 65535, got 0/],
    ['listen port too big', () => ({ partitions: [{ id: 1 }], node: node({ listen: { port: 70000 } }) }), /node\.listen\.port must be an integer from 0 to 65535/],
    ['bad listen host', () => ({ partitions: [{ id: 1 }], node: node({ listen: { host: 'a b', port: 1 } }) }), /node\.listen\.host must be a host name or IP address/],
    ['peer is itself', () => ({ partitions: [{ id: 1 }], node: node({ peers: [{ id: 1 }] }) }), /node\.peers\[0\]\.id is 1, this node's own id/],
    ['peer twice', () => ({ partitions: [{ id: 1 }], node: node({ peers: [{ id: 2 }, { id: 2 }] }) }), /node\.peers\[1\]\.id 2 is listed twice/],
    ['host without port', () => ({ partitions: [{ id: 1 }], node: node({ peers: [{ id: 2, host: 'x' }] }) }), /node\.peers\[0\]\.host is given without a port/],
    ['cannot link', () => ({ partitions: [{ id: 1 }], node: node({ listen: undefined }) }), /node neither listens nor names a peer with a port/],
    ['no tls', () => ({ partitions: [{ id: 1 }], node: node({ tls: undefined }) }), /node\.tls must be \{ key, cert, ca \}/],
    ['tls not PEM', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), key: 'node-1.key' } }) }), /node\.tls\.key must be PEM text .*readFileSync/],
    ['broken key', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' } }) }), /node\.tls\.key is not a PEM private key \(.*\): use node-<id>\.key/],
    ['key of another node', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), key: certs.tls(2).key } }) }), /node\.tls\.key is not the key of node\.tls\.cert/],
    ['broken ca', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } }) }), /node\.tls\.ca is not a PEM certificate/],
    ['no ca at all', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), ca: [] } }) }), /node\.tls\.ca is an empty list: no peer could be verified/],
    ["a node's certificate as the ca", () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), ca: certs.tls(2).cert } }) }), /node\.tls\.ca is not a CA certificate \(its subject is .*lparlink-node-2.*\): use ca\.crt/],
    // Certificates from two link-certs.sh runs: every peer configured with this CA would refuse the node.
    ['a ca that did not sign the certificate', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), ca: certs.tls(1, { prefix: 'rogue' }).ca } }) }), /node\.tls\.cert is not signed by node\.tls\.ca \(it was issued by .*\): peers that trust that CA would refuse this node; use node-<id>\.crt and ca\.crt made in the same tools\/link-certs\.sh directory/],
    ['an intermediate CA alone as the ca', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), ca: intermediate } }) }), /node\.tls\.ca holds no root \(self-signed\) CA certificate, and TLS verifies a peer only up to a root it trusts: add the root CA/],
    ['a DER certificate', () => ({ partitions: [{ id: 1 }], node: node({ tls: { ...certs.tls(1), cert: new X509Certificate(certs.tls(1).cert).raw } }) }), /node\.tls\.cert must be PEM text, got \d+ bytes with no -----BEGIN line \(DER\? convert it with openssl/],
    ['certificate of another node', () => ({ partitions: [{ id: 1 }], node: node({ tls: certs.tls(2) }) }), /node\.tls\.cert names CN "lparlink-node-2", but node\.id is 1: use the certificate made for node 1/],
    ['a channel window under 64 KiB', () => ({ partitions: [{ id: 1 }], node: node({ channelWindowBytes: 65535 }) }), /node\.channelWindowBytes must be an integer from 65536 to 67108864 \(64 KiB to 64 MiB; 4 MiB if left out: docs\/LINK\.md, "Sizing the rings and windows"\), got 65535/],
    ['heartbeat too slow for deadAfterMs', () => ({ partitions: [{ id: 1 }], node: node({ heartbeatMs: 300, deadAfterMs: 400 }) }), /node\.deadAfterMs must be at least twice node\.heartbeatMs \(600\), got 400/],
    ['node pair without node option', () => ({ partitions: [{ id: 1 }], policy: { allow: [[1, { node: 2, partition: 1 }]] } }), /policy\.allow\[0\] names a node, but this machine has no node option/],
    ['pair naming an unknown node', () => ({ partitions: [{ id: 1 }], node: node(), policy: { allow: [[1, { node: 3, partition: 1 }]] } }), /policy\.allow\[0\] names node 3, which is not in node\.peers/],
    ['pair of two other nodes', () => ({ partitions: [{ id: 1 }], node: node({ peers: [{ id: 2 }, { id: 3 }] }), policy: { allow: [[{ node: 2, partition: 1 }, { node: 3, partition: 1 }]] } }), /policy\.allow\[0\] names two other nodes' partitions/],
    ['own node, unknown partition', () => ({ partitions: [{ id: 1 }], node: node(), policy: { allow: [[{ node: 1, partition: 4 }, { node: 2, partition: 1 }]] } }), /policy\.allow\[0\] names partition 4, which is not in partitions/],
  ];
  for (const [name, options, message] of cases) {
    it(name, async () => {
      expect((await refusal(options())).message).toMatch(message);
    });
  }
});

describe('who dials (stats().links[i].dials)', () => {
  it('the node with the peer\'s port dials it when it does not listen or has the smaller id; every other peer dials it', () => {
    const node = (id: number, listens: boolean) => ({ id, listen: listens ? { host: '127.0.0.1', port: 7000 + id } : undefined, peers: [], heartbeatMs: 100, deadAfterMs: 400, channelWindowBytes: 4 << 20 });
    const peer = (id: number, port?: number) => ({ id, host: port === undefined ? undefined : '127.0.0.1', port });
    expect(dialsPeer(node(1, true), peer(2, 7002))).toBe(true);
    expect(dialsPeer(node(2, true), peer(1, 7001))).toBe(false); // the smaller id dials
    expect(dialsPeer(node(2, false), peer(1, 7001))).toBe(true); // a node that does not listen dials every peer it has a port for
    expect(dialsPeer(node(1, true), peer(2))).toBe(false); // no port: it must dial us
    expect(dialsPeer(node(1, false), peer(2))).toBe(false);
  });
});

describe('createMachine({ node }): a node that boots', () => {
  it('takes a list of CAs, or a bundle of them in one PEM: the one that signed the certificate may be any of them', async () => {
    const cas = [certs.tls(1, { prefix: 'rogue' }).ca, certs.tls(1).ca];
    for (const ca of [cas, cas.join('')]) {
      await using machine = await createMachine({ partitions: [{ id: 1 }], node: { id: 1, listen: { port: 0 }, peers: [{ id: 2 }], tls: { ...certs.tls(1), ca } } });
      expect(machine.stats().links).toEqual([expect.objectContaining({ node: 2, state: 'connecting' })]);
    }
  });

  it('listens where machine.listening says (port 0: a free one), reports its peers as connecting, and closes', async () => {
    await using machine = await createMachine({
      partitions: [{ id: 1 }],
      node: { id: 1, listen: { port: 0 }, peers: [{ id: 2 }], tls: certs.tls(1) },
      policy: { allow: [[{ node: 1, partition: 1 }, { node: 2, partition: 1 }]] },
    });
    expect(machine.listening).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
    expect(machine.listening!.port).toBeGreaterThan(0);
    const stats = machine.stats();
    expect(stats.unknownIdentities).toBe(0);
    expect(stats.links).toEqual([
      // No port for node 2: this node waits for node 2 to dial it.
      expect.objectContaining({ node: 2, state: 'connecting', dials: false, bytesSent: 0, framesReceived: 0, authFailures: 0, dialFailures: 0, ups: 0, downs: 0, violations: expect.objectContaining({ total: 0 }) }),
    ]);

    // A connect that waits for a link that never comes up says what to check, not what a link that went down lost.
    const program = new URL('data:text/javascript,' + encodeURIComponent(
      "export default async (proc) => { try { await proc.connect({ node: 2, partition: 1, port: 7 }, { retry: { timeoutMs: 300 } }); return 'connected'; } catch (e) { return e.message; } }",
    ));
    expect(await (await machine.partition(1).spawn(program)).result).toMatch(
      // It waited already: not told to wait, told what to check.
      /^ELINKDOWN: the link to node 2 was not up within 300 ms, for port 7 of partition 1 of node 2 \(\d+ attempts?\) \(check that node 2 runs .*authFailures and unknownIdentities/,
    );
    // Without retry too: a connect has no sends the link lost and no channel to resume.
    const once = new URL('data:text/javascript,' + encodeURIComponent(
      "export default async (proc) => { try { await proc.connect({ node: 2, partition: 1, port: 7 }); return 'connected'; } catch (e) { return e.message; } }",
    ));
    const message = (await (await machine.partition(1).spawn(once)).result) as string;
    expect(message).toMatch(/^ELINKDOWN: the link to node 2 is not up \(wait for it \(machine\.linkUp\(node\) in the operator, or connect with \{ retry: \{ timeoutMs \} \}\); if it never comes up, check that node 2 runs/);
    expect(message).not.toMatch(/had not acknowledged|not resumed/);

    // Closed, every link reads 'down', the one still connecting too; the counters stay readable.
    const closing = await createMachine({ partitions: [{ id: 1 }], node: { id: 1, listen: { port: 0 }, peers: [{ id: 2 }], tls: certs.tls(1) } });
    await closing.close();
    expect(closing.stats().links).toEqual([expect.objectContaining({ node: 2, state: 'down', ups: 0, authFailures: 0 })]);

    // A second node cannot listen on the same port: createMachine says so, and starts nothing that stays.
    const taken = await refusal({ partitions: [{ id: 1 }], node: { id: 2, listen: { port: machine.listening!.port }, peers: [{ id: 1 }], tls: certs.tls(2) } });
    expect(taken.message).toMatch(/createMachine: node\.listen: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*pick another port \(or 0 for a free one\)/);
    // An address this machine does not have: the advice is about the host, not the port.
    const elsewhere = await refusal({ partitions: [{ id: 1 }], node: { id: 2, listen: { host: '192.0.2.1', port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2) } });
    expect(elsewhere.message).toMatch(/createMachine: node\.listen: cannot listen on 192\.0\.2\.1:0: .*EADDRNOTAVAIL.*node\.listen\.host is not an address of this machine/);
  });

  it('a machine without the node option has no links, and a connect naming a node is EINVAL', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }] });
    expect(machine.listening).toBeUndefined();
    expect(machine.stats()).toMatchObject({ links: [], unknownIdentities: 0 });
    const program = new URL('data:text/javascript,' + encodeURIComponent(
      "export default async (proc) => { try { await proc.connect({ node: 2, partition: 1, port: 7 }); return 'connected'; } catch (e) { return e.code + ' ' + e.message; } }",
    ));
    const h = await machine.partition(1).spawn(program);
    expect(await h.result).toMatch(/^EINVAL EINVAL: node 2: this machine is not a node \(createMachine has no node option\)/);
  });
});
