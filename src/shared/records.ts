/**
 * One reader and one writer per record body layout (layout.ts says where
 * each field lives). Every function takes the ring's Uint32Array and the
 * byte offset of the record's body, as RingProducer.tryClaim() returns it
 * and RingConsumer.bodyOffset holds it: plain functions on numbers, so V8
 * inlines them and no object exists per record. The busiest per-message
 * paths spell the same arithmetic out from layout.ts's const enums instead
 * (Engine.sendRun and sendRemoteRun, the common case of ReceivePump.walk and
 * visitFor, SendQueue.claim): V8 loads and checks an imported function's
 * module cell at every call, which cost the engine ~7% of its time per 64 B
 * message.
 *
 * Readers read one word once; a caller that must not trust the writer (the
 * hardware reading a work request) keeps what it read in a local and never
 * reads the field again.
 */
import {
  CompletionBody,
  DeliverBody,
  SendBody,
} from './layout.js';

// ── SEND / CLOSE / DETACH work request (partition-written, hardware-read) ────

/** Body bytes of a work request carrying `payloadBytes` of payload. */
export function workRequestBodyBytes(payloadBytes: number): number {
  return SendBody.BYTES + payloadBytes;
}

/** Fill a claimed work request's fixed fields; returns where its payload starts. */
export function writeWorkRequest(u32: Uint32Array, at: number, channel: number): number {
  u32[(at + SendBody.CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + SendBody.FLAGS_OFFSET) >> 2] = 0;
  return at + SendBody.BYTES;
}

export function workRequestChannel(u32: Uint32Array, at: number): number {
  return u32[(at + SendBody.CHANNEL_OFFSET) >> 2];
}

export function workRequestFlags(u32: Uint32Array, at: number): number {
  return u32[(at + SendBody.FLAGS_OFFSET) >> 2];
}

export function workRequestPayload(at: number): number {
  return at + SendBody.BYTES;
}

/** Payload bytes of a work request whose body has `bodyBytes` (negative: the body is too short to be one). */
export function workRequestPayloadBytes(bodyBytes: number): number {
  return bodyBytes - SendBody.BYTES;
}

// ── DATA / END delivery (hardware-written, partition-read) ───────────────────

/** Body bytes of a delivery carrying `payloadBytes` (0 for an END). */
export function deliveryBodyBytes(payloadBytes: number): number {
  return DeliverBody.BYTES + payloadBytes;
}

/** Fill a claimed delivery's fixed fields; returns where its payload starts. */
export function writeDelivery(u32: Uint32Array, at: number, channel: number, status: number): number {
  u32[(at + DeliverBody.CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + DeliverBody.STATUS_OFFSET) >> 2] = status;
  return at + DeliverBody.BYTES;
}

export function deliveryChannel(u32: Uint32Array, at: number): number {
  return u32[(at + DeliverBody.CHANNEL_OFFSET) >> 2];
}

/** Why an END ended the stream (a Status); OK in a DATA record. */
export function deliveryStatus(u32: Uint32Array, at: number): number {
  return u32[(at + DeliverBody.STATUS_OFFSET) >> 2];
}

export function deliveryPayload(at: number): number {
  return at + DeliverBody.BYTES;
}

export function deliveryPayloadBytes(bodyBytes: number): number {
  return bodyBytes - DeliverBody.BYTES;
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
  u32[(at + CompletionBody.STATUS_OFFSET) >> 2] = status;
  u32[(at + CompletionBody.CHANNEL_OFFSET) >> 2] = channel;
  u32[(at + CompletionBody.OPCODE_OFFSET) >> 2] = opcode;
  const countWord = (at + CompletionBody.COUNT_OFFSET) >> 2;
  u32[countWord] = 1;
  return countWord;
}

export function completionStatus(u32: Uint32Array, at: number): number {
  return u32[(at + CompletionBody.STATUS_OFFSET) >> 2];
}

export function completionChannel(u32: Uint32Array, at: number): number {
  return u32[(at + CompletionBody.CHANNEL_OFFSET) >> 2];
}

export function completionOpcode(u32: Uint32Array, at: number): number {
  return u32[(at + CompletionBody.OPCODE_OFFSET) >> 2];
}

/** How many work requests in a row this completion answers (the hardware coalesces identical ones). */
export function completionCount(u32: Uint32Array, at: number): number {
  return u32[(at + CompletionBody.COUNT_OFFSET) >> 2];
}
