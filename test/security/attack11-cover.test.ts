/**
 * Attack run 11, dispatch priority (createMachine({ demoteFlooders })): what was tried and found to
 * hold. A thread not yet judged over 60 ms counts as a busy stranger, so a hostile partition that
 * keeps starting short-lived spinning Workers (each living 50 ms, the next started halfway through,
 * so one of them has always lived less than 60 ms) never gets an honest stream beside round trips
 * lowered: measured on 2 cores over 1 s, 33–35 Workers, no demotion, the stream sent 676k–680k
 * messages with demoteFlooders on against 582k with it off. One at a time (the next started when
 * the last ended, 8–9 a second) got the stream lowered in 1 run of 2, and it sent 1.73–2.02M
 * against 1.75M off: no loss measured.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const roles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);
const attack = new URL('../fixtures/security/attack11-roles.mjs', import.meta.url);

describe.runIf(DispatchPriority.available())('attack 11: found holding', () => {
  // A spinner's share is read from the kernel's schedstat, which adds a run-queue wait only when it
  // ends: on a host loaded past its cores (another test file's threads beside it) a spinner waiting
  // long for a core can read idle for a window (the likely cause: each of attack10-named-spinner and
  // attack11-cover failed once beside another full test run, never alone or in CI). Such a run tries again.
  it('short-lived spinning Workers, one always younger than 60 ms, keep an honest stream beside round trips from being lowered', { retry: 2 }, async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
    try {
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const spinners = await machine.partition(4).spawn(attack, { role: 'shortSpinners', lifeMs: 50, ms: 1000, overlap: true });
      const pretender = await machine.partition(3).spawn(roles, { role: 'pretender', partition: 3, port: 5, ms: 900, spinners: 0, spinMs: 0 });
      const flood = await machine.partition(1).spawn(roles, { role: 'flood', partition: 2, port: 9, floodMs: 800, restMs: 0 });
      const [f, s, p, w] = (await Promise.all([flood.result, sink.result, pretender.result, spinners.result])) as unknown as [{ sent: number; maxNice: number }, { received: number; maxNice: number }, { trips: number }, { started: number }];
      expect(w.started).toBeGreaterThan(10);
      expect(p.trips).toBeGreaterThan(10);
      expect(s.received).toBe(f.sent);
      expect([f.maxNice, s.maxNice]).toEqual([0, 0]);
      expect(machine.stats().partitions.map((x) => x.demotions)).toEqual([0, 0, 0, 0]);
    } finally {
      await machine.close();
    }
  });
});
