/**
 * 63: a partition's uncaught error reaches the operator as Node rebuilds it from what the worker
 * sent, every field the partition's choice. One whose message, name or stack no string conversion
 * takes ended the operator's process (lparlink's exit message threw: an unhandled rejection), and
 * a replacement OS failing its boot with one threw out of the worker's 'exit' listener.
 */
import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

for (const field of ['message', 'name', 'stack', 'none'] as const) {
  it(`63: a crash with ${field === 'none' ? 'a thrown plain object' : `an unprintable ${field}`} is reported as a printable Error`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }] });
    const exits: { error?: Error; reason: string; exitCode: number }[] = [];
    machine.on('partitionExit', (info) => exits.push(info));
    const handle = await machine.partition(1).spawn(fixture('hostile-crash.mjs'), { field });
    const down = await handle.result.catch((e: unknown) => e);
    expect(down).toBeInstanceOf(MachineError);
    expect((down as MachineError).code).toBe('EPARTITIONDOWN');
    expect(() => inspect(down)).not.toThrow();
    expect(exits).toHaveLength(1);
    expect(exits[0]).toMatchObject({ reason: 'crash', exitCode: 1 });
    const error = exits[0].error!;
    expect(error).toBeInstanceOf(Error);
    expect([typeof error.name, typeof error.message, typeof error.stack]).toEqual(['string', 'string', 'string']);
    expect(() => inspect(error)).not.toThrow();
    const messages = {
      message: 'the worker threw an error whose fields are not strings (its message is an object)',
      none: 'the worker threw an object, not an Error',
      name: 'hostile',
      stack: 'hostile',
    };
    expect(error.message).toBe(messages[field]);
  });
}

it('63: a replacement OS failing its boot with an unprintable stack fails createMachine with EINVAL', async () => {
  const failed = await createMachine({ partitions: [{ id: 1 }, { id: 2, os: fixture('hostile-boot-os.mjs').href }] }).catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(MachineError);
  expect((failed as MachineError).code).toBe('EINVAL');
  expect((failed as MachineError).message).toContain('partitions[1].os');
});
