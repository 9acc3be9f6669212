/** A traced machine that carries known traffic, and readers of the trace it exports. */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMachine, type MachineOptions, type TraceSummary } from '../../src/index.js';

const traffic = new URL('./fixtures/traffic.mjs', import.meta.url);

export interface TraceEvent {
  ph: string;
  name: string;
  cat?: string;
  pid: number;
  tid: number;
  ts: number;
  dur?: number;
  id?: number;
  bp?: string;
  s?: string;
  args?: Record<string, unknown>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  otherData: {
    dropped: number;
    incomplete: number;
    processes: Record<string, { sample: number; messages: number; threads: Record<string, { dropped: number; records: number }> }>;
  };
}

export interface TrafficRun {
  file: TraceFile;
  summary: TraceSummary;
  /** Messages sent on each channel, by direction. */
  sent: number[];
  violations: number;
}

/**
 * Partition 1 sends `messages[0]` messages to partition 2 and partition 2 sends `messages[1]` to
 * partition 1 (0: no channel), each on its own channel; then the trace is exported to a file and read back.
 */
export async function tracedTraffic(messages: [number, number], trace: MachineOptions['trace'], size = 32): Promise<TrafficRun> {
  const dir = await mkdtemp(join(tmpdir(), 'lparlink-trace-'));
  try {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], trace, wait: 'sleep', sendRingBytes: 4096, receiveRingBytes: 4096 });
    const runs: Array<Promise<unknown>> = [];
    for (const [from, to, n] of [[1, 2, messages[0]], [2, 1, messages[1]]] as const) {
      if (n === 0) continue;
      const receiver = await machine.partition(to).spawn(traffic, { role: 'receiver', port: 10 + from });
      const sender = await machine.partition(from).spawn(traffic, { role: 'sender', partition: to, port: 10 + from, n, size });
      runs.push(receiver.result, sender.result);
    }
    const results = (await Promise.all(runs)) as Array<{ received?: number; sent?: number }>;
    for (const r of results) if (r.received !== undefined && !messages.includes(r.received)) throw new Error(`received ${r.received} of ${messages}`);
    const path = join(dir, 'trace.json');
    const summary = await machine.exportTrace(path);
    const file = JSON.parse(await readFile(path, 'utf8')) as TraceFile;
    const violations = machine.stats().partitions.reduce((sum, p) => sum + p.violations.total, 0);
    return { file, summary, sent: messages, violations };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The flows a real consumer recovers: DevTools' trace engine, as each flow's slice names joined by '>'. */
export async function consumerFlows(events: TraceEvent[]): Promise<{ flows: Record<string, number>; threads: string[] }> {
  const Trace = await import('@paulirish/trace_engine');
  const model = Trace.TraceModel.Model.createWithAllHandlers();
  await model.parse(events as never);
  const data = model.parsedTrace()!.data;
  const flows: Record<string, number> = {};
  for (const flow of data.Flows.flows) {
    const path = flow.map((e) => e.name).join('>');
    flows[path] = (flows[path] ?? 0) + 1;
  }
  const threads: string[] = [];
  for (const process of data.Renderer.processes.values()) for (const thread of process.threads.values()) threads.push(thread.name ?? '');
  return { flows, threads: threads.sort() };
}
