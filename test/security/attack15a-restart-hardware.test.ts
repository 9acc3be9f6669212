/**
 * THREATS.md case 104: restart() while the hardware worker dies. restart() asks the hardware for
 * the partition's new port, then starts the new worker with its half of the new control endpoint.
 * A call the hardware's thread never handled (it ended with the call queued) was forgotten with the
 * hardware's proxy at the exit (comlink drops a released proxy's pending calls): restart() waited
 * for good, and terminate() behind it too, until close(). A hardware that answered and then ended
 * before its exit reached the operator left the new endpoint's pair closed, and Node's Worker
 * refused to take it: restart() rejected with a raw DOMException DataCloneError (code 25).
 */
import type { MessagePort } from 'node:worker_threads';
import { expect, it } from 'vitest';
import { createMachine, MachineError, type Machine } from 'lparlink';

/** Blocks this thread, so that the hardware's thread ends while its exit cannot reach this one yet (nothing here can see that happen). */
const blockThisThread = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

it('104: a restart whose call the dying hardware never handled rejects EHWRESET; the partition stays down and terminate() settles', async () => {
  const machine = await createMachine({ wait: 'sleep', testHooks: true, partitions: [{ id: 1 }, { id: 2 }] });
  try {
    // The admin proxy, as restart() uses it, with the hardware crashed (its test hook) just before the call goes.
    const internal = machine as unknown as { admin: Record<string, (...args: unknown[]) => Promise<unknown>> };
    const admin = internal.admin;
    const crashFirst = new Proxy(admin, {
      get(target, method) {
        if (method !== 'restartPartition') return Reflect.get(target, method);
        return (...args: unknown[]) => {
          void admin.crash().catch(() => {});
          blockThisThread(3000); // the hardware's thread throws at its next turn and ends
          return admin.restartPartition(...args);
        };
      },
    });
    Object.defineProperty(machine, 'admin', { value: crashFirst });
    const hardwareExit = new Promise((resolve) => machine.once('hardwareExit', resolve));
    const restarted = await machine.partition(1).restart().then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await hardwareExit;
    expect(restarted).toBeInstanceOf(MachineError);
    expect(restarted).toMatchObject({ code: 'EHWRESET' });
    expect(machine.failure?.code).toBe('EHWRESET');
    expect(machine.partition(1).running).toBe(false);
    await machine.partition(1).terminate(); // waited on the restart for good before
    await expect(machine.partition(1).restart()).rejects.toMatchObject({ code: 'EHWRESET' });
  } finally {
    await machine.close();
  }
}, 60_000);

it('104: a restart whose new control endpoint closed with the hardware after it answered rejects EHWRESET, not a raw DataCloneError', async () => {
  const machine = await createMachine({ wait: 'sleep', testHooks: true, partitions: [{ id: 1 }, { id: 2 }] });
  try {
    // What the hardware's thread ending does to the endpoint it was handed, played without ending it
    // (its exit would reach this thread first here, and restart() would say EHWRESET for that): its
    // end closes, the pair with it, and the answer (a port) has come.
    const internal = machine as unknown as { admin: Record<string, (...args: unknown[]) => Promise<unknown>> };
    const admin = internal.admin;
    const endClosed = new Proxy(admin, {
      get(target, method) {
        if (method !== 'restartPartition') return Reflect.get(target, method);
        return async (_index: number, hardwareEnd: MessagePort) => {
          hardwareEnd.close();
          await new Promise((resolve) => setTimeout(resolve, 10)); // the close reaches the pair's other end
          return new SharedArrayBuffer(machine.hooks!.portOf(1).byteLength);
        };
      },
    });
    Object.defineProperty(machine, 'admin', { value: endClosed });
    const restarted = await machine.partition(1).restart().then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(restarted).toBeInstanceOf(MachineError);
    expect(restarted).toMatchObject({ code: 'EHWRESET', cause: expect.objectContaining({ name: 'DataCloneError' }) });
    expect(machine.partition(1).running).toBe(false);
    await machine.partition(1).terminate();
  } finally {
    await machine.close();
  }
}, 60_000);

it('104: restarts raced against a hardware crash settle as restarted or EHWRESET, never with an untyped error', async () => {
  const outcomes: unknown[] = [];
  for (let attempt = 0; attempt < 16; attempt++) {
    const machine: Machine = await createMachine({ wait: 'sleep', testHooks: true, partitions: [{ id: 1 }, { id: 2 }] });
    try {
      const hardwareExit = new Promise((resolve) => machine.once('hardwareExit', resolve));
      // The crash goes as the old run's exit is heard, a few turns before the restart asks for the new port.
      machine.once('partitionExit', async () => {
        for (let turn = 0; turn < 5 + (attempt % 5); turn++) await new Promise((resolve) => setImmediate(resolve));
        void machine.hooks!.crashHardware();
      });
      outcomes.push(await machine.partition(1).restart().then(() => 'restarted', (e: unknown) => e));
      await hardwareExit;
    } finally {
      await machine.close();
    }
  }
  const untyped = outcomes.filter((o) => o !== 'restarted' && !(o instanceof MachineError && o.code === 'EHWRESET'));
  expect(untyped).toEqual([]);
}, 120_000);
