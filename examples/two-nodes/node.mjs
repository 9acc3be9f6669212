// One of two lparlink nodes, each run in its own terminal (README, "Several nodes"):
//
//   node examples/two-nodes/node.mjs 1 CERTDIR     # node 1: listens on 7001, serves "pong"
//   node examples/two-nodes/node.mjs 2 CERTDIR     # node 2: listens on 7002, pings node 1
//
// CERTDIR holds ca.crt and node-<id>.{key,crt} from tools/link-certs.sh. Node 1 dials node 2
// (the smaller id dials, docs/LINK.md); node 2's ping connects to partition 1 of node 1 and
// retries until the link is up and pong listens.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createMachine } from 'lparlink';

const id = Number(process.argv[2]);
const dir = process.argv[3];
if ((id !== 1 && id !== 2) || dir === undefined) {
  console.error('usage: node examples/two-nodes/node.mjs 1|2 CERTDIR');
  process.exit(2);
}
const other = 3 - id;
const machine = await createMachine({
  partitions: [{ id: 1 }],
  node: {
    id,
    listen: { port: 7000 + id },
    peers: [{ id: other, host: '127.0.0.1', port: 7000 + other }],
    tls: {
      key: readFileSync(join(dir, `node-${id}.key`)),
      cert: readFileSync(join(dir, `node-${id}.crt`)),
      ca: readFileSync(join(dir, 'ca.crt')),
    },
  },
});
machine.on('linkUp', ({ node }) => console.log(`node ${id}: link to node ${node} up`));
machine.on('linkDown', ({ node, reason }) => console.log(`node ${id}: link to node ${node} down (${reason})`));

const program = new URL(id === 1 ? './pong.mjs' : './ping.mjs', import.meta.url);
const p = await machine.partition(1).spawn(program, { node: other, partition: 1, port: 7, rounds: 5 });
console.log(`node ${id}:`, await p.result);
console.log(`node ${id}: link stats`, machine.stats().links);
await machine.close();
