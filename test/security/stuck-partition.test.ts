/**
 * THREATS.md case 42: a partition blocked outside JavaScript. Worker.terminate() stops a thread at
 * its next JavaScript instruction, so a partition whose thread sits in a synchronous system call
 * (here spawnSync of a sleeping child) held terminate() and close() for as long as that call
 * lasted. Both now wait DEFAULTS.terminateTimeoutMs, then let the thread go (unref'd: it cannot
 * hold the process open, and no more of its JavaScript runs once the call returns) with a warning
 * that names the partition. The test checks that close() resolved while the blocking call still
 * ran (its child process is still there), not how long it took.
 */
import { execFileSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const BLOCK = new URL('../fixtures/security/block-in-syscall.mjs', import.meta.url);
const ECHO_SERVER = new URL('../fixtures/echo-server.mjs', import.meta.url);
const ECHO_CLIENT = new URL('../fixtures/echo-client.mjs', import.meta.url);
/** Seconds the child sleeps: unusual enough to find it by its command line, well past terminateTimeoutMs. */
const SECONDS = '30.4417';

const sleeping = (): boolean => {
  try {
    return execFileSync('pgrep', ['-f', `^sleep ${SECONDS}$`]).toString().trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
};

it('42: close() lets go of a partition blocked in a system call, with a warning naming it', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'blocked' }, { id: 2 }] });
  try {
    await machine.partition(1).spawn(BLOCK, { seconds: Number(SECONDS) });
    for (let i = 0; i < 100 && !sleeping(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(sleeping(), 'the partition is inside spawnSync').toBe(true);
    await machine.close();
    expect(sleeping(), 'close() resolved while the blocking call still ran').toBe(true);
    await new Promise((r) => setImmediate(r)); // process.emitWarning emits on a later tick
    const stuck = warnings.filter((w) => (w as Error & { code?: string }).code === 'LPARLINK_PARTITION_STUCK');
    expect(stuck.map((w) => w.message)).toEqual([expect.stringMatching(/^partition 1 \(blocked\) did not stop within 5000 ms of being terminated: its thread is blocked outside JavaScript/)]);
  } finally {
    process.off('warning', onWarning);
    try {
      execFileSync('pkill', ['-f', `^sleep ${SECONDS}$`]);
    } catch {}
  }
}, 30_000);

/** A partition let go by terminate() is down at once; a restart()ed run is not touched when the old thread finally exits. */
it('42: a let-go partition reads as down at once, and a restart after it survives the old thread\'s exit', async () => {
  const seconds = '6.3119';
  const exits: Array<{ id: number; reason: string }> = [];
  const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'blocked' }, { id: 2 }] });
  const onWarning = (): void => {};
  process.on('warning', onWarning);
  machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
  try {
    const blocked = await machine.partition(1).spawn(BLOCK, { seconds: Number(seconds) });
    await new Promise((r) => setTimeout(r, 300));
    await machine.partition(1).terminate();
    // Down at once: its program's result rejects, spawn refuses, the event fired once.
    expect(machine.partition(1).running).toBe(false);
    await expect(blocked.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN', message: 'EPARTITIONDOWN: partition 1 (blocked) was terminated by terminate()' });
    await expect(machine.partition(1).spawn(ECHO_SERVER, { port: 7 })).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
    expect(exits).toEqual([{ id: 1, reason: 'terminate' }]);
    await machine.partition(1).restart();
    // The old thread's sleep ends (and its worker exits) while the new run serves.
    for (let i = 0; i < 200 && execOk(`^sleep ${seconds}$`); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect(machine.partition(1).running).toBe(true);
    const server = await machine.partition(1).spawn(ECHO_SERVER, { port: 7 });
    const client = await machine.partition(2).spawn(ECHO_CLIENT, { partition: 1, port: 7, n: 16 });
    expect(await client.result).toMatchObject({ sent: 16 });
    expect(await server.result).toMatchObject({ echoed: 16 });
    expect(exits).toEqual([{ id: 1, reason: 'terminate' }]);
  } finally {
    process.off('warning', onWarning);
    await machine.close();
  }
}, 30_000);

function execOk(pattern: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim() !== '';
  } catch {
    return false;
  }
}
