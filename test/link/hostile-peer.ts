/**
 * A hostile peer node for the link tests: it holds a VALID certificate for its node id, so the
 * other node's TLS layer lets it in, and then speaks the frame format directly, built from the
 * same layout module the hardware uses (dist/src/shared/link-frames.js). It can behave (open a
 * channel with CONNECT, send DATA as an honest node would) and lie (any field of any frame).
 * It answers nothing on its own except heartbeats, so the link stays up while the test works.
 */
import { randomBytes } from 'node:crypto';
import { connect, type TLSSocket } from 'node:tls';
import * as F from '../../dist/src/shared/link-frames.js';
import { createMachine, type Machine } from 'lparlink';
import type { CertificateSet, NodeTls } from './certs.js';
import { LOOPBACK } from './pair.js';
import { HOSTILE_OS, waitFor } from '../security/harness.js';

export { F };

export interface Frame {
  type: number;
  bytes: Buffer;
}

/** One DATA message as the hostile peer writes it; `payloadBytesField` overrides the length word (a lie). */
export interface ForgedMessage {
  channel: number;
  sourcePartition: number;
  sequence: number;
  key: Uint8Array;
  payload: Uint8Array;
  payloadBytesField?: number;
}

const HEARTBEAT_MS = 100;
/** The window this peer grants each channel (CONNECT, CONNECT_OK), as an honest node's default would. */
export const PEER_WINDOW_BYTES = 4 * 1024 * 1024;
/** The maxMessageBytes this peer states (CONNECT, CONNECT_OK): a node that takes less than the default 64 KiB. */
export const PEER_MAX_MESSAGE_BYTES = 16 * 1024;

export class HostilePeer {
  readonly frames: Frame[] = [];
  private pending = Buffer.alloc(0);
  private waiters = new Set<() => void>();
  private heartbeat: NodeJS.Timeout | undefined;
  closed = false;

  private constructor(private readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => this.take(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      clearInterval(this.heartbeat);
      this.wake();
    });
  }

  /** Dial a node at `port` as the node this material names; resolves once that node has spoken (it accepted us). */
  static async dial(port: number, tls: NodeTls): Promise<HostilePeer> {
    const socket = connect({ host: '127.0.0.1', port, ...tls, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined, ALPNProtocols: [F.LINK_PROTOCOL] });
    const peer = new HostilePeer(socket);
    await peer.next(() => true, 'the node to speak first');
    peer.heartbeat = setInterval(() => peer.send(peer.heartbeatFrame()), HEARTBEAT_MS);
    return peer;
  }

  /** Stop reading the socket (what the node writes waits in the kernel and in its own buffers), heartbeats still go. */
  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** Messages of every DATA frame received so far on our channel `channel` (none consumed). */
  dataMessages(channel: number): number {
    let n = 0;
    for (const f of this.frames) if (f.type === F.FrameType.DATA && f.bytes.readUInt32LE(F.DataFrame.CHANNEL_OFFSET) === channel) n += f.bytes.readUInt32LE(F.DataFrame.COUNT_OFFSET);
    return n;
  }

  /** Stop the heartbeats: from now on the peer says nothing unless the test sends something (the socket stays open). */
  silence(): void {
    clearInterval(this.heartbeat);
  }

  private take(chunk: Buffer): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= F.Frame.HEADER_BYTES) {
      const total = F.Frame.LENGTH_WORD_BYTES + this.pending.readUInt32LE(F.Frame.LENGTH_OFFSET);
      if (this.pending.length < total) break;
      const bytes = this.pending.subarray(0, total);
      this.frames.push({ type: bytes[F.Frame.TYPE_OFFSET], bytes: Buffer.from(bytes) });
      this.pending = this.pending.subarray(total);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
  }

  /** The first frame received (already or later) that `match` accepts; it is consumed. */
  next(match: (f: Frame) => boolean, what: string, timeoutMs = 20_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.frames.findIndex(match);
        if (i >= 0) done(() => resolve(this.frames.splice(i, 1)[0]));
        else if (this.closed) done(() => reject(new Error(`the node closed the link before ${what}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no frame within ${timeoutMs} ms: ${what}`))), timeoutMs);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  send(frame: Uint8Array): void {
    if (!this.closed) this.socket.write(frame);
  }

  /**
   * Write `bytes` in TLS records of `recordBytes` each: every piece waits for the one before it to
   * be written, so that node:tls seals each alone (writes queued together go out as one record).
   * Heartbeats are stopped meanwhile (one would land inside the frame).
   */
  async sendInRecords(bytes: Uint8Array, recordBytes: number): Promise<void> {
    clearInterval(this.heartbeat);
    for (let at = 0; at < bytes.length && !this.closed; at += recordBytes) {
      await new Promise<void>((resolve) => this.socket.write(bytes.subarray(at, at + recordBytes), () => resolve()));
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    this.socket.destroy();
  }

  heartbeatFrame(): Buffer {
    return this.frame(F.FrameType.HEARTBEAT, F.HEARTBEAT_FRAME_BYTES);
  }

  /** A frame of `bytes` bytes (length word included) with its header written and the body zero. */
  frame(type: number, bytes: number): Buffer {
    const b = Buffer.alloc(bytes);
    F.writeFrameHeader(new DataView(b.buffer, b.byteOffset, b.byteLength), 0, type as F.FrameType, bytes);
    return b;
  }

  /** A CONNECT frame (claim 1 from the peer's side) with `key`, the peer's usual window and largest message. */
  connectFrame(o: { request: number; key: Uint8Array; sourcePartition: number; sourceProcess: number; partition: number; port: number; sourceChannel: number }): Buffer {
    const b = this.frame(F.FrameType.CONNECT, F.ConnectFrame.BYTES);
    b.writeUInt32LE(o.request, F.ConnectFrame.REQUEST_OFFSET);
    b.set(o.key, F.ConnectFrame.KEY_OFFSET);
    b.writeUInt32LE(o.sourcePartition, F.ConnectFrame.SOURCE_PARTITION_OFFSET);
    b.writeUInt32LE(o.sourceProcess, F.ConnectFrame.SOURCE_PROCESS_OFFSET);
    b.writeUInt32LE(o.partition, F.ConnectFrame.DESTINATION_PARTITION_OFFSET);
    b.writeUInt32LE(o.port, F.ConnectFrame.DESTINATION_SERVICE_OFFSET);
    b.writeUInt32LE(o.sourceChannel, F.ConnectFrame.SOURCE_CHANNEL_OFFSET);
    b.writeUInt32LE(PEER_WINDOW_BYTES, F.ConnectFrame.WINDOW_OFFSET);
    b.writeUInt32LE(PEER_MAX_MESSAGE_BYTES, F.ConnectFrame.MAX_MESSAGE_OFFSET);
    return b;
  }

  /** Claim 1 from the peer's side: a new key and both ends' ids; resolves with the acceptor's answer. */
  async openChannel(o: { request: number; sourcePartition: number; sourceProcess: number; partition: number; port: number; sourceChannel: number }): Promise<{ key: Buffer; channel: number; process: number }> {
    const key = randomBytes(F.LINK_KEY_BYTES);
    this.send(this.connectFrame({ ...o, key }));
    const answer = await this.next(
      (f) => (f.type === F.FrameType.CONNECT_OK && f.bytes.readUInt32LE(F.ConnectOkFrame.REQUEST_OFFSET) === o.request) ||
        (f.type === F.FrameType.CONNECT_REFUSED && f.bytes.readUInt32LE(F.ConnectRefusedFrame.REQUEST_OFFSET) === o.request),
      `an answer to CONNECT ${o.request}`,
    );
    if (answer.type !== F.FrameType.CONNECT_OK) throw new Error(`CONNECT ${o.request} refused with status ${answer.bytes.readUInt32LE(F.ConnectRefusedFrame.STATUS_OFFSET)}`);
    return { key, channel: answer.bytes.readUInt32LE(F.ConnectOkFrame.CHANNEL_OFFSET), process: answer.bytes.readUInt32LE(F.ConnectOkFrame.PROCESS_OFFSET) };
  }

  /**
   * A DATA frame with these messages, one run: the stamp (channel, source partition, key) and the
   * first sequence come from the first message, and the others must follow it on its channel
   * (this builder refuses anything else). `countField` overrides the message count (a lie).
   */
  dataFrame(messages: ForgedMessage[], countField = messages.length): Buffer {
    const [first] = messages;
    messages.forEach((m, i) => {
      if (m.channel !== first.channel || m.sourcePartition !== first.sourcePartition || !Buffer.from(m.key).equals(Buffer.from(first.key)) || m.sequence !== first.sequence + i) {
        throw new Error('dataFrame: one frame is one run, the messages of one channel with consecutive sequences');
      }
    });
    const bytes = F.DataFrame.FIRST_MESSAGE_OFFSET + messages.reduce((n, m) => n + F.messageBytes(m.payload.length), 0);
    const b = this.frame(F.FrameType.DATA, bytes);
    b.writeUInt32LE(first.channel >>> 0, F.DataFrame.CHANNEL_OFFSET);
    b.writeUInt32LE(first.sourcePartition, F.DataFrame.SOURCE_PARTITION_OFFSET);
    b.writeUInt32LE(first.sequence >>> 0, F.DataFrame.SEQUENCE_OFFSET);
    b.set(first.key, F.DataFrame.KEY_OFFSET);
    b.writeUInt32LE(countField, F.DataFrame.COUNT_OFFSET);
    let at = F.DataFrame.FIRST_MESSAGE_OFFSET;
    for (const m of messages) {
      b.writeUInt32LE(m.payloadBytesField ?? m.payload.length, at + F.DataMessage.PAYLOAD_BYTES_OFFSET);
      b.set(m.payload, at + F.DataMessage.HEADER_BYTES);
      at += F.messageBytes(m.payload.length);
    }
    return b;
  }

  /** An ACK frame: (channel id at the frame's receiver, last sequence delivered, window bytes delivered) entries. */
  ackFrame(pairs: Array<[channel: number, sequence: number, window: number]>): Buffer {
    const b = this.frame(F.FrameType.ACK, F.AckFrame.FIRST_ENTRY_OFFSET + pairs.length * F.AckFrame.ENTRY_BYTES);
    b.writeUInt32LE(pairs.length, F.AckFrame.COUNT_OFFSET);
    pairs.forEach(([channel, sequence, window], i) => {
      const at = F.AckFrame.FIRST_ENTRY_OFFSET + i * F.AckFrame.ENTRY_BYTES;
      b.writeUInt32LE(channel >>> 0, at + F.AckFrame.ENTRY_CHANNEL_OFFSET);
      b.writeUInt32LE(sequence >>> 0, at + F.AckFrame.ENTRY_SEQUENCE_OFFSET);
      b.writeUInt32LE(window >>> 0, at + F.AckFrame.ENTRY_WINDOW_OFFSET);
    });
    return b;
  }

  /** A CONNECT_OK for `request`, as if answering a CONNECT of the other node. */
  connectOkFrame(request: number, channel: number, process: number): Buffer {
    const b = this.frame(F.FrameType.CONNECT_OK, F.ConnectOkFrame.BYTES);
    b.writeUInt32LE(request, F.ConnectOkFrame.REQUEST_OFFSET);
    b.writeUInt32LE(channel, F.ConnectOkFrame.CHANNEL_OFFSET);
    b.writeUInt32LE(process, F.ConnectOkFrame.PROCESS_OFFSET);
    b.writeUInt32LE(PEER_WINDOW_BYTES, F.ConnectOkFrame.WINDOW_OFFSET);
    b.writeUInt32LE(PEER_MAX_MESSAGE_BYTES, F.ConnectOkFrame.MAX_MESSAGE_OFFSET);
    return b;
  }

  closeFrame(channel: number, senderChannel: number, status: number): Buffer {
    const b = this.frame(F.FrameType.CLOSE, F.CloseFrame.BYTES);
    b.writeUInt32LE(channel, F.CloseFrame.CHANNEL_OFFSET);
    b.writeUInt32LE(senderChannel, F.CloseFrame.SENDER_CHANNEL_OFFSET);
    b.writeUInt32LE(status, F.CloseFrame.STATUS_OFFSET);
    return b;
  }

  /** The highest sequence the node has acknowledged so far for our channel `channel` (0: none). */
  acknowledged(channel: number): number {
    let last = 0;
    for (const f of this.frames) {
      if (f.type !== F.FrameType.ACK) continue;
      const n = f.bytes.readUInt32LE(F.AckFrame.COUNT_OFFSET);
      for (let i = 0; i < n; i++) {
        const at = F.AckFrame.FIRST_ENTRY_OFFSET + i * F.AckFrame.ENTRY_BYTES;
        if (f.bytes.readUInt32LE(at + F.AckFrame.ENTRY_CHANNEL_OFFSET) === channel) last = f.bytes.readUInt32LE(at + F.AckFrame.ENTRY_SEQUENCE_OFFSET);
      }
    }
    return last;
  }
}

/** What node 2's stats say of its link to node 1. */
export type LinkToPeer = ReturnType<typeof linkToPeer>;
function linkToPeer(machine: Machine) {
  return machine.stats().links!.find((l: { node: number }) => l.node === 1)!;
}

/**
 * Node 2 in this process, its partition 1 (`client`) on the hostile OS so that the test drives its
 * control calls and reads the hardware's answers as they are, and a hostile node 1 dialed in with
 * a valid certificate: `body` runs once the link is up, then both close.
 */
export async function withHostilePeer(certs: CertificateSet, body: (machine: Machine, peer: HostilePeer, link: () => LinkToPeer) => Promise<void>): Promise<void> {
  const machine = await createMachine({
    wait: 'sleep',
    testHooks: true,
    partitions: [{ id: 1, name: 'client', os: HOSTILE_OS }],
    node: { id: 2, listen: { host: LOOPBACK, port: 0 }, peers: [{ id: 1 }], tls: certs.tls(2), deadAfterMs: 5000 },
  });
  let peer: HostilePeer | undefined;
  const link = () => linkToPeer(machine);
  try {
    peer = await HostilePeer.dial(machine.listening!.port, certs.tls(1));
    await waitFor('the link to node 1', () => link().state === 'up');
    await body(machine, peer, link);
  } finally {
    peer?.close();
    await machine.close();
  }
}
