/**
 * The one copy the hardware makes of a message: from the sender's send ring
 * into the receiver's receive ring, exactly the payload's bytes.
 */
import { copyWords, WordCopy } from '../shared/copy-words.js';
import { RecordLayout } from '../shared/layout.js';
import { copyShared, setBytes } from '../shared/shared-copy.js';
import type { RingConsumer, RingProducer } from '../shared/ring.js';

/**
 * Copy exactly `bytes` payload bytes into a receive record and zero the record's alignment padding
 * (THREATS case 26). Bytes past the payload in the sender's ring belong to whatever that process
 * wrote there before (a longer message to another channel): copying whole words or the aligned
 * span would hand them to this receiver. Every byte the hardware writes into a port is that
 * partition's data or zero. `to` is 8-byte aligned, as every record body is.
 */
export function copyPayload(src: RingConsumer, from: number, dst: RingProducer, to: number, bytes: number): void {
  // A work request's payload and a receive record's body both start 8-byte aligned: a small one
  // takes copyBytes' word path, a large one V8's 8-byte copy between shared buffers directly.
  if (bytes <= WordCopy.LIMIT) return copyBytes(src.u8, src.u32, from, dst, to, bytes);
  const d8 = dst.u8;
  setBytes(d8, src.u8.subarray(from, from + bytes), to);
  zeroPadding(d8, to + bytes);
}

/**
 * Copy a message that arrived over an inter-node link (hardware-private bytes) into a receive
 * record, zeroing the record's alignment padding as copyPayload does. `src8` and `src32` view the
 * same bytes from the same start; a small payload that starts on a word there (as the link's
 * frames put it, unless the socket handed over a buffer at an odd offset) is copied word by word,
 * else byte by byte: for 64 B messages the byte loop was the receiving hardware's largest cost.
 * A larger one goes through copyShared, which keeps a misaligned source off V8's byte-at-a-time
 * copy into shared memory.
 */
export function copyBytes(src8: Uint8Array, src32: Uint32Array, from: number, dst: RingProducer, to: number, bytes: number): void {
  if (bytes <= WordCopy.LIMIT && (from & 3) === 0) return copyAlignedWords(src8, src32, from, dst, to, bytes);
  const d8 = dst.u8;
  if (bytes > WordCopy.LIMIT) copyShared(src8, from, d8, to, bytes);
  else for (let i = 0; i < bytes; i++) d8[to + i] = src8[from + i];
  zeroPadding(d8, to + bytes);
}

/**
 * copyBytes() for a small payload that starts on a word in its source (as the link's frames put
 * it): the case the link's receive stage checks for itself and calls directly, small enough for V8
 * to inline there (copyBytes as a whole, called per message, was a fifth of that thread's time).
 */
export function copyAlignedWords(src8: Uint8Array, src32: Uint32Array, from: number, dst: RingProducer, to: number, bytes: number): void {
  const d8 = dst.u8;
  const words = bytes >>> 2;
  copyWords(src32, from >> 2, dst.u32, to >> 2, words);
  for (let i = words << 2; i < bytes; i++) d8[to + i] = src8[from + i];
  zeroPadding(d8, to + bytes);
}

/** Zero a record body's bytes from `end` to its 8-byte boundary. */
function zeroPadding(d8: Uint8Array, end: number): void {
  const padded = (end + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1);
  for (let i = end; i < padded; i++) d8[i] = 0;
}
