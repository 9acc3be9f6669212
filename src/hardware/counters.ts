/**
 * The writer of the port counters (in the manner of InfiniBand): per
 * partition, messages and bytes sent and delivered, and violations by kind.
 * The hardware writes them into a SharedArrayBuffer that only the operator
 * (main thread) also holds, so `machine.stats()` is a plain read
 * (shared/counter-block.ts has the reader).
 */
import { CounterSlot, VIOLATION_COUNTER_MAX, type ViolationKind } from '../shared/layout.js';
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
    const at = p * CounterSlot.PER_PARTITION;
    this.values[at + CounterSlot.SENT] += messages;
    this.values[at + CounterSlot.BYTES_SENT] += bytes;
  }

  delivered(p: number, messages: number, bytes: number): void {
    const at = p * CounterSlot.PER_PARTITION;
    this.values[at + CounterSlot.DELIVERED] += messages;
    this.values[at + CounterSlot.BYTES_DELIVERED] += bytes;
  }

  sendError(p: number, n = 1): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.SEND_ERRORS] += n;
  }

  /** `n` more (or fewer, negative) messages kept aside for partition `p`'s receive rings. */
  kept(p: number, n: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.KEPT] += n;
  }

  completionDropped(p: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.COMPLETIONS_DROPPED]++;
  }

  demotion(p: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.DEMOTIONS]++;
  }

  controlRefusal(p: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.CONTROL_REFUSALS]++;
  }

  doorbellWakeup(p: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.DOORBELL_WAKEUPS]++;
  }

  idleWakeup(p: number): void {
    this.values[p * CounterSlot.PER_PARTITION + CounterSlot.IDLE_WAKEUPS]++;
  }

  /** Told of every violation counted (the hardware's trace records them); violations are rare, so this costs the busy path nothing. */
  onViolation: ((p: number, kind: ViolationKind) => void) | undefined;

  violation(p: number, kind: ViolationKind): void {
    this.onViolation?.(p, kind);
    const at = p * CounterSlot.PER_PARTITION;
    const v = this.values;
    if (v[at + CounterSlot.VIOLATIONS_TOTAL] < VIOLATION_COUNTER_MAX) v[at + CounterSlot.VIOLATIONS_TOTAL]++;
    if (v[at + VIOLATION_COUNTER[kind]] < VIOLATION_COUNTER_MAX) v[at + VIOLATION_COUNTER[kind]]++;
  }
}
