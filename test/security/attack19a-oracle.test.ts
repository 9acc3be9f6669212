/**
 * Attack run 19a: the engine against an oracle, not against another engine (in process, one thread).
 *
 * lookups-differential.test.ts drives two engines with the same hostile steps and compares them: a
 * fault both share (in the channel table, the kept messages' tags, the stamp) passes it. Here one
 * engine is driven by the same steps (engine-differential.ts's, floods included, so messages are
 * kept aside and dropped), every SEND's payload names the message (its number, the partition,
 * queue pair and handle it was written on), and every DATA record a receive ring gets is checked
 * against what the steps did: the message was written exactly so, as a SEND with flags 0, by the
 * queue pair that owns the handle it names, whose channel's other end is the receiving queue pair's
 * end the record names (a handle names one channel for good: checked too); it arrives once, after
 * the channel's earlier messages, byte for byte, and the record's padding is zero. Every END names
 * an end the receiving queue pair owns, and each partition's `kept` counter is what the engine keeps
 * for it. FUZZ_RUNS sets the number of cases (FUZZ_SEED replays one).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_ENTRY } from '../../src/hardware/channel-state-table.js';
import { CounterSlot, DeliverBody, RecordType, SendBody } from '../../src/shared/layout.js';
import { EMPTY, FAULT } from '../../src/shared/ring.js';
import { closeEndpoints, collect, Machine, MAX, P, step, taken } from './engine-differential.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 600);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
afterAll(closeEndpoints);

/** Bytes a payload needs to name its message: number, partition, queue pair, handle. */
const TAG = 10;

interface Written {
  p: number;
  q: number;
  handle: number;
  flags: number;
  bytes: Uint8Array;
}

class Oracle {
  readonly m: Machine;
  private seq = 0;
  readonly written = new Map<number, Written>();
  readonly delivered = new Set<number>();
  private readonly last = new Map<string, number>();
  checked = 0;

  constructor(trace?: { sample: number; records: number }) {
    const m = (this.m = new Machine(false, trace));
    m.write = (p, q, type, handle, flags, payload, publish) => {
      const tx = m.tx[p][q];
      const at = tx.tryClaim(type, SendBody.BYTES + payload);
      if (at < 0) return;
      tx.u32[at >> 2] = handle;
      tx.u32[(at + SendBody.FLAGS_OFFSET) >> 2] = flags;
      const s = ++this.seq;
      const bytes = new Uint8Array(payload);
      for (let i = 0; i < payload; i++) bytes[i] = (s * 37 + i) & 0xff;
      if (payload >= TAG) {
        const v = new DataView(bytes.buffer);
        v.setUint32(0, s, true);
        bytes[4] = p;
        bytes[5] = q;
        v.setUint32(6, handle, true);
      }
      tx.u8.set(bytes, at + SendBody.BYTES);
      if (type === RecordType.SEND) this.written.set(s, { p, q, handle, flags, bytes });
      if (publish) tx.publish();
    };
  }

  /**
   * Every channel this machine opened, by each end (`partition:handle`): the other end
   * (`ownerQueuePair>partition:handle:queuePair`). A handle names one channel for good (a slot's generations only
   * grow; a restarted partition's go on from where its last run's ended), so an end seen with two
   * other ends is itself a finding.
   */
  readonly ends = new Map<string, string>();
  remapped = 0;

  /** Note the channels open now (called after every step: a channel opened in a step is open at its end). */
  note(): void {
    const t = this.m.hw.table;
    for (let e = 0; e < t.state.length; e++) {
      const d = t.peer[e];
      // Both ends of one channel (an end whose peer closed keeps a stale peer entry, never used).
      if (!t.isLive(e) || d === NO_ENTRY || !t.isLive(d) || t.peer[d] !== e) continue;
      const key = `${t.partitionIndexOf(e)}:${t.handle(e)}`;
      // Its owner too: only the queue pair that owns an end sends on it.
      const to = `${t.ownerQueuePair[e]}>${t.partitionIndexOf(d)}:${t.handle(d)}:${t.ownerQueuePair[d]}`;
      const was = this.ends.get(key);
      if (was !== undefined && was !== to) this.remapped++;
      this.ends.set(key, to);
    }
  }

  /**
   * stats().partitions[p].kept, the messages the hardware keeps for p's full rings, says what the
   * engine keeps: the sum of its receiving queue pairs' kept messages; every counter is a count (>= 0).
   */
  gauges(after: string): void {
    const hw = this.m.hw;
    const values = hw.counters.values;
    for (let p = 0; p < P; p++) {
      const kept = hw.ports[p].queuePairs.reduce((n, qp) => n + qp.keptMessages, 0);
      expect(values[p * CounterSlot.PER_PARTITION + CounterSlot.KEPT], `partition ${p}'s kept gauge after ${after}`).toBe(kept);
      for (let i = 0; i < CounterSlot.PER_PARTITION; i++) expect(values[p * CounterSlot.PER_PARTITION + i]).toBeGreaterThanOrEqual(0);
    }
  }

  /** Read every record of (p, q)'s receive ring, checking each DATA record. */
  read(p: number, q: number): void {
    const rx = this.m.rx[p][q];
    for (let t = rx.poll(); t !== EMPTY; t = rx.poll()) {
      if (t === FAULT) break;
      expect([RecordType.DATA, RecordType.END], `record type in ${p}:${q}`).toContain(t);
      // An END names an end this queue pair owns (or one on another node, which the table's peers do not name).
      const named = this.ends.get(`${p}:${rx.u32[(rx.bodyOffset + DeliverBody.CHANNEL_OFFSET) >> 2]}`);
      if (t === RecordType.END && named !== undefined) expect(named.split('>')[0], `an END to ${p}:${q}`).toBe(String(q));
      if (t === RecordType.DATA) this.check(p, q, rx.u32[(rx.bodyOffset + DeliverBody.CHANNEL_OFFSET) >> 2], rx.u8, rx.bodyOffset + DeliverBody.BYTES, rx.bodyBytes - DeliverBody.BYTES);
      rx.consume();
    }
    rx.release();
  }

  private check(p: number, q: number, channel: number, u8: Uint8Array, at: number, length: number): void {
    // The record's padding, to its 8-byte boundary, is zero (THREATS case 26).
    for (let i = at + length; i < ((at + length + 7) & ~7); i++) expect(u8[i], `padding after a message to ${p}:${q}`).toBe(0);
    if (length < TAG) return;
    const v = new DataView(u8.buffer, u8.byteOffset + at, length);
    const s = v.getUint32(0, true);
    const w = this.written.get(s);
    expect(w, `message ${s} delivered to ${p}:${q} was written as a SEND`).toBeDefined();
    expect(this.delivered.has(s), `message ${s} delivered once`).toBe(false);
    this.delivered.add(s);
    expect(w!.flags, `message ${s}'s flags`).toBe(0);
    expect(length, `message ${s}'s length`).toBe(w!.bytes.length);
    expect(length).toBeLessThanOrEqual(MAX);
    expect(Buffer.from(u8.subarray(at, at + length)).equals(Buffer.from(w!.bytes)), `message ${s}'s bytes`).toBe(true);
    expect(`${w!.q}>${p}:${channel}:${q}`, `message ${s} (written by ${w!.p}:${w!.q} on ${w!.handle}) went to the other end of its channel`).toBe(this.ends.get(`${w!.p}:${w!.handle}`));
    const key = `${w!.p}:${w!.handle}`;
    expect(s, `message ${s} after the channel's earlier ones`).toBeGreaterThan(this.last.get(key) ?? 0);
    this.last.set(key, s);
    this.checked++;
  }
}

describe('attack run 19a: every delivery against what the hostile steps wrote', () => {
  it.each([
    ['', undefined, RUNS],
    [' (traced, every 3rd message sampled)', { sample: 3, records: 1024 }, Math.ceil(RUNS / 4)],
  ] as const)('random hostile runs%s (floods, kept messages, closes, faults, restarts): each DATA record is a message its channel\'s other end wrote, once, in order, exactly', (_, trace, runs) => {
    taken.keptAside = 0;
    let checked = 0;
    fc.assert(
      fc.property(fc.array(step({ flood: true }), { minLength: 20, maxLength: 160, size: 'max' }), (steps) => {
        const o = new Oracle(trace);
        const pool: number[] = [];
        const seen = new Set<number>();
        collect(o.m.hw, pool, seen);
        o.note();
        for (const s of steps) {
          if (s.kind === 'drain') o.read(s.p, s.q);
          else o.m.apply(s, pool);
          collect(o.m.hw, pool, seen);
          o.note();
          expect(o.remapped, `an end named two channels after ${s.kind}`).toBe(0);
          o.gauges(s.kind);
        }
        for (let p = 0; p < P; p++) for (let q = 0; q < 3; q++) o.read(p, q);
        checked += o.checked;
      }),
      { numRuns: runs, seed: SEED, endOnFailure: true },
    );
    // Not vacuous: messages were checked (about 9 a case), and some were kept aside for full rings.
    expect(checked).toBeGreaterThan(4 * runs);
    expect(taken.keptAside).toBeGreaterThan(0);
  }, 600_000);
});
