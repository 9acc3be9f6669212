/**
 * The operator's view: createMachine() boots the hardware worker and one
 * worker per partition, and keeps the service-processor duties — spawning
 * programs, reading counters, noticing deaths, and closing everything.
 */
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { DEFAULTS, resolveMachineOptions, type MachineOptions } from './options.js';
import { dialsPeer, type HardwareBoot, type ResolvedOptions } from './shared/boot.js';
import { counterBytes, readPartitionStats, type PartitionStats } from './shared/counter-block.js';
import { channelCounterBytes, readChannelStats, type ChannelStats } from './shared/channel-counter-block.js';
import { nodeEndpoint, wrap, type Remote } from './shared/control-plane.js';
import { describeValue, escapeControls, MachineError } from './shared/errors.js';
import { AnswerLedger, KeepAlive } from './keep-alive.js';
import { isLinkEvent, type HardwareAdmin, type LinkEvent } from './shared/operator-contract.js';
import { LINK_UNKNOWN_IDENTITIES, linkCounterBytes, linkMachineBlock, readLinkStats, type LinkStats } from './shared/link-counters.js';
import { allocatePort, markHardwareGone } from './shared/port.js';
import { processThreads, THREAD_WORD_BYTES } from './shared/thread-word.js';
import { workerEntry } from './shared/workers.js';
import { recordThreadName } from './thread-names.js';
import { TraceRecorder } from './trace-recorder.js';
import type { TraceGroup, TraceSummary } from './trace-export.js';
import type { Writable } from 'node:stream';
import { Tripwire } from './shared/tripwire.js';
import { PartitionHandle, type PartitionExitReason, type PartitionSummary } from './partition-handle.js';
import { exitReason, release, workerBooted } from './worker-boot.js';
import { checkLinkUpOptions, whyNotUp, type LinkUpOptions } from './link-wait.js';

/** A partition's entry in {@link MachineStats}: its counters ({@link PartitionStats}) and its channel ends'. */
export interface PartitionStatsEntry extends PartitionStats {
  /** The partition's channel ends in use now, in slot order, each with its own counts. */
  channels: ChannelStats[];
}

/** What {@link Machine.stats} returns: the hardware's counters, one entry per partition in option order. */
export interface MachineStats {
  /** One entry per partition: its counters, and its channel ends with theirs. */
  partitions: PartitionStatsEntry[];
  /** On a node: one entry per peer in `node.peers` order (see {@link LinkStats}); empty otherwise. */
  links: LinkStats[];
  /**
   * On a node: connections to its listener refused without a known identity: a failed handshake
   * (another CA, no certificate, a TLS version before 1.3) or a certificate whose CN names no
   * configured peer. 0 otherwise.
   */
  unknownIdentities: number;
}

/** What JSON.stringify and console.log show of a {@link Machine}. */
export interface MachineSummary {
  /** Each partition's id, name and whether it runs, in option order. */
  partitions: PartitionSummary[];
  /** Whether {@link Machine.close} has begun. */
  closed: boolean;
  /** On a node: its node id. */
  node?: number;
}

/** Operator-only hooks for security tests; present only with `testHooks: true`. */
export interface TestHooks {
  /** Corrupt the key in every stamp from this partition (the receive stage must drop them). */
  corruptStamps(partitionId: number, on: boolean): Promise<void>;
  /** Every key the hardware has made, live or revoked. */
  keyHistory(): Promise<Uint8Array[]>;
  /** How many key-table entries hold a non-zero key. */
  liveKeyCount(): Promise<number>;
  /**
   * Fast-forward a free channel slot of a partition so that only `generationsLeft` more channels may
   * use it before it retires (THREATS case 28: a handle, once closed, is never accepted again).
   */
  ageChannelSlot(partitionId: number, slot: number, generationsLeft: number): Promise<void>;
  /** The threads the dispatch priority takes for the process's own, never strangers (THREATS case 128); undefined when it is off. */
  dispatchOwnThreads(): Promise<number[] | undefined>;
  /** The partition's port buffer (everything that partition can reach), for leak scans. */
  portOf(partitionId: number): SharedArrayBuffer;
  /** Crash the hardware worker (an uncaught error inside it); resolves once it has exited. */
  crashHardware(): Promise<void>;
}

/**
 * Events a {@link Machine} emits (it is a typed `EventEmitter`). None of `partitionExit`,
 * `hardwareExit`, `linkUp`, `linkDown` is emitted once {@link Machine.close} has begun. A
 * listener that throws is reported as an uncaught exception, on the next tick.
 */
export interface MachineEvents {
  /**
   * A partition's worker exited on its own or by {@link PartitionHandle.terminate} (a crash, an
   * uncaught error, `resourceLimits` exceeded). Its channels are closed; peers see `EPEERDEAD`.
   * The rest of the machine keeps running; {@link PartitionHandle.restart} brings it back.
   */
  partitionExit: [
    info: {
      /** The partition's id. */
      id: number;
      /** The partition's name. */
      name: string;
      /** The worker's exit code (1 after an uncaught error). */
      exitCode: number;
      /** The uncaught error that ended it, if any. */
      error?: Error;
      /**
       * Why it ended: `'crash'` (an uncaught error, `resourceLimits` exceeded, a message posted to the
       * operator that answers none of its calls, or that the operator's thread cannot deserialize: `error`
       * is then `MachineError` `EINVAL`), `'exit'` (its thread
       * ended without an error), or the operator's doing: `'terminate'` ({@link PartitionHandle.terminate}),
       * `'restart'` ({@link PartitionHandle.restart}), `'abortGraceMs'` (a program ignored its abort,
       * and the partition was restarted for it).
       */
      reason: PartitionExitReason;
    },
  ];
  /**
   * A program ended by throwing (its `handle.result` rejects with the same error). Emitted whether
   * or not anyone awaits that result, so that a failure in a program nobody awaits is never silent;
   * with no listener and nobody having read `handle.result`, the failure becomes a process warning
   * (`LPARLINK_PROGRAM_ERROR`) instead. Not emitted for `ECLOSED`/`EPARTITIONDOWN`/`EABORTED`.
   */
  programError: [
    info: {
      /** The partition's id. */
      partition: number;
      /** The partition's name. */
      name: string;
      /** The process id. */
      pid: number;
      /** The program module's URL. */
      program: string;
      /** What it threw, rebuilt with its class, `cause` and `code`. */
      error: Error;
    },
  ];
  /**
   * The hardware worker died: the machine failed closed. Every channel ends with `EHWRESET`,
   * {@link Machine.failure} is set and new work is refused. Close the machine and create a new one.
   */
  hardwareExit: [
    info: {
      /** The hardware worker's exit code. */
      exitCode: number;
      /** The uncaught error that ended it, if any. */
      error?: Error;
    },
  ];
  /** On a node: the link to another node came up (authenticated both ways); connects to it may go. */
  linkUp: [
    info: {
      /** The peer's node id. */
      node: number;
    },
  ];
  /**
   * On a node: the link to another node went down. Every channel over it ended with `ELINKDOWN`;
   * the sends it had not acknowledged failed with `ELINKDOWN` (counted in `stats().links[i].unacknowledged`).
   * The dialing side redials; channels are not resumed (docs/LINK.md).
   */
  linkDown: [
    info: {
      /** The peer's node id. */
      node: number;
      /** Why: a closed connection, a heartbeat timeout, an unreadable frame stream, a peer that reads nothing. */
      reason: string;
    },
  ];
  /**
   * On a node: a handshake with a configured peer was refused, and counted in
   * `stats().links[i].authFailures` (one event per refused attempt; the dialing side redials, backing
   * off to one attempt in 2 s). `reason` says what this side saw: the TLS error (another CA, an
   * older TLS), the node the certificate names when it is not the one dialed, another frame format,
   * a peer that dials a node which dials it, or a peer that closed the connection after the
   * handshake (it refused this node's certificate).
   */
  linkRefused: [
    info: {
      /** The peer's node id, as configured (the dialed one, or the one the certificate names). */
      node: number;
      /** What this side saw, and what it likely means (see above). */
      reason: string;
    },
  ];
}

/** Every event a machine emits (the compiler checks the list is whole), and those Node's helpers listen for. */
const EVENT_NAMES: readonly string[] = Object.keys({
  partitionExit: true,
  programError: true,
  hardwareExit: true,
  linkUp: true,
  linkDown: true,
  linkRefused: true,
} satisfies Record<keyof MachineEvents, true>);
const LISTENABLE = new Set([...EVENT_NAMES, 'error', 'newListener', 'removeListener']);

/**
 * A listener for a name no machine emits would never run (`on('partitionexit')`): refused where it
 * is added, as the compiler refuses it in TypeScript. Symbols pass (Node's own, e.g. captureRejections).
 */
function checkEventName(name: string | symbol): void {
  if (typeof name === 'string' && !LISTENABLE.has(name)) {
    throw new MachineError('EINVAL', `a machine emits no '${name}' event, so its listener would never run; its events are ${EVENT_NAMES.join(', ')}`);
  }
}

/**
 * A booted partitioned machine: one hardware worker and one worker per
 * partition. Made by {@link createMachine}; stop it with {@link Machine.close}
 * or `await using`. Emits {@link MachineEvents}.
 */
export class Machine extends EventEmitter<MachineEvents> implements AsyncDisposable {
  /** @internal */ closing = false;
  /**
   * @internal Trips with ECLOSED when close() starts: an operator call that waits on a worker
   * close() is about to terminate (a restart's) races it, rather than wait forever or start a
   * worker after close. A tripwire, not one promise every restart races: each race stayed on it,
   * with the port it returned (4 MiB a restart), until close (memory hunt, wave 19).
   */
  readonly closingStarted = new Tripwire();
  /** @internal What closingStarted trips with. */
  readonly closedMeanwhile = new MachineError('ECLOSED', 'the machine was closed meanwhile; create a new one');
  /**
   * @internal Trips with {@link Machine.failure} when the hardware worker exits: an operator call
   * that waits on the hardware (a restart's) races it. comlink forgets the calls of a proxy released
   * at the exit, and one posted as the hardware's thread ended was never answered: it waited for
   * good (THREATS case 104).
   */
  readonly hardwareStopped = new Tripwire();
  private hardwareDown: MachineError | undefined;
  private readonly byId = new Map<number, PartitionHandle>();
  private readonly counters: Float64Array;
  private readonly channelWords: Uint32Array;
  private readonly channelValues: Float64Array;
  private closed: Promise<void> | undefined;
  /** Operator-only hardware hooks for security tests; `undefined` unless created with `testHooks: true`. */
  readonly hooks: TestHooks | undefined;
  /** @internal Holds the Node process open only while the operator waits on a worker. */
  readonly keepAlive = new KeepAlive();
  /** @internal */
  readonly admin: Remote<HardwareAdmin>;
  /** @internal The trace rings, with `createMachine({ trace })`. */
  readonly tracing: TraceRecorder | undefined;

  private readonly linkCounters: Float64Array;
  /** Link events from before createMachine resolved (a link may come up while partitions boot), held until the caller can listen. */
  private earlyLinkEvents: LinkEvent[] | undefined = [];
  /**
   * Partition exits from before createMachine resolved, held until the caller can listen: a
   * partition may crash after its own boot while others still boot, and emitted then, its exit
   * reached nobody and was warned about to nobody (THREATS case 106).
   */
  private earlyExits: Array<MachineEvents['partitionExit'][0]> | undefined = [];

  /** @internal */
  constructor(
    /** @internal the options after validation and defaults */
    readonly options: ResolvedOptions,
    private readonly hardware: Worker,
    counters: SharedArrayBuffer,
    channelCounters: SharedArrayBuffer,
    hardwareTraceRing?: SharedArrayBuffer,
    linkCounters?: SharedArrayBuffer,
  ) {
    super();
    // Before the listener is added: 'newListener' runs first, and what it throws comes out of on().
    (this as EventEmitter).on('newListener', checkEventName);
    if (options.trace !== undefined && hardwareTraceRing !== undefined) {
      this.tracing = new TraceRecorder(options.trace.sample, options.trace.records);
      this.tracing.add('hardware-0', hardware.threadId, undefined, hardwareTraceRing);
    }
    this.counters = new Float64Array(counters);
    this.channelWords = new Uint32Array(channelCounters);
    this.channelValues = new Float64Array(channelCounters);
    this.linkCounters = new Float64Array(linkCounters ?? new ArrayBuffer(0));
    hardware.on('message', (m: unknown) => {
      if (!isLinkEvent(m)) return;
      if (this.earlyLinkEvents !== undefined) this.earlyLinkEvents.push(m);
      else this.emitLinkEvent(m);
    });
    const admin = this.connect<HardwareAdmin>(hardware);
    this.admin = admin;
    let error: Error | undefined;
    hardware.on('error', (e) => (error = e));
    hardware.once('exit', (exitCode: number) => {
      release(admin);
      if (this.closing) return;
      this.hardwareDown = new MachineError(
        'EHWRESET',
        `the hardware worker exited with code ${exitCode}${error ? `: ${error.message}` : ''}; the machine failed closed: close it and create a new one`,
      );
      this.hardwareStopped.trip(this.hardwareDown);
      for (const p of this.byId.values()) {
        // A process blocked in Atomics.wait (recvIntoSync, writeSync) cannot hear hardwareReset(): its port says it.
        markHardwareGone(p.port, options.geometry);
        if (p.running && p.worker !== undefined && options.partitions[p.index].os === undefined) {
          // Handled: a program shares its thread with its OS and may answer this call itself (case 66);
          // answered with a throw, the rejection nobody awaited ended the operator's process (case 119).
          void p.standardOs.hardwareReset().catch(() => {});
        }
      }
      this.notify('hardwareExit', { exitCode, error });
    });
    if (options.testHooks) {
      this.hooks = {
        corruptStamps: (id, on) => this.askHardware(() => this.admin.corruptStamps(this.partition(id).index, on)),
        keyHistory: () => this.askHardware(() => this.admin.keyHistory()),
        liveKeyCount: () => this.askHardware(() => this.admin.liveKeyCount()),
        ageChannelSlot: (id, slot, generationsLeft) => this.askHardware(() => this.admin.ageChannelSlot(this.partition(id).index, slot, generationsLeft)),
        portOf: (id) => this.partition(id).port,
        dispatchOwnThreads: () => this.askHardware(() => this.admin.dispatchOwnThreads()),
        crashHardware: async () => {
          const exited = new Promise((resolve) => hardware.once('exit', resolve));
          void this.admin.crash().catch(() => {});
          await this.keepAlive.during(exited);
        },
      };
    }
  }

  /** @internal A comlink proxy to one of this machine's workers (a partition's counts its calls in `ledger`), which holds the process open only while a call waits. */
  connect<T>(worker: Worker, gone?: (waiting: boolean) => Error | undefined, ledger?: AnswerLedger): Remote<T> {
    this.keepAlive.adopt(worker);
    const endpoint = nodeEndpoint(worker);
    return wrap<T>(this.keepAlive.track(ledger === undefined ? endpoint : ledger.counting(endpoint), worker, gone));
  }

  /**
   * @internal Start one worker per partition. If one cannot be started, the
   * ones already started stay in the machine, so close() stops them.
   */
  startPartitions(ports: SharedArrayBuffer[], controlEndpoints: MessagePort[], threadWords: SharedArrayBuffer[]): void {
    this.options.partitions.forEach((spec, i) =>
      this.byId.set(spec.id, new PartitionHandle(this, i, spec, ports[i], controlEndpoints[i], threadWords[i])),
    );
  }

  /** @internal Resolves once the hardware and every partition have booted; rejects with the first failure. */
  async booted(): Promise<void> {
    const hardware = workerBooted(
      this.hardware,
      (code, error) => new MachineError('EHWRESET', `the hardware worker ${exitReason(code, error)} while booting`, { cause: error }),
      () => new MachineError('EHWRESET', `the hardware worker did not finish booting within ${DEFAULTS.bootTimeoutMs / 1000} s`),
    );
    await Promise.all([hardware, ...this.partitions.map((p) => p.booted())]);
  }

  /**
   * The partition with this id.
   * @throws MachineError `EINVAL` when this machine has no such partition.
   */
  partition(id: number): PartitionHandle {
    const p = this.byId.get(id);
    if (p === undefined) {
      throw new MachineError(
        'EINVAL',
        `machine.partition(id): no partition ${describeValue(id)}; this machine has ${[...this.byId.keys()].join(', ')}`,
      );
    }
    return p;
  }

  /** Every partition, in the order of `options.partitions`. */
  get partitions(): PartitionHandle[] {
    return [...this.byId.values()];
  }

  /**
   * Counters per partition, read straight from the hardware's counter block (a plain read, no
   * round trip; cheap enough to poll). Still readable after close().
   */
  stats(): MachineStats {
    const peers = this.options.node?.peers ?? [];
    return {
      partitions: this.partitions.map((p) => ({
        ...readPartitionStats(this.counters, p.index, p.id, p.name),
        channels: readChannelStats(this.channelWords, this.channelValues, p.index, this.options.geometry.channelSlots),
      })),
      links: peers.map((peer, i) => {
        const link = readLinkStats(this.linkCounters, i, peer.id, dialsPeer(this.options.node!, peer));
        // Closing ends every link, and a link still connecting never had a socket to go down with
        // (the hardware writes 'down' only for one that was up): after close() each reads 'down'.
        return this.closing ? { ...link, state: 'down' } : link;
      }),
      unknownIdentities: this.options.node === undefined ? 0 : this.linkCounters[linkMachineBlock(peers.length) + LINK_UNKNOWN_IDENTITIES],
    };
  }

  /**
   * Write the message-flow trace recorded so far (`createMachine({ trace: { sample } })`) as
   * Chrome Trace Event Format JSON, streamed: open it in ui.perfetto.dev, chrome://tracing or the
   * DevTools Performance panel (README "Tracing"). Works while the machine runs and after close().
   * @param to a file path (created or replaced; resolves once it is written), or a Writable
   *   stream, which is written to and left open; a failure it reports while the export runs (or
   *   within a turn of the event loop after the last write) rejects the export, one it reports
   *   later (a file stream's slow write) is the stream's own 'error'.
   * @returns what was written: events, complete message flows, records dropped by full rings.
   * @throws MachineError `EINVAL` when the machine was created without `trace`, or `to` is neither.
   */
  exportTrace(to: string | Writable): Promise<TraceSummary> {
    if (this.tracing === undefined) {
      return Promise.reject(new MachineError('EINVAL', 'exportTrace: this machine does not trace; create it with createMachine({ ..., trace: { sample: 64 } })'));
    }
    // Each node of several writes its own file: its process is named for the node, to tell them apart.
    const node = this.options.node?.id;
    return this.tracing.export(to, this.options.partitions.map((p) => p.id), node === undefined ? 'lparlink' : `lparlink node ${node}`);
  }

  /** @internal This machine's trace rings as one process of a trace file (a bench run writes several machines into one). */
  traceGroup(pid: number, name: string): TraceGroup | undefined {
    return this.tracing?.group(pid, name, this.options.partitions.map((p) => p.id));
  }

  /**
   * On a node with `node.listen`: the address its link listener is bound to (with the port it was
   * given, or the one picked for port 0). Undefined otherwise.
   */
  listening:
    | {
        /** The address it listens on (`node.listen.host`). */
        host: string;
        /** The bound port. */
        port: number;
      }
    | undefined;

  /**
   * Resolves once the link to node `node` is up: at once if it is, else at its `linkUp`. The wait
   * holds the Node process open (a `linkUp` listener alone does not: the links' sockets live in the
   * hardware worker, which is unref'd while idle, and a script waiting on the event exited).
   * @throws MachineError `EINVAL` (this machine is not a node, `node` is not one of `node.peers`, a
   *   bad option), `ETIMEDOUT` (`timeoutMs` passed; the message says what the link's counters
   *   show), `EABORTED` (`signal` aborted), `ECLOSED` (closed meanwhile), `EHWRESET`.
   */
  linkUp(node: number, options?: LinkUpOptions): Promise<void> {
    let checked: LinkUpOptions;
    let index: number;
    try {
      this.checkUsable('linkUp');
      const peers = this.options.node?.peers;
      if (peers === undefined) throw new MachineError('EINVAL', 'linkUp: this machine is not a node (createMachine without the node option has no links)');
      index = peers.findIndex((p) => p.id === node);
      if (index < 0) throw new MachineError('EINVAL', `linkUp: node ${describeValue(node)} is not one of this node's peers (${peers.map((p) => p.id).join(', ')})`);
      checked = checkLinkUpOptions(options);
    } catch (e) {
      return Promise.reject(e);
    }
    const link = (): LinkStats => this.stats().links[index];
    if (link().state === 'up') return Promise.resolve();
    const { timeoutMs, signal } = checked;
    if (signal?.aborted) return Promise.reject(new MachineError('EABORTED', `linkUp: options.signal was already aborted`, { cause: signal.reason }));
    let stop = (): void => {};
    const up = new Promise<void>((resolve, reject) => {
      const onUp = (info: { node: number }): void => {
        if (info.node === node) resolve();
      };
      const onHardwareExit = (): void => reject(this.hardwareDown);
      const onAbort = (): void => reject(new MachineError('EABORTED', `linkUp: options.signal aborted the wait for node ${node}`, { cause: signal!.reason }));
      const timer =
        timeoutMs === undefined ? undefined : setTimeout(() => reject(new MachineError('ETIMEDOUT', `linkUp: the link to node ${node} is not up after ${timeoutMs} ms (${whyNotUp(link())})`)), timeoutMs);
      this.on('linkUp', onUp).on('hardwareExit', onHardwareExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      stop = () => {
        this.off('linkUp', onUp).off('hardwareExit', onHardwareExit);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
      };
    });
    const waited = this.closingStarted.race(up).finally(() => stop());
    return this.keepAlive.during(
      waited.catch((e: unknown) => {
        throw e === this.closedMeanwhile ? new MachineError('ECLOSED', `linkUp: the machine was closed while it waited for the link to node ${node}`) : e;
      }),
    );
  }

  /** Set (`MachineError` `EHWRESET`) when the hardware worker died; the machine then refuses new work. */
  get failure(): MachineError | undefined {
    return this.hardwareDown;
  }

  /** @internal */
  checkUsable(what: string): void {
    if (this.closing) throw new MachineError('ECLOSED', `${what}: the machine is closed; create a new one`);
    if (this.hardwareDown) throw this.hardwareDown;
  }

  /**
   * @internal A call to the hardware's admin api that the operator waits on: it fails with the
   * machine's EHWRESET once the hardware is gone, not with comlink's untyped "Proxy has been
   * released", nor never (a call posted as the hardware's thread ended went unanswered: case 104).
   */
  askHardware<T>(call: () => Promise<T>): Promise<T> {
    if (this.hardwareDown !== undefined) return Promise.reject(this.hardwareDown);
    return this.hardwareStopped.race(call());
  }

  /**
   * emit(), with the error of a listener that throws reported as Node reports one (an uncaught
   * exception, on the next tick), never thrown into the machine's own work: emitted from inside a
   * promise chain, it replaced the error being built (a result rejected with the listener's error,
   * a restart failed and left its partition down).
   */
  private notify<K extends keyof MachineEvents>(event: K, ...args: MachineEvents[K]): boolean {
    try {
      return (this.emit as (e: K, ...a: MachineEvents[K]) => boolean)(event, ...args);
    } catch (e) {
      process.nextTick(() => {
        throw e;
      });
      return true;
    }
  }

  /** @internal */
  onPartitionExit(p: PartitionHandle, exitCode: number, error: Error | undefined, reason: PartitionExitReason): void {
    if (this.closing) return;
    if (!this.hardwareDown) void this.admin.partitionDown(p.index).catch(() => {});
    const info = { id: p.id, name: p.name, exitCode, error, reason };
    // During createMachine nobody could have listened yet: reported once it resolves (bootEnded).
    // A boot that fails reports it itself, and closes the machine before that.
    if (this.earlyExits !== undefined) this.earlyExits.push(info);
    else this.reportExit(info);
  }

  private reportExit(info: MachineEvents['partitionExit'][0]): void {
    const { error } = info;
    if (this.notify('partitionExit', info) || error === undefined || info.reason !== 'crash') return;
    // A crash (an error thrown outside any program's main, say in a background task) that nobody
    // listens for would otherwise show only as its peers' EPEERDEAD.
    // The error is the partition's to word: its control characters are escaped (THREATS case 74).
    process.emitWarning(
      `partition ${info.id} (${info.name}) crashed: ${escapeControls(`${error.name}: ${error.message}`)}. Listen to machine.on('partitionExit') to handle it`,
      { code: 'LPARLINK_PARTITION_EXIT' },
    );
  }

  /**
   * Stop every partition and the hardware; resolves once every worker thread has exited, leaving
   * no thread, handle, timer or port behind. Programs still running end: their `result` rejects
   * with `MachineError` `ECLOSED`. No `partitionExit`/`hardwareExit` events are emitted. Safe to
   * call twice (the second call returns the same promise). A partition whose thread is blocked
   * outside JavaScript (a synchronous system call) cannot stop until that call returns: after 5 s
   * it is let go (unref'd) with the warning `LPARLINK_PARTITION_STUCK`. On a node, once the
   * partitions have stopped, the hardware sends what they had written to other nodes and closes
   * their channels there (EPEERDEAD, or the clean end of one a program closed) before its links
   * end: for as long as that moves (a step still for `deadAfterMs`, at most 1 s, is given up), at
   * most 5 s: docs/LINK.md, "A node that closes".
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.closingStarted.trip(this.closedMeanwhile);
    const node = this.options.node;
    if (node !== undefined && this.hardwareDown === undefined) {
      // Other nodes outlive this one: the partitions stop first, then the hardware hands its links
      // what they had sent and closes their channels before it ends (Hardware.closeLinks).
      await this.keepAlive.during(Promise.all(this.partitions.map((p) => p.terminate())));
      const quietMs = Math.min(node.deadAfterMs, LINK_CLOSE_QUIET_MS);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, LINK_CLOSE_CAP_MS + LINK_CLOSE_SLACK_MS)));
      await this.keepAlive.during(Promise.race([this.admin.closeLinks(quietMs, LINK_CLOSE_CAP_MS).catch(() => {}), late]));
      clearTimeout(timer);
    }
    await this.keepAlive.during(Promise.all([...this.partitions.map((p) => p.terminate()), this.hardware.terminate()]));
  }

  private emitLinkEvent(m: LinkEvent): void {
    if (this.closing) return;
    if (m.lparlinkLink === 'linkUp') this.notify('linkUp', { node: m.node });
    else if (m.lparlinkLink === 'linkRefused') this.notify('linkRefused', { node: m.node, reason: m.reason ?? 'unknown' });
    else this.notify('linkDown', { node: m.node, reason: m.reason ?? 'unknown' });
  }

  /**
   * @internal createMachine has resolved: emit the link events and partition exits of the boot once
   * the caller's code after `await createMachine()` has run.
   */
  bootEnded(): void {
    const early = this.earlyLinkEvents ?? [];
    const exits = this.earlyExits ?? [];
    setImmediate(() => {
      this.earlyLinkEvents = undefined;
      this.earlyExits = undefined;
      for (const m of early) this.emitLinkEvent(m);
      if (!this.closing) for (const info of exits) this.reportExit(info);
    });
  }

  /** @internal A program ended by throwing: programError, or a warning when nobody could notice it otherwise. */
  onProgramError(info: MachineEvents['programError'][0], resultRead: boolean): void {
    if (this.notify('programError', info) || resultRead) return;
    // Node prints a warning to the operator's stderr as it is, and the program chose its error's
    // name and message: raw, their control sequences reached the operator's terminal (THREATS case 74).
    process.emitWarning(
      `${info.program} (process ${info.pid} of partition ${info.partition} (${info.name})) threw while nobody was reading its handle.result: ${escapeControls(`${info.error.name}: ${info.error.message}`)}. ` +
        "Await handle.result, or listen to machine.on('programError')",
      { code: 'LPARLINK_PROGRAM_ERROR' },
    );
  }

  /** What JSON.stringify writes of it: its partitions (id, name, running), whether it is closed, and its node id on a node. */
  toJSON(): MachineSummary {
    const node = this.options.node?.id;
    return { partitions: this.partitions.map((p) => p.toJSON()), closed: this.closing, ...(node === undefined ? {} : { node }) };
  }

  /** What console.log and util.inspect show of it: as toJSON() (not its workers, ports and proxies). */
  [inspect.custom](): string {
    return `Machine ${inspect(this.toJSON(), { depth: 3 })}`;
  }

  /** `await using machine = await createMachine(...)` calls close() at the end of the block. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * In a vm context on Node 20 (vitest's vmThreads and vmForks pools) `Symbol.asyncDispose` is
 * undefined, and compiled `await using` looks the method up under Symbol.for('Symbol.asyncDispose')
 * instead: without this, "Object is not disposable".
 */
Object.defineProperty(Machine.prototype, Symbol.for('Symbol.asyncDispose'), {
  value: Machine.prototype[Symbol.asyncDispose],
  configurable: true,
  writable: true,
});

/**
 * A node's close() hands its links what its partitions sent for as long as that moves: a step
 * that has not moved for `deadAfterMs` (at most LINK_CLOSE_QUIET_MS) is given up (a peer that
 * acknowledges nothing, or says nothing), and all of it ends within LINK_CLOSE_CAP_MS (a peer that
 * keeps talking without reading holds it no longer). Its answer is awaited a little longer, in
 * case the hardware is busy.
 */
const LINK_CLOSE_QUIET_MS = 1000;
const LINK_CLOSE_CAP_MS = 5000;
const LINK_CLOSE_SLACK_MS = 500;

/** What to do about a failure to listen, by its cause (the message carries the system's code). */
function listenAdvice(message: string): string {
  if (/EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN|EAI_NONAME/.test(message)) {
    return "node.listen.host is not an address of this machine: use '127.0.0.1', '0.0.0.0' (every interface) or one of its interfaces' addresses";
  }
  if (/EACCES/.test(message)) return 'ports below 1024 need privileges: pick a port from 1024 (or 0 for a free one)';
  return 'pick another port (or 0 for a free one)';
}


/**
 * Boot a machine: the hardware worker and one worker per partition, all
 * started at once (the operator allocates the ports, so no partition waits
 * for the hardware). Resolves when every worker has booted.
 *
 * Use `await using machine = await createMachine(...)` (or `try/finally
 * machine.close()`) so that no thread outlives the test.
 *
 * @throws MachineError `EINVAL` naming the bad option (nothing is started), or
 *   naming `partitions[i].os` when a replacement OS fails to boot; `EHWRESET` /
 *   `EPARTITIONDOWN` when a worker dies while booting. On any failure every
 *   worker already started is stopped before the promise rejects.
 */
export async function createMachine(options: MachineOptions): Promise<Machine> {
  const { options: resolved, tls } = resolveMachineOptions(options);
  const ports = resolved.partitions.map((p) => allocatePort(resolved.geometry, p.id));
  const counters = new SharedArrayBuffer(counterBytes(resolved.partitions.length));
  const channelCounters = new SharedArrayBuffer(channelCounterBytes(resolved.partitions.length, resolved.geometry.channelSlots));
  const channels = resolved.partitions.map(() => new MessageChannel());
  const controlEndpoints = channels.map((c) => c.port1);
  const hardwareTraceRing = resolved.trace === undefined ? undefined : new TraceRecorder(resolved.trace.sample, resolved.trace.records).newRing();
  const threads = resolved.partitions.map(() => new SharedArrayBuffer(THREAD_WORD_BYTES));
  // Before any worker of this machine starts: a partition booting beside the hardware may start threads at once.
  const bootThreads = processThreads();
  const boot: HardwareBoot = { options: resolved, controlEndpoints, buffers: { ports, counters, channels: channelCounters, trace: hardwareTraceRing, threads, bootThreads } };
  // Only the hardware worker receives the node's TLS identity.
  const linkCounters = resolved.node === undefined ? undefined : new SharedArrayBuffer(linkCounterBytes(resolved.node.peers.length));
  if (linkCounters !== undefined && tls !== undefined) boot.link = { tls, counters: linkCounters };
  let hardware: Worker;
  try {
    hardware = new Worker(workerEntry('hardware/worker'), {
      name: 'hardware-0',
      workerData: boot,
      transferList: controlEndpoints,
      resourceLimits: { maxOldGenerationSizeMb: DEFAULTS.hardwareHeapMb },
    });
  } catch (e) {
    for (const c of channels) c.port1.close(), c.port2.close();
    throw e;
  }
  recordThreadName(hardware.threadId, 'hardware-0');
  const machine = new Machine(resolved, hardware, counters, channelCounters, hardwareTraceRing, linkCounters);
  try {
    machine.startPartitions(ports, channels.map((c) => c.port2), threads);
    await machine.keepAlive.during(machine.booted());
    if (resolved.node?.listen !== undefined) {
      machine.listening = await machine.keepAlive.during(
        machine.askHardware(() =>
          machine.admin.listening().catch((e: Error) => {
            throw new MachineError('EINVAL', `createMachine: node.listen: ${e.message}; ${listenAdvice(e.message)}`);
          }),
        ),
      );
    }
  } catch (e) {
    await machine.close();
    for (const c of channels) c.port2.close(); // those never handed to a partition
    throw e;
  }
  machine.bootEnded();
  return machine;
}
