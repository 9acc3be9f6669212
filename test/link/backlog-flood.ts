/**
 * The scenario of THREATS cases 112 and 113: node 2 (this process) serves port 7 of its partition 1,
 * accepting one connection at a time and closing it. Hostile nodes (./hostile-peer.ts) each keep
 * IN_FLIGHT CONNECTs there, answering every refusal and every CLOSE with another, so each place
 * the server frees is theirs again within a round trip; honest node 3 (this process too) connects
 * over and over as connect's retry does. What each node got of ACCEPTS accepts is the outcome.
 */
import { expect } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';

const PORT = 7;
/** Connections node 2's server accepts (and closes at once), one at a time. */
export const ACCEPTS = 240;
/** CONNECTs each hostile node keeps in flight: more than the backlog takes, so some are always refused and sent again. */
const IN_FLIGHT = 40;
/** The honest node. */
const HONEST = 3;

/** A CONNECT to partition 1's port PORT, from partition 1, with a key made of the request's low byte. */
function connectFrame(peer: HostilePeer, request: number): Buffer {
  return peer.connectFrame({ request, key: new Uint8Array(F.LINK_KEY_BYTES).fill(request & 0xff), sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 1000 + request });
}

export interface BacklogFloodOutcome {
  /** Accepts by the node whose connect they were. */
  from: Record<number, number>;
  /** Channels the honest node opened (each accepted once it was). */
  honestConnected: number;
  /** Each link's violations on node 2, by node. */
  violations: Record<number, number>;
}

/** Run the flood with the hostile nodes `hostileNodes` (ids other than 2 and 3). */
export async function floodBacklog(hostileNodes: number[]): Promise<BacklogFloodOutcome> {
  const certs = makeCertificates([2, HONEST, ...hostileNodes]);
  const machines: Machine[] = [];
  const peers: HostilePeer[] = [];
  let flooding = true;
  try {
    const c = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: HONEST, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 2 }], tls: certs.tls(HONEST), deadAfterMs: 5000 },
    });
    machines.push(c);
    const a = await createMachine({
      wait: 'sleep',
      testHooks: true,
      partitions: [{ id: 1, os: HOSTILE_OS }],
      node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [...hostileNodes.map((id) => ({ id })), { id: HONEST, host: LOOPBACK, port: c.listening!.port }], tls: certs.tls(2), deadAfterMs: 5000 },
    });
    machines.push(a);
    for (const id of hostileNodes) peers.push(await HostilePeer.dial(a.listening!.port, certs.tls(id)));
    const linkTo = (node: number) => a.stats().links!.find((l) => l.node === node)!;
    await waitFor('every link up', () => [...hostileNodes, HONEST].every((n) => linkTo(n).state === 'up'));
    const aOs = a.partition(1).os as any;
    const cOs = c.partition(1).os as any;
    expect(await aOs.open(0)).toMatchObject({ ok: true });
    expect(await cOs.open(0)).toMatchObject({ ok: true });
    expect(await aOs.listen(0, PORT)).toMatchObject({ ok: true });

    // Each hostile node: IN_FLIGHT CONNECTs, and another for each refusal or CLOSE that comes back.
    const flood = async (hostile: HostilePeer): Promise<void> => {
      let request = 1;
      for (let i = 0; i < IN_FLIGHT; i++) hostile.send(connectFrame(hostile, request++));
      while (flooding && !hostile.closed) {
        await hostile.next((f) => f.type === F.FrameType.CONNECT_REFUSED || f.type === F.FrameType.CLOSE, 'a refusal or a CLOSE', 60_000).catch(() => undefined);
        if (flooding) hostile.send(connectFrame(hostile, request++));
      }
    };
    const refills = peers.map(flood);
    const oks = (p: HostilePeer) => p.frames.filter((f) => f.type === F.FrameType.CONNECT_OK).length;
    await waitFor('the hostile nodes holding the backlog', () => peers.reduce((n, p) => n + oks(p), 0) >= 16 * hostileNodes.length);

    // The honest node connects over and over, as connect's retry does (a refusal waits 50 ms, its longest backoff), closing each channel it gets.
    let honestConnected = 0;
    const honest = (async () => {
      while (flooding) {
        const r = await cOs.call('connectNode', 0, 2, 1, PORT);
        if (r?.ok) {
          honestConnected++;
          await cOs.close(0, r.handle);
        } else {
          expect(r).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    })();

    // The server accepts ACCEPTS connections, one at a time, and closes each.
    const from: Record<number, number> = Object.fromEntries([...hostileNodes, HONEST].map((n) => [n, 0]));
    for (let i = 0; i < ACCEPTS; i++) {
      const g = await aOs.accept(0, PORT);
      expect(g).toMatchObject({ ok: true });
      from[g.remoteNode]++;
      expect(await aOs.close(0, g.handle)).toEqual(expect.any(Number));
      // Let the hostile nodes see the CLOSE and the honest one retry, as a server that does some work for each would.
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    flooding = false;
    await honest;
    const violations = Object.fromEntries([...hostileNodes, HONEST].map((n) => [n, linkTo(n).violations.total]));
    for (const p of peers) p.close();
    await Promise.all(refills);
    return { from, honestConnected, violations };
  } finally {
    flooding = false;
    for (const p of peers) p.close();
    for (const m of machines.reverse()) await m.close();
    certs.remove();
  }
}
