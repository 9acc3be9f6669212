/**
 * Port counters in the manner of InfiniBand: per partition, messages and bytes
 * sent and delivered, and violations by kind. The hardware writes them into a
 * SharedArrayBuffer that only the operator (main thread) also holds, so
 * `machine.stats()` is a plain read.
 */
import {
  COUNTER_BYTES_DELIVERED,
  COUNTER_BYTES_SENT,
  COUNTER_COMPLETIONS_DROPPED,
  COUNTER_DELIVERED,
  COUNTER_FIRST_VIOLATION,
  COUNTER_IDLE_WAKEUPS,
  COUNTER_SEND_ERRORS,
  COUNTER_SENT,
  COUNTER_VIOLATIONS_TOTAL,
  COUNTERS_PER_PARTITION,
  VIOLATION_COUNTER_MAX,
  VIOLATION_KINDS,
  type ViolationKind,
} from '../shared/layout.js';

const violationIndex = Object.fromEntries(VIOLATION_KINDS.map((k, i) => [k, COUNTER_FIRST_VIOLATION + i])) as Record<
  ViolationKind,
  number
>;

/** Size of the counter block for this many partitions. */
export function counterBytes(partitions: number): number {
  return partitions * COUNTERS_PER_PARTITION * Float64Array.BYTES_PER_ELEMENT;
}

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

  sent(p: number, bytes: number): void {
    const at = p * COUNTERS_PER_PARTITION;
    this.values[at + COUNTER_SENT]++;
    this.values[at + COUNTER_BYTES_SENT] += bytes;
  }

  delivered(p: number, bytes: number): void {
    const at = p * COUNTERS_PER_PARTITION;
    this.values[at + COUNTER_DELIVERED]++;
    this.values[at + COUNTER_BYTES_DELIVERED] += bytes;
  }

  sendError(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_SEND_ERRORS]++;
  }

  completionDropped(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_COMPLETIONS_DROPPED]++;
  }

  idleWakeup(p: number): void {
    this.values[p * COUNTERS_PER_PARTITION + COUNTER_IDLE_WAKEUPS]++;
  }

  violation(p: number, kind: ViolationKind): void {
    const at = p * COUNTERS_PER_PARTITION;
    const v = this.values;
    if (v[at + COUNTER_VIOLATIONS_TOTAL] < VIOLATION_COUNTER_MAX) v[at + COUNTER_VIOLATIONS_TOTAL]++;
    if (v[at + violationIndex[kind]] < VIOLATION_COUNTER_MAX) v[at + violationIndex[kind]]++;
  }
}

/**
 * One partition's counters, as the hardware keeps them (in the manner of
 * InfiniBand port counters). They only grow; read them before and after what
 * you test. Violation counters saturate at 2^32 - 1.
 */
export interface PartitionStats {
  /** The partition's id. */
  id: number;
  /** The partition's name. */
  name: string;
  /** Messages this partition's processes sent that the hardware accepted and delivered onward. */
  sent: number;
  /** Messages the hardware delivered into this partition's receive rings. */
  delivered: number;
  /** Payload bytes of `sent`. */
  bytesSent: number;
  /** Payload bytes of `delivered`. */
  bytesDelivered: number;
  /** Work requests the hardware answered with an error completion (closed or dead peer, …). */
  sendErrors: number;
  /** Error completions not written because the completion ring was full (rate limiting). */
  completionsDropped: number;
  /**
   * Times this partition's doorbell woke the hardware and nothing moved on its rings. A few are
   * races; a steady climb is a doorbell storm, which the hardware throttles for that partition only.
   */
  idleWakeups: number;
  /**
   * Work requests and control messages the hardware refused as violations, by kind (see
   * {@link VIOLATION_KINDS}): a violating request never leaves the hardware, and the sender gets an
   * error completion. In an honest test every one stays 0.
   */
  violations: {
    /** All violations of this partition, every kind together. */
    total: number;
  } & Record<ViolationKind, number>;
}

/** Operator side: read one partition's block. */
export function readPartitionStats(values: Float64Array, p: number, id: number, name: string): PartitionStats {
  const at = p * COUNTERS_PER_PARTITION;
  const violations = { total: values[at + COUNTER_VIOLATIONS_TOTAL] } as PartitionStats['violations'];
  for (const kind of VIOLATION_KINDS) violations[kind] = values[at + violationIndex[kind]];
  return {
    id,
    name,
    sent: values[at + COUNTER_SENT],
    delivered: values[at + COUNTER_DELIVERED],
    bytesSent: values[at + COUNTER_BYTES_SENT],
    bytesDelivered: values[at + COUNTER_BYTES_DELIVERED],
    sendErrors: values[at + COUNTER_SEND_ERRORS],
    completionsDropped: values[at + COUNTER_COMPLETIONS_DROPPED],
    idleWakeups: values[at + COUNTER_IDLE_WAKEUPS],
    violations,
  };
}
