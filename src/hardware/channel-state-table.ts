/**
 * Claim 8: the hardware's private record of every channel end. One entry per
 * (partition, channel slot); entry = partitionIndex * slotsPerPartition + slot.
 * Plain typed arrays over ArrayBuffers that never leave the hardware worker.
 */
import { ConnectionState, handleSlotBits, lastHandleGeneration } from '../shared/layout.js';

export const NO_ENTRY = -1;

/** `sourceOf` for a partition of this node: above every node id, so the two never meet. */
export const LOCAL_SOURCE = 0x10000;

/**
 * Table-private state of a slot whose generations ran out: never allocated again, so no handle it
 * ever carried can name a channel again (THREATS case 28). Never written to a connection table.
 */
export const RETIRED = 0xff;

/**
 * Table-private state of a remote connect's own end while the other node's hardware decides
 * (docs/LINK.md): allocated, keyed, not open. Never written to a connection table.
 */
export const CONNECTING = 0xfe;

export class ChannelStateTable {
  readonly slotsPerPartition: number;
  /** Handle layout: the slot in the low bits, the generation above. */
  readonly slotBits: number;
  readonly slotMask: number;
  readonly lastGeneration: number;
  readonly state: Uint8Array;
  /** The generation of the entry's current channel, or of the next one while it is free. */
  readonly generation: Uint32Array;
  /** Queue pair (process slot) that owns this end; once released, the one that owned it last (-1: never used). */
  readonly ownerQueuePair: Int16Array;
  readonly ownerProcess: Uint32Array;
  /** The entry of the other end. */
  readonly peer: Int32Array;
  /** Partition id of this end (checked by the receive stage against the stamp's destination). */
  readonly localPartition: Uint32Array;
  /** Partition id and process id of the other end, as the hardware attests them. */
  readonly remotePartition: Uint32Array;
  readonly remoteProcess: Uint32Array;
  /** The handle of the last channel released here, and its owner stays in ownerQueuePair: a send on it reads ECLOSED, not stale. */
  readonly closedHandle: Uint32Array;
  /** An END not yet written because the owner's receive ring was full (status + 1; 0 = none). */
  readonly pendingEnd: Uint8Array;
  /**
   * 1 while the end waits in a listener's backlog: connected, not accepted by any process yet.
   * Written only through markUnaccepted() and clearUnaccepted(), which keep the counts below.
   */
  readonly unaccepted: Uint8Array;
  /**
   * Per partition index: its ends waiting in a backlog, in all and per source (sourceOf). Kept as
   * they change rather than counted over the partition's slots when asked: a connect that finds no
   * accept waiting asks, and one refused at the bound asks twice more, so a peer's CONNECTs at a
   * partition of 4096 slots whose backlogs held half of them cost node 2's hardware ~37 µs each
   * (20,000 in 770 ms, against 36 ms where nobody listens): a megabyte of them a second took the
   * hardware thread whole (THREATS case 126).
   */
  private readonly unacceptedOf: Uint32Array;
  private readonly unacceptedFrom: Map<number, number>[];
  /** The node of the other end: 0 for this node, else a peer node (then `peer` is NO_ENTRY and the fields below describe the link). */
  readonly remoteNode: Uint16Array;
  /** Remote ends: the channel id the other node knows this channel by (written into every frame sent for it). */
  readonly linkChannel: Uint32Array;
  /** Remote ends: the last sequence number sent, the last one the other node acknowledged, the last one received. */
  readonly sentSequence: Uint32Array;
  readonly ackedSequence: Uint32Array;
  readonly receivedSequence: Uint32Array;
  /**
   * Remote ends, the channel's window (docs/LINK.md, "Delivery, back-pressure, acknowledgement"): window bytes sent, the
   * last count the other node acknowledged, and the count delivered here into the receive ring;
   * each a running sum modulo 2^32. What is sent and not acknowledged stays within `peerWindow`,
   * the window the other node granted.
   */
  readonly peerWindow: Uint32Array;
  /** Remote ends: the other node's maxMessageBytes, as its CONNECT or CONNECT_OK stated it; the channel carries messages up to the smaller of it and this node's. */
  readonly peerMaxMessage: Uint32Array;
  readonly sentWindow: Uint32Array;
  readonly ackedWindow: Uint32Array;
  readonly receivedWindow: Uint32Array;
  /** Bits of an entry index in a link channel id; the generation's low bits fill the rest. */
  private readonly entryBits: number;

  constructor(partitions: number, slotsPerPartition: number) {
    const n = partitions * slotsPerPartition;
    this.slotsPerPartition = slotsPerPartition;
    this.slotBits = handleSlotBits(slotsPerPartition);
    this.slotMask = (1 << this.slotBits) - 1;
    this.lastGeneration = lastHandleGeneration(slotsPerPartition);
    this.state = new Uint8Array(n);
    this.generation = new Uint32Array(n);
    this.closedHandle = new Uint32Array(n);
    this.ownerQueuePair = new Int16Array(n).fill(-1);
    this.ownerProcess = new Uint32Array(n);
    this.peer = new Int32Array(n).fill(NO_ENTRY);
    this.localPartition = new Uint32Array(n);
    this.remotePartition = new Uint32Array(n);
    this.remoteProcess = new Uint32Array(n);
    this.pendingEnd = new Uint8Array(n);
    this.unaccepted = new Uint8Array(n);
    this.unacceptedOf = new Uint32Array(partitions);
    this.unacceptedFrom = Array.from({ length: partitions }, () => new Map<number, number>());
    this.remoteNode = new Uint16Array(n);
    this.linkChannel = new Uint32Array(n);
    this.sentSequence = new Uint32Array(n);
    this.ackedSequence = new Uint32Array(n);
    this.receivedSequence = new Uint32Array(n);
    this.peerWindow = new Uint32Array(n);
    this.peerMaxMessage = new Uint32Array(n);
    this.sentWindow = new Uint32Array(n);
    this.ackedWindow = new Uint32Array(n);
    this.receivedWindow = new Uint32Array(n);
    this.entryBits = Math.max(1, 32 - Math.clz32(n - 1));
  }

  /**
   * The id another node knows this entry's current channel by: the entry index in the low bits,
   * the generation's low bits above, so a frame naming a closed channel whose entry was reused
   * names no live channel (unless 2^(32 - entryBits) channels went through the entry meanwhile,
   * and even then the key and sequence checks stand).
   */
  linkId(entry: number): number {
    return ((this.generation[entry] << this.entryBits) | entry) >>> 0;
  }

  /** The entry a link channel id names while that channel is live, or NO_ENTRY. */
  entryOfLinkId(id: number): number {
    const e = id & ((1 << this.entryBits) - 1);
    if (e >= this.state.length || !this.isLive(e)) return NO_ENTRY;
    return this.linkId(e) === id >>> 0 ? e : NO_ENTRY;
  }

  entry(partitionIndex: number, slot: number): number {
    return partitionIndex * this.slotsPerPartition + slot;
  }

  slotOf(entry: number): number {
    return entry % this.slotsPerPartition;
  }

  partitionIndexOf(entry: number): number {
    return Math.floor(entry / this.slotsPerPartition);
  }

  /** The handle a process uses for this entry: generation in the high bits, slot in the low. */
  handle(entry: number): number {
    return (this.generation[entry] * (this.slotMask + 1) + this.slotOf(entry)) >>> 0;
  }

  /** The live entry `handle` names in partition `partitionIndex`, if queue pair `queuePair` owns it; else NO_ENTRY. */
  liveEntryOwnedBy(partitionIndex: number, handle: number, queuePair: number): number {
    const slot = handle & this.slotMask;
    if (slot >= this.slotsPerPartition) return NO_ENTRY;
    const e = this.entry(partitionIndex, slot);
    return this.isLive(e) && this.handle(e) === handle && this.ownerQueuePair[e] === queuePair ? e : NO_ENTRY;
  }

  /** True while the entry is one end of a channel (open, or ended by its peer but not yet closed here). */
  isLive(entry: number): boolean {
    const s = this.state[entry];
    return s !== ConnectionState.FREE && s !== RETIRED;
  }

  /** True when `handle` named this entry's last channel, which `queuePair` closed, and the slot is not reused yet (THREATS case 10). */
  closedBy(entry: number, handle: number, queuePair: number): boolean {
    return !this.isLive(entry) && this.closedHandle[entry] === handle && this.ownerQueuePair[entry] === queuePair;
  }

  /** Test hook: let only `generationsLeft` more channels use this free entry before it retires. */
  age(entry: number, generationsLeft: number): void {
    this.generation[entry] = this.lastGeneration - generationsLeft + 1;
  }

  /**
   * A free entry of this partition, or NO_ENTRY. `reserved` is an entry already picked but not
   * opened yet (the send side's end while the receive side picks its own, in a connect within one partition).
   */
  allocate(partitionIndex: number, reserved = NO_ENTRY): number {
    const first = partitionIndex * this.slotsPerPartition;
    for (let e = first; e < first + this.slotsPerPartition; e++) {
      if (this.state[e] === ConnectionState.FREE && e !== reserved) return e;
    }
    return NO_ENTRY;
  }

  open(entry: number, localPartition: number, queuePair: number, process: number, remotePartition: number, remoteProcess: number, peer: number): void {
    this.state[entry] = ConnectionState.OPEN;
    this.localPartition[entry] = localPartition;
    this.ownerQueuePair[entry] = queuePair;
    this.ownerProcess[entry] = process;
    this.remotePartition[entry] = remotePartition;
    this.remoteProcess[entry] = remoteProcess;
    this.peer[entry] = peer;
  }

  /** Open an end whose other end lives on another node, reached over the link to `node`. */
  openRemote(
    entry: number,
    localPartition: number,
    queuePair: number,
    process: number,
    node: number,
    remotePartition: number,
    remoteProcess: number,
    linkChannel: number,
    peerWindow: number,
    peerMaxMessage: number,
  ): void {
    this.open(entry, localPartition, queuePair, process, remotePartition, remoteProcess, NO_ENTRY);
    this.remoteNode[entry] = node;
    this.linkChannel[entry] = linkChannel;
    this.sentSequence[entry] = 0;
    this.ackedSequence[entry] = 0;
    this.receivedSequence[entry] = 0;
    this.peerWindow[entry] = peerWindow;
    this.peerMaxMessage[entry] = peerMaxMessage;
    this.sentWindow[entry] = 0;
    this.ackedWindow[entry] = 0;
    this.receivedWindow[entry] = 0;
  }

  /**
   * Free the entry; the generation moves on so every old handle to it is stale. A slot whose last
   * generation was just used retires instead of wrapping: a handle, once closed, is never accepted
   * again for the machine's lifetime. The owner stays recorded, so that its last handle reads as
   * closed (not stale) until the slot is reused.
   */
  release(entry: number): void {
    // Before the ids sourceOf() reads are cleared.
    this.clearUnaccepted(entry);
    this.closedHandle[entry] = this.handle(entry);
    if (this.generation[entry] >= this.lastGeneration) this.state[entry] = RETIRED;
    else {
      this.state[entry] = ConnectionState.FREE;
      this.generation[entry]++;
    }
    this.peer[entry] = NO_ENTRY;
    this.ownerProcess[entry] = 0;
    this.remotePartition[entry] = 0;
    this.remoteProcess[entry] = 0;
    this.pendingEnd[entry] = 0;
    this.remoteNode[entry] = 0;
    this.linkChannel[entry] = 0;
  }

  /** End `entry` (opened: its source known) waits in a listener's backlog now. */
  markUnaccepted(entry: number): void {
    if (this.unaccepted[entry] !== 0) return;
    this.unaccepted[entry] = 1;
    const p = this.partitionIndexOf(entry);
    this.unacceptedOf[p]++;
    const from = this.unacceptedFrom[p];
    const source = this.sourceOf(entry);
    from.set(source, (from.get(source) ?? 0) + 1);
  }

  /** End `entry` no longer waits in a backlog (accepted, or released). */
  clearUnaccepted(entry: number): void {
    if (this.unaccepted[entry] === 0) return;
    this.unaccepted[entry] = 0;
    const p = this.partitionIndexOf(entry);
    this.unacceptedOf[p]--;
    const from = this.unacceptedFrom[p];
    const source = this.sourceOf(entry);
    const n = (from.get(source) ?? 1) - 1;
    if (n === 0) from.delete(source);
    else from.set(source, n);
  }

  /** Ends of this partition waiting in a listener's backlog. */
  unacceptedCount(partitionIndex: number): number {
    return this.unacceptedOf[partitionIndex];
  }

  /**
   * Who a waiting end's connect came from, as one number: another node (1 to 65535; all its
   * partitions are one source, since the node alone is attested, never a frame's partition id),
   * or a partition of this node (LOCAL_SOURCE + its id).
   */
  sourceOf(entry: number): number {
    return this.remoteNode[entry] !== 0 ? this.remoteNode[entry] : LOCAL_SOURCE + this.remotePartition[entry];
  }

  /** Ends of this partition waiting in a listener's backlog, counted per source (`sourceOf`). */
  unacceptedBySource(partitionIndex: number): ReadonlyMap<number, number> {
    return this.unacceptedFrom[partitionIndex];
  }

  /** Ends of this partition waiting in a listener's backlog whose connect came from `source` (`sourceOf`). */
  unacceptedFromSource(partitionIndex: number, source: number): number {
    return this.unacceptedFrom[partitionIndex].get(source) ?? 0;
  }

  /** True when every slot of this partition has retired (connects then fail EMFILE, saying so). */
  allRetired(partitionIndex: number): boolean {
    const first = partitionIndex * this.slotsPerPartition;
    for (let e = first; e < first + this.slotsPerPartition; e++) if (this.state[e] !== RETIRED) return false;
    return true;
  }
}
