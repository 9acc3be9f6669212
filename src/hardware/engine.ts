/**
 * The engine loop: for each queue pair in turn (round-robin, a budget per
 * round), fetch a work request once into locals → validate → look up the
 * channel state (the owner must be this port and queue pair) → send stage
 * stamps key and partition ids → receive stage verifies them against its own
 * entry → copy into the destination's receive ring → wake it only if it sleeps.
 *
 * The engine never waits: a full receive ring leaves the sender's work
 * request in place (back-pressure) and the engine moves on to the others.
 *
 * What it does once per batch rather than per message: the channel lookups
 * for a run of SENDs on one handle (the lookups each queue pair keeps, below), the counters,
 * and the publishes. What it does per message, always: fetch and validate
 * the work request, stamp it with the key and ids, and verify that stamp
 * against the receiving end's own entry (claim 10).
 */
import { Counters } from './counters.js';
import type { ChannelCounters } from './channel-counters.js';
import { KeptDeliveries } from './kept-deliveries.js';
import type { KeptMessages } from './kept-messages.js';
import { ChannelStateTable, NO_ENTRY } from './channel-state-table.js';
import { KeyTable } from './key-table.js';
import { copyAlignedWords, copyBytes, copyPayload } from './payload-copy.js';
import { WordCopy } from '../shared/copy-words.js';
import { Stamp } from './stamp.js';
import { HardwareQueuePair, PartitionPort, QueuePairState } from './partition-port.js';
import { Status } from '../shared/errors.js';
import { alignUp, ChannelCounterLayout, CompletionBody, ConnectionState, CounterSlot, DeliverBody, RecordLayout, RecordType, SendBody, type ViolationKind } from '../shared/layout.js';
import {
  deliveryBodyBytes,
  QUEUE_PAIR_FAULT,
  workRequestBodyBytes,
  workRequestChannel,
  workRequestFlags,
  workRequestPayload,
  workRequestPayloadBytes,
  writeDelivery,
} from '../shared/records.js';
import { EMPTY, FAULT, FULL, RingAnswer, RingConsumer, RingProducer } from '../shared/ring.js';
import type { HardwareTrace } from './trace.js';
import { channelMessageLimit } from '../shared/link-frames.js';

export const DONE = 0;
export const BLOCKED = 1;
/** deliverFromLink: the receiving queue pair is gone or broken; the message was dropped. */
export const GONE = 2;

/**
 * The least a queue pair with work may serve in a round once its partition's budget for the round
 * is spent (serve()): its partition's other queue pairs may flood, and one request still goes.
 */
const MIN_SERVE = 1;
type Outcome = typeof DONE | typeof BLOCKED;

/**
 * What the engine asks of the inter-node link for a channel end whose other end is on another
 * node (hardware/link/, docs/LINK.md). Absent on a machine that is not a node.
 */
export interface RemoteEnds {
  /** Append one stamped message of entry `e` to its link's batch; false: the batch is full (back-pressure, retried later). */
  send(e: number, stamp: Stamp, src: RingConsumer, payload: number, bytes: number): boolean;
  /**
   * The next message on entry `e`, right behind the message of `e` that send() (or sendNext())
   * just took, under that message's stamp (no lookup, no stamp compared); false, and nothing
   * written: it must take send() (another entry, the frame or the batch full).
   */
  sendNext(e: number, src: RingConsumer, payload: number, bytes: number): boolean;
  /**
   * Why send() took nothing of `e`'s message of `bytes`: true when the channel's window is spent,
   * messages of it wait aside already, or its link is congested (hold() may keep it: a link that
   * its peer does not read must not hold back the process's channels to other nodes, THREATS
   * case 111); false when the link is down.
   */
  waitsForWindow(e: number, bytes: number): boolean;
  /**
   * Keep a message of `e` aside until its window opens (THREATS case 52), sent before anything
   * the engine gives send() for `e` after it; false, keeping nothing, past what a channel may keep.
   */
  hold(e: number, src: Uint8Array, payload: number, bytes: number): boolean;
  /** `e` closes behind messages held for it (closeAfterHeld()): every work request on it is refused. */
  closing(e: number): boolean;
  /**
   * `e`'s process closes it (`status` OK) or ends (EPEERDEAD): true when messages of it are held,
   * and the close is then done once they are sent, or dropped (Engine.finishClose); false:
   * nothing waits, close it now.
   */
  closeAfterHeld(e: number, status: number): boolean;
  /** Entry `e`, open with a remote other end, is closing on this node: tell the other node, with `status`. */
  closed(e: number, status: number): void;
  /** `qp` faulted: its channels with other ends on other nodes end on both nodes (a CLOSE to the other, EFAULT here): their sequences cannot skip what the fault lost. */
  faulted(qp: HardwareQueuePair): void;
  /** Once per round: move messages kept aside for full receive rings into them, and held ones onto their links as windows open. Returns the messages moved. */
  poll(): number;
  /** Once per scheduler turn (and whenever a batch fills): write every link's batch, one socket write each. */
  flush(): void;
  /** Whether messages of this node's ends are held for their windows (hold()), still to go. */
  readonly holding: boolean;
  /** `port`'s partition went down: let go of its queue pairs kept between calls (THREATS case 130). */
  forgetPort?(port: PartitionPort): void;
}

export interface EngineOptions {
  budgetPerRound: number;
  maxMessageBytes: number;
  /** Every send ring's capacity (the geometry's), for the step serve() hands space back in. */
  sendRingBytes: number;
}

export class Engine {
  private active: HardwareQueuePair[] = [];
  private next = 0;
  /** Rounds begun (modulo 2^31): a port's round budget is set afresh in the first serve of each (serve()). */
  private roundNumber = 0;
  private pendingEnds: number[] = [];
  /** Passes of flushPendingEnds() so far: a receive ring found full in the current one is marked with it (endsFullPass). */
  private endPass = 0;
  /** Messages whose receive ring was full, kept aside so their senders' other work requests go on (THREATS case 51). */
  readonly kept: KeptDeliveries;
  /** The current serve(): its head SEND waits for a full receive ring (blockedOnFullRing); one was kept aside (keepAside). */
  private headBlocked = false;
  private keptInServe = false;
  /** Receive rings written by the current serve() and not yet published: one publish per batch, not per message. */
  private readonly unpublished: HardwareQueuePair[] = [];
  private unpublishedCount = 0;
  private readonly stamp: Stamp;
  /** channelCounters.values, one load nearer for sendRun(). */
  private readonly channelValues: Float64Array;
  readonly maxMessageBytes: number;
  /** Work requests one partition gets served per round, its queue pairs together (options.budgetPerRound; shareOf). */
  readonly budgetPerRound: number;
  /**
   * Send-ring space serve() may hold back before it hands it back: up to a sixteenth of the ring,
   * never so much that a sender's largest SEND, wrapping, could not fit in a ring emptied here.
   */
  private readonly releaseStep: number;
  /** The partition index of the queue pair serve() is serving (whose sends sentMessages counts). */
  private serving = 0;
  /**
   * Messages the current serve() delivered on the channel whose lookups the queue pair keeps now,
   * by runs (sendRun()) or one at a time (countDelivery()): cache() starts it over. What a
   * saturated serve names as its flood's destination (HardwareQueuePair.floodDestination); one add
   * per run, and a compare per message of the general path, which a traced machine took for every
   * SEND before its runs (counted by runs alone, a traced flood named no drain: THREATS case 100)
   * and still takes for each sampled one.
   */
  private runDelivered = 0;
  /**
   * Each queue pair keeps the lookups of the channel its last SEND named, once they passed (owned
   * by that queue pair, open, and its receiving queue pair active or, for an end on another node,
   * no destination here): its next SEND on the same handle skips them, never the stamp and its
   * verification (a run to another node is stamped once: its SENDs all name this handle, and its
   * DATA frame carries the stamp once). One cache for the whole engine missed on every message of
   * a round trip, and whenever senders took turns: the other side's SEND had replaced it (a miss,
   * the general path, cost ~200 ns more a message). What a lookup found changes only when a channel
   * end closes or ends (its peer closed, its link went down) or a queue pair stops (everything else
   * opens entries that are free, which no cached handle names), and each of those goes through
   * closeEnd(), endByPeer() or deactivate(), which move this generation on: every queue pair's
   * lookups made before are stale at once (forgetChannelCache).
   */
  private lookupGeneration = 0;
  /**
   * Counters of the current serve() that the general path (one message at a time) and the runs to
   * other nodes add up, written to the counter block once at its end; a run to this node writes
   * its own straight away (sendRun()).
   */
  private sentMessages = 0;
  private sentBytes = 0;
  private deliveredTo = -1;
  private deliveredMessages = 0;
  private deliveredBytes = 0;
  /** Set when the machine traces (`createMachine({ trace })`): send() then takes sendTraced(). */
  tracer: HardwareTrace | undefined;
  /** Called when a queue pair detaches, so the connection manager can drop its listeners. */
  onDetach: (qp: HardwareQueuePair) => void = () => {};
  /** The inter-node link, on a node; undefined otherwise (then no remote end exists). */
  remote: RemoteEnds | undefined;

  constructor(
    readonly ports: PartitionPort[],
    readonly table: ChannelStateTable,
    readonly keys: KeyTable,
    readonly counters: Counters,
    /** Each channel end's counts (stats().partitions[i].channels), counted where the partition's are. */
    readonly channelCounters: ChannelCounters,
    private readonly options: EngineOptions,
  ) {
    this.stamp = new Stamp(table, keys);
    this.channelValues = channelCounters.values;
    this.maxMessageBytes = options.maxMessageBytes;
    this.budgetPerRound = options.budgetPerRound;
    const largestSendSpan = alignUp(RecordLayout.HEADER_BYTES + workRequestBodyBytes(options.maxMessageBytes), RecordLayout.ALIGN_BYTES);
    this.releaseStep = Math.min(options.sendRingBytes >>> 4, options.sendRingBytes - 2 * largestSendSpan);
    // Twice a send ring: what a sender's library may have sent on a channel before it saw the hold
    // is at most what its ring held then, and the batch it was sending.
    this.kept = new KeptDeliveries(table.state.length, 2 * options.sendRingBytes, table.slotMask);
  }

  /** Test hook (operator-only): corrupt, on purpose, the stamps of messages partition `index` sends (or stop). */
  corruptStamps(index: number, on: boolean): void {
    this.stamp.corrupt(index, on);
  }

  // ── scheduling ────────────────────────────────────────────────────────────

  activate(qp: HardwareQueuePair): void {
    // A port that went down stays down: a restart makes a new one (THREATS case 43).
    if (!qp.port.alive) return;
    qp.state = QueuePairState.ACTIVE;
    if (!this.active.includes(qp)) {
      this.active.push(qp);
      qp.port.activeQueuePairs++;
    }
  }

  deactivate(qp: HardwareQueuePair, state: QueuePairState): void {
    this.forgetChannelCache();
    // What was kept for its ring goes now, not when the queue pair serves again (after a reset, its
    // ring carries nothing of the old traffic).
    const q = this.kept.queueOf(qp);
    if (q !== undefined) this.dropQueue(qp);
    qp.state = state;
    const before = this.active.length;
    this.active = this.active.filter((q) => q !== qp);
    if (this.active.length !== before) qp.port.activeQueuePairs--;
  }

  /**
   * One pass over every active queue pair. Returns the work requests handled. `exact`: look at
   * every send ring with Atomics.load (ready()), as the look after the hardware announced it sleeps
   * must; otherwise a plain read first (readyHint()), which may see a publish late (the scheduler's
   * exact rounds bound how late).
   */
  round(exact = false): number {
    // Kept messages first: an END waiting behind them can then go in the same round.
    let work = this.kept.queuePairs > 0 ? this.moveKeptMessages() : 0;
    if (this.pendingEnds.length > 0) work += this.flushPendingEnds();
    if (this.remote !== undefined) work += this.remote.poll();
    const active = this.active;
    const n = active.length;
    if (n === 0) return work;
    let j = this.next < n ? this.next : 0;
    this.next = j + 1;
    this.roundNumber = (this.roundNumber + 1) & 0x7fffffff;
    for (let i = 0; i < n; i++) {
      const qp = active[j];
      if (++j === n) j = 0;
      // A queue pair with nothing to fetch and nothing to publish costs one look at its send ring,
      // not a serve(), whose prologue and epilogue were most of the cost of an idle one. The dirty
      // flags: what was written into its rings outside a serve() (whose writers publish it
      // themselves, as a rule) is still published by the next round, as it was when every queue
      // pair was served.
      if (qp.state === QueuePairState.ACTIVE && ((exact ? qp.send.ready() : qp.send.readyHint()) || qp.receiveDirty || qp.completionDirty)) work += this.serve(qp);
    }
    return work;
  }

  private serve(qp: HardwareQueuePair): number {
    const port = qp.port;
    this.serving = port.index;
    this.runDelivered = 0;
    const ring = qp.send;
    // A partition with one active queue pair has the whole budget in it: no round's share to keep
    // (per message sent one at a time, the share's bookkeeping cost the engine 3–5 ns).
    const sharing = port.activeQueuePairs > 1;
    const share = sharing ? this.shareOf(port) : this.budgetPerRound;
    const left = sharing ? port.roundBudgetLeft : share;
    const budget = share <= left ? share : left > MIN_SERVE ? left : MIN_SERVE;
    let done = 0;
    // False right after a run: it stopped at a record it cannot serve, which takes the general path.
    let runs = true;
    while (done < budget) {
      // What the round's look (ready()) found, and no more: records published since wait for the
      // next round's look, and a serve() that emptied the ring does not read the producer's word
      // again to learn so (a runtime call on Node 20, twice per message sent one at a time).
      const type = ring.pollSeen();
      if (type === RingAnswer.EMPTY) break;
      if (type === RingAnswer.FAULT) {
        this.faultQueuePair(qp, ring.faultKind === 'record' ? 'badLength' : 'sendRingPosition');
        break;
      }
      if (runs && type === RecordType.SEND) {
        // A run on the channel whose lookups the queue pair keeps (the common case: one look at the
        // generation; kept with no destination here, the other end is on another node: the link's
        // send stage); failing that, on the channel this SEND names, once its lookups pass. The first
        // is run() written out: as a call it cost the one-channel case 3–4% per message.
        let served = qp.lookupGeneration !== this.lookupGeneration ? 0 : qp.lookupDestination === undefined ? this.sendRemoteRun(qp, ring, budget - done) : this.sendRun(qp, ring, budget - done);
        if (served === 0 && this.lookUpAnother(qp, ring)) served = this.run(qp, ring, budget - done);
        if (served > 0) {
          done += served;
          runs = false;
          continue;
        }
      }
      if (this.fetchWorkRequest(qp, ring, type) === BLOCKED) break;
      ring.consume();
      done++;
      runs = true;
    }
    if (sharing && done !== 0) {
      // What shareOf splits next round: a serve that used all it was given and left records it had
      // seen wants more; any other moved what it wanted, set aside for it again (case 129). Not a
      // serve held to one request that was all it had: counted wanting, it halved its partition's
      // stream's share the next round.
      if (done === budget && ring.seenLeft()) port.busyThisRound++;
      else port.lightThisRound += done;
      port.roundBudgetLeft = left - done;
    }
    if (done === budget) {
      // Saturated: it used its whole share. Not a serve held to MIN_SERVE once its partition's
      // budget was spent (neither saturated nor light: its partition's saturation is counted).
      if (budget === share) {
        port.saturatedServes++;
        // Its drain: where at least half the budget went, delivered (a flood of refused SENDs, or of
        // records to several channels, names none: attack run 12).
        if (2 * this.runDelivered >= budget) {
          qp.saturatedServes++;
          qp.floodDestination = qp.lookupDestination;
        }
      }
    } else if (done !== 0) port.lightServes++;
    this.countBeforePublish();
    // Space goes back in steps (releaseStep), and all of it before the hardware sleeps (releaseAll):
    // a release per serve() was a store and a flag read per message sent one at a time. The step is
    // bounded because a hardware kept busy by other queue pairs may not sleep for long. A sender
    // waiting on a full send ring wakes once a quarter of it is free (or it is empty).
    // A head that waits now has shown it (blockedOnFullRing), so blockedShown covers headBlocked.
    if (this.keptInServe || ring.blockedShown !== -1) this.afterHeldBack(ring);
    else if (ring.unreleasedBytes >= this.releaseStep) ring.release(ring.capacity >>> 2);
    qp.publish();
    this.publishDeliveries();
    return done;
  }

  /**
   * What one of `port`'s queue pairs may serve this round (set afresh at the partition's first serve
   * of a round). The budget is the partition's, not each queue pair's: a partition flooding from all
   * 8 of its queue pairs took 8 budgets a round to an honest partition's one, 8/9 of the engine
   * (THREATS case 124). serve() also holds the partition to what is left of its round's budget, and
   * never below MIN_SERVE, so a request beside its own partition's flood still goes.
   * The split is by the round before: what its light serves moved is set aside for them, and the
   * rest shared evenly among the queue pairs that used all they were given. Split evenly among every
   * queue pair with work, an attacker sending one request a round to each of a partition's 7 other
   * processes, which answer it, held the partition's stream to 8 a round of its 64 (case 129).
   */
  private shareOf(port: PartitionPort): number {
    const full = this.budgetPerRound;
    if (port.roundAt !== this.roundNumber) {
      const last = port.roundAt === ((this.roundNumber - 1) & 0x7fffffff);
      port.busyLastRound = last ? port.busyThisRound : 0;
      port.lightLastRound = last ? port.lightThisRound : 0;
      port.busyThisRound = 0;
      port.lightThisRound = 0;
      port.roundAt = this.roundNumber;
      port.roundBudgetLeft = full;
    }
    const busy = port.busyLastRound;
    if (busy === 0) return full;
    const rest = full - port.lightLastRound;
    return rest > busy ? Math.ceil(rest / busy) : MIN_SERVE;
  }

  /** Publish the receive rings written since the last publish (one publish per batch, not per message). */
  publishDeliveries(): void {
    // A count, not `length = 0`: setting an array's length is a runtime call, once per serve().
    const unpublished = this.unpublished;
    for (let i = 0; i < this.unpublishedCount; i++) unpublished[i].publish();
    this.unpublishedCount = 0;
  }

  /**
   * The busy case, a run at a time: well-formed SENDs on the channel this queue pair's previous
   * SEND named (its lookups cached), to an active end on this node. Serves up to `max`
   * records, the one serve() polled first, and returns how many it served and consumed. It stops,
   * without consuming it, at the first record it cannot serve here (another opcode, handle or
   * flags, a bad size, a failed verification, a full or broken receive ring): serve() hands that
   * one to fetchWorkRequest(), whose general path gives it its answer.
   *
   * What it does once per run: the checks of the destination (active, its ring not waited on),
   * the counters and, traced, the channel's message numbers; nothing in the run can change them.
   * Traced, a run ends before the channel's next sampled message, which the general path
   * (sendTraced()) stamps, verifies, delivers and records one at a time: the runs number the others
   * as sendTraced() would, so a traced machine records the same messages, and its engine does per
   * unsampled message what an untraced one does (with every SEND on the general path, tracing at 1/64
   * cost the engine 2.3 times its time per 64 B message). What it does per message,
   * as the general path does: read each field once, check the size, stamp and verify (claim 10:
   * Stamp.stampAndVerifyHere, the same checks as stamp() then verify()), claim, copy exactly the
   * payload, consume. As one loop in one function, V8 keeps the run's
   * values in registers and inlines every step (with the layouts as const enums, layout.ts): no
   * call per message to fetchWorkRequest and on through send(), sendLocal() and deliver(). Engine
   * alone, 64 B batched (`--suite micro`): 77–81 ns a message with that call, 50–55 without.
   */
  private sendRun(qp: HardwareQueuePair, ring: RingConsumer, max: number): number {
    const dqp = qp.lookupDestination;
    if (dqp === undefined || dqp.state !== QueuePairState.ACTIVE) return 0;
    const rx = dqp.receive;
    // A receive ring that was full takes claim(), which lowers its flag once there is room; one
    // with messages kept for it takes keepAside(), behind them (THREATS case 51).
    if (rx.isWaitingForSpace || dqp.keptMessages > 0) return 0;
    const handle = qp.lookupHandle;
    const e = qp.lookupEntry;
    const tracer = this.tracer;
    const first = tracer === undefined ? 0 : tracer.nextMessage(e, handle);
    if (tracer !== undefined) {
      max = Math.min(max, tracer.unsampledRun(first));
      if (max === 0) return 0;
    }
    const deliveryHandle = qp.lookupDeliveryHandle;
    const from = qp.port.index;
    const maxMessageBytes = this.maxMessageBytes;
    // An imported const, read once: in the loop it would be a module-variable load and a hole check per message.
    const ok = Status.OK;
    const stamp = this.stamp;
    const s32 = ring.u32;
    const s8 = ring.u8;
    const d32 = rx.u32;
    const d8 = rx.u8;
    let served = 0;
    let bytes = 0;
    do {
      // The work request's fields are read here from layout.ts's offsets, not through records.ts:
      // an imported function costs a load and a check of its module cell at every call, and those
      // were ~7% of the engine's time per 64 B message (both builds in one process).
      const body = ring.bodyOffset;
      const payloadBytes = ring.bodyBytes - SendBody.BYTES;
      // Too short to hold a handle and flags: nothing more of it is read here.
      if (payloadBytes < 0 || payloadBytes > maxMessageBytes) break;
      if (s32[(body + SendBody.CHANNEL_OFFSET) >> 2] !== handle || s32[(body + SendBody.FLAGS_OFFSET) >> 2] !== 0) break;
      if (!stamp.stampAndVerifyHere(e, from)) break;
      const at = rx.tryClaim(RecordType.DATA, DeliverBody.BYTES + payloadBytes);
      if (at < 0) break;
      const src = body + SendBody.BYTES;
      d32[(at + DeliverBody.CHANNEL_OFFSET) >> 2] = deliveryHandle;
      d32[(at + DeliverBody.STATUS_OFFSET) >> 2] = ok;
      const to = at + DeliverBody.BYTES;
      if (payloadBytes > WordCopy.LIMIT) copyPayload(ring, src, rx, to, payloadBytes);
      else {
        // copyPayload's small case (and copyWords' loop), written out: calls to them did not always
        // fit V8's inlining budget beside the stamp, the verification and the claim (which one it
        // left as a call varied from run to run). Exactly the payload's bytes, then zeros to the
        // record's 8-byte boundary (THREATS case 26).
        const words = payloadBytes >>> 2;
        const s = src >> 2;
        const d = to >> 2;
        let w = 0;
        for (; w + 4 <= words; w += 4) {
          d32[d + w] = s32[s + w];
          d32[d + w + 1] = s32[s + w + 1];
          d32[d + w + 2] = s32[s + w + 2];
          d32[d + w + 3] = s32[s + w + 3];
        }
        for (; w < words; w++) d32[d + w] = s32[s + w];
        for (let b = words << 2; b < payloadBytes; b++) d8[to + b] = s8[src + b];
        const end = to + payloadBytes;
        for (let b = end, padded = (end + RecordLayout.ALIGN_BYTES - 1) & ~(RecordLayout.ALIGN_BYTES - 1); b < padded; b++) d8[b] = 0;
      }
      ring.consume();
      served++;
      bytes += payloadBytes;
    } while (served < max && ring.pollSeen() === RecordType.SEND);
    if (served > 0) {
      // The run's counts go straight into the counter block, before the serve() publishes (what a
      // reader sees delivered is counted). Carried in fields to the serve()'s end, as
      // countDelivery() does for the general path's one message at a time, they cost the engine
      // ~10% of its time per message sent one at a time. Added here, not through Counters' sent()
      // and delivered(): per message sent one at a time, those two calls, inlined or not, cost the
      // engine ~3% more (0.965–0.973 without them: both builds in one process, alternating blocks).
      const values = this.counters.values;
      const sender = from * CounterSlot.PER_PARTITION;
      const receiver = dqp.port.index * CounterSlot.PER_PARTITION;
      values[sender + CounterSlot.SENT] += served;
      values[sender + CounterSlot.BYTES_SENT] += bytes;
      values[receiver + CounterSlot.DELIVERED] += served;
      values[receiver + CounterSlot.BYTES_DELIVERED] += bytes;
      // And the channel's, both ends, once a run too (~2 ns a message sent one at a time, a run each).
      const lines = this.channelValues;
      const out = e * ChannelCounterLayout.SLOTS;
      const into = qp.lookupDeliveryEntry * ChannelCounterLayout.SLOTS;
      lines[out + ChannelCounterLayout.SENT] += served;
      lines[out + ChannelCounterLayout.BYTES_SENT] += bytes;
      lines[into + ChannelCounterLayout.DELIVERED] += served;
      lines[into + ChannelCounterLayout.BYTES_DELIVERED] += bytes;
      if (!dqp.receiveDirty) this.markUnpublished(qp, dqp);
      this.runDelivered += served;
      if (tracer !== undefined) tracer.commit(e, handle, first + served - 1);
    }
    return served;
  }

  /**
   * sendRun() for a cached channel whose other end is on another node: the run is stamped here
   * (claim 10's send stage), once, since every SEND of it is checked to be on the cached channel,
   * and each is appended to its link's batch; the other node's hardware runs the receive stage.
   * It stops, without consuming it, at the first record it cannot serve (as sendRun() does) or
   * when the link takes no more (back-pressure: the general path answers BLOCKED for it).
   */
  private sendRemoteRun(qp: HardwareQueuePair, ring: RingConsumer, max: number): number {
    const remote = this.remote;
    if (remote === undefined) return 0;
    const handle = qp.lookupHandle;
    const e = qp.lookupEntry;
    // Traced, as sendRun(): the run ends before the channel's next sampled message, which sendRemote() times.
    const tracer = this.tracer;
    const first = tracer === undefined ? 0 : tracer.nextMessage(e, handle);
    if (tracer !== undefined) {
      max = Math.min(max, tracer.unsampledRun(first));
      if (max === 0) return 0;
    }
    const from = qp.port.index;
    // The smaller of both nodes' maxMessageBytes (the other node's as it stated it at connect).
    const maxMessageBytes = channelMessageLimit(this.maxMessageBytes, this.table.peerMaxMessage[e]);
    const stamp = this.stamp;
    const s32 = ring.u32;
    // Claim 10's send stage for the run: every message of it is checked to be on `handle`, so each
    // would get this stamp from the same tables, which nothing changes while the run lasts.
    stamp.stamp(e, from);
    let served = 0;
    let bytes = 0;
    do {
      const body = ring.bodyOffset;
      const payloadBytes = ring.bodyBytes - SendBody.BYTES;
      // sendRun()'s checks, written out as there: a shared helper cost sendRun() its inlining budget.
      if (payloadBytes < 0 || payloadBytes > maxMessageBytes) break;
      if (s32[(body + SendBody.CHANNEL_OFFSET) >> 2] !== handle || s32[(body + SendBody.FLAGS_OFFSET) >> 2] !== 0) break;
      // The first message looks the link up and opens (or continues) a DATA frame with the stamp;
      // the next ones follow it into that frame, until it is full.
      const payload = body + SendBody.BYTES;
      if ((served === 0 || !remote.sendNext(e, ring, payload, payloadBytes)) && !remote.send(e, stamp, ring, payload, payloadBytes)) break;
      ring.consume();
      served++;
      bytes += payloadBytes;
    } while (served < max && ring.pollSeen() === RecordType.SEND);
    this.sentMessages += served;
    this.sentBytes += bytes;
    if (served > 0) this.channelCounters.sent(e, served, bytes);
    if (tracer !== undefined && served > 0) tracer.commit(e, handle, first + served - 1);
    return served;
  }

  /**
   * Read each descriptor field exactly once into a local (the partition may
   * rewrite them at any moment) and dispatch on the copies only. serve() gives
   * runs of the busy case to sendRun() and sendRemoteRun(); what they leave, and
   * every other work request, comes here.
   */
  private fetchWorkRequest(qp: HardwareQueuePair, ring: RingConsumer, type: number): Outcome {
    const body = ring.bodyOffset;
    const payloadBytes = workRequestPayloadBytes(ring.bodyBytes);
    // Too short to hold a handle and flags: nothing more of it is read.
    if (payloadBytes < 0) return this.reject(qp, 'badLength', Status.EINVAL, type, 0);
    const handle = workRequestChannel(ring.u32, body);
    const flags = workRequestFlags(ring.u32, body);
    if (type === RecordType.SEND && flags === 0) return this.send(qp, handle, ring, workRequestPayload(body), payloadBytes);
    return this.otherWorkRequest(qp, type, handle, flags, payloadBytes);
  }

  /**
   * Every work request but a well-formed SEND, on the copies fetchWorkRequest() read. Apart, so
   * that the general path (a lookup, tracing, a link) stays small enough for V8 to inline the stamp
   * and its verification (its inlining budget is counted in bytecode, and these cases took most of it).
   */
  private otherWorkRequest(qp: HardwareQueuePair, type: number, handle: number, flags: number, payloadBytes: number): Outcome {
    if (flags !== 0) return this.reject(qp, 'badFlags', Status.EINVAL, type, handle);
    switch (type) {
      case RecordType.CLOSE:
        if (payloadBytes !== 0) return this.reject(qp, 'badLength', Status.EINVAL, type, handle);
        return this.close(qp, handle);
      case RecordType.DETACH:
        if (payloadBytes !== 0) return this.reject(qp, 'badLength', Status.EINVAL, type, handle);
        // The channel field of a DETACH is reserved: it names no channel.
        if (handle !== 0) return this.reject(qp, 'badHandle', Status.EINVAL, type, handle);
        // Its acknowledgement must reach the process, which waits for it to hand the queue pair to
        // the next one: with the completion ring full (a peer's closes can fill it with refusals)
        // it was dropped, and the slot was lost for good. The DETACH waits for room instead.
        if (!this.completionRoom(qp)) return BLOCKED;
        this.detach(qp);
        return DONE;
      default:
        return this.reject(qp, 'badOpcode', Status.EINVAL, type, handle);
    }
  }

  /** A run of the SENDs on the channel whose lookups `qp` keeps (its destination here, or another node). */
  private run(qp: HardwareQueuePair, ring: RingConsumer, max: number): number {
    return qp.lookupDestination === undefined ? this.sendRemoteRun(qp, ring, max) : this.sendRun(qp, ring, max);
  }

  /**
   * The SEND serve() polled names a channel other than the one whose lookups `qp` keeps (current
   * ones), and its lookups pass: they are kept from now on, and true. Quiet: a SEND whose lookups
   * fail is left to the general path, which answers it and counts what it must. So a process that
   * sends on several channels in turn (a server answering its clients, both ends of a channel in
   * one program) is served a run at a time too, not by the general path (~200 ns more a message).
   */
  private lookUpAnother(qp: HardwareQueuePair, ring: RingConsumer): boolean {
    // Too short to hold a handle and flags: nothing more of it is read here.
    if (workRequestPayloadBytes(ring.bodyBytes) < 0) return false;
    const handle = workRequestChannel(ring.u32, ring.bodyOffset);
    if (this.keepsLookups(qp, handle)) return false;
    const e = this.liveOwnedEntry(qp, handle);
    if (e === NO_ENTRY || this.table.state[e] !== ConnectionState.OPEN) return false;
    // The lookups sendLookingUp() keeps, the same way (it answers where these fail instead): an end on
    // another node with no destination here, an end on this node only with an active one.
    if (this.table.remoteNode[e] !== 0) {
      this.cache(qp, handle, e, undefined, 0);
      return true;
    }
    const dqp = this.receivingQueuePair(e);
    if (dqp === undefined || dqp.state !== QueuePairState.ACTIVE) return false;
    this.cache(qp, handle, e, dqp, this.table.handle(this.table.peer[e]));
    return true;
  }

  /** `qp` keeps current lookups (made since the last change of state) of the channel `handle` names. */
  private keepsLookups(qp: HardwareQueuePair, handle: number): boolean {
    return qp.lookupHandle === handle && qp.lookupGeneration === this.lookupGeneration;
  }

  /** ownedEntry()'s checks without its answers: the live entry a handle names if this queue pair owns it, else NO_ENTRY. */
  private liveOwnedEntry(qp: HardwareQueuePair, handle: number): number {
    const t = this.table;
    const slot = handle & t.slotMask;
    if (slot >= t.slotsPerPartition) return NO_ENTRY;
    const e = t.entry(qp.port.index, slot);
    return t.generation[e] === handle >>> t.slotBits && t.isLive(e) && t.ownerQueuePair[e] === qp.index ? e : NO_ENTRY;
  }

  /** The entry a handle names, if this queue pair owns it; otherwise a counted violation and NO_ENTRY. */
  private ownedEntry(qp: HardwareQueuePair, handle: number, opcode: number): number {
    const e = this.liveOwnedEntry(qp, handle);
    if (e === NO_ENTRY) this.refuseHandle(qp, handle, opcode);
    return e;
  }

  /** Why liveOwnedEntry() found no entry for `handle`, answered and counted. */
  private refuseHandle(qp: HardwareQueuePair, handle: number, opcode: number): void {
    const t = this.table;
    const slot = handle & t.slotMask;
    const generation = handle >>> t.slotBits;
    if (slot >= t.slotsPerPartition) {
      this.reject(qp, 'badHandle', Status.EINVAL, opcode, handle);
      return;
    }
    const e = t.entry(qp.port.index, slot);
    if (t.generation[e] === generation && t.isLive(e)) {
      // Live, and the handle's: another queue pair's.
      this.reject(qp, 'notOwner', Status.EPERM, opcode, handle);
    } else if (t.closedBy(e, handle, qp.index)) {
      // This process closed the channel (or is closing it) and the slot is not reused yet: ECLOSED, as for a peer's close.
      this.counters.sendError(qp.port.index);
      this.complete(qp, Status.ECLOSED, opcode, handle);
    } else if (t.generation[e] === generation && t.state[e] === ConnectionState.FREE) {
      // The slot's next handle, never issued yet.
      this.reject(qp, 'badHandle', Status.EINVAL, opcode, handle);
    } else this.reject(qp, 'staleHandle', Status.ESTALE, opcode, handle);
  }

  private send(qp: HardwareQueuePair, handle: number, src: RingConsumer, payload: number, bytes: number): Outcome {
    if (!this.keepsLookups(qp, handle)) return this.sendLookingUp(qp, handle, src, payload, bytes);
    const dqp = qp.lookupDestination;
    if (dqp === undefined) return this.sendRemote(qp, handle, qp.lookupEntry, src, payload, bytes);
    return this.sendLocal(qp, handle, qp.lookupEntry, qp.lookupDeliveryHandle, dqp, src, payload, bytes);
  }

  /** send() on a lookup-cache miss: the lookups, then the cache for the SENDs that follow on the same handle. */
  private sendLookingUp(qp: HardwareQueuePair, handle: number, src: RingConsumer, payload: number, bytes: number): Outcome {
    const e = this.ownedEntry(qp, handle, RecordType.SEND);
    if (e === NO_ENTRY) return DONE;
    const state = this.table.state[e];
    if (state !== ConnectionState.OPEN) {
      this.counters.sendError(qp.port.index);
      this.complete(qp, endedStatus(state), RecordType.SEND, handle);
      return DONE;
    }
    // An end on another node has no receiving queue pair here: it is cached with no destination.
    if (this.table.remoteNode[e] !== 0) {
      this.cache(qp, handle, e, undefined, 0);
      return this.sendRemote(qp, handle, e, src, payload, bytes);
    }
    const dqp = this.receivingQueuePair(e);
    const deliveryHandle = dqp === undefined ? 0 : this.table.handle(this.table.peer[e]);
    if (dqp !== undefined && dqp.state === QueuePairState.ACTIVE) this.cache(qp, handle, e, dqp, deliveryHandle);
    return this.sendLocal(qp, handle, e, deliveryHandle, dqp, src, payload, bytes);
  }

  private cache(qp: HardwareQueuePair, handle: number, e: number, dqp: HardwareQueuePair | undefined, deliveryHandle: number): void {
    // Runs from now on deliver to `dqp`: what went before went elsewhere.
    this.runDelivered = 0;
    qp.lookupGeneration = this.lookupGeneration;
    qp.lookupHandle = handle;
    qp.lookupEntry = e;
    qp.lookupDestination = dqp;
    qp.lookupDeliveryHandle = deliveryHandle;
    qp.lookupDeliveryEntry = dqp === undefined ? NO_ENTRY : this.table.peer[e];
  }

  /** Stamp, verify and deliver a SEND whose lookups passed, on an end whose other end is on this node. */
  private sendLocal(qp: HardwareQueuePair, handle: number, e: number, deliveryHandle: number, dqp: HardwareQueuePair | undefined, src: RingConsumer, payload: number, bytes: number): Outcome {
    if (bytes > this.maxMessageBytes) return this.reject(qp, 'messageSize', Status.EMSGSIZE, RecordType.SEND, handle);
    // Tracing off: this one predictable branch is all it costs.
    if (this.tracer !== undefined) return this.sendTraced(this.tracer, qp, handle, e, deliveryHandle, dqp, src, payload, bytes);

    this.stamp.stamp(e, qp.port.index);
    if (dqp === undefined || !this.stamp.verify()) return this.refuseUnverified(qp, handle);
    return this.deliver(qp, handle, e, deliveryHandle, dqp, src, payload, bytes);
  }

  /** Claim 10: the receiving side drops what it cannot verify, counts it, and keeps running. */
  private refuseUnverified(qp: HardwareQueuePair, handle: number): Outcome {
    const d = this.stamp.destinationEntry;
    this.counters.violation(d === NO_ENTRY ? qp.port.index : this.table.partitionIndexOf(d), 'keyMismatch');
    this.counters.sendError(qp.port.index);
    this.complete(qp, Status.EPERM, RecordType.SEND, handle);
    return DONE;
  }

  /** send()'s stamp, verify and deliver, numbering the channel's messages and timing every sampled one. */
  private sendTraced(
    tracer: HardwareTrace,
    qp: HardwareQueuePair,
    handle: number,
    e: number,
    deliveryHandle: number,
    dqp: HardwareQueuePair | undefined,
    src: RingConsumer,
    payload: number,
    bytes: number,
  ): Outcome {
    const n = tracer.nextMessage(e, handle);
    const sampled = tracer.isSampled(n);
    const stamped = sampled ? tracer.now() : 0;
    this.stamp.stamp(e, qp.port.index);
    const verifying = sampled ? tracer.now() : 0;
    if (dqp === undefined || !this.stamp.verify()) {
      tracer.commit(e, handle, n);
      if (sampled) tracer.refused(qp.port.index, handle, dqp?.port.index, n, stamped, verifying, tracer.now());
      return this.refuseUnverified(qp, handle);
    }
    const delivering = sampled ? tracer.now() : 0;
    const outcome = this.deliver(qp, handle, e, deliveryHandle, dqp, src, payload, bytes);
    // A blocked message is retried in a later round: it keeps its number and is recorded then.
    if (outcome === BLOCKED) return outcome;
    // Numbered as its sender's library numbered it (it counted the message when it put it in the
    // ring), delivered or not: the channel's later messages keep joining their sends.
    tracer.commit(e, handle, n);
    if (!sampled) return outcome;
    // deliver() answers DONE without delivering only when it answers the sender EFAULT: the receiving
    // queue pair was not active, or faulted on this message's claim (faultQueuePair() deactivates
    // it); delivered, or kept aside, it stays active. Recorded as refused at deliver, with no arrow
    // (THREATS case 133: a receiver that faulted its own queue pair made its sender's trace show
    // delivered, and received, what the hardware refused).
    if (dqp.state !== QueuePairState.ACTIVE) tracer.refusedAtDeliver(qp.port.index, handle, dqp.port.index, n, stamped, verifying, delivering, tracer.now());
    else tracer.delivered(qp.port.index, handle, dqp.port.index, deliveryHandle, n, stamped, verifying, delivering, tracer.now());
    return outcome;
  }

  /** Send stage for an end on another node: stamp it here; the other node's hardware runs the receive stage (docs/LINK.md). */
  private sendRemote(qp: HardwareQueuePair, handle: number, e: number, src: RingConsumer, payload: number, bytes: number): Outcome {
    // Over either node's maxMessageBytes: the process's library refuses such a message before it
    // reaches the ring (the channel's maxMessageBytes is the smaller), so only code that bypassed it sends one.
    if (bytes > channelMessageLimit(this.maxMessageBytes, this.table.peerMaxMessage[e])) return this.reject(qp, 'messageSize', Status.EMSGSIZE, RecordType.SEND, handle);
    if (this.tracer !== undefined) return this.sendRemoteTraced(this.tracer, qp, handle, e, src, payload, bytes);
    this.stamp.stamp(e, qp.port.index);
    const remote = this.remote!;
    if (!remote.send(e, this.stamp, src, payload, bytes)) return remote.waitsForWindow(e, bytes) ? this.holdOrWait(qp, handle, e, src, payload, bytes) : BLOCKED;
    this.sentMessages++;
    this.sentBytes += bytes;
    this.channelCounters.sent(e, 1, bytes);
    return DONE;
  }

  /**
   * sendRemote() numbering the channel's messages and timing every sampled one: from its stamp to
   * its link's batch, or to the hold that keeps it for its window (what a held message waits
   * there shows as its receiver's gap, on the other node's trace).
   */
  private sendRemoteTraced(tracer: HardwareTrace, qp: HardwareQueuePair, handle: number, e: number, src: RingConsumer, payload: number, bytes: number): Outcome {
    const n = tracer.nextMessage(e, handle);
    const sampled = tracer.isSampled(n);
    const stamped = sampled ? tracer.now() : 0;
    this.stamp.stamp(e, qp.port.index);
    const remote = this.remote!;
    const sent = remote.send(e, this.stamp, src, payload, bytes);
    // A SEND after its own CLOSE is answered ECLOSED by holdOrWait() and goes nowhere: not recorded.
    const refused = !sent && remote.closing(e);
    if (sent) {
      this.sentMessages++;
      this.sentBytes += bytes;
      this.channelCounters.sent(e, 1, bytes);
    } else if (!remote.waitsForWindow(e, bytes) || this.holdOrWait(qp, handle, e, src, payload, bytes) === BLOCKED) {
      // A blocked message is retried in a later round: it keeps its number and is recorded then.
      return BLOCKED;
    }
    tracer.commit(e, handle, n);
    if (sampled && !refused) tracer.linkSent(qp.port.index, handle, this.table.remoteNode[e], !sent, n, stamped, tracer.now());
    return DONE;
  }

  /**
   * keepOrWait() for an end on another node whose window is spent, or whose messages wait aside
   * already (THREATS case 52): it waits at the head of its send ring while nothing else waits
   * behind it; otherwise the link keeps it aside (hold()) and the end is held until its window
   * opens. A SEND its process made after its own CLOSE (which waits behind held messages) is refused.
   */
  private holdOrWait(qp: HardwareQueuePair, handle: number, e: number, src: RingConsumer, payload: number, bytes: number): Outcome {
    const remote = this.remote!;
    if (remote.closing(e)) {
      this.counters.sendError(qp.port.index);
      this.complete(qp, Status.ECLOSED, RecordType.SEND, handle);
      return DONE;
    }
    if (!src.takeOthersWaiting() && src.sameBehind(RecordType.SEND, handle)) return this.blockedOnFullRing(src, handle);
    if (!remote.hold(e, src.u8, payload, bytes)) return this.blockedOnFullRing(src, handle);
    this.keptInServe = true;
    // Marked at each message held (one store): the hold lasts until what is held for `e` is sent.
    this.ports[this.table.partitionIndexOf(e)].writeHeld(this.table.slotOf(e), true);
    return DONE;
  }

  /**
   * Receive stage's last step for a message that arrived over a link and verified against an entry
   * owned by `dqp`, which knows it by `deliveryHandle` (queuePairOf() that entry, looked up once
   * per run of messages): copy it into the owner's receive ring. BLOCKED: the ring is full (the
   * reader holds it and retries); GONE: the owner's queue pair is not active, the message is dropped.
   */
  deliverFromLink(dqp: HardwareQueuePair | undefined, deliveryHandle: number, src8: Uint8Array, src32: Uint32Array, from: number, bytes: number): number {
    if (dqp === undefined || dqp.state !== QueuePairState.ACTIVE) return GONE;
    const rx = dqp.receive;
    // tryClaim() first, as sendRun() does: claim()'s call on every message cost more than its work.
    let at = rx.isWaitingForSpace ? FULL : rx.tryClaim(RecordType.DATA, deliveryBodyBytes(bytes));
    if (at < 0) at = this.claim(rx, RecordType.DATA, deliveryBodyBytes(bytes));
    if (at === FULL) return BLOCKED;
    if (at === FAULT) {
      this.faultQueuePair(dqp, 'receiveRingPosition');
      return GONE;
    }
    const to = writeDelivery(rx.u32, at, deliveryHandle, Status.OK);
    if (bytes <= WordCopy.LIMIT && (from & 3) === 0) copyAlignedWords(src8, src32, from, rx, to, bytes);
    else copyBytes(src8, src32, from, rx, to, bytes);
    // The caller counts the delivery (once per batch of input, not per message).
    if (!dqp.receiveDirty) {
      dqp.receiveDirty = true;
      this.unpublished[this.unpublishedCount++] = dqp;
    }
    return DONE;
  }

  /** The queue pair that owns entry `d` (for a message to `d`, the one that receives it), if there is one. */
  queuePairOf(d: number): HardwareQueuePair | undefined {
    const t = this.table;
    return this.ports[t.partitionIndexOf(d)].queuePairs[t.ownerQueuePair[d]];
  }

  /** The queue pair that owns the other end of entry `e`, if there is one. */
  private receivingQueuePair(e: number): HardwareQueuePair | undefined {
    const d = this.table.peer[e];
    return d === NO_ENTRY ? undefined : this.queuePairOf(d);
  }

  /**
   * Copy one verified message of end `e` into the receiving queue pair's ring; `deliveryHandle` is
   * how the receiving end knows the channel. Into the ring if it has room and nothing is kept for
   * that ring already; otherwise it waits, or is kept aside behind what is (keepOrWait()).
   */
  private deliver(qp: HardwareQueuePair, handle: number, e: number, deliveryHandle: number, dqp: HardwareQueuePair, src: RingConsumer, payload: number, bytes: number): Outcome {
    if (dqp.state !== QueuePairState.ACTIVE) {
      this.counters.sendError(qp.port.index);
      this.complete(qp, Status.EFAULT, RecordType.SEND, handle);
      return DONE;
    }
    if (dqp.keptMessages > 0) return this.keepOrWait(qp, handle, e, deliveryHandle, dqp, src, payload, bytes);
    const rx = dqp.receive;
    const at = this.claim(rx, RecordType.DATA, deliveryBodyBytes(bytes));
    if (at === FULL) return this.keepOrWait(qp, handle, e, deliveryHandle, dqp, src, payload, bytes);
    if (at === FAULT) {
      this.faultQueuePair(dqp, 'receiveRingPosition');
      this.counters.sendError(qp.port.index);
      this.complete(qp, Status.EFAULT, RecordType.SEND, handle);
      return DONE;
    }
    copyPayload(src, payload, rx, writeDelivery(rx.u32, at, deliveryHandle, Status.OK), bytes);
    this.countDelivery(qp, dqp, bytes);
    this.channelCounters.sent(e, 1, bytes);
    this.channelCounters.delivered(this.table.peer[e], 1, bytes);
    return DONE;
  }

  /**
   * The message's receive ring is full, or messages are kept for it already. While nothing but
   * this channel's SENDs waits behind it in `qp`'s send ring (a stream), and its process has not
   * said that another channel's work request found no room in that ring (the ring's hint, taken
   * here), it waits there (BLOCKED), retried each round, as always: holding it back holds back
   * nothing else, and keeping a stream aside would copy each message twice. Otherwise it is kept
   * aside (keepAside()), so what waits behind it goes on.
   */
  private keepOrWait(qp: HardwareQueuePair, handle: number, e: number, deliveryHandle: number, dqp: HardwareQueuePair, src: RingConsumer, payload: number, bytes: number): Outcome {
    if (!src.takeOthersWaiting() && src.sameBehind(RecordType.SEND, handle)) return this.blockedOnFullRing(src, handle);
    return this.keepAside(qp, e, deliveryHandle, dqp, src, payload, bytes);
  }

  /**
   * serve()'s end when its head waits for a full receive ring, or waited at the last serve, or a
   * SEND was kept aside (THREATS case 51): the ring's blocked-head words say whether one waits now;
   * after a SEND was kept aside all the room goes back at once, waking the sender, so what waited
   * behind it gets in.
   */
  private afterHeldBack(ring: RingConsumer): void {
    if (!this.headBlocked) ring.showBlocked(-1);
    this.headBlocked = false;
    if (this.keptInServe) {
      this.keptInServe = false;
      ring.release();
    } else if (ring.unreleasedBytes >= this.releaseStep) ring.release(ring.capacity >>> 2);
  }

  /**
   * The SEND at the head of `src` waits for its full receive ring: say on which channel, for its
   * process's hint. When that is news, wake a sender waiting for room: it looks again, and raises
   * the hint if it is another channel's (a serve() that ended on records not seen yet had taken the
   * word down, and a writer that looked then went to sleep without a hint).
   */
  private blockedOnFullRing(src: RingConsumer, handle: number): Outcome {
    if (src.blockedShown !== handle) {
      src.showBlocked(handle);
      src.wakeProducer();
    }
    this.headBlocked = true;
    return BLOCKED;
  }

  /**
   * Keep the message aside, behind what is kept for its ring (counted as sent and delivered once it
   * is in the ring), so the work requests behind it in `qp`'s send ring go on; end `e` is held until
   * none of its messages is kept. Past the channel's bound only a sender that went on sending on a
   * held channel: it waits in its own send ring.
   */
  private keepAside(qp: HardwareQueuePair, e: number, deliveryHandle: number, dqp: HardwareQueuePair, src: RingConsumer, payload: number, bytes: number): Outcome {
    const t = this.table;
    const d = t.peer[e];
    const first = !this.kept.has(d);
    if (!this.kept.keep(dqp, d, deliveryHandle, qp, t.handle(e), src.u8, payload, bytes)) return this.blockedOnFullRing(src, t.handle(e));
    this.counters.kept(dqp.port.index, 1);
    this.keptInServe = true;
    if (first) this.ports[t.partitionIndexOf(e)].writeHeld(t.slotOf(e), true);
    return DONE;
  }

  /** Move kept messages into their receive rings as far as they have room, and publish them. */
  private moveKeptMessages(): number {
    const moved = this.kept.moveEach(this.moveKept);
    if (moved > 0) this.publishDeliveries();
    return moved;
  }

  /** Move what is kept for `dqp` into its receive ring, in order, as far as it has room and a queue pair's budget goes. */
  private readonly moveKept = (dqp: HardwareQueuePair, q: KeptMessages): number => {
    if (dqp.state !== QueuePairState.ACTIVE) {
      this.dropQueue(dqp);
      return 0;
    }
    // Tried in every round, not only once the reader rings: a reader that keeps draining holds its
    // wake-up back until a quarter of its ring is free (receive-release.ts), and the claim that
    // finds room lowers the ring's space flag, as a SEND's does.
    const p = dqp.port.index;
    const budget = this.budgetPerRound;
    let n = 0;
    while (q.count > 0 && n < budget) {
      const tag = q.firstTag;
      // An end closed since (its messages were dropped then, and are left for here: case 81): skipped.
      const d = this.kept.firstDropped(q) ? NO_ENTRY : this.keptEnd(dqp, tag);
      if (d === NO_ENTRY) {
        this.kept.shift(dqp, q, NO_ENTRY);
        continue;
      }
      const bytes = q.firstBytes;
      const r = this.deliverFromLink(dqp, tag, q.bytes8, q.words32, q.firstAt, bytes);
      if (r !== DONE) {
        // GONE: the reader's queue pair faulted on this claim.
        if (r === GONE) this.dropQueue(dqp);
        break;
      }
      this.kept.shift(dqp, q, d);
      n++;
      this.counters.sent(this.kept.sender(d), 1, bytes);
      this.counters.delivered(p, 1, bytes);
      this.counters.kept(p, -1);
      this.countKeptOnChannel(d, bytes);
      if (!this.kept.has(d)) this.nothingKept(d);
    }
    return n;
  };

  /** A kept message reached end `d`'s ring: count it on the channel, and on its sender's end while that end is still this channel's. */
  private countKeptOnChannel(d: number, bytes: number): void {
    this.channelCounters.delivered(d, 1, bytes);
    const e = this.table.peer[d];
    // Closed since (its slot perhaps another channel's now): counted on its partition alone.
    if (e !== NO_ENTRY && this.table.peer[e] === d) this.channelCounters.sent(e, 1, bytes);
  }

  /** The live end of `dqp`'s partition that `deliveryHandle` names, owned by `dqp`; NO_ENTRY if none is. */
  private keptEnd(dqp: HardwareQueuePair, deliveryHandle: number): number {
    return this.table.liveEntryOwnedBy(dqp.port.index, deliveryHandle, dqp.index);
  }

  /**
   * Messages kept for end `d` of `dqp` are dropped, undelivered (its reader closed it or stopped):
   * its sender hears `status` for them in one completion, as it would for a SEND that found the end
   * gone (invariant 5: what the hardware took is delivered, or its sender learns why not), even if
   * it closed its end since, as long as its process runs.
   */
  private dropKept(dqp: HardwareQueuePair | undefined, d: number, status: number): void {
    const t = this.table;
    const sender = this.kept.senderQueuePair(d);
    const senderHandle = this.kept.senderHandle(d);
    const n = this.kept.drop(dqp, d, t.handle(d));
    if (n === 0) return;
    // Counted on the sending partition even when the process that sent them is gone: a message
    // taken from a send ring is counted delivered or refused, never neither. Refused first, then
    // no longer kept (as moveKept counts sent and delivered first): stats() is a plain read, and
    // whoever sees the kept gauge fall must find them counted (test/kept-gauge-order.test.ts).
    this.counters.sendError(this.kept.sender(d), n);
    this.counters.kept(t.partitionIndexOf(d), -n);
    if (sender !== undefined && sender.state === QueuePairState.ACTIVE) this.complete(sender, status, RecordType.SEND, senderHandle, n);
    this.nothingKept(d);
  }

  /**
   * `dqp` stopped: every message kept for it is dropped, each end's sender told `status`, in the
   * order their messages came. The queue goes at once: dropped one end at a time, it cost a pass
   * over what was left per end (THREATS case 81).
   */
  private dropQueue(dqp: HardwareQueuePair): void {
    const status = Status.EFAULT;
    for (const tag of this.kept.takeAll(dqp)) {
      const d = this.keptEnd(dqp, tag);
      if (d !== NO_ENTRY && this.kept.has(d)) this.dropKept(dqp, d, status);
    }
  }

  /**
   * None of end `d`'s messages is kept any more: a CLOSE its sender made meanwhile is acknowledged
   * now (after the answers for them), and its end, if still open, is no longer held.
   */
  private nothingKept(d: number): void {
    if (this.kept.takeCloseAck(d)) {
      const sender = this.kept.senderQueuePair(d);
      if (sender !== undefined && sender.state === QueuePairState.ACTIVE) this.complete(sender, Status.OK, RecordType.CLOSE, this.kept.senderHandle(d));
    }
    this.releaseHold(d);
    this.kept.forgetSender(d);
  }

  /**
   * Its sender's end is no longer held, and a write() waiting on it wakes: to send (the end is
   * open), or to find the end ended (its held word went back to 0 with its state: writeConnection).
   */
  private releaseHold(d: number): void {
    const t = this.table;
    const e = t.peer[d];
    // `d` may still name an end its sender closed, whose slot another channel took since.
    if (e === NO_ENTRY || t.peer[e] !== d || t.remoteNode[e] !== 0) return;
    this.releaseSenderHold(e);
  }

  /** Count a message of the general path `qp` sent and `dqp` received (written out once per serve()), and mark `dqp`'s receive ring for publishing. */
  private countDelivery(qp: HardwareQueuePair, dqp: HardwareQueuePair, bytes: number): void {
    // Towards the flood's drain, as sendRun() counts its runs: what they leave to this path (a traced machine's sampled messages) counts too.
    if (dqp === qp.lookupDestination) this.runDelivered++;
    this.sentMessages++;
    this.sentBytes += bytes;
    if (dqp.port.index !== this.deliveredTo) this.countDeliveriesTo(dqp.port.index);
    this.deliveredMessages++;
    this.deliveredBytes += bytes;
    if (!dqp.receiveDirty) this.markUnpublished(qp, dqp);
  }

  /** The messages of this serve() start going to partition `to`: write out what went to the previous one. */
  private countDeliveriesTo(to: number): void {
    if (this.deliveredMessages > 0) this.counters.delivered(this.deliveredTo, this.deliveredMessages, this.deliveredBytes);
    this.deliveredTo = to;
    this.deliveredMessages = this.deliveredBytes = 0;
  }

  /** `dqp`'s receive ring was written: publish it once this serve() ends (`qp`'s own rings are published anyway). */
  private markUnpublished(qp: HardwareQueuePair, dqp: HardwareQueuePair): void {
    dqp.receiveDirty = true;
    if (dqp !== qp) this.unpublished[this.unpublishedCount++] = dqp;
  }

  /** Write the current serve()'s message and byte counts into the counter block. */
  private flushCounters(from: number): void {
    this.counters.sent(from, this.sentMessages, this.sentBytes);
    this.sentMessages = this.sentBytes = 0;
    if (this.deliveredMessages > 0) this.counters.delivered(this.deliveredTo, this.deliveredMessages, this.deliveredBytes);
    this.deliveredTo = -1;
    this.deliveredMessages = this.deliveredBytes = 0;
  }

  /**
   * Write serve()'s counts before a publish that can show its messages: at its end, and in the
   * middle of it (an END, a detach, a fault), so stats() read once a receiver saw something never
   * counts less than it saw.
   */
  private countBeforePublish(): void {
    if (this.sentMessages > 0) this.flushCounters(this.serving);
  }

  /** The engine changed a table or a queue pair: no lookup made before it may be reused. */
  private forgetChannelCache(): void {
    this.lookupGeneration++;
  }

  /** Claim on a hardware-produced ring; when full, ask its consumer to ring our doorbell once it frees space. */
  private claim(ring: RingProducer, type: number, bodyBytes: number): number {
    const at = ring.tryClaim(type, bodyBytes);
    if (at === FULL) return this.claimAnnounced(ring, type, bodyBytes);
    if (at >= 0) ring.clearWaitingForSpace();
    return at;
  }

  /**
   * claim() on a full ring: announce, then try once more (no lost wake-up). Apart from claim() so
   * the busy path inlines tryClaim() once, not twice (V8 counts each inlined copy against its
   * budget, and the second left no room to inline the payload copy).
   */
  private claimAnnounced(ring: RingProducer, type: number, bodyBytes: number): number {
    ring.announceWaitingForSpace();
    const at = ring.tryClaim(type, bodyBytes);
    if (at >= 0) ring.clearWaitingForSpace();
    return at;
  }

  // ── channel ends ──────────────────────────────────────────────────────────

  private close(qp: HardwareQueuePair, handle: number): Outcome {
    const e = this.ownedEntry(qp, handle, RecordType.CLOSE);
    if (e === NO_ENTRY) return DONE;
    // An end on another node with messages held for its window: they go first, then the CLOSE
    // (finishClose()); a second CLOSE meanwhile is answered as for a closed channel.
    if (this.table.remoteNode[e] !== 0 && this.remote !== undefined) {
      if (this.remote.closing(e)) {
        this.complete(qp, Status.ECLOSED, RecordType.CLOSE, handle);
        return DONE;
      }
      if (this.remote.closeAfterHeld(e, Status.OK)) return DONE;
    }
    // The other end, while it is still this channel's: once its process closed it, `peer[e]` names
    // a freed slot, perhaps another channel's now, and nothing of this end is kept there (its close
    // dropped it). Deferred onto that channel, this CLOSE was never answered here, and its sender,
    // another partition's process, got the acknowledgement on its own live handle (THREATS case 121).
    const t = this.table;
    const peer = t.peer[e];
    const d = peer !== NO_ENTRY && t.peer[peer] === e ? peer : NO_ENTRY;
    this.closeEnd(e, Status.OK);
    // Messages of this end kept aside for the other are still delivered or refused, and a queue
    // pair's answers come in the order of its work requests (its process forgets the channel at
    // the CLOSE's): the acknowledgement waits for them (nothingKept()).
    if (d !== NO_ENTRY && this.kept.has(d)) this.kept.deferCloseAck(d);
    else this.complete(qp, Status.OK, RecordType.CLOSE, handle);
    return DONE;
  }

  /** What one channel end may have kept or held aside (twice the send ring), counted as KeptMessages counts. */
  get keptLimitBytes(): number {
    return this.kept.limitBytes;
  }

  /** The active queue pair of the process that owns end `e`, if that process still runs; otherwise undefined. */
  ownerOf(e: number): HardwareQueuePair | undefined {
    const qp = this.queuePairOf(e);
    return qp !== undefined && qp.state === QueuePairState.ACTIVE && qp.process === this.table.ownerProcess[e] ? qp : undefined;
  }

  /**
   * The close of end `e` that waited behind messages held for its window (THREATS case 52: its
   * process's CLOSE, `status` OK, or its process's end, EPEERDEAD) is done now that they are sent,
   * or dropped: the other node learns it after them (with `peerStatus`: ENOBUFS when they were
   * dropped because it read nothing), and a CLOSE is acknowledged.
   */
  finishClose(e: number, status: number, peerStatus = status): void {
    const qp = this.ownerOf(e);
    const handle = this.table.handle(e);
    this.closeEnd(e, peerStatus);
    if (status === Status.OK && qp !== undefined) this.complete(qp, Status.OK, RecordType.CLOSE, handle);
  }

  /**
   * An end closing behind held messages ended first (its peer closed, its link went down, it
   * faulted: what it held was dropped): its close is done, and nobody else is told (no END: its
   * process closed it or ended; its peer learns from the link).
   */
  endClosing(e: number, status: number): void {
    // Ended already, closeEnd() tells no peer and writes no END: finishClose() on what is left.
    this.table.state[e] = ConnectionState.PEER_CLOSED;
    this.finishClose(e, status);
  }

  /** The stamp of a message of end `e` sent by its own partition (claim 10's send stage), for messages held for its window. */
  stampOf(e: number): Stamp {
    this.stamp.stamp(e, this.table.partitionIndexOf(e));
    return this.stamp;
  }

  /**
   * Nothing of end `e` is held or kept any more: if still open it is no longer held, and a write()
   * waiting on it wakes (to send, or to find the end ended).
   */
  releaseSenderHold(e: number): void {
    const t = this.table;
    if (t.state[e] === ConnectionState.OPEN) this.ports[t.partitionIndexOf(e)].writeHeld(t.slotOf(e), false);
    this.queuePairOf(e)?.send.wakeProducer();
  }

  /**
   * Whether a completion record fits in `qp`'s completion ring; when not, ask its reader to ring
   * the doorbell once it frees some (announced, then checked again: no lost wake-up).
   */
  private completionRoom(qp: HardwareQueuePair): boolean {
    const cq = qp.completion;
    if (cq.canClaim(CompletionBody.BYTES)) return true;
    cq.announceWaitingForSpace();
    if (!cq.canClaim(CompletionBody.BYTES)) return false;
    cq.clearWaitingForSpace();
    return true;
  }

  /** The process on this queue pair ended: close what it left open and free the queue pair. */
  private detach(qp: HardwareQueuePair): void {
    this.closeEndsOwnedBy(qp.port, qp.index, Status.EPEERDEAD);
    this.complete(qp, Status.OK, RecordType.DETACH, 0);
    this.countBeforePublish();
    qp.publish();
    this.onDetach(qp);
    this.deactivate(qp, QueuePairState.FREE);
  }

  closeEndsOwnedBy(port: PartitionPort, queuePair: number, peerStatus: number): void {
    const t = this.table;
    for (let slot = 0; slot < t.slotsPerPartition; slot++) {
      const e = t.entry(port.index, slot);
      if (t.isLive(e) && (queuePair < 0 || t.ownerQueuePair[e] === queuePair)) {
        // A process's end on another node with messages held for its window: closed behind them,
        // as behind what it left in its send ring (LinkedChannels.closeAfterHeld). Every work
        // request on the end is refused meanwhile, whichever process the queue pair serves next.
        if (queuePair >= 0 && t.remoteNode[e] !== 0 && this.remote !== undefined && (this.remote.closing(e) || this.remote.closeAfterHeld(e, peerStatus))) continue;
        this.closeEnd(e, peerStatus);
      }
    }
  }

  /**
   * Close one end: the other end (if still open) learns why through an END
   * record after everything already delivered to it; both keys are zeroed.
   */
  closeEnd(e: number, peerStatus: number): void {
    this.forgetChannelCache();
    const t = this.table;
    const d = t.peer[e];
    if (t.state[e] === ConnectionState.OPEN) {
      if (d !== NO_ENTRY) this.endByPeer(d, peerStatus);
      else if (t.remoteNode[e] !== 0) this.remote?.closed(e, peerStatus);
    }
    // Nobody reads a closed end: what was kept for it goes, and its sender hears why. After the
    // END above, so the sender's end is ended, not merely no longer held (a write waiting on the
    // hold fails, rather than sending into a closed channel).
    if (this.kept.has(e)) this.dropKept(this.queuePairOf(e), e, peerStatus === Status.OK ? Status.ECLOSED : peerStatus);
    this.keys.zero(e);
    t.release(e);
    this.ports[t.partitionIndexOf(e)].writeConnection(t.slotOf(e), 0, 0, 0, 0, ConnectionState.FREE);
  }

  /**
   * The other end of entry `d` is gone (closed, dead, or its link down: `peerStatus` says which):
   * its owner learns it through an END after everything already delivered, and its key is zeroed.
   */
  endByPeer(d: number, peerStatus: number): void {
    this.forgetChannelCache();
    const t = this.table;
    const state =
      peerStatus === Status.OK ? ConnectionState.PEER_CLOSED : peerStatus === Status.ELINKDOWN ? ConnectionState.LINK_DOWN : ConnectionState.PEER_DEAD;
    t.state[d] = state;
    this.keys.zero(d);
    this.ports[t.partitionIndexOf(d)].writeConnection(t.slotOf(d), t.handle(d), t.ownerProcess[d], t.remotePartition[d], t.remoteProcess[d], state, t.remoteNode[d]);
    t.pendingEnd[d] = peerStatus + 1;
    if (!this.deliverEnd(d)) this.pendingEnds.push(d);
  }

  /** Write a pending END; false while the owner's receive ring is full. */
  private deliverEnd(d: number, dqp = this.queuePairOf(d)): boolean {
    const t = this.table;
    const status = t.pendingEnd[d] - 1;
    if (status < 0) return true;
    if (dqp === undefined || dqp.state !== QueuePairState.ACTIVE) {
      t.pendingEnd[d] = 0;
      return true;
    }
    // After the messages kept for it: they go into its ring first (moveKept).
    if (this.kept.has(d)) return false;
    const at = this.claim(dqp.receive, RecordType.END, deliveryBodyBytes(0));
    if (at === FULL) return false;
    if (at !== FAULT) {
      writeDelivery(dqp.receive.u32, at, t.handle(d), status);
      dqp.receiveDirty = true;
      this.countBeforePublish();
      dqp.publish();
    }
    t.pendingEnd[d] = 0;
    return true;
  }

  /**
   * Every round, the ENDs waiting for room. Once one END found its receive ring full, the others
   * for that ring wait this pass without a claim (they are all the same size): a partition whose
   * peers closed each of its channels while it read nothing had one END per channel slot waiting on
   * one ring, and every round of the engine tried each of them, two claims apiece (THREATS case 127:
   * 2,046 of them, up to 4096 slots a partition, took ~185 µs a round, 70% of the hardware's time
   * beside round trips elsewhere). Now one claim per full ring and pass, and a cheap look for the rest.
   */
  private flushPendingEnds(): number {
    const waiting = this.pendingEnds;
    const pass = ++this.endPass;
    let done = 0;
    let left = 0;
    for (let i = 0; i < waiting.length; i++) {
      const d = waiting[i];
      const dqp = this.queuePairOf(d);
      if (dqp !== undefined && dqp.endsFullPass === pass) waiting[left++] = d;
      else if (this.deliverEnd(d, dqp)) done++;
      else {
        waiting[left++] = d;
        // Not delivered, and not for messages kept for its end (those go first): its ring is full.
        if (dqp !== undefined && !this.kept.has(d)) dqp.endsFullPass = pass;
      }
    }
    waiting.length = left;
    return done;
  }

  // ── errors and completions ───────────────────────────────────────────────

  private reject(qp: HardwareQueuePair, kind: ViolationKind, status: number, opcode: number, handle: number): Outcome {
    this.counters.violation(qp.port.index, kind);
    this.complete(qp, status, opcode, handle);
    return DONE;
  }

  /** Stop serving a queue pair whose ring broke the rules, until its partition resets it. */
  faultQueuePair(qp: HardwareQueuePair, kind: ViolationKind): void {
    this.counters.violation(qp.port.index, kind);
    this.complete(qp, Status.EFAULT, QUEUE_PAIR_FAULT, 0);
    this.countBeforePublish();
    qp.publish();
    this.deactivate(qp, QueuePairState.FAULTED);
    this.remote?.faulted(qp);
  }

  /** Post an error or acknowledgement on the queue pair's completion ring; a full ring drops it and counts the drop. */
  complete(qp: HardwareQueuePair, status: number, opcode: number, handle: number, count = 1): void {
    if (!qp.postCompletion(status, opcode, handle, count)) this.counters.completionDropped(qp.port.index);
  }

  /** Operator: a partition died or was stopped. Its ends close; peers learn EPEERDEAD. */
  partitionDown(port: PartitionPort): void {
    port.alive = false;
    this.closeEndsOwnedBy(port, -1, Status.EPEERDEAD);
    for (const qp of port.queuePairs) this.deactivate(qp, QueuePairState.FREE);
    this.forgetPort(port);
  }

  /**
   * Let go of every reference to `port`'s queue pairs that other queue pairs keep: their lookups'
   * destination (stale already: the ends closed above moved the generation on) and their flood's
   * drain, the rings to publish that the last serve listed, and the senders of messages kept. Each queue pair holds its port,
   * and a port every ring of its partition (~4 MiB at the default geometry): kept, they held a
   * restarted run's old port for good, up to two per queue pair of the machine (THREATS case 122).
   * Once per partition that goes down, a pass over the queue pairs; nothing on the busy path.
   */
  private forgetPort(port: PartitionPort): void {
    for (const p of this.ports) {
      for (const qp of p.queuePairs) {
        if (qp.lookupDestination?.port === port) {
          qp.lookupGeneration = -1;
          qp.lookupDestination = undefined;
        }
        if (qp.floodDestination?.port === port) qp.floodDestination = undefined;
      }
    }
    // Published and counted at the end of every serve: what stays past the count is old entries.
    this.unpublished.length = this.unpublishedCount;
    // And what is kept from this run for readers elsewhere (THREATS case 123, beside case 102).
    this.kept.forgetSendersOf(port);
    // And the link's receive stage's last run (THREATS case 130).
    this.remote?.forgetPort?.(port);
  }

  /**
   * Before the hardware sleeps: hand back all consumed send-ring space, waking a sender that waits
   * for it, however little it is (serve() hands it back in steps, and a sender may need less).
   */
  releaseAll(): void {
    const active = this.active;
    for (let i = 0; i < active.length; i++) active[i].send.release();
  }

  /**
   * Whether every send ring of an active queue pair is empty and nothing waits to go to another
   * node (Hardware.closeLinks waits for it): what the partitions published is all served.
   */
  sendsServed(): boolean {
    for (const qp of this.active) {
      const ring = qp.send;
      if (qp.state !== QueuePairState.ACTIVE || !ring.ready()) continue;
      // A SEND at the head that waits for a full receive ring on this node (shown blocked) waits
      // for good: every partition here has stopped, its reader too. Nothing behind it can go
      // either, so waiting out the bound for it only delays the close.
      if (ring.poll() === RecordType.SEND) {
        const handle = workRequestChannel(ring.u32, ring.bodyOffset);
        const e = this.liveOwnedEntry(qp, handle);
        if (e !== NO_ENTRY && this.table.remoteNode[e] === 0 && ring.blockedShown === handle) continue;
      }
      return false;
    }
    return this.remote === undefined || !this.remote.holding;
  }

  /** Publish every ring written outside the loop (control-plane closes). */
  publishAll(): void {
    for (const port of this.ports) for (const qp of port.queuePairs) qp.publish();
  }
}

/** What a send on an end that is no longer open completes with. */
function endedStatus(state: number): number {
  if (state === ConnectionState.PEER_DEAD) return Status.EPEERDEAD;
  if (state === ConnectionState.LINK_DOWN) return Status.ELINKDOWN;
  return Status.ECLOSED;
}
