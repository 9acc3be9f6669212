/**
 * Node certificates for the link tests, made at run time by tools/link-certs.sh into a
 * temporary directory (no private key is ever committed). `makeCertificates([1, 2])` gives a
 * CA and nodes 1 and 2; `{ prefix: 'rogue' }` adds an unrelated CA with its own node
 * certificates in the same directory (the wrong-CA cases).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const LINK_CERTS_SCRIPT = fileURLToPath(new URL('../../tools/link-certs.sh', import.meta.url));

/** Paths of one node's TLS material, in the shape of the `node.tls` option once read. */
export interface NodeCertificatePaths {
  key: string;
  cert: string;
  ca: string;
}

/** PEM text of one node's TLS material: what `createMachine({ node: { tls } })` takes. */
export interface NodeTls {
  key: string;
  cert: string;
  ca: string;
}

export interface CertificateSet {
  dir: string;
  /** Make more certificates in the same directory (same CA unless another prefix is given). */
  add(ids: number[], options?: { prefix?: string }): void;
  paths(id: number, options?: { prefix?: string }): NodeCertificatePaths;
  tls(id: number, options?: { prefix?: string }): NodeTls;
  remove(): void;
}

function run(dir: string, ids: number[], prefix: string | undefined): void {
  const args = [...(prefix === undefined ? [] : ['--prefix', prefix]), dir, ...ids.map(String)];
  execFileSync('bash', [LINK_CERTS_SCRIPT, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function makeCertificates(ids: number[], options: { prefix?: string } = {}): CertificateSet {
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-certs-'));
  run(dir, ids, options.prefix);
  const paths = (id: number, o: { prefix?: string } = {}): NodeCertificatePaths => {
    const p = o.prefix === undefined ? '' : `${o.prefix}-`;
    return { key: join(dir, `${p}node-${id}.key`), cert: join(dir, `${p}node-${id}.crt`), ca: join(dir, `${p}ca.crt`) };
  };
  return {
    dir,
    add: (more, o = {}) => run(dir, more, o.prefix),
    paths,
    tls(id, o) {
      const p = paths(id, o);
      return { key: readFileSync(p.key, 'utf8'), cert: readFileSync(p.cert, 'utf8'), ca: readFileSync(p.ca, 'utf8') };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
