/**
 * The operator's view: createMachine() boots the hardware worker and one
 * worker per partition, and keeps the service-processor duties — spawning
 * programs, reading counters, noticing deaths, and closing everything.
 */
import { EventEmitter, once } from 'node:events';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { readPartitionStats, type PartitionStats } from './hardware/counters.js';
import type { HardwareAdmin, HardwareBoot } from './hardware/worker.js';
import { resolveOptions, type MachineOptions, type ResolvedOptions, type ResolvedPartition } from './options.js';
import type { ProgramOutcome, StartResult } from './partitions/os.js';
import type { PartitionBoot } from './partitions/worker.js';
import { nodeEndpoint, transfer, wrap, type Remote } from './shared/control-plane.js';
import { ChannelError, MachineError, type ChannelErrorCode } from './shared/errors.js';
import { Status } from './shared/errors.js';
import { workerEntry } from './shared/workers.js';

export interface MachineStats {
  partitions: PartitionStats[];
}

/** The standard partition OS, as the operator drives it. */
interface OsApi {
  start(moduleRef: string, args: unknown): Promise<StartResult>;
  result(pid: number): Promise<ProgramOutcome>;
  hardwareReset(): void;
}

export interface ProcessHandle<Result = unknown> {
  readonly partition: number;
  readonly pid: number;
  /** Resolves with what the program's main returned; rejects with what it threw. */
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
  /** The partition's port buffer (everything that partition can reach), for leak scans. */
  portOf(partitionId: number): SharedArrayBuffer;
}

export interface MachineEvents {
  partitionExit: [info: { id: number; name: string; exitCode: number; error?: Error }];
  hardwareExit: [info: { exitCode: number; error?: Error }];
}

function rebuildError(e: { name: string; message: string; code?: string; stack?: string }): Error {
  let err: Error;
  if (e.name === 'ChannelError' && e.code !== undefined && e.code in Status) {
    err = new ChannelError(e.code as ChannelErrorCode, '');
    err.message = e.message;
  } else if (e.name === 'MachineError') {
    err = new MachineError(e.code ?? 'EINVAL', e.message);
  } else {
    err = new Error(e.message);
    if (typeof e.name === 'string' && e.name !== 'Error') Object.defineProperty(err, 'name', { value: e.name });
    if (e.code !== undefined) Object.defineProperty(err, 'code', { value: e.code, enumerable: true });
  }
  if (typeof e.stack === 'string') err.stack = e.stack;
  return err;
}

function moduleHref(module: unknown, what: string): string {
  if (module instanceof URL) return module.href;
  if (typeof module === 'string' && module.length > 0) {
    if (/^[a-z][a-z0-9+.-]+:/i.test(module)) return module;
    return pathToFileURL(isAbsolute(module) ? module : resolvePath(module)).href;
  }
  throw new MachineError('EINVAL', `${what}: module must be a URL or a path string, got ${module === null ? 'null' : typeof module}`);
}

export class PartitionHandle {
  /** The standard OS API, or whatever a replacement OS module returned. */
  os: Remote<any>;
  worker: Worker;
  port: SharedArrayBuffer;
  private exited: Promise<Error>;
  /** Rejects when the partition's worker exits; raced against calls into it. */
  private died: Promise<never>;
  private alive = true;

  /** @internal */
  constructor(
    private readonly machine: Machine,
    readonly index: number,
    private readonly spec: ResolvedPartition,
    port: SharedArrayBuffer,
    control: import('node:worker_threads').MessagePort,
  ) {
    this.port = port;
    this.worker = this.startWorker(port, control);
    this.os = wrap(nodeEndpoint(this.worker));
    this.exited = this.watch();
    this.died = this.diedAfter(this.exited);
  }

  private diedAfter(exited: Promise<Error>): Promise<never> {
    const died = exited.then((e) => Promise.reject(e));
    died.catch(() => {}); // a race that lost must not become an unhandled rejection
    return died;
  }

  get id(): number {
    return this.spec.id;
  }

  get name(): string {
    return this.spec.name;
  }

  /** False once the partition's worker has exited (crash, exit, terminate). */
  get running(): boolean {
    return this.alive;
  }

  private startWorker(port: SharedArrayBuffer, control: import('node:worker_threads').MessagePort): Worker {
    const boot: PartitionBoot = { id: this.spec.id, name: this.spec.name, port, control, os: this.spec.os, wait: this.machine.options.wait };
    return new Worker(workerEntry('partitions/worker'), {
      name: this.spec.name,
      workerData: boot,
      transferList: [control],
      resourceLimits: this.spec.resourceLimits,
    });
  }

  private watch(): Promise<Error> {
    let error: Error | undefined;
    const worker = this.worker;
    worker.on('error', (e) => (error = e));
    return once(worker, 'exit').then(([exitCode]) => {
      this.alive = false;
      this.machine.onPartitionExit(this, exitCode, error);
      return new MachineError(
        'EPARTITIONDOWN',
        `partition ${this.id} (${this.name}) exited with code ${exitCode}${error ? `: ${error.message}` : ''}`,
      );
    });
  }

  /**
   * Run a program module as a process in this partition. The module's
   * default export `main(proc, args)` runs there; `handle.result` settles
   * with what it returns or throws.
   */
  async spawn<Result = unknown>(module: URL | string, args?: unknown): Promise<ProcessHandle<Result>> {
    this.machine.checkUsable('spawn');
    if (!this.alive) throw new MachineError('EPARTITIONDOWN', `partition ${this.id} (${this.name}) is not running; restart() it first`);
    if (this.spec.os !== undefined) {
      throw new MachineError('EINVAL', `partition ${this.id} runs a replacement OS; drive it through partition.os instead of spawn`);
    }
    const href = moduleHref(module, 'spawn');
    let started: StartResult;
    try {
      started = await Promise.race([(this.os as Remote<OsApi>).start(href, args), this.died]);
    } catch (e) {
      if (e instanceof Error && e.name === 'DataCloneError') {
        throw new MachineError('EINVAL', `spawn: args must be structured-cloneable (plain data, no functions): ${e.message}`);
      }
      throw e;
    }
    if (!started.ok) throw rebuildError(started.error);
    const pid = started.pid;
    const result = Promise.race([(this.os as Remote<OsApi>).result(pid), this.died]).then(
      (outcome) => {
        if (outcome.ok) return outcome.value as Result;
        throw rebuildError(outcome.error);
      },
      (e: Error) => {
        throw this.machine.closing
          ? new MachineError('ECLOSED', `the machine was closed while process ${pid} of partition ${this.id} was running`)
          : e;
      },
    );
    result.catch(() => {}); // the caller may never look; an unobserved failure must not crash the host
    return { partition: this.id, pid, result };
  }

  /** Kill this partition's worker (as a crash would). Its channels close; peers get EPEERDEAD. */
  async terminate(): Promise<void> {
    if (!this.alive) return;
    await this.worker.terminate();
    await this.exited;
  }

  /** Start a stopped partition again with a fresh port: new rings, new generations, none of the old traffic. */
  async restart(): Promise<void> {
    this.machine.checkUsable('restart');
    await this.terminate();
    const { port1, port2 } = new MessageChannel();
    const port = await this.machine.admin.restartPartition(this.index, transfer(port1, [port1]));
    this.port = port;
    this.worker = this.startWorker(port, port2);
    this.os = wrap(nodeEndpoint(this.worker));
    this.alive = true;
    this.exited = this.watch();
    this.died = this.diedAfter(this.exited);
    await once(this.worker, 'online');
  }
}

export class Machine extends EventEmitter<MachineEvents> implements AsyncDisposable {
  /** @internal */ closing = false;
  private hardwareDown: MachineError | undefined;
  private readonly byId = new Map<number, PartitionHandle>();
  private readonly counters: Float64Array;
  private closed: Promise<void> | undefined;
  readonly hooks: TestHooks | undefined;

  /** @internal */
  constructor(
    readonly options: ResolvedOptions,
    private readonly hardware: Worker,
    /** @internal */ readonly admin: Remote<HardwareAdmin>,
    ports: SharedArrayBuffer[],
    counters: SharedArrayBuffer,
    controls: import('node:worker_threads').MessagePort[],
  ) {
    super();
    this.counters = new Float64Array(counters);
    options.partitions.forEach((spec, i) => this.byId.set(spec.id, new PartitionHandle(this, i, spec, ports[i], controls[i])));
    let error: Error | undefined;
    hardware.on('error', (e) => (error = e));
    hardware.once('exit', (exitCode: number) => {
      if (this.closing) return;
      this.hardwareDown = new MachineError('EHWRESET', `the hardware worker exited with code ${exitCode}; the machine failed closed`);
      for (const p of this.byId.values()) {
        if (p.running && p.worker !== undefined && options.partitions[p.index].os === undefined) {
          void (p.os as Remote<OsApi>).hardwareReset();
        }
      }
      this.emit('hardwareExit', { exitCode, error });
    });
    if (options.testHooks) {
      this.hooks = {
        corruptStamps: (id, on) => this.admin.corruptStamps(this.partition(id).index, on),
        keyHistory: () => this.admin.keyHistory(),
        liveKeyCount: () => this.admin.liveKeyCount(),
        portOf: (id) => this.partition(id).port,
      };
    }
  }

  /** The partition with this id. */
  partition(id: number): PartitionHandle {
    const p = this.byId.get(id);
    if (p === undefined) {
      throw new MachineError('EINVAL', `no partition ${String(id)}; this machine has ${[...this.byId.keys()].join(', ')}`);
    }
    return p;
  }

  get partitions(): PartitionHandle[] {
    return [...this.byId.values()];
  }

  /** Counters per partition, read straight from the hardware's counter block. */
  stats(): MachineStats {
    return { partitions: this.partitions.map((p) => readPartitionStats(this.counters, p.index, p.id, p.name)) };
  }

  /** Set when the hardware worker died; the machine then refuses new work. */
  get failure(): MachineError | undefined {
    return this.hardwareDown;
  }

  /** @internal */
  checkUsable(what: string): void {
    if (this.closing) throw new MachineError('ECLOSED', `${what}: the machine is closed; create a new one`);
    if (this.hardwareDown) throw this.hardwareDown;
  }

  /** @internal */
  onPartitionExit(p: PartitionHandle, exitCode: number, error: Error | undefined): void {
    if (this.closing) return;
    if (!this.hardwareDown) void this.admin.partitionDown(p.index).catch(() => {});
    this.emit('partitionExit', { id: p.id, name: p.name, exitCode, error });
  }

  /** Stop every partition (running programs end with ECLOSED) and the hardware. Safe to call twice. */
  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.partitions.map((p) => p.terminate()), this.hardware.terminate()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Boot a machine: the hardware worker, then every partition in parallel. */
export async function createMachine(options: MachineOptions): Promise<Machine> {
  const resolved = resolveOptions(options);
  const channels = resolved.partitions.map(() => new MessageChannel());
  const controlPorts = channels.map((c) => c.port1);
  const boot: HardwareBoot = { options: resolved, controlPorts };
  const hardware = new Worker(workerEntry('hardware/worker'), { name: 'hardware-0', workerData: boot, transferList: controlPorts });
  const admin = wrap<HardwareAdmin>(nodeEndpoint(hardware));
  let booted: { ports: SharedArrayBuffer[]; counters: SharedArrayBuffer };
  try {
    booted = await Promise.race([
      admin.ports(),
      once(hardware, 'exit').then(([code]) => Promise.reject(new MachineError('EHWRESET', `the hardware worker exited with code ${code} while booting`))),
      once(hardware, 'error').then(([e]) => Promise.reject(e)),
    ]);
  } catch (e) {
    await hardware.terminate();
    throw e;
  }
  const machine = new Machine(resolved, hardware, admin, booted.ports, booted.counters, channels.map((c) => c.port2));
  try {
    await Promise.all(
      machine.partitions.map((p) =>
        Promise.race([
          once(p.worker, 'online'),
          once(p.worker, 'exit').then(([code]) =>
            Promise.reject(new MachineError('EPARTITIONDOWN', `partition ${p.id} (${p.name}) exited with code ${code} while booting`)),
          ),
        ]),
      ),
    );
  } catch (e) {
    await machine.close();
    throw e;
  }
  return machine;
}
