/**
 * copyBytes, the receiving hardware's copy of a message that came over a link: exactly the
 * payload's bytes land in the record, word-aligned or not, its padding is zeroed, and nothing
 * around it changes (THREATS case 26 for link deliveries).
 */
import { describe, expect, it } from 'vitest';
import { copyBytes } from '../src/hardware/payload-copy.js';
import { allocateRing, RingProducer } from '../src/shared/ring.js';
import { RecordLayout } from '../src/shared/layout.js';

const FILL = 0xaa;

function source(): { src8: Uint8Array; src32: Uint32Array } {
  const buffer = new ArrayBuffer(8192);
  const src8 = new Uint8Array(buffer);
  for (let i = 0; i < src8.length; i++) src8[i] = (i * 7 + 1) & 0xff;
  return { src8, src32: new Uint32Array(buffer) };
}

describe('copyBytes (link payload into a receive record)', () => {
  const { src8, src32 } = source();
  const dst = new RingProducer(allocateRing(16384));
  // Every count of whole words modulo 4 (copyWords goes four at a time), past the word-copy limit
  // (256) too, and at every offset modulo 8 in the source.
  const sizes = [0, 1, 3, 4, 5, 8, 12, 15, 16, 20, 28, 63, 64, 65, 255, 256, 257, 300, 513, 1000, 4096];

  for (const from of [0, 1, 2, 3, 4, 5, 6, 7, 100]) {
    it(`copies exactly the payload from source offset ${from}, zeroes the padding, touches nothing else`, () => {
      for (const bytes of sizes) {
        const to = 64;
        dst.u8.fill(FILL);
        copyBytes(src8, src32, from, dst, to, bytes);
        const padded = to + Math.ceil(bytes / RecordLayout.ALIGN_BYTES) * RecordLayout.ALIGN_BYTES;
        expect(Array.from(dst.u8.subarray(to, to + bytes))).toEqual(Array.from(src8.subarray(from, from + bytes)));
        expect(dst.u8.subarray(to + bytes, padded).every((b) => b === 0)).toBe(true);
        expect(dst.u8.subarray(0, to).every((b) => b === FILL)).toBe(true);
        expect(dst.u8.subarray(padded, padded + 64).every((b) => b === FILL)).toBe(true);
      }
    });
  }
});
