/**
 * Tracing under attack, from inside a partition worker: a partition cannot ask for its messages to
 * be traced (a flag in a work request is a violation, as without tracing), and a flood of
 * violations is recorded at a bounded rate, so it cannot push the honest partitions' records out
 * of the hardware's trace ring. A partition writing its own ring (it can) spoils only its own
 * records: a time no clock has reached is skipped and counted, not written as JSON's missing
 * `Infinity`, which made the whole file unreadable (THREATS case 45).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';
import { rawChannel, withBench } from '../security/harness.js';
import { consumerFlows, type TraceFile } from './helpers.js';

const HOSTILE = 3;
const PEER = 4;
const SAMPLE = 4;
const FLAGGED = 2000;

async function exported(machine: { exportTrace(to: PassThrough): Promise<unknown> }): Promise<TraceFile> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await machine.exportTrace(out);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as TraceFile;
}

describe('a hostile partition and the trace', () => {
  it('flagged work requests are refused and counted, traced at a bounded rate, and the honest flows all survive', async () => {
    await withBench({ hostile: [HOSTILE, PEER], trace: { sample: SAMPLE } }, async (b) => {
      const os = b.os(HOSTILE);
      const own = await rawChannel(b, HOSTILE, 0, PEER, 0, 9);
      let written = 0;
      while (written < FLAGGED) {
        // A non-zero flags word: what "trace this message" would look like if the hardware took it from the partition.
        const at = await os.send(0, own.send, [1, 2, 3, 4], 1);
        if (at === 'FULL') await new Promise((r) => setTimeout(r, 1));
        else written++;
      }
      await expect.poll(() => b.violations(HOSTILE), { timeout: 30_000 }).toEqual({ total: FLAGGED, badFlags: FLAGGED });
      // Nothing reached the peer.
      expect(await b.os(PEER).readReceive(0)).toEqual([]);
      const { echoed } = await b.honest.finish();

      const file = await exported(b.machine);
      const violations = file.traceEvents.filter((e) => e.name === 'violation');
      // The first 64 of a partition's violations, then one in 1024.
      expect(violations.length).toBe(64 + Math.floor(FLAGGED / 1024));
      expect(new Set(violations.map((e) => JSON.stringify(e.args)))).toEqual(new Set([JSON.stringify({ partition: HOSTILE, kind: 'badFlags' })]));
      // The honest pair's messages, one channel each way: every sampled one is followed whole.
      const sampled = 2 * Math.floor(echoed / SAMPLE);
      const { flows } = await consumerFlows(file.traceEvents);
      expect(flows).toEqual({ 'send>verify>deliver': sampled, 'deliver>receive': sampled });
      expect(file.otherData.dropped).toBe(0);
      // A replacement OS is not traced, and the hardware stamped none of the refused requests.
      const stamps = file.traceEvents.filter((e) => e.name === 'stamp');
      expect(stamps.length).toBe(sampled);
      expect(stamps.every((e) => e.args!.from !== HOSTILE)).toBe(true);
    });
  });

  it('45: a record with a time from the future, forged in a partition’s own ring, is skipped and counted; the file still parses', async () => {
    await using machine = await createMachine({ wait: 'sleep', trace: { sample: 1 }, partitions: [{ id: 1, name: 'forger' }, { id: 2 }] });
    await machine.partition(1).spawn(new URL('./fixtures/time-forger.mjs', import.meta.url), { t0: 1e307 });
    await new Promise((r) => setTimeout(r, 100));
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    const summary = await machine.exportTrace(out);
    const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TraceFile;
    expect(summary.malformed).toBeGreaterThanOrEqual(1);
    expect(file.traceEvents.some((e) => e.name === 'receive')).toBe(false);
  });
});

