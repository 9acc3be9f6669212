/**
 * THREATS case 68: a frame split across socket reads was gathered as a list of the reads
 * themselves, copied together only once the frame was whole. TLS hands the reader one read per
 * record, and a record may carry one byte, so a peer that sends a frame of maxFrameBytes one byte
 * per record made the hardware keep one Buffer (and its ArrayBuffer) per byte: ~220 bytes of its
 * heap (256 MiB, fixed) for each byte the peer sent. An attack run against a node with
 * maxMessageBytes 1 MiB (frames up to ~4 MiB): its hardware worker died of
 * ERR_WORKER_OUT_OF_MEMORY after ~1.3 million one-byte records, and the whole node with it; at the
 * default 64 KiB each link could pin ~56 MB of that heap. Now each read is copied into the
 * frame's buffer as it comes: the reader holds the frame's bytes and nothing more.
 *
 * The first test drives the reader as the socket would, with one fresh Buffer per read (a
 * million reads take ~1 s; the hardware's TLS stack takes ~50 s for as many records on a loaded
 * 2-core host). The second sends one frame of a real channel in one-byte TLS records to a node and
 * checks that it arrives whole, between two frames sent as usual.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, expect, it } from 'vitest';
import { DELIVERED, LinkReader, type FrameSink } from '../../src/hardware/link/link-reader.js';
import { DataFrame, DataMessage, FrameType, maxFrameBytes, messageBytes, writeFrameHeader } from '../../src/shared/link-frames.js';
import { makeCertificates } from './certs.js';
import { closeNodes, PROGRESS, READY, startNode } from './harness.js';
import { HostilePeer } from './hostile-peer.js';
import { linkTo, LOOPBACK, until } from './pair.js';
import { fillMessage } from './programs/messages.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const certs = makeCertificates([1, 2]);
afterAll(async () => {
  await closeNodes();
  certs.remove();
});

const MIB = 1024 * 1024;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it('68: a frame of 1 MiB read one byte at a time holds the frame\'s bytes in the reader, not a million reads', () => {
  const maxMessage = MIB;
  const got: number[] = [];
  const violations: string[] = [];
  const sink: FrameSink = {
    run: () => 1,
    message: (_entry, buf, _words, at, bytes) => {
      got.push(bytes, Buffer.from(buf.subarray(at, at + bytes)).equals(payload) ? 1 : 0);
      return DELIVERED;
    },
    delivered() {},
    ack() {},
    close() {},
    connect() {},
    connectOk() {},
    connectRefused() {},
    violation: (kind) => void violations.push(kind),
    fatal: (why) => void violations.push(`fatal: ${why}`),
    frameReceived() {},
  };
  const reader = new LinkReader(sink, maxFrameBytes(maxMessage), maxMessage);
  // One DATA frame of one message of maxMessageBytes, every byte of it checked on arrival.
  const payload = Buffer.from(Uint8Array.from({ length: maxMessage }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
  const frame = new Uint8Array(DataFrame.FIRST_MESSAGE_OFFSET + messageBytes(maxMessage));
  const v = new DataView(frame.buffer);
  writeFrameHeader(v, 0, FrameType.DATA, frame.length);
  v.setUint32(DataFrame.COUNT_OFFSET, 1, true);
  v.setUint32(DataFrame.FIRST_MESSAGE_OFFSET + DataMessage.PAYLOAD_BYTES_OFFSET, maxMessage, true);
  frame.set(payload, DataFrame.FIRST_MESSAGE_OFFSET + DataMessage.HEADER_BYTES);

  const before = heapAfterGc();
  // All but the last byte, one read each, as TLS hands over records of one byte: a fresh Buffer per read.
  for (let at = 0; at < frame.length - 1; at++) reader.push(frame.slice(at, at + 1));
  const held = heapAfterGc() - before;
  // Before the change: ~220 MB (a Buffer per read); now the frame's buffer, outside the heap.
  expect(held, `heap held by the reader after ${frame.length - 1} one-byte reads`).toBeLessThan(8 * MIB);
  expect(got).toEqual([]);
  reader.push(frame.slice(frame.length - 1));
  expect({ got, violations }).toEqual({ got: [maxMessage, 1], violations: [] });
});

it('68: a length word alone commits no memory: the frame\'s buffer grows with what arrived of it', () => {
  // A node whose rings carry messages of 256 MiB takes frames of about 1 GiB.
  const maxMessage = 256 * MIB;
  const sink = new Proxy({}, { get: () => () => 0 }) as FrameSink;
  const reader = new LinkReader(sink, maxFrameBytes(maxMessage), maxMessage);
  const header = new Uint8Array(DataFrame.FIRST_MESSAGE_OFFSET);
  writeFrameHeader(new DataView(header.buffer), 0, FrameType.DATA, maxFrameBytes(maxMessage));
  gc();
  const before = process.memoryUsage().arrayBuffers;
  // The frame's first 40 bytes, in two reads: the frame is split, and its length says ~1 GiB.
  reader.push(header.slice(0, 8));
  reader.push(header.slice(8));
  reader.push(new Uint8Array(64 * 1024));
  expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(MIB);
});

it('68: a frame of a live channel sent in one-byte TLS records arrives whole, between frames sent as usual', async () => {
  const SIZE = 2048;
  const TAG = 0x68686868;
  const b = await startNode({
    partitions: [{ id: 1 }],
    wait: 'sleep',
    // A loaded machine must not end the link while the peer writes its records one by one.
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], certificates: certs.paths(2), deadAfterMs: 5000 },
  });
  const rx = await b.spawn(1, 'receiver', { port: 7, size: SIZE });
  await until('the receiver to listen', async () => (await rx.control.read())[READY] === 1);
  const peer = await HostilePeer.dial(b.port!, certs.tls(1));
  try {
    const { key, channel } = await peer.openChannel({ request: 1, sourcePartition: 1, sourceProcess: 1, partition: 1, port: 7, sourceChannel: 77 });
    const data = (sequence: number) =>
      peer.dataFrame([{ channel, sourcePartition: 1, sequence, key, payload: fillMessage(new Uint8Array(SIZE), sequence - 1, TAG) }]);
    peer.send(data(1));
    await until('the first message', async () => (await rx.control.read())[PROGRESS] === 1);
    await peer.sendInRecords(data(2), 1);
    peer.send(data(3));
    await until('three messages', async () => (await rx.control.read())[PROGRESS] === 3);
    peer.send(peer.closeFrame(channel, 77, 0));
    expect((await rx.result).channels).toEqual([{ peer: { node: 1, partition: 1, process: 1 }, received: 3, outOfOrder: 0, corrupt: 0, end: 'ECLOSED' }]);
    expect(await linkTo(b, 1)).toMatchObject({ state: 'up', ups: 1, downs: 0, messagesReceived: 3, violations: { total: 0 } });
  } finally {
    peer.close();
  }
}, 30_000);
