/**
 * What the operator (main thread) may call on each worker over the worker's
 * parent port. Declared here so the operator holds only these types, never
 * the worker entries that implement them. Partitions never hold the
 * hardware's admin endpoint.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ErrorRecord } from './error-record.js';

/**
 * A link went up or down, or a handshake with a peer was refused (docs/LINK.md): the hardware
 * worker posts it on its parent port beside the comlink traffic, marked so the operator can tell
 * it apart; the operator emits it as a machine event.
 */
export interface LinkEvent {
  lparlinkLink: 'linkUp' | 'linkDown' | 'linkRefused';
  node: number;
  /** Why it went down, or why the handshake was refused (linkDown and linkRefused). */
  reason?: string;
}

export function isLinkEvent(m: unknown): m is LinkEvent {
  return typeof m === 'object' && m !== null && 'lparlinkLink' in m;
}

/** The hardware worker's operator endpoint (hardware/worker.ts implements it). */
export interface HardwareAdmin {
  /** The port buffers and the counter block the hardware runs on. */
  ports(): { ports: SharedArrayBuffer[]; counters: SharedArrayBuffer };
  /** The partition in slot `index` died: close its channels, drop its listeners. */
  partitionDown(index: number): void;
  /** A fresh port for the partition in slot `index`, bound to the new control endpoint. */
  restartPartition(index: number, controlEndpoint: MessagePort): SharedArrayBuffer;
  /** Test hook: corrupt the key in every stamp from this partition, so the receive stage must reject it. */
  corruptStamps(index: number, on: boolean): void;
  /** Test hook: every key made so far (live and revoked), for scanning partition memory for leaks. */
  keyHistory(): Uint8Array[];
  /** Test hook: how many key-table entries are non-zero (revoked keys must be zeroed). */
  liveKeyCount(): number;
  /** Test hook: let only `generationsLeft` more channels use this free slot of the partition in slot `index` before it retires. */
  ageChannelSlot(index: number, slot: number, generationsLeft: number): void;
  /** Test hook: crash the hardware worker the way an uncaught error in the engine would. */
  crash(): void;
  /** Test hook: the threads the dispatch priority takes for the process's own (never strangers); undefined when it is off. */
  dispatchOwnThreads(): number[] | undefined;
  /** On a node with `listen`: where it listens, once it does (rejects with why it cannot); otherwise undefined. */
  listening(): Promise<{ host: string; port: number } | undefined>;
  /**
   * On a node, as the machine closes (its partitions already stopped): serve what they published,
   * close every end still open (a peer on another node hears EPEERDEAD, after everything sent
   * before), write it all out and end each link's socket. Resolves once each socket closed; each
   * step that has not moved for `quietMs` is given up, and all of it within `capMs`.
   */
  closeLinks(quietMs: number, capMs: number): Promise<void>;
}

/**
 * How a program's outcome crosses back to the operator: its value, what it threw, or (`unclonable`)
 * why the value it returned cannot cross (a function, a class instance with private state, …).
 */
export type ProgramOutcome = { ok: true; value: unknown } | { ok: false; error: ErrorRecord } | { ok: false; unclonable: string };

/** The answer to starting a program: its process id, or why it could not start. */
export type StartResult = { ok: true; pid: number } | { ok: false; error: ErrorRecord };

/** The standard partition OS's operator endpoint (partitions/worker.ts implements it). */
export interface PartitionOsApi {
  /** Start a program module (a URL href the operator resolved) as a process. */
  start(moduleRef: string, args: unknown): Promise<StartResult>;
  /** What the process's main returned or threw. */
  result(pid: number): Promise<ProgramOutcome>;
  /**
   * The operator cancels the process: its `proc.signal` aborts with `reason` and its channels close.
   * False when no such process runs (it already ended).
   */
  abort(pid: number, reason: string): Promise<boolean>;
  /** The hardware died: fail every channel and pending call. */
  hardwareReset(): Promise<void>;
}
