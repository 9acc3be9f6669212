/** The trace ring: one writer, the operator's copy; full rings drop the oldest, scribbles are skipped and counted. */
import { describe, expect, it } from 'vitest';
import { Sampling, TRACE_HEADER_BYTES, TRACE_RECORD_BYTES, TRACE_WRITTEN_WORD, TraceKind } from '../../src/shared/trace-layout.js';
import { allocateTraceRing, TraceSnapshot, TraceWriter } from '../../src/shared/trace-ring.js';

const CAPACITY = 1024;

function write(ring: SharedArrayBuffer, count: number): void {
  const w = new TraceWriter(ring);
  for (let n = 1; n <= count; n++) w.record(TraceKind.SEND, 7, n, 0, 0, 0, n, n + 0.5);
}

function numbers(s: TraceSnapshot): number[] {
  return Array.from({ length: s.length }, (_, i) => s.field(s.at(i), 2));
}

describe('trace ring', () => {
  it('gives back what was written, oldest first, with its fields and times', () => {
    const ring = allocateTraceRing(CAPACITY);
    write(ring, 5);
    const s = new TraceSnapshot(ring, CAPACITY);
    expect(numbers(s)).toEqual([1, 2, 3, 4, 5]);
    expect([s.kind(s.at(0)), s.field(s.at(0), 1), s.time(s.at(0), 0), s.time(s.at(0), 1)]).toEqual([TraceKind.SEND, 7, 1, 1.5]);
    expect([s.dropped, s.malformed]).toEqual([0, 0]);
  });

  it('overwrites the oldest when full and counts them as dropped', () => {
    const ring = allocateTraceRing(CAPACITY);
    write(ring, CAPACITY + 476);
    const s = new TraceSnapshot(ring, CAPACITY);
    expect(s.length).toBe(CAPACITY);
    expect(s.dropped).toBe(476);
    expect(numbers(s)[0]).toBe(477);
    expect(numbers(s).at(-1)).toBe(CAPACITY + 476);
  });

  it('skips and counts records that make no sense, and bounds its work by its own capacity whatever the count word says', () => {
    const ring = allocateTraceRing(CAPACITY);
    write(ring, 10);
    const u32 = new Uint32Array(ring);
    const f64 = new Float64Array(ring);
    u32[(TRACE_HEADER_BYTES + 2 * TRACE_RECORD_BYTES) / 4] = 99; // record 3: no such kind
    f64[(TRACE_HEADER_BYTES + 4 * TRACE_RECORD_BYTES + 32) / 8] = Number.NaN; // record 5: a time that is not one
    const s = new TraceSnapshot(ring, CAPACITY);
    expect(numbers(s)).toEqual([1, 2, 4, 6, 7, 8, 9, 10]);
    expect(s.malformed).toBe(2);
    // A count far past what was written: the copy reads one ring's worth, no more.
    u32[TRACE_WRITTEN_WORD] = 0xffff_ffff;
    const scribbled = new TraceSnapshot(ring, CAPACITY);
    expect(scribbled.length + scribbled.malformed).toBe(CAPACITY);
    expect(scribbled.length).toBeLessThanOrEqual(10);
  });
});

describe('sampling', () => {
  it('picks every Nth number, by mask for powers of two and by division otherwise, past 2^31 too', () => {
    for (const every of [1, 2, 3, 64, 100, 1024]) {
      const sampling = new Sampling(every);
      for (const base of [0, 0x7fff_ff00, 0xffff_fe00]) {
        for (let n = base + 1; n <= base + 300; n++) expect(sampling.has(n), `${n} of every ${every}`).toBe(n % every === 0);
      }
    }
  });

  it('says how many numbers from n on come before the next sampled one (a traced run takes that many)', () => {
    for (const every of [1, 2, 3, 64, 100, 1024]) {
      const sampling = new Sampling(every);
      for (const base of [0, 0x7fff_ff00, 0xffff_fe00]) {
        for (let n = base + 1; n <= base + 300; n++) {
          let k = 0;
          while (!sampling.has(n + k)) k++;
          expect(sampling.unsampledFrom(n), `${n} of every ${every}`).toBe(k);
        }
      }
    }
  });
});
