/**
 * `lparlink bench --trace FILE`: every machine the run boots traces (every `sample`-th message of
 * each channel), and each one's rings are appended to one trace file as a process of its own,
 * named after its suite, just before the machine closes; so a long run holds one machine's rings
 * at a time, never the whole run's. The micro suite, which drives the hardware by hand in one
 * thread, adds its rings the same way.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Machine, TraceSummary } from '../src/index.js';
import { TraceStream, type TraceThread } from '../src/trace-export.js';
import { DEFAULTS } from '../src/options.js';

export class BenchTrace {
  /** Each machine gets its own pid in the file, so its tracks group under its suite's name. */
  private nextPid = 1;

  private constructor(
    readonly sample: number,
    /** Records per thread's trace ring of each machine (trace.records). */
    readonly records: number,
    private readonly file: WriteStream,
    private readonly stream: TraceStream,
  ) {}

  /** Start the file (the caller checked that `path` can be written). */
  static async open(path: string, sample: number, records: number = DEFAULTS.traceRecords): Promise<BenchTrace> {
    const file = createWriteStream(path);
    await once(file, 'open');
    const stream = new TraceStream(file);
    await stream.begin();
    return new BenchTrace(sample, records, file, stream);
  }

  /** The createMachine option for the run's machines. */
  get machineOption(): { sample: number; records: number } {
    return { sample: this.sample, records: this.records };
  }

  /** Append a machine's rings, as the process `label` (call it before the machine closes, or after). */
  async addMachine(machine: Machine, label: string): Promise<void> {
    const group = machine.traceGroup(this.nextPid++, label);
    if (group !== undefined) await this.stream.add(group);
  }

  /** Append rings written outside a machine (the micro suite's, all in one thread: `threads` name its roles). */
  async addThreads(label: string, threads: TraceThread[], partitionIds: number[]): Promise<void> {
    await this.stream.add({ pid: this.nextPid++, name: label, threads, records: DEFAULTS.traceRecords, sample: this.sample, partitionIds });
  }

  /** End the file; resolves once it is on disk. */
  async close(): Promise<TraceSummary> {
    const summary = await this.stream.end();
    this.file.end();
    await once(this.file, 'finish');
    return summary;
  }
}
