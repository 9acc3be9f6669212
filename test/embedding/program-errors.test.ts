/**
 * What a program throws reaches handle.result as the embedder wrote it: the same class
 * (rejects.toThrow(TypeError) works), its cause and code; a result that cannot cross names the
 * program and partition; a failure nobody awaits is an event, or a warning when nobody listens.
 */
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChannelError, createMachine, MachineError, type Machine } from 'lparlink';
import { SMALL } from './helpers.js';

const throwing = new URL('./fixtures/throwing.mjs', import.meta.url);

async function failure(machine: Machine, kind: string): Promise<Error> {
  const h = await machine.partition(1).spawn(throwing, { kind });
  return h.result.then(
    () => expect.unreachable(`program kind ${kind} should have failed`),
    (e: Error) => e,
  );
}

describe('program failures keep their identity', () => {
  let machine: Machine;
  beforeAll(async () => {
    // Several slots: a finished program's queue pair is recycled in the background, after its result.
    machine = await createMachine({ partitions: [{ id: 1, name: 'db' }], ...SMALL, processesPerPartition: 4 });
  });
  afterAll(() => machine.close());

  it('a TypeError arrives as a TypeError, with its cause, code and plain properties', async () => {
    const h = await machine.partition(1).spawn(throwing, { kind: 'type' });
    await expect(h.result).rejects.toThrow(TypeError);
    const e = (await h.result.catch((err: unknown) => err)) as TypeError & Record<string, unknown>;
    expect(e.message).toBe('bad shape');
    expect(e.code).toBe('E_SHAPE');
    expect(e.details).toEqual({ field: 'n', limits: [1, 2] });
    expect(e).not.toHaveProperty('callback');
    expect(e.cause).toBeInstanceOf(RangeError);
    expect((e.cause as Error).message).toBe('inner cause');
    expect(e.stack).toMatch(/throwing\.mjs/); // the program's own stack, not the operator's
  });

  it('a RangeError arrives as a RangeError, with a cause that is not an Error', async () => {
    const e = await failure(machine, 'range');
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toBe('out of range');
    expect(e.cause).toBe('a plain cause');
  });

  it('a ChannelError arrives as a ChannelError with its code', async () => {
    const e = await failure(machine, 'channel');
    expect(e).toBeInstanceOf(ChannelError);
    expect((e as ChannelError).code).toBe('ECONNREFUSED');
    expect(e.message).toMatch(/^ECONNREFUSED: /);
  });

  it('a class of its own falls back to Error, keeping its name and code', async () => {
    const e = await failure(machine, 'custom');
    expect(e.constructor).toBe(Error);
    expect(e.name).toBe('QuotaError');
    expect((e as Error & { code?: string }).code).toBe('EQUOTA');
    expect(e.message).toBe('over quota');
  });

  it('an AggregateError arrives as one, with its errors', async () => {
    const e = (await failure(machine, 'aggregate')) as AggregateError;
    expect(e).toBeInstanceOf(AggregateError);
    expect(e.message).toBe('both failed');
    expect(e.errors.map((x: Error) => [x.constructor.name, x.message])).toEqual([
      ['TypeError', 'first'],
      ['RangeError', 'second'],
    ]);
  });

  it('a thrown object that is not an Error is described, keeping its code and properties', async () => {
    const e = (await failure(machine, 'object')) as Error & Record<string, unknown>;
    expect(e.message).toBe('program threw a non-Error value: {"code":"E_OBJ","message":"a plain object","retry":true}');
    expect(e.code).toBe('E_OBJ');
    expect(e.retry).toBe(true);
  });

  it('a thrown object whose getter throws is described without it, and the partition keeps running', async () => {
    const e = (await failure(machine, 'getter')) as Error & Record<string, unknown>;
    expect(e.message).toBe('program threw a non-Error value: [object Object]');
    expect(e.code).toBe('E_GET');
    expect(machine.partition(1).running).toBe(true);
  });

  it('an Error made in another realm (a vm context) keeps its class name and message', async () => {
    const e = await failure(machine, 'other-realm');
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toBe('from another realm');
  });

  it('a result that cannot be cloned rejects with MachineError EINVAL naming the program and the partition', async () => {
    const e = await failure(machine, 'function');
    expect(e).toBeInstanceOf(MachineError);
    expect((e as MachineError).code).toBe('EINVAL');
    expect(e.message).toMatch(/^EINVAL: process \d+ of partition 1 \(db\) running file:.*throwing\.mjs returned a value that cannot be structured-cloned/);
    expect(e.message).toMatch(/return plain data/);
  });
});

/** The next process warning with this code. */
function nextWarning(code: string): Promise<Error> {
  return new Promise<Error>((resolve) => {
    const onWarning = (w: Error & { code?: string }): void => {
      if (w.code !== code) return;
      process.off('warning', onWarning);
      resolve(w);
    };
    process.on('warning', onWarning);
  });
}

describe('a failure nobody awaits is not silent', () => {
  it("emits programError with the rebuilt error, whether or not the result is awaited", async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2, name: 'web' }], ...SMALL });
    const seen = once(machine, 'programError');
    const h = await machine.partition(2).spawn(throwing, { kind: 'type' });
    const [info] = (await seen) as [{ partition: number; name: string; pid: number; program: string; error: Error }];
    expect(info).toMatchObject({ partition: 2, name: 'web', pid: h.pid, program: throwing.href });
    expect(info.error).toBeInstanceOf(TypeError);
    await expect(h.result).rejects.toThrow('bad shape');
  });

  it('with no listener and an unread result, the failure becomes a process warning naming the program', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }], ...SMALL });
    const warned = nextWarning('LPARLINK_PROGRAM_ERROR');
    await machine.partition(1).spawn(throwing, { kind: 'custom' }); // its handle.result is never read
    const w = await warned;
    expect(w.message).toMatch(/throwing\.mjs \(process \d+ of partition 1 \(partition-1\)\) threw while nobody was reading its handle\.result: QuotaError: over quota/);
  });

  it("a partition that crashes outside any program's main, with no partitionExit listener, becomes a process warning", async () => {
    await using machine = await createMachine({ partitions: [{ id: 1, name: 'server' }], ...SMALL });
    const warned = nextWarning('LPARLINK_PARTITION_EXIT');
    await machine.partition(1).spawn(new URL('./fixtures/background-throw.mjs', import.meta.url)); // its result is never read
    const w = await warned;
    expect(w.message).toBe("partition 1 (server) crashed: Error: background bug in the server. Listen to machine.on('partitionExit') to handle it");
    // With a listener: the event, its reason 'crash', and no warning.
    await machine.partition(1).restart();
    const exited = once(machine, 'partitionExit');
    await machine.partition(1).spawn(new URL('./fixtures/background-throw.mjs', import.meta.url));
    const [info] = (await exited) as [{ id: number; exitCode: number; error: Error; reason: string }];
    expect(info).toMatchObject({ id: 1, exitCode: 1, reason: 'crash', error: { message: 'background bug in the server' } });
  });
});
