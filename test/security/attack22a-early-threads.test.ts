/**
 * Attack run 22a, case 128: threads a partition started before the hardware booted. The dispatch
 * priority judges every thread the process did not have when the hardware booted and that no
 * partition names as a stranger (THREATS cases 92, 94 and 96): one that spins, or more than 32 of any
 * kind, keep anything from being lowered. The hardware listed the process's threads itself, as it
 * booted, and the partitions boot at the same time: a replacement OS's first lines had started
 * their Workers by then (5 runs of 5, read from the hardware's list), and they were never strangers.
 * Now the operator lists the threads before it starts any worker of the machine.
 *
 * The outcome checked is case 96's, which does not hang on how a loaded host shares its cores: 40
 * Workers that the hostile OS started at its first lines, all idle, beside a flood and round trips
 * elsewhere that would get the flooder lowered (test/dispatch-priority.test.ts's first case).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { DispatchPriority } from '../../src/hardware/dispatch-priority.js';

const dispatchRoles = new URL('../fixtures/dispatch-roles.mjs', import.meta.url);
const EARLY_OS = new URL('../fixtures/security/attack22a-early-os.mjs', import.meta.url);

describe.runIf(DispatchPriority.available())('128: threads a partition started before the hardware booted are strangers too (attack run 22a)', () => {
  it("the Workers a replacement OS started at its first lines are not among the threads the hardware takes for the process's own", async () => {
    await using machine = await createMachine({ testHooks: true, partitions: [{ id: 1, name: 'early-4', os: EARLY_OS }, { id: 2 }] });
    const os = machine.partition(1).os as { earlyThreads(): Promise<number[]> };
    let early: number[] = [];
    for (const deadline = Date.now() + 10_000; early.length < 4 && Date.now() < deadline; ) {
      early = await os.earlyThreads();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(early).toHaveLength(4);
    const own = (await machine.hooks!.dispatchOwnThreads())!;
    // The process's own threads are there (this one among them); none of the partition's.
    expect(own).toContain(process.pid);
    expect(early.filter((tid) => own.includes(tid))).toEqual([]);
  });

  it('40 Workers a replacement OS started at its first lines count as strangers: nothing is lowered beside them, as beside 40 started later', async () => {
    // Partition 1 makes round trips to 2; partition 3 floods a channel to itself; partition 4's OS started 40 idle Workers as it booted.
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4, name: 'early-40', os: EARLY_OS }] });
    try {
      const echo = await machine.partition(2).spawn(dispatchRoles, { role: 'echo', port: 7 });
      const sink = await machine.partition(3).spawn(dispatchRoles, { role: 'sink', port: 9 });
      const ping = await machine.partition(1).spawn(dispatchRoles, { role: 'ping', partition: 2, port: 7, ms: 1500 });
      const flood = await machine.partition(3).spawn(dispatchRoles, { role: 'flood', partition: 3, port: 9, floodMs: 700, restMs: 500 });
      const [p, , f] = (await Promise.all([ping.result, echo.result, flood.result, sink.result])) as unknown as [{ trips: number }, unknown, { sent: number; maxNice: number }];
      expect(p.trips).toBeGreaterThan(0);
      expect(f.sent).toBeGreaterThan(0);
      expect(f.maxNice).toBe(0);
      expect(machine.stats().partitions.map((s) => s.demotions)).toEqual([0, 0, 0, 0]);
    } finally {
      await machine.close();
    }
  }, 60_000);
});
