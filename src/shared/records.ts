/**
 * One reader and one writer per record body layout (layout.ts says where
 * each field lives; this file is the only place that turns a field offset
 * into a word index). Every function takes the ring's Uint32Array and the
 * byte offset of the record's body, as RingProducer.tryClaim() returns it
 * and RingConsumer.bodyOffset holds it: plain functions on numbers, so V8
 * inlines them into the hot loops and no object exists per record.
 *
 * Readers read one word once; a caller that must not trust the writer (the
 * hardware reading a work request) keeps what it read in a local and never
 * reads the field again.
 */
import {
  COMPLETION_CHANNEL_OFFSET,
  COMPLETION_COUNT_OFFSET,
  COMPLETION_OPCODE_OFFSET,
  COMPLETION_STATUS_OFFSET,
  DELIVER_BODY_BYTES,
  DELIVER_CHANNEL_OFFSET,
  DELIVER_STATUS_OFFSET,
  SEND_BODY_BYTES,
  SEND_CHANNEL_OFFSET,
  SEND_FLAGS_OFFSET,
} from './layout.js';

// ── SEND / CLOSE / DETACH work request (partition-written, hardware-read) ────

/** Body bytes of a work request carrying `payloadBytes` of payload. */
export function workRequestBodyBytes(payloadBytes: number): number {
  return SEND_BODY_BYTES + payloadBytes;
}

/** Fill a claimed work request's fixed fields; returns where its payload starts. */
export function writeWorkRequest(u32: Uint32Array, at: number, channel: number): number {
  u32[(at + SEND_CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + SEND_FLAGS_OFFSET) >> 2] = 0;
  return at + SEND_BODY_BYTES;
}

export function workRequestChannel(u32: Uint32Array, at: number): number {
  return u32[(at + SEND_CHANNEL_OFFSET) >> 2];
}

export function workRequestFlags(u32: Uint32Array, at: number): number {
  return u32[(at + SEND_FLAGS_OFFSET) >> 2];
}

export function workRequestPayload(at: number): number {
  return at + SEND_BODY_BYTES;
}

/** Payload bytes of a work request whose body has `bodyBytes` (negative: the body is too short to be one). */
export function workRequestPayloadBytes(bodyBytes: number): number {
  return bodyBytes - SEND_BODY_BYTES;
}

// ── DATA / END delivery (hardware-written, partition-read) ───────────────────

/** Body bytes of a delivery carrying `payloadBytes` (0 for an END). */
export function deliveryBodyBytes(payloadBytes: number): number {
  return DELIVER_BODY_BYTES + payloadBytes;
}

/** Fill a claimed delivery's fixed fields; returns where its payload starts. */
export function writeDelivery(u32: Uint32Array, at: number, channel: number, status: number): number {
  u32[(at + DELIVER_CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + DELIVER_STATUS_OFFSET) >> 2] = status;
  return at + DELIVER_BODY_BYTES;
}

export function deliveryChannel(u32: Uint32Array, at: number): number {
  return u32[(at + DELIVER_CHANNEL_OFFSET) >> 2];
}

/** Why an END ended the stream (a Status); OK in a DATA record. */
export function deliveryStatus(u32: Uint32Array, at: number): number {
  return u32[(at + DELIVER_STATUS_OFFSET) >> 2];
}

export function deliveryPayload(at: number): number {
  return at + DELIVER_BODY_BYTES;
}

export function deliveryPayloadBytes(bodyBytes: number): number {
  return bodyBytes - DELIVER_BODY_BYTES;
}

// ── COMPLETION (hardware-written, partition-read) ────────────────────────────

/**
 * The opcode of the completion that says the hardware stopped serving the
 * queue pair (its rings broke the rules; status EFAULT, channel 0). Zero is
 * no record type, so it never reads as the completion of a work request.
 */
export const QUEUE_PAIR_FAULT = 0;

/** Fill a claimed completion; returns the word index of its count, which the hardware bumps to coalesce a run. */
export function writeCompletion(u32: Uint32Array, at: number, status: number, channel: number, opcode: number): number {
  u32[(at + COMPLETION_STATUS_OFFSET) >> 2] = status;
  u32[(at + COMPLETION_CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + COMPLETION_OPCODE_OFFSET) >> 2] = opcode;
  const countWord = (at + COMPLETION_COUNT_OFFSET) >> 2;
  u32[countWord] = 1;
  return countWord;
}

export function completionStatus(u32: Uint32Array, at: number): number {
  return u32[(at + COMPLETION_STATUS_OFFSET) >> 2];
}

export function completionChannel(u32: Uint32Array, at: number): number {
  return u32[(at + COMPLETION_CHANNEL_OFFSET) >> 2];
}

export function completionOpcode(u32: Uint32Array, at: number): number {
  return u32[(at + COMPLETION_OPCODE_OFFSET) >> 2];
}

/** How many work requests in a row this completion answers (the hardware coalesces identical ones). */
export function completionCount(u32: Uint32Array, at: number): number {
  return u32[(at + COMPLETION_COUNT_OFFSET) >> 2];
}
