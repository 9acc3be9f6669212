/**
 * 132 (attack run 26a): a program answers, in its OS's place, the operator's next start() of its
 * partition with a ChannelError EHWRESET record ("the hardware worker stopped") while the hardware
 * runs. spawn() passed a start's ChannelError through as it came, so the operator was told, in the
 * words lparlink uses for a dead hardware, that the machine had failed closed (EHWRESET's advice:
 * create a new machine), which would end every other partition's work.
 */
import { expect, it } from 'vitest';
import { ChannelError, createMachine, MachineError } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const NOOP = fixture('noop.mjs');

it('132: a forged EHWRESET answer to its partition\'s next start fails that spawn with MachineError EINVAL, and the machine runs on', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
  expect(await (await machine.partition(1).spawn(fixture('attack26a-forge-reset.mjs'))).result).toBe('armed');
  const failed = await machine.partition(1).spawn(NOOP).catch((e: unknown) => e);
  expect(failed).not.toBeInstanceOf(ChannelError);
  expect(failed).toBeInstanceOf(MachineError);
  expect((failed as MachineError).code).toBe('EINVAL');
  expect((failed as MachineError).message).toBe(
    `EINVAL: spawn: program ${NOOP.href} could not be started: partition 1 answered the start with EHWRESET (the hardware stopped) while the hardware runs; its own code answered in its OS's place: the machine runs on, restart or terminate partition 1`,
  );
  expect(((failed as MachineError).cause as ChannelError).code).toBe('EHWRESET');
  // The hardware did not stop: the machine reports no failure, and another partition runs a program.
  expect(machine.failure).toBeUndefined();
  expect(await (await machine.partition(2).spawn(NOOP)).result).toBe('ran');
});

it('132: other ChannelError codes in a forged start answer speak for the partition alone and still come through (EMFILE)', async () => {
  await using machine = await createMachine({ partitions: [{ id: 1 }] });
  expect(await (await machine.partition(1).spawn(fixture('attack26a-forge-reset.mjs'), { code: 'EMFILE' })).result).toBe('armed');
  const failed = await machine.partition(1).spawn(NOOP).catch((e: unknown) => e);
  expect(failed).toBeInstanceOf(ChannelError);
  expect((failed as ChannelError).code).toBe('EMFILE');
});
