/**
 * Channels whose other end is on another node: the engine's send stage hands
 * their messages here (RemoteEnds), and this is the receive stage for what
 * arrives over a link. A peer node is not trusted: every DATA frame's run is
 * checked against this node's own entry (open, the other end on that node and
 * partition, the next sequence number, the key) before any of its messages is
 * copied into a receive ring; anything else is dropped and counted on the
 * link, by kind, once per frame.
 */
import { NO_ENTRY, type ChannelStateTable } from '../channel-state-table.js';
import type { Counters } from '../counters.js';
import type { HardwareQueuePair } from '../partition-port.js';
import { BLOCKED, GONE, type Engine, type RemoteEnds } from '../engine.js';
import type { KeyTable } from '../key-table.js';
import type { Stamp } from '../stamp.js';
import { DELIVERED, DROPPED, HELD, NO_RUN } from './link-reader.js';
import type { NodeLink } from './node-link.js';
import { ConnectionState, RecordType } from '../../shared/layout.js';
import { Status } from '../../shared/errors.js';
import type { RingConsumer } from '../../shared/ring.js';

export class LinkedChannels implements RemoteEnds {
  /** Deliveries not yet added to the counters, per partition index (messages, bytes) and per link. */
  private readonly deliveredMessages: number[];
  private readonly deliveredBytes: number[];
  /** Links by node id (a sparse array: one lookup per message sent). */
  private readonly linkOf: NodeLink[] = [];
  /**
   * What run() verified last, looked up once for all its messages: the entry, the queue pair that
   * owns it, the handle its deliveries carry, its partition index and the id ACKs name it by.
   */
  private runEntry = NO_ENTRY;
  private runQueuePair: HardwareQueuePair | undefined;
  private runHandle = 0;
  private runPartition = 0;
  private runLinkChannel = 0;
  /** The link and entry of the message send() took last, for the sendNext() that may follow. */
  private sendLink: NodeLink | undefined;
  private sendEntry = NO_ENTRY;

  constructor(
    private readonly table: ChannelStateTable,
    private readonly keys: KeyTable,
    private readonly engine: Engine,
    private readonly counters: Counters,
    private readonly links: ReadonlyMap<number, NodeLink>,
    private readonly all: readonly NodeLink[],
  ) {
    this.deliveredMessages = engine.ports.map(() => 0);
    this.deliveredBytes = engine.ports.map(() => 0);
    for (const link of all) this.linkOf[link.node] = link;
  }

  /** A batch of input was handled: count its deliveries and publish the rings it wrote. */
  processed(): void {
    const m = this.deliveredMessages;
    for (let p = 0; p < m.length; p++) {
      if (m[p] === 0) continue;
      this.counters.delivered(p, m[p], this.deliveredBytes[p]);
      m[p] = this.deliveredBytes[p] = 0;
    }
    for (const link of this.all) {
      if (link.uncounted === 0) continue;
      link.counters.messagesReceived(link.uncounted);
      link.uncounted = 0;
    }
    this.engine.publishDeliveries();
  }

  // ── send side (RemoteEnds) ───────────────────────────────────────────────

  send(e: number, stamp: Stamp, src: RingConsumer, payload: number, bytes: number): boolean {
    const t = this.table;
    const link = this.linkOf[t.remoteNode[e]];
    // An open remote end always has its link up: a link going down ends every channel over it first.
    if (link === undefined || !link.up) return false;
    const sequence = (t.sentSequence[e] + 1) >>> 0;
    if (!link.message(t.linkChannel[e], stamp.sourcePartition, sequence, stamp.k0, stamp.k1, stamp.k2, stamp.k3, src, payload, bytes)) return false;
    t.sentSequence[e] = sequence;
    this.sendLink = link;
    this.sendEntry = e;
    return true;
  }

  sendNext(e: number, src: RingConsumer, payload: number, bytes: number): boolean {
    // Only right behind send()'s message on the same entry: anything else would join another end's frame.
    if (e !== this.sendEntry || !this.sendLink!.next(src, payload, bytes)) return false;
    const t = this.table;
    t.sentSequence[this.sendEntry] = (t.sentSequence[this.sendEntry] + 1) >>> 0;
    return true;
  }

  closed(e: number, status: number): void {
    const t = this.table;
    const link = this.links.get(t.remoteNode[e]);
    if (link === undefined) return;
    link.close(t.linkChannel[e], t.linkId(e), status);
    // Closes come from the control plane as well as from rings: write now rather than wait for a scheduler turn.
    link.flush();
  }

  poll(): number {
    // Input read since the last count (its turn's processed() has not run yet: this round may run
    // first) is counted now, before this round's serves publish the rings it went to.
    for (const link of this.all) {
      if (link.uncounted === 0) continue;
      this.processed();
      break;
    }
    let n = 0;
    for (const link of this.all) if (link.held) n += link.resume();
    return n;
  }

  flush(): void {
    for (const link of this.all) if (link.up) link.flush();
  }

  // ── receive side (frames from `link`) ─────────────────────────────────────

  /**
   * Claim 10's receive stage for a run of messages (one DATA frame, or what is left of it after a
   * hold): the run's stamp and its next message's sequence against this node's own entry. The
   * entry its messages go to, or NO_RUN (counted). The run's messages are numbered on from
   * `sequence` and carry no stamp of their own, so this check covers each of them; message()
   * keeps the numbering.
   */
  run(link: NodeLink, channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number): number {
    const t = this.table;
    const d = t.entryOfLinkId(channel);
    if (d === NO_ENTRY || t.state[d] !== ConnectionState.OPEN) {
      if (!link.closedRecently(channel)) link.counters.violation('unknownChannel');
      return NO_RUN;
    }
    if (t.remoteNode[d] !== link.node || t.remotePartition[d] !== sourcePartition) {
      link.counters.violation('wrongSource');
      return NO_RUN;
    }
    if (sequence !== ((t.receivedSequence[d] + 1) >>> 0)) {
      link.counters.violation('sequence');
      return NO_RUN;
    }
    if (!this.keys.matches(d, k0, k1, k2, k3)) {
      link.counters.violation('keyMismatch');
      this.counters.violation(t.partitionIndexOf(d), 'keyMismatch');
      return NO_RUN;
    }
    this.lookUpRun(d);
    return d;
  }

  private lookUpRun(d: number): void {
    const t = this.table;
    this.runEntry = d;
    this.runQueuePair = this.engine.queuePairOf(d);
    this.runHandle = t.handle(d);
    this.runPartition = t.partitionIndexOf(d);
    this.runLinkChannel = t.linkChannel[d];
  }

  /** The next message of a run that run() verified into entry `d`: into its owner's receive ring. */
  message(d: number, buf: Uint8Array, words: Uint32Array, at: number, bytes: number): number {
    // Another link's run came in between (never as the reader calls: a held run is verified again).
    if (d !== this.runEntry) this.lookUpRun(d);
    const r = this.engine.deliverFromLink(this.runQueuePair, this.runHandle, buf, words, at, bytes);
    if (r === BLOCKED) return HELD;
    if (r === GONE) return DROPPED;
    return DELIVERED;
  }

  /**
   * The reader delivered `messages` more of the run into entry `d` (message() answered DELIVERED
   * for each): the sequence moves on, the ACK owed for the channel with it, and the counters. Once
   * per stretch of a run rather than per message; nothing reads them in between.
   */
  delivered(link: NodeLink, d: number, messages: number, bytes: number): void {
    if (d !== this.runEntry) this.lookUpRun(d);
    const t = this.table;
    const sequence = (t.receivedSequence[d] + messages) >>> 0;
    t.receivedSequence[d] = sequence;
    link.owe(this.runLinkChannel, sequence);
    const p = this.runPartition;
    this.deliveredMessages[p] += messages;
    this.deliveredBytes[p] += bytes;
    link.uncounted += messages;
  }

  /** The peer delivered our channel `channel` up to `sequence`. */
  ack(link: NodeLink, channel: number, sequence: number): void {
    const t = this.table;
    const e = t.entryOfLinkId(channel);
    if (e === NO_ENTRY || t.remoteNode[e] !== link.node || t.state[e] === ConnectionState.FREE) {
      if (!link.closedRecently(channel)) link.counters.violation('unknownChannel');
      return;
    }
    // Only forward, and never past what was sent.
    const ahead = (sequence - t.ackedSequence[e]) >>> 0;
    if (ahead === 0) return;
    if (ahead > ((t.sentSequence[e] - t.ackedSequence[e]) >>> 0)) {
      link.counters.violation('sequence');
      return;
    }
    t.ackedSequence[e] = sequence;
  }

  /** The peer's end `senderChannel` of our channel `channel` closed (status OK) or its process or partition ended. */
  close(link: NodeLink, channel: number, senderChannel: number, status: number): void {
    const t = this.table;
    const e = t.entryOfLinkId(channel);
    if (e === NO_ENTRY || t.remoteNode[e] !== link.node || t.linkChannel[e] !== senderChannel) {
      if (!link.closedRecently(channel)) link.counters.violation('unknownChannel');
      return;
    }
    if (t.state[e] !== ConnectionState.OPEN) return;
    // What the peer had not delivered when it closed never will be: the sender hears so, with ECLOSED.
    this.failUnacknowledged(e, Status.ECLOSED);
    // The END's publish shows this input's earlier messages too: count them first.
    this.processed();
    this.engine.endByPeer(e, status === Status.OK ? Status.OK : Status.EPEERDEAD);
    this.engine.publishAll();
  }

  /** The link to `node` went down: every channel over it ends with ELINKDOWN; what it had not acknowledged fails with ELINKDOWN. */
  linkDown(link: NodeLink): void {
    this.processed();
    const t = this.table;
    for (let e = 0; e < t.state.length; e++) {
      if (t.remoteNode[e] !== link.node || t.state[e] !== ConnectionState.OPEN) continue;
      link.counters.unacknowledged(this.failUnacknowledged(e, Status.ELINKDOWN));
      this.engine.endByPeer(e, Status.ELINKDOWN);
    }
    this.engine.publishAll();
  }

  /** One error completion for the sends of entry `e` not acknowledged yet, with their count; returns the count. */
  private failUnacknowledged(e: number, status: number): number {
    const t = this.table;
    const count = (t.sentSequence[e] - t.ackedSequence[e]) >>> 0;
    if (count === 0) return 0;
    t.ackedSequence[e] = t.sentSequence[e];
    const qp = this.engine.queuePairOf(e);
    if (qp !== undefined) {
      this.engine.complete(qp, status, RecordType.SEND, t.handle(e), count);
      this.counters.sendError(t.partitionIndexOf(e), count);
    }
    return count;
  }
}
