/**
 * 67: what a partition posts to the operator and the operator's thread cannot deserialize. A
 * partition worker's stack (4 MiB) serializes a value nested deeper than the operator's (~1 MiB)
 * takes back in; Node then emits 'messageerror' on the worker, not 'message', so the ledger of
 * case 64 never counted it: a flood of them held the operator's thread, and an answer of that
 * kind left its call waiting for ever. Such a message now ends the partition, as a crash.
 */
import { expect, it } from 'vitest';
import { createMachine, MachineError } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
/** Nested this deep, an array serializes in a partition worker and fails to deserialize on the operator's thread. */
const DEPTH = 6000;

type Exit = { id: number; reason: string; error?: Error };

function expectRefused(exits: Exit[], id: number): void {
  expect(exits).toHaveLength(1);
  expect(exits[0]).toMatchObject({ id, reason: 'crash' });
  expect(exits[0].error).toBeInstanceOf(MachineError);
  expect((exits[0].error as MachineError).code).toBe('EINVAL');
  expect(exits[0].error!.message).toBe(
    "EINVAL: it posted a message the operator's thread could not deserialize (Maximum call stack size exceeded; a value nested deeper than its stack takes, " +
      "a program's result too, is one), which answers no call, and was ended",
  );
}

it('67: a flood of messages the operator cannot deserialize ends the flooding partition, and only it', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, os: fixture('messageerror-os.mjs').href }, { id: 2 }] });
  const exits: Exit[] = [];
  machine.on('partitionExit', (info) => exits.push(info));
  const flooder = machine.partition(1);
  expect(await flooder.os.ping()).toBe('pong');
  // Without the change: it resolves with 2000, after holding the operator's thread for seconds at a time.
  const flooded = await flooder.os.flood(2000, DEPTH).catch((e: unknown) => e);
  expect(flooded).toBeInstanceOf(MachineError);
  expect((flooded as MachineError).code).toBe('EPARTITIONDOWN');
  expectRefused(exits, 1);
  expect(await (await machine.partition(2).spawn(fixture('noop.mjs'))).result).toBe('ran');
  await flooder.restart();
  expect(await flooder.os.ping()).toBe('pong');
});

it("67: a program's result nested deeper than the operator's stack rejects EPARTITIONDOWN instead of never settling", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  const exits: Exit[] = [];
  machine.on('partitionExit', (info) => exits.push(info));
  const handle = await machine.partition(1).spawn(fixture('deep-result.mjs'), { depth: DEPTH });
  // Without the change this never settles (the test times out).
  const failed = await handle.result.catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(MachineError);
  expect((failed as MachineError).code).toBe('EPARTITIONDOWN');
  expectRefused(exits, 1);
  expect((failed as MachineError).cause).toBe(exits[0].error);
  // A result the operator's stack takes still arrives, after a restart.
  await machine.partition(1).restart();
  const shallow = await machine.partition(1).spawn(fixture('deep-result.mjs'), { depth: 100 });
  let value = await shallow.result;
  let depth = 0;
  while (Array.isArray(value)) [value, depth] = [value[0], depth + 1];
  expect(depth).toBe(100);
}, 20_000);

it("67: a replacement OS's answer the operator cannot deserialize rejects its call EPARTITIONDOWN", async () => {
  await using machine = await createMachine({ partitions: [{ id: 1, os: fixture('messageerror-os.mjs').href }] });
  const exits: Exit[] = [];
  machine.on('partitionExit', (info) => exits.push(info));
  // Without the change this never settles (the test times out).
  const failed = await machine.partition(1).os.deep(DEPTH).catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(MachineError);
  expect((failed as MachineError).code).toBe('EPARTITIONDOWN');
  expectRefused(exits, 1);
}, 20_000);
