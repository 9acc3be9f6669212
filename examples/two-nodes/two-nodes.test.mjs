// The README's two-terminal walk-through, run as two child processes: certificates from
// tools/link-certs.sh, node 1 serving pong, node 2 pinging it over the link.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, TIMEOUT } from '../harness.mjs';

const script = fileURLToPath(new URL('../../tools/link-certs.sh', import.meta.url));
const node = fileURLToPath(new URL('./node.mjs', import.meta.url));

/** Two consecutive ports above `base` that nothing listens on now (the nodes listen on base + 1 and base + 2). */
async function freeBase() {
  const free = (port) =>
    new Promise((resolve) => {
      const server = createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    if ((await free(base + 1)) && (await free(base + 2))) return base;
  }
}

function run(id, dir, base) {
  const child = spawn(process.execPath, [node, String(id), dir, String(base)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, out })));
  return { child, done };
}

test('two-nodes: node 2 pings node 1 over the link; both see the other as node, partition, process', { timeout: TIMEOUT }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lparlink-two-nodes-'));
  const nodes = [];
  try {
    execFileSync('bash', [script, dir, '1', '2'], { stdio: 'ignore' });
    const base = await freeBase();
    nodes.push(run(1, dir, base), run(2, dir, base));
    // A node that fails leaves the other waiting for it: stop that one too, so the test ends with
    // the failure's output instead of its timeout (and no process outlives it).
    for (const n of nodes) void n.done.then((r) => r.code !== 0 && nodes.forEach((m) => m.child.kill()));
    const [one, two] = await Promise.all(nodes.map((n) => n.done));
    assert.equal(one.code, 0, `node 1:\n${one.out}\nnode 2:\n${two.out}`);
    assert.equal(two.code, 0, `node 2:\n${two.out}\nnode 1:\n${one.out}`);
    assert.match(two.out, /replies: \[ 'pong 1', 'pong 2', 'pong 3', 'pong 4', 'pong 5' \]/);
    assert.match(two.out, /peer: \{ node: 1, partition: 1, process: 1 \}/);
    assert.match(one.out, /answered: 5, peer: \{ node: 2, partition: 1, process: 1 \}/);
  } finally {
    for (const n of nodes) n.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
