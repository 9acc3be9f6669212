/**
 * The channel counter block's contract (line layout in layout.ts, ChannelCounterLayout): its size
 * and the operator's reader. The hardware writes it (hardware/channel-counters.ts); the operator
 * reads it for `stats().partitions[i].channels`; no partition ever holds it.
 */
import { ChannelCounterLayout } from './layout.js';
import { connectionStateName, type ConnectionRow } from './connection-state.js';

/** Size of the block: one line per channel slot of every partition. */
export function channelCounterBytes(partitions: number, channelSlots: number): number {
  return partitions * channelSlots * ChannelCounterLayout.BYTES;
}

/**
 * One channel end of a partition, as the hardware counts it: who it connects (the row
 * `proc.connections()` shows, from the hardware's own copy) and what went through it. The counts start at 0 when the
 * channel opens in its slot and are gone once the end is closed there (the partition's own
 * counters keep its totals).
 */
export interface ChannelStats extends ConnectionRow {
  /** Messages this end sent that the hardware put into the other end's receive ring or onto the link (as the partition's `sent`). */
  sent: number;
  /** Payload bytes of `sent`. */
  bytesSent: number;
  /** Messages the hardware put into this end's receive ring (as the partition's `delivered`). */
  delivered: number;
  /** Payload bytes of `delivered`. */
  bytesDelivered: number;
}

/** How often a reader tries a line the hardware keeps rewriting before it reads the next one. */
const READ_TRIES = 8;

/** Operator side: the channel ends of the partition in slot `p` that are in use, in slot order. */
export function readChannelStats(words: Uint32Array, values: Float64Array, p: number, channelSlots: number): ChannelStats[] {
  const rows: ChannelStats[] = [];
  for (let slot = 0; slot < channelSlots; slot++) {
    const row = readLine(words, values, p * channelSlots + slot);
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

function readLine(words: Uint32Array, values: Float64Array, entry: number): ChannelStats | undefined {
  const w = entry * ChannelCounterLayout.WORDS;
  const v = entry * ChannelCounterLayout.SLOTS;
  for (let i = 0; i < READ_TRIES; i++) {
    const version = Atomics.load(words, w + ChannelCounterLayout.VERSION_WORD);
    if ((version & 1) !== 0) continue;
    const state = connectionStateName(words[w + ChannelCounterLayout.STATE_WORD]);
    const row =
      state === undefined
        ? undefined
        : {
            channel: words[w + ChannelCounterLayout.HANDLE_WORD],
            localProcess: words[w + ChannelCounterLayout.LOCAL_PROCESS_WORD],
            remoteNode: words[w + ChannelCounterLayout.REMOTE_NODE_WORD],
            remotePartition: words[w + ChannelCounterLayout.REMOTE_PARTITION_WORD],
            remoteProcess: words[w + ChannelCounterLayout.REMOTE_PROCESS_WORD],
            state,
            sent: values[v + ChannelCounterLayout.SENT],
            bytesSent: values[v + ChannelCounterLayout.BYTES_SENT],
            delivered: values[v + ChannelCounterLayout.DELIVERED],
            bytesDelivered: values[v + ChannelCounterLayout.BYTES_DELIVERED],
          };
    // Unchanged: the identity and the counts read belong to one channel.
    if (Atomics.load(words, w + ChannelCounterLayout.VERSION_WORD) === version) return row;
  }
  // Rewritten at every try (a slot reused faster than it is read): left out of this read.
  return undefined;
}
