/**
 * The inter-node link's frame format (docs/LINK.md): where every field of a
 * frame lives, as named byte offsets, in the manner of layout.ts. The hardware
 * writes and parses frames with these constants only; the hostile test peer
 * imports the same module from dist/, so both speak one format.
 *
 * Every number is little-endian. A frame is
 *
 *   +0 length   (u32): bytes after this word (so a frame is 4 + length bytes)
 *   +4 type     (u8):  one of FrameType
 *   +5 reserved (3 bytes, zero; anything else is a bad frame)
 *   +8 body     (per type, below; every field a u32 unless said otherwise)
 *
 * Every frame is a multiple of 8 bytes long, and every DATA payload starts 8-aligned in its
 * frame, so a payload sits at the same address modulo 8 in the socket's read buffer as in the
 * ring it goes to: V8 copies shared memory 8 bytes at a time only between equal alignments
 * (shared-copy.ts). Reserved fields are written zero; a frame with a nonzero one is a bad frame.
 *
 * A frame never exceeds {@link maxFrameBytes} of the receiving node; a length
 * word beyond it cannot be skipped safely, so the link is closed (counted as
 * `badFrame`). Inside a frame, a field that lies about a length drops the rest
 * of that frame (counted as `badLength`) and nothing else.
 */

/**
 * The frame format's name and version, offered and required through TLS ALPN by both ends: a
 * node that speaks another version is refused in the handshake (or, if it offers none, right
 * after it) instead of misreading frames. Version 2: 8-byte message headers, 8-aligned payloads.
 * Version 3: per-channel credit (CONNECT and CONNECT_OK carry the window each side grants, ACKs
 * the window bytes delivered). Version 4: CONNECT and CONNECT_OK carry each side's maxMessageBytes,
 * and a channel carries messages up to the smaller of the two.
 */
export const LINK_PROTOCOL = 'lparlink/4';

/*
 * The frame layouts are const enums, as the ring's record layouts are (layout.ts says why): tsc
 * writes their numbers into the link's reader and writer, which touch them for every message.
 */

/** Every frame's header, relative to the frame start. */
export const enum Frame {
  LENGTH_OFFSET = 0,
  TYPE_OFFSET = 4,
  HEADER_BYTES = 8,
  /** The length word does not count itself. */
  LENGTH_WORD_BYTES = 4,
}

/** Frame types. Zero is never valid, so zeroed memory never parses as a frame. */
export const enum FrameType {
  /** Claim 1, send side → receive side: key and both partition ids for a new channel. */
  CONNECT = 1,
  /** Receive side → send side: the channel is open; here is its id at the acceptor. */
  CONNECT_OK = 2,
  /** Receive side → send side: no channel; `status` says why (EPOLICY, ECONNREFUSED, EMFILE, EINVAL). */
  CONNECT_REFUSED = 3,
  /** A run of messages on one channel, stamped with its key and ids once for the run (claim 10). */
  DATA = 4,
  /** Cumulative sequence numbers and window bytes delivered, per channel of the frame's receiver. */
  ACK = 5,
  /** One end closed (or its process or partition ended): the other end ends with `status`. */
  CLOSE = 6,
  /** Nothing else to say; keeps an idle link from looking dead. Empty body. */
  HEARTBEAT = 7,
}

/** Key bytes carried by CONNECT and by every DATA message (claim 1, claim 10); only ever inside TLS. */
export const LINK_KEY_BYTES = 16;

// CONNECT body, relative to the frame start.
export const enum ConnectFrame {
  REQUEST_OFFSET = 8,
  KEY_OFFSET = 12,
  SOURCE_PARTITION_OFFSET = 28,
  SOURCE_PROCESS_OFFSET = 32,
  DESTINATION_PARTITION_OFFSET = 36,
  DESTINATION_SERVICE_OFFSET = 40,
  /** The connecting side's channel id: what the acceptor writes into every frame it sends for this channel. */
  SOURCE_CHANNEL_OFFSET = 44,
  /** The window the connecting side grants: window bytes of this channel it keeps unacknowledged, at most. */
  WINDOW_OFFSET = 48,
  /** The connecting node's maxMessageBytes: the largest message it takes on this channel. */
  MAX_MESSAGE_OFFSET = 52,
  BYTES = 56,
}

// CONNECT_OK body.
export const enum ConnectOkFrame {
  REQUEST_OFFSET = 8,
  /** The acceptor's channel id for the new channel. */
  CHANNEL_OFFSET = 12,
  /** The process at the acceptor that owns the channel (the listener). */
  PROCESS_OFFSET = 16,
  /** The window the acceptor grants (as ConnectFrame.WINDOW_OFFSET). */
  WINDOW_OFFSET = 20,
  /** The accepting node's maxMessageBytes (as ConnectFrame.MAX_MESSAGE_OFFSET). */
  MAX_MESSAGE_OFFSET = 24,
  RESERVED_OFFSET = 28,
  BYTES = 32,
}

// CONNECT_REFUSED body.
export const enum ConnectRefusedFrame {
  REQUEST_OFFSET = 8,
  /** A Status number (errors.ts). */
  STATUS_OFFSET = 12,
  BYTES = 16,
}

// DATA body: one run of messages on one channel. The stamp (channel, source partition, key) and
// the first message's sequence come once; the messages follow back to back, numbered on from it.
export const enum DataFrame {
  /** The channel id at the frame's receiver. */
  CHANNEL_OFFSET = 8,
  /** The sending end's partition id (checked against the receiver's own entry). */
  SOURCE_PARTITION_OFFSET = 12,
  /**
   * The run's first message's sequence number; the next message is +1, and so on. Per channel and
   * direction: 1 for the first message ever, then +1 (mod 2^32); the receiver expects exactly the next.
   */
  SEQUENCE_OFFSET = 16,
  KEY_OFFSET = 20,
  COUNT_OFFSET = 36,
  FIRST_MESSAGE_OFFSET = 40,
  /**
   * Bytes a DATA frame stops growing at: the writer starts a new frame rather than pass it (a frame
   * always takes its first message). Small on purpose: TLS hands the reader at most 16 KiB per
   * read, and the reader copies out only a frame split across two reads, so the bytes it copies
   * are about this over 16 KiB of the stream (64 KiB frames were all split, and all copied).
   */
  TARGET_BYTES = 4 * 1024,
}

// One DATA message, relative to the message start.
export const enum DataMessage {
  PAYLOAD_BYTES_OFFSET = 0,
  RESERVED_OFFSET = 4,
  HEADER_BYTES = 8,
  /** Payloads are zero-padded to this, so every message and every payload starts 8-aligned within its frame. */
  ALIGN_BYTES = 8,
}

// ACK body: an entry count, then one entry per channel: (channel id at the frame's receiver, last
// sequence delivered, window bytes delivered, reserved).
export const enum AckFrame {
  COUNT_OFFSET = 8,
  RESERVED_OFFSET = 12,
  FIRST_ENTRY_OFFSET = 16,
  ENTRY_CHANNEL_OFFSET = 0,
  ENTRY_SEQUENCE_OFFSET = 4,
  /** messageBytes() of every message delivered on the channel so far, modulo 2^32: the sender's credit back. */
  ENTRY_WINDOW_OFFSET = 8,
  ENTRY_RESERVED_OFFSET = 12,
  ENTRY_BYTES = 16,
}

/*
 * Per-channel credit across a link (THREATS case 48). Each side of a channel grants the other a
 * window (CONNECT and CONNECT_OK: grantedWindow() of its node's options): the sending node never
 * has more than that many window bytes (messageBytes() summed over its messages: what they take in
 * DATA frames) of the channel unacknowledged, but for a single message when none is; a message is
 * acknowledged once it is in its receive ring. So when a ring is full, what the receiving node's
 * hardware keeps aside for the channel is bounded by the window it granted (and it reads on: the
 * link's other channels go on); a peer that puts more on the wire is counted (`window`) and loses
 * the channel.
 */

/** The range of node.channelWindowBytes. */
export const MIN_CHANNEL_WINDOW_BYTES = 64 * 1024;
export const MAX_CHANNEL_WINDOW_BYTES = 64 * 1024 * 1024;
/**
 * Above what any node grants (its window, or one message of its maxMessageBytes, which stays under
 * 512 MiB): a CONNECT or CONNECT_OK granting under MIN_CHANNEL_WINDOW_BYTES or over this is refused.
 */
export const MAX_GRANTED_WINDOW_BYTES = 1024 * 1024 * 1024;

/**
 * The window a node grants each channel: its `channelWindowBytes`, raised to one message of its
 * `maxMessageBytes` where that is larger, so that what it keeps aside for a channel is bounded by
 * what it granted, the first message included.
 */
export function grantedWindow(channelWindowBytes: number, maxMessageBytes: number): number {
  return Math.max(channelWindowBytes, messageBytes(maxMessageBytes));
}

/**
 * The largest maxMessageBytes a CONNECT or CONNECT_OK may state (none is 0): above what any node
 * can be given (a message must fit a ring of at most 1 GiB). The channel carries messages up to
 * the smaller of the two nodes' limits ({@link channelMessageLimit}).
 */
export const MAX_STATED_MESSAGE_BYTES = 1024 * 1024 * 1024;

/** Whether a CONNECT's or CONNECT_OK's stated maxMessageBytes may be taken. */
export function isStatedMessageLimit(bytes: number): boolean {
  return bytes >= 1 && bytes <= MAX_STATED_MESSAGE_BYTES;
}

/** The largest message a channel between two nodes carries: the smaller node's maxMessageBytes. */
export function channelMessageLimit(ownMaxMessageBytes: number, peerMaxMessageBytes: number): number {
  return Math.min(ownMaxMessageBytes, peerMaxMessageBytes);
}

// CLOSE body.
export const enum CloseFrame {
  /** The channel id at the frame's receiver. */
  CHANNEL_OFFSET = 8,
  /** The channel id at the frame's sender: the receiver checks it against the entry, so a stale CLOSE ends nothing. */
  SENDER_CHANNEL_OFFSET = 12,
  /** A Status number: OK for a clean close, EPEERDEAD when the process or partition ended. */
  STATUS_OFFSET = 16,
  RESERVED_OFFSET = 20,
  BYTES = 24,
}

export const HEARTBEAT_FRAME_BYTES = Frame.HEADER_BYTES;

/** The most (channel, sequence, window) entries one ACK frame carries, so it stays under every node's frame bound. */
export const ACK_MAX_ENTRIES = Math.floor((DataFrame.TARGET_BYTES - AckFrame.FIRST_ENTRY_OFFSET) / AckFrame.ENTRY_BYTES);

/** Bytes one message takes in a DATA frame after the run header: length and reserved words, payload, padding. */
export function messageBytes(payloadBytes: number): number {
  return DataMessage.HEADER_BYTES + ((payloadBytes + DataMessage.ALIGN_BYTES - 1) & ~(DataMessage.ALIGN_BYTES - 1));
}

/**
 * The largest frame (length word included) a node with this `maxMessageBytes` accepts: a DATA
 * frame that reached {@link DataFrame.TARGET_BYTES} plus one more message, with room to spare.
 * A peer sends no message over this node's `maxMessageBytes` (CONNECT and CONNECT_OK state it).
 */
export function maxFrameBytes(maxMessageBytes: number): number {
  return DataFrame.TARGET_BYTES + 4 * messageBytes(maxMessageBytes);
}

/** The exact frame size of each fixed-size type; DATA and ACK are sized by their count. */
export const FIXED_FRAME_BYTES: Readonly<Record<number, number>> = {
  [FrameType.CONNECT]: ConnectFrame.BYTES,
  [FrameType.CONNECT_OK]: ConnectOkFrame.BYTES,
  [FrameType.CONNECT_REFUSED]: ConnectRefusedFrame.BYTES,
  [FrameType.CLOSE]: CloseFrame.BYTES,
  [FrameType.HEARTBEAT]: HEARTBEAT_FRAME_BYTES,
};

/** Write a frame header at `at`: `frameBytes` is the whole frame, length word included. */
export function writeFrameHeader(view: DataView, at: number, type: FrameType, frameBytes: number): void {
  view.setUint32(at + Frame.LENGTH_OFFSET, frameBytes - Frame.LENGTH_WORD_BYTES, true);
  view.setUint32(at + Frame.TYPE_OFFSET, type, true); // type in the low byte, the three reserved bytes zero
}

/** The subject common name a node's certificate must carry (docs/LINK.md, "Identity"). */
export function nodeCommonName(node: number): string {
  return `lparlink-node-${node}`;
}

/** The node id a certificate's common name names, or undefined when it names none. */
export function nodeOfCommonName(cn: unknown): number | undefined {
  if (typeof cn !== 'string') return undefined;
  const m = /^lparlink-node-([1-9]\d{0,4})$/.exec(cn);
  if (m === null) return undefined;
  const id = Number(m[1]);
  return id <= MAX_NODE_ID ? id : undefined;
}

export const MIN_NODE_ID = 1;
export const MAX_NODE_ID = 0xffff;
