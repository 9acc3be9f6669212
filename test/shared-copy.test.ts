/**
 * copyShared, the copy of every payload over 256 bytes into or out of a ring: exactly the bytes
 * asked for land where asked, at every alignment on either side, whichever side is shared memory,
 * and nothing before or after them changes (the scratch buffer a misaligned copy goes through is
 * reused, so a stale byte of an earlier, larger copy must never come out of it).
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { copyShared, ScratchCopy } from '../src/shared/shared-copy.js';

const FILL = 0xa5;

function bytes(shared: boolean, length: number): Uint8Array {
  return new Uint8Array(shared ? new SharedArrayBuffer(length) : new ArrayBuffer(length));
}

describe('copyShared', () => {
  it('copies exactly the bytes asked for, at every alignment, shared or not on each side', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 23 }),
        (size, from, to, srcShared, dstShared, viewOffset) => {
          // The source is a view starting at viewOffset of its buffer, as a Buffer from Node's pool is.
          const whole = bytes(srcShared, viewOffset + from + size + 16);
          for (let i = 0; i < whole.length; i++) whole[i] = (i * 31 + 7) & 0xff;
          const src = whole.subarray(viewOffset);
          const dst = bytes(dstShared, to + size + 16).fill(FILL);
          copyShared(src, from, dst, to, size);
          expect(Buffer.from(dst.subarray(to, to + size)).equals(Buffer.from(src.subarray(from, from + size)))).toBe(true);
          expect(dst.subarray(0, to).every((b) => b === FILL)).toBe(true);
          expect(dst.subarray(to + size).every((b) => b === FILL)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('takes the scratch path for a large misaligned copy, and leaves no earlier copy\'s bytes in its result', () => {
    const big = ScratchCopy.ABOVE * 4;
    const src = bytes(false, big + 8).fill(0xee);
    const ring = bytes(true, big + 16);
    copyShared(src, 1, ring, 8, big);
    // A smaller copy after it, at another misalignment: the scratch still holds 0xee past its end.
    const small = Uint8Array.from({ length: ScratchCopy.ABOVE + 1 }, (_, i) => i & 0xff);
    const dst = bytes(true, small.length + 24).fill(FILL);
    copyShared(small, 0, dst, 3, small.length);
    expect(Array.from(dst.subarray(3, 3 + small.length))).toEqual(Array.from(small));
    expect(dst[3 + small.length]).toBe(FILL);
    expect(dst[2]).toBe(FILL);
  });

  it('copies a source shorter than asked only as far as it goes, never a stale scratch byte past its end', () => {
    const big = ScratchCopy.ABOVE * 4;
    const ring = bytes(true, big + 16);
    copyShared(bytes(false, big).fill(0x5e), 0, ring, 1, big); // the scratch now holds 0x5e
    ring.fill(0);
    const short = bytes(false, ScratchCopy.ABOVE * 2).fill(1);
    copyShared(short, 0, ring, 1, big);
    expect(ring.subarray(1, 1 + short.length).every((b) => b === 1)).toBe(true);
    expect(ring.subarray(1 + short.length).every((b) => b === 0)).toBe(true);
  });

  it('grows its scratch for the offset too: a copy as large as the scratch, at another alignment', async () => {
    vi.resetModules();
    const fresh = await import('../src/shared/shared-copy.js');
    const size = ScratchCopy.ABOVE * 2;
    const src = Uint8Array.from({ length: size }, (_, i) => (i * 13 + 5) & 0xff);
    const ring = bytes(true, size + 16);
    fresh.copyShared(src, 0, ring, 1, size); // a scratch of size + 1
    fresh.copyShared(src, 0, ring, 7, size); // needs size + 7
    expect(Array.from(ring.subarray(7, 7 + size))).toEqual(Array.from(src));
  });

  it('never copies between shared and unshared memory at different alignments (the point of it)', async () => {
    // Every TypedArray set() a misaligned copy makes, with the alignment of each side. The module
    // keeps its own reference to set() (setBytes), taken when it loads: load it afresh under the spy.
    const proto = Object.getPrototypeOf(Uint8Array.prototype) as { set: (this: Uint8Array, s: Uint8Array, o?: number) => void };
    const set = proto.set;
    const calls: Array<{ mixed: boolean; aligned: boolean }> = [];
    proto.set = function (this: Uint8Array, s: Uint8Array, o = 0) {
      const shared = (a: Uint8Array) => a.buffer instanceof SharedArrayBuffer;
      calls.push({ mixed: shared(this) !== shared(s), aligned: ((this.byteOffset + o - s.byteOffset) & 7) === 0 });
      return set.call(this, s, o);
    };
    try {
      vi.resetModules();
      const { copyShared } = await import('../src/shared/shared-copy.js');
      const size = ScratchCopy.ABOVE * 3;
      for (const [srcShared, from, to] of [
        [false, 1, 0],
        [false, 3, 5],
        [true, 0, 1],
        [true, 6, 3],
      ] as const) {
        const src = bytes(srcShared, size + 8);
        const dst = bytes(!srcShared, size + 8);
        calls.length = 0;
        copyShared(src, from, dst, to, size);
        expect(calls.length).toBeGreaterThan(0);
        for (const c of calls) if (c.mixed) expect(c.aligned).toBe(true);
      }
    } finally {
      proto.set = set;
    }
  });
});
