/**
 * One link's outgoing batch: frames are appended into a preallocated buffer
 * and leave in one socket write per flush (once per scheduler turn, or when
 * the buffer is full). One write per message would cost 10-80x more.
 * Messages go into DATA frames of up to DataFrame.TARGET_BYTES each, one
 * frame per run of consecutive messages on one channel (the stamp written
 * once per run); any other frame closes the DATA frame being filled, so
 * frames leave in the order they were appended.
 */
import {
  ACK_MAX_ENTRIES,
  AckFrame,
  CloseFrame,
  ConnectFrame,
  ConnectOkFrame,
  ConnectRefusedFrame,
  DataFrame,
  DataMessage,
  FrameType,
  HEARTBEAT_FRAME_BYTES,
  messageBytes,
  writeFrameHeader,
} from '../../shared/link-frames.js';
import { copyWords, WordCopy } from '../../shared/copy-words.js';
import { setBytes } from '../../shared/shared-copy.js';

/** The fields of a CONNECT, as the send side of claim 1 fills them. */
export interface ConnectFields {
  request: number;
  key: readonly [number, number, number, number];
  sourcePartition: number;
  sourceProcess: number;
  destinationPartition: number;
  destinationService: number;
  sourceChannel: number;
  /** The window this node grants for the channel. */
  window: number;
  /** This node's maxMessageBytes: the largest message the channel may bring it. */
  maxMessage: number;
}

/** Room kept for frames other than DATA, so a batch full of messages still takes an ACK or a CLOSE. */
const CONTROL_RESERVE_BYTES = 4096;

/**
 * The batch is written through a Uint32Array in the platform's byte order, which is the frame
 * format's little-endian on every platform Node runs on that this checks for.
 */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Batch buffers kept for reuse once their write completed. */
const SPARE_BUFFERS = 3;
/** Numbers per ACK owed in NodeLink's list: the channel id at the peer, the sequence, the window bytes. */
export const ACK_DUE_FIELDS = 3;

export class LinkWriter {
  private buffer!: Uint8Array;
  private u32!: Uint32Array;
  private view!: DataView;
  /** Buffers whose writes completed, ready to fill again (no copy per flush, no allocation per flush). */
  private readonly spare: Uint8Array[] = [];
  private used = 0;
  /** Where the DATA frame being filled starts, or -1. */
  private dataStart = -1;
  private dataCount = 0;
  /** Frames and messages in the batch, for the link's counters. */
  frames = 0;
  messages = 0;

  /** `capacity`: batch bytes; at least one largest frame plus the control reserve. */
  constructor(readonly capacity: number) {
    if (!LITTLE_ENDIAN) throw new Error('the inter-node link needs a little-endian host');
    this.use(new Uint8Array(capacity));
  }

  private use(buffer: Uint8Array): void {
    this.buffer = buffer;
    this.u32 = new Uint32Array(buffer.buffer);
    this.view = new DataView(buffer.buffer);
  }

  /** Bytes in the batch. */
  get bytes(): number {
    return this.used;
  }

  get empty(): boolean {
    return this.used === 0;
  }

  /**
   * Append one stamped message; false when the batch has no room for it (flush, then try again).
   * It joins the DATA frame being filled when it is that frame's channel's next message (the
   * stamp, written once per run, is the same for every message of a channel); otherwise it starts
   * a new frame with its own stamp. `src8`/`src32` view the sender's ring, `from` (8-aligned
   * there) is where the payload starts; it lands 8-aligned in the batch too.
   */
  message(channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number, src8: Uint8Array, src32: Uint32Array, from: number, bytes: number): boolean {
    const need = messageBytes(bytes);
    if (this.dataStart >= 0 && (!this.continuesRun(channel, sourcePartition, sequence, k0, k1, k2, k3) || this.used - this.dataStart + need > DataFrame.TARGET_BYTES)) this.closeData();
    const opening = this.dataStart < 0 ? DataFrame.FIRST_MESSAGE_OFFSET : 0;
    if (this.used + opening + need > this.capacity - CONTROL_RESERVE_BYTES) return false;
    // Every frame and message is a multiple of 4 bytes from the batch start: word stores.
    const w = this.u32;
    if (opening !== 0) {
      const f = this.used >> 2;
      w[f + (DataFrame.CHANNEL_OFFSET >> 2)] = channel;
      w[f + (DataFrame.SOURCE_PARTITION_OFFSET >> 2)] = sourcePartition;
      w[f + (DataFrame.SEQUENCE_OFFSET >> 2)] = sequence;
      w[f + (DataFrame.KEY_OFFSET >> 2)] = k0;
      w[f + (DataFrame.KEY_OFFSET >> 2) + 1] = k1;
      w[f + (DataFrame.KEY_OFFSET >> 2) + 2] = k2;
      w[f + (DataFrame.KEY_OFFSET >> 2) + 3] = k3;
      this.dataStart = this.used;
      this.dataCount = 0;
      this.used += DataFrame.FIRST_MESSAGE_OFFSET;
    }
    this.append(src8, src32, from, bytes, need);
    return true;
  }

  /**
   * The next message of the run whose last message message() (or next()) just appended, with no
   * other frame in between: it joins that DATA frame as its next message, with no stamp to compare
   * and no frame to open. False when no DATA frame is open, the frame reached its target size or
   * the batch is full: message() then decides. Only the engine's run of SENDs on one channel calls
   * it, right after that channel's previous message went in.
   */
  next(src8: Uint8Array, src32: Uint32Array, from: number, bytes: number): boolean {
    const need = messageBytes(bytes);
    const start = this.dataStart;
    if (start < 0 || this.used - start + need > DataFrame.TARGET_BYTES || this.used + need > this.capacity - CONTROL_RESERVE_BYTES) return false;
    this.append(src8, src32, from, bytes, need);
    return true;
  }

  /** A message's header and payload at the batch's end, in the DATA frame open there. */
  private append(src8: Uint8Array, src32: Uint32Array, from: number, bytes: number, need: number): void {
    const w = this.u32;
    const at = this.used;
    w[(at + DataMessage.PAYLOAD_BYTES_OFFSET) >> 2] = bytes;
    w[(at + DataMessage.RESERVED_OFFSET) >> 2] = 0;
    const payload = at + DataMessage.HEADER_BYTES;
    const d8 = this.buffer;
    if (bytes <= WordCopy.LIMIT) {
      const words = bytes >>> 2;
      copyWords(src32, from >> 2, w, payload >> 2, words);
      for (let i = words << 2; i < bytes; i++) d8[payload + i] = src8[from + i];
    } else setBytes(d8, src8.subarray(from, from + bytes), payload); // 8-aligned on both sides: V8's 8-byte copy
    // Padding is zeroed: the batch buffer is reused, and old bytes must not leave in it.
    for (let i = payload + bytes; i < at + need; i++) d8[i] = 0;
    this.used = at + need;
    this.dataCount++;
    this.messages++;
  }

  /**
   * True when a message with this stamp and sequence is the next of the DATA frame being filled,
   * read from that frame's own header in the batch (typed words: copies of a key in fields were
   * boxed numbers). The whole stamp is compared, not the channel id alone: the peer chose our
   * channel ids, and a hostile one could give two of our ends the same id.
   */
  private continuesRun(channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number): boolean {
    const w = this.u32;
    const f = this.dataStart >> 2;
    const k = f + (DataFrame.KEY_OFFSET >> 2);
    return (
      channel === w[f + (DataFrame.CHANNEL_OFFSET >> 2)] &&
      sequence === ((w[f + (DataFrame.SEQUENCE_OFFSET >> 2)] + this.dataCount) >>> 0) &&
      sourcePartition === w[f + (DataFrame.SOURCE_PARTITION_OFFSET >> 2)] &&
      k0 === w[k] &&
      k1 === w[k + 1] &&
      k2 === w[k + 2] &&
      k3 === w[k + 3]
    );
  }

  /** Start a frame of another type (closing any DATA frame first, to keep the order); -1 when there is no room. */
  private frame(type: FrameType, bytes: number): number {
    this.closeData();
    if (this.used + bytes > this.capacity) return -1;
    const at = this.used;
    writeFrameHeader(this.view, at, type, bytes);
    this.used += bytes;
    this.frames++;
    return at;
  }

  heartbeat(): boolean {
    return this.frame(FrameType.HEARTBEAT, HEARTBEAT_FRAME_BYTES) >= 0;
  }

  connect(f: ConnectFields): boolean {
    const at = this.frame(FrameType.CONNECT, ConnectFrame.BYTES);
    if (at < 0) return false;
    const v = this.view;
    v.setUint32(at + ConnectFrame.REQUEST_OFFSET, f.request, true);
    for (let i = 0; i < 4; i++) v.setUint32(at + ConnectFrame.KEY_OFFSET + 4 * i, f.key[i], true);
    v.setUint32(at + ConnectFrame.SOURCE_PARTITION_OFFSET, f.sourcePartition, true);
    v.setUint32(at + ConnectFrame.SOURCE_PROCESS_OFFSET, f.sourceProcess, true);
    v.setUint32(at + ConnectFrame.DESTINATION_PARTITION_OFFSET, f.destinationPartition, true);
    v.setUint32(at + ConnectFrame.DESTINATION_SERVICE_OFFSET, f.destinationService, true);
    v.setUint32(at + ConnectFrame.SOURCE_CHANNEL_OFFSET, f.sourceChannel, true);
    v.setUint32(at + ConnectFrame.WINDOW_OFFSET, f.window, true);
    v.setUint32(at + ConnectFrame.MAX_MESSAGE_OFFSET, f.maxMessage, true);
    return true;
  }

  connectOk(request: number, channel: number, process: number, window: number, maxMessage: number): boolean {
    const at = this.frame(FrameType.CONNECT_OK, ConnectOkFrame.BYTES);
    if (at < 0) return false;
    const v = this.view;
    v.setUint32(at + ConnectOkFrame.REQUEST_OFFSET, request, true);
    v.setUint32(at + ConnectOkFrame.CHANNEL_OFFSET, channel, true);
    v.setUint32(at + ConnectOkFrame.PROCESS_OFFSET, process, true);
    v.setUint32(at + ConnectOkFrame.WINDOW_OFFSET, window, true);
    v.setUint32(at + ConnectOkFrame.MAX_MESSAGE_OFFSET, maxMessage, true);
    v.setUint32(at + ConnectOkFrame.RESERVED_OFFSET, 0, true);
    return true;
  }

  connectRefused(request: number, status: number): boolean {
    const at = this.frame(FrameType.CONNECT_REFUSED, ConnectRefusedFrame.BYTES);
    if (at < 0) return false;
    this.view.setUint32(at + ConnectRefusedFrame.REQUEST_OFFSET, request, true);
    this.view.setUint32(at + ConnectRefusedFrame.STATUS_OFFSET, status, true);
    return true;
  }

  close(channel: number, senderChannel: number, status: number): boolean {
    const at = this.frame(FrameType.CLOSE, CloseFrame.BYTES);
    if (at < 0) return false;
    this.view.setUint32(at + CloseFrame.CHANNEL_OFFSET, channel, true);
    this.view.setUint32(at + CloseFrame.SENDER_CHANNEL_OFFSET, senderChannel, true);
    this.view.setUint32(at + CloseFrame.STATUS_OFFSET, status, true);
    this.view.setUint32(at + CloseFrame.RESERVED_OFFSET, 0, true);
    return true;
  }

  /**
   * An ACK frame of as many of `due` (channel, sequence, window, channel, sequence, window, …) as
   * fit, from entry `first`; returns the entries written.
   */
  ack(due: readonly number[], first: number): number {
    const room = Math.floor((this.capacity - this.used - AckFrame.FIRST_ENTRY_OFFSET - DataFrame.FIRST_MESSAGE_OFFSET) / AckFrame.ENTRY_BYTES);
    const n = Math.min(room, ACK_MAX_ENTRIES, Math.floor(due.length / ACK_DUE_FIELDS) - first);
    if (n <= 0) return 0;
    const at = this.frame(FrameType.ACK, AckFrame.FIRST_ENTRY_OFFSET + n * AckFrame.ENTRY_BYTES);
    const v = this.view;
    v.setUint32(at + AckFrame.COUNT_OFFSET, n, true);
    v.setUint32(at + AckFrame.RESERVED_OFFSET, 0, true);
    for (let i = 0; i < n; i++) {
      const p = at + AckFrame.FIRST_ENTRY_OFFSET + i * AckFrame.ENTRY_BYTES;
      const d = ACK_DUE_FIELDS * (first + i);
      v.setUint32(p + AckFrame.ENTRY_CHANNEL_OFFSET, due[d], true);
      v.setUint32(p + AckFrame.ENTRY_SEQUENCE_OFFSET, due[d + 1], true);
      v.setUint32(p + AckFrame.ENTRY_WINDOW_OFFSET, due[d + 2], true);
      v.setUint32(p + AckFrame.ENTRY_RESERVED_OFFSET, 0, true);
    }
    return n;
  }

  private closeData(): void {
    if (this.dataStart < 0) return;
    writeFrameHeader(this.view, this.dataStart, FrameType.DATA, this.used - this.dataStart);
    this.view.setUint32(this.dataStart + DataFrame.COUNT_OFFSET, this.dataCount, true);
    this.dataStart = -1;
    this.frames++;
  }

  /**
   * The batch's bytes, for one socket write, and a fresh buffer to fill; undefined when there is
   * nothing. Hand them back with give() once the write completed.
   */
  take(): Uint8Array | undefined {
    this.closeData();
    if (this.used === 0) return undefined;
    const out = this.buffer.subarray(0, this.used);
    this.use(this.spare.pop() ?? new Uint8Array(this.capacity));
    this.used = 0;
    return out;
  }

  /** A batch take() gave out was written: its buffer may be filled again. */
  give(batch: Uint8Array): void {
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(new Uint8Array(batch.buffer));
  }

  /** Drop everything not written yet (the link went down). */
  discard(): void {
    this.used = 0;
    this.dataStart = -1;
    this.frames = this.messages = 0;
  }
}
