/**
 * THREATS.md case 103: terminate() of a partition whose aborted program ignores its abort. The
 * abort's grace timer (spawn's abortGraceMs) restarts the partition if the program's run is still
 * alive when it fires; while terminate() waited for a thread stuck outside JavaScript, the run was
 * still alive, so the timer restarted the partition behind terminate(): the exit was reported as
 * 'abortGraceMs', and the partition came back up after terminate() had resolved.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack15a-roles.mjs', import.meta.url);
/** Seconds the child sleeps: unusual enough to find it by, longer than the grace, shorter than terminateTimeoutMs (5 s). */
const SECONDS = '3.0417';

const sleeping = (): boolean => {
  try {
    return execFileSync('pgrep', ['-f', `^sleep ${SECONDS}$`]).toString().trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
};

it('103: terminate() of a partition whose aborted program is stuck in a system call leaves it down; the abort grace does not restart it behind terminate()', async () => {
  const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'stuck' }, { id: 2 }] });
  try {
    const exits: Array<{ id: number; reason: string }> = [];
    machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
    const controller = new AbortController();
    const handle = await machine.partition(1).spawn(ROLES, { role: 'stuckInSyscall', seconds: Number(SECONDS) }, { signal: controller.signal, abortGraceMs: 50 });
    for (let i = 0; i < 200 && !sleeping(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(sleeping(), 'the program is inside spawnSync').toBe(true);
    controller.abort(new Error('operator gave up'));
    // The operator stops the partition; the thread leaves the system call only after the grace has passed.
    await machine.partition(1).terminate();
    await expect(handle.result).rejects.toMatchObject({ code: 'EABORTED' });
    expect(exits).toEqual([{ id: 1, reason: 'terminate' }]);
    expect(machine.partition(1).running).toBe(false);
    // No restart is under way: a spawn is told the partition is down, not that it is restarting.
    const refused = await machine.partition(1).spawn(ROLES, { role: 'stuckInSyscall', seconds: 0 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MachineError);
    expect(refused).toMatchObject({ code: 'EPARTITIONDOWN', message: expect.stringMatching(/is not running; restart\(\) it first/) });
    // The operator's own restart still brings it back, once.
    await machine.partition(1).restart();
    expect(machine.partition(1).running).toBe(true);
    expect(exits).toEqual([{ id: 1, reason: 'terminate' }]);
  } finally {
    await machine.close();
    try {
      execFileSync('pkill', ['-f', `^sleep ${SECONDS}$`]);
    } catch {}
  }
}, 60_000);
