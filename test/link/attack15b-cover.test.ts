/**
 * What attack run 15b tried against the link's connect path and a node's lifecycle and found
 * solid, kept as a test (THREATS, "Found nothing (attack run 15b)"). Node 2 runs in this process,
 * its partition on the hostile OS (the control calls' answers and the rings read as the hardware
 * writes them); node 1 is the test's hostile peer (./hostile-peer.ts).
 *
 * - Answers under churn: a refusal and then a CONNECT_OK for the same connect, a CONNECT_OK for a
 *   request never made, the connection replaced while a connect waits (it fails ELINKDOWN, and its
 *   answer on the new connection opens nothing), the partition restarted while one waits (the late
 *   CONNECT_OK is closed EPEERDEAD, naming the end the CONNECT named, and the new run's next
 *   connect opens): each stray answer counted once as a bad frame, none opening anything.
 * - An end holding messages past its window (THREATS case 52) whose process ends (DETACH, the end
 *   closing behind them) while the queue pair's next process runs, then: the connection replaced
 *   (what was held and what was unacknowledged fail ELINKDOWN, nothing of the old end goes out on
 *   the new connection), the peer acknowledging (every held message goes, in order, then the CLOSE),
 *   or the partition restarting (the CLOSE goes, what was held is counted failed). In each, the next
 *   process gets no completion, message or END of the old end, and heldBytes comes back to 0.
 * - A flood of CONNECTs from node 1 at a listener a local client uses too: half the listener's
 *   slots wait to be accepted, the rest are refused ECONNREFUSED (case 39's bound, as against a
 *   local flood), and each accept makes room for the local client, which is then accepted in turn.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer, withHostilePeer, type Frame, type LinkToPeer } from './hostile-peer.js';
import { RecordType } from '../../src/shared/layout.js';
import { Status } from '../../src/shared/errors.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const PORT = 7;

const requestOf = (f: Frame) => f.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET);
const closeOf = (f: Frame) => ({
  channel: f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET),
  sender: f.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET),
  status: f.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET),
});

function refusal(peer: HostilePeer, request: number, status: number): Buffer {
  const b = peer.frame(F.FrameType.CONNECT_REFUSED, F.ConnectRefusedFrame.BYTES);
  b.writeUInt32LE(request, F.ConnectRefusedFrame.REQUEST_OFFSET);
  b.writeUInt32LE(status, F.ConnectRefusedFrame.STATUS_OFFSET);
  return b;
}

/** A connect from queue pair 0 to node 1's partition 1, and the CONNECT it sent. */
async function connectOut(os: any, peer: HostilePeer): Promise<{ answer: Promise<any>; connect: Frame }> {
  const answer = os.call('connectNode', 0, 1, 1, PORT) as Promise<any>;
  answer.catch(() => {});
  const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT');
  return { answer, connect };
}

it('answers that come twice, for nothing, after the connection was replaced, or after the partition restarted open nothing and are counted once each', () =>
  withHostilePeer(certs, async (machine, peer, link) => {
    let os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });

    // Refused, then a CONNECT_OK for the same request: the refusal stands, the OK is a bad frame.
    const first = await connectOut(os, peer);
    peer.send(refusal(peer, requestOf(first.connect), Status.ECONNREFUSED));
    peer.send(peer.connectOkFrame(requestOf(first.connect), 50, 1));
    expect(await first.answer).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    await waitFor('the OK after the refusal counted', () => link().violations.badFrame === 1);

    // A CONNECT_OK for the request after the one made: a bad frame; the real answer opens the channel.
    const second = await connectOut(os, peer);
    peer.send(peer.connectOkFrame(requestOf(second.connect) + 1, 51, 1));
    peer.send(peer.connectOkFrame(requestOf(second.connect), 52, 1));
    const opened = await second.answer;
    expect(opened).toMatchObject({ ok: true, remoteNode: 1, remotePartition: 1, remoteProcess: 1 });
    expect(link().violations).toMatchObject({ total: 2, badFrame: 2 });

    // A connect waiting when node 1 connects again: it fails ELINKDOWN, the open channel ends
    // ELINKDOWN, and the answer on the new connection opens nothing (a bad frame, no CLOSE either).
    const third = await connectOut(os, peer);
    const again = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    try {
      expect(await third.answer).toMatchObject({ ok: false, code: 'ELINKDOWN', message: 'the link to node 1 went down before it answered' });
      await waitFor('the new connection up', () => link().state === 'up' && link().ups === 2);
      again.send(again.connectOkFrame(requestOf(third.connect), 53, 1));
      await waitFor('the stale answer counted', () => link().violations.badFrame === 3);
      expect(await os.readReceive(0)).toEqual([{ type: RecordType.END, channel: opened.handle, status: Status.ELINKDOWN, bytes: [] }]);
      expect(link()).toMatchObject({ downs: 1, ups: 2, unacknowledged: 0 });

      // A connect waiting when the partition restarts: its answer is closed, EPEERDEAD, naming the
      // end the CONNECT named; the new run starts with nothing, and its own connect opens.
      const fourth = await connectOut(os, again);
      await machine.partition(1).restart();
      again.send(again.connectOkFrame(requestOf(fourth.connect), 54, 1));
      const close = await again.next((f) => f.type === F.FrameType.CLOSE, 'the CLOSE of the channel the late answer opened');
      expect(closeOf(close)).toEqual({ channel: 54, sender: fourth.connect.bytes.readUInt32LE(F.ConnectFrame.SOURCE_CHANNEL_OFFSET), status: Status.EPEERDEAD });
      os = machine.partition(1).os as any;
      expect(await os.open(0)).toMatchObject({ ok: true });
      const fifth = await connectOut(os, again);
      again.send(again.connectOkFrame(requestOf(fifth.connect), 55, 1));
      expect(await fifth.answer).toMatchObject({ ok: true, remoteNode: 1 });
      expect(await os.readReceive(0)).toEqual([]);
      expect(await os.readCompletions(0)).toEqual([]);
      expect(link().violations).toMatchObject({ total: 3, badFrame: 3 });
      expect(link()).toMatchObject({ state: 'up', downs: 1 });
      expect(again.frames.filter((f) => f.type === F.FrameType.CLOSE)).toEqual([]);
    } finally {
      again.close();
    }
  }), 60_000);

const WINDOW = 64 * 1024;
const SIZE = 4096;
/** 15 messages of 4 KiB fill the 64 KiB window; the other 15 are held once the second channel's SEND waits behind them. */
const SENT = 30;

/** Open a channel to node 1 whose other end (`channel`) grants `window`; its handle. */
async function openTo(os: any, peer: HostilePeer, channel: number, window: number): Promise<number> {
  const { answer, connect } = await connectOut(os, peer);
  const ok = peer.connectOkFrame(requestOf(connect), channel, 1);
  ok.writeUInt32LE(window, F.ConnectOkFrame.WINDOW_OFFSET);
  peer.send(ok);
  const r = await answer;
  expect(r).toMatchObject({ ok: true });
  return r.handle;
}

/**
 * Channel 77 (a 64 KiB window) gets 30 messages of 4 KiB and channel 78 one behind them: 15 go,
 * 15 are held (case 52). Then the process ends (DETACH: 77 closes behind what it holds, 78 at once)
 * and the queue pair serves its next process. Returns the old end's handle.
 */
async function heldThenDetached(machine: Machine, peer: HostilePeer, link: () => LinkToPeer): Promise<number> {
  const os = machine.partition(1).os as any;
  expect(await os.open(0)).toMatchObject({ ok: true });
  const held = await openTo(os, peer, 77, WINDOW);
  const other = await openTo(os, peer, 78, 4 * 1024 * 1024);
  for (let i = 0; i < SENT; i++) expect(await os.send(0, held, new Array(SIZE).fill(i))).toEqual(expect.any(Number));
  expect(await os.send(0, other, [1, 2, 3])).toEqual(expect.any(Number));
  await waitFor('messages held for the window', () => link().heldBytes === 15 * F.messageBytes(SIZE));
  expect(peer.dataMessages(77)).toBe(15);
  expect(await os.writeRecord(0, { type: RecordType.DETACH, words: [0, 0] })).toEqual(expect.any(Number));
  await waitFor('the queue pair free again', async () => (await os.open(0))?.ok === true);
  // The old process's completions (the DETACH's) are read; from here on, whatever comes is the next process's.
  expect((await os.readCompletions(0)).map((c: { opcode: number }) => c.opcode)).toEqual([RecordType.DETACH]);
  const closed78 = await peer.next((f) => f.type === F.FrameType.CLOSE && closeOf(f).channel === 78, 'the CLOSE of channel 78');
  expect(closeOf(closed78).status).toBe(Status.EPEERDEAD);
  return held;
}

/** The next process on queue pair 0 got nothing of the old end. */
async function nextProcessSawNothing(machine: Machine): Promise<void> {
  const os = machine.partition(1).os as any;
  expect(await os.readCompletions(0)).toEqual([]);
  expect(await os.readReceive(0)).toEqual([]);
}

it('a held end closing behind its messages when the connection is replaced: held and unacknowledged fail ELINKDOWN, nothing of it goes out on the new connection, the next process hears nothing', () =>
  withHostilePeer(certs, async (machine, peer, link) => {
    await heldThenDetached(machine, peer, link);
    const again = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    try {
      await waitFor('the old connection down', () => link().downs === 1 && link().heldBytes === 0);
      await waitFor('the new connection up', () => link().state === 'up' && link().ups === 2);
      // A heartbeat round trip on the new connection, then: no DATA, no CLOSE, no ACK on it about the old ends.
      await again.next((f) => f.type === F.FrameType.HEARTBEAT, 'a heartbeat on the new connection');
      expect(again.frames.filter((f) => f.type !== F.FrameType.HEARTBEAT)).toEqual([]);
      expect(peer.frames.filter((f) => f.type === F.FrameType.CLOSE)).toEqual([]);
      // The 15 on the wire unacknowledged, and the 15 held: all failed; only the former are the link's unacknowledged.
      expect(link()).toMatchObject({ unacknowledged: 15, heldBytes: 0 });
      expect(machine.stats().partitions[0]).toMatchObject({ sent: 16, sendErrors: 30 });
      expect(link().violations.total).toBe(0);
      await nextProcessSawNothing(machine);
    } finally {
      again.close();
    }
  }), 60_000);

it('a held end closing behind its messages whose peer acknowledges: all 30 go in order, then its CLOSE; the next process hears nothing', () =>
  withHostilePeer(certs, async (machine, peer, link) => {
    const held = await heldThenDetached(machine, peer, link);
    const linkId = held & 0xffff;
    // Acknowledge what arrived, as an honest node that reads would, until the CLOSE comes.
    let acked = 0;
    while (!peer.frames.some((f) => f.type === F.FrameType.CLOSE && closeOf(f).channel === 77)) {
      await waitFor('more DATA or the CLOSE', () => peer.dataMessages(77) > acked || peer.frames.some((f) => f.type === F.FrameType.CLOSE));
      acked = peer.dataMessages(77);
      peer.send(peer.ackFrame([[linkId, acked, acked * F.messageBytes(SIZE)]]));
    }
    const frames = peer.frames.filter((f) => (f.type === F.FrameType.DATA && f.bytes.readUInt32LE(F.DataFrame.CHANNEL_OFFSET) === 77) || f.type === F.FrameType.CLOSE);
    const last = frames.pop()!;
    expect(closeOf(last)).toEqual({ channel: 77, sender: linkId, status: Status.EPEERDEAD });
    // Every message, in order, each one's bytes its index.
    const firsts: number[] = [];
    for (const f of frames) {
      const n = f.bytes.readUInt32LE(F.DataFrame.COUNT_OFFSET);
      const seq = f.bytes.readUInt32LE(F.DataFrame.SEQUENCE_OFFSET);
      for (let i = 0; i < n; i++) {
        const at = F.DataFrame.FIRST_MESSAGE_OFFSET + i * F.messageBytes(SIZE) + F.DataMessage.HEADER_BYTES;
        firsts.push(seq + i === f.bytes[at] + 1 ? f.bytes[at] : -1);
      }
    }
    expect(firsts).toEqual(Array.from({ length: SENT }, (_, i) => i));
    await waitFor('nothing held', () => link().heldBytes === 0);
    expect(machine.stats().partitions[0]).toMatchObject({ sent: SENT + 1, sendErrors: 0 });
    expect(link()).toMatchObject({ state: 'up', downs: 0, unacknowledged: 0 });
    expect(link().violations.total).toBe(0);
    await nextProcessSawNothing(machine);
  }), 60_000);

it('a held end closing behind its messages when its partition restarts: the CLOSE goes, what was held is counted failed, the new run starts with nothing', () =>
  withHostilePeer(certs, async (machine, peer, link) => {
    await heldThenDetached(machine, peer, link);
    await machine.partition(1).restart();
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE && closeOf(f).channel === 77, 'the CLOSE of channel 77');
    expect(closeOf(close).status).toBe(Status.EPEERDEAD);
    await waitFor('nothing held', () => link().heldBytes === 0);
    expect(peer.dataMessages(77)).toBe(15);
    expect(machine.stats().partitions[0]).toMatchObject({ sent: 16, sendErrors: 15 });
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    await nextProcessSawNothing(machine);
    expect(link()).toMatchObject({ state: 'up', downs: 0, unacknowledged: 0 });
    expect(link().violations.total).toBe(0);
  }), 60_000);

it("a peer's flood of CONNECTs at a listener shared with a local client takes at most half the listener's slots; accepting makes room, and the local client's connect then opens", async () => {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    channelsPerPartition: 64,
    partitions: [
      { id: 1, name: 'server', os: HOSTILE_OS },
      { id: 2, name: 'local', os: HOSTILE_OS },
    ],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000 },
  });
  let peer: HostilePeer | undefined;
  const link = () => machine.stats().links!.find((l: { node: number }) => l.node === 1)!;
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1', () => link().state === 'up');
    const server = machine.partition(1).os as any;
    const local = machine.partition(2).os as any;
    expect(await server.open(0)).toMatchObject({ ok: true });
    expect(await local.open(0)).toMatchObject({ ok: true });
    expect(await server.listen(0, PORT)).toEqual({ ok: true });
    // 100 CONNECTs from node 1, none accepted yet.
    const FLOOD = 100;
    for (let i = 1; i <= FLOOD; i++) {
      const b = peer.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
      b.writeUInt32LE(i, F.ConnectFrame.REQUEST_OFFSET);
      b.writeUInt32LE(1, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
      b.writeUInt32LE(1, F.ConnectFrame.SOURCE_PROCESS_OFFSET);
      b.writeUInt32LE(1, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
      b.writeUInt32LE(PORT, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
      b.writeUInt32LE(1000 + i, F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
      b.writeUInt32LE(4 * 1024 * 1024, F.ConnectFrame.WINDOW_OFFSET);
      b.writeUInt32LE(16 * 1024, F.ConnectFrame.MAX_MESSAGE_OFFSET);
      peer.send(b);
    }
    const answered = () => peer!.frames.filter((f) => f.type === F.FrameType.CONNECT_OK || f.type === F.FrameType.CONNECT_REFUSED);
    await waitFor('every CONNECT answered', () => answered().length === FLOOD);
    const oks = answered().filter((f) => f.type === F.FrameType.CONNECT_OK);
    const refusals = answered().filter((f) => f.type === F.FrameType.CONNECT_REFUSED).map((f) => f.bytes.readUInt32LE(F.ConnectRefusedFrame.STATUS_OFFSET));
    // Half the server's 64 slots wait to be accepted; the rest are refused, ECONNREFUSED, none counted a violation.
    expect(oks).toHaveLength(32);
    expect(refusals).toEqual(new Array(FLOOD - 32).fill(Status.ECONNREFUSED));
    expect(link().violations.total).toBe(0);
    // The local client is refused too while the backlog is at its bound (as against a local flood, case 39)...
    expect(await local.connect(0, 1, PORT)).toMatchObject({ ok: false, code: 'ECONNREFUSED' });
    // ...and gets in once the server accepts one of node 1's, which its own slots still allow.
    expect(await server.accept(0, PORT)).toMatchObject({ ok: true, remoteNode: 1, remotePartition: 1 });
    const opened = await local.connect(0, 1, PORT);
    expect(opened).toMatchObject({ ok: true, remoteNode: 2, remotePartition: 1 });
    // The server's accept order: node 1's 31 left, then the local client.
    const accepted: number[] = [];
    for (let i = 0; i < 32; i++) accepted.push((await server.accept(0, PORT)).remoteNode);
    expect(accepted).toEqual([...new Array(31).fill(1), 2]);
    expect(machine.stats().partitions.map((p: { violations: { total: number } }) => p.violations.total)).toEqual([0, 0]);
  } finally {
    peer?.close();
    await machine.close();
  }
}, 60_000);
