/**
 * The link to one peer node: its socket (once authenticated), its state, its
 * heartbeat, its batch writer and frame reader, and its counters. A link goes
 * down on a socket error or close, on a frame stream that cannot be framed,
 * or when nothing arrived for deadAfterMs; then its socket is destroyed, the
 * rest of its input dropped, and its owner (Links) ends every channel over it.
 */
import type { TLSSocket } from 'node:tls';
import { LinkReader, type FrameSink } from './link-reader.js';
import { ACK_DUE_FIELDS, LinkWriter, type ConnectFields } from './link-writer.js';
import type { LinkCounters } from './link-counters.js';
import { LinkState } from '../../shared/link-counters.js';
import type { ResolvedPeer } from '../../shared/boot.js';
import type { RingConsumer } from '../../shared/ring.js';
import * as clock from '../../shared/clock.js';

/** Socket bytes queued beyond this count as congestion: sends on the link wait (back-pressure) until it drains. */
const CONGESTION_BYTES = 4 * 1024 * 1024;
/**
 * Bytes written while the link is congested past which the peer is taken to read nothing. Data
 * stops at CONGESTION_BYTES (but for the batch the writer already held) and ACKs wait while
 * congested (each channel's latest only), so what can still grow the output then is the answers
 * to the peer's own requests: a peer that keeps asking without reading the answers would otherwise
 * grow this node's memory without bound.
 */
const MAX_WRITTEN_WHILE_CONGESTED = 16 * 1024 * 1024;
/** ACKs owed past which those owed while congested are folded to one per channel. */
const ACKS_FOLD_AT = 2 * 1024;
/** A batch this large is written even while an earlier write is in flight. */
const EAGER_FLUSH_BYTES = 64 * 1024;
/** Channel ids closed here that a peer's frames may still name for a while (their frames are dropped quietly, not counted). */
const RECENTLY_CLOSED = 4096;

/**
 * What a peer may still send naming a channel this node closed, before it learns of the CLOSE
 * (NodeLink.excusesLate): window bytes of DATA, ACK entries, CLOSEs. Past it, a frame is counted
 * as any frame naming no channel is (THREATS case 114).
 */
export const LATE_DATA = 0;
export const LATE_ACKS = 1;
export const LATE_CLOSES = 2;

/**
 * The window bytes of DATA an honest peer may still send naming a channel after this node's
 * CLOSE, for a window of `windowBytes` granted: what it had unacknowledged when the CLOSE was
 * written (the window at most: an end's ACKs go out before its CLOSE, and none after it), and as
 * much again, sent on the credit those last ACKs gave back if it read them before the CLOSE.
 */
export function lateDataBytes(windowBytes: number): number {
  return 2 * windowBytes;
}

export interface NodeLinkEvents {
  /** The link is up: frames flow. */
  up(link: NodeLink): void;
  /** The link went down, for `reason`. */
  down(link: NodeLink, reason: string): void;
  /** The socket drained after congestion: blocked sends may go on. */
  drained(): void;
  /** A batch of input was processed: publish the receive rings it wrote (one publish per batch, not per message). */
  processed(): void;
}

export class NodeLink {
  state: number = LinkState.CONNECTING;
  private socket: TLSSocket | undefined;
  readonly writer: LinkWriter;
  private reader: LinkReader | undefined;
  private congested = false;
  /** Bytes written since the link became congested (see MAX_WRITTEN_WHILE_CONGESTED). */
  private writtenWhileCongested = 0;
  /** Length of acksDue at which the ACKs owed while congested are folded. */
  private foldAcksAt = ACK_DUE_FIELDS * ACKS_FOLD_AT;
  private lastReceived = 0;
  private lastSent = 0;
  private lastBeat = 0;
  /** Socket writes not yet handed to the kernel. */
  private writesInFlight = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** ACKs owed: (channel id at the peer, sequence, window bytes) triples, written before the next flush. */
  private readonly acksDue: number[] = [];
  /**
   * Ids of our ends closed recently, each with what the peer may still send naming it (LATE_DATA,
   * LATE_ACKS, LATE_CLOSES). A set of ids alone excused every frame naming one for as long as it
   * was remembered: a peer sent 20,000 DATA runs and 1,000 ACK entries on a closed id and its link
   * counted none of them (THREATS case 114).
   */
  private readonly closed = new Map<number, [data: number, acks: number, closes: number]>();
  /** Messages received and delivered that the counters do not show yet (LinkedChannels.processed adds them). */
  uncounted = 0;
  /** Dialer only: the backoff before the next dial after a failure. */
  backoffMs = 0;
  /** Set when the socket errored with a TLS or certificate error before the link came up. */
  handshakeFailed = false;
  /**
   * finish() ended the socket: nothing more may be written to it (a write after end() destroys
   * the socket, and with it whatever the kernel had not sent yet: a heartbeat, an ACK or a CLOSE
   * that input made while the peer read what this node handed over).
   */
  private ending = false;

  constructor(
    readonly peer: ResolvedPeer,
    readonly counters: LinkCounters,
    private readonly timing: { heartbeatMs: number; deadAfterMs: number },
    private readonly frameLimits: { maxFrameBytes: number; maxMessageBytes: number },
    private readonly events: NodeLinkEvents,
  ) {
    this.writer = new LinkWriter(Math.max(512 * 1024, 2 * frameLimits.maxFrameBytes));
    counters.state(LinkState.CONNECTING);
  }

  get node(): number {
    return this.peer.id;
  }

  get up(): boolean {
    return this.state === LinkState.UP;
  }

  /** Past CONGESTION_BYTES queued on the socket: message() takes nothing until it drains. */
  get isCongested(): boolean {
    return this.congested;
  }

  /** An authenticated socket carries this link from now on (a newer one replaces an older); `first`: bytes already read from it. */
  attach(socket: TLSSocket, sink: FrameSink, first?: Uint8Array): void {
    if (this.socket !== undefined) this.down('replaced by a newer connection from the same node');
    this.socket = socket;
    this.reader = new LinkReader(sink, this.frameLimits.maxFrameBytes, this.frameLimits.maxMessageBytes);
    this.writer.discard();
    this.acksDue.length = 0;
    this.closed.clear();
    this.congested = false;
    this.writtenWhileCongested = 0;
    this.foldAcksAt = ACK_DUE_FIELDS * ACKS_FOLD_AT;
    this.writesInFlight = 0;
    this.handshakeFailed = false;
    this.ending = false;
    this.backoffMs = 0;
    socket.setNoDelay(true);
    const reader = this.reader;
    // One TCP read becomes several 'data' events (one per TLS record, 16 KiB at most), and a
    // loaded host hands over several reads per turn: publishing the receive rings (a wake-up of
    // each sleeping receiver) and writing the ACKs owed once per event-loop turn, not once per
    // record, turns many small wake-ups and socket writes into one.
    let turnEndPending = false;
    const endOfTurn = (): void => {
      turnEndPending = false;
      // Even when the link went down meanwhile: what was delivered must still be counted.
      this.events.processed();
      if (this.socket === socket) this.flush();
    };
    const onData = (chunk: Uint8Array): void => {
      if (this.socket !== socket) return;
      this.lastReceived = clock.now();
      this.counters.received(chunk.length);
      reader.push(chunk);
      if (!turnEndPending) {
        turnEndPending = true;
        setImmediate(endOfTurn);
      }
    };
    socket.on('data', onData);
    socket.on('drain', () => {
      if (this.socket !== socket || !this.congested) return;
      this.congested = false;
      this.writtenWhileCongested = 0;
      this.foldAcksAt = ACK_DUE_FIELDS * ACKS_FOLD_AT;
      this.events.drained();
    });
    socket.on('error', () => {}); // 'close' follows and says down
    socket.on('close', () => {
      if (this.socket === socket) this.down('the connection closed');
    });
    this.lastReceived = this.lastSent = this.lastBeat = clock.now();
    this.state = LinkState.UP;
    this.counters.state(LinkState.UP);
    this.counters.up();
    const tick = Math.max(5, Math.min(this.timing.heartbeatMs, this.timing.deadAfterMs / 4) / 2);
    this.timer = setInterval(() => this.beat(), tick);
    // Say something at once: a dialer counts the link up only once the listener has spoken (it accepted our certificate).
    this.writer.heartbeat();
    this.flush();
    this.events.up(this);
    if (first !== undefined) onData(first);
  }

  private beat(): void {
    const now = clock.now();
    const late = now - this.lastBeat;
    this.lastBeat = now;
    // A beat far behind its schedule means this thread did not run (a loaded host): the silence
    // may be ours, not the peer's. Judge again from now instead.
    if (late > this.timing.deadAfterMs / 2) this.lastReceived = Math.max(this.lastReceived, now - this.timing.deadAfterMs / 2);
    else if (this.silentTooLong(now)) {
      // Timers run before the event loop reads sockets: let it read what may already be there, then judge.
      setImmediate(() => {
        if (this.silentTooLong(clock.now())) this.down(`nothing arrived for ${Math.round(clock.now() - this.lastReceived)} ms (deadAfterMs ${this.timing.deadAfterMs})`);
      });
      return;
    }
    if (now - this.lastSent >= this.timing.heartbeatMs && !this.congested && !this.ending) {
      this.writer.heartbeat();
      this.flush();
    }
  }

  private silentTooLong(now: number): boolean {
    return this.state === LinkState.UP && now - this.lastReceived > this.timing.deadAfterMs;
  }

  /** Take the link down: destroy the socket, drop unread input and unsent output. Idempotent. */
  down(reason: string): void {
    if (this.state !== LinkState.UP) return;
    const socket = this.socket;
    this.socket = undefined;
    clearInterval(this.timer);
    this.timer = undefined;
    this.reader?.stop();
    this.reader = undefined;
    this.writer.discard();
    this.acksDue.length = 0;
    this.state = LinkState.DOWN;
    this.counters.state(LinkState.DOWN);
    this.counters.down();
    socket?.destroy();
    this.events.down(this, reason);
  }

  /**
   * This node is closing: write out what is queued (the ACKs owed, the CLOSEs just written), end
   * the socket (TLS close_notify, then FIN) and take the link down once the peer has closed its
   * side too (it has read everything by then). A peer still speaking is still reading: it is
   * waited for, up to `capMs`; one silent for `quietMs` is not, so a peer that reads nothing does
   * not hold the close. Destroying the socket at once could drop what the kernel has not sent, and
   * with the peer's input unread, the kernel resets the connection and the peer loses what it had
   * not read yet.
   */
  finish(quietMs: number, capMs: number): Promise<void> {
    const socket = this.socket;
    if (this.state !== LinkState.UP || socket === undefined) return Promise.resolve();
    this.writeAcks(true);
    this.writeOut();
    const endedAt = clock.now();
    const giveUpAt = endedAt + capMs;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearInterval(look);
        this.down('this node is closing');
        resolve();
      };
      // Quiet since the end() at the earliest: a peer whose heartbeats are further apart than
      // quietMs still gets that long to read what was written and end its side.
      const look = setInterval(() => {
        const at = clock.now();
        if (at - Math.max(this.lastReceived, endedAt) >= quietMs || at >= giveUpAt) done();
      }, Math.max(1, Math.min(quietMs, 50)));
      socket.once('close', done);
      socket.end();
      this.ending = true;
    });
  }

  /** Append one message; false when the link cannot take it now (batch full and socket congested). */
  message(channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number, src8: Uint8Array, src32: Uint32Array, from: number, bytes: number): boolean {
    if (this.congested) return false;
    if (this.writer.message(channel, sourcePartition, sequence, k0, k1, k2, k3, src8, src32, from, bytes)) return true;
    this.flush(true);
    if (this.congested) return false;
    return this.writer.message(channel, sourcePartition, sequence, k0, k1, k2, k3, src8, src32, from, bytes);
  }

  /** The next message of the run message() just took (LinkWriter.next): false sends it through message(). */
  next(src: RingConsumer, from: number, bytes: number): boolean {
    return this.writer.next(src.u8, src.u32, from, bytes);
  }

  /** Owe the peer an ACK: its channel `channel` was delivered up to `sequence`, and `window` window bytes in all. */
  owe(channel: number, sequence: number, window: number): void {
    const due = this.acksDue;
    // A run of messages on one channel owes one ACK, for its last sequence.
    const last = due.length - ACK_DUE_FIELDS;
    if (last >= 0 && due[last] === channel) {
      due[last + 1] = sequence;
      due[last + 2] = window;
    } else due.push(channel, sequence, window);
  }

  connect(f: ConnectFields): void {
    if (!this.writer.connect(f)) {
      this.flush(true);
      this.writer.connect(f);
    }
    this.flush();
  }

  connectOk(request: number, channel: number, process: number, window: number, maxMessage: number): void {
    if (!this.writer.connectOk(request, channel, process, window, maxMessage)) {
      this.flush(true);
      this.writer.connectOk(request, channel, process, window, maxMessage);
    }
  }

  connectRefused(request: number, status: number): void {
    if (!this.writer.connectRefused(request, status)) {
      this.flush(true);
      this.writer.connectRefused(request, status);
    }
  }

  /**
   * Our end `senderChannel` closed: tell the peer (after the ACKs owed, so it never sees a CLOSE
   * before an ACK sent earlier). `lateDataBytes` and `lateAcks`: what an honest peer may still send
   * naming the end before it reads the CLOSE (the window bytes of DATA its credit allows, the ACK
   * entries for our sends it had not acknowledged); one CLOSE of its own may cross ours.
   */
  close(channel: number, senderChannel: number, status: number, lateDataBytes: number, lateAcks: number): void {
    // Even while congested: a CLOSE that overtook the ACKs owed would fail, at the peer, sends
    // this node delivered (docs/LINK.md).
    this.writeAcks(true);
    if (!this.writer.close(channel, senderChannel, status)) {
      this.flush(true);
      this.writer.close(channel, senderChannel, status);
    }
    if (this.closed.size >= RECENTLY_CLOSED) this.closed.delete(this.closed.keys().next().value!);
    this.closed.set(senderChannel, [lateDataBytes, lateAcks, 1]);
  }

  /**
   * True when `channel` is one of ours that closed recently and a frame naming it, costing `amount`
   * of `what` (LATE_DATA, LATE_ACKS, LATE_CLOSES), is within what the peer may have sent before it
   * learned of the close: no violation. Past that, it is not (and nothing more of that kind is).
   */
  excusesLate(channel: number, what: number, amount: number): boolean {
    const late = this.closed.get(channel);
    if (late === undefined) return false;
    if (late[what] < amount) {
      late[what] = -1;
      return false;
    }
    late[what] -= amount;
    return true;
  }

  private writeAcks(evenIfCongested = false): void {
    const due = this.acksDue;
    if (due.length === 0) return;
    if (this.congested && !evenIfCongested) {
      // ACKs are cumulative: while the peer is not reading, a channel's latest is all it needs later.
      if (due.length >= this.foldAcksAt) {
        foldAcks(due);
        // With more channels than ACKS_FOLD_AT owed, fold again only once as many more are owed.
        this.foldAcksAt = Math.max(ACK_DUE_FIELDS * ACKS_FOLD_AT, 2 * due.length);
      }
      return;
    }
    let done = 0;
    while (done < due.length / ACK_DUE_FIELDS) {
      const n = this.writer.ack(due, done);
      if (n === 0) {
        if (this.socket === undefined || this.ending) break;
        this.writeOut();
      }
      done += n;
    }
    due.length = 0;
  }

  /**
   * Write the batch (and the ACKs owed) to the socket in one write. While an earlier write is
   * still on its way to the kernel the batch keeps filling instead (unless `now`, or it passed
   * EAGER_FLUSH_BYTES), and that write's completion flushes it: batches grow with the load and
   * an idle link still writes at once.
   */
  flush(now = false): void {
    if (this.socket === undefined) return;
    this.writeAcks();
    if (!now && this.writesInFlight > 0 && this.writer.bytes < EAGER_FLUSH_BYTES) return;
    this.writeOut();
  }

  private writeOut(): void {
    const socket = this.socket;
    if (socket === undefined || this.ending) return;
    const w = this.writer;
    const bytes = w.take();
    if (bytes === undefined) return;
    this.counters.sent(bytes.length, w.frames, w.messages);
    w.frames = w.messages = 0;
    this.lastSent = clock.now();
    this.writesInFlight++;
    socket.write(bytes, () => {
      if (this.socket !== socket) return;
      w.give(bytes);
      this.writesInFlight--;
      if (this.writesInFlight === 0 && !this.writer.empty) this.flush();
    });
    if (this.congested) this.writtenWhileCongested += bytes.length;
    if (socket.writableLength > CONGESTION_BYTES) {
      this.congested = true;
      // The batch the writer held when congestion began may still go out: it is data, not answers.
      if (this.writtenWhileCongested > MAX_WRITTEN_WHILE_CONGESTED + this.writer.capacity) {
        this.down(`node ${this.node} read nothing of the last ${socket.writableLength >> 20} MiB sent to it while it kept sending requests`);
      }
    }
  }
}

/** Keep each channel's latest ACK of the (channel, sequence, window) triples in `due`, in place, in first-owed order. */
function foldAcks(due: number[]): void {
  const latest = new Map<number, number>();
  for (let i = 0; i < due.length; i += ACK_DUE_FIELDS) latest.set(due[i], i);
  const kept: number[] = [];
  for (const i of latest.values()) kept.push(due[i], due[i + 1], due[i + 2]);
  due.length = 0;
  for (const x of kept) due.push(x);
}
