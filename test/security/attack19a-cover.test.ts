/**
 * What attack run 19a tried against the data path and found holding (docs/THREATS.md, "Found
 * nothing (attack run 19a)"). Each attack comes from inside a partition: partition 3 runs the
 * hostile OS and writes its send ring by hand, partition 4 (and 5) run honest programs, and the
 * honest echo pair of the bench (partitions 1 and 2) keeps talking throughout and loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { Status } from '../../src/shared/errors.js';
import { RecordType } from '../../src/shared/layout.js';
import { completionCounts, completions, numbered, waitFor, withBench, type Bench } from './harness.js';

const ROLES = new URL('../fixtures/security/attack19a-roles.mjs', import.meta.url);
const HOSTILE = 3;
const READER = 4;
const PORT = 19;
/** SMALL's maxMessageBytes (harness.ts). */
const MAX = 256;

/** Connect hostile queue pair `qp` to READER:PORT once the reader listens. */
async function connectWhenListening(b: Bench, qp: number): Promise<number> {
  const c = await waitFor('the reader to listen', async () => {
    const r = await b.os(HOSTILE).connect(qp, READER, PORT);
    return r.ok ? r : r.code === 'ECONNREFUSED' ? undefined : Promise.reject(new Error(JSON.stringify(r)));
  });
  return c.handle as number;
}

describe('attack run 19a: the engine\'s runs against its general path, from a hostile send ring', () => {
  // Untraced, the engine takes the well-formed SENDs of one channel a run at a time (sendRun) and
  // hands every record a run stops at to the general path; traced with every message sampled, it
  // takes no run at all. Both must answer the same records the same way.
  for (const trace of [undefined, { sample: 1 }] as const) {
    it(`one published batch that mixes well-formed SENDs with every refusal a run stops at (${trace ? 'traced, sample 1: no runs' : 'untraced: runs'})`, async () => {
      await withBench({ hostile: [HOSTILE], standard: [READER], ...(trace ? { trace } : {}) }, async (b) => {
        const os = b.os(HOSTILE);
        expect((await os.open(0)).ok).toBe(true);
        const reader = await b.machine.partition(READER).spawn(ROLES, { role: 'collect', port: PORT, channels: 2 });
        // A first channel, closed at once: its handle names slot 0 of an older generation once the
        // second channel takes the slot.
        const stale = await connectWhenListening(b, 0);
        await os.close(0, stale);
        expect(await completions(os, 0, 1)).toEqual([{ status: Status.OK, channel: stale, opcode: RecordType.CLOSE, count: 1 }]);
        const h = await connectWhenListening(b, 0);
        expect(h & 0xf).toBe(stale & 0xf);
        expect(h).not.toBe(stale);

        const m = (i: number) => numbered(i);
        const batch: Array<Record<string, unknown>> = [
          { words: [h, 0], bytes: m(0) },
          { words: [h, 0], bytes: m(1) },
          { words: [h, 0], bytes: new Array(MAX + 1).fill(0xee) }, // messageSize
          { words: [h, 0], bytes: m(2) },
          { words: [h, 1], bytes: new Array(16).fill(0xee) }, // badFlags
          { words: [h, 0], bytes: m(3) },
          { bodyBytes: 4, words: [h] }, // badLength: no room for the flags
          { words: [h, 0], bytes: m(4) },
          { words: [5, 0], bytes: new Array(16).fill(0xee) }, // badHandle: slot 5's next handle, never issued
          { words: [h, 0], bytes: m(5) },
          { words: [stale, 0], bytes: new Array(16).fill(0xee) }, // staleHandle: slot 0's older generation
          { words: [h, 0], bytes: m(6) },
          { type: 99, bodyBytes: 8, words: [h, 0] }, // badOpcode
          { words: [h, 0], bytes: m(7) },
          { type: RecordType.CLOSE, words: [h, 0] },
          { words: [h, 0], bytes: new Array(16).fill(0xee) }, // ECLOSED: after its own CLOSE
        ];
        for (const r of batch) expect(await os.writeRecord(0, { ...r, publish: false })).toBeGreaterThan(0);
        await os.publish(0);

        const [first, second] = (await reader.result) as Array<{ got: number[][]; end: string }>;
        expect(first).toEqual({ got: [], end: 'clean' });
        expect(second).toEqual({ got: [0, 1, 2, 3, 4, 5, 6, 7].map(m), end: 'clean' });
        const answers = await completions(os, 0, 8);
        expect(completionCounts(answers)).toEqual({
          [Status.EMSGSIZE]: 1,
          [Status.EINVAL]: 4,
          [Status.ESTALE]: 1,
          [Status.OK]: 1,
          [Status.ECLOSED]: 1,
        });
        expect(b.violations(HOSTILE)).toEqual({ total: 6, messageSize: 1, badFlags: 1, badLength: 1, badHandle: 1, staleHandle: 1, badOpcode: 1 });
        const [hostile, r] = [b.stats(HOSTILE), b.stats(READER)];
        expect([hostile.sent, hostile.sendErrors]).toEqual([8, 1]);
        expect([r.delivered, r.violations.total, r.sendErrors]).toEqual([8, 0, 0]);
        await b.honest.finish();
      });
    }, 120_000);
  }
});

describe('attack run 19a: what a reader\'s kept views show through .buffer', () => {
  it('slabs hold only what their process received, or zero: never the residue a hostile send ring holds past a payload, nor another process\'s messages', async () => {
    await withBench({ hostile: [HOSTILE], standard: [READER, 5] }, async (b) => {
      const os = b.os(HOSTILE);
      // The reader keeps every message of two channels: short 0xA5 messages (0 to 7 bytes) from the
      // hostile partition and 0x11 ones from partition 5. Beside it, in the same partition, another
      // process keeps 0x77 messages of partition 5.
      const reader = await b.machine.partition(READER).spawn(ROLES, { role: 'slabKeeper', port: PORT, channels: 2, allowed: [0xa5, 0x11] });
      const other = await b.machine.partition(READER).spawn(ROLES, { role: 'slabKeeper', port: PORT + 1, channels: 1, allowed: [0x77] });
      const honest = await b.machine.partition(5).spawn(ROLES, { role: 'filler', partition: READER, port: PORT, n: 2000, longest: MAX, fill: 0x11 });
      const beside = await b.machine.partition(5).spawn(ROLES, { role: 'filler', partition: READER, port: PORT + 1, n: 2000, longest: MAX, fill: 0x77 });
      // The hostile partition's own channel to itself (queue pair 0 to 1) fills its send ring with
      // 0x5C, so that what its short messages leave past their payloads there is 0x5C.
      expect((await os.open(0)).ok).toBe(true);
      expect((await os.open(1)).ok).toBe(true);
      expect((await os.listen(1, 30)).ok).toBe(true);
      const self = await os.connect(0, HOSTILE, 30);
      expect(self.ok).toBe(true);
      expect((await os.accept(1, 30)).ok).toBe(true);
      const h = await connectWhenListening(b, 0);
      const residue = new Array(MAX).fill(0x5c);
      let sent = 0;
      for (let i = 0; sent < 800; i++) {
        const self_ = i % 8 === 0;
        const at = self_ ? await os.send(0, self.handle, residue) : await os.send(0, h, new Array(sent % 8).fill(0xa5));
        if (at === 'FULL') {
          await os.readReceive(1);
          await os.readCompletions(0);
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        expect(at).toBeGreaterThan(0);
        if (!self_) sent++;
        if (i % 64 === 0) await os.readReceive(1);
      }
      await os.close(0, h);
      expect(await honest.result).toBe(2000);
      expect(await beside.result).toBe(2000);
      const seen = (await reader.result) as { kept: number; empty: number; mixed: number; buffers: number; foreign: Record<string, number> };
      expect(seen).toMatchObject({ kept: 2800, empty: 100, mixed: 0, foreign: {} });
      expect(seen.buffers).toBeGreaterThan(1);
      expect(await other.result).toMatchObject({ kept: 2000, empty: 0, mixed: 0, foreign: {} });
      expect(b.violations(HOSTILE)).toEqual({});
      expect(b.stats(READER).violations.total).toBe(0);
      await b.honest.finish();
    });
  }, 120_000);
});

describe('attack run 19a: a queue pair faulted by a forged PAD record in the middle of a run, beside `for await` and a stream', () => {
  it('the readers get every message published before the PAD and after the reset, in order, then a clean end; nothing of the faulted stretch', async () => {
    await withBench({ hostile: [HOSTILE], standard: [READER] }, async (b) => {
      const os = b.os(HOSTILE);
      expect((await os.open(0)).ok).toBe(true);
      const reader = await b.machine.partition(READER).spawn(ROLES, { role: 'iterAndStream', port: PORT });
      const iterated = await connectWhenListening(b, 0);
      const streamed = await connectWhenListening(b, 0);
      // Message i of a channel: a length from the edges (empty, one byte, the largest) and i's byte.
      const lengths = [0, 1, MAX, 7, MAX - 1, 0, 13, 8];
      const message = (i: number) => new Array(lengths[i % lengths.length]).fill(i);
      const write = async (from: number, to: number) => {
        for (let i = from; i < to; i++) {
          expect(await os.writeRecord(0, { words: [iterated, 0], bytes: message(i), publish: false })).toBeGreaterThan(0);
          expect(await os.writeRecord(0, { words: [streamed, 0], bytes: message(i), publish: false })).toBeGreaterThan(0);
        }
      };
      await write(0, 6);
      await os.publish(0);
      // A PAD record that does not run to the ring's end, and SENDs behind it in the same publish.
      expect(await os.writeRecord(0, { type: RecordType.PAD, bodyBytes: 8, publish: false })).toBeGreaterThan(0);
      await write(100, 102);
      await os.publish(0);
      const fault = await completions(os, 0, 1);
      expect(fault).toEqual([{ status: Status.EFAULT, channel: 0, opcode: expect.any(Number), count: 1 }]);
      expect((await os.reset(0)).ok).toBe(true);
      await write(6, 12);
      await os.writeRecord(0, { type: RecordType.CLOSE, words: [iterated, 0], publish: false });
      await os.writeRecord(0, { type: RecordType.CLOSE, words: [streamed, 0] });
      const got = (await reader.result) as { iterated: string[]; streamed: string[] };
      const sent = Array.from({ length: 12 }, (_, i) => message(i));
      expect(got.iterated).toEqual(sent.map((m, i) => `${m.length}x${m.length === 0 ? '-' : i}`));
      expect(got.streamed).toEqual(sent.filter((m) => m.length > 0).map((m) => `${m.length}x${m[0]}`));
      expect(b.violations(HOSTILE)).toEqual({ total: 1, badLength: 1 });
      expect([b.stats(READER).delivered, b.stats(READER).violations.total]).toEqual([24, 0]);
      await b.honest.finish();
    });
  }, 120_000);
});
