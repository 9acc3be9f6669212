/**
 * cloneCost (src/partitions/clone-cost.ts, THREATS case 60): every value `node:v8` serializes, with
 * and without Node's host objects, is walked to its end and charged; a message of cheap-to-send,
 * dear-to-build values is charged more than it takes; bytes no clone this side takes are refused.
 */
import { Serializer, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { cloneCost } from '../src/partitions/clone-cost.js';

function plain(value: unknown): Buffer {
  const s = new Serializer();
  s.writeHeader();
  s.writeValue(value);
  return s.releaseBuffer();
}

/** A dense array of `n` copies of one value's wire bytes, written by hand. */
function denseOf(n: number, element: number[]): Uint8Array {
  const varint = (v: number): number[] => {
    const out = [];
    do {
      out.push((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
      v = Math.floor(v / 128);
    } while (v > 0);
    return out;
  };
  return Uint8Array.from([0xff, 0x0f, 0x41, ...varint(n), ...new Array<number[]>(n).fill(element).flat(), 0x24, 0, ...varint(n)]);
}

describe('cloneCost', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const sparse: unknown[] = [];
  sparse[1000] = 1;
  const values: unknown[] = [
    null, undefined, true, false, 0, -1, 2 ** 31, 1.5, 10n, -(2n ** 100n), 'abc', 'ünïcode ✓ 😀', {}, [], cyclic, sparse, [1, , 3],
    new Map<unknown, unknown>([[1, { a: [1, 2] }], ['k', new Set([1, 'x'])]]), new Date(0), /ab+c/gi, new String('s'), new Number(3), new Boolean(false),
    Object(5n), Buffer.from(Uint8Array.from([104, 101, 108, 108, 111]).buffer), new Float64Array([1, 2]), new DataView(new ArrayBuffer(8)), new ArrayBuffer(16),
    new RangeError('m', { cause: new Error('c') }), { type: 'APPLY', path: ['add'], argumentList: [{ type: 'RAW', value: 1 }], id: 'x-1' },
  ];
  it('walks every kind of value to its end, host objects or not', () => {
    for (const v of values) {
      for (const bytes of [serialize(v), plain(v)]) expect(cloneCost(bytes, Infinity), String(v)).toEqual({ bytes: expect.any(Number) });
    }
  });

  it('charges 64 MiB of bytes about their size, and empty Maps, Sets, buffers and wrappers far more than their wire bytes', () => {
    const big = cloneCost(serialize(new Uint8Array(64 << 20)), Infinity) as { bytes: number };
    expect(big.bytes).toBeGreaterThanOrEqual(64 << 20);
    expect(big.bytes).toBeLessThan((64 << 20) + 1024);
    // 1000 each: ';:\0' an empty Map (207 bytes of heap each, measured), "',\0" a Set, 'B\0' an ArrayBuffer, 'y' a true object.
    for (const element of [[0x3b, 0x3a, 0], [0x27, 0x2c, 0], [0x42, 0], [0x79]]) {
      expect((cloneCost(denseOf(1000, element), Infinity) as { bytes: number }).bytes).toBeGreaterThanOrEqual(1000 * 150);
    }
  });

  it('stops counting once past the budget', () => {
    expect((cloneCost(denseOf(100_000, [0x3b, 0x3a, 0]), 1_000_000) as { bytes: number }).bytes).toBeLessThan(1_001_000);
  });

  it('refuses what no clone this side takes: no header, a newer format, a transferred buffer, a length past the end, nesting over 1024', () => {
    expect(cloneCost(Uint8Array.from([0x41, 0]), Infinity)).toEqual({ refused: 'it has no version header' });
    expect(cloneCost(Uint8Array.from([0xff, 0x7f, 0x30]), Infinity)).toEqual({ refused: `its format version 127 is not one this Node reads (13 to ${serialize(null)[1]})` });
    expect(cloneCost(Uint8Array.from([0xff, 0x0f, 0x75, 0]), Infinity)).toEqual({ refused: expect.stringMatching(/^a value of tag 117 \(0x75\) at byte 2/) });
    expect(cloneCost(Uint8Array.from([0xff, 0x0f, 0x22, 0x10, 0x61]), Infinity)).toEqual({ refused: 'a length of 16 bytes past its end' });
    expect(cloneCost(Uint8Array.from([0xff, 0x0f, ...new Array<number>(2000).fill(0x6f)]), Infinity)).toEqual({ refused: 'values nested more than 1024 deep' });
    // Case 87: a view of part of its buffer (a pooled Buffer, written without host objects) keeps all of it alive.
    expect(cloneCost(plain(new Uint8Array(new ArrayBuffer(4096), 8, 1)), Infinity)).toEqual({ refused: 'a typed array of 1 bytes at 8 over a buffer of 4096 (node:v8 writes each typed array with its own bytes)' });
  });
});
