/**
 * 65: a program answers the operator's call for its own result itself, on its partition's parent
 * port. comlink rejected the call with a thrown value as it came (an object no string conversion
 * takes), and took a `proxy` answer as a live object served by the partition, each as
 * `handle.result`.
 */
import { inspect } from 'node:util';
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

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

/**
 * 66: the same forger answers with shapes the OS never sends: spawn and handle.result threw an
 * untyped TypeError out of lparlink's own reading of them (`Cannot convert object to primitive value`).
 */
const NOOP = fixture('noop.mjs').href;
const forgedStarts = {
  pid: `EINVAL: spawn: program ${NOOP} could not be started: partition 1 answered the start with an object, not a process id or an error`,
  message: `EINVAL: spawn: program ${NOOP} could not be started: [object Object]`,
  startNull: `EINVAL: spawn: program ${NOOP} could not be started: partition 1 answered the start with null, not a process id or an error`,
};
for (const [kind, message] of Object.entries(forgedStarts)) {
  it(`66: a forged start answer (${kind}) fails spawn with MachineError EINVAL`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }] });
    expect(await (await machine.partition(1).spawn(fixture('forge-start.mjs'), { kind })).result).toBe('armed');
    const failed = await machine.partition(1).spawn(NOOP).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(MachineError);
    expect((failed as MachineError).message).toBe(message);
  });
}
const forgedOutcomes = {
  outcomeNull: 'partition 1 answered the result with null, not a value or an error',
  unclonable: 'partition 1 answered the result with an object, not a value or an error',
};
for (const [kind, message] of Object.entries(forgedOutcomes)) {
  it(`66: a forged result answer (${kind}) rejects handle.result with an Error saying so`, async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }] });
    machine.on('programError', () => {});
    const handle = await machine.partition(1).spawn(fixture('forge-start.mjs'), { kind });
    const error = await handle.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe(message);
  });
}
