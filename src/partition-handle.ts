/** What JSON.stringify and console.log show of a {@link PartitionHandle}. */
export interface PartitionSummary {
  /** The partition's id. */
  id: number;
  /** The partition's name. */
  name: string;
  /** Whether its worker runs ({@link PartitionHandle.running}). */
  running: boolean;
}

/**
 * The operator's handle on one partition: spawning programs in it, watching
 * its worker's exit, terminating and restarting it. The machine
 * (machine.ts) makes one per partition and owns what they share.
 */
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Machine } from './machine.js';
import { DEFAULTS } from './options.js';
import { isCwdRelative, isUrlString, moduleHref, type ProgramRef, type SpawnArgs } from './program.js';
import type { PartitionBoot, ResolvedPartition } from './shared/boot.js';
import { transfer, wrap, type Remote } from './shared/control-plane.js';
import { rebuildError } from './shared/error-record.js';
import { sharedWithPartition } from './shared/shared-memory.js';
import { describeValue, escapeControls, MachineError } from './shared/errors.js';
import { AnswerLedger, failingEndpoint } from './keep-alive.js';
import { checkSpawnOptions, DEFAULT_ABORT_GRACE_MS, watchCancellation, type SpawnOptions } from './spawn-options.js';
import type { PartitionOsApi, ProgramOutcome, StartResult } from './shared/operator-contract.js';
import type { ErrorRecord } from './shared/error-record.js';
import type { OsEndpoint } from './shared/os-endpoint.js';
import { workerEntry } from './shared/workers.js';
import { recordThreadName } from './thread-names.js';
import { Tripwire } from './shared/tripwire.js';
import { exitReason, release, workerBooted, workerError } from './worker-boot.js';

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
   * structured clone cannot copy, or one (or threw an error) that would still share something with
   * its partition: a SharedArrayBuffer (or a view of one), a MessagePort, or one of Node's objects
   * that a clone hands over rather than copies (a `perf_hooks` histogram, a `net.BlockList`, a web stream).
   * Never an unhandled rejection: you may ignore it.
   */
  readonly result: Promise<Result>;
}

/** Why a partition's worker ended (`partitionExit`'s `reason`). */
export type PartitionExitReason = 'crash' | 'exit' | 'terminate' | 'restart' | 'abortGraceMs';

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
  /** What this run's worker may post to the operator (startWorker makes one per run). */
  private ledger = new AnswerLedger();
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
    /** Where each run's worker reports its kernel thread id to the hardware (shared/thread-word.ts). */
    private readonly threadWord: SharedArrayBuffer,
  ) {
    this.port = port;
    this.worker = this.startWorker(port, controlEndpoint);
    this.remote = this.machine.connect(this.worker, undefined, this.ledger);
    const run = this.watch();
    this.exited = run.exited;
    this.died = run.died;
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
    const what = `partition(${this.id}).os`;
    if (this.machine.closing || !this.alive || this.worker.threadId === -1) return describedLocally(wrap(failingEndpoint(() => this.osGone(this.worker))), what);
    if (this.publicOs?.worker !== this.worker) {
      const worker = this.worker;
      this.publicOs = { worker, proxy: describedLocally(this.machine.connect(worker, (waiting) => this.osCallRefused(worker, waiting), this.ledger), what) };
    }
    return this.publicOs.proxy;
  }

  /** What JSON.stringify writes of it: its id, name and whether it runs (not its worker, port or proxies). */
  toJSON(): PartitionSummary {
    return { id: this.id, name: this.name, running: this.alive };
  }

  /** What console.log and util.inspect show of it: as toJSON(). */
  [inspect.custom](): string {
    return `PartitionHandle ${inspect(this.toJSON())}`;
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
    // The word names no thread until this run's worker writes its own id (the last run's may be reused by now).
    Atomics.store(new Int32Array(this.threadWord), 0, 0);
    const boot: PartitionBoot = {
      id: this.spec.id,
      name: this.spec.name,
      port,
      controlEndpoint,
      os: this.spec.os,
      wait: this.machine.options.wait,
      threadWord: this.threadWord,
    };
    const tracing = this.machine.tracing;
    // Each run of the partition traces into a ring of its own (a new thread, a new track); a replacement OS is not traced.
    const ring = tracing !== undefined && this.spec.os === undefined ? tracing.newRing() : undefined;
    if (ring !== undefined) boot.trace = { ring, sample: tracing!.sample };
    this.ledger = new AnswerLedger();
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

  /**
   * This run's end: `exited` settles with why once its worker has exited; `died` then fails what
   * waits on the run. Not a promise every spawn races: each race stayed on it, with the program's
   * result, until the partition exited (~0.8 KB a spawn, and every result: memory hunt, wave 19).
   */
  private watch(): { exited: Promise<Error>; died: Tripwire } {
    let error: Error | undefined;
    const worker = this.worker;
    const os = this.remote;
    worker.on('error', (e: unknown) => (error = workerError(e)));
    const ledger = this.ledger;
    let refused = false;
    // Ended as a crash: what it posted is its own doing, and Node hands over what it queued before the exit.
    const refuse = (what: string): void => {
      if (refused) return;
      refused = true;
      error = new MachineError('EINVAL', `it posted ${what}, and was ended`);
      void worker.terminate();
    };
    // Whether the worker's last message reached this thread in the current turn: Node hands over
    // what a worker posted before it ended inside its 'exit', with no turn in between.
    let heardThisTurn = false;
    worker.on('message', () => {
      if (!heardThisTurn) {
        heardThisTurn = true;
        queueMicrotask(() => (heardThisTurn = false));
      }
      if (!ledger.take()) refuse(`a message to the operator that answers no call (a partition posts only answers to the operator's calls)`);
    });
    // A message this thread fails to deserialize (nested deeper than its stack takes: a worker's stack is
    // larger) never reaches 'message': the ledger never counted it, so a flood of them held this thread
    // for good, and an answer of that kind left its call waiting for ever (THREATS case 67).
    worker.on('messageerror', (e: unknown) =>
      refuse(
        `a message the operator's thread could not deserialize (${workerError(e).message}; a value nested deeper than its stack takes, ` +
          `a program's result too, is one), which answers no call`,
      ),
    );
    // Not events.once(worker, 'exit'): that rejects on 'error', and a crashed partition must still be reported as an exit.
    // terminate() may end the run first, without the exit (letGo): the worker's later exit then changes nothing.
    let answeredAtExit = false;
    const exited = new Promise<number>((resolve) => {
      worker.once('exit', (exitCode: number) => {
        answeredAtExit = heardThisTurn;
        // Its thread is gone, and the kernel may give its id to another: the hardware must not set that one's priority.
        if (this.worker === worker) Atomics.store(new Int32Array(this.threadWord), 0, 0);
        resolve(exitCode);
      });
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
              : `exited with code ${exitCode}${error ? `: ${escapeControls(error.message)}` : ''}; restart() it, or create a new machine`; // escaped: see exitReason
      return new MachineError('EPARTITIONDOWN', `partition ${this.id} (${this.name}) ${what}`, { cause: error });
    });
    const died = new Tripwire();
    // What the worker posted before it ended is its answer. An operator's thread busy while the
    // worker answered and then crashed hears both in the exit's turn, and the exit, tripped at once,
    // won the race to the caller: spawn() of a program that had started rejected, and so did the
    // result of one that had returned. Tripped a turn later, each of those answers settles first.
    void exited.then((e) => (answeredAtExit ? setImmediate(() => died.trip(e)) : died.trip(e)));
    return { exited, died };
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
    // Refused here, not left to a timer of 0 ms: that raced the start, and a partition that answered
    // quickly ran the program (a third of the spawns, once the partition had run one before).
    if (cancelling.timeoutMs === 0) {
      throw new MachineError('EABORTED', `spawn: options.timeoutMs is 0, so ${href} was not started (0 aborts before the start; give the program time to run)`);
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
      started = checkedStart(await died.race(Promise.race([starting, abortedWhileStarting])), this.id);
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
      // Rebuilt first: its name and message are then strings, whatever the partition sent.
      const error = rebuildError(started.error);
      if (error.name === 'ChannelError') {
        // EHWRESET speaks for the hardware, every partition's: the OS hears it only from the
        // operator (hardwareReset(), sent once this machine's failure is set). Before that it is a
        // program answering in its OS's place (case 66) that the machine failed closed, whose advice
        // (create a new machine) would end every other partition's work (THREATS case 132).
        if ((error as { code?: unknown }).code === 'EHWRESET') {
          const down = this.machine.failure;
          if (down !== undefined) throw down;
          throw new MachineError(
            'EINVAL',
            `spawn: program ${href} could not be started: partition ${this.id} answered the start with EHWRESET (the hardware stopped) while the hardware runs; its own code answered in its OS's place: the machine runs on, restart or terminate partition ${this.id}`,
            { cause: error },
          );
        }
        throw error;
      }
      const missing = missingProgram(program, href);
      if (missing !== undefined) throw new MachineError('EINVAL', `spawn: ${missing}`, { cause: error });
      throw new MachineError('EINVAL', `spawn: program ${href} could not be started${commonJsHint(href, error)}: ${error.message}`, { cause: error });
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
        (answered) => {
          const outcome = checkedOutcome(answered, this.id);
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
      // The operator is stopping this run already (terminate(), restart()): its thread, stuck outside
      // JavaScript, has not exited yet, so the run still reads as alive. A restart here came up behind
      // a terminate() that had resolved, and the exit was reported as this one's (THREATS case 103).
      if (this.stopping !== undefined) return;
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
   * (`LPARLINK_PARTITION_STUCK`). Called while a {@link PartitionHandle.restart} runs, it waits
   * for that restart to end (booted or failed), then stops what it started: as if called after it.
   */
  async terminate(): Promise<void> {
    // Before, a terminate() in a restart's first moments stopped the worker the restart was
    // stopping anyway (the restart then started a new one: still running), and a later one killed
    // the new worker while it booted (the restart failed, blaming resourceLimits).
    if (this.restarting !== undefined) await this.restarting.catch(() => {});
    await this.stop('terminate');
  }

  /** terminate() itself, which restart() uses too (it cannot wait for its own end). */
  private async stop(reason: 'terminate' | 'restart'): Promise<void> {
    if (!this.alive) return;
    this.stopping ??= reason;
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
    await closing.race(this.stop('restart'));
    this.machine.checkUsable('restart');
    const { port1: hardwareEnd, port2: partitionEnd } = new MessageChannel();
    // The hardware may die with the call unanswered: comlink then forgets it, and the restart waited for good (case 104).
    const port = await closing.race(this.machine.askHardware(() => this.machine.admin.restartPartition(this.index, transfer(hardwareEnd, [hardwareEnd]))));
    this.machine.checkUsable('restart');
    this.port = port;
    try {
      this.worker = this.startWorker(port, partitionEnd);
    } catch (e) {
      // The hardware answered and its thread ended before its exit reached this thread: Node closed
      // the endpoint's pair with it and refuses to hand the closed end to a worker (DataCloneError,
      // which restart() rejected with as it came: case 104).
      if (e instanceof Error && e.name === 'DataCloneError') {
        throw new MachineError('EHWRESET', `restart: the hardware worker stopped while partition ${this.id} (${this.name}) restarted; the machine failed closed: close it and create a new one`, { cause: e });
      }
      throw e;
    }
    this.remote = this.machine.connect(this.worker, undefined, this.ledger);
    this.alive = true;
    this.stopping = undefined;
    const run = this.watch();
    this.exited = run.exited;
    this.died = run.died;
    try {
      await closing.race(this.booted('restart'));
    } catch (e) {
      // A worker that never booted (within the bound) must not run on: the partition is down.
      await this.stop('terminate').catch(() => {});
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
          (packageNotFound(this.spec.os, why)
            ? // npm installs a folder (npm install ../lparlink) as a link: lparlink's imports then resolve from the clone, not from the project.
              `a package name resolves from where lparlink is installed, as its own imports do; where lparlink is a link (npm install ../lparlink, npm link, pnpm), pass os: import.meta.resolve('${this.spec.os}') from your own module`
            : 'the module must exist and its default export must return (or resolve to) the OS api'),
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
 * The answer to start() as the operator may read it. A program shares its thread with its
 * partition's OS and can answer the operator's calls in the OS's place (THREATS case 66): any
 * other shape is read as a start that failed, saying what came.
 */
function checkedStart(answer: unknown, partition: number): StartResult {
  const a = answer as { ok?: unknown; pid?: unknown; error?: unknown } | null;
  if (typeof a === 'object' && a !== null && ((a.ok === true && Number.isSafeInteger(a.pid)) || (a.ok === false && typeof a.error === 'object' && a.error !== null))) {
    return a.ok === false ? (sharedOutcome(a.error, 'an error', 'start', partition) ?? (a as StartResult)) : (a as StartResult);
  }
  return { ok: false, error: { name: 'Error', message: `partition ${partition} answered the start with ${describeValue(answer)}, not a process id or an error` } };
}

/** What a program's result answer says, as the operator may read it (see checkedStart): any other shape is read as an error saying what came. */
function checkedOutcome(answer: unknown, partition: number): ProgramOutcome {
  const a = answer as { ok?: unknown; unclonable?: unknown; error?: unknown } | null;
  if (typeof a === 'object' && a !== null) {
    if (a.ok === true || (a.ok === false && (typeof a.unclonable === 'string' || (!('unclonable' in a) && typeof a.error === 'object' && a.error !== null)))) {
      return (a.ok === true ? sharedOutcome((a as { value?: unknown }).value, 'a value', 'result', partition) : a.ok === false && 'error' in a ? sharedOutcome(a.error, 'an error', 'result', partition) : undefined) ?? (a as ProgramOutcome);
    }
  }
  return { ok: false, error: { name: 'Error', message: `partition ${partition} answered the result with ${describeValue(answer)}, not a value or an error` } };
}

/**
 * A start's or result's answer whose value (or error) still shares something with the partition,
 * read as an error saying so; undefined for one that shares nothing. Structured clone shares a
 * SharedArrayBuffer rather than copying it, so such a result was live memory of the partition's:
 * it changed under the operator after the program had returned, and forwarded to another partition
 * (as args of a spawn) it was memory the two shared outside the hardware. A program that answers
 * its result itself may also move a port into it (THREATS case 115). Looked at here, not in the
 * partition: a program may answer the operator's calls in its OS's place (case 66).
 */
function sharedOutcome(value: unknown, what: string, call: 'start' | 'result', partition: number): { ok: false; error: ErrorRecord } | undefined {
  const shared = sharedWithPartition(value);
  if (shared === undefined) return undefined;
  return {
    ok: false,
    error: {
      name: 'MachineError',
      code: 'EINVAL',
      message: `partition ${partition} answered the ${call} with ${what} that the partition still shares (it holds ${shared}); a program returns and throws plain data: copy shared bytes into an ArrayBuffer first`,
    },
  };
}

/**
 * comlink forwards every property read of a proxy to the worker as a call, those that
 * JSON.stringify, util.inspect and string conversion make too: `JSON.stringify(partition.os)`
 * left two such calls rejecting unhandled, and threw an untyped error once the proxy was
 * released. They are answered here, with what the proxy is; every other read goes to comlink.
 * (A plain object under the Proxy, not comlink's: util.inspect looks through a Proxy at its target.)
 */
function describedLocally<T extends object>(proxy: T, what: string): T {
  const describe = (): string => what;
  const local: Record<PropertyKey, unknown> = { toJSON: describe, [inspect.custom]: describe, [Symbol.toPrimitive]: describe };
  return new Proxy(local, {
    get: (target, property) => (Object.hasOwn(target, property) ? target[property] : Reflect.get(proxy, property)),
  }) as unknown as T;
}

/**
 * When the program's own file does not exist, or is a folder: say so, and where a relative path
 * led, rather than Node's "Cannot find module … imported from" (or its directory-import error)
 * naming lparlink's own loader as the importer.
 */
function missingProgram(program: unknown, href: string): string | undefined {
  if (!href.startsWith('file:')) return undefined;
  const path = fileURLToPath(href);
  if (existsSync(path)) {
    if (!statSync(path).isDirectory()) return undefined;
    // new URL('./' + name, import.meta.url) with an empty name, or a package's folder.
    return `program ${path} is a folder: spawn a module file in it, e.g. new URL('./program.mjs', import.meta.url)`;
  }
  if (!isCwdRelative(program)) return `program ${path} does not exist`;
  const where = `program ${program} does not exist: a relative path resolves against the working directory (${process.cwd()}), here to ${path}; `;
  // 'some-package/program.js' reads as a path here, not as a package name as import() would.
  if (!/^\.\.?[\\/]/.test(program)) {
    return where + `give import.meta.resolve('${program}') for a module of a package, or new URL('./${program}', import.meta.url) for one next to your module`;
  }
  return where + "give new URL('" + program + "', import.meta.url) to find it next to your module";
}

/** Whether `os`, a package name (neither a path nor a URL: options.ts made paths file: URLs), was not found from lparlink's folder. */
function packageNotFound(os: string | undefined, why: string): os is string {
  return os !== undefined && !isUrlString(os) && why.includes("Cannot find package '");
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
