/**
 * One link's incoming bytes: cut into frames by their length words, each
 * frame checked for size and type; a DATA frame's run header goes to the
 * receive stage to be verified (LinkedChannels.run), then its messages one at
 * a time (LinkedChannels.message). Nothing a peer sends is trusted: a
 * field that lies drops the rest of its frame (badLength); a length word past
 * the bound ends the link, since nothing after it can be framed again.
 *
 * The reader never stops for a full receive ring: the receive stage keeps
 * such a channel's messages aside, within the channel's window
 * (LinkedChannels), so the link's other channels go on (THREATS case 48).
 */
import {
  AckFrame,
  CloseFrame,
  ConnectOkFrame,
  ConnectRefusedFrame,
  DataFrame,
  DataMessage,
  FIXED_FRAME_BYTES,
  Frame,
  FrameType,
} from '../../shared/link-frames.js';
import type { LinkViolationKind } from '../../shared/link-counters.js';
import { setBytes } from '../../shared/shared-copy.js';

/** What the receive stage answers for one message: taken (into its receive ring, or kept aside for it). */
export const DELIVERED = 0;
/** Dropped (counted by whoever dropped it): the rest of its run goes too, since every later sequence depends on it. */
export const DROPPED = 1;
/** FrameSink.run(): the run header does not verify (counted by the sink); the frame is dropped. */
export const NO_RUN = -1;

/**
 * Where a reader's frames go. `buf` and offsets stay valid only during the call; a message's
 * `buf` and `words` view the same memory from the same start (its whole ArrayBuffer), so `at`
 * may be read as words when it is 4-aligned.
 */
export interface FrameSink {
  /**
   * A DATA frame's run, from its message with this `sequence` on: the entry its messages go to, or
   * NO_RUN. `runBytes`: the frame's bytes after its run header (its messages' window bytes, if it is honest).
   */
  run(channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number, runBytes: number): number;
  /** The next message of the run verified into `entry`, taken by the receive stage (DELIVERED) or DROPPED. */
  message(entry: number, buf: Uint8Array, words: Uint32Array, at: number, bytes: number): number;
  /**
   * The run verified into `entry` ended (a drop, or the frame's end): the receive stage books what
   * its messages put into the ring (sequence, ACK, counters) once here, not per message.
   */
  delivered(entry: number): void;
  ack(channel: number, sequence: number, window: number): void;
  close(channel: number, senderChannel: number, status: number): void;
  /** `at` is the frame's start in `view`; the frame is ConnectFrame.BYTES long. */
  connect(view: DataView, at: number): void;
  /** `reserved`: the frame's reserved word, which must be zero. */
  connectOk(request: number, channel: number, process: number, window: number, maxMessage: number, reserved: number): void;
  connectRefused(request: number, status: number): void;
  violation(kind: LinkViolationKind): void;
  /** The stream cannot be framed any more: end the link. */
  fatal(why: string): void;
  frameReceived(): void;
}

/** The smallest buffer kept for joining frames split across reads. */
const JOIN_BUFFER_BYTES = 16 * 1024;

export class LinkReader {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  /** `buf`'s whole ArrayBuffer as bytes and as words, and where `buf` starts in it (messages go on as offsets there). */
  private whole8: Uint8Array = this.buf;
  private whole32: Uint32Array = new Uint32Array(0);
  private base = 0;
  /** Start of the first frame not finished with. */
  private pos = 0;
  /**
   * In a DATA frame being delivered (it starts at `pos`): messages left, the next one's offset,
   * the frame's end, and the entry its run verified into (NO_RUN: verify before the next message).
   */
  private dataLeft = 0;
  private dataAt = 0;
  private dataEnd = 0;
  private runEntry = NO_RUN;
  private stopped = false;
  /**
   * A frame split across socket reads, gathered as its reads arrive (undefined: none): its length,
   * and how many of its bytes are here, at the start of `joined`. Each read is copied in as it comes
   * rather than kept until the frame is whole: a peer that sends a frame of maxFrameBytes in TLS
   * records of one byte made the reader keep one object per read, ~220 bytes of heap for each byte
   * of the frame (THREATS case 68). `joined` grows with what arrived, not with what the length word
   * claims: a length word alone commits no memory.
   */
  private gathering: number | undefined;
  private gathered = 0;
  private joined = new Uint8Array(0);
  /** After a joined frame: the rest of the read that completed it, read once the frame is done. */
  private next: Uint8Array | undefined;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxFrameBytes: number,
    private readonly maxMessageBytes: number,
  ) {}

  /**
   * Bytes from the socket. Between pushes every whole frame has been read (run() reads each to its
   * end and takes up the rest of a joined read): what is left is at most part of one frame.
   */
  push(chunk: Uint8Array): void {
    if (this.stopped) return;
    if (this.gathering !== undefined) {
      if (!this.gather(chunk)) return;
    } else {
      const rest = this.buf.length - this.pos;
      if (rest === 0) {
        this.setBuffer(chunk);
      } else if (rest >= Frame.LENGTH_WORD_BYTES && this.frameAtPos() <= this.maxFrameBytes) {
        // A frame split across socket reads (TLS records carry at most 16 KiB): copy out only that
        // frame, and read the rest of the read that completes it where it lies.
        // The buffer being read cannot take the frame (it is read in place): a fresh one.
        if (this.joined.buffer === this.buf.buffer) this.joined = new Uint8Array(JOIN_BUFFER_BYTES);
        this.gathering = this.frameAtPos();
        this.gathered = 0;
        this.gatherIn(this.buf.subarray(this.pos));
        if (!this.gather(chunk)) return;
      } else {
        // Rare: a length word split across reads (at most 3 bytes of it here). Join it to this read.
        this.setBuffer(Buffer.concat([this.buf.subarray(this.pos), chunk]));
      }
    }
    this.run();
  }

  /** Copy a read into the frame being gathered; true once the frame is whole (it is `buf` then, the read's rest `next`). */
  private gather(chunk: Uint8Array): boolean {
    const frameBytes = this.gathering!;
    const missing = frameBytes - this.gathered;
    if (chunk.length < missing) {
      this.gatherIn(chunk);
      return false;
    }
    this.gatherIn(missing === chunk.length ? chunk : chunk.subarray(0, missing));
    this.gathering = undefined;
    this.gathered = 0;
    this.setBuffer(this.joined.subarray(0, frameBytes));
    if (missing < chunk.length) this.next = chunk.subarray(missing);
    return true;
  }

  /**
   * Append `bytes` (no more than the frame lacks) to the frame being gathered in `joined`, which
   * is reused from one frame to the next (a fresh 64 KiB buffer per frame cost more than the copy)
   * and grows, doubling up to the frame's length, only as far as the bytes that arrived need.
   */
  private gatherIn(bytes: Uint8Array): void {
    const needed = this.gathered + bytes.length;
    if (needed > this.joined.byteLength) {
      const grown = new Uint8Array(Math.max(needed, JOIN_BUFFER_BYTES, Math.min(this.gathering!, 2 * this.joined.byteLength)));
      setBytes(grown, this.joined.subarray(0, this.gathered), 0);
      this.joined = grown;
    }
    setBytes(this.joined, bytes, this.gathered);
    this.gathered = needed;
  }

  /** Read from `buf` from its start on (messages go on as offsets in its whole ArrayBuffer). */
  private setBuffer(buf: Uint8Array): void {
    this.buf = buf;
    this.pos = 0;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const whole = buf.buffer;
    if (this.whole8.buffer !== whole) {
      this.whole8 = new Uint8Array(whole);
      this.whole32 = new Uint32Array(whole, 0, whole.byteLength >>> 2);
    }
    this.base = buf.byteOffset;
  }

  /** The length, length word included, of the frame at `pos` (at least 4 bytes must be there). */
  private frameAtPos(): number {
    return this.view.getUint32(this.pos, true) + Frame.LENGTH_WORD_BYTES;
  }

  /** The link went down: forget everything not processed yet. */
  stop(): void {
    this.stopped = true;
    this.buf = new Uint8Array(0);
    this.gathering = undefined;
    this.gathered = 0;
    this.next = undefined;
    this.pos = this.dataLeft = 0;
  }

  private run(): void {
    for (;;) {
      if (this.dataLeft > 0) this.deliver();
      if (this.stopped) return;
      const left = this.buf.length - this.pos;
      if (left < Frame.LENGTH_WORD_BYTES) {
        if (this.takeNext()) continue;
        return;
      }
      const v = this.view;
      const at = this.pos;
      const length = v.getUint32(at, true);
      const frameBytes = length + Frame.LENGTH_WORD_BYTES;
      if (frameBytes < Frame.HEADER_BYTES || frameBytes > this.maxFrameBytes) {
        this.sink.violation('badFrame');
        this.sink.fatal(`a frame length of ${length} bytes (bound ${this.maxFrameBytes - Frame.LENGTH_WORD_BYTES})`);
        this.stop();
        return;
      }
      if (left < frameBytes) {
        if (this.takeNext()) continue;
        return;
      }
      this.sink.frameReceived();
      this.frame(v, at, frameBytes);
      if (this.dataLeft === 0) this.pos = at + frameBytes;
    }
  }

  /** The joined frame is done: go on with the rest of the read that completed it. False when there is none. */
  private takeNext(): boolean {
    const next = this.next;
    if (next === undefined) return false;
    this.next = undefined;
    // A joined buffer holds exactly one frame, so nothing should be left of it; if anything is, it goes first.
    const left = this.buf.length - this.pos;
    this.setBuffer(left === 0 ? next : Buffer.concat([this.buf.subarray(this.pos), next]));
    return true;
  }

  private frame(v: DataView, at: number, frameBytes: number): void {
    const type = v.getUint8(at + 4);
    if (v.getUint8(at + 5) !== 0 || v.getUint16(at + 6, true) !== 0) return this.sink.violation('badFrame');
    if (type === FrameType.DATA) return this.startData(v, at, frameBytes);
    if (type === FrameType.ACK) return this.acks(v, at, frameBytes);
    const fixed = FIXED_FRAME_BYTES[type];
    if (fixed === undefined || fixed !== frameBytes) return this.sink.violation(fixed === undefined ? 'badFrame' : 'badLength');
    const s = this.sink;
    switch (type) {
      case FrameType.HEARTBEAT:
        return;
      case FrameType.CONNECT:
        return s.connect(v, at);
      case FrameType.CONNECT_OK:
        return s.connectOk(
          v.getUint32(at + ConnectOkFrame.REQUEST_OFFSET, true),
          v.getUint32(at + ConnectOkFrame.CHANNEL_OFFSET, true),
          v.getUint32(at + ConnectOkFrame.PROCESS_OFFSET, true),
          v.getUint32(at + ConnectOkFrame.WINDOW_OFFSET, true),
          v.getUint32(at + ConnectOkFrame.MAX_MESSAGE_OFFSET, true),
          v.getUint32(at + ConnectOkFrame.RESERVED_OFFSET, true),
        );
      case FrameType.CONNECT_REFUSED:
        return s.connectRefused(v.getUint32(at + ConnectRefusedFrame.REQUEST_OFFSET, true), v.getUint32(at + ConnectRefusedFrame.STATUS_OFFSET, true));
      case FrameType.CLOSE:
        if (v.getUint32(at + CloseFrame.RESERVED_OFFSET, true) !== 0) return s.violation('badFrame');
        return s.close(v.getUint32(at + CloseFrame.CHANNEL_OFFSET, true), v.getUint32(at + CloseFrame.SENDER_CHANNEL_OFFSET, true), v.getUint32(at + CloseFrame.STATUS_OFFSET, true));
    }
  }

  private acks(v: DataView, at: number, frameBytes: number): void {
    if (frameBytes < AckFrame.FIRST_ENTRY_OFFSET) return this.sink.violation('badLength');
    const n = v.getUint32(at + AckFrame.COUNT_OFFSET, true);
    if (n * AckFrame.ENTRY_BYTES !== frameBytes - AckFrame.FIRST_ENTRY_OFFSET) return this.sink.violation('badLength');
    if (v.getUint32(at + AckFrame.RESERVED_OFFSET, true) !== 0) return this.sink.violation('badFrame');
    for (let i = 0; i < n; i++) {
      const p = at + AckFrame.FIRST_ENTRY_OFFSET + i * AckFrame.ENTRY_BYTES;
      if (v.getUint32(p + AckFrame.ENTRY_RESERVED_OFFSET, true) !== 0) return this.sink.violation('badFrame');
      this.sink.ack(v.getUint32(p + AckFrame.ENTRY_CHANNEL_OFFSET, true), v.getUint32(p + AckFrame.ENTRY_SEQUENCE_OFFSET, true), v.getUint32(p + AckFrame.ENTRY_WINDOW_OFFSET, true));
    }
  }

  private startData(v: DataView, at: number, frameBytes: number): void {
    if (frameBytes < DataFrame.FIRST_MESSAGE_OFFSET) return this.sink.violation('badLength');
    const n = v.getUint32(at + DataFrame.COUNT_OFFSET, true);
    if (n === 0 || n > (frameBytes - DataFrame.FIRST_MESSAGE_OFFSET) / DataMessage.HEADER_BYTES) return this.sink.violation('badLength');
    this.dataLeft = n;
    this.dataAt = at + DataFrame.FIRST_MESSAGE_OFFSET;
    this.dataEnd = at + frameBytes;
    this.runEntry = NO_RUN;
  }

  /** Verify the current DATA frame's run: the frame's stamp and its first sequence. False: dropped. */
  private verifyRun(): boolean {
    const v = this.view;
    const f = this.pos;
    const k = f + DataFrame.KEY_OFFSET;
    this.runEntry = this.sink.run(
      v.getUint32(f + DataFrame.CHANNEL_OFFSET, true),
      v.getUint32(f + DataFrame.SOURCE_PARTITION_OFFSET, true),
      v.getUint32(f + DataFrame.SEQUENCE_OFFSET, true),
      v.getUint32(k, true),
      v.getUint32(k + 4, true),
      v.getUint32(k + 8, true),
      v.getUint32(k + 12, true),
      this.dataEnd - f - DataFrame.FIRST_MESSAGE_OFFSET,
    );
    return this.runEntry !== NO_RUN;
  }

  /** Hand the current DATA frame's messages on. */
  private deliver(): void {
    if (this.runEntry === NO_RUN && !this.verifyRun()) this.dataLeft = 0;
    const entry = this.runEntry;
    this.deliverRun();
    // Whatever ended the run (a drop, the frame's end), what it delivered is booked.
    if (entry !== NO_RUN) this.sink.delivered(entry);
  }

  /** deliver()'s loop: the run's messages from the next one on, each checked, then handed on. */
  private deliverRun(): void {
    const v = this.view;
    const end = this.dataEnd;
    while (this.dataLeft > 0) {
      const m = this.dataAt;
      const bytes = m + DataMessage.HEADER_BYTES <= end ? v.getUint32(m + DataMessage.PAYLOAD_BYTES_OFFSET, true) : -1;
      if (bytes < 0 || bytes > end - m - DataMessage.HEADER_BYTES || bytes > this.maxMessageBytes) {
        // The count or a payload length lies (or passes this node's bound): nothing after it in
        // this frame can be trusted, and no later message of the run could be in sequence.
        this.sink.violation('badLength');
        this.dataLeft = 0;
        break;
      }
      if (v.getUint32(m + DataMessage.RESERVED_OFFSET, true) !== 0) {
        this.sink.violation('badFrame');
        this.dataLeft = 0;
        break;
      }
      const r = this.sink.message(this.runEntry, this.whole8, this.whole32, this.base + m + DataMessage.HEADER_BYTES, bytes);
      if (r === DROPPED) {
        this.dataLeft = 0;
        break;
      }
      if (this.stopped) return;
      this.dataAt = m + DataMessage.HEADER_BYTES + ((bytes + DataMessage.ALIGN_BYTES - 1) & ~(DataMessage.ALIGN_BYTES - 1));
      this.dataLeft--;
      if (this.dataLeft === 0 && this.dataAt !== end) this.sink.violation('badLength');
    }
    this.pos = end;
  }
}
