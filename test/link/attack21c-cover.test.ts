/**
 * What attack run 21c tried against the link from a hostile peer node and found held (its
 * findings are cases 125 and 126). Node 2 runs in this process, its partition on the hostile OS;
 * node 1 is the test's hostile peer (./hostile-peer.ts). Each frame batch ends with a barrier: a
 * CONNECT to a port nobody listens on, whose refusal comes only once everything before it was read.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType } from '../../src/shared/layout.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const NOBODY = 999;
const REFUSED = `refused ${Status.ECONNREFUSED}`;
const NONE = { total: 0, keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 };

let nextBarrier = 1_000_000;
async function barrier(peer: HostilePeer): Promise<void> {
  const request = nextBarrier++;
  peer.send(peer.connectFrame({ request, key: new Uint8Array(16), sourcePartition: 1, sourceProcess: 1, partition: 1, port: NOBODY, sourceChannel: 1 }));
  await peer.next((f) => f.type === F.FrameType.CONNECT_REFUSED && f.bytes.readUInt32LE(F.ConnectRefusedFrame.REQUEST_OFFSET) === request, `the answer to barrier ${request}`);
}

async function withNode(options: { channelsPerPartition?: number }, body: (machine: Machine, os: any, peer: HostilePeer, link: () => any) => Promise<void>): Promise<void> {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    ...options,
    partitions: [{ id: 1, name: 'server', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000 },
  });
  const link = () => machine.stats().links!.find((l) => l.node === 1)!;
  const peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
  try {
    await waitFor('the link to node 1', () => link().state === 'up');
    await body(machine, machine.partition(1).os as any, peer, link);
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    expect(machine.stats().partitions[0].violations.total).toBe(0);
  } finally {
    peer.close();
    await machine.close();
  }
}

it('ACK entries whose sequence and window do not move together, or move back or past what was sent, are counted `sequence`; the channel goes on', async () => {
  await withNode({}, async (_machine, os, peer, link) => {
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, 7)).toMatchObject({ ok: true });
    const accepted = os.accept(0, 7);
    const { channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 7, sourceChannel: 5 });
    const { handle } = await accepted;
    // 3 messages of 16 bytes: 24 window bytes each.
    expect(await os.sendMany(0, handle, 3, 16)).toBe(3);
    await waitFor('3 messages at node 1', () => peer.dataMessages(5) === 3);
    peer.send(
      peer.ackFrame([
        [channel, 1, 0], // the sequence alone
        [channel, 0, 24], // the window alone
        [channel, 4, 96], // past what was sent
        [channel, 0xffffffff, 0xffffffe8], // back (a wrap)
        [channel, 3, 72], // honest
        [channel, 3, 72], // the same again: nothing
        [channel, 2, 48], // back
      ]),
    );
    await barrier(peer);
    expect(link().violations).toEqual({ ...NONE, total: 5, sequence: 5 });
    // The honest entry was taken (nothing unacknowledged now) and the channel goes on.
    expect(await os.sendMany(0, handle, 1, 16, 3)).toBe(1);
    await waitFor('the 4th message at node 1', () => peer.dataMessages(5) === 4);
    expect((await os.readCompletions(0)).filter((c: { status: number }) => c.status !== Status.OK)).toEqual([]);
  });
}, 30_000);

it('a CLOSE naming an open end with another sender id is counted `unknownChannel` and ends nothing', async () => {
  await withNode({}, async (_machine, os, peer, link) => {
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, 7)).toMatchObject({ ok: true });
    const accepted = os.accept(0, 7);
    const { channel, key } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 7, sourceChannel: 5 });
    await accepted;
    peer.send(Buffer.concat([peer.closeFrame(channel, 6, Status.OK), peer.closeFrame(channel, 0, Status.EPEERDEAD)]));
    peer.send(peer.dataFrame([{ channel, sourcePartition: 1, sequence: 1, key, payload: Uint8Array.of(1, 2, 3) }]));
    await barrier(peer);
    expect(link().violations).toEqual({ ...NONE, total: 2, unknownChannel: 2 });
    const records = await os.readReceive(0);
    expect(records.map((r: { type: number; bytes: number[] }) => [r.type, r.bytes])).toEqual([[RecordType.DATA, [1, 2, 3]]]);
  });
}, 30_000);

it('5,000 CONNECTs to a port nobody listens on and 5,000 to a partition that does not exist are each refused ECONNREFUSED, nothing counted', async () => {
  await withNode({}, async (_machine, _os, peer, link) => {
    const frames: Buffer[] = [];
    for (let i = 0; i < 10_000; i++) {
      frames.push(peer.connectFrame({ request: 1 + i, key: new Uint8Array(16), sourcePartition: 1, sourceProcess: 1, partition: i < 5000 ? 1 : 77, port: 1 + (i % 5000), sourceChannel: 1 + i }));
    }
    peer.send(Buffer.concat(frames));
    await barrier(peer);
    const answers = peer.frames.filter((f) => f.type === F.FrameType.CONNECT_REFUSED);
    expect(answers.length).toBe(10_000);
    expect(answers.every((f, i) => f.bytes.readUInt32LE(F.ConnectRefusedFrame.REQUEST_OFFSET) === 1 + i && f.bytes.readUInt32LE(F.ConnectRefusedFrame.STATUS_OFFSET) === Status.ECONNREFUSED)).toBe(true);
    expect(link().violations).toEqual(NONE);
  });
}, 60_000);

it('ends a peer closed while they waited in the backlog hold their places until released; after the unlisten the places are free again (case 126 keeps the counts)', async () => {
  // 8 slots: 4 places for connections waiting to be accepted.
  await withNode({ channelsPerPartition: 8 }, async (_machine, os, peer, link) => {
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, 7)).toMatchObject({ ok: true });
    /** Per CONNECT: the channel id a CONNECT_OK names, or 'refused <status>'. */
    const statuses = async (from: number, n: number): Promise<Array<number | string>> => {
      const out: Array<number | string> = [];
      for (let r = from; r < from + n; r++) {
        peer.send(peer.connectFrame({ request: r, key: new Uint8Array(16), sourcePartition: 1, sourceProcess: 1, partition: 1, port: 7, sourceChannel: r }));
        const f = await peer.next(
          (x) => (x.type === F.FrameType.CONNECT_OK && x.bytes.readUInt32LE(F.ConnectOkFrame.REQUEST_OFFSET) === r) || (x.type === F.FrameType.CONNECT_REFUSED && x.bytes.readUInt32LE(F.ConnectRefusedFrame.REQUEST_OFFSET) === r),
          `the answer to ${r}`,
        );
        out.push(f.type === F.FrameType.CONNECT_OK ? f.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET) : `refused ${f.bytes.readUInt32LE(F.ConnectRefusedFrame.STATUS_OFFSET)}`);
      }
      return out;
    };
    const first = await statuses(1, 5);
    expect(first.slice(0, 4).every((c) => typeof c === 'number')).toBe(true);
    expect(first[4]).toBe(REFUSED);
    // Node 1 closes two of the four: ended, still unaccepted, still holding their places.
    peer.send(Buffer.concat([peer.closeFrame(first[0] as number, 1, Status.OK), peer.closeFrame(first[1] as number, 2, Status.OK)]));
    await barrier(peer);
    expect(await statuses(10, 1)).toEqual([REFUSED]);
    // The unlisten refuses what waits and releases all four: 4 places again, the 5th refused.
    expect(await os.unlisten(0, 7)).toMatchObject({ ok: true });
    expect(await os.listen(0, 7)).toMatchObject({ ok: true });
    const again = await statuses(20, 5);
    expect(again.slice(0, 4).every((c) => typeof c === 'number')).toBe(true);
    expect(again[4]).toBe(REFUSED);
    // An accept frees one place: exactly one more gets in.
    const grant = await os.accept(0, 7);
    expect(grant).toMatchObject({ ok: true });
    expect(await statuses(30, 2)).toEqual([expect.any(Number), REFUSED]);
    expect(link().violations).toEqual(NONE);
  });
}, 30_000);
