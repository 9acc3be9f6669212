/**
 * Attack run 10: dispatch priority (createMachine({ demoteFlooders })) against a partition that
 * streamed beside round trips and then only computes. The hardware reviewed, and so set a lowered
 * thread back, only while it ran: a hostile partition made round trips beside an honest stream (the
 * hardware lowered the stream's thread, as designed), stopped them the moment the stream ended, so
 * that the whole machine went quiet before any review could set the stream back, and then spun two
 * threads of its own. Nothing woke the hardware, so the honest partition computed at nice 19 beside
 * them: measured on 2 cores, 12–153 units of work in 1 s against 356–1438 with demoteFlooders off.
 * The fixed hardware wakes every CALM_MS while it holds a thread lowered, and sets it back.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DEMOTED_NICE, DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const roles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);
const attack = new URL('../fixtures/security/attack10-roles.mjs', import.meta.url);

interface Computed {
  niceFlooding: number;
  niceComputing: number;
  niceAfter: number;
  units: number;
  unitsLowered: number;
}

describe.runIf(DispatchPriority.available())('attack 10: a lowered partition on a machine gone quiet', () => {
  // The premise (the stream lowered beside the round trips) needs their thread to wait for its replies, which a host loaded past its cores can keep it from: such a run tries again.
  it('a partition lowered while it streamed, that then computes without sending, is set back although nothing rings (the round trips beside it stopped when it ended its stream, and their threads spin)', { retry: 2 }, async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    try {
      // Set by the honest stream when it ends: the hostile partition could tell the moment from its round trips' latency; the test tells it.
      const ended = new SharedArrayBuffer(4);
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const hostile = await machine.partition(3).spawn(attack, { role: 'lowerThenSpin', partition: 3, port: 5, ended, spinners: 2, spinMs: 1500 });
      const honest = await machine.partition(1).spawn(attack, { role: 'floodThenCompute', partition: 2, port: 9, floodMs: 400, computeMs: 700, ended });
      const [h] = (await Promise.all([honest.result, hostile.result, sink.result])) as unknown as [Computed, unknown, unknown];
      // The attack's premise: the stream was lowered beside the round trips, as designed.
      expect(h.niceFlooding).toBe(DEMOTED_NICE);
      expect(machine.stats().partitions[0].demotions).toBeGreaterThanOrEqual(1);
      expect(machine.stats().partitions[2].demotions).toBe(0);
      // Set back while it computes, with nothing on any ring (CALM_MS after the round trips stopped, and one wake of the hardware's).
      expect(h.niceAfter).toBe(0);
      expect(h.unitsLowered).toBeLessThan(h.units);
    } finally {
      await machine.close();
    }
  });
});
