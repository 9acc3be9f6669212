/**
 * Attack run 11: dispatch priority (createMachine({ demoteFlooders })), the rule that a lowered
 * flood's drains go down with it. It lowered every port that had 64 or more messages a millisecond
 * delivered while any flooder was lowered, whatever it drained. Two hostile partitions flood each
 * other (one lowered, as designed), and a third feeds an honest partition 60 messages every 0.4 ms,
 * its thread asleep between them: light serves from a thread that waits (they count as the round
 * trips beside the flood), and about 100 messages a millisecond for the honest partition. The honest
 * one (computing 1 ms in every 2.5) was lowered to nice 19 as the flood's drain, though no message of the flood reached it, and
 * computed at nice 19 beside threads at 0. Now a drain goes down only with the lowered flooder
 * whose queue pairs send to it (the channel each last sent on).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DEMOTED_NICE, DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const roles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);
const attack = new URL('../fixtures/security/attack11-roles.mjs', import.meta.url);

interface Drained {
  received: number;
  units: number;
  unitsLowered: number;
  maxNice: number;
  niceAfter: number;
}

describe.runIf(DispatchPriority.available())('attack 11: a partition that drains a light feed beside an unrelated flood', () => {
  // The premise (the hostile flood lowered beside the feed's light serves) needs the feeder's thread to wait, which a host loaded past its cores can keep it from: such a run tries again.
  it('is not lowered as the drain of a flood none of whose messages reach it', { retry: 4 }, async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
    try {
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const honest = await machine.partition(4).spawn(attack, { role: 'drainCompute', port: 7, ms: 1000, restMs: 1.5 });
      const feed = await machine.partition(3).spawn(attack, { role: 'feed', partition: 4, port: 7, batch: 60, gapMs: 0.4, ms: 1000 });
      const flood = await machine.partition(1).spawn(roles, { role: 'flood', partition: 2, port: 9, floodMs: 900, restMs: 0 });
      const [f, s, fed, h] = (await Promise.all([flood.result, sink.result, feed.result, honest.result])) as unknown as [{ sent: number; maxNice: number }, { received: number }, { sent: number }, Drained];
      // The premise: the hostile flood was lowered beside the feed's light serves, and its own drain with it.
      expect(f.maxNice).toBe(DEMOTED_NICE);
      expect(s.received).toBe(f.sent);
      expect(machine.stats().partitions[0].demotions).toBeGreaterThanOrEqual(1);
      // The honest partition drained only the feed, every message of it, and was never lowered.
      expect(h.received).toBe(fed.sent);
      expect(h.maxNice).toBe(0);
      expect(h.unitsLowered).toBe(0);
      expect(machine.stats().partitions[3].demotions).toBe(0);
      expect(machine.stats().partitions[2].demotions).toBe(0);
    } finally {
      await machine.close();
    }
  });
});
