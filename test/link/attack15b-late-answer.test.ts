/**
 * THREATS case 107: a connect to another node whose process ended before that node answered was
 * never answered to the partition when the answer was a CONNECT_OK. RemoteConnect took the connect
 * off its list (so neither the answer bound, ETIMEDOUT, nor the link's end, ELINKDOWN, came to it
 * later), closed the channel the other node had opened (its process was gone), and left the
 * partition's control call waiting for good: the call's race in the partition OS, comlink's
 * listener and the ended process behind them stayed in the partition's heap. A process ends with a
 * connect in flight whenever its main throws or returns before it settles (here: Promise.all of a
 * connect to node 1 and one on this node that is refused at once), and the other node chooses when
 * it answers: one that answers each such connect only once the process has gone grows the
 * partition's heap by ~5.8 KB a connect, for as long as the partition runs. Now the call is answered
 * (ECLOSED) as the channel is closed.
 *
 * Node 2 runs in this process with one standard partition (one process slot, so that a program
 * starts only once the previous one's queue pair is back, its DETACH served); node 1 is the test's
 * hostile peer.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer, type Frame } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { waitFor } from '../security/harness.js';
import { Status } from '../../src/shared/errors.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const ROLES = new URL('../fixtures/security/attack15b-roles.mjs', import.meta.url);
const PORT = 7;
/** Nobody listens there: the connect on node 2 beside the remote one is refused at once. */
const REFUSED_PORT = 99;

async function withNode(body: (machine: Machine, peer: HostilePeer) => Promise<void>): Promise<void> {
  const machine = await createMachine({
    wait: 'sleep',
    processesPerPartition: 1,
    partitions: [{ id: 1, name: 'client' }],
    // The answer bound is 10 × deadAfterMs: 10 s, longer than the test waits for any answer.
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 1000 },
  });
  let peer: HostilePeer | undefined;
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1', () => machine.stats().links![0].state === 'up');
    await body(machine, peer);
  } finally {
    peer?.close();
    await machine.close();
  }
}

/** Spawn on partition 1 once its one process slot is back (the previous program's DETACH served). */
async function spawnWhenFree(machine: Machine, args: object) {
  for (;;) {
    try {
      return await machine.partition(1).spawn(ROLES, args);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EMFILE') throw e;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/**
 * One connect whose process ends before node 1 answers it: the program throws (the connect on this
 * node is refused), the next program starts (the queue pair is back), and only then node 1
 * answers CONNECT_OK. Returns that next program's handle and the CLOSE node 2 answered with.
 */
async function answerAfterEnd(machine: Machine, peer: HostilePeer, tag: string, next: object): Promise<{ next: Awaited<ReturnType<typeof spawnWhenFree>>; connect: Frame; close: Frame }> {
  const run = await spawnWhenFree(machine, { role: 'connectAndFail', node: 1, partition: 1, port: PORT, refusedPort: REFUSED_PORT, tag });
  const ended = run.result.then(
    () => 'returned',
    (e: { code?: string }) => e.code,
  );
  const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT');
  expect(await ended).toBe('ECONNREFUSED');
  const after = await spawnWhenFree(machine, next);
  const channel = 0x4000 + Number(tag.replace(/\D/g, '') || 0);
  peer.send(peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), channel, 1));
  const close = await peer.next((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === channel, 'the CLOSE of the channel the answer opened');
  return { next: after, connect, close };
}

it('107: a CONNECT_OK for a connect whose process ended closes the channel and answers the connect (ECLOSED): it does not wait for good', () =>
  withNode(async (machine, peer) => {
    const { next, connect, close } = await answerAfterEnd(machine, peer, 'late', { role: 'readOutcomes', waitMs: 15_000 });
    // The channel node 1 opened is closed at once, naming the end the CONNECT named, EPEERDEAD.
    expect(close.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET)).toBe(connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET));
    expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).toBe(Status.EPEERDEAD);
    // The ended program's connect settled: its process had ended, so it reads ECLOSED (before: 'pending').
    expect(await next.result).toEqual({ late: 'ECLOSED' });
    // The answer was no violation, and the partition's next connect to node 1 opens.
    const link = machine.stats().links![0];
    expect(link).toMatchObject({ state: 'up', downs: 0 });
    expect(link.violations.total).toBe(0);
    const opened = await spawnWhenFree(machine, { role: 'connectOnce', node: 1, partition: 1, port: PORT });
    const again = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the next CONNECT');
    peer.send(peer.connectOkFrame(again.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 0x5000, 1));
    expect(await opened.result).toEqual({ node: 1, partition: 1 });
  }), 60_000);

it("107: a node that answers each connect once its process has ended does not grow the partition's heap (300 connects)", () =>
  withNode(async (machine, peer) => {
    const heap: number[] = [];
    for (let i = 1; i <= 400; i++) {
      const mark = i === 100 || i === 400;
      const { next } = await answerAfterEnd(machine, peer, 'loop', { role: mark ? 'heap' : 'readOutcomes', waitMs: 0 });
      const r = await next.result;
      if (mark) heap.push(r as number);
    }
    // ~5.8 KB a connect before (1.73 MB over these 300); now what settles is let go.
    expect(heap[1] - heap[0]).toBeLessThan(512 * 1024);
  }), 120_000);
