/** Unit tests of the SPSC record ring, in one thread: records, wrap, batching, validation, faults, wake-ups. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LayoutError } from '../src/shared/errors.js';
import { allocatePort, queuePairRings } from '../src/shared/port.js';
import {
  MAX_RING_CAPACITY,
  MIN_RING_CAPACITY,
  RecordLayout,
  RecordType,
  RING_CAPACITY_OFFSET,
  RING_CONSUMER_POSITION_OFFSET,
  RING_HEADER_BYTES,
  RING_PRODUCER_POSITION_OFFSET,
  ringRegionBytes,
} from '../src/shared/layout.js';
import {
  allocateRing,
  attachRing,
  EMPTY,
  FAULT,
  FULL,
  initRing,
  ownSignals,
  RingConsumer,
  RingProducer,
  type RingLocation,
} from '../src/shared/ring.js';

const CAP = 1024;
const MAX_BODY = CAP / 2 - RecordLayout.HEADER_BYTES;

function ring(initialPosition = 0, capacity = CAP) {
  const loc = allocateRing(capacity, initialPosition);
  const words = new Uint32Array(loc.buffer);
  const i32 = new Int32Array(loc.buffer);
  return {
    loc,
    words,
    i32,
    producer: new RingProducer(loc),
    consumer: new RingConsumer(loc),
    signals: ownSignals(loc.base),
    producerWord: (loc.base + RING_PRODUCER_POSITION_OFFSET) >> 2,
    consumerWord: (loc.base + RING_CONSUMER_POSITION_OFFSET) >> 2,
    dataStart: loc.base + RING_HEADER_BYTES,
  };
}

/** Claim a record, fill its body with `fill`, and return the body offset. */
function put(p: RingProducer, type: number, bodyBytes: number, fill = 0xab): number {
  const at = p.tryClaim(type, bodyBytes);
  expect(at, `tryClaim(${type}, ${bodyBytes})`).toBeGreaterThanOrEqual(0);
  p.u8.fill(fill, at, at + bodyBytes);
  return at;
}

/** Poll one record and return its type and a copy of its body (consumed, not released). */
function take(c: RingConsumer): { type: number; body: number[] } {
  const type = c.poll();
  expect(type, c.faultReason).toBeGreaterThan(0);
  const body = Array.from(c.u8.subarray(c.bodyOffset, c.bodyOffset + c.bodyBytes));
  c.consume();
  return { type, body };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('allocation and geometry', () => {
  it('allocates a header plus capacity and writes capacity and both positions', () => {
    const { loc, words, producerWord, consumerWord } = ring(0xffff_fff0);
    expect(loc.buffer.byteLength).toBe(RING_HEADER_BYTES + CAP);
    expect(words[RING_CAPACITY_OFFSET >> 2]).toBe(CAP);
    expect(words[producerWord]).toBe(0xffff_fff0);
    expect(words[consumerWord]).toBe(0xffff_fff0);
  });

  it.each([0, 1000, MIN_RING_CAPACITY / 2, MAX_RING_CAPACITY * 2, 1536, -1024, 1024.5])(
    'rejects capacity %d with the number in the message',
    (capacity) => {
      expect(() => allocateRing(capacity)).toThrow(LayoutError);
      expect(() => allocateRing(capacity)).toThrow(`ring capacity ${capacity} must be a power of two`);
    },
  );

  it('places the producer, consumer and wait words on separate 64-byte lines', () => {
    const { producerWord, consumerWord, signals } = ring();
    const lines = [producerWord, consumerWord, signals.dataWaiting, signals.spaceWaiting].map((w) => (w * 4) >> 6);
    expect(new Set(lines).size).toBe(4);
    expect(signals.dataBell * 4 >> 6).toBe(signals.dataWaiting * 4 >> 6);
  });
});

describe('attachRing validates the geometry it is given', () => {
  it('returns the location the owner set up', () => {
    const buffer = new SharedArrayBuffer(128 + ringRegionBytes(2048));
    initRing(buffer, 128, 2048);
    expect(attachRing(buffer, 128, 2048)).toEqual({ buffer, base: 128, capacity: 2048 });
    expect(attachRing(buffer, 128)).toEqual({ buffer, base: 128, capacity: 2048 });
  });

  it('rejects a capacity that differs from the expected one, giving both', () => {
    const { loc } = ring();
    expect(() => attachRing(loc.buffer, 0, 2048)).toThrow(new LayoutError('ring at 0 has capacity 1024, expected 2048'));
  });

  it('rejects a capacity word that is not a power of two', () => {
    const { loc, words } = ring();
    words[RING_CAPACITY_OFFSET >> 2] = 1000;
    expect(() => attachRing(loc.buffer, 0)).toThrow('ring capacity 1000 must be a power of two between 1024 and 1073741824');
  });

  it('rejects a base outside the buffer, giving base and size', () => {
    const { loc } = ring();
    expect(() => attachRing(loc.buffer, 2048)).toThrow(`ring base 2048 is outside the buffer of ${RING_HEADER_BYTES + CAP} bytes`);
    expect(() => attachRing(loc.buffer, -64)).toThrow(LayoutError);
  });

  it('rejects a base that is not a multiple of 64', () => {
    const buffer = new SharedArrayBuffer(64 + ringRegionBytes(CAP));
    new Uint32Array(buffer)[(32 + RING_CAPACITY_OFFSET) >> 2] = CAP;
    expect(() => attachRing(buffer, 32)).toThrow('ring base 32 must be a non-negative multiple of 64');
  });

  it('rejects a buffer too small for the capacity it claims, giving the numbers', () => {
    const buffer = new SharedArrayBuffer(ringRegionBytes(CAP) - 8);
    new Uint32Array(buffer)[RING_CAPACITY_OFFSET >> 2] = CAP;
    expect(() => attachRing(buffer, 0)).toThrow(
      `ring at 0 with capacity ${CAP} needs ${RING_HEADER_BYTES + CAP} bytes (up to ${RING_HEADER_BYTES + CAP}) but the buffer has ${RING_HEADER_BYTES + CAP - 8}`,
    );
  });

  it('rejects a non-shared buffer', () => {
    expect(() => attachRing(new ArrayBuffer(4096) as unknown as SharedArrayBuffer, 0)).toThrow(
      'ring buffer must be a SharedArrayBuffer',
    );
  });

  it('rejects a location whose ring runs past the buffer in the producer and consumer constructors', () => {
    const bad: RingLocation = { buffer: new SharedArrayBuffer(ringRegionBytes(CAP)), base: 64, capacity: CAP };
    expect(() => new RingProducer(bad)).toThrow(`needs ${ringRegionBytes(CAP)} bytes (up to ${64 + ringRegionBytes(CAP)})`);
    expect(() => new RingConsumer(bad)).toThrow(LayoutError);
    // Wholly past the buffer, or before it: the location is checked before a position word is read
    // (that read threw a bare RangeError: "Invalid atomic access index").
    for (const base of [2 * ringRegionBytes(CAP), -64]) {
      const outside: RingLocation = { buffer: new SharedArrayBuffer(ringRegionBytes(CAP)), base, capacity: CAP };
      expect(() => new RingProducer(outside)).toThrow(LayoutError);
      expect(() => new RingConsumer(outside)).toThrow(LayoutError);
    }
  });

  it("rejects a queue pair a port does not have, naming the port's count", () => {
    const geometry = { queuePairs: 2, channelSlots: 4, sendRingBytes: 1024, receiveRingBytes: 1024, completionRingBytes: 1024, maxMessageBytes: 64 };
    const port = allocatePort(geometry, 1);
    expect(() => queuePairRings(port, geometry, 1)).not.toThrow();
    for (const qp of [2, 5, -1, 0.5]) expect(() => queuePairRings(port, geometry, qp)).toThrow(`queue pair ${qp} is outside this port's 2 (0 to 1)`);
  });

  it('rejects an initial or reset position that is not 8-byte aligned', () => {
    expect(() => allocateRing(CAP, 4)).toThrow(LayoutError);
    expect(() => allocateRing(CAP, 4)).toThrow('ring position 4 must be an integer multiple of 8');
    const loc = allocateRing(CAP);
    expect(() => new RingProducer(loc).reset(12)).toThrow('ring position 12 must be');
    expect(() => new RingConsumer(loc).reset(0xfffffffc)).toThrow(LayoutError);
  });
});

describe('records', () => {
  it('writes a length + type header, keeps it private until publish, and delivers the body', () => {
    const { producer, consumer, words, producerWord, dataStart } = ring();
    const at = producer.tryClaim(RecordType.RAW, 5);
    expect(at).toBe(dataStart + RecordLayout.HEADER_BYTES);
    producer.u8.set([1, 2, 3, 4, 5], at);
    expect(words[(dataStart + RecordLayout.LENGTH_OFFSET) >> 2]).toBe(RecordLayout.HEADER_BYTES + 5);
    expect(words[(dataStart + RecordLayout.TYPE_OFFSET) >> 2]).toBe(RecordType.RAW);
    expect(words[producerWord]).toBe(0);
    expect(consumer.hasData()).toBe(false);
    expect(consumer.poll()).toBe(EMPTY);

    producer.publish();
    expect(words[producerWord]).toBe(16);
    expect(consumer.hasData()).toBe(true);
    expect(consumer.poll()).toBe(RecordType.RAW);
    expect(consumer.bodyBytes).toBe(5);
    expect(consumer.bodyOffset).toBe(at);
    expect(Array.from(consumer.u8.subarray(at, at + 5))).toEqual([1, 2, 3, 4, 5]);
    expect(consumer.poll()).toBe(RecordType.RAW); // poll does not consume
    consumer.consume();
    expect(consumer.consumedPosition).toBe(16);
    expect(consumer.poll()).toBe(EMPTY);
  });

  it('ready() says whether a record waits, and keeps the producer position it read for the poll() that follows', () => {
    const { producer, consumer, i32, producerWord } = ring();
    expect(consumer.ready()).toBe(false);
    put(producer, RecordType.RAW, 8, 3);
    put(producer, RecordType.RAW, 8, 4);
    producer.publish();
    expect(consumer.ready()).toBe(true);
    // Read once: a producer word rewritten afterwards (a hostile partition's) is not read again
    // until both records it announced are consumed.
    Atomics.store(i32, producerWord, 36);
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(3) });
    expect(consumer.ready()).toBe(true);
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(4) });
    // Now it is read, and its misalignment is a fault that ready() reports as something to poll.
    expect(consumer.ready()).toBe(true);
    expect(consumer.poll()).toBe(FAULT);
    expect(consumer.faultReason).toBe('producer position 36 is not 8-byte aligned');
  });

  it('unclaim() forgets the records claimed since a position, never one already published', () => {
    const { producer, consumer } = ring();
    put(producer, RecordType.RAW, 8, 1);
    producer.publish();
    const start = producer.position;
    const at = put(producer, RecordType.RAW, 8, 2);
    put(producer, RecordType.RAW, 8, 3);
    producer.unclaim(start);
    expect(producer.position).toBe(start);
    expect(producer.publish()).toBe(false); // nothing to publish: the two claims are gone
    expect(put(producer, RecordType.RAW, 8, 4)).toBe(at); // the next claim starts where they did
    producer.publish();
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(1) });
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(4) });
    expect(consumer.poll()).toBe(EMPTY);
    expect(() => producer.unclaim(start)).toThrow(LayoutError); // before the published position
    expect(() => producer.unclaim(producer.position + 8)).toThrow(LayoutError); // past the claimed one
  });

  it('pollSeen() takes only the records the last look found, and reads the producer word only past a padding record', () => {
    const { producer, consumer, i32, producerWord } = ring(CAP - 24);
    const load = vi.spyOn(Atomics, 'load');
    const producerLoads = (): number => load.mock.calls.filter(([a, w]) => a.buffer === i32.buffer && w === producerWord).length;
    // Nothing looked at yet: EMPTY, and the word is not read.
    put(producer, RecordType.RAW, 8, 1);
    producer.publish();
    expect(consumer.pollSeen()).toBe(EMPTY);
    expect(producerLoads()).toBe(0);
    expect(consumer.ready()).toBe(true);
    expect(producerLoads()).toBe(1);
    // Published after the look: not taken until the next look.
    put(producer, RecordType.RAW, 8, 2);
    producer.publish();
    expect(consumer.pollSeen()).toBe(RecordType.RAW);
    expect(consumer.u8[consumer.bodyOffset]).toBe(1);
    consumer.consume();
    expect(consumer.pollSeen()).toBe(EMPTY);
    expect(producerLoads()).toBe(1);
    expect(consumer.ready()).toBe(true);
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(2) });
    // The ring's end: a record that wraps leaves a PAD before it; stepping past the PAD may read
    // the word again (it is then where the look found the record), and the record is found.
    put(producer, RecordType.RAW, 40, 3);
    producer.publish();
    expect(consumer.ready()).toBe(true);
    expect(consumer.pollSeen()).toBe(RecordType.RAW);
    expect(consumer.u8[consumer.bodyOffset]).toBe(3);
    consumer.consume();
    expect(consumer.pollSeen()).toBe(EMPTY);
    // A fault is reported, not hidden behind "nothing seen".
    Atomics.store(i32, producerWord, (producer.position + 4) >>> 0);
    expect(consumer.ready()).toBe(true);
    expect(consumer.pollSeen()).toBe(FAULT);
    expect(consumer.pollSeen()).toBe(FAULT);
  });

  it('aligns every record to 8 bytes and advances by header + body rounded up', () => {
    const { producer, consumer, dataStart } = ring();
    let pos = 0;
    for (let body = 0; body <= 17; body++) {
      const at = producer.tryClaim(RecordType.RAW, body);
      expect(at).toBe(dataStart + pos + RecordLayout.HEADER_BYTES);
      expect(at % 8).toBe(0);
      pos += Math.ceil((RecordLayout.HEADER_BYTES + body) / 8) * 8;
      expect(producer.position).toBe(pos);
    }
    producer.publish();
    for (let body = 0; body <= 17; body++) {
      expect(consumer.poll()).toBe(RecordType.RAW);
      expect(consumer.bodyBytes).toBe(body);
      consumer.consume();
    }
    expect(consumer.consumedPosition).toBe(pos);
    expect(consumer.poll()).toBe(EMPTY);
  });

  it('accepts the largest body and throws RangeError above it, naming the limit', () => {
    const { producer, consumer } = ring();
    expect(producer.maxRecordBytes).toBe(CAP / 2);
    expect(() => producer.tryClaim(RecordType.RAW, MAX_BODY + 1)).toThrow(RangeError);
    expect(() => producer.tryClaim(RecordType.RAW, MAX_BODY + 1)).toThrow(
      `record body of ${MAX_BODY + 1} bytes exceeds the ring's limit of ${MAX_BODY}`,
    );
    expect(() => producer.tryClaim(RecordType.RAW, -1)).toThrow(RangeError);
    expect(() => producer.tryClaim(RecordType.RAW, Number.NaN)).toThrow(RangeError);
    // Bodies whose 8-byte rounding wraps past 2^31 (to a negative span) are too large too, not a claim.
    for (const huge of [2 ** 31 - 12, 2 ** 31 - 4, 2 ** 32 - 16, 2 ** 40]) expect(() => producer.tryClaim(RecordType.RAW, huge)).toThrow(RangeError);
    expect(producer.faulted).toBe(false);
    expect(producer.position).toBe(0);
    put(producer, RecordType.RAW, MAX_BODY, 7);
    producer.publish();
    expect(take(consumer).body).toEqual(new Array(MAX_BODY).fill(7));
  });

  it('fills the tail with a PAD record at the wrap, which the consumer skips', () => {
    const start = CAP - 24; // 24 bytes to the end of the data area
    const { producer, consumer, words, dataStart } = ring(start);
    const at = producer.tryClaim(RecordType.RAW, 40); // 48 bytes: does not fit in 24
    expect(at).toBe(dataStart + RecordLayout.HEADER_BYTES);
    expect(words[(dataStart + CAP - 24 + RecordLayout.LENGTH_OFFSET) >> 2]).toBe(24);
    expect(words[(dataStart + CAP - 24 + RecordLayout.TYPE_OFFSET) >> 2]).toBe(RecordType.PAD);
    expect(producer.position).toBe(start + 24 + 48);
    producer.u8.fill(9, at, at + 40);
    producer.publish();
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(40).fill(9) });
    expect(consumer.consumedPosition).toBe(start + 72);
  });

  it('writes no PAD when a record ends exactly at the end of the data area', () => {
    const { producer, consumer, dataStart } = ring(CAP - 24);
    expect(producer.tryClaim(RecordType.RAW, 16)).toBe(dataStart + CAP - 16);
    expect(producer.position).toBe(CAP);
    expect(producer.tryClaim(RecordType.RAW, 0)).toBe(dataStart + RecordLayout.HEADER_BYTES);
    producer.publish();
    expect(consumer.poll()).toBe(RecordType.RAW);
    expect(consumer.bodyOffset).toBe(dataStart + CAP - 16);
    consumer.consume();
    expect(consumer.poll()).toBe(RecordType.RAW);
    expect(consumer.bodyBytes).toBe(0);
  });

  it('counts positions modulo 2^32 across the wrap of the counter', () => {
    const start = 0x1_0000_0000 - 48;
    const { producer, consumer, words, producerWord, consumerWord } = ring(start);
    for (let i = 0; i < 10; i++) put(producer, RecordType.RAW, 8, i);
    producer.publish();
    expect(producer.position).toBe(112);
    expect(words[producerWord]).toBe(112);
    for (let i = 0; i < 10; i++) expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(i) });
    consumer.release();
    expect(words[consumerWord]).toBe(112);
    expect(producer.freeBytes()).toBe(CAP);
  });

  it('keeps positions as signed 32-bit integers past 2^31 (unsigned ones put V8 into floating point)', () => {
    const start = 0x8000_0000 - 48;
    const { producer, consumer, words, producerWord } = ring(start);
    for (let i = 0; i < 10; i++) put(producer, RecordType.RAW, 8, i);
    producer.publish();
    // The word holds the unsigned value; each side's own copy is the same bits, signed.
    expect(words[producerWord]).toBe(0x8000_0000 + 112);
    expect(producer.position).toBe(-0x8000_0000 + 112);
    for (let i = 0; i < 10; i++) expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(i) });
    expect(consumer.consumedPosition).toBe(-0x8000_0000 + 112);
    consumer.release();
    expect(producer.freeBytes()).toBe(CAP);
  });
});

describe('back-pressure', () => {
  it('returns FULL without side effects when the ring is full, and fits again after release', () => {
    const { producer, consumer } = ring();
    for (let i = 0; i < CAP / 64; i++) put(producer, RecordType.RAW, 56);
    expect(producer.freeBytes()).toBe(0);
    expect(producer.canClaim(0)).toBe(false);
    expect(producer.tryClaim(RecordType.RAW, 0)).toBe(FULL);
    expect(producer.position).toBe(CAP);
    producer.publish();
    take(consumer);
    expect(producer.tryClaim(RecordType.RAW, 0)).toBe(FULL); // consumed but not released
    consumer.release();
    expect(producer.freeBytes()).toBe(64);
    expect(producer.canClaim(56)).toBe(true);
    expect(producer.canClaim(57)).toBe(false);
    expect(producer.tryClaim(RecordType.RAW, 57)).toBe(FULL);
    expect(producer.tryClaim(RecordType.RAW, 56)).toBeGreaterThanOrEqual(0);
  });

  it('counts the PAD in the space a record needs at the wrap', () => {
    const { producer, consumer } = ring();
    put(producer, RecordType.RAW, 8); // [0, 16)
    put(producer, RecordType.RAW, 496); // [16, 520)
    put(producer, RecordType.RAW, 480); // [520, 1008): 16 bytes left before the wrap
    producer.publish();
    take(consumer);
    consumer.release(); // free: 16 at the end + 16 at the start
    expect(producer.freeBytes()).toBe(32);
    expect(producer.canClaim(16)).toBe(false); // 24 bytes fit in 32, but only after a 16-byte PAD
    expect(producer.tryClaim(RecordType.RAW, 16)).toBe(FULL);
    expect(producer.position).toBe(1008);
    expect(producer.canClaim(8)).toBe(true); // exactly the tail, no PAD
    expect(producer.tryClaim(RecordType.RAW, 8)).toBe(producer.dataStart + 1008 + RecordLayout.HEADER_BYTES);
  });
});

describe('batches', () => {
  it('publishes several claimed records with one store of the producer position', () => {
    const { producer, consumer, words, producerWord } = ring();
    put(producer, RecordType.RAW, 1, 1);
    put(producer, RecordType.SEND, 9, 2);
    put(producer, RecordType.RAW, 0);
    expect(words[producerWord]).toBe(0);
    expect(consumer.poll()).toBe(EMPTY);
    producer.publish();
    expect(words[producerWord]).toBe(16 + 24 + 8);
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: [1] });
    expect(take(consumer)).toEqual({ type: RecordType.SEND, body: new Array(9).fill(2) });
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: [] });
  });

  it('releases several consumed records with one store of the consumer position', () => {
    const { producer, consumer, words, consumerWord } = ring();
    for (let i = 0; i < 3; i++) put(producer, RecordType.RAW, 8);
    producer.publish();
    for (let i = 0; i < 3; i++) take(consumer);
    expect(words[consumerWord]).toBe(0);
    expect(producer.freeBytes()).toBe(CAP - 48);
    consumer.release();
    expect(words[consumerWord]).toBe(48);
    expect(producer.freeBytes()).toBe(CAP);
  });

  it('lets the producer keep claiming while earlier claims are unpublished, up to the capacity', () => {
    const { producer, consumer } = ring();
    let claimed = 0;
    while (producer.tryClaim(RecordType.RAW, 120) >= 0) claimed++;
    expect(claimed).toBe(CAP / 128);
    producer.publish();
    for (let i = 0; i < claimed; i++) take(consumer);
    expect(consumer.poll()).toBe(EMPTY);
  });
});

describe('a producer position the consumer cannot accept puts the ring in FAULT', () => {
  const cases: [string, number, (consumer: number) => number, RegExp][] = [
    ['one record past the capacity', 0, (c) => c + CAP + 8, /more than 1024 bytes past consumer/],
    ['capacity + 1', 0, (c) => c + CAP + 1, /more than 1024 bytes past consumer/],
    ['2^31 ahead', 0, (c) => c + 2 ** 31, /more than 1024 bytes past consumer/],
    ['0xFFFFFFFF', 0, () => 0xffff_ffff, /producer position 4294967295 is more than 1024 bytes past consumer 0/],
    ['behind the consumer', 64, (c) => c - 8, /producer position 56 is more than/],
    ['past the capacity across the 2^32 wrap', 0xffff_fff8, (c) => (c + CAP + 8) >>> 0, /more than 1024 bytes past consumer 4294967288/],
    ['not 8-byte aligned', 0, (c) => c + 12, /producer position 12 is not 8-byte aligned/],
  ];
  it.each(cases)('%s', (_name, start, bad, reason) => {
    const { producer, consumer, words, producerWord } = ring(start);
    words[producerWord] = bad(start) >>> 0;
    expect(consumer.hasData()).toBe(true);
    expect(consumer.poll()).toBe(FAULT);
    expect(consumer.faulted).toBe(true);
    expect(consumer.faultReason).toMatch(reason);
    // It stays faulted even once the word looks sane again, until the owner resets it.
    words[producerWord] = start;
    expect(consumer.poll()).toBe(FAULT);
    consumer.reset(start);
    expect(consumer.faulted).toBe(false);
    expect(consumer.poll()).toBe(EMPTY);
    put(producer, RecordType.RAW, 3, 5);
    producer.publish();
    expect(take(consumer)).toEqual({ type: RecordType.RAW, body: [5, 5, 5] });
  });

  it('accepts a producer exactly one capacity ahead (a full ring)', () => {
    const { producer, consumer } = ring(0xffff_ff00);
    for (let i = 0; i < CAP / 32; i++) put(producer, RecordType.RAW, 24, i);
    producer.publish();
    for (let i = 0; i < CAP / 32; i++) expect(take(consumer).body[0]).toBe(i);
  });
});

// Each header twice: as the first record of what the producer published (poll() reads the
// producer's position, then the header: pollOther), and behind a good record of the same publish
// that the consumer already read (poll()'s common case, which must send every bad header on to
// pollOther rather than hand it out).
describe.each([
  ['first of its publish', false],
  ["behind a record of its publish already read (poll()'s common case)", true],
])('a record header the consumer cannot accept puts the ring in FAULT: %s', (_where, behind) => {
  /** Publish one 24-byte body record at position `start` (and one of `after` body bytes behind it), then let `scribble` rewrite its header. */
  function faultWith(scribble: (lengthWord: number, typeWord: number, words: Uint32Array) => void, start = 0, after?: number): RingConsumer {
    // Behind: a good 16-byte record just before it (across the 2^32 wrap when `start` is 0).
    const { producer, consumer, words, dataStart } = ring(behind ? (start - 16) >>> 0 : start);
    if (behind) put(producer, RecordType.RAW, 8, 7);
    const at = put(producer, RecordType.RAW, 24);
    if (after !== undefined) put(producer, RecordType.RAW, after);
    producer.publish();
    const header = at - RecordLayout.HEADER_BYTES;
    if (start % CAP > CAP - 32) throw new Error('test setup: the record must not wrap');
    expect(header).toBe(dataStart + (start % CAP));
    scribble((header + RecordLayout.LENGTH_OFFSET) >> 2, (header + RecordLayout.TYPE_OFFSET) >> 2, words);
    if (behind) expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(7) });
    expect(consumer.poll()).toBe(FAULT);
    return consumer;
  }

  it.each([
    ['0', 0],
    ['smaller than the header', 7],
    ['above the maximum record', CAP / 2 + 1],
    ['negative as int32', 0xffff_ffff],
    ['2^31', 0x8000_0000],
  ])('length %s', (_name, length) => {
    const c = faultWith((lw, _tw, w) => (w[lw] = length));
    expect(c.faultReason).toBe(`record length ${length} at 0 is outside 8..512`);
  });

  it('length beyond the published data', () => {
    const c = faultWith((lw, _tw, w) => (w[lw] = 40));
    expect(c.faultReason).toBe('record of 40 bytes at 0 runs past the published data or the wrap');
  });

  it('length that runs past the end of the data area', () => {
    // The record sits 32 bytes before the end; a length of 40 would cross the wrap.
    const c = faultWith((lw, _tw, w) => (w[lw] = 40), CAP - 32);
    expect(c.faultReason).toBe(`record of 40 bytes at ${CAP - 32} runs past the published data or the wrap`);
  });

  it('length that runs past the end of the data area, into data published past the wrap', () => {
    // A record follows at index 0: the published data would cover the 40 bytes, the wrap does not.
    const c = faultWith((lw, _tw, w) => (w[lw] = 40), CAP - 32, 24);
    expect(c.faultReason).toBe(`record of 40 bytes at ${CAP - 32} runs past the published data or the wrap`);
  });

  it('type 0', () => {
    const c = faultWith((_lw, tw, w) => (w[tw] = 0));
    expect(c.faultReason).toBe('record type 0');
  });

  it('zeroed memory behind a producer position', () => {
    const { producer, consumer, words, producerWord } = ring();
    if (behind) put(producer, RecordType.RAW, 8, 7);
    producer.publish();
    words[producerWord] += 64;
    if (behind) expect(take(consumer)).toEqual({ type: RecordType.RAW, body: new Array(8).fill(7) });
    expect(consumer.poll()).toBe(FAULT);
    expect(consumer.faultReason).toBe(`record length 0 at ${behind ? 16 : 0} is outside 8..512`);
  });

  it('a PAD that does not reach the end of the data area', () => {
    const c = faultWith((lw, tw, w) => {
      w[tw] = RecordType.PAD;
      w[lw] = 32;
    });
    expect(c.faultReason).toBe('padding record of 32 bytes at 0 does not reach the end of the ring');
  });

  it('a PAD that reaches the end of the data area but past the published data', () => {
    const c = faultWith((lw, tw, w) => {
      w[tw] = RecordType.PAD;
      w[lw] = CAP;
    });
    expect(c.faultReason).toBe(`padding record of ${CAP} bytes at 0 does not reach the end of the ring`);
  });
});

describe('a consumer position the producer cannot accept puts the ring in FAULT', () => {
  it.each([
    ['ahead of the producer', (p: number) => p + 8],
    ['more than a capacity behind', (p: number) => p - CAP - 8],
    ['0xFFFFFFFF', () => 0xffff_ffff],
  ])('%s', (_name, bad) => {
    const { producer, words, consumerWord } = ring(4096);
    while (producer.tryClaim(RecordType.RAW, 56) >= 0); // use up the cached space so the next claim re-reads
    producer.publish();
    words[consumerWord] = bad(producer.position) >>> 0;
    expect(producer.freeBytes()).toBe(0);
    expect(producer.tryClaim(RecordType.RAW, 8)).toBe(FAULT);
    expect(producer.faultReason).toMatch(/consumer position \d+ is ahead of producer \d+/);
    words[consumerWord] = producer.position;
    expect(producer.tryClaim(RecordType.RAW, 8)).toBe(FAULT);
    producer.reset(0);
    expect(producer.tryClaim(RecordType.RAW, 8)).toBeGreaterThanOrEqual(0);
  });

  it('a producer attached to a ring that still holds records does not overwrite them', () => {
    const { loc, producer, consumer } = ring();
    for (let i = 0; i < 4; i++) put(producer, RecordType.RAW, 120, i);
    producer.publish();
    const second = new RingProducer(loc);
    let claimed = 0;
    while (second.tryClaim(RecordType.RAW, 120) >= 0) claimed++;
    expect(claimed).toBe(4);
    for (let i = 0; i < 4; i++) expect(take(consumer).body[0]).toBe(i);
  });
});

describe('need-wakeup: notify only a side that said it sleeps', () => {
  it('publish and release ring no bell and call no notify while nobody sleeps', () => {
    const { producer, consumer, i32, signals } = ring();
    const notify = vi.spyOn(Atomics, 'notify');
    for (let i = 0; i < 100; i++) {
      put(producer, RecordType.RAW, 8);
      producer.publish();
      take(consumer);
      consumer.release();
    }
    expect(notify).not.toHaveBeenCalled();
    expect(i32[signals.dataBell]).toBe(0);
    expect(i32[signals.spaceBell]).toBe(0);
  });

  it('publish rings the data bell once when the consumer raised its flag', () => {
    const { producer, i32, signals } = ring();
    const notify = vi.spyOn(Atomics, 'notify');
    i32[signals.dataWaiting] = 1;
    producer.publish(); // nothing claimed: nothing to say
    expect(i32[signals.dataBell]).toBe(0);
    put(producer, RecordType.RAW, 8);
    producer.publish();
    expect(i32[signals.dataBell]).toBe(1);
    expect(i32[signals.spaceBell]).toBe(0);
    expect(notify).toHaveBeenCalledTimes(1);
    expect(notify).toHaveBeenCalledWith(i32, signals.dataBell);
  });

  it('release rings the space bell once when the producer raised its flag', () => {
    const { producer, consumer, i32, signals } = ring();
    put(producer, RecordType.RAW, 8);
    producer.publish();
    i32[signals.spaceWaiting] = 1;
    consumer.release(); // nothing consumed: nothing to say
    expect(i32[signals.spaceBell]).toBe(0);
    take(consumer);
    consumer.release();
    expect(i32[signals.spaceBell]).toBe(1);
    expect(i32[signals.dataBell]).toBe(0);
  });

  it('rings the words named by custom signals instead of the ring’s own', () => {
    const buffer = new SharedArrayBuffer(64 + ringRegionBytes(CAP));
    initRing(buffer, 64, CAP);
    const signals = { dataWaiting: 0, dataBell: 1, spaceWaiting: 2, spaceBell: 3 };
    const producer = new RingProducer({ buffer, base: 64, capacity: CAP, signals });
    const i32 = new Int32Array(buffer);
    i32[0] = 1;
    put(producer, RecordType.RAW, 8);
    producer.publish();
    expect(i32[1]).toBe(1);
    expect(i32[ownSignals(64).dataBell]).toBe(0);
  });

  it('waitForData returns at once, without raising the flag, when data is there', () => {
    const { producer, consumer, i32, signals } = ring();
    put(producer, RecordType.RAW, 8);
    producer.publish();
    const store = vi.spyOn(Atomics, 'store');
    expect(consumer.waitForData(1, 10_000)).toBe(true);
    expect(store).not.toHaveBeenCalled();
    expect(i32[signals.dataWaiting]).toBe(0);
  });

  it('waitForData times out with false and lowers its flag', () => {
    const { consumer, i32, signals } = ring();
    const t0 = performance.now();
    expect(consumer.waitForData(10, 20)).toBe(false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(15);
    expect(i32[signals.dataWaiting]).toBe(0);
  });

  it('waitForSpace times out with false when the ring stays full', () => {
    const { producer, i32, signals } = ring();
    while (producer.tryClaim(RecordType.RAW, 56) >= 0);
    producer.publish();
    expect(producer.waitForSpace(56, 0, 10)).toBe(false);
    expect(i32[signals.spaceWaiting]).toBe(0);
  });

  it('waitForDataAsync raises the flag, sleeps, and wakes on publish', async () => {
    const { producer, consumer, i32, signals } = ring();
    const woke = consumer.waitForDataAsync(0, 10_000);
    expect(i32[signals.dataWaiting]).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    put(producer, RecordType.RAW, 8);
    producer.publish();
    expect(i32[signals.dataBell]).toBe(1);
    expect(await woke).toBe(true);
    expect(i32[signals.dataWaiting]).toBe(0);
  });

  it('waitForSpaceAsync raises the flag, sleeps, and wakes on release', async () => {
    const { producer, consumer, i32, signals } = ring();
    while (producer.tryClaim(RecordType.RAW, 56) >= 0);
    producer.publish();
    const woke = producer.waitForSpaceAsync(56, 0, 10_000);
    expect(i32[signals.spaceWaiting]).toBe(1);
    await new Promise((r) => setTimeout(r, 5));
    take(consumer);
    consumer.release();
    expect(i32[signals.spaceBell]).toBe(1);
    expect(await woke).toBe(true);
    expect(i32[signals.spaceWaiting]).toBe(0);
  });

  it('waitForDataAsync resolves false on timeout', async () => {
    const { consumer, i32, signals } = ring();
    expect(await consumer.waitForDataAsync(0, 10)).toBe(false);
    expect(i32[signals.dataWaiting]).toBe(0);
  });
});
