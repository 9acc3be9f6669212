/**
 * The operator's view: createMachine() boots the hardware worker and one
 * worker per partition, and keeps the service-processor duties — spawning
 * programs, reading counters, noticing deaths, and closing everything.
 */
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { url as inspectorUrl } from 'node:inspector';
import { DEFAULTS, resolveMachineOptions, type MachineOptions } from './options.js';
import { isCwdRelative, moduleHref, type ProgramRef, type SpawnArgs } from './program.js';
import { dialsPeer, type HardwareBoot, type PartitionBoot, type ResolvedOptions, type ResolvedPartition } from './shared/boot.js';
import { counterBytes, readPartitionStats, type PartitionStats } from './shared/counter-block.js';
import { nodeEndpoint, releaseProxy, transfer, wrap, WORKER_READY, type Remote } from './shared/control-plane.js';
import { rebuildError } from './shared/error-record.js';
import { describeValue, MachineError } from './shared/errors.js';
import { failingEndpoint, KeepAlive } from './keep-alive.js';
import { checkSpawnOptions, DEFAULT_ABORT_GRACE_MS, watchCancellation, type SpawnOptions } from './spawn-options.js';
import { isLinkEvent, type HardwareAdmin, type LinkEvent, type PartitionOsApi, type StartResult } from './shared/operator-contract.js';
import { LINK_UNKNOWN_IDENTITIES, linkCounterBytes, linkMachineBlock, readLinkStats, type LinkStats } from './shared/link-counters.js';
import type { OsEndpoint } from './shared/os-endpoint.js';
import { allocatePort, markHardwareGone } from './shared/port.js';
import { workerEntry } from './shared/workers.js';
import { recordThreadName } from './thread-names.js';
import { TraceRecorder } from './trace-recorder.js';
import type { TraceGroup, TraceSummary } from './trace-export.js';
import type { Writable } from 'node:stream';
import { Tripwire } from './shared/tripwire.js';

/** What {@link Machine.stats} returns: the hardware's counters, one entry per partition in option order. */
export interface MachineStats {
  /** One block of counters per partition; see {@link PartitionStats} for each counter. */
  partitions: PartitionStats[];
  /** On a node: one entry per peer in `node.peers` order (see {@link LinkStats}); empty otherwise. */
  links: LinkStats[];
  /**
   * On a node: connections to its listener refused without a known identity: a failed handshake
   * (another CA, no certificate, a TLS version before 1.3) or a certificate whose CN names no
   * configured peer. 0 otherwise.
   */
  unknownIdentities: number;
}

/** A running program, as {@link PartitionHandle.spawn} returns it. */
export interface ProcessHandle<Result = unknown> {
  /** The partition the process runs in. */
  readonly partition: number;
  /** The process id the hardware assigned (unique within the partition; `proc.pid` inside the program). */
  readonly pid: number;
  /**
   * Resolves with what the program's main returned (structured-cloned); rejects with what it threw
   * (a `ChannelError` keeps its class and code), with `MachineError` `EPARTITIONDOWN` when the
   * partition died first, `ECLOSED` when the machine was closed while the program ran, `EABORTED`
   * when spawn's `signal` or `timeoutMs` cancelled it, or `EINVAL` when it returned a value
   * structured clone cannot copy.
   * Never an unhandled rejection: you may ignore it.
   */
  readonly result: Promise<Result>;
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
  /** The partition's port buffer (everything that partition can reach), for leak scans. */
  portOf(partitionId: number): SharedArrayBuffer;
  /** Crash the hardware worker (an uncaught error inside it); resolves once it has exited. */
  crashHardware(): Promise<void>;
}

/** Why a partition's worker ended (`partitionExit`'s `reason`). */
export type PartitionExitReason = 'crash' | 'exit' | 'terminate' | 'restart' | 'abortGraceMs';

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
       * Why it ended: `'crash'` (an uncaught error, `resourceLimits` exceeded), `'exit'` (its thread
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

/**
 * The operator's handle on one partition: spawn programs in it, stop it,
 * restart it. Get one with {@link Machine.partition}.
 */
export class PartitionHandle {
  /** This run's proxy to the partition OS (restart() replaces it); `os` shows it without comlink's types. */
  private remote: Remote<any>;
  /** The restart in progress, which a second restart() joins. */
  private restarting: Promise<void> | undefined;
  /** The proxy `os` hands out, for the worker it was made for. */
  private publicOs: { worker: Worker; proxy: Remote<any> } | undefined;
  /** The partition's worker thread (replaced by {@link PartitionHandle.restart}). Listen to its events; do not post to it. */
  worker: Worker;
  /** The partition's port: the one SharedArrayBuffer it shares with the hardware (replaced by restart). */
  port: SharedArrayBuffer;
  private exited: Promise<Error>;
  /** Fails what waits on this run of the partition once its worker exits (its spawns' starts and results). */
  private died: Tripwire;
  private alive = true;
  /** Ends the current run as its worker's exit would (terminate() gives up waiting for a thread stuck outside JavaScript). */
  private letGo: () => void = () => {};
  /** Set when the operator ends the worker on purpose (partitionExit's reason), cleared for each new worker. */
  private stopping: Exclude<PartitionExitReason, 'crash' | 'exit'> | undefined;

  /** @internal */
  constructor(
    private readonly machine: Machine,
    /** Position of this partition in `options.partitions`, which is also its index in {@link MachineStats.partitions}. */
    readonly index: number,
    private readonly spec: ResolvedPartition,
    port: SharedArrayBuffer,
    controlEndpoint: MessagePort,
  ) {
    this.port = port;
    this.worker = this.startWorker(port, controlEndpoint);
    this.remote = this.machine.connect(this.worker);
    this.exited = this.watch();
    this.died = this.diedAfter(this.exited);
  }

  /**
   * The partition OS's operator endpoint: every call returns a promise. For a partition with a
   * replacement OS (`partitions[i].os`), this is whatever that module's default export returned:
   * the way a test drives a hostile or instrumented partition (type it with `as OsEndpoint<Api>`).
   */
  get os(): OsEndpoint {
    // Its own proxy, per run of the partition: a call waiting when the partition dies is answered
    // with why, as is any call made later through it (after close() too); through the internal
    // proxy (released at the exit) it waited for good, and later ones threw an untyped error.
    // threadId -1: the worker has exited, and its 'exit' listeners are running (alive is not yet false).
    if (this.machine.closing || !this.alive || this.worker.threadId === -1) return wrap(failingEndpoint(() => this.osGone(this.worker)));
    if (this.publicOs?.worker !== this.worker) {
      const worker = this.worker;
      this.publicOs = { worker, proxy: this.machine.connect(worker, (waiting) => this.osCallRefused(worker, waiting)) };
    }
    return this.publicOs.proxy;
  }

  /**
   * Why a call through the `os` proxy of `worker`'s run cannot be made (undefined: it can): one
   * posted after that run ended, or after close() began, or (`waiting`) one that was waiting when
   * the run ended. Calls waiting when the machine closes stay unanswered, as everything a closed
   * machine was doing: answered, each fire-and-forget call would reject, unhandled, at every close.
   */
  private osCallRefused(worker: Worker, waiting: boolean): MachineError | undefined {
    if (waiting) return this.machine.closing ? undefined : this.osGone(worker);
    if (this.machine.closing || worker.threadId === -1 || this.worker !== worker || !this.alive) return this.osGone(worker);
    return undefined;
  }

  /** What a call through the `os` proxy of `worker`'s run fails with once that run is over. */
  private osGone(worker: Worker): MachineError {
    if (this.machine.closing) return new MachineError('ECLOSED', `partition(${this.id}).os: the machine was closed; create a new one`);
    if (this.machine.failure !== undefined) return this.machine.failure;
    if (this.alive && this.worker !== worker) {
      return new MachineError('EPARTITIONDOWN', `partition(${this.id}).os: this proxy belongs to a run of partition ${this.id} (${this.name}) that ended; take partition.os again`);
    }
    return new MachineError('EPARTITIONDOWN', `partition(${this.id}).os: partition ${this.id} (${this.name}) is not running; restart() it, then call through partition.os again`);
  }

  /** @internal The standard OS's api (only for partitions without a replacement OS). */
  get standardOs(): Remote<PartitionOsApi> {
    return this.remote as Remote<PartitionOsApi>;
  }

  private diedAfter(exited: Promise<Error>): Tripwire {
    // Not a promise every spawn races: each race stayed on it, with the program's result, until
    // the partition exited (~0.8 KB a spawn, and every result: memory hunt, wave 19).
    const died = new Tripwire();
    void exited.then((e) => died.trip(e));
    return died;
  }

  /** The partition's id (`partitions[i].id`). */
  get id(): number {
    return this.spec.id;
  }

  /** The partition's name (`partitions[i].name`, default `partition-<id>`). */
  get name(): string {
    return this.spec.name;
  }

  /** False once the partition's worker has exited (crash, exit, terminate). */
  get running(): boolean {
    return this.alive;
  }

  private startWorker(port: SharedArrayBuffer, controlEndpoint: MessagePort): Worker {
    const boot: PartitionBoot = { id: this.spec.id, name: this.spec.name, port, controlEndpoint, os: this.spec.os, wait: this.machine.options.wait };
    const tracing = this.machine.tracing;
    // Each run of the partition traces into a ring of its own (a new thread, a new track); a replacement OS is not traced.
    const ring = tracing !== undefined && this.spec.os === undefined ? tracing.newRing() : undefined;
    if (ring !== undefined) boot.trace = { ring, sample: tracing!.sample };
    const worker = new Worker(workerEntry('partitions/worker'), {
      name: this.spec.name,
      workerData: boot,
      transferList: [controlEndpoint],
      resourceLimits: this.spec.resourceLimits,
    });
    recordThreadName(worker.threadId, this.spec.name);
    if (ring !== undefined) tracing!.add(this.spec.name, worker.threadId, this.index, ring);
    return worker;
  }

  private watch(): Promise<Error> {
    let error: Error | undefined;
    const worker = this.worker;
    const os = this.remote;
    worker.on('error', (e) => (error = e));
    // Not events.once(worker, 'exit'): that rejects on 'error', and a crashed partition must still be reported as an exit.
    // terminate() may end the run first, without the exit (letGo): the worker's later exit then changes nothing.
    return new Promise<number>((resolve) => {
      worker.once('exit', resolve);
      this.letGo = () => resolve(1);
    }).then((exitCode) => {
      this.alive = false;
      release(os);
      const reason: PartitionExitReason = this.stopping ?? (error !== undefined ? 'crash' : 'exit');
      this.machine.onPartitionExit(this, exitCode, error, reason);
      const what =
        reason === 'terminate'
          ? 'was terminated by terminate()'
          : reason === 'restart'
            ? 'was restarted by restart()'
            : reason === 'abortGraceMs'
              ? 'was restarted because a program ignored its abort for abortGraceMs'
              : `exited with code ${exitCode}${error ? `: ${error.message}` : ''}; restart() it, or create a new machine`;
      return new MachineError('EPARTITIONDOWN', `partition ${this.id} (${this.name}) ${what}`, { cause: error });
    });
  }

  // The untyped form comes first: when a call fits neither, TypeScript reports the last
  // overload's error, and for a ProgramRef that is the one that names the bad args.
  /** Untyped form: `args` is not checked and `Result` is whatever you say (default `unknown`). */
  spawn<Result = unknown>(program: URL | string, args?: unknown, options?: SpawnOptions): Promise<ProcessHandle<Result>>;
  /**
   * Run a program module as a process in this partition. The module's
   * default export `main(proc, args)` runs there; `handle.result` settles
   * with what it returns or throws.
   *
   * With a {@link ProgramRef} (from {@link programUrl}) `args` and the
   * result are type-checked against the program:
   *
   * ```ts
   * const echo = programUrl<typeof import('./echo.js')>(new URL('./echo.js', import.meta.url));
   * const h = await machine.partition(1).spawn(echo, { port: 7 });
   * ```
   *
   * @param program the program module: a ProgramRef, a `URL`, or a path.
   * @param args passed to `main` as its second argument; structured-cloned, so plain data only.
   * @returns once the process started (its pid is assigned); `result` settles when main ends.
   * @throws MachineError `EINVAL` (bad `program` or `args`, module not loadable, no default export,
   *   replacement-OS partition), `ECLOSED` (machine closed), `EPARTITIONDOWN` (partition not running),
   *   `EHWRESET` (hardware gone).
   * @throws ChannelError `EMFILE` when every process slot (`processesPerPartition`) is in use.
   */
  spawn<Args, Result>(program: ProgramRef<Args, Result>, ...args: NoInfer<SpawnArgs<Args>>): Promise<ProcessHandle<Result>>;
  async spawn(program: ProgramRef | URL | string, args?: unknown, options?: SpawnOptions): Promise<ProcessHandle<unknown>> {
    this.machine.checkUsable('spawn');
    const href = moduleHref(program, 'spawn: program');
    const cancelling = checkSpawnOptions(options);
    if (!this.alive) {
      throw new MachineError(
        'EPARTITIONDOWN',
        this.restarting !== undefined
          ? `partition ${this.id} (${this.name}) is restarting; await its restart() before spawning`
          : `partition ${this.id} (${this.name}) is not running; restart() it first`,
      );
    }
    if (this.spec.os !== undefined) {
      throw new MachineError('EINVAL', `spawn: partition ${this.id} runs a replacement OS; drive it through partition.os instead of spawn`);
    }
    if (cancelling.signal?.aborted) {
      throw new MachineError('EABORTED', `spawn: options.signal was already aborted, so ${href} was not started`, { cause: cancelling.signal.reason });
    }
    // This run of the partition: restart() replaces both, and its exit releases the proxy.
    const os = this.standardOs;
    const died = this.died;
    const graceMs = cancelling.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS;
    // The bound covers loading the module too: a module that never finishes loading is cancelled alike.
    const watch = watchCancellation(cancelling);
    const starting = os.start(href, args);
    let startAnswered = false;
    starting.then(
      () => (startAnswered = true),
      () => (startAnswered = true),
    );
    let started: StartResult;
    try {
      const abortedWhileStarting = watch.cancelled.then((cancelled): Promise<never> => {
        if (startAnswered) return new Promise<never>(() => {}); // the running program's own watch handles it
        this.restartIfStillRunning(os, starting, graceMs); // a module that never finishes loading
        void starting.then((late) => late.ok && this.cancelProcess(os, late.pid, os.result(late.pid), cancelled.why, graceMs)).catch(() => {});
        throw new MachineError('EABORTED', `spawn: ${href} in partition ${this.id} (${this.name}) was aborted while starting: ${cancelled.why}`, {
          cause: cancelled.cause,
        });
      });
      started = await died.race(Promise.race([starting, abortedWhileStarting]));
    } catch (e) {
      watch.stop();
      // close() terminates the partition under a start: its death is the close's doing, not the program's.
      if (this.machine.closing && !(e instanceof MachineError && e.code === 'EABORTED')) {
        throw new MachineError('ECLOSED', `spawn: the machine was closed while ${href} was starting in partition ${this.id} (${this.name}); create a new one`);
      }
      if (e instanceof Error && e.name === 'DataCloneError') {
        throw new MachineError('EINVAL', `spawn: args must be structured-cloneable (plain data, no functions): ${e.message}`);
      }
      throw e;
    }
    if (!started.ok) {
      watch.stop();
      if (started.error.name === 'ChannelError') throw rebuildError(started.error);
      const missing = missingProgram(program, href);
      if (missing !== undefined) throw new MachineError('EINVAL', `spawn: ${missing}`, { cause: rebuildError(started.error) });
      throw new MachineError('EINVAL', `spawn: program ${href} could not be started${commonJsHint(href, started.error)}: ${started.error.message}`, {
        cause: rebuildError(started.error),
      });
    }
    const pid = started.pid;
    const who = `process ${pid} of partition ${this.id} (${this.name}) running ${href}`;
    // The partition may have died since start() answered (the program itself may have killed it):
    // then its proxy is released and throws on use, and `died` says why.
    const answer = this.alive && this.remote === os ? os.result(pid) : died.race(new Promise<never>(() => {}));
    const aborted = watch.cancelled.then((cancelled) => {
      this.cancelProcess(os, pid, answer, cancelled.why, graceMs);
      throw new MachineError('EABORTED', `${who} was aborted: ${cancelled.why}`, { cause: cancelled.cause });
    });
    let observed = false;
    const result = died
      .race(Promise.race([answer, aborted]))
      .then(
        (outcome) => {
          if (outcome.ok) return outcome.value;
          if ('unclonable' in outcome) {
            throw new MachineError(
              'EINVAL',
              `${who} returned a value that cannot be structured-cloned (${outcome.unclonable}); return plain data: no functions, symbols or objects holding ports`,
            );
          }
          const error = rebuildError(outcome.error);
          this.machine.onProgramError({ partition: this.id, name: this.name, pid, program: href, error }, observed);
          throw error;
        },
        (e: Error) => {
          throw this.machine.closing
            ? new MachineError(
                'ECLOSED',
                `the machine was closed while process ${pid} of partition ${this.id} was running; await handle.result before machine.close() to let it finish`,
              )
            : e;
        },
      )
      .finally(watch.stop);
    result.catch(() => {}); // the caller may never look; an unobserved failure must not crash the host
    return {
      partition: this.id,
      pid,
      get result() {
        observed = true;
        return result;
      },
    };
  }

  /** Tell the program it is cancelled (its signal aborts, its channels close); restart its partition if it keeps running. */
  private cancelProcess(os: Remote<PartitionOsApi>, pid: number, answer: Promise<unknown>, why: string, graceMs: number): void {
    void os.abort(pid, `the operator aborted this process: ${why}`).catch(() => {});
    this.restartIfStillRunning(os, answer, graceMs);
  }

  /**
   * An aborted program still running after the grace period ignores its signal (a busy loop, an
   * await on something other than its channels): only stopping its thread ends it, so restart
   * the partition, as long as it is still the run that program lives in.
   */
  private restartIfStillRunning(os: Remote<PartitionOsApi>, answer: Promise<unknown>, graceMs: number): void {
    // Unref'd: while the program runs, its pending result already holds the process open.
    const timer = setTimeout(() => {
      if (this.remote !== os || !this.alive || this.machine.closing || this.machine.failure !== undefined) return;
      this.stopping = 'abortGraceMs';
      void this.restart().catch(() => {}); // a failed restart shows as partition.running false and partitionExit
    }, graceMs).unref();
    const done = (): void => clearTimeout(timer);
    answer.then(done, done);
  }

  /**
   * Kill this partition's worker (as a crash would). Its channels close; peers get `EPEERDEAD`;
   * its running programs' results reject with `EPARTITIONDOWN`; `partitionExit` is emitted.
   * Does nothing if it is not running. A thread blocked outside JavaScript (a synchronous system
   * call) stops only once that call returns: after 5 s this resolves anyway, lets the thread go
   * (unref'd; Node still ends the process only once the call returns) and warns
   * (`LPARLINK_PARTITION_STUCK`).
   */
  async terminate(): Promise<void> {
    if (!this.alive) return;
    this.stopping ??= 'terminate';
    const worker = this.worker;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopped = worker.terminate().then(() => this.exited.then(() => true));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), DEFAULTS.terminateTimeoutMs)));
    try {
      if (await this.machine.keepAlive.during(Promise.race([stopped, late]))) return;
    } finally {
      clearTimeout(timer);
    }
    // Blocked outside JavaScript, where termination cannot reach: it ends once that call returns
    // (no more of its JavaScript runs then); its event loop need not wait for it meanwhile.
    // Its run ends now, as an exit would end it (the hardware takes the partition down, its
    // programs' results reject), so that a restart() starts a run the old thread cannot touch.
    worker.unref();
    this.letGo();
    await this.exited;
    process.emitWarning(
      `partition ${this.id} (${this.name}) did not stop within ${DEFAULTS.terminateTimeoutMs} ms of being terminated: its thread is blocked outside JavaScript (a synchronous system call such as spawnSync); it was let go and ends when that call returns`,
      { code: 'LPARLINK_PARTITION_STUCK' },
    );
  }

  /**
   * Start the partition again (terminating it first if it runs) with a fresh port: new rings,
   * new channel generations, none of the old traffic. Resolves once its OS has booted.
   * @throws MachineError `ECLOSED` after close(), `EHWRESET` when the hardware is gone,
   *   `EINVAL` / `EPARTITIONDOWN` when it fails to boot again.
   */
  restart(): Promise<void> {
    try {
      this.machine.checkUsable('restart');
    } catch (e) {
      return Promise.reject(e); // a rejection, as from the async method this was
    }
    // One at a time: a second restart while one runs joins it (two ran at once, and the first
    // one's new worker was never stopped, not even by close()).
    this.restarting ??= this.restartOnce().finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  private async restartOnce(): Promise<void> {
    try {
      await this.machine.keepAlive.during(this.restartWorker());
    } catch (e) {
      // closingStarted's error names no call: say which one the close cut short.
      if (e === this.machine.closedMeanwhile) {
        throw new MachineError('ECLOSED', `restart: the machine was closed while partition ${this.id} (${this.name}) restarted; create a new one`);
      }
      throw e;
    }
  }

  private async restartWorker(): Promise<void> {
    // close() may start at any await below: it terminates what runs then and the hardware, so each
    // step races it (a call into a hardware being terminated never answers), and no worker starts
    // once it has begun (one started after would outlive the machine).
    const closing = this.machine.closingStarted;
    if (this.alive) this.stopping ??= 'restart';
    await closing.race(this.terminate());
    this.machine.checkUsable('restart');
    const { port1: hardwareEnd, port2: partitionEnd } = new MessageChannel();
    const port = await closing.race(this.machine.admin.restartPartition(this.index, transfer(hardwareEnd, [hardwareEnd])));
    this.machine.checkUsable('restart');
    this.port = port;
    this.worker = this.startWorker(port, partitionEnd);
    this.remote = this.machine.connect(this.worker);
    this.alive = true;
    this.stopping = undefined;
    this.exited = this.watch();
    this.died = this.diedAfter(this.exited);
    try {
      await closing.race(this.booted('restart'));
    } catch (e) {
      // A worker that never booted (within the bound) must not run on: the partition is down.
      await this.terminate().catch(() => {});
      throw e;
    }
  }

  /**
   * @internal Resolves once the partition's OS is up; rejects (naming the cause) if its worker exits
   * first, or has not booted within DEFAULTS.bootTimeoutMs. `by`: the call booting it.
   */
  booted(by: 'createMachine' | 'restart' = 'createMachine'): Promise<void> {
    const osFailed = (why: string, cause?: Error): MachineError =>
      new MachineError(
        'EINVAL',
        `${by}: partitions[${this.index}].os (${this.spec.os}) failed while booting partition ${this.id}: ${why}; ` +
          'the module must exist and its default export must return (or resolve to) the OS api',
        { cause },
      );
    const slow = `did not finish booting within ${DEFAULTS.bootTimeoutMs / 1000} s`;
    return workerBooted(
      this.worker,
      (code, error) => {
        const why = exitReason(code, error);
        if (this.spec.os !== undefined) return osFailed(why, error);
        return new MachineError(
          'EPARTITIONDOWN',
          `${by}: partition ${this.id} (${this.name}) ${why} while booting; check partitions[${this.index}].resourceLimits and the console`,
          { cause: error },
        );
      },
      () => (this.spec.os !== undefined ? osFailed(`it ${slow} (its default export never returned, or its promise never settled)`) : new MachineError('EPARTITIONDOWN', `partition ${this.id} (${this.name}) ${slow}`)),
    );
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
  private hardwareDown: MachineError | undefined;
  private readonly byId = new Map<number, PartitionHandle>();
  private readonly counters: Float64Array;
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
  /** createMachine has resolved: from now on a crash nobody listens for is warned about. */
  private bootOver = false;

  /** @internal */
  constructor(
    /** @internal the options after validation and defaults */
    readonly options: ResolvedOptions,
    private readonly hardware: Worker,
    counters: SharedArrayBuffer,
    hardwareTraceRing?: SharedArrayBuffer,
    linkCounters?: SharedArrayBuffer,
  ) {
    super();
    if (options.trace !== undefined && hardwareTraceRing !== undefined) {
      this.tracing = new TraceRecorder(options.trace.sample, options.trace.records);
      this.tracing.add('hardware-0', hardware.threadId, undefined, hardwareTraceRing);
    }
    this.counters = new Float64Array(counters);
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
      for (const p of this.byId.values()) {
        // A process blocked in Atomics.wait (recvIntoSync, writeSync) cannot hear hardwareReset(): its port says it.
        markHardwareGone(p.port, options.geometry);
        if (p.running && p.worker !== undefined && options.partitions[p.index].os === undefined) {
          void p.standardOs.hardwareReset();
        }
      }
      this.notify('hardwareExit', { exitCode, error });
    });
    if (options.testHooks) {
      this.hooks = {
        corruptStamps: (id, on) => this.admin.corruptStamps(this.partition(id).index, on),
        keyHistory: () => this.admin.keyHistory(),
        liveKeyCount: () => this.admin.liveKeyCount(),
        ageChannelSlot: (id, slot, generationsLeft) => this.admin.ageChannelSlot(this.partition(id).index, slot, generationsLeft),
        portOf: (id) => this.partition(id).port,
        crashHardware: async () => {
          const exited = new Promise((resolve) => hardware.once('exit', resolve));
          void this.admin.crash().catch(() => {});
          await this.keepAlive.during(exited);
        },
      };
    }
  }

  /** @internal A comlink proxy to one of this machine's workers, which holds the process open only while a call waits. */
  connect<T>(worker: Worker, gone?: (waiting: boolean) => Error | undefined): Remote<T> {
    this.keepAlive.adopt(worker);
    return wrap<T>(this.keepAlive.track(nodeEndpoint(worker), worker, gone));
  }

  /**
   * @internal Start one worker per partition. If one cannot be started, the
   * ones already started stay in the machine, so close() stops them.
   */
  startPartitions(ports: SharedArrayBuffer[], controlEndpoints: MessagePort[]): void {
    this.options.partitions.forEach((spec, i) => this.byId.set(spec.id, new PartitionHandle(this, i, spec, ports[i], controlEndpoints[i])));
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
      partitions: this.partitions.map((p) => readPartitionStats(this.counters, p.index, p.id, p.name)),
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
    return this.tracing.export(to, this.options.partitions.map((p) => p.id));
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
    // During createMachine the failed boot itself reports it (nobody could have listened yet).
    if (this.notify('partitionExit', { id: p.id, name: p.name, exitCode, error, reason }) || error === undefined || reason !== 'crash' || !this.bootOver) return;
    // A crash (an error thrown outside any program's main, say in a background task) that nobody
    // listens for would otherwise show only as its peers' EPEERDEAD.
    process.emitWarning(
      `partition ${p.id} (${p.name}) crashed: ${error.name}: ${error.message}. Listen to machine.on('partitionExit') to handle it`,
      { code: 'LPARLINK_PARTITION_EXIT' },
    );
  }

  /**
   * Stop every partition and the hardware; resolves once every worker thread has exited, leaving
   * no thread, handle, timer or port behind. Programs still running end: their `result` rejects
   * with `MachineError` `ECLOSED`. No `partitionExit`/`hardwareExit` events are emitted. Safe to
   * call twice (the second call returns the same promise). A partition whose thread is blocked
   * outside JavaScript (a synchronous system call) cannot stop until that call returns: after 5 s
   * it is let go (unref'd) with the warning `LPARLINK_PARTITION_STUCK`.
   */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.closingStarted.trip(this.closedMeanwhile);
    await this.keepAlive.during(Promise.all([...this.partitions.map((p) => p.terminate()), this.hardware.terminate()]));
  }

  private emitLinkEvent(m: LinkEvent): void {
    if (this.closing) return;
    if (m.lparlinkLink === 'linkUp') this.notify('linkUp', { node: m.node });
    else if (m.lparlinkLink === 'linkRefused') this.notify('linkRefused', { node: m.node, reason: m.reason ?? 'unknown' });
    else this.notify('linkDown', { node: m.node, reason: m.reason ?? 'unknown' });
  }

  /** @internal createMachine has resolved: emit the link events of the boot once the caller's code after `await createMachine()` has run. */
  bootEnded(): void {
    this.bootOver = true;
    const early = this.earlyLinkEvents ?? [];
    setImmediate(() => {
      this.earlyLinkEvents = undefined;
      for (const m of early) this.emitLinkEvent(m);
    });
  }

  /** @internal A program ended by throwing: programError, or a warning when nobody could notice it otherwise. */
  onProgramError(info: MachineEvents['programError'][0], resultRead: boolean): void {
    if (this.notify('programError', info) || resultRead) return;
    process.emitWarning(
      `${info.program} (process ${info.pid} of partition ${info.partition} (${info.name})) threw while nobody was reading its handle.result: ${info.error.name}: ${info.error.message}. ` +
        "Await handle.result, or listen to machine.on('programError')",
      { code: 'LPARLINK_PROGRAM_ERROR' },
    );
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
 * Drop a comlink proxy whose worker has exited. Its calls still pending can
 * never be answered; releasing clears them, and with them the promise
 * reactions that would otherwise keep the whole machine reachable (comlink's
 * FinalizationRegistry holds the endpoint while the proxy lives).
 */
function release(proxy: Remote<unknown>): void {
  try {
    proxy[releaseProxy]();
  } catch {
    // already released
  }
}

/**
 * @internal (exported for its test) Wait for a worker's WORKER_READY message. If it exits first,
 * reject with `fail(exitCode, error)`; if it has not booted within DEFAULTS.bootTimeoutMs, with
 * `slow()`. Listeners and the timer are removed either way.
 */
export function workerBooted(worker: Worker, fail: (exitCode: number, error: Error | undefined) => Error, slow: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    let error: Error | undefined;
    const onMessage = (m: unknown): void => {
      if (m !== WORKER_READY) return;
      done();
      resolve();
    };
    const onError = (e: Error): void => {
      error = e;
    };
    const onExit = (code: number): void => {
      done();
      reject(fail(code, error));
    };
    // The caller closes the machine (or the partition) on this rejection, which ends the worker.
    // Not under a debugger (the inspector is open): a boot paused at a breakpoint is not stuck.
    const timer =
      inspectorUrl() === undefined
        ? setTimeout(() => {
            done();
            reject(slow());
          }, DEFAULTS.bootTimeoutMs)
        : undefined;
    // Under --inspect-brk each worker waits for a debugger to resume it, which not every client does.
    const hint = timer === undefined ? setTimeout(hintWaitingForDebugger, DEBUGGER_HINT_MS).unref() : undefined;
    const done = (): void => {
      clearTimeout(timer);
      clearTimeout(hint);
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    };
    worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  });
}

/** How long a boot under an open inspector may take before the hint below is printed (once per process). */
const DEBUGGER_HINT_MS = 5000;
let debuggerHinted = false;

function hintWaitingForDebugger(): void {
  if (debuggerHinted) return;
  debuggerHinted = true;
  process.emitWarning(
    'a machine has not finished booting after 5 s with the inspector open. Under --inspect-brk (and node inspect) every worker ' +
      'thread waits for a debugger to resume it: DevTools and VS Code resume them; a client of your own must send ' +
      'Runtime.runIfWaitingForDebugger to each worker (NodeWorker.enable lists them). With --inspect, a boot paused at a breakpoint waits too',
    { code: 'LPARLINK_BOOT_WAITING' },
  );
}

/** What to do about a failure to listen, by its cause (the message carries the system's code). */
function listenAdvice(message: string): string {
  if (/EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN|EAI_NONAME/.test(message)) {
    return "node.listen.host is not an address of this machine: use '127.0.0.1', '0.0.0.0' (every interface) or one of its interfaces' addresses";
  }
  if (/EACCES/.test(message)) return 'ports below 1024 need privileges: pick a port from 1024 (or 0 for a free one)';
  return 'pick another port (or 0 for a free one)';
}

/** Exit code 13 is Node's for a module whose top-level await never settled (the event loop emptied under it). */
function exitReason(code: number, error: Error | undefined): string {
  // Node ends a worker over its heap limit with this error and exit code 0, which reads like a clean exit.
  if ((error as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return `ran out of memory (${error!.message})`;
  const unsettled = code === 13 ? ' (Node: a top-level await, or the promise its default export returned, never settled)' : '';
  return `exited with code ${code}${unsettled}${error ? `: ${error.message}` : ''}`;
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
  const channels = resolved.partitions.map(() => new MessageChannel());
  const controlEndpoints = channels.map((c) => c.port1);
  const hardwareTraceRing = resolved.trace === undefined ? undefined : new TraceRecorder(resolved.trace.sample, resolved.trace.records).newRing();
  const boot: HardwareBoot = { options: resolved, controlEndpoints, buffers: { ports, counters, trace: hardwareTraceRing } };
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
  const machine = new Machine(resolved, hardware, counters, hardwareTraceRing, linkCounters);
  try {
    machine.startPartitions(ports, channels.map((c) => c.port2));
    await machine.keepAlive.during(machine.booted());
    if (resolved.node?.listen !== undefined) {
      machine.listening = await machine.keepAlive.during(
        machine.admin.listening().catch((e: Error) => {
          throw new MachineError('EINVAL', `createMachine: node.listen: ${e.message}; ${listenAdvice(e.message)}`);
        }),
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

/**
 * When the program's own file does not exist: say so, and where a relative path led, rather than
 * Node's "Cannot find module … imported from" naming lparlink's own loader as the importer.
 */
function missingProgram(program: unknown, href: string): string | undefined {
  if (!href.startsWith('file:')) return undefined;
  const path = fileURLToPath(href);
  if (existsSync(path)) return undefined;
  return isCwdRelative(program)
    ? `program ${program} does not exist: a relative path resolves against the working directory (${process.cwd()}), here to ${path}; ` +
        "give new URL('" + program + "', import.meta.url) to find it next to your module"
    : `program ${path} does not exist`;
}

/**
 * What to do when a program failed to load as CommonJS: a `.js` file in a package without
 * `"type": "module"` (what `npm init` makes) is one, and its `import`/`export` is a SyntaxError.
 */
function commonJsHint(href: string, error: { name: string; message: string }): string {
  // Only the errors of parsing ES syntax as CommonJS: an ES module's own SyntaxErrors (an import
  // naming an export its module does not have) mention import and export too.
  if (error.name !== 'SyntaxError' || !href.endsWith('.js')) return '';
  if (!/Cannot use import statement outside a module|Unexpected token '(export|import)'/.test(error.message)) return '';
  return ' (programs are ES modules, and Node loaded this .js file as CommonJS: name it .mjs, or set "type": "module" in its package.json)';
}
