/**
 * What each worker is started with (its `workerData`), declared between the
 * operator that sends it and the workers that read it, so that no worker
 * imports operator code and the operator never imports a worker entry
 * (which would boot that worker's code in the main thread).
 */
import type { MessagePort } from 'node:worker_threads';
import type { PortGeometry } from './layout.js';
import type { WaitPolicy } from './wait.js';

/**
 * Worker heap and stack limits (Node's `resourceLimits`), in MiB. A partition
 * that exceeds them dies alone: `partitionExit` with `ERR_WORKER_OUT_OF_MEMORY`.
 */
export interface ResourceLimits {
  /** Old-generation (main) heap limit. */
  maxOldGenerationSizeMb?: number;
  /** Young-generation heap limit. */
  maxYoungGenerationSizeMb?: number;
  /** Stack size of the worker's main thread. */
  stackSizeMb?: number;
}

/** One partition after option checks, with defaults filled in. */
export interface ResolvedPartition {
  id: number;
  name: string;
  /** The replacement OS module's href, if any. */
  os: string | undefined;
  resourceLimits: ResourceLimits | undefined;
}

/** A peer node after option checks. */
export interface ResolvedPeer {
  id: number;
  /** Where to dial it; undefined: it dials us (docs/LINK.md, "Who dials"). */
  host: string | undefined;
  port: number | undefined;
}

/** The `node` option after checks (without the TLS material, which only the hardware's boot carries). */
export interface ResolvedNode {
  id: number;
  listen: { host: string; port: number } | undefined;
  peers: ResolvedPeer[];
  heartbeatMs: number;
  deadAfterMs: number;
  /** node.channelWindowBytes: the window this node grants each channel over a link, before grantedWindow() (docs/LINK.md, "Delivery, back-pressure, acknowledgement"). */
  channelWindowBytes: number;
}

/**
 * Whether `node` dials `peer` (docs/LINK.md, "Who dials"): it has the peer's port, and it does not
 * listen itself or has the smaller id. The hardware dials by it; the operator reports it.
 */
export function dialsPeer(node: ResolvedNode, peer: ResolvedPeer): boolean {
  return peer.port !== undefined && (node.listen === undefined || peer.id > node.id);
}

/** A node-qualified policy pair: a partition of this node and a partition of another node. */
export interface RemotePolicyPair {
  partition: number;
  node: number;
  remotePartition: number;
}

/** PEM text or bytes, as node:tls takes them. */
export type TlsMaterial = string | Uint8Array;

/** PEM as node:tls takes it (bytes arrive as a plain Uint8Array after the boot message's structured clone). */
export function pem(m: TlsMaterial): string | Buffer {
  return typeof m === 'string' ? m : Buffer.from(m.buffer, m.byteOffset, m.byteLength);
}

/** The node's TLS identity: only the hardware worker receives it, never a partition. */
export interface NodeTls {
  key: TlsMaterial;
  cert: TlsMaterial;
  ca: TlsMaterial | TlsMaterial[];
}

/** The machine options after validation (options.ts), with defaults filled in. */
export interface ResolvedOptions {
  partitions: ResolvedPartition[];
  /** Unordered pairs of partition ids that may connect; undefined: every pair. */
  allow: Array<[number, number]> | undefined;
  /** Pairs across nodes that may connect, when `allow` is given; undefined: every pair. */
  remoteAllow: RemotePolicyPair[] | undefined;
  /** Undefined: the machine is not a node, and no socket code runs. */
  node: ResolvedNode | undefined;
  geometry: PortGeometry;
  /** The wait mode resolved once into numbers; both kinds of worker receive this record. */
  wait: WaitPolicy;
  budgetPerRound: number;
  /** Listeners one partition may hold at once (THREATS case 30). */
  listenersPerPartition: number;
  testHooks: boolean;
  /** `createMachine({ trace })`: every `sample`-th message of each channel is traced; rings of `records` records per thread. Undefined: off. */
  trace: { sample: number; records: number } | undefined;
  /** `demoteFlooders`: the hardware lowers the dispatch priority of a partition that floods the engine beside one that does not (hardware/dispatch-priority.ts). */
  demoteFlooders: boolean;
}

/** What the operator allocates for the hardware before it boots, so partitions can boot alongside it. */
export interface HardwareBuffers {
  ports: SharedArrayBuffer[];
  counters: SharedArrayBuffer;
  /** The channel counter block (shared/channel-counter-block.ts); absent: the hardware allocates one no operator reads. */
  channels?: SharedArrayBuffer;
  trace?: SharedArrayBuffer;
  /** One thread word per partition, in partition order (shared/thread-word.ts); each partition's boot writes its own. */
  threads?: SharedArrayBuffer[];
  /**
   * The process's threads before the operator started this machine's workers (hardware/thread-stats.ts's
   * processThreads()): the dispatch priority's boot threads. Taken by the hardware as it booted, they
   * held what partitions booting beside it had started (THREATS case 128).
   */
  bootThreads?: number[];
}

/** The hardware worker's boot message. */
export interface HardwareBoot {
  options: ResolvedOptions;
  /** One control endpoint per partition, in partition order; the other end goes to that partition. */
  controlEndpoints: MessagePort[];
  /** Ports and counters the operator allocated; absent: the hardware allocates them. */
  buffers?: HardwareBuffers;
  /** With `options.node`: the node's TLS identity and the link counter block (shared/link-counters.ts). */
  link?: { tls: NodeTls; counters: SharedArrayBuffer };
}

/** A partition worker's boot message: its one port and its one control endpoint, nothing more. */
export interface PartitionBoot {
  id: number;
  name: string;
  port: SharedArrayBuffer;
  controlEndpoint: MessagePort;
  /** A replacement OS module's href; undefined: the standard OS. */
  os: string | undefined;
  wait: WaitPolicy;
  /** This worker's own trace ring (shared with the operator only) and the sampling; undefined: not traced. */
  trace?: { ring: SharedArrayBuffer; sample: number };
  /**
   * Where the boot writes its kernel thread id for the hardware (shared/thread-word.ts). The boot
   * deletes this property before any other code runs in the partition.
   */
  threadWord?: SharedArrayBuffer;
}

/** What a replacement OS module's default export is called with. */
export interface PartitionOsContext {
  /** The partition's id. */
  partitionId: number;
  /** The partition's name. */
  name: string;
  /** The partition's port: its one SharedArrayBuffer with the hardware (layout in `lparlink/internal`). */
  port: SharedArrayBuffer;
  /** The partition's control endpoint to the hardware (comlink calls: openQueuePair, listen, accept, connect, …). */
  control: MessagePort;
}
