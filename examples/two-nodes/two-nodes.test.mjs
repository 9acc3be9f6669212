// The README's two-terminal walk-through, run as two child processes: certificates from
// tools/link-certs.sh, node 1 serving pong, node 2 pinging it over the link.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, TIMEOUT } from '../harness.mjs';

const script = fileURLToPath(new URL('../../tools/link-certs.sh', import.meta.url));
const node = fileURLToPath(new URL('./node.mjs', import.meta.url));

function run(id, dir) {
  const child = spawn(process.execPath, [node, String(id), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

test('two-nodes: node 2 pings node 1 over the link; both see the other as node, partition, process', { timeout: TIMEOUT }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-two-nodes-'));
  try {
    execFileSync('bash', [script, dir, '1', '2'], { stdio: 'ignore' });
    const [one, two] = await Promise.all([run(1, dir), run(2, dir)]);
    assert.equal(one.code, 0, one.out);
    assert.equal(two.code, 0, two.out);
    assert.match(two.out, /replies: \[ 'pong 1', 'pong 2', 'pong 3', 'pong 4', 'pong 5' \]/);
    assert.match(two.out, /peer: \{ node: 1, partition: 1, process: 1 \}/);
    assert.match(one.out, /answered: 5, peer: \{ node: 2, partition: 1, process: 1 \}/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
