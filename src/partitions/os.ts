/**
 * The OS instance of one partition: it hands queue pairs to processes, runs
 * program modules as processes, and reports their results to the operator.
 * The hardware does not trust it; a partition may run a replacement OS.
 */
import { ProcessQueuePair } from './queue-pair.js';
import type { PartitionTrace } from './trace.js';
import { Process, type ControlLink } from './process.js';
import type { ControlResult, PartitionControlApi } from '../shared/control-contract.js';
import type { Remote } from '../shared/control-plane.js';
import { ChannelError, describeValue } from '../shared/errors.js';
import { recordError, whyUnclonable } from '../shared/error-record.js';
import { explainLoadFailure } from './load-failure.js';
import type { ProgramOutcome, StartResult } from '../shared/operator-contract.js';
import type { AttachedPort } from '../shared/port.js';
import type { WaitPolicy } from '../shared/wait.js';
import { Tripwire } from '../shared/tripwire.js';

export class PartitionOS {
  private readonly freeQueuePairs: number[];
  private readonly queuePairs = new Map<number, ProcessQueuePair>();
  private readonly results = new Map<number, Promise<ProgramOutcome>>();
  /** Processes whose main has not returned yet, so that the operator can abort them. */
  private readonly running = new Map<number, Process>();
  /** The module each running process runs, by pid (for the message when no process slot is free). */
  private readonly programs = new Map<number, string>();
  private hardwareGone: ChannelError | undefined;
  /** Fails the control calls in flight with EHWRESET if the hardware dies first. */
  private readonly gone = new Tripwire();
  readonly control: ControlLink;

  constructor(
    private readonly port: AttachedPort,
    api: Remote<PartitionControlApi>,
    private readonly wait: WaitPolicy,
    private readonly tracer: PartitionTrace | undefined = undefined,
  ) {
    this.freeQueuePairs = Array.from({ length: port.geometry.queuePairs }, (_, i) => i).reverse();
    this.control = { api, call: (fn) => this.call(fn) };
  }

  /** A control call that fails with the hardware's error code, or EHWRESET once the hardware is gone. */
  private async call<T extends object>(fn: (api: Remote<PartitionControlApi>) => Promise<ControlResult<T>>): Promise<T> {
    if (this.hardwareGone) throw this.hardwareGone;
    // Not Promise.race against one promise of the hardware's death: each call's race stayed on it,
    // with its answer, for the partition's life (THREATS case 53).
    const r = await this.gone.race(fn(this.control.api));
    if (!r.ok) throw new ChannelError(r.code, r.message, r.todo);
    return r;
  }

  private queuePair(index: number): ProcessQueuePair {
    let qp = this.queuePairs.get(index);
    if (qp === undefined) {
      qp = new ProcessQueuePair(this.port.buffer, this.port.geometry, index, this.wait, this.tracer);
      this.queuePairs.set(index, qp);
    }
    return qp;
  }

  /** Start a program as a process (moduleRef: a URL href, as the operator's spawn resolved it). The outcome is collected with result(pid). */
  async start(moduleRef: string, args: unknown): Promise<StartResult> {
    try {
      let mod: { default?: unknown };
      try {
        mod = (await import(moduleRef)) as { default?: unknown };
      } catch (e) {
        throw await explainLoadFailure(moduleRef, e);
      }
      const main = mod.default;
      if (typeof main !== 'function') {
        const what = main === undefined ? 'has no default export' : `has a default export that is ${describeValue(main)}, not a function${commonJsDefault(main)}`;
        throw new TypeError(`module ${moduleRef} ${what}; export default async function main(proc, args)`);
      }
      const index = this.freeQueuePairs.pop();
      if (index === undefined) throw this.noProcessSlot();
      let pid: number;
      try {
        pid = (await this.call((api) => api.openQueuePair(index))).process;
      } catch (e) {
        this.freeQueuePairs.push(index);
        throw e;
      }
      const proc = new Process(this.port.partitionId, pid, this.queuePair(index), this.control, this.port.buffer, this.port.geometry.channelSlots);
      this.programs.set(pid, moduleRef);
      this.results.set(pid, this.run(proc, main as (p: Process, a: unknown) => unknown, args));
      return { ok: true, pid };
    } catch (e) {
      return { ok: false, error: recordError(e) };
    }
  }

  private async run(proc: Process, main: (p: Process, a: unknown) => unknown, args: unknown): Promise<ProgramOutcome> {
    this.running.set(proc.pid, proc);
    // main runs up to its first await before start() answers, so a server's listen() is issued before
    // spawn resolves (a client spawned next finds it). A main that never yields therefore blocks
    // start(): spawn's timeoutMs/signal cover the start for that reason.
    let outcome: ProgramOutcome;
    let threw = false;
    try {
      outcome = cloneableOutcome(await main(proc, args));
    } catch (e) {
      threw = true;
      outcome = { ok: false, error: recordError(e) };
    } finally {
      this.running.delete(proc.pid);
      this.programs.delete(proc.pid);
    }
    // What main left open closes behind its data: cleanly (ECLOSED at the peer) when main returned;
    // when it threw, the detach alone ends them, and the peer learns the process died (EPEERDEAD),
    // after the data all the same. Recycle the queue pair in the background; the outcome does not
    // wait for the peers to drain.
    const open = proc.end();
    void proc.queuePair
      .detach(threw ? [] : open)
      .then(() => this.freeQueuePairs.push(proc.queuePair.index))
      .catch(() => {});
    return outcome;
  }

  /** No free process slot: which programs hold them, and what to do. */
  private noProcessSlot(): ChannelError {
    const slots = this.port.geometry.queuePairs;
    const holders = [...this.programs].map(([pid, ref]) => `process ${pid} running ${ref}`);
    const recycling = slots - holders.length;
    const held = holders.length === 0 ? '' : `: ${holders.slice(0, 4).join(', ')}${holders.length > 4 ? `, and ${holders.length - 4} more` : ''}`;
    const ending = recycling > 0 ? `; ${recycling} held by programs that just ended, still being handed back` : '';
    return new ChannelError(
      'EMFILE',
      `all ${slots} process slots of partition ${this.port.partitionId} are in use${held}${ending}`,
      'raise processesPerPartition in createMachine, or let a program end (await its result) before spawning another',
    );
  }

  /** What the program's main returned or threw. */
  result(pid: number): Promise<ProgramOutcome> {
    const r = this.results.get(pid);
    if (r === undefined) {
      return Promise.resolve({ ok: false, error: { name: 'ChannelError', code: 'EINVAL', message: `no process ${pid} in this partition` } });
    }
    return r.finally(() => this.results.delete(pid));
  }

  /** The operator cancels a running process; false when it has already ended. */
  abort(pid: number, reason: string): boolean {
    const proc = this.running.get(pid);
    if (proc === undefined) return false;
    proc.abort(new Error(reason));
    return true;
  }

  /** The hardware worker died: fail closed. Every channel and pending call gets EHWRESET. */
  hardwareReset(): void {
    if (this.hardwareGone) return;
    this.hardwareGone = new ChannelError('EHWRESET', 'the hardware worker stopped');
    this.gone.trip(this.hardwareGone);
    for (const qp of this.queuePairs.values()) qp.fail(this.hardwareGone);
  }
}

/**
 * The outcome for a value main returned. A value that cannot be structured-cloned (a function, a
 * class instance holding a port, …) would otherwise fail inside comlink with a message naming
 * neither program nor partition; the operator names both. The trial clone costs one copy of the
 * result, which is small next to the thread hop it makes safe.
 */
function cloneableOutcome(value: unknown): ProgramOutcome {
  const unclonable = whyUnclonable(value);
  return unclonable === undefined ? { ok: true, value } : { ok: false, unclonable };
}

/**
 * Why a program's default export is an object holding a `default` function: Node loaded the module
 * as CommonJS (its default export is `module.exports`), as TypeScript emits a `.ts` program compiled
 * in a package without `"type": "module"`; '' for any other value. Reads no getter.
 */
function commonJsDefault(main: unknown): string {
  if (typeof main !== 'object' || main === null) return '';
  const inner = Object.getOwnPropertyDescriptor(main, 'default');
  if (inner === undefined || !('value' in inner) || typeof inner.value !== 'function') return '';
  return ' (its own default is one: Node loaded this module as CommonJS, as TypeScript compiles a program in a package without "type": "module"; set "type": "module" in its package.json, or name it .mts/.mjs)';
}
