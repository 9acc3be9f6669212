/**
 * What attack run 9e (wave 24) attacked and found solid, each with its exact outcome: a hostile
 * partition against the operator's observability. In process where what is checked is the
 * exporter's reading of rings a partition writes (it can write its own ring, and nothing else the
 * operator reads): the records below are the ones such a partition would write.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { TraceStream, type TraceGroup } from '../../src/trace-export.js';
import { allocateTraceRing, traceNow, TraceWriter } from '../../src/shared/trace-ring.js';
import { NO_PARTITION, TraceKind, TraceWait } from '../../src/shared/trace-layout.js';
import type { TraceEvent } from '../trace/helpers.js';

const RECORDS = 64;

async function exportGroup(group: TraceGroup): Promise<{ events: TraceEvent[]; summary: Awaited<ReturnType<TraceStream['end']>> }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const stream = new TraceStream(out);
  await stream.begin();
  await stream.add(group);
  const summary = await stream.end();
  return { events: (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { traceEvents: TraceEvent[] }).traceEvents, summary };
}

describe('attack run 9e: a partition against the trace export', () => {
  it("a partition's forged hardware records, and its forged sends of another partition's messages, draw nothing of anyone's; the honest flow stays whole", async () => {
    const since = traceNow();
    const [hwRing, forgerRing, honestRing, readerRing] = [0, 1, 2, 3].map(() => allocateTraceRing(RECORDS));
    const t = (): number => traceNow();
    // The honest run: partition 2 (index 1) sends message 1 on handle 5; the hardware delivers it to partition 3 (index 2) on handle 9.
    const honest = new TraceWriter(honestRing);
    const hw = new TraceWriter(hwRing);
    const reader = new TraceWriter(readerRing);
    honest.record(TraceKind.SEND, 5, 1, 0, 0, 0, t(), t());
    const [a, b, c, d] = [t(), t(), t(), t()];
    hw.record(TraceKind.HARDWARE_MESSAGE, 1, 5, 2, 9, 1, a, b, c, d);
    reader.record(TraceKind.RECEIVE, 9, 1, 0, 0, 0, t(), t());
    // Partition 1 (index 0), in its own ring: the honest message's send and receive as if its own, a
    // hardware stage, a refusal, link stages and a violation naming partition 2.
    const forger = new TraceWriter(forgerRing);
    forger.record(TraceKind.SEND, 5, 1, 0, 0, 0, t(), t());
    forger.record(TraceKind.RECEIVE, 9, 1, 0, 0, 0, t(), t());
    forger.record(TraceKind.HARDWARE_MESSAGE, 1, 5, 2, 9, 1, t(), t(), t(), t());
    forger.record(TraceKind.HARDWARE_REFUSED, 1, 5, 2, 0, 1, t(), t(), t());
    forger.record(TraceKind.LINK_SEND, 1, 5, 7, 0, 1, t(), t());
    forger.record(TraceKind.LINK_DELIVER, 7, 1, 5, 0, 1, t(), t());
    forger.record(TraceKind.VIOLATION, 1, 0, 0, 0, 0, t());
    forger.record(TraceKind.WOKE, TraceWait.RECEIVE_RING, NO_PARTITION, 0, 0, 0, t());
    const threads = [
      { name: 'hardware-0', tid: 1, partition: undefined, ring: hwRing, since },
      { name: 'forger', tid: 2, partition: 0, ring: forgerRing, since },
      { name: 'honest', tid: 3, partition: 1, ring: honestRing, since },
      { name: 'reader', tid: 4, partition: 2, ring: readerRing, since },
    ];
    const { events, summary } = await exportGroup({ pid: 1, name: 'm', threads, records: RECORDS, sample: 1, partitionIds: [1, 2, 3] });
    expect(summary).toEqual({ events: 22, messages: 1, received: 1, incomplete: 0, dropped: 0, malformed: 0 });
    // The forger's track: its send and receive slices with no flow, and its own wake-up; none of its hardware-only kinds.
    expect(events.filter((e) => e.tid === 2 && e.ph !== 'M').map((e) => [e.ph, e.name])).toEqual([
      ['X', 'send'],
      ['X', 'receive'],
      ['i', 'woke'],
    ]);
    // Every flow event is on the honest threads: send (s) on partition 2, verify/deliver on the hardware, receive (f) on partition 3.
    expect(events.filter((e) => ['s', 't', 'f'].includes(e.ph)).map((e) => [e.ph, e.name, e.tid])).toEqual([
      ['s', 'message', 3],
      ['t', 'message', 1],
      ['f', 'message', 1],
      ['s', 'receive', 1],
      ['f', 'receive', 4],
    ]);
  });
});

describe('attack run 9e: a partition that scribbles everything it holds', () => {
  it("0xff over its port and its trace ring: stats() reads the bystander's zeros, no event fires, the trace parses, the ring's records counted malformed and its forged count as dropped", async () => {
    await using machine = await createMachine({ wait: 'sleep', trace: { sample: 1_000_000, records: 1024 }, partitions: [{ id: 1, name: 'scribbler' }, { id: 2, name: 'bystander' }] });
    const events: string[] = [];
    for (const name of ['partitionExit', 'programError'] as const) machine.on(name, () => events.push(name));
    const program = await machine.partition(1).spawn(new URL('../fixtures/security/scribble-all.mjs', import.meta.url));
    // Its port (one queue pair's rings and doorbells) and its trace ring of 1,024 records: all it holds.
    expect(await program.result).toEqual([65_600, 4_235_456]);
    const before = machine.stats();
    const zero = { sent: 0, delivered: 0, bytesSent: 0, bytesDelivered: 0, sendErrors: 0, completionsDropped: 0, idleWakeups: 0, doorbellWakeups: 0, controlRefusals: 0, kept: 0 };
    expect(before.partitions[1]).toMatchObject({ id: 2, name: 'bystander', ...zero, violations: expect.objectContaining({ total: 0 }) });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const summary = await machine.exportTrace(out);
    const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { traceEvents: TraceEvent[] };
    // Every slot of its ring is a record of no kind; its count word, 0xffffffff, says the rest were overwritten
    // (the thread's own number: a partition's ring says what it likes of itself, left as found).
    expect(summary).toEqual({ events: 7, messages: 0, received: 0, incomplete: 0, dropped: 0xffff_ffff - 1024, malformed: 1024 });
    expect(file.traceEvents.every((e) => e.ph === 'M')).toBe(true);
    expect(events).toEqual([]);
    expect(machine.stats().partitions[1]).toEqual(before.partitions[1]);
  });
});
