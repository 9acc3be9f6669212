// One of two lparlink nodes, each run in its own terminal (README, "Several nodes"):
//
//   node examples/two-nodes/node.mjs 1 CERTDIR     # node 1: listens on 7001, serves "pong"
//   node examples/two-nodes/node.mjs 2 CERTDIR     # node 2: listens on 7002, pings node 1
//
// CERTDIR holds ca.crt and node-<id>.{key,crt} from tools/link-certs.sh. Node 1 dials node 2
// (the smaller id dials, docs/LINK.md); node 2's ping connects to partition 1 of node 1 and
// retries until pong listens. A third argument moves both ports (node <id> listens on BASE + id;
// default 7000). A node whose link is not up within 60 s says what it waited for, with its link
// counters, and exits 1.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { createMachine } from 'lparlink';

const id = Number(process.argv[2]);
const dir = process.argv[3];
const base = Number(process.argv[4] ?? 7000);
if ((id !== 1 && id !== 2) || dir === undefined || !Number.isInteger(base) || base < 1024 || base > 65533) {
  console.error('usage: node examples/two-nodes/node.mjs 1|2 CERTDIR [BASEPORT, 1024 to 65533; default 7000]');
  process.exit(2);
}
const other = 3 - id;
const machine = await createMachine({
  partitions: [{ id: 1 }],
  node: {
    id,
    listen: { port: base + id },
    peers: [{ id: other, host: '127.0.0.1', port: base + other }],
    tls: {
      key: readFileSync(join(dir, `node-${id}.key`)),
      cert: readFileSync(join(dir, `node-${id}.crt`)),
      ca: readFileSync(join(dir, 'ca.crt')),
    },
  },
});
console.log(`node ${id}: listening on port ${base + id}; waiting for node ${other} (port ${base + other})`);
/** The link's counters, and the handshakes from nodes this one does not know (the listening side counts those). */
// Printed in full (console.log stops at depth 2, which would hide the violations by kind).
const linkCounters = () => inspect({ links: machine.stats().links, unknownIdentities: machine.stats().unknownIdentities }, { depth: 4 });
machine.on('linkDown', ({ node, reason }) => console.log(`node ${id}: link to node ${node} down (${reason})`));
// A refused handshake says why (each reason once: the dialing side retries every 2 s).
const refusedFor = new Set();
machine.on('linkRefused', ({ node, reason }) => {
  if (refusedFor.has(reason)) return;
  refusedFor.add(reason);
  console.error(`node ${id}: handshake with node ${node} refused: ${reason}`);
});

// linkUp() holds the process open while it waits (a 'linkUp' listener alone would not: the
// sockets live in the hardware worker, which does not hold the process while idle).
try {
  await machine.linkUp(other, { timeoutMs: 60_000 });
} catch (e) {
  // Its message says what the counters show: authFailures or unknownIdentities above 0, the two
  // nodes' certificates do not come from one CA (or name other ids); dialFailures growing, nothing
  // answers at the other node's port; dials false on both nodes, neither dials the other
  // (docs/LINK.md, "Who dials").
  console.error(`node ${id}: ${e.message}; is node ${other} running, with certificates from the same tools/link-certs.sh run?`, linkCounters());
  process.exit(1);
}
console.log(`node ${id}: link to node ${other} up`);

const program = new URL(id === 1 ? './pong.mjs' : './ping.mjs', import.meta.url);
const p = await machine.partition(1).spawn(program, { node: other, partition: 1, port: 7, rounds: 5 });
try {
  console.log(`node ${id}:`, await p.result);
} catch (e) {
  // ping gives up as the 60 s above do (its connect retries as long): say why, with the counters.
  console.error(`node ${id}: ${e.message}`, linkCounters());
  process.exit(1);
}
console.log(`node ${id}: link stats`, linkCounters());
// A node's close() hands its links what its programs sent, and their channels' ends, first.
await machine.close();
