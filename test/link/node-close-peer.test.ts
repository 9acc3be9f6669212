/**
 * A node's close() hands over what it sent (./node-close.test.ts), seen from a peer node the test
 * plays (./hostile-peer.ts): found by the review of that change. Nothing may be written to a
 * socket after its end() (a write after it destroyed the socket, with what the kernel had not
 * sent); an end left open past its link by its peer's CLOSE talks on no new connection of that
 * node. (That a close does not wait out its bound for what can never move: ../engine-sends-served.test.ts.)
 */
import { afterEach, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { GO, PROGRESS, READY, startNode, type NodeProcess } from './harness.js';
import { F, HostilePeer } from './hostile-peer.js';
import { linkTo, LOOPBACK, until } from './pair.js';

const certs = makeCertificates([1, 2]);
let b: NodeProcess | undefined;
let peer: HostilePeer | undefined;
afterEach(async () => {
  peer?.close();
  peer = undefined;
  await b?.close().catch(() => {});
  b = undefined;
});

const OUR_CHANNEL = 77;
const STATUS_OK = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it.each([
  ['a heartbeat due meanwhile (heartbeatMs 50)', 50, false],
  ['nothing due, heartbeatMs 900 (the control)', 900, false],
  ['a CONNECT the peer sends meanwhile (its CONNECT_REFUSED)', 900, true],
])('a peer that reads what the closing node wrote only 300 ms later still gets all of it, then the CLOSE: nothing is written after end() (%s)', async (_, heartbeatMs, connectMeanwhile) => {
  b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    // deadAfterMs 2000: the close may wait 1 s for the peer; heartbeats every 50 ms.
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), heartbeatMs, deadAfterMs: 2000 },
  });
  peer = await HostilePeer.dial(b.port!, certs.tls(1));
  const count = 3000; // 1 KiB each: ~3 MiB, within the peer's 4 MiB window and under the link's congestion mark
  const tx = await b.spawn(1, 'sender', { node: 1, partition: 1, port: 7, count, size: 1024 });
  const connect = await peer.next((f) => f.type === F.FrameType.CONNECT, 'the CONNECT from node 2');
  peer.pauseReading();
  peer.send(peer.connectOkFrame(connect.bytes.readUInt32LE(F.ConnectFrame.REQUEST_OFFSET), OUR_CHANNEL, 1));
  expect(await tx.result).toMatchObject({ connected: true, sent: count, error: undefined });
  const closing = b.close();
  // The peer reads again after 300 ms: well within the close's bound (min(deadAfterMs, 1 s)).
  await sleep(100);
  if (connectMeanwhile) {
    const f = peer.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
    f.writeUInt32LE(9, F.ConnectFrame.REQUEST_OFFSET);
    f.writeUInt32LE(1, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
    f.writeUInt32LE(1, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
    f.writeUInt32LE(7, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
    f.writeUInt32LE(64 * 1024, F.ConnectFrame.WINDOW_OFFSET);
    f.writeUInt32LE(16 * 1024, F.ConnectFrame.MAX_MESSAGE_OFFSET);
    peer.send(f);
  }
  await sleep(200);
  peer.resumeReading();
  expect((await closing).code).toBe(0);
  b = undefined;
  await until('the peer to see the connection close', async () => peer!.closed);
  expect(peer.dataMessages(OUR_CHANNEL)).toBe(count);
  expect(peer.frames.some((f) => f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === OUR_CHANNEL)).toBe(true);
}, 30_000);

/**
 * The receiving side of the change: a channel whose peer's CLOSE arrived behind kept messages is
 * left open when its link goes down, for its reader to read them. If the same node connects again
 * (a new connection: a new link, whose channels are all new), that end belongs to the old one: what
 * it sends, and its CLOSE, must not go out on the new connection (naming an id the node's new
 * incarnation may have given another channel), and an ACK the new connection sends for it must not
 * acknowledge its sends (they were never sent anywhere: they fail ECLOSED with the END).
 */
it('a channel kept open past its link by an earlier CLOSE sends nothing on a new connection of that node, and takes no ACK from it', async () => {
  b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    receiveRingBytes: 16 * 1024,
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 5000 },
  });
  const rx = await b.spawn(1, 'read-later', { port: 8, writes: 3 });
  await until('the reader to listen', async () => (await rx.control.read())[READY] === 1);
  peer = await HostilePeer.dial(b.port!, certs.tls(1));
  const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 8, sourceChannel: OUR_CHANNEL });
  const MESSAGES = 500; // 36 KB: past the 16 KiB ring, kept aside for the rest
  for (let s = 1; s <= MESSAGES; s += 50) {
    peer.send(peer.dataFrame(Array.from({ length: 50 }, (_, i) => ({ channel, sourcePartition: 1, sequence: s + i, key, payload: new Uint8Array(64).fill(7) }))));
  }
  await until('node 2 to keep messages aside', async () => (await linkTo(b!, 1)).keptBytes > 0);
  peer.send(peer.closeFrame(channel, OUR_CHANNEL, STATUS_OK));
  await sleep(200);
  peer.close();
  await until('the link to go down', async () => (await linkTo(b!, 1)).state === 'down');
  // The same node again, on a new connection.
  peer = await HostilePeer.dial(b.port!, certs.tls(1));
  await until('the link to be up again', async () => (await linkTo(b!, 1)).state === 'up');
  await rx.control.set(GO, 1);
  await until('the program to have written', async () => (await rx.control.read())[PROGRESS] === 3);
  // An ACK of those three on the new connection, naming the old channel.
  peer.send(peer.ackFrame([[channel, 3, 3 * F.messageBytes(64)]]));
  await sleep(300);
  const naming = peer.frames.filter((f) => (f.type === F.FrameType.DATA && f.bytes.readUInt32LE(F.DataFrame.CHANNEL_OFFSET) === OUR_CHANNEL) || (f.type === F.FrameType.CLOSE && f.bytes.readUInt32LE(F.CloseFrame.CHANNEL_OFFSET) === OUR_CHANNEL));
  expect(naming.map((f) => f.type)).toEqual([]);
  await rx.control.set(GO, 2);
  expect(await rx.result).toEqual({ read: MESSAGES, end: 'ECLOSED', failedSends: { ECLOSED: 3 } });
  expect((await linkTo(b!, 1)).keptBytes).toBe(0);
}, 30_000);
