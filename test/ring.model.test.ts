/**
 * Model test: random sequences of produce / publish / consume / release against
 * a plain array queue and unbounded integer positions. The model computes
 * every position and every FULL with ordinary arithmetic (no modulo 2^32), so
 * it checks the ring's wrapping arithmetic rather than repeating it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordLayout, RING_CONSUMER_POSITION_OFFSET, RING_PRODUCER_POSITION_OFFSET } from '../src/shared/layout.js';
import { allocateRing, EMPTY, FULL, RingConsumer, RingProducer } from '../src/shared/ring.js';

const TWO_32 = 2 ** 32;
/** A failing 800-step run can shrink for a long time; stop it and report what was found so far. */
const TIME_LIMIT = { interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true } as const;

interface Rec {
  readonly type: number;
  readonly body: Uint8Array;
}

type Op =
  | { readonly kind: 'claim'; readonly sizes: readonly number[]; readonly publish: boolean }
  | { readonly kind: 'publish' }
  | { readonly kind: 'consume'; readonly count: number; readonly release: boolean }
  | { readonly kind: 'release' };

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** The reference: unbounded positions, arrays of records. */
class Model {
  claimed: number;
  published: number;
  consumed: number;
  released: number;
  readonly pending: Rec[] = [];
  readonly queue: Rec[] = [];
  constructor(
    start: number,
    readonly capacity: number,
  ) {
    this.claimed = this.published = this.consumed = this.released = start;
  }
  /** Where the record's header goes (unbounded position), or FULL. */
  claim(bodyBytes: number): number {
    const aligned = align8(RecordLayout.HEADER_BYTES + bodyBytes);
    const toEnd = this.capacity - (this.claimed % this.capacity);
    const pad = aligned <= toEnd ? 0 : toEnd;
    if (this.capacity - (this.claimed - this.released) < pad + aligned) return FULL;
    const at = this.claimed + pad;
    this.claimed = at + aligned;
    return at;
  }
}

const sizeArb = (maxBody: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: maxBody }) },
    { weight: 1, arbitrary: fc.constantFrom(0, 1, 7, 8, 9, maxBody - 1, maxBody) },
  );

const opArb = (maxBody: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ kind: fc.constant('claim' as const), sizes: fc.array(sizeArb(maxBody), { minLength: 1, maxLength: 8 }), publish: fc.boolean() }),
    fc.record({ kind: fc.constant('publish' as const) }),
    fc.record({ kind: fc.constant('consume' as const), count: fc.integer({ min: 1, max: 12 }), release: fc.boolean() }),
    fc.record({ kind: fc.constant('release' as const) }),
  );

/** Start positions: anywhere (8-aligned), and just below 2^32 so runs cross the counter's wrap. */
const startArb = fc.oneof(
  fc.integer({ min: 0, max: TWO_32 / 8 - 1 }).map((n) => n * 8),
  fc.integer({ min: 1, max: 512 }).map((n) => TWO_32 - n * 8),
  fc.constant(0),
);

function run(capacity: number, start: number, ops: readonly Op[], seed: number): void {
  const loc = allocateRing(capacity, start);
  const producer = new RingProducer(loc);
  const consumer = new RingConsumer(loc);
  const words = new Uint32Array(loc.buffer);
  const dataStart = producer.dataStart;
  const model = new Model(start, capacity);
  let next = seed >>> 0;
  let serial = 0;

  const check = (): void => {
    expect(producer.position >>> 0).toBe(model.claimed % TWO_32);
    expect(consumer.consumedPosition >>> 0).toBe(model.consumed % TWO_32);
    expect(words[(loc.base + RING_PRODUCER_POSITION_OFFSET) >> 2]).toBe(model.published % TWO_32);
    expect(words[(loc.base + RING_CONSUMER_POSITION_OFFSET) >> 2]).toBe(model.released % TWO_32);
    expect(producer.freeBytes()).toBe(capacity - (model.claimed - model.released));
    expect(consumer.hasData()).toBe(model.queue.length > 0);
  };

  for (const op of ops) {
    switch (op.kind) {
      case 'claim':
        for (const size of op.sizes) {
          const expected = model.claim(size);
          const type = 8 + (serial % 7); // any type but PAD and 0
          const at = producer.tryClaim(type, size);
          if (expected === FULL) {
            expect(at).toBe(FULL);
            break;
          }
          expect(at).toBe(dataStart + (expected % capacity) + RecordLayout.HEADER_BYTES);
          const body = new Uint8Array(size);
          for (let i = 0; i < size; i++) {
            next = (Math.imul(next, 1_103_515_245) + 12_345) >>> 0;
            body[i] = next >>> 24;
          }
          producer.u8.set(body, at);
          model.pending.push({ type, body });
          serial++;
        }
        if (op.publish) {
          producer.publish();
          model.published = model.claimed;
          model.queue.push(...model.pending.splice(0));
        }
        break;
      case 'publish':
        producer.publish();
        model.published = model.claimed;
        model.queue.push(...model.pending.splice(0));
        break;
      case 'consume':
        for (let i = 0; i < op.count; i++) {
          const type = consumer.poll();
          const want = model.queue.shift();
          if (want === undefined) {
            expect(type).toBe(EMPTY);
            // Nothing published is left: the consumer stands at the published position.
            expect(consumer.consumedPosition >>> 0).toBe(model.published % TWO_32);
            model.consumed = model.published;
            break;
          }
          expect(type, consumer.faultReason).toBe(want.type);
          expect(consumer.bodyBytes).toBe(want.body.length);
          expect(consumer.u8.subarray(consumer.bodyOffset, consumer.bodyOffset + consumer.bodyBytes)).toEqual(want.body);
          // The record sits where the model put it: right here, or at index 0 after a PAD.
          const aligned = align8(RecordLayout.HEADER_BYTES + want.body.length);
          const toEnd = capacity - (model.consumed % capacity);
          const skipped = aligned <= toEnd ? 0 : toEnd;
          expect(consumer.bodyOffset).toBe(dataStart + ((model.consumed + skipped) % capacity) + RecordLayout.HEADER_BYTES);
          consumer.consume();
          model.consumed += skipped + aligned;
        }
        if (op.release) {
          consumer.release();
          model.released = model.consumed;
        }
        break;
      case 'release':
        consumer.release();
        model.released = model.consumed;
        break;
    }
    check();
  }
  expect(producer.faulted || consumer.faulted).toBe(false);
}

describe('ring against an array-queue model', () => {
  for (const capacity of [1024, 4096]) {
    it(`capacity ${capacity}: random produce/consume/batch sequences keep order, bytes and positions`, () => {
      fc.assert(
        fc.property(startArb, fc.array(opArb(capacity / 2 - RecordLayout.HEADER_BYTES), { minLength: 1, maxLength: 120 }), fc.integer(), (start, ops, seed) =>
          run(capacity, start, ops, seed),
        ),
        { numRuns: 400, ...TIME_LIMIT },
      );
    });
  }

  it('a long run across the 2^32 wrap, many times around the ring', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }).map((n) => TWO_32 - n * 8),
        fc.array(opArb(504), { minLength: 400, maxLength: 800 }),
        fc.integer(),
        (start, ops, seed) => run(1024, start, ops, seed),
      ),
      { numRuns: 40, ...TIME_LIMIT },
    );
  });
});
