/**
 * The record readers/writers: each field lands at the offset layout.ts names, and a reader
 * returns what the writer wrote, next to its neighbours (a swapped offset shows here, not as a
 * misrouted message in a worker).
 */
import { describe, expect, it } from 'vitest';
import * as layout from '../src/shared/layout.js';
import * as records from '../src/shared/records.js';

const AT = 64; // a record body offset, 8-byte aligned as the ring hands them out

function words(): Uint32Array {
  return new Uint32Array(64).fill(0xdead_beef);
}

describe('record layouts', () => {
  it('a work request: channel and zero flags at their offsets, payload right after the body', () => {
    const u32 = words();
    const payload = records.writeWorkRequest(u32, AT, 0x0003_0005);
    expect(payload).toBe(AT + layout.SendBody.BYTES);
    expect(u32[(AT + layout.SendBody.CHANNEL_OFFSET) / 4]).toBe(0x0003_0005);
    expect(u32[(AT + layout.SendBody.FLAGS_OFFSET) / 4]).toBe(0);
    expect(records.workRequestChannel(u32, AT)).toBe(0x0003_0005);
    expect(records.workRequestFlags(u32, AT)).toBe(0);
    expect(records.workRequestPayload(AT)).toBe(payload);
    expect(records.workRequestBodyBytes(100)).toBe(layout.SendBody.BYTES + 100);
    expect(records.workRequestPayloadBytes(records.workRequestBodyBytes(100))).toBe(100);
    expect(u32[(payload >> 2)]).toBe(0xdead_beef); // the payload is the caller's to write
  });

  it('a delivery: channel and status at their offsets, payload right after the body', () => {
    const u32 = words();
    const payload = records.writeDelivery(u32, AT, 77, 9);
    expect(payload).toBe(AT + layout.DeliverBody.BYTES);
    expect(u32[(AT + layout.DeliverBody.CHANNEL_OFFSET) / 4]).toBe(77);
    expect(u32[(AT + layout.DeliverBody.STATUS_OFFSET) / 4]).toBe(9);
    expect(records.deliveryChannel(u32, AT)).toBe(77);
    expect(records.deliveryStatus(u32, AT)).toBe(9);
    expect(records.deliveryPayload(AT)).toBe(payload);
    expect(records.deliveryPayloadBytes(records.deliveryBodyBytes(4096))).toBe(4096);
  });

  it('a completion: four fields at their offsets, a count of 1 whose word the writer returns', () => {
    const u32 = words();
    const countWord = records.writeCompletion(u32, AT, 5, 0x0001_0002, layout.RecordType.SEND);
    expect(countWord).toBe((AT + layout.CompletionBody.COUNT_OFFSET) / 4);
    expect(records.completionStatus(u32, AT)).toBe(5);
    expect(records.completionChannel(u32, AT)).toBe(0x0001_0002);
    expect(records.completionOpcode(u32, AT)).toBe(layout.RecordType.SEND);
    expect(records.completionCount(u32, AT)).toBe(1);
    u32[countWord] = 12; // the hardware coalescing a run
    expect(records.completionCount(u32, AT)).toBe(12);
    expect(u32[(AT + layout.CompletionBody.BYTES) / 4]).toBe(0xdead_beef); // nothing written past the body
  });

  it('the queue-pair fault opcode is no record type, so no work request completion reads as one', () => {
    // RecordType is a const enum (tsc writes its numbers in); its object, kept for JavaScript importers, lists the members.
    const recordTypes = Object.values((layout as unknown as { RecordType: Record<string, number | string> }).RecordType).filter((v) => typeof v === 'number');
    expect(recordTypes.length).toBeGreaterThan(0);
    expect(recordTypes).not.toContain(records.QUEUE_PAIR_FAULT);
  });
});
