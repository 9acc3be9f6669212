/**
 * What attack run 19b tried against the inter-node link and found solid, kept as a test (THREATS,
 * "Found nothing (attack run 19b)"). Node 2 runs in this process, its partition 1 on the hostile OS
 * (the control calls' answers and the rings read as the hardware writes them); node 1 is the
 * test's hostile peer (test/link/hostile-peer.ts), with a valid certificate, writing frames by hand.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';
import { makeCertificates } from '../link/certs.js';
import { F, HostilePeer } from '../link/hostile-peer.js';
import { LOOPBACK } from '../link/pair.js';
import { HOSTILE_OS, waitFor } from './harness.js';
import { RecordType } from '../../src/shared/layout.js';
import { Status } from '../../src/shared/errors.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const PORT = 7;
const WINDOW = 64 * 1024;

interface Received {
  type: number;
  channel: number;
  status: number;
  bytes: number[];
}

async function node2(o: { receiveRingBytes?: number } = {}): Promise<{ machine: Machine; peer: HostilePeer; os: any; link: () => any }> {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    ...o,
    partitions: [{ id: 1, name: 'server', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000, channelWindowBytes: WINDOW },
  });
  const link = () => machine.stats().links!.find((l) => l.node === 1)!;
  const peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
  await waitFor('the link to node 1', () => link().state === 'up');
  const os = machine.partition(1).os as any;
  expect(await os.open(0)).toMatchObject({ ok: true });
  expect(await os.listen(0, PORT)).toMatchObject({ ok: true });
  return { machine, peer, os, link };
}

async function receive(os: any, n: number): Promise<Received[]> {
  const got: Received[] = [];
  await waitFor(`${n} records`, async () => {
    got.push(...((await os.readReceive(0)) as Received[]));
    return got.length >= n;
  });
  return got;
}

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

it('CONNECT, DATA and CLOSE in one write before the accept; a run after the CLOSE; a CLOSE claiming the hardware reset', async () => {
  const { machine, peer, os, link } = await node2();
  try {
    const key = new Uint8Array(16).fill(3);
    const connect = peer.connectFrame({ request: 1, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 60 });
    peer.send(connect);
    const ok = await peer.next((f) => f.type === F.FrameType.CONNECT_OK, 'the CONNECT_OK');
    const channel = ok.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET);
    const data = (seq: number, p: Uint8Array) => peer.dataFrame([{ channel, sourcePartition: 1, sequence: seq, key, payload: p }]);
    peer.send(Buffer.concat([data(1, payload(10, 1)), data(2, payload(20, 2)), peer.closeFrame(channel, 60, Status.OK), data(3, payload(5, 3))]));
    await waitFor('the run after the CLOSE counted', () => link().violations.total === 1);
    expect(link().violations).toMatchObject({ unknownChannel: 1 });
    const grant = await os.accept(0, PORT);
    expect(grant).toMatchObject({ ok: true, remoteNode: 1, remotePartition: 1 });
    expect(await receive(os, 3)).toEqual([
      { type: RecordType.DATA, channel: grant.handle, status: Status.OK, bytes: [...payload(10, 1)] },
      { type: RecordType.DATA, channel: grant.handle, status: Status.OK, bytes: [...payload(20, 2)] },
      { type: RecordType.END, channel: grant.handle, status: Status.OK, bytes: [] },
    ]);

    // A CLOSE whose status says this node's hardware failed reads as the peer's end, not as EHWRESET.
    const waiting = os.accept(0, PORT);
    peer.send(peer.connectFrame({ request: 2, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 61 }));
    const ok2 = await peer.next((f) => f.type === F.FrameType.CONNECT_OK, 'the second CONNECT_OK');
    const second = await waiting;
    peer.send(peer.closeFrame(ok2.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET), 61, Status.EHWRESET));
    expect(await receive(os, 1)).toEqual([{ type: RecordType.END, channel: second.handle, status: Status.EPEERDEAD, bytes: [] }]);
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    expect(link().violations.total).toBe(1);
  } finally {
    peer.close();
    await machine.close();
  }
});

it('frames whose length is not a multiple of 8 misalign the stream: counted once, every message after still byte-exact', async () => {
  const { machine, peer, os, link } = await node2();
  try {
    const key = new Uint8Array(16).fill(4);
    const waiting = os.accept(0, PORT);
    peer.send(peer.connectFrame({ request: 1, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 62 }));
    const ok = await peer.next((f) => f.type === F.FrameType.CONNECT_OK, 'the CONNECT_OK');
    const channel = ok.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET);
    const grant = await waiting;
    const sizes = [13, 600, 1, 4096, 77];
    const frames: Buffer[] = [];
    sizes.forEach((n, i) => {
      const f = peer.dataFrame([{ channel, sourcePartition: 1, sequence: i + 1, key, payload: payload(n, i) }]);
      // Three bytes more than its messages: the frame's length word says so.
      const longer = Buffer.concat([f, Buffer.from([0xaa, 0xbb, 0xcc])]);
      longer.writeUInt32LE(longer.length - 4, 0);
      frames.push(i === 0 ? longer : f);
    });
    peer.send(Buffer.concat(frames));
    const got = await receive(os, sizes.length);
    expect(got).toEqual(sizes.map((n, i) => ({ type: RecordType.DATA, channel: grant.handle, status: Status.OK, bytes: [...payload(n, i)] })));
    expect(link().violations).toMatchObject({ total: 1, badLength: 1 });
    expect(link()).toMatchObject({ state: 'up', downs: 0, messagesReceived: sizes.length });
  } finally {
    peer.close();
    await machine.close();
  }
});

it('a peer past the window of a channel whose ring is full loses only that channel; keptBytes goes back to 0', async () => {
  const { machine, peer, os, link } = await node2({ receiveRingBytes: 4096 });
  try {
    const key = new Uint8Array(16).fill(5);
    const open = async (request: number, sourceChannel: number) => {
      const waiting = os.accept(0, PORT);
      peer.send(peer.connectFrame({ request, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel }));
      const ok = await peer.next((f) => f.type === F.FrameType.CONNECT_OK && f.bytes.readUInt32LE(F.ConnectOkFrame.REQUEST_OFFSET) === request, 'the CONNECT_OK');
      return { channel: ok.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET), handle: (await waiting).handle };
    };
    const a = await open(1, 63);
    // 1 KiB messages: the 4 KiB ring takes three, the window (64 KiB) about 63 more, the peer sends 80.
    const frames: Buffer[] = [];
    for (let i = 0; i < 80; i++) frames.push(peer.dataFrame([{ channel: a.channel, sourcePartition: 1, sequence: i + 1, key, payload: payload(1024, i) }]));
    peer.send(Buffer.concat(frames));
    await waitFor('the window counted', () => link().violations.window === 1);
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE, 'the CLOSE');
    expect(close.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET)).toBe(63);
    expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).toBe(Status.ENOBUFS);
    await waitFor('keptBytes back to 0', () => link().keptBytes === 0);
    const got = await receive(os, 1);
    expect(got.at(-1)).toMatchObject({ type: RecordType.END, channel: a.handle, status: Status.ENOBUFS });
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    expect(link().violations).toMatchObject({ total: 1, window: 1 });
  } finally {
    peer.close();
    await machine.close();
  }
});

it('a channel still waiting in the backlog that its peer floods past the window ends ENOBUFS; the accept then hands it over with what reached the ring, and the counters agree', async () => {
  const { machine, peer, os, link } = await node2({ receiveRingBytes: 4096 });
  try {
    const key = new Uint8Array(16).fill(6);
    peer.send(peer.connectFrame({ request: 1, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 64 }));
    const ok = await peer.next((f) => f.type === F.FrameType.CONNECT_OK, 'the CONNECT_OK');
    const channel = ok.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET);
    const frames: Buffer[] = [];
    for (let i = 0; i < 80; i++) frames.push(peer.dataFrame([{ channel, sourcePartition: 1, sequence: i + 1, key, payload: payload(1024, i) }]));
    peer.send(Buffer.concat(frames));
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE, 'the CLOSE');
    expect(close.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET)).toBe(Status.ENOBUFS);
    await waitFor('keptBytes back to 0', () => link().keptBytes === 0);
    // Nobody had accepted it: the listener's process accepts it now and reads what reached its ring, then the END.
    const grant = await os.accept(0, PORT);
    expect(grant).toMatchObject({ ok: true, remoteNode: 1 });
    const got: Received[] = [];
    await waitFor('the END', async () => {
      got.push(...((await os.readReceive(0)) as Received[]));
      return got.some((r) => r.type === RecordType.END);
    });
    const data = got.filter((r) => r.type === RecordType.DATA);
    expect(data.length).toBeGreaterThan(0);
    data.forEach((r, i) => expect(r).toEqual({ type: RecordType.DATA, channel: grant.handle, status: Status.OK, bytes: [...payload(1024, i)] }));
    expect(got.at(-1)).toEqual({ type: RecordType.END, channel: grant.handle, status: Status.ENOBUFS, bytes: [] });
    // What the link says it delivered is what the partition got, and what the node acknowledged.
    expect(link().messagesReceived).toBe(data.length);
    expect(machine.stats().partitions[0].delivered).toBe(data.length);
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    expect(link().violations).toMatchObject({ total: 1, window: 1 });
    expect(peer.acknowledged(64)).toBe(data.length);
  } finally {
    peer.close();
    await machine.close();
  }
});
