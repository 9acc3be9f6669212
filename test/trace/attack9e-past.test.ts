/**
 * Case 89, from inside a partition: records a program forges in its own partition's trace ring
 * with times from before the ring existed (0 µs, 1 µs: the clock counts from the host's boot) are
 * skipped and counted malformed, as case 45's times from the future are, so the file's timeline is
 * the machine's run, not the hours since boot; and a record of a wait only the hardware has (on the
 * doorbells, naming another partition as the one that woke it) is left out of the partition's track.
 */
import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { traceNow } from '../../src/shared/trace-ring.js';
import type { TraceFile } from './helpers.js';

it('89: a partition’s records stamped before its ring existed are skipped and counted, and its “woken by another partition’s doorbell” is left out', async () => {
  const before = traceNow();
  // Nothing of the run's own is sampled: the ring holds only what the program wrote (the thread's
  // writer keeps its own count and would write over the forged records).
  await using machine = await createMachine({ wait: 'sleep', trace: { sample: 1_000_000 }, partitions: [{ id: 1, name: 'forger' }, { id: 2, name: 'other' }] });
  const program = await machine.partition(1).spawn(new URL('./fixtures/past-forger.mjs', import.meta.url), { other: 1 });
  const written = (await program.result) as number;
  expect(written).toBe(4);
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const summary = await machine.exportTrace(out);
  const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TraceFile;
  const forger = file.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args!.name === 'forger')!.tid;
  // The two records stamped before the ring are counted; the doorbell wake-up is no record of a partition's.
  expect(summary.malformed).toBe(2);
  expect(file.traceEvents.filter((e) => e.ph !== 'M' && e.tid === forger).map((e) => [e.name, e.args])).toEqual([['sleep', { on: 'receive ring', queuePair: 0 }]]);
  expect(file.traceEvents.filter((e) => e.ph !== 'M').every((e) => e.ts >= before)).toBe(true);
});
