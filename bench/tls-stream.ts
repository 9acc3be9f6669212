/**
 * The raw TLS baseline of the link suite: a stream of length-prefixed messages
 * (u32 length, payload) over one TLS 1.3 socket, packed into large writes as
 * the link packs its frames, and counted on the other side without a copy.
 * It is what the link would cost with no key, no verification, no rings and
 * no hardware thread: the ceiling the link is measured against.
 */
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { payload, Tally, type ReceiveTally } from './programs/common.js';

/** Bytes per socket write: large writes, so that TLS records are full and writes are few. */
export const WRITE_BYTES = 64 * 1024;
const LENGTH_BYTES = 4;

/** Write messages of `size` bytes for `durationMs`, WRITE_BYTES at a time, honouring back-pressure; then end. */
export async function sendFramed(socket: Duplex, size: number, durationMs: number): Promise<number> {
  const body = Buffer.from(payload(size));
  const each = LENGTH_BYTES + size;
  const perWrite = Math.max(1, Math.floor(WRITE_BYTES / each));
  const end = performance.now() + durationMs;
  let sent = 0;
  while (performance.now() < end) {
    // A fresh buffer per write: the socket may still hold the last one.
    const chunk = Buffer.allocUnsafe(perWrite * each);
    for (let i = 0, at = 0; i < perWrite; i++, at += each) {
      chunk.writeUInt32LE(size, at);
      body.copy(chunk, at + LENGTH_BYTES);
    }
    sent += perWrite;
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
  socket.end();
  return sent;
}

/**
 * Count the messages of a framed stream until it ends: each message is counted and its first
 * byte read in place, as the lparlink receiver reads each message. `seconds` runs from the first
 * read to the end of the stream, or, with `warmupMs`, from the end of that warm-up: the lparlink
 * receiver's Tally counts both (here the clock is read once per read, not per message).
 */
export function countFramed(socket: Duplex, warmupMs = 0): Promise<ReceiveTally> {
  const tally = new Tally(warmupMs);
  let skip = 0; // body bytes of the current message still to come
  let head = 0; // a length word split across chunks, and how many of its bytes came
  let headBytes = 0;
  socket.on('data', (c: Buffer) => {
    let messages = 0;
    let bytes = 0;
    let sample = 0;
    let i = Math.min(skip, c.length);
    skip -= i;
    while (i < c.length) {
      let length: number;
      if (headBytes === 0 && c.length - i >= LENGTH_BYTES) {
        length = c.readUInt32LE(i);
        i += LENGTH_BYTES;
      } else {
        while (headBytes < LENGTH_BYTES && i < c.length) head |= c[i++] << (8 * headBytes++);
        if (headBytes < LENGTH_BYTES) break;
        length = head >>> 0;
        head = headBytes = 0;
      }
      messages++;
      bytes += length;
      if (i < c.length) sample ^= c[i];
      const here = Math.min(length, c.length - i);
      i += here;
      skip = length - here;
    }
    tally.addRead(messages, bytes, sample);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('end', () => resolve(tally.result()));
  });
}
