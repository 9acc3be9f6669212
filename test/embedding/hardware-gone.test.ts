/**
 * Once the hardware worker has exited, every operator call that needs it fails with the machine's
 * EHWRESET, typed and at once: not with comlink's "Proxy has been released" (the admin proxy is
 * released at the exit), and never by waiting for an answer that cannot come (THREATS case 104).
 */
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';

it('after the hardware exits, the test hooks, restart() and spawn() reject with EHWRESET', async () => {
  const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], testHooks: true });
  try {
    const exited = once(machine, 'hardwareExit');
    await machine.hooks!.crashHardware();
    await exited;
    const hooks = machine.hooks!;
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['liveKeyCount', () => hooks.liveKeyCount()],
      ['keyHistory', () => hooks.keyHistory()],
      ['corruptStamps', () => hooks.corruptStamps(1, true)],
      ['ageChannelSlot', () => hooks.ageChannelSlot(1, 0, 1)],
      ['restart', () => machine.partition(2).restart()],
      ['spawn', () => machine.partition(1).spawn(new URL('./fixtures/returns-text.mjs', import.meta.url))],
    ];
    for (const [name, call] of calls) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error, name).toBeInstanceOf(MachineError);
      expect((error as MachineError).code, name).toBe('EHWRESET');
    }
  } finally {
    await machine.close();
  }
});
