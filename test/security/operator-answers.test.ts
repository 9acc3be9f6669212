/**
 * 65: a program answers the operator's call for its own result itself, on its partition's parent
 * port. comlink rejected the call with a thrown value as it came (an object no string conversion
 * takes), and took a `proxy` answer as a live object served by the partition, each as
 * `handle.result`.
 */
import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);

it('65: a forged answer throwing a non-Error rejects handle.result with an Error', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const handle = await machine.partition(1).spawn(fixture('forge-answer.mjs'), { kind: 'throw' });
  const error = await handle.result.catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toBe('program threw a non-Error value: {"toString":0,"valueOf":0}');
  expect(() => inspect(error)).not.toThrow();
});

it('65: a forged proxy answer rejects handle.result instead of handing the operator a live object', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const handle = await machine.partition(1).spawn(fixture('forge-answer.mjs'), { kind: 'proxy' });
  const outcome = await handle.result.then(
    (value) => ({ value }),
    (e: Error) => ({ error: `${e.name}: ${e.message}` }),
  );
  expect(outcome).toEqual({
    error: `Error: the partition answered with comlink's "proxy" handler, which the operator does not take; a partition answers with data`,
  });
});
