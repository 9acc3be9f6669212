/**
 * A hostile peer node (issue 14): the test process dials node 2 (its own OS process) with a VALID
 * certificate for node 1, opens one channel by claim 1 as an honest node would, and then sends,
 * between honest messages on that channel, each forgery of the issue, written straight in the
 * frame format (./hostile-peer.ts, from dist/src/shared/link-frames.js): a key that does not
 * match (for one message, and for a run of three), a source partition other than the channel's,
 * the id and key of a live channel that belongs to another node (a second peer, node 3), channel
 * ids that name no end node 2 opened for it, a replayed and a reordered sequence number, a
 * payload length and a message count that lie, a message over the maxMessageBytes it stated for its
 * channel, ACKs for sequences never sent and for no channel,
 * an answer to a connect never made, an unknown frame type, reserved bytes that are not zero, a
 * run whose second payload length lies, a CLOSE for node 3's channel, and finally a frame length
 * that lies.
 * Node 2's hardware must drop each one and count it, per remote node and by kind, exactly; the
 * program on that channel must receive exactly the honest messages, in order, whole; node 2
 * acknowledges exactly those; its other partition and node 3's channel are untouched; and the
 * key node 1 sent never appears in any partition's memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from './certs.js';
import { closeNodes, PROGRESS, READY, startNode, type NodeProcess, type RemoteProgram } from './harness.js';
import { F, HostilePeer, PEER_MAX_MESSAGE_BYTES, PEER_WINDOW_BYTES, type ForgedMessage } from './hostile-peer.js';
import { linkTo, LOOPBACK, until } from './pair.js';
import { fillMessage } from './programs/messages.mjs';

const SIZE = 64;
const PORT = 7;
const TAG = 0x0badf00d;
/** The hostile node's id for its end of the channel (what node 2 writes into its frames to us). */
const OUR_CHANNEL = 77;
const STATUS_OK = 0;

const certs = makeCertificates([1, 2, 3]);
let b: NodeProcess;
let rx: RemoteProgram;
let peer: HostilePeer;
let key: Buffer;
let channel: number;
/** A second, honest peer node 3 with a channel of its own to partition 2 (port OTHER_PORT). */
const OTHER_PORT = 8;
const OTHER_CHANNEL = 99;
const OTHER_MESSAGES = 4;
let rx3: RemoteProgram;
let peer3: HostilePeer;
let other: { key: Buffer; channel: number };
/** Sequence numbers of the honest messages sent so far (the next is sent + 1). */
let sent = 0;

beforeAll(async () => {
  b = await startNode({
    partitions: [{ id: 1 }, { id: 2 }],
    wait: 'sleep',
    // A loaded machine must not end the link while the test writes its frames one by one.
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }, { id: 3 }], certificates: certs.paths(2), deadAfterMs: 5000 },
  });
  rx = await b.spawn(1, 'receiver', { port: PORT, size: SIZE });
  rx3 = await b.spawn(2, 'receiver', { port: OTHER_PORT, size: SIZE });
  await until('the receivers to listen', async () => (await rx.control.read())[READY] === 1 && (await rx3.control.read())[READY] === 1);
  peer = await HostilePeer.dial(b.port!, certs.tls(1));
  ({ key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: PORT, sourceChannel: OUR_CHANNEL }));
  // Node 3's channel carries its messages before the attacks start, so partition 2's counters
  // stand still while they run.
  peer3 = await HostilePeer.dial(b.port!, certs.tls(3));
  other = await peer3.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 2, port: OTHER_PORT, sourceChannel: OTHER_CHANNEL });
  peer3.send(peer3.dataFrame(Array.from({ length: OTHER_MESSAGES }, (_, i) => ({ channel: other.channel, sourcePartition: 1, sequence: i + 1, key: other.key, payload: fillMessage(new Uint8Array(SIZE), i, TAG) }))));
  await until("node 3's messages to arrive", async () => (await rx3.control.read())[PROGRESS] === OTHER_MESSAGES);
});
afterAll(async () => {
  peer?.close();
  peer3?.close();
  await closeNodes();
  certs.remove();
});

/** Message number `sequence` of the honest stream, as node 1's hardware would stamp it. */
function honestMessage(sequence: number, change: Partial<ForgedMessage> = {}): ForgedMessage {
  // The receiver numbers messages from 0; the link numbers them from 1.
  return { channel, sourcePartition: 1, sequence, key, payload: fillMessage(new Uint8Array(SIZE), sequence - 1, TAG), ...change };
}

/** Send `n` honest messages in one DATA frame and wait until the program has all of them. */
async function honest(n: number): Promise<void> {
  const messages = Array.from({ length: n }, (_, i) => honestMessage(sent + 1 + i));
  sent += n;
  peer.send(peer.dataFrame(messages));
  await until(`the program to receive honest message ${sent}`, async () => (await rx.control.read())[PROGRESS] >= sent);
  expect((await rx.control.read())[PROGRESS]).toBe(sent);
}

const NO_VIOLATIONS = { total: 0, keyMismatch: 0, unknownChannel: 0, wrongSource: 0, sequence: 0, badLength: 0, badFrame: 0, window: 0 };
const counted = { ...NO_VIOLATIONS };

/** Node 2's violation counters for node 1 reach exactly what the forgeries so far should have made. */
async function expectCounted(kind: keyof typeof NO_VIOLATIONS, n = 1): Promise<void> {
  counted[kind] += n;
  counted.total += n;
  await until(`${kind} to be counted`, async () => (await linkTo(b, 1)).violations.total >= counted.total);
  expect((await linkTo(b, 1)).violations).toEqual(counted);
}

function flipped(k: Uint8Array): Buffer {
  const f = Buffer.from(k);
  f[5] ^= 0x40;
  return f;
}

/** A CONNECT from partition 1 to the honest program's port, with the window and the maxMessageBytes given. */
function connectFrame(request: number, o: { window?: number; maxMessage?: number }): Buffer {
  const f = peer.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
  f.writeUInt32LE(request, F.ConnectFrame.REQUEST_OFFSET);
  f.writeUInt32LE(1, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
  f.writeUInt32LE(1, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
  f.writeUInt32LE(PORT, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
  f.writeUInt32LE(o.window ?? PEER_WINDOW_BYTES, F.ConnectFrame.WINDOW_OFFSET);
  f.writeUInt32LE(o.maxMessage ?? PEER_MAX_MESSAGE_BYTES, F.ConnectFrame.MAX_MESSAGE_OFFSET);
  return f;
}

describe('a hostile peer node with a valid certificate', () => {
  it('opens a channel by claim 1 and its honest messages arrive', async () => {
    expect(await linkTo(b, 1)).toMatchObject({ state: 'up', violations: NO_VIOLATIONS, authFailures: 0 });
    await honest(8);
    expect(peer.acknowledged(OUR_CHANNEL)).toBeLessThanOrEqual(8);
  });

  // Each forgery is followed by honest messages: frames are handled in order, so once they have
  // arrived the forgery has been judged, and the honest channel is seen to go on.
  it.each<[string, keyof typeof NO_VIOLATIONS, () => Buffer]>([
    ['a key that does not match', 'keyMismatch', () => peer.dataFrame([honestMessage(sent + 1, { key: flipped(key) })])],
    // The stamp covers the frame's whole run: one count for the frame, and none of its messages delivered.
    ['a run of three messages under a key that does not match', 'keyMismatch', () => peer.dataFrame([1, 2, 3].map((i) => honestMessage(sent + i, { key: flipped(key) })))],
    ['a source partition other than the channel’s', 'wrongSource', () => peer.dataFrame([honestMessage(sent + 1, { sourcePartition: 2 })])],
    // Node 3's live channel, with node 3's key even: node 1 does not own it.
    ['the id and key of a live channel that belongs to another node', 'wrongSource', () => peer.dataFrame([{ channel: other.channel, sourcePartition: 1, sequence: OTHER_MESSAGES + 1, key: other.key, payload: fillMessage(new Uint8Array(SIZE), OTHER_MESSAGES, TAG) }])],
    ['a channel id naming another generation of its own channel’s entry', 'unknownChannel', () => peer.dataFrame([honestMessage(sent + 1, { channel: (channel ^ 0x8000_0000) >>> 0 })])],
    ['a channel id naming no entry at all', 'unknownChannel', () => peer.dataFrame([honestMessage(sent + 1, { channel: 0xffff_ffff })])],
    ['a replayed sequence number (the last one delivered)', 'sequence', () => peer.dataFrame([honestMessage(sent)])],
    ['a reordered sequence number (one ahead)', 'sequence', () => peer.dataFrame([honestMessage(sent + 2)])],
    ['a payload length past the end of its frame', 'badLength', () => peer.dataFrame([honestMessage(sent + 1, { payloadBytesField: 4096 })])],
    ['a message count the frame cannot hold', 'badLength', () => peer.dataFrame([honestMessage(sent + 1)], 1000)],
    // Node 2 takes 64 KiB, but the peer stated 16 KiB for its channel: the channel carries 16 KiB.
    ['a message over the maxMessageBytes the peer stated for the channel', 'badLength', () => peer.dataFrame([honestMessage(sent + 1, { payload: new Uint8Array(PEER_MAX_MESSAGE_BYTES + 1) })])],
    ['an ACK for sequences node 2 never sent on that channel', 'sequence', () => peer.ackFrame([[channel, 1000, 1000 * F.messageBytes(8)]])],
    ['an ACK naming no channel of its link', 'unknownChannel', () => peer.ackFrame([[0xffff_ffff, 1, F.messageBytes(8)]])],
    ['an answer to a connect node 2 never made', 'badFrame', () => peer.connectOkFrame(4242, 1, 1)],
    ['an unknown frame type', 'badFrame', () => peer.frame(42, F.Frame.HEADER_BYTES)],
    ['a CONNECT granting a window of 0 (no node may grant under 64 KiB)', 'badFrame', () => connectFrame(78, { window: 0 })],
    ['a CONNECT stating a maxMessageBytes of 0', 'badFrame', () => connectFrame(77, { maxMessage: 0 })],
    ['a CONNECT stating a maxMessageBytes over 1 GiB (no node has one)', 'badFrame', () => connectFrame(79, { maxMessage: 0x4000_0001 })],
    ['reserved header bytes that are not zero', 'badFrame', () => {
      const f = peer.heartbeatFrame();
      f[F.Frame.TYPE_OFFSET + 1] = 1;
      return f;
    }],
  ])('%s: dropped, counted as %s on node 1’s link, nothing delivered, the channel goes on', async (_, kind, forge) => {
    const partitionsBefore = (await b.stats()).partitions;
    peer.send(forge());
    await honest(4);
    await expectCounted(kind);
    const partitionsAfter = (await b.stats()).partitions;
    const seen = (p: { delivered: number; violations: unknown }) => ({ delivered: p.delivered, violations: p.violations });
    expect(seen(partitionsAfter[1])).toEqual(seen(partitionsBefore[1])); // partition 2 saw nothing at all
    // A wrong key is also counted on the receiving partition, as a local one is.
    expect(partitionsAfter[0].violations.keyMismatch - partitionsBefore[0].violations.keyMismatch).toBe(kind === 'keyMismatch' ? 1 : 0);
  });

  it('a run whose second payload length lies: its first message is delivered, the rest of the frame dropped as badLength', async () => {
    const before = (await b.stats()).partitions[0].delivered;
    peer.send(peer.dataFrame([honestMessage(sent + 1), honestMessage(sent + 2, { payloadBytesField: 4096 }), honestMessage(sent + 3)]));
    sent += 1;
    await honest(4);
    await expectCounted('badLength');
    expect((await b.stats()).partitions[0].delivered - before).toBe(5);
  });

  it('a CLOSE for node 3’s channel (with node 3’s ids): unknownChannel, and that channel goes on', async () => {
    peer.send(peer.closeFrame(other.channel, OTHER_CHANNEL, STATUS_OK));
    await honest(4);
    await expectCounted('unknownChannel');
    peer3.send(peer3.dataFrame([{ channel: other.channel, sourcePartition: 1, sequence: OTHER_MESSAGES + 1, key: other.key, payload: fillMessage(new Uint8Array(SIZE), OTHER_MESSAGES, TAG) }]));
    await until("node 3's next message to arrive", async () => (await rx3.control.read())[PROGRESS] === OTHER_MESSAGES + 1);
  });

  it('the key never appears in either partition’s memory (every 8-byte window of it)', async () => {
    const windows = Array.from({ length: key.length - 7 }, (_, i) => key.subarray(i, i + 8));
    const scan = await b.scanPorts(windows);
    expect(scan.map((s) => [s.partition, s.found.flat().length])).toEqual([
      [1, 0],
      [2, 0],
    ]);
  });

  it('after a clean CLOSE, the program got exactly the honest messages, and node 2 acknowledged exactly those', async () => {
    await until('every honest message to be acknowledged', () => peer.acknowledged(OUR_CHANNEL) === sent);
    peer.send(peer.closeFrame(channel, OUR_CHANNEL, STATUS_OK));
    const r = await rx.result;
    expect(r.channels).toEqual([{ peer: { node: 1, partition: 1, process: 1 }, received: sent, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
    // Node 3's channel got exactly node 3's messages, and its link counted nothing.
    peer3.send(peer3.closeFrame(other.channel, OTHER_CHANNEL, STATUS_OK));
    expect((await rx3.result).channels).toEqual([{ peer: { node: 3, partition: 1, process: 1 }, received: OTHER_MESSAGES + 1, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
    expect((await linkTo(b, 3)).violations).toEqual(NO_VIOLATIONS);
    const stats = await b.stats();
    expect(stats.partitions.map((p: { id: number; delivered: number }) => [p.id, p.delivered])).toEqual([
      [1, sent],
      [2, OTHER_MESSAGES + 1],
    ]);
    expect(stats.unknownIdentities).toBe(0);
  });

  it('a frame length past the bound: counted as badFrame, and the link goes down', async () => {
    const lie = peer.frame(F.FrameType.HEARTBEAT, F.HEARTBEAT_FRAME_BYTES);
    lie.writeUInt32LE(0x7fff_fff0, F.Frame.LENGTH_OFFSET);
    peer.send(lie);
    await until('node 2 to end the link', async () => (await linkTo(b, 1)).downs === 1);
    await until('the socket to close', () => peer.closed);
    counted.badFrame++;
    counted.total++;
    expect(await linkTo(b, 1)).toMatchObject({ state: 'down', ups: 1, downs: 1, violations: counted });
  });
});
