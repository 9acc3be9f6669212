/** What bench/ring.ts and its worker (bench/ring-worker.ts) agree on. */
import type { MessagePort } from 'node:worker_threads';

/** Int32 words of the control buffer shared by the main thread and both workers of a case. */
export const CONTROL_GO = 0;
export const CONTROL_STOP = 1;
export const CONTROL_WORDS = 2;

export type Role = 'producer' | 'consumer' | 'sender' | 'receiver';

export interface WorkerInput {
  readonly role: Role;
  readonly control: SharedArrayBuffer;
  /** Payload bytes per message (a multiple of 4, at least 4). */
  readonly bodyBytes: number;
  /** Records per publish (producer) and per release (consumer). */
  readonly batch: number;
  readonly ring?: { readonly buffer: SharedArrayBuffer; readonly base: number; readonly capacity: number };
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
