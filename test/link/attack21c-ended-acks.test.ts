/**
 * THREATS case 125: ACKs and CLOSEs naming an end that had ended but was not closed yet were taken
 * without a count, however many. Case 114 bounds what a peer may send naming an end this node
 * *closed* (the entry free again); but an end that only *ended* (the peer's CLOSE, a window
 * overrun here, the link replaced) stays in its slot until its process closes it, and for all that
 * time `LinkedChannels.ack` and `LinkedChannels.close` returned early on it, counting nothing: a
 * peer could send ACK entries and CLOSEs naming it without end and the link's `violations` read 0.
 * So too for an end whose peer's CLOSE waits behind messages kept for its full ring (still OPEN).
 *
 * What an honest peer may send naming such an end: nothing after its own CLOSE (its ACKs go out
 * before it); after a CLOSE of this node's, the ACK entries for sends it had not acknowledged and
 * one CLOSE crossing ours (NodeLink.excusesLate, as case 114); on a new connection, nothing.
 *
 * Node 2 runs in this process, its partition on the hostile OS (each part on its own queue pair:
 * its own receive ring), and never closes the ended ends; node 1 is the test's hostile peer.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType } from '../../src/shared/layout.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const WINDOW = 64 * 1024;
const NOBODY = 999;

/** Every frame node 1 sent before its answer has been read once node 2 refuses a CONNECT sent after them. */
async function barrier(peer: HostilePeer, request: number): Promise<void> {
  peer.send(peer.connectFrame({ request, key: new Uint8Array(16), sourcePartition: 1, sourceProcess: 1, partition: 1, port: NOBODY, sourceChannel: 1 }));
  await peer.next((f) => f.type === F.FrameType.CONNECT_REFUSED && f.bytes.readUInt32LE(F.ConnectRefusedFrame.REQUEST_OFFSET) === request, `the answer to barrier ${request}`);
}

/** `n` ACK entries naming `channel`, in frames of at most 250 (the node's frame bound with a 4 KiB ring is ~760). */
function acks(peer: HostilePeer, channel: number, n: number): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < n; at += 250) {
    frames.push(peer.ackFrame(Array.from({ length: Math.min(250, n - at) }, (_, i) => [channel, at + i + 1, 16 * (at + i + 1)] as [number, number, number])));
  }
  return Buffer.concat(frames);
}

it('125: ACKs and CLOSEs naming an ended end are counted past what an honest peer could send', async () => {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    receiveRingBytes: 4096,
    partitions: [{ id: 1, name: 'server', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000, channelWindowBytes: WINDOW },
  });
  const link = () => machine.stats().links!.find((l) => l.node === 1)!;
  const os = machine.partition(1).os as any;
  let peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
  try {
    await waitFor('the link to node 1', () => link().state === 'up');
    for (const qp of [0, 1, 2, 3]) {
      expect(await os.open(qp)).toMatchObject({ ok: true });
      expect(await os.listen(qp, 10 + qp)).toMatchObject({ ok: true });
    }
    const open = async (qp: number, request: number, sourceChannel: number) => {
      const accepted = os.accept(qp, 10 + qp);
      const opened = await peer.openChannel({ request, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 10 + qp, sourceChannel });
      const grant = await accepted;
      expect(grant).toMatchObject({ ok: true });
      return { ...opened, handle: grant.handle as number };
    };
    const counted = () => ({ ...link().violations });
    const none = { total: 0, keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 };

    // (a) The peer closed its end (node 2's 3 sends unacknowledged): the END reaches the process,
    // which does not close. 1,000 ACK entries and 2 more CLOSEs naming the end: all counted.
    const a = await open(0, 1, 5);
    expect(await os.sendMany(0, a.handle, 3, 16)).toBe(3);
    await waitFor('node 2 to send its 3 messages', () => peer.dataMessages(5) === 3);
    peer.send(peer.closeFrame(a.channel, 5, Status.OK));
    await waitFor('the END on queue pair 0', async () => (await os.readReceive(0)).some((r: { type: number }) => r.type === RecordType.END));
    await barrier(peer, 100);
    expect(counted()).toEqual(none);
    peer.send(Buffer.concat([acks(peer, a.channel, 1000), peer.closeFrame(a.channel, 5, Status.OK), peer.closeFrame(a.channel, 5, Status.OK)]));
    await barrier(peer, 101);
    expect.soft(counted()).toEqual({ ...none, total: 1002, unknownChannel: 1002 });

    // (b) Node 2 ended the channel itself: node 1 passed the window on a ring nobody reads
    // (`window`, CLOSE ENOBUFS), with 2 of node 2's sends unacknowledged. Of 500 ACK entries, the
    // 2 an honest peer could have had in flight are excused; of 3 CLOSEs, the one that may cross ours.
    const b = await open(1, 2, 6);
    expect(await os.sendMany(1, b.handle, 2, 16)).toBe(2);
    await waitFor('node 2 to send its 2 messages', () => peer.dataMessages(6) === 2);
    for (let s = 1; s <= 80; s += 8) {
      peer.send(peer.dataFrame(Array.from({ length: 8 }, (_, i) => ({ channel: b.channel, sourcePartition: 1, sequence: s + i, key: b.key, payload: new Uint8Array(1024) }))));
    }
    await peer.next((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === 6, 'the CLOSE for the window overrun');
    await barrier(peer, 102);
    const window = counted();
    expect(window.window).toBe(1);
    peer.send(Buffer.concat([acks(peer, b.channel, 500), peer.closeFrame(b.channel, 6, Status.OK), peer.closeFrame(b.channel, 6, Status.OK), peer.closeFrame(b.channel, 6, Status.OK)]));
    await barrier(peer, 103);
    expect.soft(counted()).toEqual({ ...window, total: window.total + 498 + 2, unknownChannel: window.unknownChannel + 498 + 2 });

    // (c) The peer's CLOSE waits behind messages kept for a full ring (the end still OPEN): an ACK
    // after it, and a second CLOSE, are counted.
    const c = await open(2, 3, 7);
    peer.send(peer.dataFrame(Array.from({ length: 10 }, (_, i) => ({ channel: c.channel, sourcePartition: 1, sequence: 1 + i, key: c.key, payload: new Uint8Array(1024) }))));
    await waitFor('node 2 to keep messages aside', () => link().keptBytes > 0);
    const before = counted();
    peer.send(Buffer.concat([peer.closeFrame(c.channel, 7, Status.OK), acks(peer, c.channel, 100), peer.closeFrame(c.channel, 7, Status.OK)]));
    await barrier(peer, 104);
    expect.soft(counted()).toEqual({ ...before, total: before.total + 101, unknownChannel: before.unknownChannel + 101 });

    // (d) The connection replaced: the open channel ends ELINKDOWN and its process does not close
    // it. On the new connection nothing may name it: 100 ACK entries and a CLOSE, all counted.
    const d = await open(3, 4, 8);
    peer.close();
    await waitFor('the link to go down', () => link().state === 'down');
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link up again', () => link().state === 'up');
    await waitFor('the END on queue pair 3', async () => (await os.readReceive(3)).some((r: { type: number; status: number }) => r.type === RecordType.END && r.status === Status.ELINKDOWN));
    const after = counted();
    peer.send(Buffer.concat([acks(peer, d.channel, 100), peer.closeFrame(d.channel, 8, Status.OK)]));
    await barrier(peer, 105);
    expect.soft(counted()).toEqual({ ...after, total: after.total + 101, unknownChannel: after.unknownChannel + 101 });

    expect(link()).toMatchObject({ state: 'up', ups: 2, downs: 1 });
    expect(machine.stats().partitions[0].violations.total).toBe(0);
  } finally {
    peer.close();
    await machine.close();
  }
}, 60_000);
