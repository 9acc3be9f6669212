/**
 * Where received messages are copied when a caller keeps them (`recv()`, `tryRecv()`, messages
 * queued for a channel nobody is reading right now).
 *
 * A fresh ArrayBuffer per message costs far more than the copy (measured on Node 20: ~2 µs for
 * 4 KiB, against ~0.5 µs to copy 4 KiB into memory that exists), so messages are copied into one
 * large ArrayBuffer and handed out as views of it; a new slab starts when the current one is full,
 * and an old slab is garbage once no view of it is left. A view's `.buffer` is therefore the whole
 * slab, holding this process's other received messages too (never another partition's memory).
 */
import { copyWords, WordCopy } from '../shared/copy-words.js';
import { copyShared, setBytes } from '../shared/shared-copy.js';

/** Bytes per slab: large enough that one allocation serves many messages, small enough that a kept view pins little. */
const SLAB_BYTES = 64 * 1024;
/** Messages larger than this get an ArrayBuffer of their own: a slab would hold only a few of them. */
const OWN_BUFFER_ABOVE = SLAB_BYTES / 4;
/** Views start on 8-byte boundaries, so a caller can lay any typed array over a message. */
const VIEW_ALIGN_BYTES = 8;

export class MessageSlab {
  private buffer = new ArrayBuffer(0);
  private u32 = new Uint32Array(this.buffer);
  private used = 0;
  /** The slab's bytes, kept as a number: Node 20 does not inline an ArrayBuffer's byteLength (~7 ns a read). */
  private size = 0;

  /**
   * A view holding a copy of `length` bytes at byte offset `from` of the source (`u8` and `u32`
   * over the same memory; `from` must be 4-byte aligned, as record payloads are).
   */
  copy(u8: Uint8Array, u32: Uint32Array, from: number, length: number): Uint8Array {
    if (length > OWN_BUFFER_ABOVE) return u8.slice(from, from + length);
    const span = (length + VIEW_ALIGN_BYTES - 1) & ~(VIEW_ALIGN_BYTES - 1);
    if (this.used + span > this.size) {
      this.buffer = new ArrayBuffer(SLAB_BYTES);
      this.u32 = new Uint32Array(this.buffer);
      this.used = 0;
      this.size = SLAB_BYTES;
    }
    const at = this.used;
    this.used += span;
    const view = new Uint8Array(this.buffer, at, length);
    if (length <= WordCopy.LIMIT) {
      // Whole words stay inside the span reserved here and inside the source's 8-byte-padded record.
      copyWords(u32, from >> 2, this.u32, at >> 2, (length + 3) >> 2);
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
