/**
 * THREATS case 111 (attack run 17a): a congested link held back its partitions' channels to
 * other nodes. Node 2 (this process) links to a hostile node 1 (./hostile-peer.ts) and an honest
 * node 3 (this process too). One process of node 2's partition 1 streams to node 1 and writes to
 * node 3 on a second channel. Node 1 grants the stream a 1 GiB window (the most a node may) and
 * stops reading its socket: past 4 MiB queued the link to node 1 is congested, and the stream's
 * SEND waits at the head of the process's send ring. Every SEND behind it waited too, node 3's
 * channel among them, for as long as node 1 kept its heartbeats coming.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2, 3]);
afterAll(() => certs.remove());
const ROLES = new URL('../fixtures/security/attack17a-roles.mjs', import.meta.url);
const PORT = 7;
const COUNT = 50;
/** The most window a node may grant (more is a bad frame): node 1 never needs to acknowledge. */
const HUGE_WINDOW = 1024 * 1024 * 1024;

it('111: a node that grants a huge window and stops reading congests its own link only: the same process\'s channel to another node goes on', async () => {
  const machines: Machine[] = [];
  let peer: HostilePeer | undefined;
  try {
    const c = await createMachine({
      wait: 'sleep',
      partitions: [{ id: 1 }],
      node: { id: 3, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 2 }], tls: certs.tls(3), deadAfterMs: 5000 },
    });
    machines.push(c);
    const a = await createMachine({
      wait: 'sleep',
      partitions: [{ id: 1 }],
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3, host: LOOPBACK, port: c.listening!.port }], tls: certs.tls(2), deadAfterMs: 5000 },
    });
    machines.push(a);
    peer = await HostilePeer.dial(a.listening!.port, certs.tls(1));
    const linkTo = (node: number) => a.stats().links!.find((l) => l.node === node)!;
    await waitFor('both links up', () => linkTo(1).state === 'up' && linkTo(3).state === 'up');

    const receiver = await c.partition(1).spawn(ROLES, { role: 'receive', port: PORT, count: COUNT });
    const sender = await a.partition(1).spawn(ROLES, { role: 'twoNodes', slow: 1, honest: 3, port: PORT, slowSize: 16 * 1024, count: COUNT, settleMs: 300 });
    sender.result.catch(() => {});

    // Node 1 opens the stream's channel with a 1 GiB window, then reads nothing more.
    const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the stream\'s CONNECT');
    const ok = peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 40, 1);
    ok.writeUInt32LE(HUGE_WINDOW, F.ConnectOkFrame.WINDOW_OFFSET);
    peer.send(ok);
    peer.pauseReading();

    // Node 3 gets every message of the second channel, in order, while node 1's link stays up.
    const seen = () => JSON.stringify({ toNode1: linkTo(1).bytesSent, heldBytes: linkTo(1).heldBytes, toNode3: linkTo(3).messagesSent, partition: a.stats().partitions[0] });
    await waitFor('node 3 to get the second channel\'s messages', () => linkTo(3).messagesSent >= COUNT, 20_000).catch((e) => {
      throw new Error(`${e.message}: ${seen()}`);
    });
    expect(await receiver.result).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    const done = (await sender.result) as { toSlow: number; toHonest: number; slowError?: string };
    expect(done.toHonest).toBe(COUNT);
    expect(done.slowError).toBeUndefined();
    // The stream did congest the link (more went into it than 4 MiB of socket), and nothing was counted against either peer.
    expect(done.toSlow * 16 * 1024).toBeGreaterThan(4 * 1024 * 1024);
    expect(linkTo(1)).toMatchObject({ state: 'up', downs: 0 });
    expect(linkTo(1).violations.total).toBe(0);
    expect(linkTo(3)).toMatchObject({ state: 'up', downs: 0, messagesSent: COUNT });
    expect(linkTo(3).violations.total).toBe(0);
    // The stream's SEND that had node 3's behind it was held (case 52's hold), not dropped: once
    // node 1 reads again the link drains and what was held goes, no send failing.
    expect(linkTo(1).heldBytes).toBeGreaterThan(0);
    peer.resumeReading();
    await waitFor('what was held for node 1 sent once its link drained', () => linkTo(1).heldBytes === 0);
    expect(a.stats().partitions[0].sendErrors).toBe(0);
  } finally {
    peer?.close();
    for (const m of machines.reverse()) await m.close();
  }
}, 90_000);
