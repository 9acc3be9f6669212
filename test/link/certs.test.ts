/**
 * tools/link-certs.sh makes what the link needs: EC P-256 node certificates whose subject
 * names the node id, signed by one CA, usable for a mutually authenticated TLS 1.3
 * connection; a second prefix makes an unrelated CA whose certificates the first refuses;
 * bad arguments are refused with a message and exit status 2.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { LINK_CERTS_SCRIPT, makeCertificates, type NodeTls } from './certs.js';

const set = makeCertificates([1, 2]);
set.add([2], { prefix: 'rogue' });
afterAll(() => set.remove());

const certificate = (path: string) => new X509Certificate(readFileSync(path));

/**
 * One TLS 1.3 connection between two nodes' material, as the server saw it: the client's CN
 * and protocol once both sides verified each other, or the error that refused it. (In TLS 1.3
 * the client finishes before the server has checked the client's certificate, so only the
 * server knows the outcome.)
 */
async function handshake(server: NodeTls, client: NodeTls): Promise<{ accepted?: string; protocol?: string; refused?: string }> {
  const listener = createServer({ ...server, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true });
  const outcome = new Promise<{ accepted?: string; protocol?: string; refused?: string }>((resolve) => {
    listener.on('secureConnection', (s: TLSSocket) => {
      resolve({ accepted: String(s.getPeerCertificate().subject.CN), protocol: s.getProtocol() ?? undefined });
      s.end();
    });
    listener.on('tlsClientError', (e: NodeJS.ErrnoException) => resolve({ refused: e.code ?? e.message }));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  const socket = connect({ ...client, host: '127.0.0.1', port, minVersion: 'TLSv1.3', rejectUnauthorized: true });
  socket.on('error', () => {}); // the server's verdict is the one asserted
  try {
    return await outcome;
  } finally {
    socket.destroy();
    listener.close();
  }
}

describe('tools/link-certs.sh', () => {
  it('makes one EC P-256 certificate per node id, subject CN lparlink-node-<id>, signed by the CA', () => {
    const ca = certificate(set.paths(1).ca);
    expect(ca.ca).toBe(true);
    for (const id of [1, 2]) {
      const p = set.paths(id);
      const cert = certificate(p.cert);
      expect(cert.subject).toBe(`CN=lparlink-node-${id}`);
      expect(cert.ca).toBe(false);
      expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(cert.checkIssued(ca)).toBe(true);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(readFileSync(p.key)))).toBe(true);
      expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
      expect(new Date(cert.validTo).getTime() - Date.now()).toBeGreaterThan(5 * 365 * 86_400_000);
      // Private keys are the node's secret: readable by their owner only.
      expect(statSync(p.key).mode & 0o077).toBe(0);
    }
  });

  it('a second prefix makes an unrelated CA: its node certificate does not verify against the first', () => {
    const ca = certificate(set.paths(1).ca);
    const rogue = certificate(set.paths(2, { prefix: 'rogue' }).cert);
    expect(rogue.subject).toBe('CN=lparlink-node-2');
    expect(rogue.checkIssued(ca)).toBe(false);
    expect(rogue.verify(ca.publicKey)).toBe(false);
    expect(rogue.verify(certificate(set.paths(2, { prefix: 'rogue' }).ca).publicKey)).toBe(true);
  });

  it('a later run adds nodes under the same CA instead of replacing it', () => {
    const before = readFileSync(set.paths(1).ca, 'utf8');
    set.add([3]);
    expect(readFileSync(set.paths(1).ca, 'utf8')).toBe(before);
    expect(certificate(set.paths(3).cert).verify(certificate(set.paths(1).ca).publicKey)).toBe(true);
  });

  it('two nodes of one set complete a mutually authenticated TLS 1.3 handshake', async () => {
    expect(await handshake(set.tls(1), set.tls(2))).toEqual({ accepted: 'lparlink-node-2', protocol: 'TLSv1.3' });
  });

  it('a node of the unrelated CA is refused by the handshake', async () => {
    const r = await handshake(set.tls(1), { ...set.tls(2, { prefix: 'rogue' }), ca: set.tls(1).ca });
    // Node destroys a refused client socket without saying why (the server sees a hang-up).
    expect(r).toEqual({ refused: expect.any(String) });
  });

  it.each([
    [['DIR'], 'give a directory and at least one node id'],
    [['DIR', '0'], "node id '0' is not an integer from 1 to 65535"],
    [['DIR', '65536'], "node id '65536' is not an integer from 1 to 65535"],
    [['DIR', '1x'], "node id '1x' is not an integer from 1 to 65535"],
    [['--days', 'x', 'DIR', '1'], '--days needs a whole number'],
    [['--prefix', '../x', 'DIR', '1'], '--prefix needs a name'],
    [['--bogus', 'DIR', '1'], 'unknown option --bogus'],
  ])('refuses %j with exit status 2 and says why', (args, message) => {
    const r = spawnSync('bash', [LINK_CERTS_SCRIPT, ...args.map((a) => (a === 'DIR' ? `${set.dir}/unused` : a))], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: tools/link-certs.sh');
  });
});
