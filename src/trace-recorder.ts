/**
 * The operator's side of tracing (`createMachine({ trace })`): it allocates each worker thread
 * its own trace ring (a restarted partition gets a new one: a new thread, a new track), keeps
 * them, and writes them out on request. Of a partition restarted again and again it keeps the
 * rings of its last RUNS_KEPT runs: one ring each would otherwise grow the operator's memory by a
 * ring (2 MiB at the default size) per restart, for good. A run that recorded nothing leaves no
 * ring behind once the next starts.
 */
import type { Writable } from 'node:stream';
import { describeValue, MachineError } from './shared/errors.js';
import { allocateTraceRing, traceNow } from './shared/trace-ring.js';
import { TRACE_WRITTEN_WORD } from './shared/trace-layout.js';
import { TraceStream, writeTraceFile, type TraceGroup, type TraceSummary, type TraceThread } from './trace-export.js';

/**
 * When each ring was allocated: its thread wrote every record after that, so an earlier time is a
 * forgery (case 89). Module-wide, since the machine allocates the hardware's ring before its recorder.
 */
const allocatedAt = new WeakMap<SharedArrayBuffer, number>();

/** Runs of one partition whose rings are kept (the current one and those before it). */
const RUNS_KEPT = 4;

export class TraceRecorder {
  private readonly threads: TraceThread[] = [];
  /** Runs of partitions whose rings were let go (RUNS_KEPT), for the file's otherData. */
  private runsDropped = 0;

  constructor(
    readonly sample: number,
    readonly records: number,
  ) {}

  /** A ring for a thread about to start; register it with add() once the thread has its id. */
  newRing(): SharedArrayBuffer {
    const ring = allocateTraceRing(this.records);
    allocatedAt.set(ring, traceNow());
    return ring;
  }

  add(name: string, tid: number, partition: number | undefined, ring: SharedArrayBuffer): void {
    if (partition !== undefined) {
      const runs = this.threads.filter((t) => t.partition === partition);
      const previous = runs.at(-1);
      // The run before, if it recorded nothing, is no track worth keeping.
      if (previous !== undefined && Atomics.load(new Uint32Array(previous.ring), TRACE_WRITTEN_WORD) === 0) this.forget(runs.pop()!, false);
      for (const old of runs.slice(0, Math.max(0, runs.length - (RUNS_KEPT - 1)))) this.forget(old, true);
    }
    this.threads.push({ name, tid, partition, ring, since: allocatedAt.get(ring) });
  }

  private forget(thread: TraceThread, counted: boolean): void {
    this.threads.splice(this.threads.indexOf(thread), 1);
    if (counted) this.runsDropped++;
  }

  /** Every ring so far, as one process of a trace file. */
  group(pid: number, name: string, partitionIds: number[]): TraceGroup {
    return { pid, name, threads: [...this.threads], records: this.records, sample: this.sample, partitionIds, runsDropped: this.runsDropped };
  }

  /** Write every ring to `to`: a file path (created or replaced), or a Writable (left open); `name`: the file's process name. */
  async export(to: string | Writable, partitionIds: number[], name: string): Promise<TraceSummary> {
    const write = async (out: Writable): Promise<TraceSummary> => {
      const stream = new TraceStream(out);
      await stream.begin();
      await stream.add(this.group(process.pid, name, partitionIds));
      return stream.end();
    };
    if (typeof to === 'string' && to.length > 0) return typedFailure(writeTraceFile(to, write), `the file ${to}`);
    if (isWritable(to)) return typedFailure(write(to), 'the stream');
    throw new MachineError('EINVAL', `exportTrace(to): to must be a file path or a Writable stream (left open), got ${describeValue(to)}`);
  }
}

/** A destination that failed mid-export (a full disk, a stream destroyed or ended early): MachineError EIO, with the failure as its cause. */
async function typedFailure(exporting: Promise<TraceSummary>, what: string): Promise<TraceSummary> {
  try {
    return await exporting;
  } catch (e) {
    if (e instanceof MachineError) throw e;
    const why = (e as Error).message.replace(/^exportTrace: /, '');
    throw new MachineError('EIO', `exportTrace: writing to ${what} failed (${why}); the trace there is incomplete: export again to a destination that takes it`, { cause: e });
  }
}

function isWritable(value: unknown): value is Writable {
  return typeof value === 'object' && value !== null && typeof (value as Writable).write === 'function' && typeof (value as Writable).once === 'function';
}
