/**
 * What attack run 10 tried against dispatch priority (createMachine({ demoteFlooders })) and
 * found to hold, each with its exact outcome. A hostile partition floods an honest echo server
 * (two echo programs in one honest partition: one for the attacker, one for an honest client's
 * round trips): the hardware lowers whatever saturates, here the honest server too (its replies
 * fill the budget; measured: honest round trips 3166–3791 with the feature on, 495–528 off, so
 * the lowering still helped them), but only ever the partitions' own threads, and sets them back.
 */
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const attack = new URL('../fixtures/security/attack10-roles.mjs', import.meta.url);
const roles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);

describe.runIf(DispatchPriority.available())('attack run 10: dispatch priority', () => {
  it("a flood through an honest echo server lowers only partitions' own threads (never the hardware's, the operator's or a helper thread of the process), and none stays lowered after", async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    const lowered = new Set<number>();
    const sample = setInterval(() => {
      for (const t of readdirSync('/proc/self/task')) {
        try {
          if (getPriority(Number(t)) !== 0) lowered.add(Number(t));
        } catch {
          // ended meanwhile
        }
      }
    }, 2);
    try {
      const forHostile = await machine.partition(1).spawn(attack, { role: 'echo', port: 7 });
      const forHonest = await machine.partition(1).spawn(attack, { role: 'echo', port: 8 });
      const ping = await machine.partition(2).spawn(roles, { role: 'ping', partition: 1, port: 8, ms: 800 });
      const flood = await machine.partition(3).spawn(attack, { role: 'floodEcho', partition: 1, port: 7, ms: 800 });
      const [p, f, e] = (await Promise.all([ping.result, flood.result, forHostile.result, forHonest.result])) as unknown as [{ trips: number; maxNice: number }, { tid: number }, { tid: number }];
      await new Promise((r) => setTimeout(r, 300));
      clearInterval(sample);
      expect(p.trips).toBeGreaterThan(0);
      expect(p.maxNice).toBe(0);
      for (const t of lowered) expect([f.tid, e.tid]).toContain(t);
      for (const t of readdirSync('/proc/self/task')) expect(getPriority(Number(t)), `thread ${t}`).toBe(0);
      expect(machine.stats().partitions[1].demotions).toBe(0);
    } finally {
      clearInterval(sample);
      await machine.close();
    }
  });
});
