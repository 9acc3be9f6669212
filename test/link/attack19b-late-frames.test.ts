/**
 * THREATS case 114: frames naming a channel this node had closed were excused without a bound. A
 * node remembers the ids of its last 4096 closed ends per link and drops frames naming one without
 * counting them, since an honest peer may have sent them before it read the CLOSE. But a hostile
 * peer can send them whenever it likes, and as many: 20,000 DATA runs, 1,000 ACK entries and a
 * second CLOSE on one closed id, and the link's violations read 0. What an honest peer can still
 * send is bounded: DATA within the window this node granted (twice, for the credit the last ACKs
 * gave back), an ACK entry per send of ours it had not acknowledged, one CLOSE of its own. Past
 * that, each is counted as any frame naming no channel is (`unknownChannel`).
 *
 * Node 2 runs in this process, its partition on the hostile OS (it accepts the channel and closes
 * it); node 1 is the test's hostile peer (./hostile-peer.ts).
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';
import { Status } from '../../src/shared/errors.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const PORT = 7;
const WINDOW = 64 * 1024;
const MAX_MESSAGE = 64 * 1024;
const RUNS = 20_000;
const PAYLOAD = 8;

it('114: DATA, ACKs and CLOSEs naming a closed channel are excused only as far as an honest peer could have sent them', async () => {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    maxMessageBytes: MAX_MESSAGE,
    partitions: [{ id: 1, name: 'server', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000, channelWindowBytes: WINDOW },
  });
  const link = () => machine.stats().links!.find((l) => l.node === 1)!;
  const peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
  try {
    await waitFor('the link to node 1', () => link().state === 'up');
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, PORT)).toMatchObject({ ok: true });
    const key = new Uint8Array(16).fill(9);
    const accepted = os.accept(0, PORT);
    peer.send(peer.connectFrame({ request: 1, key, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: 5 }));
    const ok = await peer.next((f) => f.type === F.FrameType.CONNECT_OK, 'the CONNECT_OK');
    const channel = ok.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET);
    const grant = await accepted;
    expect(grant).toMatchObject({ ok: true });
    // Node 2's process closes the channel; node 1 gets the CLOSE.
    await os.close(0, grant.handle);
    const close = await peer.next((f) => f.type === F.FrameType.CLOSE, 'the CLOSE');
    expect(close.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET)).toBe(5);
    expect(close.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET)).toBe(channel);

    // Node 1 goes on naming the closed channel: DATA runs of one 8-byte message each (16 window
    // bytes), ACKs for sends node 2 never made, and two CLOSEs.
    const frames: Buffer[] = [];
    for (let i = 0; i < RUNS; i++) frames.push(peer.dataFrame([{ channel, sourcePartition: 1, sequence: 1 + i, key, payload: new Uint8Array(PAYLOAD) }]));
    frames.push(peer.ackFrame(Array.from({ length: 1000 }, (_, i) => [channel, i + 1, 16 * (i + 1)] as [number, number, number])));
    frames.push(peer.closeFrame(channel, 5, Status.OK), peer.closeFrame(channel, 5, Status.OK));
    peer.send(Buffer.concat(frames));

    // The window node 2 granted, twice over, is excused; every run past it is counted, as are the
    // 1,000 ACK entries (node 2 sent nothing on the channel) and the second CLOSE.
    const excusedRuns = Math.floor((2 * F.grantedWindow(WINDOW, MAX_MESSAGE)) / F.messageBytes(PAYLOAD));
    const expected = RUNS - excusedRuns + 1000 + 1;
    await waitFor('the late frames counted', () => link().violations.total >= expected);
    // A heartbeat after them all: everything before it has been read.
    peer.send(peer.heartbeatFrame());
    const framesBefore = link().framesReceived;
    await waitFor('the heartbeat read', () => link().framesReceived > framesBefore);
    expect(link().violations).toEqual({ total: expected, unknownChannel: expected, keyMismatch: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 });
    expect(link()).toMatchObject({ state: 'up', downs: 0 });
    // Nothing of it reached the partition.
    expect(await os.readReceive(0)).toEqual([]);
    expect(machine.stats().partitions[0].violations.total).toBe(0);
  } finally {
    peer.close();
    await machine.close();
  }
}, 60_000);
