/**
 * Lifecycle of a machine embedded in a test suite: parallel boot, nothing
 * left behind by close() or `await using`, running programs ended with
 * ECLOSED, and 100 create/close cycles without growth. No timing assertions.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError, type Machine } from 'lparlink';
import { memory, newResources, resources, SMALL, threadCount, threadsBackTo } from './helpers.js';

const waitForever = new URL('./fixtures/wait-forever.mjs', import.meta.url);
const echoOnce = new URL('./fixtures/echo-once.mjs', import.meta.url);

/** One throw-away cycle so that lazily started threads (libuv pool, V8 helpers) are part of the baseline. */
async function warmUp(): Promise<void> {
  const m = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
  await (await m.partition(1).spawn(echoOnce, {})).result;
  await m.close();
}

describe('lifecycle', () => {
  it('starts the hardware and every partition at once, then boots them all', async () => {
    await warmUp();
    const base = threadCount();
    const booting = createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }], ...SMALL });
    // createMachine starts all five workers before its first await: nobody waits for the hardware.
    if (base !== undefined) expect(threadCount()).toBeGreaterThanOrEqual(base + 5);
    const machine = await booting;
    try {
      expect(machine.partitions.map((p) => p.running)).toEqual([true, true, true, true]);
      const outs = await Promise.all(machine.partitions.map(async (p) => (await p.spawn(echoOnce, { id: p.id })).result));
      expect(outs).toEqual([1, 2, 3, 4].map((id) => ({ args: { id }, pid: 1, partition: id })));
    } finally {
      await machine.close();
    }
    await threadsBackTo(base);
  });

  it('close() leaves no threads, handles or ports, and every worker exits', async () => {
    await warmUp();
    const base = threadCount();
    const handles = resources();
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], ...SMALL });
    const exits: number[] = [];
    for (const p of machine.partitions) p.worker.once('exit', () => exits.push(p.id));
    await (await machine.partition(2).spawn(echoOnce, 'x')).result;
    await machine.close();
    expect(exits.sort()).toEqual([1, 2, 3]);
    expect(machine.partitions.every((p) => !p.running)).toBe(true);
    expect(newResources(handles)).toEqual([]);
    await threadsBackTo(base);
    await machine.close(); // twice is fine
  });

  it('restart() racing close() rejects with ECLOSED or completes, never hangs, and leaves no thread behind', async () => {
    await warmUp();
    const base = threadCount();
    const handles = resources();
    // close() before, right after and some milliseconds after restart(): each step of a restart
    // (terminating the old worker, the hardware's new port, the new worker's boot) is crossed.
    for (const delay of [-1, 0, 1, 2, 3, 5, 10, 20]) {
      const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
      let restarting: Promise<void>;
      let closing: Promise<void>;
      if (delay < 0) {
        closing = machine.close();
        restarting = machine.partition(1).restart();
      } else {
        restarting = machine.partition(1).restart();
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        closing = machine.close();
      }
      const outcome = await restarting.then(
        () => 'restarted',
        (e: unknown) => (e instanceof MachineError ? e.message : String(e)),
      );
      expect(outcome, `close ${delay} ms after restart`).toMatch(/^(restarted|ECLOSED: restart: the machine (is closed|was closed while partition 1 \(partition-1\) restarted); create a new one)$/);
      await closing;
      expect(machine.partitions.every((p) => !p.running), `close ${delay} ms after restart`).toBe(true);
    }
    expect(newResources(handles)).toEqual([]);
    await threadsBackTo(base);
  });

  it('two restart() calls at once are one restart: one new worker, and close() leaves no thread behind', async () => {
    await warmUp();
    const base = threadCount();
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
    const exits: Array<{ id: number; reason: string }> = [];
    machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
    const waiting = await machine.partition(1).spawn(new URL('./fixtures/wait-forever.mjs', import.meta.url), { port: 5 });
    const first = machine.partition(1).restart();
    const second = machine.partition(1).restart();
    expect(second).toBe(first);
    await first;
    expect(machine.partition(1).running).toBe(true);
    expect(exits).toEqual([{ id: 1, reason: 'restart' }]); // the old worker, once
    // The program that ran there learns why, not "exited with code 1; restart() it".
    await expect(waiting.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN', message: 'EPARTITIONDOWN: partition 1 (partition-1) was restarted by restart()' });
    const second2 = await machine.partition(1).spawn(new URL('./fixtures/wait-forever.mjs', import.meta.url), { port: 5 });
    await machine.partition(1).terminate();
    await expect(second2.result).rejects.toMatchObject({ message: 'EPARTITIONDOWN: partition 1 (partition-1) was terminated by terminate()' });
    expect(exits).toEqual([{ id: 1, reason: 'restart' }, { id: 1, reason: 'terminate' }]);
    // A spawn that does not await restart() is told so (or that the restart ended it), not to restart().
    await machine.partition(1).restart();
    const restarting = machine.partition(1).restart();
    const e = (await machine.partition(1).spawn(new URL('./fixtures/wait-forever.mjs', import.meta.url), { port: 6 }).then((h) => h.result).catch((err: Error) => err)) as Error;
    await restarting;
    expect(e.message).toMatch(/^EPARTITIONDOWN: partition 1 \(partition-1\) (was restarted by restart\(\)|is restarting; await its restart\(\) before spawning)$/);
    await machine.close();
    await threadsBackTo(base);
  });

  it('terminate() during a restart() waits for it, then stops what it started: the restart succeeds, the partition ends stopped, whenever the terminate came', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
    try {
      const exits: string[] = [];
      machine.on('partitionExit', ({ reason }) => exits.push(reason));
      // Before: at 0-5 ms the terminate stopped only the worker the restart was stopping anyway
      // (the partition ended up running), later it killed the new worker while it booted (the
      // restart failed, blaming resourceLimits).
      for (const delay of [0, 5, 20, 60]) {
        exits.length = 0;
        const restarted = machine.partition(1).restart();
        await new Promise((r) => setTimeout(r, delay));
        await machine.partition(1).terminate();
        await expect(restarted, `terminate after ${delay} ms`).resolves.toBeUndefined();
        expect(machine.partition(1).running, `terminate after ${delay} ms`).toBe(false);
        // The first restart stops a running partition; the later ones start a stopped one.
        expect(exits, `terminate after ${delay} ms`).toEqual(delay === 0 ? ['restart', 'terminate'] : ['terminate']);
      }
    } finally {
      await machine.close();
    }
  });

  it('spawn() racing close() rejects with ECLOSED naming the program (the partition ends under the start because of the close)', async () => {
    // A module that takes 300 ms to load: the close lands while it loads, or before the start is sent.
    const slow = new URL('./fixtures/slow-load.mjs', import.meta.url);
    for (const delay of [-1, 0, 50]) {
      const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
      let spawning: Promise<unknown>;
      let closing: Promise<void>;
      if (delay < 0) {
        closing = machine.close();
        spawning = machine.partition(1).spawn(slow);
      } else {
        spawning = machine.partition(1).spawn(slow);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        closing = machine.close();
      }
      const outcome = await spawning.then(
        () => 'started',
        (e: unknown) => (e instanceof MachineError ? e.message : String(e)),
      );
      expect(outcome, `close ${delay} ms after spawn`).toMatch(
        delay < 0
          ? /^ECLOSED: spawn: the machine is closed; create a new one$/
          : /^ECLOSED: spawn: the machine was closed while file:.*slow-load\.mjs was starting in partition 1 \(partition-1\); create a new one$/,
      );
      await closing;
    }
  });

  it('await using closes the machine at the end of the block', async () => {
    await warmUp();
    const base = threadCount();
    let escaped: Machine | undefined;
    {
      await using machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
      escaped = machine;
      expect(machine.partition(1).running).toBe(true);
    }
    expect(escaped.partition(1).running).toBe(false);
    await expect(escaped.partition(1).spawn(echoOnce)).rejects.toMatchObject({ name: 'MachineError', code: 'ECLOSED' });
    await threadsBackTo(base);
  });

  it('close() with programs still running rejects their results with ECLOSED', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL, processesPerPartition: 2 });
    const a = await machine.partition(1).spawn(waitForever, { port: 1 });
    const b = await machine.partition(2).spawn(waitForever, { port: 2 });
    await machine.close();
    for (const h of [a, b]) {
      const err = await h.result.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(MachineError);
      expect(err).toMatchObject({ code: 'ECLOSED' });
      expect((err as Error).message).toMatch(/closed while process \d+ of partition \d+ was running/);
    }
  });

  it('no partitionExit events are emitted for a deliberate close()', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
    const events: unknown[] = [];
    machine.on('partitionExit', (e) => events.push(e));
    machine.on('hardwareExit', (e) => events.push(e));
    await machine.close();
    expect(events).toEqual([]);
  });

  it('100 create/close cycles: threads, handles and heap do not grow', { timeout: 180_000 }, async () => {
    await warmUp();
    const machines: Array<WeakRef<Machine>> = [];
    const cycle = async (i: number) => {
      const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SMALL });
      machines.push(new WeakRef(machine));
      // Every tenth cycle leaves a program running, so close() also ends processes.
      const running = i % 10 === 0 ? await machine.partition(1).spawn(waitForever, { port: 9 }) : undefined;
      await machine.close();
      if (running) {
        // Not expect(...).rejects: vitest keeps async assertions (and so the machine) until the test ends.
        const code = await running.result.then(
          () => 'resolved',
          (e: { code?: string }) => e.code,
        );
        if (code !== 'ECLOSED') throw new Error(`cycle ${i}: result settled with ${code}, expected ECLOSED`);
      }
    };
    for (let i = 0; i < 10; i++) await cycle(i); // settle caches (module maps, JIT) before the baseline
    await threadsBackTo(threadCount());
    const base = { threads: threadCount(), handles: resources(), ...(await memory()) };
    for (let i = 10; i < 100; i++) await cycle(i);
    await threadsBackTo(base.threads);
    const after = { threads: threadCount(), handles: resources(), ...(await memory()) };
    expect(newResources(base.handles, after.handles), 'handles left behind').toEqual([]);
    if (base.threads !== undefined) expect(after.threads, 'threads').toBeLessThanOrEqual(base.threads);
    // A leaked machine holds its Machine object graph and its port buffers: 90 kept on purpose grew the
    // heap 3.0 MB and ArrayBuffer memory 1.35 MB, 2.6 times the bound below.
    expect(after.heapUsed - base.heapUsed, 'heap growth (bytes)').toBeLessThan(4 * 1024 * 1024);
    expect(after.arrayBuffers - base.arrayBuffers, 'ArrayBuffer growth (bytes)').toBeLessThan(512 * 1024);
    // The precise check: nothing (a registry, a listener, a pending call) keeps a closed machine reachable.
    expect(machines.filter((m) => m.deref() !== undefined).length, 'closed machines still reachable').toBe(0);
  });
});
