/**
 * THREATS case 57: connects to another node wait for its answer at most 1024 at a time per link,
 * shared by every partition of the node; a partition's waiting connects used to be bounded only by
 * the channel slot each holds while CONNECTING. But a partition may CLOSE its own CONNECTING end
 * (its handle is predictable: the lowest free slot, one generation on), and the slot was freed at
 * once while the connect still waited for the answer. A partition that connected and closed over
 * and over, to a node that answers slowly (here: one that never answers and keeps its link up),
 * took all 1024 waiting places of the link, and every other partition's connect to that node
 * failed EAGAIN until the answers' bound (10 × deadAfterMs) passed. Now each partition may have
 * at most its channel slots of connects waiting per link (and never more than a quarter of the
 * link's), whether their ends are still open or not: past that, its own connects are refused.
 *
 * The node runs in this process, so that its partitions can run the hostile OS (their rings are
 * theirs to write); node 1 is a hostile peer that answers nothing but heartbeats.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
/** The answers' bound is 10 × deadAfterMs (at least 2 s): 30 s, so none of the attacker's connects times out during a test. */
const DEAD_AFTER_MS = 3000;
/** remote-connect.ts: connects waiting per link, all partitions together. */
const MAX_PENDING_PER_LINK = 1024;
const PORT = 7;
const ATTACKER = 1;
const HONEST = 2;
afterAll(() => certs.remove());

/** Node 2, in this process, its partitions 1 (attacker) and 2 (honest) on the hostile OS, linked to a hostile node 1 that never answers. */
async function withNode(channelsPerPartition: number, body: (m: Machine, peer: HostilePeer) => Promise<void>): Promise<void> {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    channelsPerPartition,
    partitions: [
      { id: ATTACKER, name: 'attacker', os: HOSTILE_OS },
      { id: HONEST, name: 'honest', os: HOSTILE_OS },
    ],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: DEAD_AFTER_MS },
  });
  let peer: HostilePeer | undefined;
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1 to come up', () => machine.stats().links?.find((l: { node: number }) => l.node === 1)?.state === 'up');
    await body(machine, peer);
  } finally {
    peer?.close();
    await machine.close();
  }
}

const connectsFrom = (peer: HostilePeer, partition: number) =>
  peer.frames.filter((f) => f.type === F.FrameType.CONNECT && f.bytes.readUInt32LE(F.ConnectFrame.SOURCE_PARTITION_OFFSET) === partition);

/** The honest partition's connect to node 1 goes out (not refused at once), and opens when node 1 answers it. */
async function honestConnectGoesThrough(machine: Machine, peer: HostilePeer): Promise<void> {
  const honest = machine.partition(HONEST).os as any;
  expect(await honest.open(0)).toMatchObject({ ok: true });
  const connect = honest.call('connectNode', 0, 1, 1, PORT) as Promise<any>;
  const frame = peer.next((f) => f.type === F.FrameType.CONNECT && f.bytes.readUInt32LE(F.ConnectFrame.SOURCE_PARTITION_OFFSET) === HONEST, 'the honest CONNECT');
  frame.catch(() => {});
  const first = await Promise.race([connect.then((answer) => ({ answer, frame: undefined })), frame.then((f) => ({ answer: undefined, frame: f }))]);
  expect(first.answer, "the honest partition's connect was answered before it went out").toBeUndefined();
  peer.send(peer.connectOkFrame(first.frame!.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 77, 1));
  expect(await connect).toMatchObject({ ok: true, remoteNode: 1, remotePartition: 1, remoteProcess: 1 });
}

it('57: a partition that closes its connecting ends cannot take the link\'s waiting connects from the others', () =>
  withNode(64, async (machine, peer) => {
    const attacker = machine.partition(ATTACKER).os as any;
    expect(await attacker.open(0)).toMatchObject({ ok: true });

    // Connect and close the CONNECTING end at once, more times than the link lets connects wait.
    const tries = MAX_PENDING_PER_LINK + 16;
    const attack = await attacker.abandonConnects(0, 1, 1, PORT, tries);
    expect(attack.failed).toBeUndefined();

    // Another partition's connect to the same node still goes out, and opens when the node answers.
    await honestConnectGoesThrough(machine, peer);

    // The attacker may leave its channel slots' worth waiting, no more: the rest of its connects are refused, EAGAIN.
    expect({ abandoned: attack.abandoned, refused: attack.refused }).toEqual({ abandoned: 64, refused: { EAGAIN: tries - 64 } });
    await waitFor('the CONNECTs of the abandoned ends', () => connectsFrom(peer, ATTACKER).length >= 64);
    expect(connectsFrom(peer, ATTACKER)).toHaveLength(64);
    // Its own next connect is refused too, open slots or not: its abandoned connects wait for their answers.
    expect(await attacker.call('connectNode', 0, 1, 1, PORT)).toMatchObject({ ok: false, code: 'EAGAIN' });

    // An answer to an abandoned connect opens nothing: the node closes the channel the answer opened.
    const abandoned = connectsFrom(peer, ATTACKER)[0];
    peer.send(peer.connectOkFrame(abandoned.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), 78, 1));
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === 78, 'the CLOSE of the abandoned channel');
    expect(close.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET)).toBe(abandoned.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET));
    // That connect waits no more: the attacker may have one more waiting.
    void attacker.call('connectNode', 0, 1, 1, PORT);
    await waitFor("the attacker's CONNECT after one was answered", () => connectsFrom(peer, ATTACKER).length === 65);
  }), 60_000);

it('57: a partition with more channel slots than a quarter of the link\'s waiting connects may have only that quarter waiting', () =>
  withNode(2048, async (machine, peer) => {
    const attacker = machine.partition(ATTACKER).os as any;
    expect(await attacker.open(0)).toMatchObject({ ok: true });
    // Connects that each hold their slot, as an honest OS's would: as many as the link lets wait, and more.
    const tries = MAX_PENDING_PER_LINK + 16;
    const held = await attacker.postConnects(0, 1, 1, PORT, tries);
    expect(held.failed).toBeUndefined();
    await honestConnectGoesThrough(machine, peer);
    expect(held).toEqual({ waiting: MAX_PENDING_PER_LINK / 4, refused: { EAGAIN: tries - MAX_PENDING_PER_LINK / 4 } });
    await waitFor('the CONNECTs of the waiting connects', () => connectsFrom(peer, ATTACKER).length >= MAX_PENDING_PER_LINK / 4);
    expect(connectsFrom(peer, ATTACKER)).toHaveLength(MAX_PENDING_PER_LINK / 4);
  }), 60_000);
