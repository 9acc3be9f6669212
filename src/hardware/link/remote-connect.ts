/**
 * Claim 1 across nodes. Send side: this node's hardware allocates its end,
 * makes the key (KeyTable.generate, in this worker) and sends it with both
 * partition ids and its channel id in a CONNECT; the end stays CONNECTING
 * until the answer. Receive side: the other node's hardware runs the same
 * checks as for a local connect (ConnectionManager.receiveSideAccept: the
 * partition exists, its own policy allows the node-qualified pair, someone
 * listens), stores the key in its own table and answers CONNECT_OK or
 * CONNECT_REFUSED. The key crosses only inside TLS, and never enters a port.
 * A connect the other node does not answer within `answerTimeoutMs` fails
 * with ETIMEDOUT (THREATS case 49); a late CONNECT_OK is closed at once.
 */
import { CONNECTING, NO_ENTRY, type ChannelStateTable } from '../channel-state-table.js';
import type { ConnectionManager, RemoteConnector } from '../connection-manager.js';
import type { KeyTable } from '../key-table.js';
import type { PartitionPort } from '../partition-port.js';
import { lateDataBytes, type NodeLink } from './node-link.js';
import { isService, type ChannelGrant, type ControlFailure, type ControlResult } from '../../shared/control-contract.js';
import { Status, statusName, type ChannelErrorCode } from '../../shared/errors.js';
import { ConnectionState } from '../../shared/layout.js';
import { channelMessageLimit, ConnectFrame, isStatedMessageLimit, MAX_GRANTED_WINDOW_BYTES, MAX_STATED_MESSAGE_BYTES, MIN_CHANNEL_WINDOW_BYTES } from '../../shared/link-frames.js';

/** Connects this node waits on the other node to answer, at most, per link (a peer that never answers cannot grow it further). */
const MAX_PENDING_PER_LINK = 1024;
/**
 * Connects one partition may have waiting per link, at most: its channel slots, and never more than
 * a quarter of the link's. Counted by the waiting connects themselves, not by the slots their ends
 * hold: a partition may free the slot of a CONNECTING end (its process's CLOSE on the predictable
 * handle, its process's end, the partition's end) while the connect still waits for the answer, and one that
 * did so over and over took every place of the link from the others (THREATS case 57).
 */
const MAX_PENDING_PER_PARTITION_PER_LINK = MAX_PENDING_PER_LINK / 4;
/**
 * Connects given up on (ETIMEDOUT) whose answer may still come, remembered at most per link (the
 * newest): a node that never answers cannot push out what is remembered for a slow one.
 */
const MAX_GIVEN_UP_PER_LINK = 1024;

/**
 * What a node's accepting side refuses a channel with (RemoteConnect.accept, then
 * ConnectionManager.receiveSideAccept). Any other status would be the peer's word about this
 * node (EHWRESET: its hardware stopped; EFAULT; ELINKDOWN while the link is up, which connect's
 * retry waits out), handed to a program as if it were true (THREATS case 72).
 */
const REFUSALS: ReadonlySet<number> = new Set([Status.EPOLICY, Status.ECONNREFUSED, Status.EMFILE, Status.EINVAL]);

interface PendingConnect {
  node: number;
  entry: number;
  /** The entry's link id when the CONNECT left: if it changed, the process gave up and the entry was reused. */
  linkId: number;
  /**
   * The connecting partition, by index and id, not its port: a run that ended (a crash, then the
   * operator's restart) must not be held for as long as the connect waits (THREATS case 108). An
   * answer that opens the channel writes to the port that holds the partition now, which is that
   * run's: a run that ended freed its ends, and their link ids changed.
   */
  partitionIndex: number;
  sourcePartition: number;
  queuePair: number;
  process: number;
  partition: number;
  timer: ReturnType<typeof setTimeout>;
  /** Answers the partition's control call; `nobodyAsks` once the run that made it has ended (partitionDown). */
  resolve: (r: ControlResult<ChannelGrant>) => void;
}

/** The answer of a connect whose run has ended: it was answered already, and nothing reads another. */
const nobodyAsks = (): void => {};

/** A window a node may grant (grantedWindow() of what node.channelWindowBytes accepts). */
function isWindow(window: number): boolean {
  return window >= MIN_CHANNEL_WINDOW_BYTES && window <= MAX_GRANTED_WINDOW_BYTES;
}

/** `todo`: what to do, where the code's usual advice does not fit (EAGAIN's is about a full send ring). */
function fail(code: ChannelErrorCode, message: string, todo?: string): ControlFailure {
  return todo === undefined ? { ok: false, code, message } : { ok: false, code, message, todo };
}

/** What a connect refused for the connects already waiting on a node's answers is to do. */
const ANSWERS_AWAITED = 'retry once that node has answered some of them (each waits at most 10 × deadAfterMs for its answer)';

export class RemoteConnect implements RemoteConnector {
  private readonly pending = new Map<number, PendingConnect>();
  /**
   * Connects that timed out, per node: request → the link id their CONNECT named as ours. An
   * answer that comes later opens nothing here; a CONNECT_OK is closed with that id.
   */
  private readonly givenUp = new Map<number, Map<number, number>>();
  private nextRequest = 1;

  constructor(
    private readonly manager: ConnectionManager,
    private readonly table: ChannelStateTable,
    private readonly keys: KeyTable,
    private readonly links: ReadonlyMap<number, NodeLink>,
    private readonly kick: () => void,
    private readonly bounds: {
      /** How long a connect waits for the other node's answer. */
      answerTimeoutMs: number;
      /** This node's maxMessageBytes, stated in its CONNECTs and CONNECT_OKs. */
      maxMessageBytes: number;
      /** The window this node grants each channel (grantedWindow() of its options). */
      windowBytes: number;
    },
  ) {}

  // ── send side ─────────────────────────────────────────────────────────────

  connect(port: PartitionPort, qp: number, node: number, partitionId: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>> {
    const bad = this.manager.checkConnect(port, qp, partitionId, service);
    if (bad) return fail('EINVAL', bad);
    const link = this.links.get(node);
    if (link === undefined) return fail('EINVAL', `node ${node} is not one of this node's peers; add it to node.peers in createMachine`);
    if (!link.up) return fail('ELINKDOWN', `the link to node ${node} is not up`);
    if (!this.manager.policy.allowsRemote(port.id, node, partitionId)) {
      return fail('EPOLICY', `partition ${port.id} and partition ${partitionId} of node ${node} may not connect`);
    }
    let waiting = 0;
    let ours = 0;
    for (const p of this.pending.values()) {
      if (p.node !== node) continue;
      waiting++;
      // By partition id: a run of the partition that ended left its connects waiting too.
      if (p.sourcePartition === port.id) ours++;
    }
    if (waiting >= MAX_PENDING_PER_LINK) return fail('EAGAIN', `already ${MAX_PENDING_PER_LINK} connects to node ${node} wait for its answer`, ANSWERS_AWAITED);
    const t = this.table;
    const e = t.allocate(port.index);
    if (e === NO_ENTRY) return this.manager.noSlot(port);
    // After the slot (allocate() only looks): a partition whose slots all wait on connects still hears EMFILE.
    const perPartition = Math.min(t.slotsPerPartition, MAX_PENDING_PER_PARTITION_PER_LINK);
    if (ours >= perPartition) {
      return fail('EAGAIN', `partition ${port.id} already has ${ours} connects to node ${node} waiting for its answer (at most ${perPartition}, those whose ends were closed included)`, ANSWERS_AWAITED);
    }
    this.keys.generate(e);
    const process = port.queuePairs[qp].process;
    t.state[e] = CONNECTING;
    t.ownerQueuePair[e] = qp;
    t.ownerProcess[e] = process;
    t.localPartition[e] = port.id;
    t.remoteNode[e] = node;
    const request = this.nextRequest;
    this.nextRequest = (this.nextRequest + 1) >>> 0 || 1;
    const linkId = t.linkId(e);
    // Read here, outside the closures below: one that named `port` would keep the run's port in
    // their context for as long as the connect waits (THREATS case 108).
    const partitionIndex = port.index;
    const sourcePartition = port.id;
    link.connect({
      request,
      key: [this.keys.word(e, 0), this.keys.word(e, 1), this.keys.word(e, 2), this.keys.word(e, 3)],
      sourcePartition,
      sourceProcess: process,
      destinationPartition: partitionId,
      destinationService: service,
      sourceChannel: linkId,
      window: this.bounds.windowBytes,
      maxMessage: this.bounds.maxMessageBytes,
    });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.timedOut(request), this.bounds.answerTimeoutMs);
      this.pending.set(request, { node, entry: e, linkId, partitionIndex, sourcePartition, queuePair: qp, process, partition: partitionId, timer, resolve });
    });
  }

  /**
   * A run of partition `partitionIndex` ended (a crash, a stop, a restart): its connects still
   * waiting are answered now, and let go of the call. The control call's answer holds that run's
   * control endpoint and its port (comlink's reaction to it keeps what it exposed), ~4 MiB of rings
   * at the default geometry, outside the heap limit, for as long as the connect waited: up to the
   * answer bound (10 × deadAfterMs, up to 100 minutes). A partition that crashed in a loop under an
   * operator that restarts it, connecting in each run to a node that did not answer, left one old
   * port per run, up to its waiting connects' bound per link (THREATS case 108). Each stays waiting
   * all the same, counted as its partition's (an answer still closes the channel it opened), but
   * holds nothing of the run.
   */
  partitionDown(partitionIndex: number): void {
    for (const p of this.pending.values()) {
      if (p.partitionIndex !== partitionIndex) continue;
      const answer = p.resolve;
      p.resolve = nobodyAsks;
      answer(fail('ECLOSED', `the run of partition ${p.sourcePartition} that connected to partition ${p.partition} of node ${p.node} ended before that node answered`));
    }
  }

  /** The other node kept the link up and did not answer (THREATS case 49): the connect fails, its slot is freed. */
  private timedOut(request: number): void {
    if (!this.pending.has(request)) return;
    // Timers run before the event loop reads sockets: the answer may be waiting there (a thread
    // that did not get a core for a while). Let it be read first, as the link's silence check does.
    setImmediate(() => this.giveUp(request));
  }

  private giveUp(request: number): void {
    const p = this.pending.get(request);
    if (p === undefined) return;
    this.pending.delete(request);
    this.abandon(p);
    let given = this.givenUp.get(p.node);
    if (given === undefined) this.givenUp.set(p.node, (given = new Map()));
    if (given.size >= MAX_GIVEN_UP_PER_LINK) given.delete(given.keys().next().value!);
    given.set(request, p.linkId);
    p.resolve(fail('ETIMEDOUT', `node ${p.node} did not answer the connect to partition ${p.partition} within ${this.bounds.answerTimeoutMs} ms`));
  }

  /**
   * The other node opened the channel: its end is `channel`, owned by its process `process`; it
   * grants `window` and takes messages up to `maxMessage`; `reserved` must be zero.
   */
  connectOk(link: NodeLink, request: number, channel: number, process: number, window: number, maxMessage: number, reserved: number): void {
    const late = this.lateAnswer(link, request);
    if (late !== undefined) {
      // This node gave up waiting: the channel the other node opened closes at once, cleanly.
      link.close(channel, late, Status.OK, lateDataBytes(this.bounds.windowBytes), 0);
      return;
    }
    const p = this.answered(link, request);
    if (p === undefined) return;
    const t = this.table;
    const e = p.entry;
    if (!isWindow(window) || !isStatedMessageLimit(maxMessage) || reserved !== 0) {
      // A window no node may grant, or a message limit no node has: the answer is a bad frame, and the channel it opened closes.
      link.counters.violation('badFrame');
      link.close(channel, p.linkId, Status.EINVAL, lateDataBytes(this.bounds.windowBytes), 0);
      this.abandon(p);
      const what = !isWindow(window)
        ? `a window of ${window} bytes (a node grants ${MIN_CHANNEL_WINDOW_BYTES} to ${MAX_GRANTED_WINDOW_BYTES})`
        : !isStatedMessageLimit(maxMessage)
          ? `a maxMessageBytes of ${maxMessage} (a node's is 1 to ${MAX_STATED_MESSAGE_BYTES})`
          : 'a reserved word that is not zero';
      p.resolve(fail('EINVAL', `node ${link.node} answered the connect with ${what}`));
      return;
    }
    if (t.linkId(e) !== p.linkId || t.state[e] !== CONNECTING) {
      // Our process ended while it waited: the other end must not stay open.
      link.close(channel, p.linkId, Status.EPEERDEAD, lateDataBytes(this.bounds.windowBytes), 0);
      // And the call is answered all the same: the connect was taken off `pending` above, so
      // nothing else ever would, and a partition's call left unanswered stays in its heap for good
      // (its OS's race, comlink's listener, the ended process behind them): a node that answered
      // each connect of a process that had ended grew the partition ~5.8 KB a connect (THREATS case 107).
      p.resolve(fail('ECLOSED', `the end of the connect to partition ${p.partition} of node ${link.node} was closed (its process ended) before that node answered; the channel it opened was closed`));
      return;
    }
    t.openRemote(e, p.sourcePartition, p.queuePair, p.process, link.node, p.partition, process, channel, window, maxMessage);
    this.manager.portAt(p.partitionIndex).writeConnection(t.slotOf(e), t.handle(e), p.process, p.partition, process, ConnectionState.OPEN, link.node);
    this.kick();
    const maxMessageBytes = channelMessageLimit(this.bounds.maxMessageBytes, maxMessage);
    p.resolve({ ok: true, handle: t.handle(e), remoteNode: link.node, remotePartition: p.partition, remoteProcess: process, maxMessageBytes });
  }

  connectRefused(link: NodeLink, request: number, status: number): void {
    if (this.lateAnswer(link, request) !== undefined) return;
    const p = this.answered(link, request);
    if (p === undefined) return;
    this.abandon(p);
    if (!REFUSALS.has(status)) {
      link.counters.violation('badFrame');
      const name = statusName(status);
      p.resolve(
        fail(
          'EINVAL',
          `node ${link.node} refused the channel to partition ${p.partition} with ${name === undefined ? `status ${status}` : name}, which a node never refuses a channel with: that node does not follow the protocol (check it)`,
        ),
      );
      return;
    }
    p.resolve(fail(statusName(status) as ChannelErrorCode, `node ${link.node} refused the channel to port of partition ${p.partition}`));
  }

  /** The link went down: connects waiting on it fail with ELINKDOWN. */
  linkDown(link: NodeLink): void {
    for (const [request, p] of this.pending) {
      if (p.node !== link.node) continue;
      this.pending.delete(request);
      clearTimeout(p.timer);
      this.abandon(p);
      p.resolve(fail('ELINKDOWN', `the link to node ${link.node} went down before it answered`));
    }
    this.givenUp.delete(link.node);
  }

  /** The link id of a connect this node gave up on (ETIMEDOUT), answered late by the node it asked; forgotten now. */
  private lateAnswer(link: NodeLink, request: number): number | undefined {
    const given = this.givenUp.get(link.node);
    const linkId = given?.get(request);
    if (linkId !== undefined) given!.delete(request);
    return linkId;
  }

  private answered(link: NodeLink, request: number): PendingConnect | undefined {
    const p = this.pending.get(request);
    if (p === undefined || p.node !== link.node) {
      link.counters.violation('badFrame'); // an answer to nothing this node asked
      return undefined;
    }
    this.pending.delete(request);
    clearTimeout(p.timer);
    return p;
  }

  /** Free a CONNECTING end that will not open (if it is still the one the request made). */
  private abandon(p: PendingConnect): void {
    const t = this.table;
    if (t.linkId(p.entry) !== p.linkId || t.state[p.entry] !== CONNECTING) return;
    this.keys.zero(p.entry);
    t.release(p.entry);
  }

  // ── receive side ──────────────────────────────────────────────────────────

  /** A CONNECT from `link`'s node: check, store the key, answer. */
  accept(link: NodeLink, v: DataView, at: number): void {
    const request = v.getUint32(at + ConnectFrame.REQUEST_OFFSET, true);
    const sourcePartition = v.getUint32(at + ConnectFrame.SOURCE_PARTITION_OFFSET, true);
    const destinationPartition = v.getUint32(at + ConnectFrame.DESTINATION_PARTITION_OFFSET, true);
    const service = v.getUint32(at + ConnectFrame.DESTINATION_SERVICE_OFFSET, true);
    if (
      sourcePartition < 1 ||
      sourcePartition > 0xffff ||
      !isService(service) ||
      !isWindow(v.getUint32(at + ConnectFrame.WINDOW_OFFSET, true)) ||
      !isStatedMessageLimit(v.getUint32(at + ConnectFrame.MAX_MESSAGE_OFFSET, true))
    ) {
      link.counters.violation('badFrame');
      link.connectRefused(request, Status.EINVAL);
      return;
    }
    const k = at + ConnectFrame.KEY_OFFSET;
    const key = [v.getUint32(k, true), v.getUint32(k + 4, true), v.getUint32(k + 8, true), v.getUint32(k + 12, true)] as const;
    const answer = this.manager.receiveSideAccept({
      sourceNode: link.node,
      keyEntry: NO_ENTRY,
      sourceChannel: v.getUint32(at + ConnectFrame.SOURCE_CHANNEL_OFFSET, true),
      sourceWindow: v.getUint32(at + ConnectFrame.WINDOW_OFFSET, true),
      sourceMaxMessage: v.getUint32(at + ConnectFrame.MAX_MESSAGE_OFFSET, true),
      storeKey: (d) => this.keys.store(d, key[0], key[1], key[2], key[3]),
      sourcePartition,
      sourceProcess: v.getUint32(at + ConnectFrame.SOURCE_PROCESS_OFFSET, true),
      destinationPartition,
      destinationService: service,
    });
    if (answer.ok) link.connectOk(request, this.table.linkId(answer.entry), this.table.ownerProcess[answer.entry], this.bounds.windowBytes, this.bounds.maxMessageBytes);
    else link.connectRefused(request, Status[answer.code]);
  }
}
