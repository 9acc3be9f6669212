/**
 * `await using machine = …` where `Symbol.asyncDispose` is undefined: a vm context on Node 20, as
 * vitest's vmThreads and vmForks pools run test files. Compiled `await using` then looks the method
 * up under Symbol.for('Symbol.asyncDispose'), which the machine answers too.
 */
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

it('a vm context without Symbol.asyncDispose finds the machine disposable, and disposing closes it', async () => {
  const machine = await createMachine({ partitions: [{ id: 1 }], wait: 'sleep' });
  const found = runInNewContext('[typeof Symbol.asyncDispose, m[Symbol.asyncDispose || Symbol.for("Symbol.asyncDispose")]]', { m: machine }) as [string, () => Promise<void>];
  if (process.versions.node.startsWith('20.')) expect(found[0], 'the premise, on Node 20').toBe('undefined');
  expect(typeof found[1]).toBe('function');
  await found[1].call(machine);
  await expect(machine.partition(1).spawn(new URL('./fixtures/echo-once.mjs', import.meta.url))).rejects.toMatchObject({ code: 'ECLOSED' });
});
