/**
 * Where received messages are copied when a caller keeps them (`recv()`, `tryRecv()`, messages
 * queued for a channel nobody is reading right now).
 *
 * A fresh ArrayBuffer per message costs far more than the copy (measured on Node 20: ~2 µs for
 * 4 KiB, against ~0.5 µs to copy 4 KiB into memory that exists), so messages are copied into one
 * large ArrayBuffer and handed out as views of it; a new slab starts when the current one is full,
 * and an old slab is garbage once no view of it is left. A view's `.buffer` is therefore the whole
 * slab, holding other messages received on this process slot too, an earlier program's there included (never another partition's memory).
 *
 * Slabs are per size class, each at most SPANS_PER_SLAB messages of its class (THREATS case 86): a
 * kept view pins its whole slab, and with one 64 KiB slab for every size a peer that followed each
 * 1-byte message its reader keeps (recv()'s messages are the caller's to keep) with 64 KiB its reader
 * drops made each kept byte pin 64 KiB outside the heap (2,000 kept bytes pinned 124 MB). Now a kept
 * view pins less than 2 × SPANS_PER_SLAB times its own span (1 KiB for a message of 8 bytes or less).
 */
import { copyWords, WordCopy } from '../shared/copy-words.js';
import { copyShared, setBytes } from '../shared/shared-copy.js';

/** Bytes per slab: large enough that one allocation serves many messages, small enough that a kept view pins little. */
const SLAB_BYTES = 64 * 1024;
/** Messages larger than this get an ArrayBuffer of their own: a slab would hold only a few of them. */
const OWN_BUFFER_ABOVE = SLAB_BYTES / 4;
/** Views start on 8-byte boundaries, so a caller can lay any typed array over a message. */
const VIEW_ALIGN_BYTES = 8;

/**
 * Messages of one size class (spans in (C/2, C], C a power of two) a slab holds at most: a slab is
 * min(SLAB_BYTES, SPANS_PER_SLAB × C), so a view pins less than 2 × SPANS_PER_SLAB times its span
 * (THREATS case 86), and a new slab is made at most once per SPANS_PER_SLAB / 2 messages. 128, not
 * fewer: an ArrayBuffer is ~1 µs to make, and at 32 a slab the copy of an 8-byte message cost twice
 * the single 64 KiB slab's (~60 ns against ~30); at 128, 10–30 ns more (a loaded 2-core machine).
 */
const SPANS_PER_SLAB = 128;
/** Size classes: C = 2^k for k up to log2(OWN_BUFFER_ABOVE) (the smallest span, 8, is class 3). */
const CLASSES = 32 - Math.clz32(OWN_BUFFER_ABOVE - 1) + 1;

export class MessageSlab {
  // Per size class (index k, C = 2^k): the current slab, its word view, bytes used and its size
  // (kept as a number: Node 20 does not inline an ArrayBuffer's byteLength, ~7 ns a read).
  // Filled with empty slabs (size 0, so the first message of a class makes its slab): an array with
  // holes is a slower kind of array for V8 on every message's lookup.
  private readonly buffers: ArrayBuffer[] = Array.from({ length: CLASSES }, () => new ArrayBuffer(0));
  private readonly u32s: Uint32Array[] = this.buffers.map((b) => new Uint32Array(b));
  private readonly used: number[] = new Array<number>(CLASSES).fill(0);
  private readonly sizes: number[] = new Array<number>(CLASSES).fill(0);

  /**
   * A view holding a copy of `length` bytes at byte offset `from` of the source (`u8` and `u32`
   * over the same memory; `from` must be 4-byte aligned, as record payloads are).
   */
  copy(u8: Uint8Array, u32: Uint32Array, from: number, length: number): Uint8Array {
    if (length > OWN_BUFFER_ABOVE) return u8.slice(from, from + length);
    // An empty message pins nothing (a view of a slab would pin it all).
    if (length === 0) return new Uint8Array(0);
    const span = (length + VIEW_ALIGN_BYTES - 1) & ~(VIEW_ALIGN_BYTES - 1);
    const k = 32 - Math.clz32(span - 1);
    let at = this.used[k];
    if (at + span > this.sizes[k]) {
      const size = Math.min(SLAB_BYTES, SPANS_PER_SLAB << k);
      this.buffers[k] = new ArrayBuffer(size);
      this.u32s[k] = new Uint32Array(this.buffers[k]);
      this.sizes[k] = size;
      at = 0;
    }
    this.used[k] = at + span;
    const view = new Uint8Array(this.buffers[k], at, length);
    if (length <= WordCopy.LIMIT) {
      // Whole words stay inside the span reserved here and inside the source's 8-byte-padded record.
      copyWords(u32, from >> 2, this.u32s[k], at >> 2, (length + 3) >> 2);
    } else {
      setBytes(view, sourceView(u8, from, length));
    }
    return view;
  }
}

/**
 * Copies into a buffer the caller owns (recvInto), one per channel. A caller reuses one buffer per
 * channel, so its word view is made once and kept: small messages go word by word, and no byte past
 * the message is written. Kept per channel, not per process: a process receiving on two channels
 * into a buffer each (a server answering two clients, both ends of a channel in one program) made
 * a new word view for every message when the process's channels shared one copier.
 */
export class BufferCopier {
  private buffer: Uint8Array | undefined;
  private words: Uint32Array = new Uint32Array(0);

  copy(u8: Uint8Array, u32: Uint32Array, from: number, length: number, into: Uint8Array): void {
    const whole = length >> 2;
    if (length > WordCopy.LIMIT) {
      // The caller's buffer may start at any offset: copyShared keeps a misaligned one off V8's byte-at-a-time copy.
      copyShared(u8, from, into, 0, length);
      return;
    }
    // The kept buffer's offset was checked when it was adopted (it never changes): the getters are
    // read only for another buffer, since Node 20 inlines none of them (~5-10 ns a read).
    if (into !== this.buffer || this.words.length < whole) {
      if ((into.byteOffset & 3) !== 0) {
        setBytes(into, sourceView(u8, from, length));
        return;
      }
      // Also remade when the buffer's memory shrank under the kept view (a resizable ArrayBuffer).
      this.buffer = into;
      this.words = new Uint32Array(into.buffer, into.byteOffset, into.byteLength >> 2);
    }
    copyWords(u32, from >> 2, this.words, 0, whole);
    for (let k = whole << 2; k < length; k++) into[k] = u8[from + k];
  }
}

/** The source bytes as a view for TypedArray.set (a constructor call: cheaper than subarray()). */
function sourceView(u8: Uint8Array, from: number, length: number): Uint8Array {
  return new Uint8Array(u8.buffer, u8.byteOffset + from, length);
}
