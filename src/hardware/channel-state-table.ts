/**
 * Claim 8: the hardware's private record of every channel end. One entry per
 * (partition, channel slot); entry = partitionIndex * slotsPerPartition + slot.
 * Plain typed arrays over ArrayBuffers that never leave the hardware worker.
 */
import { ConnectionState, HANDLE_GENERATION_MASK, HANDLE_SLOT_BITS } from '../shared/layout.js';

export const NO_ENTRY = -1;

export class ChannelStateTable {
  readonly slotsPerPartition: number;
  readonly state: Uint8Array;
  readonly generation: Uint16Array;
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
  /** An END not yet written because the owner's receive ring was full (status + 1; 0 = none). */
  readonly pendingEnd: Uint8Array;

  constructor(partitions: number, slotsPerPartition: number) {
    const n = partitions * slotsPerPartition;
    this.slotsPerPartition = slotsPerPartition;
    this.state = new Uint8Array(n);
    this.generation = new Uint16Array(n);
    this.ownerQueuePair = new Int16Array(n).fill(-1);
    this.ownerProcess = new Uint32Array(n);
    this.peer = new Int32Array(n).fill(NO_ENTRY);
    this.localPartition = new Uint32Array(n);
    this.remotePartition = new Uint32Array(n);
    this.remoteProcess = new Uint32Array(n);
    this.pendingEnd = new Uint8Array(n);
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
    return ((this.generation[entry] << HANDLE_SLOT_BITS) | this.slotOf(entry)) >>> 0;
  }

  /** True when `handle` named this free entry just before its last release, and `queuePair` owned it (THREATS.md case 10). */
  closedBy(entry: number, generation: number, queuePair: number): boolean {
    return (
      this.state[entry] === ConnectionState.FREE &&
      this.ownerQueuePair[entry] === queuePair &&
      generation === ((this.generation[entry] - 1) & HANDLE_GENERATION_MASK)
    );
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

  /**
   * Free the entry; the generation moves on so every old handle to it is stale. The owner stays
   * recorded, so that its last handle reads as closed (not stale) until the slot is reused.
   */
  release(entry: number): void {
    this.state[entry] = ConnectionState.FREE;
    this.generation[entry] = (this.generation[entry] + 1) & HANDLE_GENERATION_MASK;
    this.peer[entry] = NO_ENTRY;
    this.ownerProcess[entry] = 0;
    this.remotePartition[entry] = 0;
    this.remoteProcess[entry] = 0;
    this.pendingEnd[entry] = 0;
  }
}
