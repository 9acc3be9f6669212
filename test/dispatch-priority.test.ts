/**
 * createMachine({ demoteFlooders }): a partition whose sends keep the engine's budget full beside
 * a request/response pair has its thread lowered to nice 19, and set back once it stops; the pair's
 * threads, and streams that are all backlogged, are never lowered. Each program reads its own
 * thread's nice value as the kernel sees it. Where this process could not set a thread back (not
 * Linux, no CAP_SYS_NICE), nothing is lowered at all, and the tests assert that instead.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError, type MachineOptions } from 'lparlink';
import { DEMOTED_NICE, DispatchPriority } from '../src/hardware/dispatch-priority.js';

const roles = new URL('./fixtures/dispatch-roles.mjs', import.meta.url);
const possible = DispatchPriority.available();

interface Flood {
  sent: number;
  maxNice: number;
  niceAfter: number;
}

/** Partition 3 floods a channel to itself for floodMs while partitions 1 and 2 make round trips for pingMs. */
async function floodBesidePair(options: Partial<MachineOptions> = {}) {
  const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], ...options });
  try {
    const echo = await machine.partition(2).spawn(roles, { role: 'echo', port: 7 });
    const sink = await machine.partition(3).spawn(roles, { role: 'sink', port: 9 });
    const ping = await machine.partition(1).spawn(roles, { role: 'ping', partition: 2, port: 7, ms: 1500 });
    const flood = await machine.partition(3).spawn(roles, { role: 'flood', partition: 3, port: 9, floodMs: 700, restMs: 500 });
    const [p, e, f] = (await Promise.all([ping.result, echo.result, flood.result, sink.result])) as unknown as [{ trips: number; maxNice: number }, { maxNice: number }, Flood];
    const demotions = machine.stats().partitions.map((s) => s.demotions);
    return { ping: p, echo: e, flood: f, demotions };
  } finally {
    await machine.close();
  }
}

describe('dispatch priority', () => {
  // Lowering needs the pair's threads to wait for their replies, which a host loaded past its cores
  // (a CI run's parallel test files) can keep them from: such a run tries again.
  it(
    possible
      ? 'a partition that floods beside a request/response pair runs at nice 19 while it floods and at 0 again after; the pair is never lowered'
      : 'where a lowered thread could not be set back, no partition is lowered',
    { retry: 2 },
    async () => {
      const r = await floodBesidePair();
      expect(r.ping.trips).toBeGreaterThan(0);
      expect(r.flood.sent).toBeGreaterThan(0);
      expect(r.ping.maxNice).toBe(0);
      expect(r.echo.maxNice).toBe(0);
      expect(r.flood.niceAfter).toBe(0);
      if (possible) {
        expect(r.flood.maxNice).toBe(DEMOTED_NICE);
        expect(r.demotions[0]).toBe(0);
        expect(r.demotions[1]).toBe(0);
        expect(r.demotions[2]).toBeGreaterThanOrEqual(1);
      } else {
        expect(r.flood.maxNice).toBe(0);
        expect(r.demotions).toEqual([0, 0, 0]);
      }
    },
  );

  it("a stream's drain in another partition goes down with its lowered sender, and both come back", { retry: 2 }, async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
    try {
      const echo = await machine.partition(4).spawn(roles, { role: 'echo', port: 7 });
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9, restMs: 500 });
      const ping = await machine.partition(3).spawn(roles, { role: 'ping', partition: 4, port: 7, ms: 1500 });
      const flood = await machine.partition(1).spawn(roles, { role: 'flood', partition: 2, port: 9, floodMs: 700, restMs: 500 });
      const [f, d, p] = (await Promise.all([flood.result, sink.result, ping.result, echo.result])) as unknown as [Flood, Flood & { received: number }, { maxNice: number }];
      expect(d.received).toBe(f.sent);
      if (possible) {
        expect(f.maxNice).toBe(DEMOTED_NICE);
        expect(d.maxNice).toBe(DEMOTED_NICE);
        expect(machine.stats().partitions.map((s) => s.demotions > 0)).toEqual([true, true, false, false]);
      } else {
        expect([f.maxNice, d.maxNice]).toEqual([0, 0]);
      }
      expect([f.niceAfter, d.niceAfter]).toEqual([0, 0]);
      expect(p.maxNice).toBe(0);
    } finally {
      await machine.close();
    }
  });

  it('demoteFlooders: false leaves the flooder at its priority', async () => {
    const r = await floodBesidePair({ demoteFlooders: false });
    expect(r.flood.maxNice).toBe(0);
    expect(r.demotions).toEqual([0, 0, 0]);
  });

  it('streams that are all backlogged are not lowered: none of them waits on the others for a core more than the rest', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    try {
      const sinks = await Promise.all([1, 2].map((id) => machine.partition(id).spawn(roles, { role: 'sink', port: 9 })));
      const floods = await Promise.all([1, 2].map((id) => machine.partition(id).spawn(roles, { role: 'flood', partition: id, port: 9, floodMs: 600, restMs: 0 })));
      const results = (await Promise.all(floods.map((f) => f.result))) as Flood[];
      await Promise.all(sinks.map((s) => s.result));
      for (const f of results) expect(f.maxNice).toBe(0);
      expect(machine.stats().partitions.map((s) => s.demotions)).toEqual([0, 0]);
    } finally {
      await machine.close();
    }
  });

  it("a program cannot reach its partition's thread word: the boot deleted it before any program or OS module ran", async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }] });
    try {
      const look = (await (await machine.partition(1).spawn(roles, { role: 'look' })).result) as { keys: string[]; shared: string[] };
      expect(look.keys).not.toContain('threadWord');
      expect(look.shared).toEqual(['port']);
    } finally {
      await machine.close();
    }
  });

  it('demoteFlooders that is not a boolean is refused, naming the option', async () => {
    const made = createMachine({ partitions: [{ id: 1 }], demoteFlooders: 'yes' as unknown as boolean });
    await expect(made).rejects.toBeInstanceOf(MachineError);
    await expect(made).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringMatching(/demoteFlooders.*must be a boolean/) });
  });
});

describe('dispatch priority against a partition that pretends to wait', () => {
  /** Partition 1 streams to partition 2 (backlogged) while partition 3 makes round trips to itself and spins. */
  async function streamBesidePretender(pretender: { spinners: number; spinMs: number }) {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    try {
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const hostile = await machine.partition(3).spawn(roles, { role: 'pretender', partition: 3, port: 5, ms: 900, ...pretender });
      const flood = await machine.partition(1).spawn(roles, { role: 'flood', partition: 2, port: 9, floodMs: 700, restMs: 0 });
      const [f, h] = (await Promise.all([flood.result, hostile.result, sink.result])) as unknown as [Flood, { trips: number; leastWanted: number }];
      return { flood: f, trips: h.trips, leastWanted: h.leastWanted, demotions: machine.stats().partitions.map((s) => s.demotions) };
    } finally {
      await machine.close();
    }
  }

  it('round trips from a partition whose own threads spin do not get a backlogged stream lowered', async () => {
    const r = await streamBesidePretender({ spinners: 2, spinMs: 0 });
    expect(r.trips).toBeGreaterThan(10);
    expect(r.flood.maxNice).toBe(0);
    expect(r.demotions).toEqual([0, 0, 0]);
  });

  // The pretender wants a core nearly all the time only while its round trips are quick. On a host
  // loaded past its cores (a CI run's parallel files) they take long enough that its thread reads
  // under 0.8 in some windows, which is case 92's bound and not this scene: such a run tries again,
  // and the failure names the least share the pretender's own thread read.
  it('round trips from a partition whose thread spins 20 ms between them do not get a backlogged stream lowered (it wants a core nearly all the time; the bound for one that spins less is THREATS case 92)', { retry: 2 }, async () => {
    const r = await streamBesidePretender({ spinners: 0, spinMs: 20 });
    expect(r.trips).toBeGreaterThan(10);
    expect(r.flood.maxNice, `the pretender's thread wanted a CPU ${r.leastWanted.toFixed(2)} of the time in its least window (60–120 ms)`).toBe(0);
    expect(r.demotions).toEqual([0, 0, 0]);
  });
});
