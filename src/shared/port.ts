/**
 * A partition's port: the one SharedArrayBuffer that partition shares with
 * the hardware. It holds the connection table (hardware-written) and one
 * queue pair per process slot, each a send ring (partition → hardware), a
 * receive ring (hardware → partition) and a completion ring (hardware →
 * partition). The hardware allocates ports; a partition attaches to the one
 * it was given and checks its geometry.
 *
 * Wake-up wiring: the hardware sleeps on the port's HW_DOORBELL, so the send
 * ring's data signal and the receive ring's space signal point there. The
 * completion ring shares the receive ring's data signal, so a process waits
 * on one bell for both.
 */
import { LayoutError } from './errors.js';
import {
  PORT_BYTES_WORD,
  PORT_CHANNEL_SLOTS_WORD,
  PORT_HARDWARE_GONE_WORD,
  PORT_COMPLETION_RING_BYTES_WORD,
  PORT_HW_DOORBELL_OFFSET,
  PORT_HW_SLEEPING_OFFSET,
  PORT_MAGIC,
  PORT_MAGIC_WORD,
  PORT_MAX_MESSAGE_BYTES_WORD,
  PORT_PARTITION_WORD,
  PORT_QUEUE_PAIRS_WORD,
  PORT_RECEIVE_RING_BYTES_WORD,
  PORT_SEND_RING_BYTES_WORD,
  PORT_VERSION,
  PORT_VERSION_WORD,
  portBytes,
  queuePairOffsets,
  type PortGeometry,
} from './layout.js';
import { initRing, ownSignals, type RingLocation } from './ring.js';

export const HW_SLEEPING_WORD = PORT_HW_SLEEPING_OFFSET >> 2;
export const HW_DOORBELL_WORD = PORT_HW_DOORBELL_OFFSET >> 2;

export interface QueuePairRings {
  readonly send: RingLocation;
  readonly receive: RingLocation;
  readonly completion: RingLocation;
}

/** The three rings of queue pair `qp`, with their wake-up wiring. */
export function queuePairRings(buffer: SharedArrayBuffer, g: PortGeometry, qp: number): QueuePairRings {
  if (!Number.isInteger(qp) || qp < 0 || qp >= g.queuePairs) {
    throw new LayoutError(`queue pair ${qp} is outside this port's ${g.queuePairs} (0 to ${g.queuePairs - 1})`);
  }
  const at = queuePairOffsets(g, qp);
  const receiveSignals = ownSignals(at.receive);
  const completionSignals = ownSignals(at.completion);
  return {
    send: {
      buffer,
      base: at.send,
      capacity: g.sendRingBytes,
      signals: { ...ownSignals(at.send), dataWaiting: HW_SLEEPING_WORD, dataBell: HW_DOORBELL_WORD },
    },
    receive: {
      buffer,
      base: at.receive,
      capacity: g.receiveRingBytes,
      signals: { ...receiveSignals, spaceBell: HW_DOORBELL_WORD },
    },
    completion: {
      buffer,
      base: at.completion,
      capacity: g.completionRingBytes,
      // Space freed rings the hardware, as for the receive ring: a DETACH waits for room for its acknowledgement.
      signals: { ...completionSignals, dataWaiting: receiveSignals.dataWaiting, dataBell: receiveSignals.dataBell, spaceBell: HW_DOORBELL_WORD },
    },
  };
}

/** Hardware side: a fresh port for one partition. */
export function allocatePort(g: PortGeometry, partitionId: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(portBytes(g));
  const u32 = new Uint32Array(buffer);
  u32[PORT_MAGIC_WORD] = PORT_MAGIC;
  u32[PORT_VERSION_WORD] = PORT_VERSION;
  u32[PORT_BYTES_WORD] = buffer.byteLength;
  u32[PORT_PARTITION_WORD] = partitionId;
  u32[PORT_QUEUE_PAIRS_WORD] = g.queuePairs;
  u32[PORT_CHANNEL_SLOTS_WORD] = g.channelSlots;
  u32[PORT_SEND_RING_BYTES_WORD] = g.sendRingBytes;
  u32[PORT_RECEIVE_RING_BYTES_WORD] = g.receiveRingBytes;
  u32[PORT_COMPLETION_RING_BYTES_WORD] = g.completionRingBytes;
  u32[PORT_MAX_MESSAGE_BYTES_WORD] = g.maxMessageBytes;
  for (let qp = 0; qp < g.queuePairs; qp++) {
    const at = queuePairOffsets(g, qp);
    initRing(buffer, at.send, g.sendRingBytes);
    initRing(buffer, at.receive, g.receiveRingBytes);
    initRing(buffer, at.completion, g.completionRingBytes);
  }
  return buffer;
}

/**
 * Operator, once the hardware worker died: say so in the port, then ring every bell a blocked
 * thread of the partition may sleep on (a receive ring's data bell, a send ring's space bell).
 */
export function markHardwareGone(buffer: SharedArrayBuffer, g: PortGeometry): void {
  const i32 = new Int32Array(buffer);
  Atomics.store(i32, PORT_HARDWARE_GONE_WORD, 1);
  for (let qp = 0; qp < g.queuePairs; qp++) {
    const at = queuePairOffsets(g, qp);
    for (const bell of [ownSignals(at.receive).dataBell, ownSignals(at.send).spaceBell]) {
      Atomics.add(i32, bell, 1);
      Atomics.notify(i32, bell);
    }
  }
}

/** Partition side: the operator marked the hardware gone (markHardwareGone); `i32` views the whole port. */
export function hardwareGone(i32: Int32Array): boolean {
  return Atomics.load(i32, PORT_HARDWARE_GONE_WORD) !== 0;
}

export interface AttachedPort {
  readonly buffer: SharedArrayBuffer;
  readonly partitionId: number;
  readonly geometry: PortGeometry;
}

/** Partition side: read and check the geometry the hardware wrote. */
export function attachPort(buffer: SharedArrayBuffer): AttachedPort {
  if (!(buffer instanceof SharedArrayBuffer)) throw new LayoutError('port must be a SharedArrayBuffer');
  if (buffer.byteLength < PORT_HW_DOORBELL_OFFSET + 64) {
    throw new LayoutError(`port of ${buffer.byteLength} bytes is smaller than its header`);
  }
  const u32 = new Uint32Array(buffer);
  if (u32[PORT_MAGIC_WORD] !== PORT_MAGIC || u32[PORT_VERSION_WORD] !== PORT_VERSION) {
    throw new LayoutError(
      `port magic/version ${u32[PORT_MAGIC_WORD].toString(16)}/${u32[PORT_VERSION_WORD]}, expected ${PORT_MAGIC.toString(16)}/${PORT_VERSION}`,
    );
  }
  const geometry: PortGeometry = {
    queuePairs: u32[PORT_QUEUE_PAIRS_WORD],
    channelSlots: u32[PORT_CHANNEL_SLOTS_WORD],
    sendRingBytes: u32[PORT_SEND_RING_BYTES_WORD],
    receiveRingBytes: u32[PORT_RECEIVE_RING_BYTES_WORD],
    completionRingBytes: u32[PORT_COMPLETION_RING_BYTES_WORD],
    maxMessageBytes: u32[PORT_MAX_MESSAGE_BYTES_WORD],
  };
  const expected = portBytes(geometry);
  if (u32[PORT_BYTES_WORD] !== buffer.byteLength || expected !== buffer.byteLength) {
    throw new LayoutError(
      `port geometry needs ${expected} bytes, header says ${u32[PORT_BYTES_WORD]}, buffer has ${buffer.byteLength}`,
    );
  }
  return { buffer, partitionId: u32[PORT_PARTITION_WORD], geometry };
}
