/**
 * Messages whose receive ring was full, kept aside in the hardware's own memory, in arrival order,
 * until the ring has room. Two keep them: a link's reader (LinkedChannels), one channel's to a
 * KeptMessages, so the link's other channels never wait behind this one (THREATS case 48); and the
 * engine (KeptDeliveries), one receiving queue pair's to a KeptMessages, each tagged with its
 * channel, so a sender's other channels never wait behind one in its send ring (case 51).
 *
 * Bounded by what its keeper allows a channel: a link's by the window its node granted (the
 * sending node never has more of a channel unacknowledged), the engine's by what a sender's
 * library sends before it stops for the channel. The caller checks every message against the
 * bound all the same (the sender is not trusted).
 *
 * Stored as in a DATA frame: a length word, a tag word (the engine's: the channel it goes to; 0 for
 * a link's), the payload zero-padded to 8 bytes, so every payload stays 8-aligned for the copy into
 * the ring (shared-copy.ts), and what a message takes here is exactly what it counts against the
 * window (messageBytes()).
 */
import { DataMessage, messageBytes } from '../shared/link-frames.js';
import { setBytes } from '../shared/shared-copy.js';

/** What follows the bytes kept (a link's `keptBytes` counter). */
export interface KeptBytesGauge {
  kept(bytes: number): void;
}

/** The first buffer of a channel's kept messages; it doubles as they grow, up to the window. */
export const FIRST_KEPT_BYTES = 16 * 1024;

/**
 * Messages of ends whose kept messages were dropped (KeptDeliveries.drop()), still in their queue:
 * taken out when they reach its head, or all at once when they are a quarter of what it holds. They
 * are counted per channel slot: a queue holds the messages of one slot in the order of its
 * channels (a slot's next channel opens once its last one closed, and dropped what it kept), so the
 * oldest `stale[slot]` messages of a slot are the dropped ones (THREATS case 81).
 */
export interface DroppedMessages {
  readonly stale: Uint32Array;
  messages: number;
  /** Their bytes, as this queue counts them (messageBytes() each). */
  bytes: number;
}

export class KeptMessages {
  private u8 = new Uint8Array(FIRST_KEPT_BYTES);
  private u32 = new Uint32Array(this.u8.buffer);
  private head = 0;
  private tail = 0;
  /** Messages kept. */
  count = 0;
  /** A CLOSE the peer sent after these messages: its status, applied once they are in the ring (-1: none). */
  closeStatus = -1;
  /** Dropped messages this queue still holds (a receiving queue pair's queue only); undefined: none. */
  dropped: DroppedMessages | undefined = undefined;

  constructor(
    /** The channel-state entry they are for, and its link id when they were kept (a reused entry has another). */
    public entry: number,
    public linkId: number,
    /** The window granted for the channel: what this keeps, at most (but one larger message alone). */
    private readonly window: number,
    /** What follows what this holds (the counters of the link the messages came over: `keptBytes`). */
    private counters: KeptBytesGauge,
  ) {}

  /** Keep messages for another channel with what this holds (nothing: only an emptied one is reused) and its buffer. */
  reuse(entry: number, linkId: number, counters: KeptBytesGauge): this {
    this.entry = entry;
    this.linkId = linkId;
    this.counters = counters;
    this.closeStatus = -1;
    this.head = this.tail = this.count = 0;
    return this;
  }

  /** Bytes of memory this holds for them (at most four times what it keeps, and 16 KiB at least). */
  get capacity(): number {
    return this.u8.length;
  }

  /** Window bytes kept (messageBytes() of each message). */
  get bytes(): number {
    return this.tail - this.head;
  }

  /** Keep a copy of the `bytes` payload bytes at `at` in `src`, tagged with `tag`. */
  push(src: Uint8Array, at: number, bytes: number, tag = 0): void {
    const need = messageBytes(bytes);
    if (this.tail + need > this.u8.length) this.makeRoom(need);
    const m = this.tail;
    this.u32[m >>> 2] = bytes;
    this.u32[(m >>> 2) + 1] = tag;
    setBytes(this.u8, src.subarray(at, at + bytes), m + DataMessage.HEADER_BYTES);
    // Zero the padding: what reaches a ring is exactly the payload and zeros (THREATS case 26).
    this.u8.fill(0, m + DataMessage.HEADER_BYTES + bytes, m + need);
    this.tail = m + need;
    this.count++;
    this.counters.kept(need);
  }

  /** The oldest message's payload: its offset in bytes8()/words32() and its length. Only while count > 0. */
  get firstAt(): number {
    return this.head + DataMessage.HEADER_BYTES;
  }

  get firstBytes(): number {
    return this.u32[this.head >>> 2];
  }

  /** The oldest message's tag. */
  get firstTag(): number {
    return this.u32[(this.head >>> 2) + 1];
  }

  /**
   * Forget, for each slot s, the oldest `stale[s]` messages whose tag's slot (`tag & slotMask`) is
   * s, keeping the others in order, in one pass (`stale` is counted down to 0); returns how many
   * went. One pass for many ends, and small messages moved a word at a time, not a call each: a
   * pass per end made dropping many ends' messages cost the queue's length once per end (THREATS
   * case 81).
   */
  removeStale(stale: Uint32Array, slotMask: number): number {
    const u32 = this.u32;
    let to = this.head >>> 2;
    let removed = 0;
    for (let m = this.head >>> 2, end = this.tail >>> 2; m < end; ) {
      const words = messageBytes(u32[m]) >>> 2;
      const slot = u32[m + 1] & slotMask;
      if (stale[slot] > 0) {
        stale[slot]--;
        removed++;
      } else if (to !== m) {
        if (words <= 64) for (let w = 0; w < words; w++) u32[to + w] = u32[m + w];
        else this.u8.copyWithin(to << 2, m << 2, (m + words) << 2);
        to += words;
      } else to += words;
      m += words;
    }
    this.counters.kept(-(this.tail - (to << 2)));
    this.tail = to << 2;
    this.count -= removed;
    if (this.count === 0) this.head = this.tail = 0;
    // Down as after shift(): a reader's closed ends took out what grew the buffer, and what stays
    // may never be read; it held its peak, one per receive ring (THREATS case 101).
    else this.shrinkIfSparse();
    return removed;
  }

  /**
   * The tags of the messages, each once, in the order they first come: one pass. A slot's tags come
   * in the order of its generations (`tag & slotMask` is the slot), so a tag is new where it is not
   * the last one seen of its slot.
   */
  tagsInOrder(slotMask: number): number[] {
    const u32 = this.u32;
    const out: number[] = [];
    const seen = new Float64Array(slotMask + 1).fill(-1);
    for (let m = this.head >>> 2, end = this.tail >>> 2; m < end; m += messageBytes(u32[m]) >>> 2) {
      const tag = u32[m + 1];
      const slot = tag & slotMask;
      if (seen[slot] !== tag) {
        seen[slot] = tag;
        out.push(tag);
      }
    }
    return out;
  }

  get bytes8(): Uint8Array {
    return this.u8;
  }

  get words32(): Uint32Array {
    return this.u32;
  }

  /** Forget every message (the channel ended, or its owner reads no more). */
  clear(): void {
    this.counters.kept(-(this.tail - this.head));
    this.head = this.tail = 0;
    this.count = 0;
  }

  /** The oldest message is in its ring: forget it. */
  shift(): void {
    const bytes = messageBytes(this.firstBytes);
    this.head += bytes;
    this.count--;
    this.counters.kept(-bytes);
    if (this.count === 0) this.head = this.tail = 0;
    else this.shrinkIfSparse();
  }

  /**
   * A buffer that grew for a burst goes back down as it drains: a channel left with a message or
   * two unread must not pin a window's worth of memory (it is at most four times what it holds).
   */
  private shrinkIfSparse(): void {
    if (this.u8.length > FIRST_KEPT_BYTES && 4 * (this.tail - this.head) <= this.u8.length) this.resize(Math.max(FIRST_KEPT_BYTES, 2 * (this.tail - this.head)));
  }

  private makeRoom(need: number): void {
    const used = this.tail - this.head;
    if (used + need <= this.u8.length && this.head > 0) {
      this.u8.copyWithin(0, this.head, this.tail);
      this.tail = used;
      this.head = 0;
      return;
    }
    let size = this.u8.length;
    while (size < used + need) size *= 2;
    // Never past the window (rounded up to 8, for the word view), but for one message larger than it (kept alone).
    this.resize(Math.min(size, Math.max(used + need, (this.window + 7) & ~7)));
  }

  /** Move what is kept to the start of a new buffer of `size` bytes (a multiple of 8, at least what is kept). */
  private resize(size: number): void {
    const next = new Uint8Array(size);
    next.set(this.u8.subarray(this.head, this.tail));
    this.tail -= this.head;
    this.head = 0;
    this.u8 = next;
    this.u32 = new Uint32Array(next.buffer);
  }
}
