/**
 * Attack run 21a, case 118: a program's result (or error) holding one of Node's host objects whose
 * clone shares state with the original. Case 115 refuses a result that holds a SharedArrayBuffer or
 * a MessagePort, found by a v8.Serializer walk; but Node clones a histogram (`perf_hooks`) and a
 * `net.BlockList` by handing the other thread the same native object, and moves a web stream over a
 * MessagePort of its own: none of them is a host object to that walk (each is a plain JavaScript
 * object whose native part hangs off a symbol), so each passed as plain data.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack21a-roles.mjs', import.meta.url);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('118: a result or error that holds a host object Node shares rather than copies', () => {
  it("118: a result holding a histogram its partition still records into rejects EINVAL; nothing live reaches the operator, nor, through it, another partition", async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'hostile' }, { id: 2, name: 'honest' }] });
    try {
      const handle = await machine.partition(1).spawn(ROLES, { role: 'liveHistogram', ms: 3000 });
      const outcome = await handle.result.then(
        (value) => value as { stats: { count: number } },
        (e: unknown) => e as Error,
      );
      if (!(outcome instanceof Error)) {
        // Without the change: what the operator holds goes on changing after the program returned.
        const first = outcome.stats.count;
        await sleep(200);
        expect.fail(`the result resolved, a ${outcome.stats.constructor.name}, count ${first} then ${outcome.stats.count} 200 ms later`);
      }
      expect(outcome).toBeInstanceOf(MachineError);
      expect(outcome).toMatchObject({ code: 'EINVAL' });
      expect(outcome.message).toBe(
        'partition 1 answered the result with a value that the partition still shares (it holds a RecordableHistogram, which Node clones as the same native object: the partition could still change it); ' +
          'a program returns and throws plain data: copy shared bytes into an ArrayBuffer first',
      );

      // The forward: an operator that passes one partition's result on to another's program.
      const echo = await machine.partition(1).spawn(ROLES, { role: 'liveHistogram', ms: 6000 });
      const forwarded = await echo.result.then(
        (value) => (value as { stats: unknown }).stats,
        () => undefined,
      );
      const knock = await machine.partition(2).spawn(ROLES, { role: 'knock', stats: forwarded });
      // Without the change, 'heard': partition 2 recorded 1000, partition 1's timer echoed 2000, no channel between them.
      await expect(knock.result).resolves.toBe('no stats');
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
    } finally {
      await machine.close();
    }
  }, 60_000);

  it('118: a result holding a BlockList its partition still adds to rejects EINVAL', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
    try {
      const handle = await machine.partition(1).spawn(ROLES, { role: 'liveBlockList', ms: 3000 });
      const outcome = await handle.result.then(
        (value) => value as { allow: { rules: string[] } },
        (e: unknown) => e as Error,
      );
      if (!(outcome instanceof Error)) {
        const first = outcome.allow.rules.length;
        await sleep(200);
        expect.fail(`the result resolved, a ${outcome.allow.constructor.name}, ${first} rules then ${outcome.allow.rules.length} 200 ms later`);
      }
      expect(outcome).toBeInstanceOf(MachineError);
      expect(outcome).toMatchObject({ code: 'EINVAL' });
      expect(outcome.message).toContain('that the partition still shares (it holds a BlockList, which Node clones as the same native object: the partition could still change it)');
    } finally {
      await machine.close();
    }
  }, 60_000);

  it('118: a program that answers its result itself (case 66) with a ReadableStream it feeds is refused EINVAL, checked on the operator side', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
    try {
      const handle = await machine.partition(1).spawn(ROLES, { role: 'forgedStream' });
      const outcome = await handle.result.then(
        (value) => value as { feed: ReadableStream<string> },
        (e: unknown) => e as Error,
      );
      if (!(outcome instanceof Error)) {
        // Without the change: a stream whose every chunk the partition serves, outside the hardware.
        const reader = outcome.feed.getReader();
        const chunks = [(await reader.read()).value, (await reader.read()).value];
        expect.fail(`the result resolved: feed is a ${outcome.feed.constructor.name} reading ${JSON.stringify(chunks)}`);
      }
      expect(outcome).toBeInstanceOf(MachineError);
      expect(outcome).toMatchObject({ code: 'EINVAL' });
      expect(outcome.message).toContain('that the partition still shares (it holds a ReadableStream, which Node moves over a MessagePort whose other end the partition holds)');
    } finally {
      await machine.close();
    }
  }, 60_000);

  it('118: an error holding such a histogram rejects EINVAL, not with the live histogram', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
    try {
      const errors: Error[] = [];
      machine.on('programError', ({ error }) => errors.push(error));
      const handle = await machine.partition(1).spawn(ROLES, { role: 'liveError', ms: 2000 });
      const thrown = (await handle.result.catch((e: unknown) => e)) as Error & { stats?: { constructor: { name: string } } };
      // Without the change: the program's error, its stats a live histogram.
      expect(thrown.stats?.constructor.name).toBeUndefined();
      expect(thrown).toBeInstanceOf(MachineError);
      expect(thrown).toMatchObject({ code: 'EINVAL' });
      expect(thrown.message).toContain('answered the result with an error that the partition still shares (it holds a RecordableHistogram');
      expect(errors).toHaveLength(1);
    } finally {
      await machine.close();
    }
  }, 60_000);
});
