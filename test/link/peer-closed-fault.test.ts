/**
 * THREATS case 58: an end whose peer's CLOSE waits behind messages kept for its full ring outlives
 * its link (it is left open for its reader to read them), and must then talk on no new connection
 * of that node (f9ed686: no DATA, no CLOSE, no ACK taken). But when its queue pair faulted (its
 * partition's own doing), LinkedChannels.faulted() ended it with endHere(), which writes a CLOSE
 * naming the old channel's ids onto whatever connection the link has now.
 *
 * The node runs in this process, its partition on the hostile OS (it accepts the channel, reads
 * nothing, then faults its queue pair); node 1 is the test's hostile peer.
 */
import { afterAll, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { makeCertificates } from './certs.js';
import { F, HostilePeer } from './hostile-peer.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';
import { RecordType } from '../../src/shared/layout.js';

const certs = makeCertificates([1, 2]);
afterAll(() => certs.remove());
const PORT = 8;
const OUR_CHANNEL = 77;
const STATUS_OK = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('58: an end closed by its peer behind kept messages, whose link went down and came back, writes no CLOSE on the new connection when its queue pair faults', async () => {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    receiveRingBytes: 4096,
    partitions: [{ id: 1, name: 'reader', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000 },
  });
  let peer: HostilePeer | undefined;
  const link = () => machine.stats().links!.find((l: { node: number }) => l.node === 1)!;
  try {
    const os = machine.partition(1).os as any;
    expect(await os.open(0)).toMatchObject({ ok: true });
    expect(await os.listen(0, PORT)).toMatchObject({ ok: true });
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: OUR_CHANNEL });
    const accepted = await os.accept(0, PORT);
    expect(accepted).toMatchObject({ ok: true });
    // 200 messages of 64 bytes: past the 4 KiB ring, so node 2 keeps the rest aside; then the peer's CLOSE, behind them.
    for (let s = 1; s <= 200; s += 40) {
      peer.send(peer.dataFrame(Array.from({ length: 40 }, (_, i) => ({ channel, sourcePartition: 1, sequence: s + i, key, payload: new Uint8Array(64).fill(7) }))));
    }

    await waitFor('node 2 to keep messages aside', () => link().keptBytes > 0);
    peer.send(peer.closeFrame(channel, OUR_CHANNEL, STATUS_OK));
    await sleep(200);
    // The same node again, on a new connection.
    peer.close();
    await waitFor('the link to go down', () => link().state === 'down');
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to be up again', () => link().state === 'up');
    const violationsBefore = machine.stats().partitions[0].violations.total;
    // The partition faults its own queue pair: a SEND record whose length points past its ring.
    expect(typeof (await os.writeRecord(0, { type: RecordType.SEND, bodyBytes: 16, words: [accepted.handle, 0], length: 0x7ffffff0 }))).toBe('number');
    await os.doorbell(4);
    await waitFor('the queue pair to fault', () => machine.stats().partitions[0].violations.total > violationsBefore);
    await sleep(300);
    // Nothing about the old channel on the new connection: it belongs to the connection that went down.
    const naming = peer.frames.filter((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === OUR_CHANNEL);
    expect(naming.map((f) => ({ channel: f.bytes.readUInt32LE(F.CloseFrame.SENDER_CHANNEL_OFFSET), status: f.bytes.readUInt32LE(F.CloseFrame.STATUS_OFFSET) }))).toEqual([]);
    expect(link().keptBytes).toBe(0);
  } finally {
    peer?.close();
    await machine.close();
  }
}, 30_000);
