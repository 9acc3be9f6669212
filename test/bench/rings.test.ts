/**
 * The scaling suites' ring sizes (bench/fabric.ts scalingRingBytes): 4 MiB streams while few
 * partitions share the cores, and never more than 64 MiB of rings in all, whatever --partitions
 * asks (each partition's rings are touched whole, and freed only when the main thread collects).
 */
import { describe, expect, it } from 'vitest';
import { scalingRingBytes, STREAM_RING_BYTES } from '../../bench/fabric.js';

describe('the scaling suites’ rings', () => {
  it('are the stream rings up to 8 partitions, then halve, as powers of two, within 64 MiB in all', () => {
    for (let n = 2; n <= 8; n++) expect(scalingRingBytes(n)).toBe(STREAM_RING_BYTES);
    expect([9, 16, 17, 32, 33, 64].map(scalingRingBytes)).toEqual([2, 2, 1, 1, 0.5, 0.5].map((mib) => mib * 1024 * 1024));
    for (let n = 2; n <= 64; n++) {
      const bytes = scalingRingBytes(n);
      expect(Number.isInteger(Math.log2(bytes)), `${n} partitions: ${bytes} bytes is a power of two`).toBe(true);
      expect(2 * n * bytes, `${n} partitions`).toBeLessThanOrEqual(64 * 1024 * 1024);
    }
    // Never below the machine's default, however many partitions.
    expect(scalingRingBytes(1000)).toBe(256 * 1024);
  });
});
