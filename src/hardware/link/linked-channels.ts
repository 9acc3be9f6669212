/**
 * Channels whose other end is on another node: the engine's send stage hands
 * their messages here (RemoteEnds), and this is the receive stage for what
 * arrives over a link. A peer node is not trusted: every DATA frame's run is
 * checked against this node's own entry (open, the other end on that node and
 * partition, the next sequence number, the key) before any of its messages is
 * copied into a receive ring; anything else is dropped and counted on the
 * link, by kind, once per frame.
 *
 * Per-channel credit (docs/LINK.md): a channel never has more on the wire
 * unacknowledged than the window its receiving node granted, and a message
 * is acknowledged once it is in its receive ring. A message whose ring is full
 * is kept aside (KeptMessages) and moved into the ring as the ring's reader
 * frees space (poll(), from the engine's round); the link reads on, so one
 * unread ring holds back only its own channel (THREATS case 48).
 *
 * On the sending side, a SEND past its channel's window waits at the head of its process's send
 * ring, as for a full ring on one node; when other work requests of that process wait behind it,
 * the engine has it held here instead (hold(): THREATS case 52), its end marked held, and poll()
 * sends what is held as ACKs open the window, before anything else of that channel.
 */
import { CONNECTING, NO_ENTRY, type ChannelStateTable } from '../channel-state-table.js';
import type { Counters } from '../counters.js';
import { QueuePairState, type HardwareQueuePair, type PartitionPort } from '../partition-port.js';
import { BLOCKED, DONE, GONE, type Engine, type RemoteEnds } from '../engine.js';
import type { KeyTable } from '../key-table.js';
import type { Stamp } from '../stamp.js';
import type { HardwareTrace } from '../trace.js';
import { FIRST_KEPT_BYTES, KeptMessages } from '../kept-messages.js';
import { DELIVERED, DROPPED, NO_RUN } from './link-reader.js';
import { LATE_ACKS, LATE_CLOSES, LATE_DATA, lateDataBytes, type NodeLink } from './node-link.js';
import { channelMessageLimit, messageBytes } from '../../shared/link-frames.js';
import { ConnectionState, RecordType } from '../../shared/layout.js';
import { Status } from '../../shared/errors.js';
import type { RingConsumer } from '../../shared/ring.js';
import { now } from '../../shared/clock.js';

/** Emptied KeptMessages kept for reuse, at most. */
const SPARE_KEPT = 8;

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
  /** The largest message the run's channel carries: the smaller of both nodes' maxMessageBytes. */
  private runMaxMessage = 0;
  /** What the current stretch of a run put into its receive ring: messages, payload and window bytes (delivered() books them). */
  private ringMessages = 0;
  private ringPayload = 0;
  private ringWindow = 0;
  /** The link and entry of the message send() took last, for the sendNext() that may follow. */
  private sendLink: NodeLink | undefined;
  private sendEntry = NO_ENTRY;
  /**
   * Window bytes sendNext() may still spend on that entry: what send() left of its window. ACKs
   * (which only add room) come between engine rounds, and every run starts with send(), which
   * reads the tables again: three table reads fewer per message of a run.
   */
  private sendCredit = 0;
  /**
   * Messages kept aside for a full receive ring, by entry (allocated whole: an array written at
   * a high index first turns into a dictionary, and message() reads it for every message), and
   * the same as a list for poll() (emptied ones leave it there), served from a rotating start.
   */
  private readonly keptFor: (KeptMessages | undefined)[];
  private readonly kept: KeptMessages[] = [];
  private nextKept = 0;
  /**
   * Emptied KeptMessages with small buffers, for the next ring that fills: a reader that just keeps
   * up fills its ring turn after turn, and each time a fresh one cost a 16 KiB buffer.
   */
  private readonly spareKept: KeptMessages[] = [];
  /**
   * Messages of this node's ends held for their window (THREATS case 52), by entry (allocated
   * whole, as keptFor), and the same as a list for poll().
   */
  private readonly heldFor: (KeptMessages | undefined)[];
  private readonly held: KeptMessages[] = [];
  /** Per end closing behind held messages: when the close began waiting, or a held message last went. */
  private readonly heldMovedAt: Float64Array;
  /** A send found its channel's window closed: the ACK that opens one wakes the engine. */
  private windowWaiting = false;

  constructor(
    private readonly table: ChannelStateTable,
    private readonly keys: KeyTable,
    private readonly engine: Engine,
    private readonly counters: Counters,
    private readonly links: ReadonlyMap<number, NodeLink>,
    private readonly all: readonly NodeLink[],
    /** Run the engine now if it sleeps (a window opened). */
    private readonly wake: () => void,
    /** The window this node grants each channel: what it keeps aside for one, at most. */
    private readonly windowBytes: number,
    /** What one of this node's ends may have held for its window, counted as KeptMessages counts (the engine's bound for kept messages). */
    private readonly heldLimitBytes: number,
    /**
     * How long a close waits behind held messages of which none goes (the other node reads
     * nothing): then they are dropped and the close is done, so a remote reader that never reads
     * cannot keep a closed end's slot (as long as a connect waits for an answer).
     */
    private readonly closeTimeoutMs: number,
  ) {
    this.keptFor = new Array<KeptMessages | undefined>(table.state.length).fill(undefined);
    this.heldFor = new Array<KeptMessages | undefined>(table.state.length).fill(undefined);
    this.heldMovedAt = new Float64Array(table.state.length);
    this.deliveredMessages = engine.ports.map(() => 0);
    this.deliveredBytes = engine.ports.map(() => 0);
    for (const link of all) this.linkOf[link.node] = link;
  }

  /** Messages kept aside for full receive rings, on every channel. */
  get keptMessages(): number {
    let n = 0;
    for (const k of this.kept) if (this.keptFor[k.entry] === k) n += k.count;
    return n;
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
    // The peer closed this end (its CLOSE waits behind messages kept here): whatever the link, a
    // message of it goes nowhere. Not onto the link: it may be down since, or be a new connection of
    // that node, on which this end's id names nothing (or another channel of its new run).
    if (this.peerClosedFirst(e)) return this.sentIntoClosedEnd(e, bytes);
    const link = this.linkOf[t.remoteNode[e]];
    // An open remote end has its link up (a link going down ends every channel over it first) but
    // for one whose peer closed before it went down (peerClosedFirst, above).
    if (link === undefined || !link.up) return false;
    // The window the other node granted: what is unacknowledged stays within it, but for one
    // message when nothing is (a message larger than the window still goes, alone). When not, the
    // SEND waits in its send ring, as for a full ring on one node, or is held (hold()), until an
    // ACK wakes the engine. Messages held already go first.
    const unacknowledged = (t.sentWindow[e] - t.ackedWindow[e]) >>> 0;
    const cost = messageBytes(bytes);
    if ((unacknowledged !== 0 && unacknowledged + cost > t.peerWindow[e]) || this.heldFor[e] !== undefined) {
      this.windowWaiting = true;
      return false;
    }
    const sequence = (t.sentSequence[e] + 1) >>> 0;
    if (!link.message(t.linkChannel[e], stamp.sourcePartition, sequence, stamp.k0, stamp.k1, stamp.k2, stamp.k3, src.u8, src.u32, payload, bytes)) return false;
    t.sentSequence[e] = sequence;
    t.sentWindow[e] = (t.sentWindow[e] + cost) >>> 0;
    this.sendLink = link;
    this.sendEntry = e;
    this.sendCredit = t.peerWindow[e] - unacknowledged - cost;
    return true;
  }

  /**
   * A SEND on an end whose peer closed first: as the peer would drop it (it arrives after its
   * CLOSE), it is taken and left unacknowledged (its sender hears ECLOSED for it with the END),
   * rather than blocking its queue pair until then or going out on a link it no longer belongs to.
   */
  private sentIntoClosedEnd(e: number, bytes: number): true {
    const t = this.table;
    t.sentSequence[e] = (t.sentSequence[e] + 1) >>> 0;
    t.sentWindow[e] = (t.sentWindow[e] + messageBytes(bytes)) >>> 0;
    this.sendEntry = NO_ENTRY;
    return true;
  }

  sendNext(e: number, src: RingConsumer, payload: number, bytes: number): boolean {
    const cost = messageBytes(bytes);
    // Only right behind send()'s message on the same entry (anything else would join another end's
    // frame), and within what send() left of the window (past it, send() decides).
    if (e !== this.sendEntry || cost > this.sendCredit || !this.sendLink!.next(src, payload, bytes)) return false;
    this.sendCredit -= cost;
    const t = this.table;
    t.sentSequence[e] = (t.sentSequence[e] + 1) >>> 0;
    t.sentWindow[e] = (t.sentWindow[e] + cost) >>> 0;
    return true;
  }

  waitsForWindow(e: number, bytes: number): boolean {
    if (this.heldFor[e] !== undefined) return true;
    const t = this.table;
    const link = this.linkOf[t.remoteNode[e]];
    // A congested link waits as a spent window does (THREATS case 111): its peer chooses how long
    // (a node that grants a large window and stops reading its socket keeps it congested for good),
    // so a SEND of it that has other work of its process behind it is held, and that work (a
    // channel to another node) goes on. The drain wakes the engine, whose round sends what is held.
    return link !== undefined && link.up && (link.isCongested || this.windowShut(e, messageBytes(bytes)));
  }

  /** Whether `cost` window bytes more of `e` would pass the window its peer granted (one message alone always fits). */
  private windowShut(e: number, cost: number): boolean {
    const t = this.table;
    const unacknowledged = (t.sentWindow[e] - t.ackedWindow[e]) >>> 0;
    return unacknowledged !== 0 && unacknowledged + cost > t.peerWindow[e];
  }

  hold(e: number, src: Uint8Array, payload: number, bytes: number): boolean {
    let k = this.heldFor[e];
    if (k === undefined) {
      const t = this.table;
      const counters = this.linkOf[t.remoteNode[e]]!.counters;
      k = new KeptMessages(e, t.linkId(e), this.heldLimitBytes, { kept: (b) => counters.held(b) });
      this.heldFor[e] = k;
      this.held.push(k);
    } else if (k.bytes + messageBytes(bytes) > this.heldLimitBytes) return false;
    k.push(src, payload, bytes);
    // The ACK that opens the window wakes the engine, whose round sends what is held.
    this.windowWaiting = true;
    return true;
  }

  closing(e: number): boolean {
    const k = this.heldFor[e];
    return k !== undefined && k.closeStatus >= 0;
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Whether the peer's CLOSE of end `e` arrived and waits behind messages kept here: the peer has ended it. */
  private peerClosedFirst(e: number): boolean {
    const k = this.keptFor[e];
    return k !== undefined && k.closeStatus >= 0;
  }

  closeAfterHeld(e: number, status: number): boolean {
    const k = this.heldFor[e];
    if (k === undefined) return false;
    k.closeStatus = status;
    // Nothing reads the end from now on (its queue pair may serve another process next): what was
    // kept for it goes, and what arrives for it is dropped (run()), unacknowledged; its peer learns
    // of it at the CLOSE, as of a closed end.
    this.dropKept(e);
    this.heldMovedAt[e] = now();
    this.closeDueIn(e, k, this.closeTimeoutMs);
    return true;
  }

  private closeDueIn(e: number, k: KeptMessages, ms: number): void {
    // Unref'd: a machine that closes does not wait for it.
    setTimeout(() => this.closeDue(e, k), ms).unref();
  }

  /**
   * A close waiting behind held messages (`k`, of end `e`): once none of them went for
   * closeTimeoutMs, they are dropped (its process, if it still runs, hears ENOBUFS for them) and
   * the close is done; the other node's reader learns ENOBUFS after what reached it, as a reader
   * that leaves a channel unread does on one node (case 44).
   */
  private closeDue(e: number, k: KeptMessages): void {
    // Sent since (or dropped as the end ended): the close is done already.
    if (this.heldFor[e] !== k) return;
    const idle = now() - this.heldMovedAt[e];
    if (idle < this.closeTimeoutMs) {
      this.closeDueIn(e, k, this.closeTimeoutMs - idle);
      return;
    }
    const status = this.dropHeld(e, Status.ENOBUFS);
    this.engine.finishClose(e, status, Status.ENOBUFS);
    this.engine.publishAll();
    this.wake();
  }

  closed(e: number, status: number): void {
    // An end that closes here with messages held (its partition went down): they go. (A close that
    // waited behind them took them off before it came here: finishClose.)
    this.dropHeld(e, status === Status.OK ? Status.ECLOSED : status);
    // The peer closed its end first: there is nobody to tell (and its link may be down since, or a new connection).
    const peerClosed = this.peerClosedFirst(e);
    // Nothing reads a closed end: what was kept for it goes (its sender hears ECLOSED for it, unacknowledged).
    this.dropKept(e);
    const t = this.table;
    const link = this.links.get(t.remoteNode[e]);
    if (peerClosed || link === undefined || !link.up) return;
    link.close(t.linkChannel[e], t.linkId(e), status, lateDataBytes(this.windowBytes), (t.sentSequence[e] - t.ackedSequence[e]) >>> 0);
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
    return (this.kept.length === 0 ? 0 : this.moveKept()) + (this.held.length === 0 ? 0 : this.sendHeld());
  }

  /** Send held messages onto their links as far as their windows and the links take them; returns the messages sent. */
  private sendHeld(): number {
    const held = this.held;
    let sent = 0;
    for (let i = 0; i < held.length; ) {
      const k = held[i];
      if (this.heldFor[k.entry] === k) sent += this.sendHeldOf(k);
      // Sent, or dropped when its end ended: it leaves the list.
      if (this.heldFor[k.entry] === k) i++;
      else {
        held[i] = held[held.length - 1];
        held.pop();
      }
    }
    // What the engine's next run of SENDs appends must open a frame of its own (send(), not sendNext()).
    this.sendEntry = NO_ENTRY;
    return sent;
  }

  /**
   * sendHeld() for one end: in order, up to a queue pair's budget a round. Once all of it went, the
   * end is no longer held, or a CLOSE its process made meanwhile is done now.
   */
  private sendHeldOf(k: KeptMessages): number {
    const t = this.table;
    const e = k.entry;
    // Its peer closed it (its CLOSE waits behind what was kept here): what is held goes nowhere, as send() says.
    if (this.peerClosedFirst(e)) {
      const n = k.count;
      let bytes = 0;
      while (k.count > 0) {
        bytes += k.firstBytes;
        this.sentIntoClosedEnd(e, k.firstBytes);
        k.shift();
      }
      if (n > 0) {
        this.counters.sent(t.partitionIndexOf(e), n, bytes);
        this.engine.channelCounters.sent(e, n, bytes);
      }
      this.heldFor[e] = undefined;
      if (k.closeStatus >= 0) this.engine.finishClose(e, k.closeStatus);
      else this.engine.releaseSenderHold(e);
      return n;
    }
    const link = this.linkOf[t.remoteNode[e]];
    // Every way the end ends drops what is held for it first: a link down has ended it too.
    if (link === undefined || !link.up) return 0;
    const budget = this.engine.budgetPerRound;
    // Stamped once something goes: a round finds most holds still waiting for their window.
    let stamp: Stamp | undefined;
    let n = 0;
    let bytes = 0;
    while (k.count > 0 && n < budget) {
      const size = k.firstBytes;
      const cost = messageBytes(size);
      if (this.windowShut(e, cost)) {
        this.windowWaiting = true;
        break;
      }
      const sequence = (t.sentSequence[e] + 1) >>> 0;
      stamp ??= this.engine.stampOf(e);
      if (!link.message(t.linkChannel[e], stamp.sourcePartition, sequence, stamp.k0, stamp.k1, stamp.k2, stamp.k3, k.bytes8, k.words32, k.firstAt, size)) break;
      t.sentSequence[e] = sequence;
      t.sentWindow[e] = (t.sentWindow[e] + cost) >>> 0;
      k.shift();
      n++;
      bytes += size;
    }
    if (n > 0) {
      this.counters.sent(t.partitionIndexOf(e), n, bytes);
      this.engine.channelCounters.sent(e, n, bytes);
      this.heldMovedAt[e] = now();
    }
    if (k.count === 0) {
      this.heldFor[e] = undefined;
      if (k.closeStatus >= 0) this.engine.finishClose(e, k.closeStatus);
      else this.engine.releaseSenderHold(e);
    }
    return n;
  }

  /**
   * Entry `e` ends: what is held for it goes unsent, counted as send errors of its partition, and
   * its process, if it still runs, hears `status` for it in one completion. Returns the status of
   * a close that waited behind them, or -1 (its caller finishes it once the end is ended).
   */
  private dropHeld(e: number, status: number): number {
    const k = this.heldFor[e];
    if (k === undefined) return -1;
    this.heldFor[e] = undefined;
    const n = k.count;
    // Counted on its partition even when its process is gone (as Engine.dropKept does); answered only
    // to that process. Counted before clear() lowers the link's heldBytes: whoever sees that gauge
    // fall (stats() is a plain read) finds them in sendErrors already.
    this.counters.sendError(this.table.partitionIndexOf(e), n);
    k.clear();
    const qp = this.engine.ownerOf(e);
    if (qp !== undefined) this.engine.complete(qp, status, RecordType.SEND, this.table.handle(e), n);
    // The hold ends with the end (its held word goes back to 0 with its state): the caller wakes a
    // write() waiting on it once the end is ended, so that it fails rather than sends.
    return k.closeStatus;
  }

  /**
   * Move kept messages into their receive rings as far as there is room; returns the messages
   * moved. Each channel moves at most a queue pair's budget per round, from a start that rotates,
   * so neither another kept channel nor the ring's local senders wait behind one that keeps refilling.
   */
  private moveKept(): number {
    let moved = 0;
    const kept = this.kept;
    const n = kept.length;
    const start = this.nextKept < n ? this.nextKept : 0;
    this.nextKept = start + 1;
    for (let j = 0; j < n; j++) {
      const k = kept[(start + j) % n];
      if (this.keptFor[k.entry] === k) moved += this.moveInto(k);
    }
    // Channels whose kept messages are all in their rings (or dropped) leave the list.
    for (let i = 0; i < kept.length; ) {
      if (this.keptFor[kept[i].entry] === kept[i]) i++;
      else {
        kept[i] = kept[kept.length - 1];
        kept.pop();
      }
    }
    if (moved > 0) this.processed();
    return moved;
  }

  /** moveKept() for one channel; its kept messages leave keptFor once all are in the ring (or dropped). */
  private moveInto(k: KeptMessages): number {
    const t = this.table;
    const d = k.entry;
    if (t.linkId(d) !== k.linkId || t.state[d] !== ConnectionState.OPEN) {
      this.dropKept(d);
      return 0;
    }
    // The ring was full and its reader has not rung since: nothing more fits yet (it rings once it
    // frees space). Looked at before anything else: a channel left unread costs a round this much.
    const qp = this.engine.queuePairOf(d);
    if (qp !== undefined && qp.state === QueuePairState.ACTIVE && qp.receive.stillWaitingForSpace) return 0;
    const link = this.linkOf[t.remoteNode[d]]!;
    this.lookUpRun(d);
    // What moves is counted as the reader's stretch is (runEntry is `d` now), so a fault of the
    // ring in the middle (faulted() → endHere) books it, acknowledged, before the CLOSE.
    let n = 0;
    const budget = this.engine.budgetPerRound;
    while (k.count > 0 && n < budget) {
      const bytes = k.firstBytes;
      const tracer = this.engine.tracer;
      const r =
        tracer === undefined
          ? this.engine.deliverFromLink(qp, this.runHandle, k.bytes8, k.words32, k.firstAt, bytes)
          : this.deliverTraced(tracer, link, d, qp, k.bytes8, k.words32, k.firstAt, bytes);
      if (r !== DONE) {
        // GONE: the owner's queue pair stopped (faulted): the channel cannot go on.
        if (r === GONE) this.lost(link, d);
        this.delivered(link, d);
        return n;
      }
      n++;
      this.ringMessages++;
      this.ringPayload += bytes;
      this.ringWindow += messageBytes(bytes);
      k.shift();
    }
    this.delivered(link, d);
    if (k.count === 0) {
      this.keptFor[d] = undefined;
      // moveKept() takes it off its list before anything could reuse it.
      if (this.spareKept.length < SPARE_KEPT && k.capacity <= FIRST_KEPT_BYTES) this.spareKept.push(k);
      // The peer's CLOSE waited behind these messages: it ends the channel now, after them.
      if (k.closeStatus >= 0) this.peerClosed(d, k.closeStatus);
    }
    return n;
  }

  private dropKept(e: number): void {
    const k = this.keptFor[e];
    if (k === undefined) return;
    this.keptFor[e] = undefined;
    k.clear();
  }

  flush(): void {
    for (const link of this.all) if (link.up) link.flush();
  }

  // ── receive side (frames from `link`) ─────────────────────────────────────

  /**
   * Claim 10's receive stage for a run of messages (one DATA frame): the run's stamp and its first
   * message's sequence (after what is kept for the channel) against this node's own entry. The
   * entry its messages go to, or NO_RUN (counted). The run's messages are numbered on from
   * `sequence` and carry no stamp of their own, so this check covers each of them; message()
   * keeps the numbering.
   */
  run(link: NodeLink, channel: number, sourcePartition: number, sequence: number, k0: number, k1: number, k2: number, k3: number, runBytes = 0): number {
    const t = this.table;
    const d = t.entryOfLinkId(channel);
    if (d === NO_ENTRY || t.state[d] !== ConnectionState.OPEN) {
      if (!link.excusesLate(channel, LATE_DATA, runBytes)) link.counters.violation('unknownChannel');
      return NO_RUN;
    }
    if (t.remoteNode[d] !== link.node || t.remotePartition[d] !== sourcePartition) {
      link.counters.violation('wrongSource');
      return NO_RUN;
    }
    // Closed here behind messages held for its window: what arrives for it is dropped, as for a closed end.
    if (this.closing(d)) return NO_RUN;
    const k = this.keptFor[d];
    // The peer closed its end (its CLOSE waits behind what was kept): nothing it sends now is of that channel.
    if (k !== undefined && k.closeStatus >= 0) {
      link.counters.violation('unknownChannel');
      return NO_RUN;
    }
    // Messages kept for a full ring come before this run: it goes on after them.
    if (sequence !== ((t.receivedSequence[d] + (k === undefined ? 0 : k.count) + 1) >>> 0)) {
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

  /**
   * `port`'s partition went down (Engine.forgetPort): the last run's queue pair, if it is one of
   * that run's, is let go of. It holds its port, every ring of the run (~4 MiB at the default
   * geometry): kept, a run that was sent a message from another node and then crashed stayed
   * reachable after its restart until the next DATA run from any link (THREATS case 130). Looked up
   * again by the next run (runEntry no entry); a run does not span a partition's end (both happen on
   * this thread, a frame's runs at once).
   */
  forgetPort(port: PartitionPort): void {
    if (this.runQueuePair?.port !== port) return;
    this.runQueuePair = undefined;
    this.runEntry = NO_ENTRY;
  }

  private lookUpRun(d: number): void {
    const t = this.table;
    this.runEntry = d;
    this.runQueuePair = this.engine.queuePairOf(d);
    this.runHandle = t.handle(d);
    this.runPartition = t.partitionIndexOf(d);
    this.runLinkChannel = t.linkChannel[d];
    this.runMaxMessage = channelMessageLimit(this.engine.maxMessageBytes, t.peerMaxMessage[d]);
  }

  /**
   * The next message of a run that run() verified into entry `d`: into its owner's receive ring,
   * or kept aside when the ring is full or messages are kept for `d` already (they go first).
   */
  message(link: NodeLink, d: number, buf: Uint8Array, words: Uint32Array, at: number, bytes: number): number {
    // Over the limit the other node stated for the channel (the reader already checked this
    // node's): a message an honest node never sends, dropped with the rest of the run as a lying
    // length would be, so that a receive buffer of the channel's maxMessageBytes always fits.
    if (bytes > this.runMaxMessage) {
      link.counters.violation('badLength');
      return DROPPED;
    }
    // run() looked the run's entry up (runEntry is `d`), and nothing between its messages looks up another.
    // Messages kept for `d` already go first: this one joins them.
    const tracer = this.engine.tracer;
    const r =
      this.keptFor[d] !== undefined
        ? BLOCKED
        : tracer === undefined
          ? this.engine.deliverFromLink(this.runQueuePair, this.runHandle, buf, words, at, bytes)
          : this.deliverTraced(tracer, link, d, this.runQueuePair, buf, words, at, bytes);
    if (r === DONE) {
      this.ringMessages++;
      this.ringPayload += bytes;
      this.ringWindow += messageBytes(bytes);
      return DELIVERED;
    }
    return r === GONE ? this.lost(link, d) : this.keep(link, d, buf, at, bytes);
  }

  /**
   * deliverFromLink() (on the run's handle, runHandle: `d`'s) numbering `d`'s messages from the
   * link and timing every sampled one; one that does not go into the ring now keeps its number
   * for when it does.
   */
  private deliverTraced(tracer: HardwareTrace, link: NodeLink, d: number, qp: HardwareQueuePair | undefined, buf: Uint8Array, words: Uint32Array, at: number, bytes: number): number {
    const handle = this.runHandle;
    const n = tracer.nextFromLink(d, handle);
    const sampled = tracer.isSampled(n);
    const began = sampled ? tracer.now() : 0;
    const r = this.engine.deliverFromLink(qp, handle, buf, words, at, bytes);
    if (r !== DONE) return r;
    tracer.tookFromLink(d, handle, n);
    if (sampled) tracer.linkDelivered(link.node, this.runPartition, handle, n, began, tracer.now());
    return r;
  }

  /** Keep a message for `d`'s full ring, within the channel's window; a peer past the window loses the channel. */
  private keep(link: NodeLink, d: number, buf: Uint8Array, at: number, bytes: number): number {
    let k = this.keptFor[d];
    if (k === undefined) {
      k = this.spareKept.pop()?.reuse(d, this.table.linkId(d), link.counters) ?? new KeptMessages(d, this.table.linkId(d), this.windowBytes, link.counters);
      this.keptFor[d] = k;
      this.kept.push(k);
    } else if (k.bytes + messageBytes(bytes) > this.windowBytes) {
      // The peer put more of the channel on the wire than the window granted (an honest node never does).
      link.counters.violation('window');
      this.endHere(link, d, Status.ENOBUFS);
      return DROPPED;
    }
    k.push(buf, at, bytes);
    return DELIVERED;
  }

  faulted(qp: HardwareQueuePair): void {
    const t = this.table;
    const port = qp.port.index;
    for (let slot = 0; slot < t.slotsPerPartition; slot++) {
      const e = t.entry(port, slot);
      // Not an end a process before this one left closing behind held messages (THREATS case 52):
      // a fault of its successor does not end it.
      if (t.state[e] !== ConnectionState.OPEN || t.remoteNode[e] === 0 || t.ownerQueuePair[e] !== qp.index || t.ownerProcess[e] !== qp.process) continue;
      const link = this.linkOf[t.remoteNode[e]];
      if (link !== undefined) this.endHere(link, e, Status.EFAULT);
    }
  }

  /** Entry `d`'s owner can receive nothing more (its queue pair faulted): the channel ends on both nodes with EFAULT. */
  private lost(link: NodeLink, d: number): typeof DROPPED {
    this.endHere(link, d, Status.EFAULT);
    return DROPPED;
  }

  /**
   * End the open remote channel `d` from this side with `status`, on both nodes: what this stretch
   * of the run put into the ring is booked first (its ACK goes out before the CLOSE), what was kept
   * for it is dropped, the peer gets a CLOSE, this end's unacknowledged sends fail and its owner an
   * END, both with `status`. The engine is woken: a SEND of the channel that waited for its window
   * now gets its answer, and the SENDs behind it go on.
   */
  private endHere(link: NodeLink, d: number, status: number): void {
    if (this.table.state[d] !== ConnectionState.OPEN) return;
    // Only the reader's current stretch has messages put into the ring and not booked, and only for its entry.
    if (d === this.runEntry) this.delivered(link, d);
    // The peer closed its end first (its CLOSE waited behind what was kept here, THREATS case 58):
    // there is nobody to tell, and its link may have gone down and come back since: a CLOSE naming
    // the old channel's ids must not go out on a new connection of that node.
    const peerClosed = this.peerClosedFirst(d);
    // Read before failUnacknowledged() counts them acknowledged: the peer may still acknowledge them before it reads the CLOSE.
    const unacknowledged = (this.table.sentSequence[d] - this.table.ackedSequence[d]) >>> 0;
    this.dropKept(d);
    const closing = this.dropHeld(d, status);
    this.failUnacknowledged(d, status);
    this.processed();
    const t = this.table;
    const channel = t.linkChannel[d];
    const id = t.linkId(d);
    // Ended here first: writing the CLOSE may take the link down (a peer that reads nothing,
    // THREATS case 41), and the link's end must find this channel ended already, not end it twice.
    // An end whose close waited behind held messages is closed now, with no END.
    if (closing >= 0) this.engine.endClosing(d, closing);
    else this.engine.endByPeer(d, status);
    this.engine.releaseSenderHold(d);
    if (!peerClosed) link.close(channel, id, status, lateDataBytes(this.windowBytes), unacknowledged);
    this.engine.publishAll();
    this.wake();
  }

  /**
   * The reader ends a stretch of the run verified into entry `d` (up to a drop or the frame's
   * end): what message() put into the ring is booked — the sequence and window move on, the ACK
   * owed for the channel with them, and the counters. Once per stretch, not per message; what was
   * kept is booked when it reaches the ring.
   */
  delivered(link: NodeLink, d: number): void {
    const messages = this.ringMessages;
    if (messages === 0) return;
    if (d !== this.runEntry) this.lookUpRun(d);
    const t = this.table;
    const sequence = (t.receivedSequence[d] + messages) >>> 0;
    t.receivedSequence[d] = sequence;
    const received = (t.receivedWindow[d] + this.ringWindow) >>> 0;
    t.receivedWindow[d] = received;
    // A peer that closed its end needs no ACK (and after its link went down, there is nobody to send it to).
    if (!this.peerClosedFirst(d)) link.owe(this.runLinkChannel, sequence, received);
    const p = this.runPartition;
    this.deliveredMessages[p] += messages;
    this.deliveredBytes[p] += this.ringPayload;
    this.engine.channelCounters.delivered(d, messages, this.ringPayload);
    link.uncounted += messages;
    this.ringMessages = this.ringPayload = this.ringWindow = 0;
  }

  /** The peer delivered our channel `channel` up to `sequence`, and `window` window bytes of it in all. */
  ack(link: NodeLink, channel: number, sequence: number, window: number): void {
    const t = this.table;
    const e = t.entryOfLinkId(channel);
    if (e === NO_ENTRY || t.remoteNode[e] !== link.node || t.state[e] === ConnectionState.FREE) {
      if (!link.excusesLate(channel, LATE_ACKS, 1)) link.counters.violation('unknownChannel');
      return;
    }
    // An end still connecting has sent nothing the peer could acknowledge (and its entry may still
    // hold a closed channel's counts: they are set only when it opens).
    if (t.state[e] === CONNECTING) {
      link.counters.violation('sequence');
      return;
    }
    // Ended (not closed yet by its process), or closed by the peer behind kept messages: no channel
    // left to acknowledge. An honest peer acknowledges nothing after its own CLOSE (its ACKs go out
    // before it) nor on a new connection; after this node's CLOSE (endHere), only the sends it had
    // not acknowledged, which NodeLink.excusesLate holds as for a closed end. Returning here
    // unconditionally took any number of ACK entries, uncounted, for as long as the end waited for
    // its process to close it (THREATS case 125).
    if (t.state[e] !== ConnectionState.OPEN || this.peerClosedFirst(e)) {
      if (!link.excusesLate(channel, LATE_ACKS, 1)) link.counters.violation('unknownChannel');
      return;
    }
    // Only forward, and never past what was sent; the window moves with the sequence (every message counts at least 8).
    const ahead = (sequence - t.ackedSequence[e]) >>> 0;
    const aheadWindow = (window - t.ackedWindow[e]) >>> 0;
    if (ahead === 0 && aheadWindow === 0) return;
    if (ahead === 0 || aheadWindow === 0 || ahead > ((t.sentSequence[e] - t.ackedSequence[e]) >>> 0) || aheadWindow > ((t.sentWindow[e] - t.ackedWindow[e]) >>> 0)) {
      link.counters.violation('sequence');
      return;
    }
    t.ackedSequence[e] = sequence;
    t.ackedWindow[e] = window;
    if (this.windowWaiting) {
      this.windowWaiting = false;
      this.wake();
    }
  }

  /** The peer's end `senderChannel` of our channel `channel` closed (status OK) or its process or partition ended. */
  close(link: NodeLink, channel: number, senderChannel: number, status: number): void {
    const t = this.table;
    const e = t.entryOfLinkId(channel);
    if (e === NO_ENTRY || t.remoteNode[e] !== link.node || t.linkChannel[e] !== senderChannel) {
      if (!link.excusesLate(channel, LATE_CLOSES, 1)) link.counters.violation('unknownChannel');
      return;
    }
    const k = this.keptFor[e];
    // Ended already, or its CLOSE already waits behind kept messages: a CLOSE naming it is excused
    // only as the one that crossed this node's (NodeLink.excusesLate), as for a closed end; a
    // second one of the peer's, or one on a new connection, is counted (THREATS case 125).
    if (t.state[e] !== ConnectionState.OPEN || (k !== undefined && k.closeStatus >= 0)) {
      if (!link.excusesLate(channel, LATE_CLOSES, 1)) link.counters.violation('unknownChannel');
      return;
    }
    // Messages kept for a full ring were sent before the CLOSE: it waits behind them.
    if (k === undefined) this.peerClosed(e, status);
    else k.closeStatus = status;
  }

  /** The peer's end of `e` closed with `status`, and everything it sent before is in the ring. */
  private peerClosed(e: number, status: number): void {
    // What the peer had not delivered when it closed never will be, nor what was held here for its
    // window: the sender hears so, with ECLOSED.
    const closing = this.dropHeld(e, Status.ECLOSED);
    this.failUnacknowledged(e, Status.ECLOSED);
    // The END's publish shows this input's earlier messages too: count them first.
    this.processed();
    // A sender that gave up on a reader that read nothing (closeDue) says ENOBUFS; anything else but OK reads as its end.
    if (closing >= 0) this.engine.endClosing(e, closing);
    else this.engine.endByPeer(e, status === Status.OK || status === Status.ENOBUFS ? status : Status.EPEERDEAD);
    this.engine.releaseSenderHold(e);
    this.engine.publishAll();
    // A SEND of this channel waiting for its window gets its answer now, and those behind it go on.
    this.wake();
  }

  /** The link to `node` went down: every channel over it ends with ELINKDOWN; what it had not acknowledged fails with ELINKDOWN. */
  linkDown(link: NodeLink): void {
    this.processed();
    const t = this.table;
    for (let e = 0; e < t.state.length; e++) {
      if (t.remoteNode[e] !== link.node || t.state[e] !== ConnectionState.OPEN) continue;
      // Its peer closed it before the link went down (a node that closes writes its CLOSEs, then
      // ends the socket): what it sent is all here, and the channel ends as its CLOSE says, after
      // the messages kept for it (moveInto).
      if (this.peerClosedFirst(e)) continue;
      // Kept messages were never acknowledged: their sender counts them unacknowledged (ELINKDOWN).
      this.dropKept(e);
      // Held ones never went: their sender hears ELINKDOWN for them too, in a completion of their own.
      const closing = this.dropHeld(e, Status.ELINKDOWN);
      link.counters.unacknowledged(this.failUnacknowledged(e, Status.ELINKDOWN));
      if (closing >= 0) this.engine.endClosing(e, closing);
      else this.engine.endByPeer(e, Status.ELINKDOWN);
      this.engine.releaseSenderHold(e);
    }
    this.engine.publishAll();
  }

  /** One error completion for the sends of entry `e` not acknowledged yet, with their count; returns the count. */
  private failUnacknowledged(e: number, status: number): number {
    const t = this.table;
    const count = (t.sentSequence[e] - t.ackedSequence[e]) >>> 0;
    if (count === 0) return 0;
    t.ackedSequence[e] = t.sentSequence[e];
    t.ackedWindow[e] = t.sentWindow[e];
    this.counters.sendError(t.partitionIndexOf(e), count);
    const qp = this.engine.queuePairOf(e);
    // Answered only to the process that sent them: an end closing behind held messages outlives
    // its process, and its queue pair may serve another by now (THREATS case 52).
    if (qp !== undefined && qp.process === t.ownerProcess[e]) this.engine.complete(qp, status, RecordType.SEND, t.handle(e), count);
    return count;
  }
}
