/** What bench/latency.ts and its worker (bench/latency-worker.ts) agree on. */
import type { MessagePort } from 'node:worker_threads';
import { CACHE_LINE_BYTES } from '../src/internal.js';
import type { RingRef } from './ring-protocol.js';

export type LatencyRole = 'ping' | 'pong' | 'relay' | 'pm-ping' | 'pm-pong';

/** Consumer flag and bell words at the start of the shared buffer, one 64-byte line per consuming thread. */
export const SIGNAL_LINE_WORDS = CACHE_LINE_BYTES / 4;
export const SIGNAL_BYTES = 3 * CACHE_LINE_BYTES;

export interface LatencyInput {
  readonly role: LatencyRole;
  readonly control: SharedArrayBuffer;
  readonly bodyBytes: number;
  readonly durationMs: number;
  readonly spins: number;
  /** Rings this role consumes (relay: two) and produces (relay: two), in loop order. */
  readonly from?: readonly RingRef[];
  readonly to?: readonly RingRef[];
  /** True in the three-thread loop (ping and pong then talk to the relay). */
  readonly relay?: boolean;
  /**
   * With `relay`: ping echoes too, in its own thread (two threads in all: ping and the relay), the
   * shape of lparlink's round trip with both ends in one partition.
   */
  readonly echoInPing?: boolean;
  readonly port?: MessagePort;
}

