/**
 * THREATS case 83: a certificate's CN reached the operator's log with its C1 controls and
 * bidirectional overrides raw. A dialing node that finds another node's CN on the port it dialed
 * refuses the link and says so in `linkRefused`'s reason (which an operator logs: the two-node
 * example prints it), quoting the CN with JSON.stringify, which escapes C0 only. Any certificate
 * the CA signed gets this far (a CA may sign more than lparlink nodes), and its CN is its
 * holder's to choose: U+009B (a CSI in one character: `\u009b2J` clears a terminal that takes C1)
 * and U+202E (which turns the rest of the line around) were in the reason as they were. Now the
 * reason escapes them as escapeControls does everywhere else (`\x9b`, `\u202e`).
 *
 * Node 1 runs in this process and dials "node 2", a TLS server of this test holding a certificate
 * the CA signed for a CN of its own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:tls';
import { afterAll, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());

/** A key and a certificate the test CA signed for `cn` (openssl, UTF-8 subject). */
function signedFor(cn: string): { key: Buffer; cert: Buffer } {
  const d = certs.dir;
  const at = (f: string) => join(d, f);
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', at('odd.key')], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-utf8', '-key', at('odd.key'), '-subj', `/CN=${cn}`, '-out', at('odd.csr')], { stdio: 'ignore' });
  writeFileSync(at('odd.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n');
  execFileSync('openssl', ['x509', '-req', '-in', at('odd.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-days', '2', '-set_serial', '0x0191', '-extfile', at('odd.ext'), '-out', at('odd.crt')], { stdio: 'ignore' });
  return { key: readFileSync(at('odd.key')), cert: readFileSync(at('odd.crt')) };
}

/** C0, DEL, C1 and the bidirectional controls escapeControls writes as escapes. */
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

it('83: a CA-signed certificate whose CN holds a C1 CSI and a right-to-left override is named in linkRefused with both escaped', async () => {
  const cn = 'lparlink-node-3\u009b2J\u202eevil\u001b]0;owned\u0007';
  const server = createServer({ ...signedFor(cn), ca: readFileSync(join(certs.dir, 'ca.crt')), requestCert: true, ALPNProtocols: [F.LINK_PROTOCOL] }, (s) => s.on('error', () => {}));
  await new Promise<void>((r) => server.listen(0, LOOPBACK, () => r()));
  const port = (server.address() as { port: number }).port;
  const a = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }], node: { id: 1, peers: [{ id: 2, host: LOOPBACK, port }], tls: certs.tls(1), deadAfterMs: 200 } });
  const reasons: string[] = [];
  a.on('linkRefused', (e) => reasons.push(e.reason));
  try {
    await waitFor('the dial to be refused', () => reasons.length > 0);
    const [reason] = reasons;
    expect(reason).not.toMatch(CONTROLS);
    expect(reason).toBe(
      `the peer at ${LOOPBACK}:${port} presented a certificate for "lparlink-node-3\\x9b2J\\u202eevil\\u001b]0;owned\\u0007", not lparlink-node-2: that port belongs to another node (check node.peers)`,
    );
    expect(a.stats().links![0]).toMatchObject({ node: 2, state: 'connecting' });
    expect(a.stats().links![0].authFailures).toBeGreaterThanOrEqual(1);
  } finally {
    await a.close();
    server.close();
  }
}, 30_000);
