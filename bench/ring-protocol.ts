/** What bench/ring.ts and its worker (bench/ring-worker.ts) agree on. */
import type { MessagePort } from 'node:worker_threads';

/** Int32 words of the control buffer shared by the main thread and both workers of a case. */
export const CONTROL_GO = 0;
export const CONTROL_STOP = 1;
export const CONTROL_WORDS = 2;

/** `relay` consumes `ring` and produces `ring2` (the raw relay: three threads, no verification). */
export type Role = 'producer' | 'consumer' | 'sender' | 'receiver' | 'relay';

export interface RingRef {
  readonly buffer: SharedArrayBuffer;
  readonly base: number;
  readonly capacity: number;
}

export interface WorkerInput {
  readonly role: Role;
  readonly control: SharedArrayBuffer;
  /** Payload bytes per message (a multiple of 4, at least 4). */
  readonly bodyBytes: number;
  /** Records per publish (producer) and per release (consumer). */
  readonly batch: number;
  readonly ring?: RingRef;
  /** The relay's output ring. */
  readonly ring2?: RingRef;
  /**
   * How the producer fills a payload: 'words' writes every word (the ring
   * suite's default), 'copy' copies a prepared buffer with TypedArray.set and
   * stamps the sequence number, as a channel's send() does.
   */
  readonly fill?: 'words' | 'copy';
  /** Polls before a waiting side sleeps (default: spinBudget('adaptive')). */
  readonly spins?: number;
  readonly port?: MessagePort;
}

export interface WorkerResult {
  readonly role: Role;
  /** Messages sent (producer, sender) or received (consumer, receiver). */
  readonly messages: number;
  /** Receiving side only: seconds from the first message to the end marker. */
  readonly seconds: number;
  /** Receiving side only: messages whose sequence number was not the next one. */
  readonly outOfOrder: number;
}
