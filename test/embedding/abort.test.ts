/**
 * Bounding and cancelling a program: spawn's { signal, timeoutMs, abortGraceMs }. An aborted
 * program's channels close (its peer sees ECLOSED) and its result rejects with MachineError
 * EABORTED; one that ignores the abort past the grace period has its partition restarted.
 */
import { getEventListeners, once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';
import { SMALL, until } from './helpers.js';

const abortable = new URL('./fixtures/abortable.mjs', import.meta.url);
const echoOnce = new URL('./fixtures/echo-once.mjs', import.meta.url);
/** An ended program's queue pair is recycled in the background, after its result: leave room for the next spawn. */
const SOME_SLOTS = { ...SMALL, processesPerPartition: 4 };

async function rejection(p: Promise<unknown>): Promise<MachineError> {
  const e = await p.then(
    () => expect.unreachable('should have rejected'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(MachineError);
  return e as MachineError;
}

describe('spawn({ signal, timeoutMs })', () => {
  it('an abort rejects the result with EABORTED (cause: the reason), closes its channels, and the partition keeps running', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SOME_SLOTS });
    const exits: number[] = [];
    machine.on('partitionExit', ({ id }) => exits.push(id));
    const server = await machine.partition(1).spawn(abortable, { mode: 'server', port: 7 });
    const controller = new AbortController();
    const client = await machine.partition(2).spawn(abortable, { mode: 'client', partition: 1, port: 7 }, { signal: controller.signal });
    // Abort once the server has the client's hello, so that it sees the channel's end, not a refusal.
    await until(() => machine.stats().partitions[0].delivered >= 1, () => 'the hello delivered');
    const reason = new Error('the test is over');
    controller.abort(reason);
    const e = await rejection(client.result);
    expect(e.code).toBe('EABORTED');
    expect(e.message).toMatch(/^EABORTED: process \d+ of partition 2 \(partition-2\) running file:.*abortable\.mjs was aborted: its signal aborted \(Error: the test is over\)/);
    expect(e.cause).toBe(reason);
    expect(await server.result).toBe('ECLOSED');
    expect(exits).toEqual([]);
    const again = await machine.partition(2).spawn(echoOnce, 'after');
    expect(await again.result).toMatchObject({ args: 'after', partition: 2 });
  });

  it('the program sees proc.signal abort, with the reason the operator gave', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SOME_SLOTS });
    const controller = new AbortController();
    const h = await machine.partition(1).spawn(abortable, { mode: 'signal' }, { signal: controller.signal, abortGraceMs: 60_000 });
    const reported = machine.partition(1).os.result(h.pid); // what main itself returned, straight from the partition OS
    controller.abort();
    expect((await rejection(h.result)).code).toBe('EABORTED');
    // The program itself ended on its own once told (no restart needed), naming why.
    expect(await reported).toMatchObject({ ok: true, value: expect.stringMatching(/the operator aborted this process: its signal aborted/) });
    expect(machine.partition(1).running).toBe(true);
  });

  it('an abort closes the program\'s listeners: a server waiting in accept() ends on its own, and its partition stays up', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SOME_SLOTS });
    const exits: number[] = [];
    machine.on('partitionExit', ({ id }) => exits.push(id));
    const controller = new AbortController();
    // A grace period the test never waits out: only the program ending on its own can settle `reported`.
    const h = await machine.partition(1).spawn(abortable, { mode: 'accept', port: 9 }, { signal: controller.signal, abortGraceMs: 60_000 });
    const reported = machine.partition(1).os.result(h.pid);
    controller.abort();
    expect((await rejection(h.result)).code).toBe('EABORTED');
    expect(await reported).toEqual({ ok: true, value: 'accept ECLOSED' });
    expect(exits).toEqual([]);
    // The port is free again.
    const again = await machine.partition(1).spawn(abortable, { mode: 'accept', port: 9 }, { timeoutMs: 50 });
    expect((await rejection(again.result)).code).toBe('EABORTED');
  });

  it('a program that never yields is ended by restarting its partition after the grace period', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], ...SOME_SLOTS });
    const exited = once(machine, 'partitionExit');
    // main runs up to its first await before spawn resolves, so a main that never yields holds spawn
    // itself: the bound covers the start, and spawn rejects instead of result.
    const spawning = machine.partition(1).spawn(abortable, { mode: 'spin' }, { timeoutMs: 100, abortGraceMs: 100 });
    const e = await rejection(spawning.then((h) => h.result));
    expect(e.code).toBe('EABORTED');
    expect(e.message).toMatch(/^EABORTED: spawn: file:.*abortable\.mjs in partition 1 \(partition-1\) was aborted while starting: it ran past timeoutMs 100/);
    const [info] = (await exited) as [{ id: number; reason: string }];
    expect(info).toMatchObject({ id: 1, reason: 'abortGraceMs' });
    await until(() => machine.partition(1).running, () => 'partition 1 restarted');
    const again = await machine.partition(1).spawn(echoOnce, 'fresh');
    expect(await again.result).toMatchObject({ args: 'fresh', partition: 1 });
    expect(machine.partition(2).running).toBe(true);
  });

  it('a program that ends in time is not touched, and its signal is let go', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SOME_SLOTS });
    const { signal } = new AbortController();
    const h = await machine.partition(1).spawn(echoOnce, 'quick', { timeoutMs: 60_000, signal });
    expect(getEventListeners(signal, 'abort')).toHaveLength(1);
    expect(await h.result).toMatchObject({ args: 'quick' });
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('bad options and an already aborted signal are refused before anything starts', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SOME_SLOTS });
    const p = machine.partition(1);
    for (const [options, message] of [
      [{ signal: 'stop' }, /spawn: options\.signal must be an AbortSignal \(new AbortController\(\)\.signal\), got/],
      [{ timeoutMs: -1 }, /spawn: options\.timeoutMs must be a number of milliseconds from 0 to 2147483647, got -1/],
      [{ abortGraceMs: Number.NaN }, /spawn: options\.abortGraceMs must be a number of milliseconds/],
      [{ timeout: 5 }, /spawn: unknown option "timeout"; known: signal, timeoutMs, abortGraceMs/],
      [7, /spawn: options must be an object/],
      [[], /spawn: options must be an object \{ signal\?, timeoutMs\?, abortGraceMs\? \}, got an array/],
    ] as const) {
      const e = await rejection(p.spawn(echoOnce, 'x', options as never));
      expect(e.code).toBe('EINVAL');
      expect(e.message).toMatch(message);
    }
    const e = await rejection(p.spawn(echoOnce, 'x', { signal: AbortSignal.abort(new Error('too late')) }));
    expect(e.code).toBe('EABORTED');
    expect(e.message).toMatch(/options\.signal was already aborted, so file:.*echo-once\.mjs was not started/);
    // timeoutMs 0 every time, on a partition that answers starts quickly (it has run a program): a timer raced the start.
    const warm = await p.spawn(echoOnce, 'warm');
    expect(await warm.result).toMatchObject({ args: 'warm' });
    for (let i = 0; i < 20; i++) {
      const zero = await rejection(p.spawn(echoOnce, 'x', { timeoutMs: 0 }));
      expect(zero.code).toBe('EABORTED');
      expect(zero.message).toMatch(/options\.timeoutMs is 0, so file:.*echo-once\.mjs was not started/);
    }
    // None of them became a process: the hardware numbers processes in order.
    expect((await p.spawn(echoOnce, 'next')).pid).toBe(warm.pid + 1);
  });
});
