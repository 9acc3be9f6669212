/**
 * What attack run 24a tried against the one hardware thread's time from a hostile peer node and
 * found held: cheap frames (heartbeats, empty ACKs, ACK entries naming no channel, frames refused
 * at their header) each cost the reader a bounded, constant amount of work, one sink call at most
 * per frame or ACK entry, whatever the stream; the link's socket hands the hardware at most a read
 * per event-loop turn, so what they cost is bounded per byte received. Counts, exact.
 */
import { expect, it } from 'vitest';
import { LinkReader, type FrameSink } from '../../src/hardware/link/link-reader.js';
import { AckFrame, FrameType, maxFrameBytes, writeFrameHeader } from '../../src/shared/link-frames.js';

const MAX_MESSAGE = 64 * 1024;

/** A reader whose sink counts each call by name. */
function countingReader() {
  const calls: Record<string, number> = {};
  const sink = new Proxy({}, { get: (_, name: string) => () => ((calls[name] = (calls[name] ?? 0) + 1), 0) }) as FrameSink;
  return { reader: new LinkReader(sink, maxFrameBytes(MAX_MESSAGE), MAX_MESSAGE), calls };
}

/** `n` frames of `bytes` each, written by `write(view, at)`, fed in 16 KiB reads (a TLS record's most). */
function feed(reader: LinkReader, n: number, bytes: number, write: (v: DataView, at: number) => void) {
  const buf = new Uint8Array(n * bytes);
  const v = new DataView(buf.buffer);
  for (let i = 0; i < n; i++) write(v, i * bytes);
  for (let at = 0; at < buf.length; at += 16 * 1024) reader.push(buf.subarray(at, Math.min(buf.length, at + 16 * 1024)));
}

it('1 MiB of heartbeats: 131,072 frames, one count each and no other call', () => {
  const { reader, calls } = countingReader();
  feed(reader, 131_072, 8, (v, at) => writeFrameHeader(v, at, FrameType.HEARTBEAT, 8));
  expect(calls).toEqual({ frameReceived: 131_072 });
});

it('empty ACKs: one count each; a full ACK frame of entries naming no channel: one ack() per entry, and a frame with a bad type byte: one violation', () => {
  const { reader, calls } = countingReader();
  feed(reader, 4096, AckFrame.FIRST_ENTRY_OFFSET, (v, at) => writeFrameHeader(v, at, FrameType.ACK, AckFrame.FIRST_ENTRY_OFFSET));
  const entries = 1000;
  const bytes = AckFrame.FIRST_ENTRY_OFFSET + entries * AckFrame.ENTRY_BYTES;
  feed(reader, 1, bytes, (v, at) => {
    writeFrameHeader(v, at, FrameType.ACK, bytes);
    v.setUint32(at + AckFrame.COUNT_OFFSET, entries, true);
    for (let i = 0; i < entries; i++) v.setUint32(at + AckFrame.FIRST_ENTRY_OFFSET + i * AckFrame.ENTRY_BYTES, 0xdead0000 + i, true);
  });
  feed(reader, 1000, 8, (v, at) => writeFrameHeader(v, at, 0x7f as FrameType, 8));
  expect(calls).toEqual({ frameReceived: 4096 + 1 + 1000, ack: entries, violation: 1000 });
});
