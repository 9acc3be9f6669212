/**
 * The hardware's private view of one partition's port: its own ring cursors
 * (positions it never reads back from shared memory), the state of each queue
 * pair, and the connection table it writes.
 */
import {
  CONNECTION_HANDLE_OFFSET,
  CONNECTION_LOCAL_PROCESS_OFFSET,
  CONNECTION_REMOTE_PARTITION_OFFSET,
  CONNECTION_REMOTE_PROCESS_OFFSET,
  CONNECTION_STATE_OFFSET,
  connectionEntryOffset,
  type PortGeometry,
} from '../shared/layout.js';
import { LayoutError } from '../shared/errors.js';
import { allocatePort, attachPort, HW_DOORBELL_WORD, HW_SLEEPING_WORD, queuePairRings } from '../shared/port.js';
import { RingConsumer, RingProducer } from '../shared/ring.js';

export const QueuePairState = { FREE: 0, ACTIVE: 1, FAULTED: 2 } as const;
export type QueuePairState = (typeof QueuePairState)[keyof typeof QueuePairState];

export class HardwareQueuePair {
  state: QueuePairState = QueuePairState.FREE;
  process = 0;
  readonly send: RingConsumer;
  readonly receive: RingProducer;
  readonly completion: RingProducer;
  /** Receive ring written since the last publish. */
  receiveDirty = false;
  completionDirty = false;
  /** The last completion written but not yet published, coalesced by (status, opcode, channel). */
  lastCompletionStatus = -1;
  lastCompletionOpcode = -1;
  lastCompletionChannel = -1;
  lastCompletionCountWord = -1;
  lastCompletionCount = 0;

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
}

/** A port handed in at boot must be exactly the fresh port allocatePort() would make for this partition. */
function checkedPort(buffer: SharedArrayBuffer, id: number, geometry: PortGeometry): SharedArrayBuffer {
  const attached = attachPort(buffer);
  const g = attached.geometry;
  const same = (Object.keys(geometry) as Array<keyof PortGeometry>).every((k) => g[k] === geometry[k]);
  if (attached.partitionId !== id || !same) throw new LayoutError(`port for partition ${id} does not match the machine's geometry`);
  return buffer;
}

export class PartitionPort {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u32: Uint32Array;
  readonly queuePairs: HardwareQueuePair[];
  alive = true;
  private nextProcess = 1;

  constructor(
    readonly index: number,
    readonly id: number,
    readonly name: string,
    readonly geometry: PortGeometry,
    /** A port the operator allocated with allocatePort() (boot overlaps worker start-up); default: a fresh one. */
    buffer?: SharedArrayBuffer,
  ) {
    this.buffer = buffer === undefined ? allocatePort(geometry, id) : checkedPort(buffer, id, geometry);
    this.i32 = new Int32Array(this.buffer);
    this.u32 = new Uint32Array(this.buffer);
    this.queuePairs = Array.from({ length: geometry.queuePairs }, (_, qp) => new HardwareQueuePair(this, qp, this.buffer, geometry));
  }

  newProcessId(): number {
    return this.nextProcess++;
  }

  /** Claims 13, 17: the hardware writes the table; it never reads it back. */
  writeConnection(slot: number, handle: number, localProcess: number, remotePartition: number, remoteProcess: number, state: number): void {
    const at = connectionEntryOffset(slot);
    const u32 = this.u32;
    u32[(at + CONNECTION_HANDLE_OFFSET) >> 2] = handle;
    u32[(at + CONNECTION_LOCAL_PROCESS_OFFSET) >> 2] = localProcess;
    u32[(at + CONNECTION_REMOTE_PARTITION_OFFSET) >> 2] = remotePartition;
    u32[(at + CONNECTION_REMOTE_PROCESS_OFFSET) >> 2] = remoteProcess;
    Atomics.store(u32, (at + CONNECTION_STATE_OFFSET) >> 2, state);
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
