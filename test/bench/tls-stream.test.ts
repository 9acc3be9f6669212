/**
 * The raw TLS baseline's framing (bench/tls-stream.ts): the counter finds every message of a
 * framed stream however the stream is cut into chunks (a length word split across chunks
 * included), and the sender's stream is exactly what the counter expects.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countFramed, sendFramed, WRITE_BYTES } from '../../bench/tls-stream.js';

function framed(sizes: number[]): Buffer {
  return Buffer.concat(
    sizes.map((n) => {
      const b = Buffer.alloc(4 + n, 0xab);
      b.writeUInt32LE(n, 0);
      return b;
    }),
  );
}

describe('bench/tls-stream.ts', () => {
  it('counts every message exactly, however the stream is chunked', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 40 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }), async (sizes, cuts) => {
        const stream = new PassThrough();
        const counted = countFramed(stream);
        const bytes = framed(sizes);
        for (let at = 0, k = 0; at < bytes.length; k++) {
          const n = cuts[k % cuts.length];
          stream.write(bytes.subarray(at, at + n));
          at += n;
        }
        stream.end();
        const t = await counted;
        expect(t.messages).toBe(sizes.length);
        expect(t.bytes).toBe(sizes.reduce((a, b) => a + b, 0));
      }),
      { numRuns: 300 },
    );
  });

  it('the sender writes whole frames in writes of at most WRITE_BYTES, and the counter counts what it sent', async () => {
    const stream = new PassThrough({ highWaterMark: 1 << 20 });
    const writes: number[] = [];
    stream.on('data', (c: Buffer) => writes.push(c.length));
    const counted = countFramed(stream);
    const sent = await sendFramed(stream, 100, 20);
    const t = await counted;
    expect(sent).toBeGreaterThan(0);
    expect(t).toMatchObject({ messages: sent, bytes: sent * 100 });
    for (const w of writes) {
      expect(w).toBeLessThanOrEqual(WRITE_BYTES);
      expect(w % 104).toBe(0);
    }
  });
});
