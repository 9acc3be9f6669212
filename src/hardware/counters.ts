/**
 * The writer of the port counters (in the manner of InfiniBand): per
 * partition, messages and bytes sent and delivered, and violations by kind.
 * The hardware writes them into a SharedArrayBuffer that only the operator
 * (main thread) also holds, so `machine.stats()` is a plain read
 * (shared/counter-block.ts has the reader).
 */
import {
  COUNTER_BYTES_DELIVERED,
  COUNTER_BYTES_SENT,
  COUNTER_COMPLETIONS_DROPPED,
  COUNTER_CONTROL_REFUSALS,
  COUNTER_DOORBELL_WAKEUPS,
  COUNTER_DELIVERED,
  COUNTER_IDLE_WAKEUPS,
  COUNTER_SEND_ERRORS,
  COUNTER_SENT,
  COUNTER_VIOLATIONS_TOTAL,
  COUNTERS_PER_PARTITION,
  VIOLATION_COUNTER_MAX,
  type ViolationKind,
} from '../shared/layout.js';
import { counterBytes, VIOLATION_COUNTER } from '../shared/counter-block.js';

export class Counters {
  readonly buffer: SharedArrayBuffer;
  readonly values: Float64Array;

  /** `buffer`: a zeroed block of counterBytes(partitions) the operator allocated; default: a fresh one. */
  constructor(partitions: number, buffer?: SharedArrayBuffer) {
    const bytes = counterBytes(partitions);
    if (buffer !== undefined && buffer.byteLength !== bytes) throw new RangeError(`counter block of ${buffer.byteLength} bytes, expected ${bytes}`);
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    this.values = new Float64Array(this.buffer);
  }

  /** `messages` more sent by partition `p`, carrying `bytes` of payload (the engine adds a batch at once). */
  sent(p: number, messages: number, bytes: number): void {
    const at = p * COUNTERS_PER_PARTITION;
    this.values[at + COUNTER_SENT] += messages;
    this.values[at + COUNTER_BYTES_SENT] += bytes;
  }

  delivered(p: number, messages: number, bytes: number): void {
    const at = p * COUNTERS_PER_PARTITION;
    this.values[at + COUNTER_DELIVERED] += messages;
    this.values[at + COUNTER_BYTES_DELIVERED] += bytes;
  }

  sendError(p: number, n = 1): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_SEND_ERRORS] += n;
  }

  completionDropped(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_COMPLETIONS_DROPPED]++;
  }

  controlRefusal(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_CONTROL_REFUSALS]++;
  }

  doorbellWakeup(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_DOORBELL_WAKEUPS]++;
  }

  idleWakeup(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_IDLE_WAKEUPS]++;
  }

  /** Told of every violation counted (the hardware's trace records them); violations are rare, so this costs the busy path nothing. */
  onViolation: ((p: number, kind: ViolationKind) => void) | undefined;

  violation(p: number, kind: ViolationKind): void {
    this.onViolation?.(p, kind);
    const at = p * COUNTERS_PER_PARTITION;
    const v = this.values;
    if (v[at + COUNTER_VIOLATIONS_TOTAL] < VIOLATION_COUNTER_MAX) v[at + COUNTER_VIOLATIONS_TOTAL]++;
    if (v[at + VIOLATION_COUNTER[kind]] < VIOLATION_COUNTER_MAX) v[at + VIOLATION_COUNTER[kind]]++;
  }
}
