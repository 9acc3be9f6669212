/**
 * Attack run 11: dispatch priority (createMachine({ demoteFlooders })), the cost of its reviews. While
 * a port floods beside round trips, each 20 ms sample reads /proc/self/task and the schedstat of every
 * thread no partition's port accounts for. A hostile partition that started 150 Workers that only
 * sleep made those reads cost the hardware more than the lowering gained. Measured on 2 cores over
 * 1 s, an honest stream beside an honest request/response pair: with demoteFlooders on, 430k–660k
 * messages and 536–1,665 round trips; with it off, 1.28–2.06M and 1,151–1,550 (without the Workers,
 * on: 1.2M and 9,376–11,780 round trips). Now more than 32 strangers that no partition names count
 * as a busy stranger, unread: nothing is lowered while they run, as with demoteFlooders off (after:
 * 0.95–1.31M messages, 980–1,587 round trips).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const roles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);
const attack = new URL('../fixtures/security/attack11-roles.mjs', import.meta.url);

describe.runIf(DispatchPriority.available())('attack 11: a partition with many Workers of its own', () => {
  it('150 sleeping Workers of one partition leave every partition at its priority (their schedstats are not read every 20 ms)', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }] });
    try {
      const ready = new SharedArrayBuffer(4);
      const release = new SharedArrayBuffer(4);
      const idle = await machine.partition(5).spawn(attack, { role: 'idleWorkers', n: 150, ms: 30_000, ready, release });
      // Until every Worker has started: the run then sees all of them.
      while (Atomics.load(new Int32Array(ready), 0) === 0) await new Promise((r) => setTimeout(r, 20));
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const echo = await machine.partition(4).spawn(roles, { role: 'echo', port: 7 });
      const ping = await machine.partition(3).spawn(roles, { role: 'ping', partition: 4, port: 7, ms: 1000 });
      const flood = await machine.partition(1).spawn(roles, { role: 'flood', partition: 2, port: 9, floodMs: 1000, restMs: 0 });
      const [f, s, p] = (await Promise.all([flood.result, sink.result, ping.result, echo.result])) as unknown as [{ sent: number; maxNice: number }, { received: number; maxNice: number }, { trips: number; maxNice: number }];
      expect(p.trips).toBeGreaterThan(10);
      expect(s.received).toBe(f.sent);
      expect([f.maxNice, s.maxNice, p.maxNice]).toEqual([0, 0, 0]);
      expect(machine.stats().partitions.map((x) => x.demotions)).toEqual([0, 0, 0, 0, 0]);
      // Every Worker slept through the run, until released.
      Atomics.store(new Int32Array(release), 0, 1);
      Atomics.notify(new Int32Array(release), 0);
      expect(((await idle.result) as unknown as { released: number }).released).toBe(150);
    } finally {
      await machine.close();
    }
  });
});
