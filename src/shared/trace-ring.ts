/**
 * A trace ring (layout in trace-layout.ts): one writer thread, read by the operator. The writer
 * never waits and never reads the shared words back; when the ring is full it overwrites the
 * oldest record. The operator copies the ring out and trusts nothing in it: its capacity is the
 * operator's own, a count that went backwards or a record of no known kind is skipped and counted.
 */
import {
  TRACE_CAPACITY_WORD,
  TRACE_FIELD_COUNT,
  TRACE_HEADER_BYTES,
  TRACE_MAGIC,
  TRACE_MAGIC_WORD,
  TRACE_RECORD_BYTES,
  TRACE_RECORD_WORDS,
  TRACE_TIME_COUNT,
  TRACE_TIME_SLOT,
  TRACE_WRITTEN_WORD,
  TraceKind,
  traceRingBytes,
} from './trace-layout.js';

const HEADER_WORDS = TRACE_HEADER_BYTES / 4;
const HEADER_SLOTS = TRACE_HEADER_BYTES / 8;
const RECORD_SLOTS = TRACE_RECORD_BYTES / 8;

/**
 * Now, in microseconds of `process.hrtime`: one monotonic clock shared by every thread of the
 * process (libuv's uv_hrtime), and the one Node's own trace events (`--trace-events-enabled`)
 * are stamped with, so a lparlink trace lines up with them.
 */
export function traceNow(): number {
  const t = process.hrtime();
  return t[0] * 1e6 + t[1] / 1e3;
}

/** A fresh ring of `records` records, its header written. */
export function allocateTraceRing(records: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(traceRingBytes(records));
  const u32 = new Uint32Array(buffer);
  u32[TRACE_MAGIC_WORD] = TRACE_MAGIC;
  u32[TRACE_CAPACITY_WORD] = records;
  return buffer;
}

/** The writing thread's side of its ring. */
export class TraceWriter {
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly capacity: number;
  /** Records written, this thread's own count (the shared word is only ever stored, never read back). */
  private written = 0;

  constructor(buffer: SharedArrayBuffer) {
    this.u32 = new Uint32Array(buffer);
    this.f64 = new Float64Array(buffer);
    // The ring's own memory, handed to this thread alone: its header is as the operator wrote it.
    this.capacity = Math.floor((buffer.byteLength - TRACE_HEADER_BYTES) / TRACE_RECORD_BYTES);
  }

  /** One record; the oldest is overwritten when the ring is full. Unused fields and times are 0. */
  record(kind: TraceKind, a: number, b: number, c: number, d: number, e: number, t0: number, t1 = 0, t2 = 0, t3 = 0): void {
    const slot = this.written % this.capacity;
    const w = HEADER_WORDS + slot * TRACE_RECORD_WORDS;
    const u32 = this.u32;
    u32[w] = kind;
    u32[w + 1] = a;
    u32[w + 2] = b;
    u32[w + 3] = c;
    u32[w + 4] = d;
    u32[w + 5] = e;
    const s = HEADER_SLOTS + slot * RECORD_SLOTS + TRACE_TIME_SLOT;
    const f64 = this.f64;
    f64[s] = t0;
    f64[s + 1] = t1;
    f64[s + 2] = t2;
    f64[s + 3] = t3;
    this.written = (this.written + 1) >>> 0;
    // Stored last: a reader that sees the count sees the record it counts.
    Atomics.store(u32, TRACE_WRITTEN_WORD, this.written);
  }
}

/** A ring copied out by the operator, oldest record first. */
export class TraceSnapshot {
  /** Records overwritten before (or while) the copy was taken. */
  readonly dropped: number;
  /** Records skipped because they made no sense (a thread that scribbled on its own ring). */
  readonly malformed: number;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  /** Record index of each kept record in the copy. */
  private readonly kept: number[];

  /**
   * `since`: when the operator allocated the ring (traceNow()); a record from before it was never
   * written by its thread. 0 (the default) takes any time not after the copy.
   */
  constructor(buffer: SharedArrayBuffer, capacity: number, since = 0) {
    const shared = new Uint32Array(buffer);
    const before = Atomics.load(shared, TRACE_WRITTEN_WORD);
    const copy = new ArrayBuffer(capacity * TRACE_RECORD_BYTES);
    new Uint8Array(copy).set(new Uint8Array(buffer, TRACE_HEADER_BYTES, capacity * TRACE_RECORD_BYTES));
    const after = Atomics.load(shared, TRACE_WRITTEN_WORD);
    // Every record in the copy was written before now, on this same clock: a later time is a forgery
    // (a partition can write its own ring), and one large enough turned into JSON's missing Infinity.
    const now = traceNow();
    this.u32 = new Uint32Array(copy);
    this.f64 = new Float64Array(copy);
    // A record is in the copy unless the writer had come round to its slot by the end of the copy;
    // the counts wrap at 2^32 records, far beyond any one trace.
    const first = Math.min(Math.max(0, before - capacity, after - capacity), before);
    this.kept = [];
    let malformed = 0;
    for (let n = first; n < before; n++) {
      const r = n % capacity;
      if (this.wellFormed(r, since, now)) this.kept.push(r);
      else malformed++;
    }
    this.dropped = first;
    this.malformed = malformed;
  }

  private wellFormed(r: number, since: number, now: number): boolean {
    const kind = this.u32[r * TRACE_RECORD_WORDS];
    if (kind < TraceKind.SEND || kind > TraceKind.LINK_DELIVER) return false;
    for (let t = 0; t < TRACE_TIME_COUNT; t++) {
      const time = this.time(r, t);
      // An unused time is 0; a used one is in the ring's life. A forged time from before the ring
      // (0, or 1 µs) stretched the file's timeline back to the clock's origin, the host's boot: a
      // viewer opened on hours (or days) with every real event squashed into its last pixel (case 89).
      if (!(time >= 0 && time <= now && (time >= since || (time === 0 && t > 0)))) return false;
    }
    return true;
  }

  /** Records kept, oldest first. */
  get length(): number {
    return this.kept.length;
  }

  /** The i-th kept record's position in the copy, for kind(), field() and time(). */
  at(i: number): number {
    return this.kept[i];
  }

  kind(r: number): TraceKind {
    return this.u32[r * TRACE_RECORD_WORDS] as TraceKind;
  }

  /** Field 1..5 of record r. */
  field(r: number, f: number): number {
    return f >= 1 && f <= TRACE_FIELD_COUNT ? this.u32[r * TRACE_RECORD_WORDS + f] : 0;
  }

  /** Time 0..3 of record r, in microseconds. */
  time(r: number, t: number): number {
    return this.f64[r * RECORD_SLOTS + TRACE_TIME_SLOT + t];
  }
}
