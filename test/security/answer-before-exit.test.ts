/**
 * An answer a partition posted before it crashed is its answer, however late the operator's thread
 * gets to it. A thread busy when both the answer and the worker's exit arrive hears them in one
 * turn (Node hands over what the worker queued, then emits 'exit'): the exit's EPARTITIONDOWN then
 * beat the answer through the promise chain, and spawn() of a program that started and then
 * crashed its partition rejected (operator-errors' case 63, about 1 in 4 runs on a loaded machine),
 * as did the result of a program that returned just before its partition crashed.
 */
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const fixture = new URL('../fixtures/security/crash-after-answer.mjs', import.meta.url);

/**
 * Hold the operator's thread (from a timer, as a busy operator would be) until the partition has
 * posted its answer and thrown, and a while longer, for its thread to end: then the answer and the
 * exit wait together. Bounded: a partition slower than that only makes this test pass spuriously.
 */
function holdThreadUntilCrashed(flags: Int32Array): void {
  Atomics.wait(flags, 1, 0, 10_000);
  Atomics.wait(flags, 2, 0, 300); // nothing sets flags[2]: a pause for the thread to end
}

it('spawn() resolves for a program whose partition crashed just after the start answered', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const exits: string[] = [];
  machine.on('partitionExit', (info) => exits.push(info.reason));
  const flags = new Int32Array(new SharedArrayBuffer(12));
  const spawning = machine.partition(1).spawn(fixture, { flags: flags.buffer, mode: 'start' });
  setTimeout(() => holdThreadUntilCrashed(flags), 0);
  const handle = await spawning;
  const down = await handle.result.catch((e: unknown) => e);
  expect(down).toBeInstanceOf(MachineError);
  expect((down as MachineError).code).toBe('EPARTITIONDOWN');
  expect(exits).toEqual(['crash']);
});

it("a program's result stands when its partition crashed just after the result answered", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const exits: string[] = [];
  machine.on('partitionExit', (info) => exits.push(info.reason));
  const flags = new Int32Array(new SharedArrayBuffer(12));
  const handle = await machine.partition(1).spawn(fixture, { flags: flags.buffer, mode: 'result' });
  const result = handle.result.catch((e: unknown) => e);
  setTimeout(() => {
    Atomics.store(flags, 0, 1);
    Atomics.notify(flags, 0);
    holdThreadUntilCrashed(flags);
  }, 0);
  await expect(result).resolves.toBe('finished');
  await expect.poll(() => exits).toEqual(['crash']);
});
