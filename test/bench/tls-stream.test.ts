/**
 * The raw TLS baseline's framing (bench/tls-stream.ts): the counter finds every message of a
 * framed stream however the stream is cut into chunks (a length word split across chunks
 * included), and the sender's stream is exactly what the counter expects.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countFramed, sendFramed, WRITE_BYTES } from '../../bench/tls-stream.js';
import { Tally } from '../../bench/programs/common.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

  it('leaves the warm-up out, counting and timing from its end, as the lparlink receiver\'s Tally does', async () => {
    const stream = new PassThrough();
    const counted = countFramed(stream, 40);
    const started = performance.now();
    stream.write(framed([10, 10, 10]));
    await sleep(60);
    // The read that ends the warm-up is still part of it; from the next one on everything counts.
    stream.write(framed([1]));
    await sleep(20);
    stream.write(framed([7, 7]));
    stream.end();
    const raw = await counted;
    expect(raw).toMatchObject({ messages: 2, bytes: 14 });
    // Timed from the warm-up's end, at least 40 ms after the first byte (a bound no slow timer breaks).
    expect(raw.seconds).toBeLessThanOrEqual((performance.now() - started) / 1000 - 0.04);

    const tallyStarted = performance.now();
    const tally = new Tally(40);
    const payload = new Uint8Array(8);
    for (let i = 0; i < 256; i++) tally.count(payload, 0, 8);
    await sleep(60);
    // The clock is read every 256th message: this one ends the warm-up and is part of it.
    for (let i = 0; i < 256; i++) tally.count(payload, 0, 8);
    for (let i = 0; i < 10; i++) tally.count(payload, 0, 3);
    const t = tally.result();
    expect(t).toMatchObject({ messages: 10, bytes: 30 });
    expect(t.seconds).toBeLessThanOrEqual((performance.now() - tallyStarted) / 1000 - 0.04);
  });

  it('counts the whole stream when it ends inside the warm-up', async () => {
    const stream = new PassThrough();
    const counted = countFramed(stream, 10_000);
    stream.write(framed([5, 6]));
    stream.end();
    expect(await counted).toMatchObject({ messages: 2, bytes: 11 });
    const tally = new Tally(10_000);
    for (let i = 0; i < 300; i++) tally.count(new Uint8Array(4), 0, 4);
    expect(tally.result()).toMatchObject({ messages: 300, bytes: 1200 });
  });
});
