/**
 * The counter block's contract (offsets in layout.ts): its size and the
 * operator's reader. The hardware writes the block (hardware/counters.ts),
 * the operator reads it with a plain load; no partition ever holds it.
 */
import { CounterSlot, VIOLATION_KINDS, type ViolationKind } from './layout.js';

/** Where each violation kind's counter sits within a partition's block. */
export const VIOLATION_COUNTER = Object.fromEntries(VIOLATION_KINDS.map((k, i) => [k, CounterSlot.FIRST_VIOLATION + i])) as Readonly<
  Record<ViolationKind, number>
>;

/** Size of the counter block for this many partitions. */
export function counterBytes(partitions: number): number {
  return partitions * CounterSlot.PER_PARTITION * Float64Array.BYTES_PER_ELEMENT;
}

/**
 * One partition's counters, as the hardware keeps them (in the manner of
 * InfiniBand port counters). They only grow (but `kept`, a gauge); read them
 * before and after what you test. Violation counters saturate at 2^32 - 1.
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
  /** Error completions for the channel's state (closed or dead peer, link down, broken receive ring) and failed verifications; the sender's own violations are counted apart. */
  sendErrors: number;
  /** Error completions not written because the completion ring was full (rate limiting). */
  completionsDropped: number;
  /**
   * Times this partition's doorbell woke the hardware and nothing moved on its rings. A few are
   * races; a steady climb is a doorbell storm, which the hardware throttles for that partition only.
   */
  idleWakeups: number;
  /** Times this partition's doorbell woke the hardware, with work or not. A storm the hardware throttles stays near 16 a second. */
  doorbellWakeups: number;
  /**
   * Control calls the hardware refused because this partition reached a bound on what it may make
   * the hardware hold (`listenersPerPartition`, pending accepts): each got `EMFILE` or `EAGAIN`.
   * Also each pause of its control port past its rate (256 messages per 10 ms): those messages
   * wait in the port and are answered later.
   */
  controlRefusals: number;
  /**
   * Messages to this partition the hardware keeps aside now, their receive ring being full (THREATS
   * case 51): they count as sent and delivered once they are in the ring. Not a count but a gauge;
   * it falls as the partition reads (or to 0 when it closes those channels).
   */
  kept: number;
  /**
   * Times the hardware lowered this partition thread's dispatch priority (to nice 19, on Linux)
   * because its sends kept the engine's whole budget busy, or it drained such a flood, while another
   * partition made round trips: `createMachine({ demoteFlooders })`. Each lowering ends once the
   * flood stops or nobody makes round trips beside it.
   */
  demotions: number;
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

/** Operator side: read the block of the partition in slot `p`. */
export function readPartitionStats(values: Float64Array, p: number, id: number, name: string): PartitionStats {
  const at = p * CounterSlot.PER_PARTITION;
  const violations = { total: values[at + CounterSlot.VIOLATIONS_TOTAL] } as PartitionStats['violations'];
  for (const kind of VIOLATION_KINDS) violations[kind] = values[at + VIOLATION_COUNTER[kind]];
  return {
    id,
    name,
    sent: values[at + CounterSlot.SENT],
    delivered: values[at + CounterSlot.DELIVERED],
    bytesSent: values[at + CounterSlot.BYTES_SENT],
    bytesDelivered: values[at + CounterSlot.BYTES_DELIVERED],
    sendErrors: values[at + CounterSlot.SEND_ERRORS],
    completionsDropped: values[at + CounterSlot.COMPLETIONS_DROPPED],
    idleWakeups: values[at + CounterSlot.IDLE_WAKEUPS],
    doorbellWakeups: values[at + CounterSlot.DOORBELL_WAKEUPS],
    controlRefusals: values[at + CounterSlot.CONTROL_REFUSALS],
    kept: values[at + CounterSlot.KEPT],
    demotions: values[at + CounterSlot.DEMOTIONS],
    violations,
  };
}
