/**
 * One link's outgoing batch: frames are appended into a preallocated buffer
 * and leave in one socket write per flush (once per scheduler turn, or when
 * the buffer is full). One write per message would cost 10-80x more.
 * Messages go into DATA frames of up to DATA_FRAME_TARGET_BYTES each; any
 * other frame closes the DATA frame being filled, so frames leave in the
 * order they were appended.
 */
import {
  ACK_COUNT_OFFSET,
  ACK_FIRST_PAIR_OFFSET,
  ACK_PAIR_BYTES,
  ACK_PAIR_CHANNEL_OFFSET,
  ACK_PAIR_SEQUENCE_OFFSET,
  CLOSE_CHANNEL_OFFSET,
  CLOSE_FRAME_BYTES,
  CLOSE_SENDER_CHANNEL_OFFSET,
  CLOSE_STATUS_OFFSET,
  CONNECT_DESTINATION_PARTITION_OFFSET,
  CONNECT_DESTINATION_SERVICE_OFFSET,
  CONNECT_FRAME_BYTES,
  CONNECT_KEY_OFFSET,
  CONNECT_OK_CHANNEL_OFFSET,
  CONNECT_OK_FRAME_BYTES,
  CONNECT_OK_PROCESS_OFFSET,
  CONNECT_OK_REQUEST_OFFSET,
  CONNECT_REFUSED_FRAME_BYTES,
  CONNECT_REFUSED_REQUEST_OFFSET,
  CONNECT_REFUSED_STATUS_OFFSET,
  CONNECT_REQUEST_OFFSET,
  CONNECT_SOURCE_CHANNEL_OFFSET,
  CONNECT_SOURCE_PARTITION_OFFSET,
  CONNECT_SOURCE_PROCESS_OFFSET,
  DATA_COUNT_OFFSET,
  DATA_FIRST_MESSAGE_OFFSET,
  DATA_FRAME_TARGET_BYTES,
  FrameType,
  HEARTBEAT_FRAME_BYTES,
  MESSAGE_CHANNEL_OFFSET,
  MESSAGE_HEADER_BYTES,
  MESSAGE_KEY_OFFSET,
  MESSAGE_PAYLOAD_BYTES_OFFSET,
  MESSAGE_SEQUENCE_OFFSET,
  MESSAGE_SOURCE_PARTITION_OFFSET,
  messageBytes,
  writeFrameHeader,
} from '../../shared/link-frames.js';

/** The fields of a CONNECT, as the send side of claim 1 fills them. */
export interface ConnectFields {
  request: number;
  key: readonly [number, number, number, number];
  sourcePartition: number;
  sourceProcess: number;
  destinationPartition: number;
  destinationService: number;
  sourceChannel: number;
}

/** Room kept for frames other than DATA, so a batch full of messages still takes an ACK or a CLOSE. */
const CONTROL_RESERVE_BYTES = 4096;

export class LinkWriter {
  private readonly buffer: Uint8Array;
  private readonly view: DataView;
  private used = 0;
  /** Where the DATA frame being filled starts, or -1. */
  private dataStart = -1;
  private dataCount = 0;
  /** Frames and messages in the batch, for the link's counters. */
  frames = 0;
  messages = 0;

  /** `capacity`: batch bytes; at least one largest frame plus the control reserve. */
  constructor(readonly capacity: number) {
    this.buffer = new Uint8Array(capacity);
    this.view = new DataView(this.buffer.buffer);
  }

  get empty(): boolean {
    return this.used === 0;
  }

  /** Append one stamped message; false when the batch has no room for it (flush, then try again). */
  message(channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number, src: Uint8Array, from: number, bytes: number): boolean {
    const need = messageBytes(bytes);
    if (this.dataStart >= 0 && this.used - this.dataStart + need > DATA_FRAME_TARGET_BYTES) this.closeData();
    const opening = this.dataStart < 0 ? DATA_FIRST_MESSAGE_OFFSET : 0;
    if (this.used + opening + need > this.capacity - CONTROL_RESERVE_BYTES) return false;
    if (opening !== 0) {
      this.dataStart = this.used;
      this.dataCount = 0;
      this.used += DATA_FIRST_MESSAGE_OFFSET;
    }
    const v = this.view;
    const at = this.used;
    v.setUint32(at + MESSAGE_CHANNEL_OFFSET, channel, true);
    v.setUint32(at + MESSAGE_SOURCE_PARTITION_OFFSET, sourcePartition, true);
    v.setUint32(at + MESSAGE_SEQUENCE_OFFSET, sequence, true);
    v.setUint32(at + MESSAGE_KEY_OFFSET, k0, true);
    v.setUint32(at + MESSAGE_KEY_OFFSET + 4, k1, true);
    v.setUint32(at + MESSAGE_KEY_OFFSET + 8, k2, true);
    v.setUint32(at + MESSAGE_KEY_OFFSET + 12, k3, true);
    v.setUint32(at + MESSAGE_PAYLOAD_BYTES_OFFSET, bytes, true);
    const payload = at + MESSAGE_HEADER_BYTES;
    this.buffer.set(src.subarray(from, from + bytes), payload);
    // Padding is zeroed: the batch buffer is reused, and old bytes must not leave in it.
    this.buffer.fill(0, payload + bytes, at + need);
    this.used = at + need;
    this.dataCount++;
    this.messages++;
    return true;
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
    const at = this.frame(FrameType.CONNECT, CONNECT_FRAME_BYTES);
    if (at < 0) return false;
    const v = this.view;
    v.setUint32(at + CONNECT_REQUEST_OFFSET, f.request, true);
    for (let i = 0; i < 4; i++) v.setUint32(at + CONNECT_KEY_OFFSET + 4 * i, f.key[i], true);
    v.setUint32(at + CONNECT_SOURCE_PARTITION_OFFSET, f.sourcePartition, true);
    v.setUint32(at + CONNECT_SOURCE_PROCESS_OFFSET, f.sourceProcess, true);
    v.setUint32(at + CONNECT_DESTINATION_PARTITION_OFFSET, f.destinationPartition, true);
    v.setUint32(at + CONNECT_DESTINATION_SERVICE_OFFSET, f.destinationService, true);
    v.setUint32(at + CONNECT_SOURCE_CHANNEL_OFFSET, f.sourceChannel, true);
    return true;
  }

  connectOk(request: number, channel: number, process: number): boolean {
    const at = this.frame(FrameType.CONNECT_OK, CONNECT_OK_FRAME_BYTES);
    if (at < 0) return false;
    this.view.setUint32(at + CONNECT_OK_REQUEST_OFFSET, request, true);
    this.view.setUint32(at + CONNECT_OK_CHANNEL_OFFSET, channel, true);
    this.view.setUint32(at + CONNECT_OK_PROCESS_OFFSET, process, true);
    return true;
  }

  connectRefused(request: number, status: number): boolean {
    const at = this.frame(FrameType.CONNECT_REFUSED, CONNECT_REFUSED_FRAME_BYTES);
    if (at < 0) return false;
    this.view.setUint32(at + CONNECT_REFUSED_REQUEST_OFFSET, request, true);
    this.view.setUint32(at + CONNECT_REFUSED_STATUS_OFFSET, status, true);
    return true;
  }

  close(channel: number, senderChannel: number, status: number): boolean {
    const at = this.frame(FrameType.CLOSE, CLOSE_FRAME_BYTES);
    if (at < 0) return false;
    this.view.setUint32(at + CLOSE_CHANNEL_OFFSET, channel, true);
    this.view.setUint32(at + CLOSE_SENDER_CHANNEL_OFFSET, senderChannel, true);
    this.view.setUint32(at + CLOSE_STATUS_OFFSET, status, true);
    return true;
  }

  /** An ACK frame of as many of `pairs` (channel, sequence, channel, sequence, …) from `first` as fit; returns the pairs written. */
  ack(pairs: readonly number[], first: number): number {
    const room = Math.floor((this.capacity - this.used - ACK_FIRST_PAIR_OFFSET - DATA_FIRST_MESSAGE_OFFSET) / ACK_PAIR_BYTES);
    const n = Math.min(room, (pairs.length >> 1) - first);
    if (n <= 0) return 0;
    const at = this.frame(FrameType.ACK, ACK_FIRST_PAIR_OFFSET + n * ACK_PAIR_BYTES);
    const v = this.view;
    v.setUint32(at + ACK_COUNT_OFFSET, n, true);
    for (let i = 0; i < n; i++) {
      const p = at + ACK_FIRST_PAIR_OFFSET + i * ACK_PAIR_BYTES;
      v.setUint32(p + ACK_PAIR_CHANNEL_OFFSET, pairs[2 * (first + i)], true);
      v.setUint32(p + ACK_PAIR_SEQUENCE_OFFSET, pairs[2 * (first + i) + 1], true);
    }
    return n;
  }

  private closeData(): void {
    if (this.dataStart < 0) return;
    writeFrameHeader(this.view, this.dataStart, FrameType.DATA, this.used - this.dataStart);
    this.view.setUint32(this.dataStart + DATA_COUNT_OFFSET, this.dataCount, true);
    this.dataStart = -1;
    this.frames++;
  }

  /** The batch's bytes, as a copy the socket may keep, and an empty batch; undefined when there is nothing. */
  take(): Uint8Array | undefined {
    this.closeData();
    if (this.used === 0) return undefined;
    const out = this.buffer.slice(0, this.used);
    this.used = 0;
    return out;
  }

  /** Drop everything not written yet (the link went down). */
  discard(): void {
    this.used = 0;
    this.dataStart = -1;
    this.frames = this.messages = 0;
  }
}
