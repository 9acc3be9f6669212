/**
 * Attack run 19c, case 115: a program's result (or error) that holds shared memory. Structured
 * clone copies what a worker posts, except a SharedArrayBuffer, which it shares: `handle.result`
 * was memory the partition went on writing after the program returned, and, forwarded to another
 * partition as a spawn's args, memory two partitions shared outside the hardware.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack19c-roles.mjs', import.meta.url);

describe('115: a result or error that holds shared memory', () => {
  it("115: a result holding a view of the partition's shared memory rejects EINVAL; no live memory reaches the operator, nor, through it, another partition", async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'hostile' }, { id: 2, name: 'honest' }] });
    try {
      const handle = await machine.partition(1).spawn(ROLES, { role: 'liveResult', ms: 3000 });
      let live: unknown;
      const outcome = await handle.result.then(
        (value) => ((live = value), 'resolved'),
        (e: unknown) => e,
      );
      if (outcome === 'resolved') {
        // Without the change: what the operator holds goes on changing after the program returned.
        const balance = (live as { balance: Int32Array }).balance;
        const first = balance[0];
        await new Promise((r) => setTimeout(r, 200));
        expect.fail(`the result resolved, a view of ${balance.buffer.constructor.name}, balance ${first} then ${balance[0]} 200 ms later`);
      }
      expect(outcome).toBeInstanceOf(MachineError);
      expect(outcome).toMatchObject({ code: 'EINVAL' });
      expect((outcome as Error).message).toMatch(/answered the result with a value that the partition still shares \(it holds a SharedArrayBuffer/);

      // The forward: an operator that passes one partition's result on to another's program.
      const echo = await machine.partition(1).spawn(ROLES, { role: 'liveResult', ms: 6000 });
      const forwarded = await echo.result.then(
        (value) => value as { balance: Int32Array },
        () => ({ balance: undefined }),
      );
      const knock = await machine.partition(2).spawn(ROLES, { role: 'knock', box: forwarded.balance });
      // Without the change, 'heard': partition 2 wrote, partition 1's timer answered, no channel between them.
      await expect(knock.result).resolves.toBe('no box');
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
    } finally {
      await machine.close();
    }
  }, 60_000);

  for (const [kind, holds] of [
    ['shared', 'a SharedArrayBuffer'],
    ['port', 'a MessagePort'],
  ] as const) {
    it(`115: a program that answers its result itself (case 66) with ${holds} (${kind === 'shared' ? 'a view of its whole port' : 'a port it serves'}) is refused EINVAL, checked on the operator's side`, async () => {
      const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
      try {
        const handle = await machine.partition(1).spawn(ROLES, { role: 'forgedResult', kind });
        const outcome = await handle.result.then(
          (value) => value as Record<string, { constructor: { name: string }; buffer?: ArrayBufferLike }>,
          (e: unknown) => e as Error,
        );
        if (!(outcome instanceof Error)) {
          // Without the change: the operator holds the partition's rings, or a port the partition serves.
          const [[key, value]] = Object.entries(outcome);
          expect.fail(`the result resolved: ${key} is a ${value.constructor.name}${value.buffer ? ` of a ${value.buffer.constructor.name}` : ''}`);
        }
        expect(outcome).toBeInstanceOf(MachineError);
        expect(outcome).toMatchObject({ code: 'EINVAL' });
        expect(outcome.message).toContain(`that the partition still shares (it holds ${holds}`);
      } finally {
        await machine.close();
      }
    }, 60_000);
  }

  it('115: an error holding a view of shared memory rejects EINVAL, not with the live view', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }] });
    try {
      const errors: Error[] = [];
      machine.on('programError', ({ error }) => errors.push(error));
      const handle = await machine.partition(1).spawn(ROLES, { role: 'liveError', ms: 2000 });
      const thrown = (await handle.result.catch((e: unknown) => e)) as Error & { box?: Int32Array };
      expect(thrown.box).toBeUndefined(); // without the change: the program's error, its box a live view
      expect(thrown).toBeInstanceOf(MachineError);
      expect(thrown).toMatchObject({ code: 'EINVAL' });
      expect(thrown.message).toMatch(/answered the result with an error that the partition still shares \(it holds a SharedArrayBuffer/);
      expect(errors).toHaveLength(1);
    } finally {
      await machine.close();
    }
  }, 60_000);
});
