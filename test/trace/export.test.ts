/**
 * The exported trace: the file is Chrome Trace Event Format as the viewers require it, and a real
 * consumer (DevTools' trace engine, @paulirish/trace_engine) recovers every sampled message's flow.
 */
import { describe, expect, it } from 'vitest';
import { consumerFlows, tracedTraffic, type TraceEvent, type TrafficRun } from './helpers.js';

const SAMPLE = 8;
// Not multiples of SAMPLE: the last messages of each channel are not sampled.
const MESSAGES: [number, number] = [203, 101];
const SAMPLED = Math.floor(MESSAGES[0] / SAMPLE) + Math.floor(MESSAGES[1] / SAMPLE);

let run: Promise<TrafficRun> | undefined;
/** One traced run, shared by the tests that only read its file. */
function traced(): Promise<TrafficRun> {
  run ??= tracedTraffic(MESSAGES, { sample: SAMPLE });
  return run;
}

const FLOW_PHASES = new Set(['s', 't', 'f']);

describe('the exported trace file', () => {
  it('gives every event the fields its phase requires', async () => {
    const { file } = await traced();
    expect(file.displayTimeUnit).toBe('ns');
    expect(file.traceEvents.length).toBeGreaterThan(0);
    for (const e of file.traceEvents) {
      expect(typeof e.name, JSON.stringify(e)).toBe('string');
      expect(Number.isInteger(e.pid), JSON.stringify(e)).toBe(true);
      expect(Number.isInteger(e.tid), JSON.stringify(e)).toBe(true);
      expect(Number.isFinite(e.ts), JSON.stringify(e)).toBe(true);
      expect(['M', 'X', 'i', 's', 't', 'f'], JSON.stringify(e)).toContain(e.ph);
      if (e.ph === 'X') expect(e.dur! >= 0 && e.cat === 'lparlink', JSON.stringify(e)).toBe(true);
      if (e.ph === 'i') expect(e.s, JSON.stringify(e)).toBe('t');
      if (e.ph === 'M') expect(typeof e.args, JSON.stringify(e)).toBe('object');
    }
  });

  it('names one track per worker thread, as the workers are named', async () => {
    const { file } = await traced();
    const names = file.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args!.name);
    expect(names.sort()).toEqual(['hardware-0', 'partition-1', 'partition-2']);
    const tids = file.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.tid);
    expect(new Set(tids).size).toBe(3);
  });

  it('has one slice of each stage per sampled message, and the violation counters stay at zero', async () => {
    const { file, summary, violations } = await traced();
    const count = (name: string): number => file.traceEvents.filter((e) => e.ph === 'X' && e.name === name).length;
    for (const stage of ['send', 'stamp', 'verify', 'deliver', 'receive']) expect(count(stage), stage).toBe(SAMPLED);
    expect(summary).toMatchObject({ messages: SAMPLED, received: SAMPLED, incomplete: 0, dropped: 0, malformed: 0 });
    // Tracing sets no flag in a work request: the engine would count a non-zero one as badFlags.
    expect(violations).toBe(0);
  });

  it('binds every flow event right after its slice (same pid, tid, ts, cat), with unique ids', async () => {
    const { file } = await traced();
    const events = file.traceEvents;
    const phases = new Map<string, string[]>();
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      if (!FLOW_PHASES.has(e.ph)) continue;
      // Right after its slice, or after another flow event bound to the same slice.
      let j = i - 1;
      while (FLOW_PHASES.has(events[j].ph)) j--;
      const slice = events[j];
      expect(slice.ph, JSON.stringify(e)).toBe('X');
      expect([slice.pid, slice.tid, slice.ts, slice.cat]).toEqual([e.pid, e.tid, e.ts, e.cat]);
      if (e.ph === 'f') expect(e.bp).toBe('e');
      const key = `${e.name}:${e.id}`;
      phases.set(key, [...(phases.get(key) ?? []), `${e.ph}@${slice.name}`]);
    }
    const byShape = new Map<string, number>();
    for (const p of phases.values()) byShape.set(p.join(' '), (byShape.get(p.join(' ')) ?? 0) + 1);
    // Each id is one whole flow: s on send, t on verify, f on deliver; then deliver to receive.
    expect(Object.fromEntries(byShape)).toEqual({ 's@send t@verify f@deliver': SAMPLED, 's@deliver f@receive': SAMPLED });
    const ids = [...phases.keys()].map((k) => Number(k.split(':')[1]));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is recovered by a real consumer: every sampled message flows send > verify > deliver, then deliver > receive', async () => {
    const { file } = await traced();
    const { flows, threads } = await consumerFlows(file.traceEvents);
    expect(flows).toEqual({ 'send>verify>deliver': SAMPLED, 'deliver>receive': SAMPLED });
    expect(threads).toEqual(['hardware-0', 'partition-1', 'partition-2']);
  });

  it('a broken flow (its s removed) is not recovered, and the others still are', async () => {
    const { file } = await traced();
    const broken = file.traceEvents.find((e) => e.ph === 's' && e.name === 'message')!;
    const events = file.traceEvents.filter((e: TraceEvent) => e !== broken);
    const { flows } = await consumerFlows(events);
    expect(flows['send>verify>deliver']).toBe(SAMPLED - 1);
    expect(flows['deliver>receive']).toBe(SAMPLED);
  });
});

describe('a trace ring that overflows', () => {
  it('keeps the newest records, counts the dropped ones, and still draws only whole flows', async () => {
    // Every message traced into rings of 1024 records: the hardware's overflows.
    const { file, summary } = await tracedTraffic([3000, 0], { sample: 1, records: 1024 });
    expect(summary.dropped).toBeGreaterThan(0);
    expect(file.otherData.dropped).toBe(summary.dropped);
    const [machine] = Object.values(file.otherData.processes);
    expect(machine.threads['hardware-0'].dropped).toBeGreaterThan(0);
    expect(machine.threads['hardware-0'].records).toBeLessThanOrEqual(1024);
    expect(machine.messages).toBe(summary.messages);
    const { flows } = await consumerFlows(file.traceEvents);
    expect(flows['send>verify>deliver']).toBe(summary.messages);
    expect(summary.messages).toBeGreaterThan(0);
    expect(summary.messages).toBeLessThan(3000);
    expect(Object.keys(flows).every((f) => f === 'send>verify>deliver' || f === 'deliver>receive')).toBe(true);
  });
});
