/**
 * Copies of more than a few words into or out of shared memory (a ring), wherever the other side
 * lies. V8 copies bytes of a SharedArrayBuffer with relaxed atomic stores (TypedArray.set and
 * Buffer.copy alike): eight bytes at a time when source and destination sit at the same address
 * modulo 8, one byte at a time when they do not. Measured on Node 20, x64, 4 KiB: ~0.35 µs at the
 * same alignment, 1.5-2 µs at different ones; between two unshared buffers any alignment is a plain
 * memmove (~0.15 µs). So a copy between a shared and an unshared buffer at different alignments
 * goes through a private scratch buffer placed at the shared side's alignment: the plain memmove
 * on the unshared side, the 8-byte copy on the shared side.
 *
 * Backing stores start 8-aligned (malloc), so a view's byteOffset stands for its address modulo 8.
 */

/**
 * TypedArray.prototype.set, called through a reference saved here. Written `view.set(src, at)`,
 * Node 20 finds `set` through a generic property load (a LoadIC call, even where the view's type
 * never changes) before every copy: a 64 B copy into a ring took ~32 ns that way, ~24 ns this way.
 * The same builtin does the copy either way.
 */
const typedArraySet = Uint8Array.prototype.set;

/** `dst.set(src, at)`, without the property load (see typedArraySet). */
export function setBytes(dst: Uint8Array, src: Uint8Array, at = 0): void {
  typedArraySet.call(dst, src, at);
}

/** A const enum, so that tsc writes the number into every sender's copy (see RecordLayout in layout.ts). */
export const enum ScratchCopy {
  /** Below this many bytes the byte-at-a-time copy costs less than a second copy's call (measured: ~512 B). */
  ABOVE = 512,
}

let scratch = new Uint8Array(0);

/** Copy `bytes` bytes from `src` at `from` to `dst` at `to` (either view may be of a SharedArrayBuffer). */
export function copyShared(src: Uint8Array, from: number, dst: Uint8Array, to: number, bytes: number): void {
  const source = src.subarray(from, from + bytes);
  if (bytes <= ScratchCopy.ABOVE || ((src.byteOffset + from - dst.byteOffset - to) & 7) === 0) {
    setBytes(dst, source, to);
    return;
  }
  // source.length, not bytes: a source shorter than asked is copied as far as it goes, as set()
  // does above; never a stale byte of the scratch (another message's) past its end.
  copyMisaligned(source, dst, to, source.length);
}

function copyMisaligned(source: Uint8Array, dst: Uint8Array, to: number, bytes: number): void {
  const sourceShared = source.buffer instanceof SharedArrayBuffer;
  // Both shared (ring to ring, always aligned) or neither: no order of copies does better.
  if (sourceShared === dst.buffer instanceof SharedArrayBuffer) {
    setBytes(dst, source, to);
    return;
  }
  const at = (sourceShared ? source.byteOffset : dst.byteOffset + to) & 7;
  if (scratch.length < at + bytes) scratch = new Uint8Array(Math.max(at + bytes, 2 * scratch.length));
  setBytes(scratch, source, at);
  setBytes(dst, scratch.subarray(at, at + bytes), to);
}
