/**
 * The operator's side of tracing (`createMachine({ trace })`): it allocates each worker thread
 * its own trace ring (a restarted partition gets a new one: a new thread, a new track), keeps
 * them all, and writes them out on request.
 */
import type { Writable } from 'node:stream';
import { MachineError } from './shared/errors.js';
import { allocateTraceRing } from './shared/trace-ring.js';
import { TraceStream, writeTraceFile, type TraceGroup, type TraceSummary, type TraceThread } from './trace-export.js';

export class TraceRecorder {
  private readonly threads: TraceThread[] = [];

  constructor(
    readonly sample: number,
    readonly records: number,
  ) {}

  /** A ring for a thread about to start; register it with add() once the thread has its id. */
  newRing(): SharedArrayBuffer {
    return allocateTraceRing(this.records);
  }

  add(name: string, tid: number, partition: number | undefined, ring: SharedArrayBuffer): void {
    this.threads.push({ name, tid, partition, ring });
  }

  /** Every ring so far, as one process of a trace file. */
  group(pid: number, name: string, partitionIds: number[]): TraceGroup {
    return { pid, name, threads: [...this.threads], records: this.records, sample: this.sample, partitionIds };
  }

  /** Write every ring to `to`: a file path (created or replaced), or a Writable (left open). */
  async export(to: string | Writable, partitionIds: number[]): Promise<TraceSummary> {
    const write = async (out: Writable): Promise<TraceSummary> => {
      const stream = new TraceStream(out);
      await stream.begin();
      await stream.add(this.group(process.pid, 'lparlink', partitionIds));
      return stream.end();
    };
    if (typeof to === 'string' && to.length > 0) return writeTraceFile(to, write);
    if (isWritable(to)) return write(to);
    throw new MachineError('EINVAL', 'exportTrace(to): to must be a file path or a Writable stream, got ' + (to === null ? 'null' : typeof to));
  }
}

function isWritable(value: unknown): value is Writable {
  return typeof value === 'object' && value !== null && typeof (value as Writable).write === 'function' && typeof (value as Writable).once === 'function';
}
