/**
 * The writer of the channel counters: per channel end, which channel it is and the messages and
 * bytes it sent and had delivered. Kept apart from the partitions' counters (counters.ts) in a
 * block only the operator also holds; shared/channel-counter-block.ts has the reader.
 */
import { ChannelCounterLayout } from '../shared/layout.js';
import { channelCounterBytes } from '../shared/channel-counter-block.js';

export class ChannelCounters {
  readonly buffer: SharedArrayBuffer;
  readonly words: Uint32Array;
  /** The counts, by entry × ChannelCounterLayout.SLOTS; the engine adds to them in its runs directly. */
  readonly values: Float64Array;

  /** `buffer`: a zeroed block of channelCounterBytes() the operator allocated; default: a fresh one. */
  constructor(partitions: number, channelSlots: number, buffer?: SharedArrayBuffer) {
    const bytes = channelCounterBytes(partitions, channelSlots);
    if (buffer !== undefined && buffer.byteLength !== bytes) throw new RangeError(`channel counter block of ${buffer.byteLength} bytes, expected ${bytes}`);
    this.buffer = buffer ?? new SharedArrayBuffer(bytes);
    this.words = new Uint32Array(this.buffer);
    this.values = new Float64Array(this.buffer);
  }

  /**
   * The end in `entry` now reads as this row of its partition's connection table (written beside
   * every write of that table, partition-port.ts). A new channel in the slot starts its counts at
   * 0; a change of state keeps them.
   */
  describe(entry: number, handle: number, state: number, localProcess: number, remoteNode: number, remotePartition: number, remoteProcess: number): void {
    const words = this.words;
    const w = entry * ChannelCounterLayout.WORDS;
    const version = words[w + ChannelCounterLayout.VERSION_WORD];
    Atomics.store(words, w + ChannelCounterLayout.VERSION_WORD, (version + 1) >>> 0);
    if (words[w + ChannelCounterLayout.HANDLE_WORD] !== handle) this.values.fill(0, entry * ChannelCounterLayout.SLOTS + ChannelCounterLayout.SENT, (entry + 1) * ChannelCounterLayout.SLOTS);
    words[w + ChannelCounterLayout.HANDLE_WORD] = handle;
    words[w + ChannelCounterLayout.STATE_WORD] = state;
    words[w + ChannelCounterLayout.LOCAL_PROCESS_WORD] = localProcess;
    words[w + ChannelCounterLayout.REMOTE_NODE_WORD] = remoteNode;
    words[w + ChannelCounterLayout.REMOTE_PARTITION_WORD] = remotePartition;
    words[w + ChannelCounterLayout.REMOTE_PROCESS_WORD] = remoteProcess;
    Atomics.store(words, w + ChannelCounterLayout.VERSION_WORD, (version + 2) >>> 0);
  }

  /** `messages` more sent by the end in `entry`, carrying `bytes` of payload. */
  sent(entry: number, messages: number, bytes: number): void {
    const at = entry * ChannelCounterLayout.SLOTS;
    this.values[at + ChannelCounterLayout.SENT] += messages;
    this.values[at + ChannelCounterLayout.BYTES_SENT] += bytes;
  }

  /** `messages` more delivered into the end in `entry`'s receive ring, carrying `bytes` of payload. */
  delivered(entry: number, messages: number, bytes: number): void {
    const at = entry * ChannelCounterLayout.SLOTS;
    this.values[at + ChannelCounterLayout.DELIVERED] += messages;
    this.values[at + ChannelCounterLayout.BYTES_DELIVERED] += bytes;
  }
}
