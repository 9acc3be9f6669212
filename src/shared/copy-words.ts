/**
 * The word copy every small payload takes (the engine's copy into a receive ring, the link's
 * writer and reader, the partition's copy out of its ring), in one place so all of them copy the
 * same way.
 */

/** A const enum, so that tsc writes the number into the copies (see RecordLayout in layout.ts). */
export const enum WordCopy {
  /**
   * Payloads up to this many bytes are copied as words; larger ones with TypedArray.set, whose call
   * and source view cost more than a short loop (measured on Node 20: 64 B 53 ns against 220 ns).
   */
  LIMIT = 256,
}

/**
 * Copy `words` u32 words, four per iteration: V8 does not unroll loops, and a 64 B payload copied
 * one word per iteration took ~23 ns against ~15 ns four at a time (fewer loop tests and bounds
 * checks; measured on Node 20, x64).
 */
export function copyWords(src: Uint32Array, from: number, dst: Uint32Array, to: number, words: number): void {
  let i = 0;
  for (; i + 4 <= words; i += 4) {
    dst[to + i] = src[from + i];
    dst[to + i + 1] = src[from + i + 1];
    dst[to + i + 2] = src[from + i + 2];
    dst[to + i + 3] = src[from + i + 3];
  }
  for (; i < words; i++) dst[to + i] = src[from + i];
}
