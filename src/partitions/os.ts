/**
 * The OS instance of one partition: it hands queue pairs to processes, runs
 * program modules as processes, and reports their results to the operator.
 * The hardware does not trust it; a partition may run a replacement OS.
 */
import { ProcessQueuePair } from './queue-pair.js';
import { Process, type ControlLink } from './process.js';
import type { ControlResult, PartitionControlApi } from '../shared/control-contract.js';
import type { Remote } from '../shared/control-plane.js';
import { ChannelError } from '../shared/errors.js';
import type { ErrorRecord, ProgramOutcome, StartResult } from '../shared/operator-contract.js';
import type { AttachedPort } from '../shared/port.js';
import type { WaitPolicy } from '../shared/wait.js';

function describeError(e: unknown): ErrorRecord {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, code: typeof code === 'string' ? code : undefined, stack: e.stack };
  }
  return { name: 'Error', message: `program threw a non-Error value: ${String(e)}` };
}

export class PartitionOS {
  private readonly freeQueuePairs: number[];
  private readonly queuePairs = new Map<number, ProcessQueuePair>();
  private readonly results = new Map<number, Promise<ProgramOutcome>>();
  private hardwareGone: ChannelError | undefined;
  private readonly goneWaiters: Array<(e: ChannelError) => void> = [];
  readonly control: ControlLink;

  constructor(
    private readonly port: AttachedPort,
    api: Remote<PartitionControlApi>,
    private readonly wait: WaitPolicy,
  ) {
    this.freeQueuePairs = Array.from({ length: port.geometry.queuePairs }, (_, i) => i).reverse();
    this.control = { api, call: (fn) => this.call(fn) };
  }

  /** A control call that fails with the hardware's error code, or EHWRESET once the hardware is gone. */
  private async call<T extends object>(fn: (api: Remote<PartitionControlApi>) => Promise<ControlResult<T>>): Promise<T> {
    if (this.hardwareGone) throw this.hardwareGone;
    const gone = new Promise<never>((_, reject) => this.goneWaiters.push(reject));
    gone.catch(() => {});
    const r = await Promise.race([fn(this.control.api), gone]);
    if (!r.ok) throw new ChannelError(r.code, r.message);
    return r;
  }

  private queuePair(index: number): ProcessQueuePair {
    let qp = this.queuePairs.get(index);
    if (qp === undefined) {
      qp = new ProcessQueuePair(this.port.buffer, this.port.geometry, index, this.wait);
      this.queuePairs.set(index, qp);
    }
    return qp;
  }

  /** Start a program as a process (moduleRef: a URL href, as the operator's spawn resolved it). The outcome is collected with result(pid). */
  async start(moduleRef: string, args: unknown): Promise<StartResult> {
    try {
      const mod = (await import(moduleRef)) as { default?: unknown };
      const main = mod.default;
      if (typeof main !== 'function') {
        throw new TypeError(`module ${moduleRef} has no default export; export default async function main(proc, args)`);
      }
      const index = this.freeQueuePairs.pop();
      if (index === undefined) {
        throw new ChannelError('EMFILE', `all ${this.port.geometry.queuePairs} process slots of partition ${this.port.partitionId} are in use`);
      }
      let pid: number;
      try {
        pid = (await this.call((api) => api.openQueuePair(index))).process;
      } catch (e) {
        this.freeQueuePairs.push(index);
        throw e;
      }
      const proc = new Process(this.port.partitionId, pid, this.queuePair(index), this.control, this.port.buffer, this.port.geometry.channelSlots);
      this.results.set(pid, this.run(proc, main as (p: Process, a: unknown) => unknown, args));
      return { ok: true, pid };
    } catch (e) {
      return { ok: false, error: describeError(e) };
    }
  }

  private async run(proc: Process, main: (p: Process, a: unknown) => unknown, args: unknown): Promise<ProgramOutcome> {
    let outcome: ProgramOutcome;
    try {
      outcome = { ok: true, value: await main(proc, args) };
    } catch (e) {
      outcome = { ok: false, error: describeError(e) };
    }
    // Recycle the queue pair in the background; the outcome does not wait for the peers to drain.
    void proc.queuePair
      .detach(proc.openHandles())
      .then(() => this.freeQueuePairs.push(proc.queuePair.index))
      .catch(() => {});
    return outcome;
  }

  /** What the program's main returned or threw. */
  result(pid: number): Promise<ProgramOutcome> {
    const r = this.results.get(pid);
    if (r === undefined) {
      return Promise.resolve({ ok: false, error: { name: 'ChannelError', code: 'EINVAL', message: `no process ${pid} in this partition` } });
    }
    return r.finally(() => this.results.delete(pid));
  }

  /** The hardware worker died: fail closed. Every channel and pending call gets EHWRESET. */
  hardwareReset(): void {
    if (this.hardwareGone) return;
    this.hardwareGone = new ChannelError('EHWRESET', 'the hardware worker stopped');
    for (const reject of this.goneWaiters.splice(0)) reject(this.hardwareGone);
    for (const qp of this.queuePairs.values()) qp.fail(this.hardwareGone);
  }
}
