/**
 * THREATS cases 29 (a doorbell storm that carries a trickle of real traffic) and 30 (bounds on what
 * a partition can make the hardware hold through its control endpoint), provoked from inside
 * hostile partitions.
 */
import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { numbered, rawChannel, receiveAll, withBench } from './harness.js';

const A = 3; // the attacker
const P = 4; // a raw peer

describe('bounds on a hostile partition', () => {
  it('29: a doorbell storm that also moves a trickle of real messages is still throttled; the trickle arrives whole and in order', async () => {
    await withBench({ hostile: [A, P], wait: 'adaptive' }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      await a.startHelper('storm', {});
      const mark = b.honest.progress();
      let sent = 0;
      const received: number[][] = [];
      /** One real message every few milliseconds, drained on the far side as it goes. */
      const trickle = async (ms: number) => {
        const until = Date.now() + ms;
        while (Date.now() < until) {
          expect(await a.send(0, own.send, numbered(sent))).toEqual(expect.any(Number));
          sent++;
          if (sent % 32 === 0) received.push(...(await receiveAll(p, 0, sent - received.length)).map((r) => r.bytes));
          await new Promise((r) => setTimeout(r, 3));
        }
      };
      // Long enough for 64 suspicious sleeps in a row, whatever the trickle moves meanwhile.
      await trickle(400);
      const before = b.stats(A).doorbellWakeups;
      const started = Date.now();
      await trickle(1000);
      const wakeups = b.stats(A).doorbellWakeups - before;
      const elapsed = Date.now() - started;
      // Throttled: the stormer's doorbell is listened to once per pause (doubling to 64 ms), so about elapsed / 64
      // wake-ups plus those the pauses' first steps allow. Unthrottled, every ring that finds the hardware asleep
      // wakes it: several hundred a second, with or without the trickle.
      expect(wakeups, `${wakeups} wake-ups by the stormer's doorbell in ${elapsed} ms`).toBeLessThanOrEqual(20 + elapsed / 16);
      const storm = await a.stopHelper();
      expect(storm.rings).toBeGreaterThan(1000 * Math.max(wakeups, 1));
      // Throttling delays the stormer's own work; it never loses it.
      received.push(...(await receiveAll(p, 0, sent - received.length)).map((r) => r.bytes));
      expect(received).toEqual(Array.from({ length: sent }, (_, i) => numbered(i)));
      expect(b.stats(A)).toMatchObject({ sent, sendErrors: 0 });
      expect(b.violations(A)).toEqual({});
      await b.honest.advances(mark, 64);
      for (const id of [1, 2, P]) expect(b.stats(id).idleWakeups, `idle wake-ups of partition ${id}`).toBeLessThan(64);
      await b.honest.finish();
    });
  });

  it('30: listeners per partition are bounded: one more is EMFILE, counted, and frees up again when one closes', async () => {
    await withBench({ hostile: [A], listenersPerPartition: 8 }, async (b) => {
      const a = b.os(A);
      expect(await a.open(0)).toMatchObject({ ok: true });
      for (let port = 100; port < 108; port++) expect(await a.listen(0, port)).toEqual({ ok: true });
      const refused = await a.listen(0, 108);
      expect(refused).toMatchObject({ ok: false, code: 'EMFILE' });
      expect(refused.message).toMatch(/already holds 8 listeners \(listenersPerPartition\)/);
      expect(b.stats(A).controlRefusals).toBe(1);
      expect(await a.call('unlisten', 0, 100)).toEqual({ ok: true, refused: [] });
      expect(await a.listen(0, 108)).toEqual({ ok: true });
      expect(await a.listen(0, 109)).toMatchObject({ ok: false, code: 'EMFILE' });
      expect(b.stats(A).controlRefusals).toBe(2);
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });

  it('30: pending accepts are bounded per listener and per partition: one more is EAGAIN and counted; the waiting ones still get their channels', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      expect(await a.open(0)).toMatchObject({ ok: true });
      expect(await p.open(0)).toMatchObject({ ok: true });
      const ports = [200, 201, 202, 203, 204];
      for (const port of ports) expect(await a.listen(0, port)).toEqual({ ok: true });
      // 16 accepts wait on each of the first four listeners: 64, the partition's bound.
      // Control calls reach the hardware in order, so these are all waiting before the next ones arrive.
      const waiting = ports.slice(0, 4).flatMap((port) => Array.from({ length: 16 }, () => a.accept(0, port)));
      const perListener = await a.accept(0, 201);
      expect(perListener).toMatchObject({ ok: false, code: 'EAGAIN' });
      expect(perListener.message).toMatch(/already 16 accepts pending on port 201/);
      const perPartition = await a.accept(0, 204);
      expect(perPartition).toMatchObject({ ok: false, code: 'EAGAIN' });
      expect(perPartition.message).toMatch(/already has 64 accepts pending/);
      expect(b.stats(A).controlRefusals).toBe(2);
      // A connect settles one waiting accept, which frees a place in the partition's bound.
      expect(await p.connect(0, A, 200)).toMatchObject({ ok: true });
      const first = await waiting[0];
      expect(first).toMatchObject({ ok: true, remotePartition: P });
      const late = a.accept(0, 204);
      expect(await p.connect(0, A, 204)).toMatchObject({ ok: true });
      expect(await late).toMatchObject({ ok: true, remotePartition: P });
      expect(b.stats(A).controlRefusals).toBe(2);
      await a.send(0, first.handle, numbered(7));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(7)]);
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });

  it('30: the hardware worker runs under a heap limit of its own', async () => {
    await withBench({ hostile: [A] }, async (b) => {
      const hardware = (b.machine as unknown as { hardware: Worker }).hardware;
      expect(hardware.resourceLimits?.maxOldGenerationSizeMb).toBe(256);
      await b.honest.finish();
    });
  });
});
