/**
 * Regression cover (the fourth attack run of wave 21, which found nothing here): a partition
 * restarted while its messages wait kept aside for an honest reader (or an honest sender's wait
 * kept for it), and two colluding partitions with a channel between them beside the honest pair.
 * The honest side gets the old run's messages in order, then EPEERDEAD, then only the new run's;
 * the colluders (a kept backlog at its bound, a doorbell storm, a reader that releases past its
 * producer and resets in a loop) leave the honest pair its rate and the hardware running.
 */
import { describe, expect, it } from 'vitest';
import { RecordType, Status } from 'lparlink/internal';
import { completionCounts, completions, numbered, rawChannel, receiveAll, waitFor, withBench } from './harness.js';

const A = 3;
const B = 4;
const C = 5;

/**
 * Up to 80 numbered 64-byte messages on `first` (until its ring is full), and after every tenth one
 * on `second`, so that work of the process waits behind `first`'s; returns how many went on `first`.
 */
async function sendBeside(os: any, first: number, second: number): Promise<number> {
  let sent = 0;
  for (let i = 0; i < 80; i++) {
    const r = await os.send(0, first, numbered(i, 64));
    if (r === 'FULL' || r === 'FAULT') break;
    sent++;
    if (i % 10 === 9) await os.send(0, second, numbered(900 + i, 16));
  }
  return sent;
}

describe('restart and collusion beside an honest partition', () => {
  it('the honest reader sees old run in order, EPEERDEAD, then only the new run', async () => {
    await withBench({ hostile: [A, B, C] }, async (b) => {
      const c = b.os(C);
      const ch1 = await rawChannel(b, A, 0, C, 0, 30);
      const ch2 = await rawChannel(b, A, 0, B, 0, 31);
      const a = b.os(A);
      const sent = await sendBeside(a, ch1.send, ch2.send);
      // Restart only once the hardware took every one of them (into C's ring, or kept aside for
      // it): what still waits in A's own send ring is A's memory and goes with the old run. Kept
      // messages appear before the last is taken, so `kept > 0` alone raced a loaded CI host.
      await waitFor('every message on ch1 in C\'s ring or kept for it', () => {
        const s = b.stats(C);
        return s.kept > 0 && s.delivered + s.kept >= sent;
      });
      await b.machine.partition(A).restart();
      const na = b.os(A);
      expect(await na.open(0)).toMatchObject({ ok: true });
      // Reconnect at once, while the old run's messages are still kept for C.
      const cn = await na.connect(0, C, 30);
      expect(cn).toMatchObject({ ok: true });
      const acc = await c.accept(0, 30);
      expect(acc).toMatchObject({ ok: true });
      for (let i = 0; i < 5; i++) await na.send(0, cn.handle, numbered(1000 + i, 64));
      const got = await receiveAll(c, 0, sent + 1 + 5);
      const old = got.filter((r) => r.channel === ch1.receive);
      const fresh = got.filter((r) => r.channel === acc.handle);
      expect(old.length + fresh.length).toBe(got.length);
      expect(old.slice(0, sent).map((r) => r.bytes)).toEqual(Array.from({ length: sent }, (_, i) => numbered(i, 64)));
      expect(old.slice(sent)).toEqual([{ type: RecordType.END, channel: ch1.receive, status: Status.EPEERDEAD, bytes: [] }]);
      expect(fresh.map((r) => r.bytes)).toEqual(Array.from({ length: 5 }, (_, i) => numbered(1000 + i, 64)));
      await new Promise((r) => setTimeout(r, 100));
      expect(await c.readReceive(0)).toEqual([]);
      expect(b.stats(C).kept).toBe(0);
      expect(b.violations(C)).toEqual({});
      await b.honest.finish();
    });
  }, 60_000);

  it('an honest sender whose messages wait kept for a partition that restarts hears EPEERDEAD for all of them; the new run gets nothing', async () => {
    await withBench({ hostile: [A, B, C] }, async (b) => {
      const c = b.os(C);
      const ch1 = await rawChannel(b, C, 0, A, 0, 30);
      const ch2 = await rawChannel(b, C, 0, B, 0, 31);
      expect(await sendBeside(c, ch1.send, ch2.send)).toBeGreaterThan(0);
      await waitFor('kept messages for A', () => b.stats(A).kept > 0);
      await b.machine.partition(A).restart();
      const na = b.os(A);
      expect(await na.open(0)).toMatchObject({ ok: true });
      expect(await na.listen(0, 30)).toMatchObject({ ok: true });
      const cn = await c.connect(0, A, 30);
      expect(cn).toMatchObject({ ok: true });
      const acc = await na.accept(0, 30);
      expect(acc).toMatchObject({ ok: true });
      await c.send(0, cn.handle, numbered(5000, 64));
      const got = await receiveAll(na, 0, 1);
      expect(got).toEqual([{ type: RecordType.DATA, channel: acc.handle, status: 0, bytes: numbered(5000, 64) }]);
      const done = await completions(c, 0, 1);
      await new Promise((r) => setTimeout(r, 100));
      done.push(...(await c.readCompletions(0)));
      // Every SEND on ch1 not delivered to the old run is answered EPEERDEAD, and nothing else is answered.
      expect(completionCounts(done)).toEqual({ [Status.EPEERDEAD]: expect.any(Number) });
      expect(done.every((d) => d.channel === ch1.send)).toBe(true);
      expect(await na.readReceive(0)).toEqual([]);
      expect(b.stats(A).kept).toBe(0);
    });
  }, 60_000);

  it('a colluding pair (kept backlog at its bound, reader storms its doorbell and never reads) leaves the honest pair its rate', async () => {
    await withBench({ hostile: [A, B] }, async (b) => {
      const [a, bb] = [b.os(A), b.os(B)];
      const chs = [];
      for (let k = 0; k < 6; k++) chs.push(await rawChannel(b, A, 0, B, 0, 40 + k));
      const t0 = b.honest.progress();
      await new Promise((r) => setTimeout(r, 1000));
      const base = b.honest.progress() - t0;
      await bb.startHelper('storm', {});
      let n = 0;
      const until = Date.now() + 1500;
      const t1 = b.honest.progress();
      while (Date.now() < until) {
        for (const ch of chs) {
          const r = await a.send(0, ch.send, numbered(n++, 200));
          if (r === 'FULL') {
            await a.readCompletions(0);
            await new Promise((r) => setTimeout(r, 1));
          }
        }
      }
      const during = b.honest.progress() - t1;
      expect(b.stats(B).kept, 'the colluders kept a backlog aside').toBeGreaterThan(0);
      // A tenth leaves room for a loaded 2-core host (as in the flood cases).
      expect(during, `honest messages: ${base} in 1 s before, ${during} in 1.5 s during`).toBeGreaterThan(base / 10);
      await bb.stopHelper?.();
      await b.honest.finish();
    });
  }, 60_000);

  it('a reader that releases past its producer and resets in a loop while its colluder keeps messages kept for it: the hardware survives, the honest pair runs', async () => {
    await withBench({ hostile: [A, B] }, async (b) => {
      const [a, bb] = [b.os(A), b.os(B)];
      const chs = [await rawChannel(b, A, 0, B, 0, 50), await rawChannel(b, A, 0, B, 0, 51)];
      const mark = b.honest.progress();
      let n = 0;
      let resets = 0;
      for (let round = 0; round < 30; round++) {
        for (let i = 0; i < 40; i++) for (const ch of chs) {
          const r = await a.send(0, ch.send, numbered(n++, 100));
          if (r === 'FULL') await a.readCompletions(0);
        }
        const w = (await bb.words(0)).receive;
        const prod = await bb.getWord(w.producer);
        await bb.setWord(w.consumer, round % 2 === 0 ? prod + 64 : prod - 8 * w.capacity);
        await bb.doorbell(3);
        await a.send(0, chs[0].send, numbered(n++, 100));
        const r = await waitFor('B faulted', async () => { const x = await bb.reset(0); return x?.ok ? x : undefined; }, 5000).catch(() => undefined);
        if (r) resets++;
        await a.readCompletions(0);
      }
      expect(resets).toBeGreaterThan(0);
      expect(b.violations(A)).toEqual({});
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  }, 120_000);
});
