/**
 * The control plane's contract: what a partition may ask of the hardware over
 * its control endpoint, and what it gets back. Declared here, between the two
 * sides, so the hardware implements it and a partition calls it without either
 * importing the other. The hardware still trusts no call: every message is
 * checked on arrival (hardware/control-endpoint.ts), whatever this type says.
 */
import type { ChannelErrorCode } from './errors.js';

/** An answer to a control call: success with its fields, or an error code with advice. */
export type ControlResult<T extends object = object> = ({ ok: true } & T) | ControlFailure;
/** A refused call: its code, what happened, and (`todo`) what to do where the code's usual advice does not fit. */
export interface ControlFailure {
  ok: false;
  code: ChannelErrorCode;
  message: string;
  todo?: string;
}

/** What a process learns about a new channel; never a key. */
export interface ChannelGrant {
  handle: number;
  /** The other end's node: this node's id for a local peer (0 when the machine is not a node). */
  remoteNode: number;
  remotePartition: number;
  remoteProcess: number;
  /**
   * An end on another node only: the largest message the channel carries either way, the smaller of
   * both nodes' maxMessageBytes (docs/LINK.md, "Bounds"). Absent: the machine's maxMessageBytes.
   */
  maxMessageBytes?: number;
}

/**
 * A service is what the public API calls a listening "port" (`proc.listen(port)`): a number
 * within one partition that connects find a listener by. Inside the code "port" means only the
 * partition's SharedArrayBuffer (and the hardware's view of it). Services run from 0 to this
 * (16 bits, like TCP's port numbers).
 */
export const MAX_SERVICE = 0xffff;

/** Whether `n` may name a service. Both sides check: the partition to fail early, the hardware because it trusts nobody. */
export function isService(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_SERVICE;
}

/**
 * The whole control surface a partition has, bound by the hardware to that
 * partition's identity: no call takes a partition id for the caller, and
 * every call names only the caller's own queue pair `qp`. Over the wire
 * (comlink) every method answers with a promise.
 */
export interface PartitionControlApi {
  /** Start a process on queue pair `qp`: the hardware assigns its process id. */
  openQueuePair(qp: number): ControlResult<{ process: number }>;
  /** Bring a faulted queue pair back with all three rings empty. */
  resetQueuePair(qp: number): ControlResult;
  /** Register the process on `qp` as the listener of `service` in its partition. */
  listen(qp: number, service: number): ControlResult;
  /** Stop listening on `service`; pending connects are refused. */
  unlisten(qp: number, service: number): ControlResult<{ refused: number[] }>;
  /** The next channel connected to `service`; waits while none is queued. */
  accept(qp: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>>;
  /** Open a channel to whoever listens on `service` of partition `partitionId`. */
  connect(qp: number, partitionId: number, service: number): ControlResult<ChannelGrant>;
  /** Open a channel to whoever listens on `service` of partition `partitionId` of node `node` (this node's id: as connect). */
  connectNode(qp: number, node: number, partitionId: number, service: number): ControlResult<ChannelGrant> | Promise<ControlResult<ChannelGrant>>;
}
