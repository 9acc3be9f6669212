/**
 * What attack run 22a tried against the observability fed by partitions, the wake-up protocol and
 * the dispatch priority, and found holding (docs/THREATS.md, "Held (attack run 22a …)"), each with
 * its exact outcome.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { waitFor, withBench } from './harness.js';
import type { TraceFile } from '../trace/helpers.js';

const ROLES = new URL('../fixtures/security/attack22a-roles.mjs', import.meta.url);
const H = 3;
const R = 4;
const SAMPLE = 4;
const VALID = 200;

describe('attack run 22a: what held', () => {
  it("refused SENDs between a raw sender's messages do not shift the hardware's message numbers from a traced reader's: its sampled delivers and the reader's receives are the same messages, 4, 8, …, 200", async () => {
    await withBench({ hostile: [H], standard: [R], trace: { sample: SAMPLE } }, async (b) => {
      const reader = await b.machine.partition(R).spawn(ROLES, { role: 'reader', port: 11, count: VALID });
      const os = b.os(H);
      await os.open(0);
      let c: { ok: boolean; handle: number } = { ok: false, handle: 0 };
      await waitFor('the reader to listen', async () => (c = await os.connect(0, R, 11)).ok);
      const bytes = (n: number, size = 16) => Array.from({ length: size }, (_, i) => (i < 4 ? (n >>> (8 * i)) & 0xff : 0));
      const put = async (record: () => Promise<unknown>) => {
        while ((await record()) === 'FULL') await new Promise((r) => setTimeout(r, 1));
      };
      for (let n = 0; n < VALID; n++) {
        await put(() => os.send(0, c.handle, bytes(n)));
        // After each valid one, refused ones on the same channel: past maxMessageBytes, a flag, a handle of another generation (staleHandle).
        if (n % 3 === 0) await put(() => os.send(0, c.handle, bytes(n, 300)));
        if (n % 5 === 0) await put(() => os.send(0, c.handle, bytes(n), 1));
        if (n % 7 === 0) await put(() => os.send(0, (c.handle + (1 << 16)) >>> 0, bytes(n)));
      }
      const { seen } = (await reader.result) as { seen: number[] };
      expect(seen).toEqual(Array.from({ length: VALID }, (_, n) => n));
      expect(b.violations(H)).toEqual({ total: 67 + 40 + 29, messageSize: 67, badFlags: 40, staleHandle: 29 });
      await b.honest.finish();

      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on('data', (chunk: Buffer) => chunks.push(chunk));
      const summary = await b.machine.exportTrace(out);
      const file = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TraceFile;
      const rid = R;
      // The hardware numbered the channel's messages as the reader did: its sampled delivers to R are 4, 8, …, 200, and so are R's receives.
      const delivers = file.traceEvents.filter((e) => e.ph === 'X' && e.name === 'deliver' && e.args?.to === rid).map((e) => e.args!.message);
      const sampled = Array.from({ length: VALID / SAMPLE }, (_, i) => (i + 1) * SAMPLE);
      expect(delivers).toEqual(sampled);
      const readerTid = file.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === `standard-${R}`)!.tid;
      const receives = file.traceEvents.filter((e) => e.ph === 'X' && e.name === 'receive' && e.tid === readerTid).map((e) => e.args!.message);
      expect(receives).toEqual(sampled);
      // The raw sender traces nothing (a replacement OS is not traced), so no arrow is drawn for its messages: each sampled one counted incomplete.
      expect(summary.incomplete).toBe(VALID / SAMPLE);
      expect(file.traceEvents.filter((e) => ['s', 't', 'f'].includes(e.ph) && e.tid === readerTid)).toEqual([]);
    });
  }, 120_000);
});
