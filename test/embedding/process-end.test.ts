/**
 * A process ends when its main returns or throws, and what it opened ends with it: its OS closes
 * its channels behind their data and detaches its queue pair, which the partition's next process
 * gets. A channel, listener or pending call the program left behind (a background task, module
 * state) must then fail with ECLOSED naming the end: never hang, and never send through the queue
 * pair its successor now owns (the hardware would count those sends as stale-handle violations
 * against an honest partition).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { SMALL } from './helpers.js';

const program = new URL('./fixtures/outlives-main.mjs', import.meta.url);
const ENDED = 'process 1 of partition 2 has ended';

describe('the end of a process', () => {
  it('fails what its program left behind with ECLOSED, and the next process on its queue pair is not disturbed', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL, channelsPerPartition: 4 });
    const collector = await machine.partition(1).spawn(program, { mode: 'collector', port: 7, count: 2 });
    const leaver = await machine.partition(2).spawn(program, { mode: 'leaver', partition: 1, port: 7, listenPort: 9 });
    expect(await leaver.result).toBe('left');
    // One process slot: the successor starts once the leaver's queue pair is detached, and gets it.
    const successor = await spawnWhenFree(machine, { mode: 'successor', partition: 1, port: 7, listenPort: 9 });
    expect(await successor.result).toEqual({
      recv: `ECLOSED: ${ENDED}`,
      // A receive waiting on readable() ends as after close(): false, not a hang.
      readable: 'resolved false',
      accept: `ECLOSED: ${ENDED}`,
      open: false,
      send: `ECLOSED: ${ENDED}`,
      write: `ECLOSED: ${ENDED}`,
      connect: `ECLOSED: ${ENDED}`,
      listen: `ECLOSED: ${ENDED}`,
    });
    // Each channel got its own message only, and a clean end (the OS closed the leaver's behind its data).
    expect(await collector.result).toEqual([
      { got: [1], end: 'clean' },
      { got: [2], end: 'clean' },
    ]);
    const p2 = machine.stats().partitions[1];
    expect(p2.violations.total).toBe(0);
    expect(p2.sendErrors).toBe(0);
    expect(p2.sent).toBe(2);
  });

  it("a connect still retrying when main returned stops with ECLOSED: it never asks for a channel on the next process's queue pair", async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
    const leaver = await machine.partition(2).spawn(program, { mode: 'retrying-leaver', partition: 1, port: 7 });
    expect(await leaver.result).toBe('left a connect retrying');
    const successor = await spawnWhenFree(machine, { mode: 'successor-of-retrying' });
    expect(await successor.result).toEqual({ leaverConnect: `ECLOSED: ${ENDED}`, table: [] });
  });

  it('channels left open end behind their data: cleanly when main returned, with EPEERDEAD when it threw', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL, processesPerPartition: 2 });
    const collector = await machine.partition(1).spawn(program, { mode: 'collector', port: 7, count: 2 });
    const returner = await machine.partition(2).spawn(program, { mode: 'returner', partition: 1, port: 7 });
    expect(await returner.result).toBe('returned with the channel open');
    const thrower = await machine.partition(2).spawn(program, { mode: 'thrower', partition: 1, port: 7 });
    await expect(thrower.result).rejects.toThrow('main threw on purpose');
    expect(await collector.result).toEqual([
      { got: [7], end: 'clean' },
      { got: [5, 6], end: 'EPEERDEAD' },
    ]);
    expect(machine.stats().partitions[1].violations.total).toBe(0);
  });

  it('a write() waiting for send-ring space rejects with ECLOSED when its channel closes, or when its process ends', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
    // The collector reads nothing for 3 s: the writer's rings fill and its write() waits.
    const collector = await machine.partition(1).spawn(program, { mode: 'collector', port: 7, count: 1, readAfterMs: 3000 });
    const writer = await machine.partition(2).spawn(program, { mode: 'stuck-writer', partition: 1, port: 7 });
    const { sent, write } = (await writer.result) as { sent: number; write: string };
    expect(write).toBe('ECLOSED: channel 0 was closed by this process');
    const [{ got, end }] = (await collector.result) as Array<{ got: number[]; end: string }>;
    // Everything sent before the close arrives, and nothing of the write that was refused.
    expect(got).toEqual(Array.from({ length: sent }, (_, i) => (i + 1) & 0xff));
    expect(end).toBe('clean');

    const collector2 = await spawnWhenFree(machine, { mode: 'collector', port: 8, count: 1, readAfterMs: 3000 }, 1);
    const returning = await spawnWhenFree(machine, { mode: 'stuck-writer', partition: 1, port: 8, then: 'return' });
    await returning.result;
    const after = await spawnWhenFree(machine, { mode: 'after-stuck-writer' });
    expect(await after.result).toBe(`ECLOSED: process 2 of partition 2 has ended`);
    const [second] = (await collector2.result) as Array<{ end: string }>;
    expect(second.end).toBe('clean');
  });
});

/** Spawn once the partition's one process slot is free again (an ended program's queue pair is recycled just after its result). */
async function spawnWhenFree(machine: Awaited<ReturnType<typeof createMachine>>, args: Record<string, unknown>, partition = 2) {
  for (let tries = 0; ; tries++) {
    try {
      return await machine.partition(partition).spawn(program, args);
    } catch (e) {
      if (tries > 500 || !(e instanceof Error && /EMFILE|process slots/.test(e.message))) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}
