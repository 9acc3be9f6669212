/**
 * Node certificates for `lparlink bench --suite link`: made once per run with
 * tools/link-certs.sh (the openssl command) into a temporary directory that is
 * removed when the process exits. No key is shipped or reused between runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One node's TLS material as PEM text, the shape of the `node.tls` option. */
export interface BenchTls {
  key: string;
  cert: string;
  ca: string;
}

const SCRIPT = fileURLToPath(new URL('../../tools/link-certs.sh', import.meta.url));
let made: Map<number, BenchTls> | undefined;

/** TLS material of nodes 1 and 2, under one CA made for this run. */
export function benchCertificates(): Map<number, BenchTls> {
  if (made !== undefined) return made;
  if (!existsSync(SCRIPT)) throw new Error(`the link suite makes its certificates with ${SCRIPT}, which is missing`);
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-bench-certs-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  try {
    execFileSync('bash', [SCRIPT, dir, '1', '2'], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim();
    throw new Error(`the link suite could not make node certificates (it needs the openssl command): ${why}`);
  }
  const read = (id: number): BenchTls => ({
    key: readFileSync(join(dir, `node-${id}.key`), 'utf8'),
    cert: readFileSync(join(dir, `node-${id}.crt`), 'utf8'),
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
  });
  made = new Map([1, 2].map((id) => [id, read(id)]));
  return made;
}
