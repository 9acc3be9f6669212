/**
 * Regression cover from the fifth attack run, for a probe that found nothing: a traced partition
 * that scribbles every record of its own trace ring (known kinds, fields all ones, times out of
 * order but none in the future) and forges its count of records written to 0xFFFFFFFF. The export
 * parses; the scribbles land on the scribbler's own track only (no flow arrow, no hardware stage
 * named after them); the forged count shows as that thread's dropped records and nobody else's.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const RECORDS = 1024;

describe('fifth attack run: a partition scribbling on its own trace ring', () => {
  it('the export parses, the scribbles stay on its track, the forged count is its own dropped records', async () => {
    await using machine = await createMachine({ wait: 'sleep', trace: { sample: 1, records: RECORDS }, partitions: [{ id: 1, name: 'scribbler' }, { id: 2 }] });
    const ready = new SharedArrayBuffer(4);
    await machine.partition(1).spawn(new URL('../fixtures/security/trace-scribbler.mjs', import.meta.url), { ready });
    await expect.poll(() => Atomics.load(new Int32Array(ready), 0), { timeout: 10_000, interval: 5 }).toBe(1);
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const summary = await machine.exportTrace(out);
    const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      traceEvents: { ph: string; name: string; tid: number; args?: Record<string, unknown> }[];
      otherData: { processes: Record<string, { threads: Record<string, { records: number; dropped: number }> }> };
    };
    expect(summary).toMatchObject({ messages: 0, received: 0, incomplete: 0, malformed: 0, dropped: 0xffffffff - RECORDS });
    const threads = Object.values(file.otherData.processes)[0].threads;
    expect(threads.scribbler).toEqual({ records: RECORDS, dropped: 0xffffffff - RECORDS });
    expect(threads['partition-2'].dropped).toBe(0);
    expect(threads['hardware-0'].dropped).toBe(0);
    // No flow events, and no hardware stage drawn from a partition's ring.
    expect(file.traceEvents.filter((e) => ['s', 't', 'f'].includes(e.ph))).toEqual([]);
    expect(file.traceEvents.filter((e) => ['stamp', 'verify', 'deliver', 'link send', 'link deliver', 'violation'].includes(e.name))).toEqual([]);
  });
});
