/**
 * The hardware's private view of one partition's port: its own ring cursors
 * (positions it never reads back from shared memory), the state of each queue
 * pair, and the connection table it writes.
 */
import type { ChannelCounters } from './channel-counters.js';
import {
  CompletionBody,
  CONNECTION_HANDLE_OFFSET,
  CONNECTION_HELD_OFFSET,
  CONNECTION_LOCAL_PROCESS_OFFSET,
  CONNECTION_REMOTE_NODE_OFFSET,
  CONNECTION_REMOTE_PARTITION_OFFSET,
  CONNECTION_REMOTE_PROCESS_OFFSET,
  CONNECTION_STATE_OFFSET,
  connectionEntryOffset,
  portBytes,
  type PortGeometry,
  RecordType,
} from '../shared/layout.js';
import { LayoutError } from '../shared/errors.js';
import { allocatePort, HW_DOORBELL_WORD, HW_SLEEPING_WORD, queuePairRings } from '../shared/port.js';
import { writeCompletion } from '../shared/records.js';
import { RingConsumer, RingProducer } from '../shared/ring.js';

/** A const enum: tsc writes the numbers in, where an object would be a module cell and a property load at every read (once per queue pair per engine round). */
export const enum QueuePairState {
  FREE = 0,
  ACTIVE = 1,
  FAULTED = 2,
}

export class HardwareQueuePair {
  state: QueuePairState = QueuePairState.FREE;
  process = 0;
  readonly send: RingConsumer;
  readonly receive: RingProducer;
  readonly completion: RingProducer;
  /** Receive ring written since the last publish. */
  receiveDirty = false;
  completionDirty = false;
  /** Messages kept aside for this queue pair's receive ring (KeptDeliveries): while any are, the next go behind them. */
  keptMessages = 0;
  /** The engine's pass over waiting ENDs (Engine.flushPendingEnds) that last found this receive ring full: the rest of that pass skips it. */
  endsFullPass = 0;
  /**
   * Serves of this queue pair that used the whole budget with at least half of it delivered, in its
   * last run, to one receiving queue pair on this node (`floodDestination`): dispatch-priority.ts
   * lowers that one as a lowered flood's drain. Not the lookups' destination read at review time:
   * those name the channel the queue pair last looked up, kept (stale) after it closed, and a
   * serve of SENDs the engine refuses (a closed handle, ECLOSED) saturates too while delivering
   * nothing (attack run 12: an honest partition fed by someone else was lowered as the "drain" of
   * a flood of refused SENDs that once sent it one message).
   */
  saturatedServes = 0;
  /** Where the last of those serves delivered (set by the engine's serve, never by a lookup). */
  floodDestination: HardwareQueuePair | undefined = undefined;
  /** The last completion written but not yet published, coalesced by (status, opcode, channel). */
  private lastCompletionStatus = -1;
  private lastCompletionOpcode = -1;
  private lastCompletionChannel = -1;
  private lastCompletionCountWord = -1;
  private lastCompletionCount = 0;
  /**
   * The engine's lookups of the channel this queue pair's last SEND named (Engine: valid only while
   * `lookupGeneration` is the engine's own; -1 matches none). The handle the receiving end knows
   * the channel by is `lookupDeliveryHandle`; no destination means an end on another node.
   */
  lookupGeneration = -1;
  lookupHandle = -1;
  lookupEntry = -1;
  lookupDestination: HardwareQueuePair | undefined = undefined;
  lookupDeliveryHandle = 0;
  /** The receiving end's entry (NO_ENTRY, -1, for an end on another node): its channel counts are added there. */
  lookupDeliveryEntry = -1;

  constructor(
    readonly port: PartitionPort,
    readonly index: number,
    buffer: SharedArrayBuffer,
    geometry: PortGeometry,
  ) {
    const rings = queuePairRings(buffer, geometry, index);
    // The hardware allocated these rings at position 0; it starts from its own knowledge, not the shared words.
    this.send = new RingConsumer(rings.send, 0);
    this.receive = new RingProducer(rings.receive, 0);
    this.completion = new RingProducer(rings.completion, 0);
  }

  /**
   * Post an error or acknowledgement on the completion ring. Runs of the same
   * (status, opcode, channel) coalesce into one record with a count; when the
   * ring is full the completion is dropped (false), so a flood of bad requests
   * costs the hardware nothing but a counter.
   */
  postCompletion(status: number, opcode: number, handle: number, count = 1): boolean {
    if (
      this.lastCompletionCountWord >= 0 &&
      this.lastCompletionStatus === status &&
      this.lastCompletionOpcode === opcode &&
      this.lastCompletionChannel === handle
    ) {
      this.lastCompletionCount += count;
      this.completion.u32[this.lastCompletionCountWord] = this.lastCompletionCount;
      return true;
    }
    const cq = this.completion;
    const at = cq.tryClaim(RecordType.COMPLETION, CompletionBody.BYTES);
    if (at < 0) return false;
    this.lastCompletionCountWord = writeCompletion(cq.u32, at, status, handle, opcode);
    this.lastCompletionStatus = status;
    this.lastCompletionOpcode = opcode;
    this.lastCompletionChannel = handle;
    this.lastCompletionCount = count;
    if (count !== 1) cq.u32[this.lastCompletionCountWord] = count;
    this.completionDirty = true;
    return true;
  }

  /** Publish what the hardware-produced rings hold; each wakes its reader only if it sleeps. */
  publish(): void {
    // Completions first: a process that sees an END (which fails its unacknowledged sends) then
    // finds those completions already there (receive-pump.ts reads them before ending the channel).
    if (this.completionDirty) {
      this.completionDirty = false;
      this.lastCompletionCountWord = -1;
      this.completion.publish();
    }
    if (this.receiveDirty) {
      this.receiveDirty = false;
      this.receive.publish();
    }
  }

  /** Start all three rings over empty at position 0 (a reset after a fault). */
  reset(): void {
    this.send.reset(0);
    this.receive.reset(0);
    this.completion.reset(0);
    this.lastCompletionCountWord = -1;
  }
}

/**
 * A port handed in at boot (the operator allocated it with allocatePort(), so partitions can boot
 * alongside the hardware) must be the size this geometry makes. Nothing is read from it: its
 * partition may already be running and may have rewritten every word, header included (THREATS
 * case 27). The hardware's geometry comes from the options, and it never takes a size, count or
 * offset from a word a partition can write, now or later.
 */
function checkedPort(buffer: SharedArrayBuffer, id: number, name: string, geometry: PortGeometry): SharedArrayBuffer {
  const expected = portBytes(geometry);
  if (!(buffer instanceof SharedArrayBuffer) || (buffer as { growable?: boolean }).growable === true || buffer.byteLength !== expected) {
    throw new LayoutError(
      `the port of partition ${id} (${name}) is not a fixed-size SharedArrayBuffer of ${expected} bytes; allocate it with allocatePort()`,
    );
  }
  return buffer;
}

export class PartitionPort {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly queuePairs: HardwareQueuePair[];
  alive = true;
  /** Serves of this port's queue pairs that used the whole budget, and those that moved less (dispatch-priority.ts reads them). */
  saturatedServes = 0;
  lightServes = 0;
  /**
   * One budget a round for the partition, not one per queue pair (Engine.serve): the engine round
   * these were set in, the queue pairs that used all they were given (wanting more) in it and in the
   * round before, what the others moved (light), and what is left.
   */
  roundAt = -1;
  /** This port's queue pairs in the engine's active list: with one, Engine.serve keeps no share. */
  activeQueuePairs = 0;
  busyThisRound = 0;
  busyLastRound = 0;
  lightThisRound = 0;
  lightLastRound = 0;
  roundBudgetLeft = 0;
  private nextProcess = 1;

  constructor(
    readonly index: number,
    readonly id: number,
    readonly name: string,
    readonly geometry: PortGeometry,
    /** A port the operator allocated with allocatePort() (boot overlaps worker start-up); default: a fresh one. */
    buffer?: SharedArrayBuffer,
    /** This node's id, written as the remote node of local channels (0: the machine is not a node). */
    readonly localNode = 0,
    /** Where the operator reads each channel end's counts (stats()); told of every connection-table write. */
    readonly channelCounters?: ChannelCounters,
  ) {
    this.buffer = buffer === undefined ? allocatePort(geometry, id) : checkedPort(buffer, id, name, geometry);
    this.i32 = new Int32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.queuePairs = Array.from({ length: geometry.queuePairs }, (_, qp) => new HardwareQueuePair(this, qp, this.buffer, geometry));
  }

  newProcessId(): number {
    return this.nextProcess++;
  }

  /**
   * Claims 13, 17: the hardware writes the table; it never reads it back. `remoteNode` 0 is this
   * node, written as its own id (0 too when the machine is not a node).
   */
  writeConnection(slot: number, handle: number, localProcess: number, remotePartition: number, remoteProcess: number, state: number, remoteNode = 0): void {
    const node = remoteNode === 0 ? this.localNode : remoteNode;
    // The operator's copy first: once the partition sees the row, stats() names the channel too.
    this.channelCounters?.describe(this.index * this.geometry.channelSlots + slot, handle, state, localProcess, node, remotePartition, remoteProcess);
    const at = connectionEntryOffset(slot);
    const u32 = this.u32;
    u32[(at + CONNECTION_REMOTE_NODE_OFFSET) >> 2] = node;
    u32[(at + CONNECTION_HANDLE_OFFSET) >> 2] = handle;
    u32[(at + CONNECTION_LOCAL_PROCESS_OFFSET) >> 2] = localProcess;
    u32[(at + CONNECTION_REMOTE_PARTITION_OFFSET) >> 2] = remotePartition;
    u32[(at + CONNECTION_REMOTE_PROCESS_OFFSET) >> 2] = remoteProcess;
    // Every change of the entry's state ends a hold: a new channel in the slot starts unheld, and
    // an end that can no longer send is told why by its state, not made to wait.
    u32[(at + CONNECTION_HELD_OFFSET) >> 2] = 0;
    Atomics.store(u32, (at + CONNECTION_STATE_OFFSET) >> 2, state);
  }

  /** Mark `slot`'s end held (its messages kept aside, case 51) or no longer held. */
  writeHeld(slot: number, held: boolean): void {
    Atomics.store(this.u32, (connectionEntryOffset(slot) + CONNECTION_HELD_OFFSET) >> 2, held ? 1 : 0);
  }

  announceSleep(): void {
    Atomics.store(this.i32, HW_SLEEPING_WORD, 1);
  }

  announceAwake(): void {
    Atomics.store(this.i32, HW_SLEEPING_WORD, 0);
  }

  doorbell(): number {
    return Atomics.load(this.i32, HW_DOORBELL_WORD);
  }

  get doorbellWord(): number {
    return HW_DOORBELL_WORD;
  }
}
