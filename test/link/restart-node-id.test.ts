/**
 * On a node, a channel between two of its own partitions names this node as the peer's node
 * (`remoteNode` in `proc.connections()` and in `stats()`), not 0. A restarted partition's new port
 * was made without the node's id, so after `restart()` its table said node 0 for the same peer.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { LOOPBACK } from './pair.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());

const ECHO_SERVER = new URL('../fixtures/echo-server.mjs', import.meta.url);
const ECHO_CLIENT = new URL('../fixtures/echo-client.mjs', import.meta.url);

it('a restarted partition of node 2 names its local peer\'s node as 2, in its own table and in stats()', async () => {
  const machine = await createMachine({
    partitions: [{ id: 1 }, { id: 2 }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2) },
  });
  try {
    const run = async () => {
      const server = await machine.partition(1).spawn(ECHO_SERVER, { port: 7 });
      const client = await machine.partition(2).spawn(ECHO_CLIENT, { partition: 1, port: 7, n: 1 });
      const [{ table, peer }] = (await Promise.all([client.result, server.result])) as [{ table: Array<{ remoteNode: number }>; peer: { node: number } }, unknown];
      return { tableNodes: table.map((r) => r.remoteNode), peerNode: peer.node };
    };
    expect(await run()).toEqual({ tableNodes: [2], peerNode: 2 });
    await machine.partition(2).restart();
    expect(await run()).toEqual({ tableNodes: [2], peerNode: 2 });
    // And stats() while a channel of the restarted partition is open: the server's end waits for it.
    const server = await machine.partition(1).spawn(ECHO_SERVER, { port: 8 });
    const waiting = await machine.partition(2).spawn(new URL('data:text/javascript,export default async (proc) => { const ch = await proc.connect({ partition: 1, port: 8 }); await new Promise((r) => setTimeout(r, 60000)); await ch.close(); }'));
    let rows: Array<{ remoteNode: number }> = [];
    for (let i = 0; i < 500 && rows.length === 0; i++) {
      rows = machine.stats().partitions[1].channels;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(rows.map((r) => r.remoteNode)).toEqual([2]);
    void server.result.catch(() => {});
    void waiting.result.catch(() => {});
  } finally {
    await machine.close();
  }
});
