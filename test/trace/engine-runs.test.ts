/**
 * A traced engine serves runs too (Engine.sendRun): each run ends before its channel's next sampled
 * message, which the general path records. The numbers it records must be the ones the engine gave
 * when every message went one at a time: the sender and the receiver number the channel's messages
 * themselves, and a flow is joined by that number.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../../bench/micro.js';
import { Sampling, TraceKind } from '../../src/shared/trace-layout.js';
import { TraceSnapshot } from '../../src/shared/trace-ring.js';
import { DEFAULTS } from '../../src/options.js';

const SAMPLE = 8;

/** The message numbers the hardware's trace recorded as delivered, oldest first. */
function recordedNumbers(ring: SharedArrayBuffer): number[] {
  const s = new TraceSnapshot(ring, DEFAULTS.traceRecords);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) if (s.kind(s.at(i)) === TraceKind.HARDWARE_MESSAGE) out.push(s.field(s.at(i), 5));
  return out;
}

/** What one at a time numbers `count` messages after `before` were counted: each is the count + 1, stored as a u32. */
function sampledOneAtATime(before: number, count: number, sample = SAMPLE): number[] {
  const sampling = new Sampling(sample);
  const out: number[] = [];
  let c = before;
  for (let i = 0; i < count; i++) {
    const n = c + 1;
    if (sampling.has(n)) out.push(n >>> 0);
    c = n >>> 0;
  }
  return out;
}

function traced(before?: number, sample = SAMPLE) {
  const paths = verifiedPaths(64, 256 * 1024, 1, undefined, sample);
  const { hw, tx } = paths;
  const tracer = hw.engine.tracer!;
  if (before !== undefined) {
    // The sending end's entry: partition 2 (index 1), the handle's slot.
    const e = hw.table.entry(1, tx[0].handle & hw.table.slotMask);
    tracer.commit(e, tx[0].handle, before);
  }
  return paths;
}

describe('a traced engine serves runs between sampled messages', () => {
  it('records every sampled message, numbered as one at a time numbers them, whatever the batches', () => {
    const {
      tx: [tx],
      rx: [rx],
      hw,
      traceThreads,
    } = traced();
    const payload = new Uint8Array(64).fill(1);
    let sent = 0;
    let received = 0;
    for (const batch of [1, 7, 8, 9, 32, 100, 46, 3]) {
      expect(tx.sendBatch(new Array<Uint8Array>(batch).fill(payload))).toBe(batch);
      sent += batch;
      while (hw.engine.round() > 0);
      received += rx.drainBytes(() => {});
    }
    expect(received).toBe(sent);
    expect(recordedNumbers(traceThreads[0].ring)).toEqual(sampledOneAtATime(0, sent));
    expect(recordedNumbers(traceThreads[0].ring)).toHaveLength(Math.floor(sent / SAMPLE));
  });

  it.each([8, 100])('numbers a channel across the count\'s wrap as one at a time does (2^32, then 1), every %i-th sampled', (sample) => {
    const {
      tx: [tx],
      rx: [rx],
      hw,
      traceThreads,
    } = traced(0xffff_ffff - 12, sample);
    const payload = new Uint8Array(64).fill(2);
    for (let i = 0; i < 16; i++) {
      expect(tx.sendBatch(new Array<Uint8Array>(16).fill(payload))).toBe(16);
      while (hw.engine.round() > 0);
      expect(rx.drainBytes(() => {})).toBe(16);
    }
    const expected = sampledOneAtATime(0xffff_ffff - 12, 256, sample);
    // Every 8th: 2^32 is sampled, recorded as its u32, 0. Every 100th: it is not, and the count
    // starts again at 1 after it, so 100 and 200 are sampled; the run across the wrap ends before
    // 2^32 + 4 (a multiple of 100), and the next one numbers on from the count, 4.
    expect(expected).toEqual(sample === 8 ? [0xffff_fff8, 0, ...Array.from({ length: 30 }, (_, i) => 8 * (i + 1))] : [100, 200]);
    expect(recordedNumbers(traceThreads[0].ring)).toEqual(expected);
  });
});
