/**
 * copyWords, the four-at-a-time word copy under every small payload copy (engine, link writer,
 * partition slab and recvInto): exactly `words` words land at `to`, for every count around the
 * unrolled step, and no word before or after them changes.
 */
import { describe, expect, it } from 'vitest';
import { copyWords } from '../src/shared/copy-words.js';

const FILL = 0xdeadbeef;

describe('copyWords', () => {
  const src = new Uint32Array(128).map((_, i) => (i * 0x9e3779b1) >>> 0);

  it('copies exactly `words` words, for every count 0..40 and offsets on both sides', () => {
    for (let words = 0; words <= 40; words++) {
      for (const [from, to] of [
        [0, 0],
        [1, 7],
        [5, 2],
        [13, 40],
      ]) {
        const dst = new Uint32Array(128).fill(FILL);
        copyWords(src, from, dst, to, words);
        expect(Array.from(dst.subarray(to, to + words))).toEqual(Array.from(src.subarray(from, from + words)));
        expect(dst.subarray(0, to).every((w) => w === FILL)).toBe(true);
        expect(dst.subarray(to + words).every((w) => w === FILL)).toBe(true);
      }
    }
  });

  it('keeps every bit pattern, the high bit and all-ones included', () => {
    const patterns = new Uint32Array([0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x7ff00001, 0xfff80001]);
    const dst = new Uint32Array(patterns.length);
    copyWords(patterns, 0, dst, 0, patterns.length);
    expect(Array.from(dst)).toEqual(Array.from(patterns));
  });
});
