/**
 * The writer of one peer's block in the link counter block (layout in
 * shared/link-counters.ts): the hardware writes, the operator reads with a
 * plain load, so `machine.stats()` stays synchronous.
 */
import {
  LINK_AUTH_FAILURES,
  LINK_BYTES_RECEIVED,
  LINK_BYTES_SENT,
  LINK_COUNTERS_PER_PEER,
  LINK_DIAL_FAILURES,
  LINK_DOWNS,
  LINK_FRAMES_RECEIVED,
  LINK_FRAMES_SENT,
  LINK_KEPT_BYTES,
  LINK_HELD_BYTES,
  LINK_MESSAGES_RECEIVED,
  LINK_MESSAGES_SENT,
  LINK_STATE,
  LINK_UNACKNOWLEDGED,
  LINK_UPS,
  LINK_VIOLATION_COUNTER,
  LINK_VIOLATIONS_TOTAL,
  type LinkViolationKind,
} from '../../shared/link-counters.js';

export class LinkCounters {
  private readonly at: number;

  constructor(
    private readonly values: Float64Array,
    peerIndex: number,
  ) {
    this.at = peerIndex * LINK_COUNTERS_PER_PEER;
  }

  state(state: number): void {
    this.values[this.at + LINK_STATE] = state;
  }

  sent(bytes: number, frames: number, messages: number): void {
    const v = this.values;
    v[this.at + LINK_BYTES_SENT] += bytes;
    v[this.at + LINK_FRAMES_SENT] += frames;
    v[this.at + LINK_MESSAGES_SENT] += messages;
  }

  received(bytes: number): void {
    this.values[this.at + LINK_BYTES_RECEIVED] += bytes;
  }

  frameReceived(): void {
    this.values[this.at + LINK_FRAMES_RECEIVED]++;
  }

  messagesReceived(n: number): void {
    this.values[this.at + LINK_MESSAGES_RECEIVED] += n;
  }

  violation(kind: LinkViolationKind): void {
    this.values[this.at + LINK_VIOLATIONS_TOTAL]++;
    this.values[this.at + LINK_VIOLATION_COUNTER[kind]]++;
  }

  authFailure(): void {
    this.values[this.at + LINK_AUTH_FAILURES]++;
  }

  dialFailure(): void {
    this.values[this.at + LINK_DIAL_FAILURES]++;
  }

  /** Bytes kept aside for full receive rings grew (or, negative, shrank) by `bytes`. */
  kept(bytes: number): void {
    this.values[this.at + LINK_KEPT_BYTES] += bytes;
  }

  /** Bytes of this node's messages kept aside for a window to open grew (or, negative, shrank) by `bytes`. */
  held(bytes: number): void {
    this.values[this.at + LINK_HELD_BYTES] += bytes;
  }

  unacknowledged(n: number): void {
    this.values[this.at + LINK_UNACKNOWLEDGED] += n;
  }

  up(): void {
    this.values[this.at + LINK_UPS]++;
  }

  down(): void {
    this.values[this.at + LINK_DOWNS]++;
  }
}
