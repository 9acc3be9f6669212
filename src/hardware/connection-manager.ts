/**
 * Claim 1's connection set-up, split into its two sides even though one
 * hardware unit plays both here: the send side allocates its end and makes a
 * key; the receive side checks both partition ids (the partitions exist, the
 * policy allows the pair, someone listens) and stores the key. A second
 * hardware unit would receive the same KeyExchange over a hardware link.
 */
import { ChannelStateTable, LOCAL_SOURCE, NO_ENTRY } from './channel-state-table.js';
import { Counters } from './counters.js';
import { Engine } from './engine.js';
import { KeyTable } from './key-table.js';
import { PartitionPort, QueuePairState } from './partition-port.js';
import { Policy } from './policy.js';
import { isService, MAX_SERVICE, type ChannelGrant, type ControlFailure, type ControlResult } from '../shared/control-contract.js';
import { Status, type ChannelErrorCode } from '../shared/errors.js';
import { ConnectionState } from '../shared/layout.js';
import { channelMessageLimit } from '../shared/link-frames.js';

/** Passed from the send side to the receive side (claim 1). Hardware-internal. */
export interface KeyExchange {
  /** The send side's node: 0 for this node, else the link it arrived over (hardware/link/remote-connect.ts). */
  sourceNode: number;
  /** This node: the send side's key-table entry (reserved while the receive side picks its own). Another node: NO_ENTRY. */
  keyEntry: number;
  /** Another node: the send side's channel id, which every frame for this channel names. */
  sourceChannel: number;
  /** Another node: the window the send side grants for this channel (docs/LINK.md); 0 on this node. */
  sourceWindow: number;
  /** Another node: its maxMessageBytes, as its CONNECT stated it; 0 on this node. */
  sourceMaxMessage: number;
  /** Store the channel key in the receive side's entry `d`: a copy from `keyEntry`, or the key the frame carried. */
  storeKey(d: number): void;
  sourcePartition: number;
  sourceProcess: number;
  destinationPartition: number;
  destinationService: number;
}

interface Listener {
  readonly port: PartitionPort;
  readonly queuePair: number;
  readonly service: number;
  /**
   * Channels connected but not accepted yet, as handles (slot and generation), never bare entries:
   * the listening process may close one before accepting it and the slot may then carry another
   * process's channel (THREATS case 31).
   */
  readonly backlog: number[];
  readonly waiters: Array<(r: ControlResult<ChannelGrant>) => void>;
}

/**
 * Bounds on what one partition can make the hardware hold through its control endpoint (THREATS
 * case 30). With them a partition costs the hardware's heap at most about `listeners` × 200 bytes +
 * PENDING_ACCEPTS_PER_PARTITION × 700 bytes (≈ 58 KB at the defaults), beside its fixed tables.
 */
export const LISTEN_BACKLOG = 64;
export const MAX_PENDING_ACCEPTS = 16;
export const PENDING_ACCEPTS_PER_PARTITION = 64;

function fail(code: ChannelErrorCode, message: string, todo?: string): ControlFailure {
  return todo === undefined ? { ok: false, code, message } : { ok: false, code, message, todo };
}

/** The send side of claim 1 toward another node (hardware/link/remote-connect.ts); absent on a machine that is not a node. */
export interface RemoteConnector {
  connect(port: PartitionPort, qp: number, node: number, partitionId: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>>;
  /** The run of partition `partitionIndex` ended: the connects it left waiting are answered now, and hold nothing of it. */
  partitionDown(partitionIndex: number): void;
}

const NOBODY_HELD_BACK: ReadonlySet<number> = new Set();

/** Who a connect comes from, as ChannelStateTable.sourceOf names the end it opens. */
function sourceOfConnect(x: KeyExchange): number {
  return x.sourceNode !== 0 ? x.sourceNode : LOCAL_SOURCE + x.sourcePartition;
}

export class ConnectionManager {
  private readonly listeners = new Map<string, Listener>();
  /** Set on a node: connects to other nodes go through it. */
  remote: RemoteConnector | undefined;
  /** Per partition index: listeners held, and accepts waiting. */
  private readonly listenerCount: number[];
  private readonly acceptCount: number[];
  /**
   * Ends of one partition that may wait in its listeners' backlogs at once: connecting costs the
   * listening partition a slot before it accepts (claim 1: its hardware stores the key in its own
   * entry), so others' connects may take at most half its slots, never the ones its own connects
   * and accepts need.
   */
  private readonly maxUnaccepted: number;
  /**
   * Per partition index: the sources (ChannelStateTable.sourceOf: another node, or a partition of
   * this node) whose connects held more than their share of the places waiting to be accepted when
   * someone else's connect found them all taken, and that share (the places split evenly among
   * the sources holding some and the one refused). Until someone else's connect gets in, their
   * connects take no place an accept frees while they hold their share or more. A node that answers
   * each refusal and each close with another CONNECT took every freed place within a round trip
   * (THREATS case 112), and so did two such nodes between them, each holding about half, neither
   * more (case 113): every other source's connects, retried, found the backlog full for as long as
   * it went on.
   */
  private readonly heldBack: Array<ReadonlySet<number>>;
  private readonly heldBackShare: number[];

  constructor(
    private readonly ports: PartitionPort[],
    private readonly engine: Engine,
    private readonly table: ChannelStateTable,
    private readonly keys: KeyTable,
    readonly policy: Policy,
    private readonly kick: () => void,
    private readonly counters: Counters,
    private readonly listenersPerPartition: number,
    /** This node's id (0: the machine is not a node), written as the node of local peers. */
    readonly localNode = 0,
  ) {
    this.listenerCount = ports.map(() => 0);
    this.acceptCount = ports.map(() => 0);
    this.heldBack = ports.map(() => NOBODY_HELD_BACK);
    this.heldBackShare = ports.map(() => 0);
    this.maxUnaccepted = Math.max(1, table.slotsPerPartition >>> 1);
    engine.onDetach = (qp) => this.dropListeners(qp.port, qp.index);
  }

  /** The port that holds partition `index` now (a restart replaces it). */
  portAt(index: number): PartitionPort {
    return this.ports[index];
  }

  private portById(id: number): PartitionPort | undefined {
    return this.ports.find((p) => p.id === id && p.alive);
  }

  private activeQueuePair(port: PartitionPort, qp: number): string | undefined {
    if (!Number.isInteger(qp) || qp < 0 || qp >= port.queuePairs.length) {
      return `queue pair ${qp} is outside 0..${port.queuePairs.length - 1}`;
    }
    if (port.queuePairs[qp].state !== QueuePairState.ACTIVE) return `queue pair ${qp} is not open`;
    return undefined;
  }

  openQueuePair(port: PartitionPort, qp: number): ControlResult<{ process: number }> {
    if (!Number.isInteger(qp) || qp < 0 || qp >= port.queuePairs.length) {
      return fail('EINVAL', `queue pair ${qp} is outside 0..${port.queuePairs.length - 1}`);
    }
    const q = port.queuePairs[qp];
    if (q.state !== QueuePairState.FREE) return fail('EINVAL', `queue pair ${qp} is already in use`);
    q.process = port.newProcessId();
    this.engine.activate(q);
    this.kick();
    return { ok: true, process: q.process };
  }

  /** Bring a faulted queue pair back: all three rings restart empty at position 0. */
  resetQueuePair(port: PartitionPort, qp: number): ControlResult {
    if (!Number.isInteger(qp) || qp < 0 || qp >= port.queuePairs.length) {
      return fail('EINVAL', `queue pair ${qp} is outside 0..${port.queuePairs.length - 1}`);
    }
    const q = port.queuePairs[qp];
    if (q.state !== QueuePairState.FAULTED) return fail('EINVAL', `queue pair ${qp} is not faulted`);
    q.reset();
    this.engine.activate(q);
    this.kick();
    return { ok: true };
  }

  listen(port: PartitionPort, qp: number, service: number): ControlResult {
    const bad = this.activeQueuePair(port, qp) ?? this.badService(service);
    if (bad) return fail('EINVAL', bad);
    const key = `${port.index}:${service}`;
    if (this.listeners.has(key)) return fail('EADDRINUSE', `port ${service} of partition ${port.id} already has a listener`);
    if (this.listenerCount[port.index] >= this.listenersPerPartition) {
      return this.refuse(port, 'EMFILE', `partition ${port.id} already holds ${this.listenersPerPartition} listener${this.listenersPerPartition === 1 ? '' : 's'} (listenersPerPartition); close one first`);
    }
    this.listenerCount[port.index]++;
    this.listeners.set(key, { port, queuePair: qp, service, backlog: [], waiters: [] });
    return { ok: true };
  }

  /**
   * Stop listening. `refused`: the handles of the connections still waiting to be accepted, which
   * close now (their peers get ECONNREFUSED): what the process kept of their early messages can go
   * (THREATS case 44), since no accept will ever name them.
   */
  unlisten(port: PartitionPort, qp: number, service: number): ControlResult<{ refused: number[] }> {
    const bad = this.activeQueuePair(port, qp) ?? this.badService(service);
    if (bad) return fail('EINVAL', bad);
    const listener = this.listeners.get(`${port.index}:${service}`);
    if (listener === undefined || listener.queuePair !== qp) return fail('EINVAL', `this process does not listen on port ${service}`);
    return { ok: true, refused: this.dropListener(listener) };
  }

  accept(port: PartitionPort, qp: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>> {
    const bad = this.activeQueuePair(port, qp) ?? this.badService(service);
    if (bad) return fail('EINVAL', bad);
    const listener = this.listeners.get(`${port.index}:${service}`);
    if (listener === undefined || listener.queuePair !== qp) return fail('EINVAL', `this process does not listen on port ${service}`);
    for (let h = listener.backlog.shift(); h !== undefined; h = listener.backlog.shift()) {
      const d = this.backlogEntry(listener, h);
      if (d !== NO_ENTRY) {
        this.table.clearUnaccepted(d);
        return this.grant(d);
      }
    }
    if (listener.waiters.length >= MAX_PENDING_ACCEPTS) {
      return this.refuse(port, 'EAGAIN', `already ${MAX_PENDING_ACCEPTS} accepts pending on port ${service}; await one before starting another`);
    }
    if (this.acceptCount[port.index] >= PENDING_ACCEPTS_PER_PARTITION) {
      return this.refuse(port, 'EAGAIN', `partition ${port.id} already has ${PENDING_ACCEPTS_PER_PARTITION} accepts pending; await some first`);
    }
    this.acceptCount[port.index]++;
    return new Promise((resolve) =>
      listener.waiters.push((r) => {
        this.acceptCount[port.index]--;
        resolve(r);
      }),
    );
  }

  /** The entry a backlog handle still names, if it is still the listener's unaccepted channel; else NO_ENTRY. */
  private backlogEntry(listener: Listener, handle: number): number {
    return this.table.liveEntryOwnedBy(listener.port.index, handle, listener.queuePair);
  }

  /** A control call refused at a bound: counted on the partition, answered with a typed error. */
  private refuse(port: PartitionPort, code: ChannelErrorCode, message: string): { ok: false; code: ChannelErrorCode; message: string } {
    this.counters.controlRefusal(port.index);
    return fail(code, message);
  }

  /** What is wrong with a connect's arguments, or undefined. */
  checkConnect(port: PartitionPort, qp: number, partitionId: number, service: number): string | undefined {
    const bad = this.activeQueuePair(port, qp) ?? this.badService(service);
    if (bad) return bad;
    if (!Number.isInteger(partitionId) || partitionId < 1 || partitionId > 0xffff) return `partition ${partitionId} is not a partition id`;
    return undefined;
  }

  /** Send side of claim 1, to a partition of node `node` (this node's own id: as connect). */
  connectNode(port: PartitionPort, qp: number, node: number, partitionId: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>> {
    if (!Number.isInteger(node) || node < 1 || node > 0xffff) return fail('EINVAL', `node ${node} is not a node id (1 to 65535)`);
    if (node === this.localNode) return this.connect(port, qp, partitionId, service);
    if (this.remote === undefined) {
      return fail('EINVAL', `node ${node}: this machine is not a node (createMachine has no node option); leave node out to connect within the machine`);
    }
    return this.remote.connect(port, qp, node, partitionId, service);
  }

  /** Send side of claim 1. */
  connect(port: PartitionPort, qp: number, partitionId: number, service: number): ControlResult<ChannelGrant> {
    const bad = this.checkConnect(port, qp, partitionId, service);
    if (bad) return fail('EINVAL', bad);
    const e = this.table.allocate(port.index);
    if (e === NO_ENTRY) return this.noSlot(port);
    this.keys.generate(e);
    const process = port.queuePairs[qp].process;
    const answer = this.receiveSideAccept({
      sourceNode: 0,
      keyEntry: e,
      sourceChannel: 0,
      sourceWindow: 0,
      sourceMaxMessage: 0,
      storeKey: (d) => this.keys.copy(e, d),
      sourcePartition: port.id,
      sourceProcess: process,
      destinationPartition: partitionId,
      destinationService: service,
    });
    if (!answer.ok) {
      this.keys.zero(e);
      return answer;
    }
    const d = answer.entry;
    const t = this.table;
    t.open(e, port.id, qp, process, partitionId, t.ownerProcess[d], d);
    port.writeConnection(t.slotOf(e), t.handle(e), process, partitionId, t.ownerProcess[d], ConnectionState.OPEN);
    this.kick();
    return { ok: true, handle: t.handle(e), remoteNode: this.localNode, remotePartition: partitionId, remoteProcess: t.ownerProcess[d] };
  }

  /** Receive side of claim 1: verify both ids, then store the key in its own entry. From another node too (remote-connect.ts). */
  receiveSideAccept(x: KeyExchange): ControlResult<{ entry: number }> {
    const from = x.sourceNode === 0 ? `partition ${x.sourcePartition}` : `partition ${x.sourcePartition} of node ${x.sourceNode}`;
    if (x.sourceNode === 0 && this.portById(x.sourcePartition) === undefined) return fail('EINVAL', `source partition ${x.sourcePartition} is unknown`);
    // The policy first, on the ids alone: a pair it keeps apart learns nothing more than that (not
    // whether the other partition exists or runs: a refusal that said so was a signal between two
    // partitions the policy separates, one exiting while the other connects).
    const allowed =
      x.sourceNode === 0
        ? this.policy.allows(x.sourcePartition, x.destinationPartition)
        : this.policy.allowsRemote(x.destinationPartition, x.sourceNode, x.sourcePartition);
    if (!allowed) return fail('EPOLICY', `${from} and partition ${x.destinationPartition} may not connect`);
    const target = this.portById(x.destinationPartition);
    if (target === undefined) return fail(
        'ECONNREFUSED',
        `partition ${x.destinationPartition} does not exist or is down`,
        // No listener to start: the usual advice did not fit (a new user's report, wave 24).
        'check the partition id (the machine has no such partition, or it is not running); to wait for a partition that is starting, connect with { retry: { timeoutMs } }',
      );
    const listener = this.listeners.get(`${target.index}:${x.destinationService}`);
    if (listener === undefined) {
      return fail('ECONNREFUSED', `nobody listens on port ${x.destinationService} of partition ${x.destinationPartition}`);
    }
    if (listener.backlog.length >= LISTEN_BACKLOG) {
      return fail(
        'ECONNREFUSED',
        `the backlog of port ${x.destinationService} on partition ${x.destinationPartition} is full`,
        'its process accepts more slowly than it is connected to; retry later, or connect with { retry: { timeoutMs } }',
      );
    }
    const waiting = listener.waiters.length > 0;
    if (!waiting && this.table.unacceptedCount(target.index) >= this.maxUnaccepted) {
      this.holdBackAbove(target.index, sourceOfConnect(x));
      return fail(
        'ECONNREFUSED',
        `partition ${x.destinationPartition} already has ${this.maxUnaccepted} connections waiting to be accepted (at most half its channel slots)`,
        'retry once it accepts some, or connect with { retry: { timeoutMs } }',
      );
    }
    const source = sourceOfConnect(x);
    const held = this.heldBack[target.index];
    if (!waiting && held.has(source) && this.table.unacceptedFromSource(target.index, source) >= this.heldBackShare[target.index]) {
      return fail(
        'ECONNREFUSED',
        `partition ${x.destinationPartition} has connections from ${x.sourceNode === 0 ? `partition ${x.sourcePartition}` : `node ${x.sourceNode}`} waiting to be accepted in their share of its backlog or more (${this.heldBackShare[target.index]}), and another's connect was refused: its place goes to another first`,
        'retry once it accepts some, or connect with { retry: { timeoutMs } }',
      );
    }
    const d = this.table.allocate(target.index, x.keyEntry);
    if (d === NO_ENTRY) return this.noSlot(target);
    // Someone else got in: the sources held back take their places as before.
    if (!held.has(source)) this.heldBack[target.index] = NOBODY_HELD_BACK;
    x.storeKey(d);
    const t = this.table;
    const owner = target.queuePairs[listener.queuePair].process;
    if (x.sourceNode === 0) t.open(d, target.id, listener.queuePair, owner, x.sourcePartition, x.sourceProcess, x.keyEntry);
    else t.openRemote(d, target.id, listener.queuePair, owner, x.sourceNode, x.sourcePartition, x.sourceProcess, x.sourceChannel, x.sourceWindow, x.sourceMaxMessage);
    target.writeConnection(t.slotOf(d), t.handle(d), owner, x.sourcePartition, x.sourceProcess, ConnectionState.OPEN, x.sourceNode);
    if (x.sourceNode !== 0) this.kick();
    const waiter = listener.waiters.shift();
    if (waiter !== undefined) waiter(this.grant(d));
    else {
      listener.backlog.push(t.handle(d));
      t.markUnaccepted(d);
    }
    return { ok: true, entry: d };
  }

  /**
   * `refused`'s connect found partition `index`'s backlog full: hold back every other source that
   * holds more than its share (the places split evenly among the sources holding some and
   * `refused`), so that a freed place goes to one that holds less. One source alone asking keeps
   * its places (case 39's half); one that holds everything against another is held back to half,
   * as case 112 did. Control path only: a loop over the sources holding places (the table keeps
   * their counts: THREATS case 126).
   */
  private holdBackAbove(index: number, refused: number): void {
    // A source held back that is refused too (the backlog full again) leaves the others' turn as it is.
    if (this.heldBack[index].has(refused)) return;
    const holding = this.table.unacceptedBySource(index);
    // At least one: a source held back whose places were all accepted may always take one more,
    // even if the one refused never comes back (with more sources than places the even split is 0).
    const share = Math.max(1, Math.floor(this.maxUnaccepted / (holding.size + (holding.has(refused) ? 0 : 1))));
    const above = new Set<number>();
    for (const [source, places] of holding) if (source !== refused && places > share) above.add(source);
    if (above.size === 0) return;
    this.heldBack[index] = above;
    this.heldBackShare[index] = share;
  }

  /** The EMFILE of a partition with no free channel slot: what it says to do is its own, not the code's usual advice. */
  noSlot(port: PartitionPort): ControlFailure {
    return this.table.allRetired(port.index)
      ? fail('EMFILE', `every channel slot of partition ${port.id} is retired: each carried its last handle generation, and a handle is never reused`, 'create a new machine')
      : fail('EMFILE', `partition ${port.id} has no free channel slot (channelsPerPartition, ${this.table.slotsPerPartition})`, 'close a channel first, or raise channelsPerPartition in createMachine');
  }

  private grant(d: number): ControlResult<ChannelGrant> {
    const t = this.table;
    const grant: ChannelGrant = { handle: t.handle(d), remoteNode: t.remoteNode[d] || this.localNode, remotePartition: t.remotePartition[d], remoteProcess: t.remoteProcess[d] };
    if (t.remoteNode[d] !== 0) grant.maxMessageBytes = channelMessageLimit(this.engine.maxMessageBytes, t.peerMaxMessage[d]);
    return { ok: true, ...grant };
  }

  private badService(n: number): string | undefined {
    return isService(n) ? undefined : `port ${n} is not an integer in 0..${MAX_SERVICE}`;
  }

  /** Returns the handles of the waiting connections it refused. */
  private dropListener(listener: Listener): number[] {
    this.listeners.delete(`${listener.port.index}:${listener.service}`);
    this.listenerCount[listener.port.index]--;
    const refused: number[] = [];
    for (const h of listener.backlog) {
      const d = this.backlogEntry(listener, h);
      if (d === NO_ENTRY) continue;
      this.engine.closeEnd(d, Status.ECONNREFUSED);
      refused.push(h);
    }
    for (const w of listener.waiters) w(fail('ECLOSED', `the listener on port ${listener.service} was closed`));
    this.engine.publishAll();
    return refused;
  }

  /** A process ended or a partition went down: its listeners go with it. */
  dropListeners(port: PartitionPort, queuePair: number): void {
    for (const l of [...this.listeners.values()]) {
      if (l.port === port && (queuePair < 0 || l.queuePair === queuePair)) this.dropListener(l);
    }
  }
}
