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
import { PartitionControl } from '../../src/hardware/control-endpoint.js';
import { Hardware } from '../../src/hardware/hardware.js';
import { QueuePairState } from '../../src/hardware/partition-port.js';
import { createMachine } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';

const BLOCK = new URL('../fixtures/security/block-in-syscall.mjs', import.meta.url);
const ECHO_SERVER = new URL('../fixtures/echo-server.mjs', import.meta.url);
const ECHO_CLIENT = new URL('../fixtures/echo-client.mjs', import.meta.url);
const BLOCK_WITH_HELPER = new URL('../fixtures/security/block-with-helper.mjs', import.meta.url);
const ACCEPT_FIRST = new URL('../fixtures/security/accept-first.mjs', import.meta.url);
const LISTEN_PROBE = new URL('../fixtures/security/listen-probe.mjs', import.meta.url);
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

/**
 * THREATS.md case 43: a run let go while stuck still runs, or has handed its control endpoint and
 * port to a worker of its own (which lives on while its parent is blocked). After restart(), that
 * worker tried the hardware through the old run's endpoint: it took the new run's port 9 (whose own
 * listen then failed EADDRINUSE), reactivated the old queue pair and connected as the partition.
 * The hardware closes a partition's endpoint when the partition goes down and refuses a port that
 * is down: none of it is answered ok, the new run listens, and nothing reaches partition 1.
 */
it('43: a let-go run cannot act for its partition after restart(), through its old endpoint or its old port', async () => {
  // Long enough for the worker's attempts after the restart: when the blocking call returns, the
  // let-go thread ends, and its worker with it.
  const seconds = '11.2207';
  const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'peer' }, { id: 3, name: 'restarted' }] });
  const onWarning = (): void => {};
  process.on('warning', onWarning);
  try {
    const go = new SharedArrayBuffer(4);
    const out = new SharedArrayBuffer(32);
    const o = new Int32Array(out);
    const peer = await machine.partition(1).spawn(ACCEPT_FIRST, { port: 7, ms: 9000 });
    await machine.partition(3).spawn(BLOCK_WITH_HELPER, { go, out, seconds: Number(seconds) });
    await new Promise((r) => setTimeout(r, 800));
    await machine.partition(3).terminate(); // lets the thread go after terminateTimeoutMs
    await machine.partition(3).restart();
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    for (let i = 0; i < 400 && Atomics.load(o, 4) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(Atomics.load(o, 4), 'the old run’s worker finished its attempts').toBe(1);
    const answered = { openQueuePair: o[0], listen: o[1], connect: o[2] };
    // 2 (refused) or 3 (no answer), never 1 (ok).
    for (const [call, code] of Object.entries(answered)) expect([2, 3], call).toContain(code);
    expect(await (await machine.partition(3).spawn(LISTEN_PROBE, { port: 9 })).result, 'the restarted run’s own listen(9)').toBe('listening');
    expect(await peer.result, 'partition 1 accepted nothing from partition 3').toBe('none');
  } finally {
    process.off('warning', onWarning);
    await machine.close();
    try {
      execFileSync('pkill', ['-f', `^sleep ${seconds}$`]);
    } catch {}
  }
}, 60_000);

/**
 * Case 43 at the hardware's own boundary: a call already on its way over the old run's endpoint
 * when the partition went down (the endpoint's close stops only what comes after) is refused, and
 * a queue pair of a port that is down is never served again.
 */
it('43: the control contract of a run that is down refuses every call, and its queue pairs stay inactive', () => {
  const hw = new Hardware(resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 64 }));
  const [p1, p2] = hw.ports;
  const control = new PartitionControl(hw.manager, p2);
  expect(control.openQueuePair(0)).toMatchObject({ ok: true });
  expect(hw.manager.openQueuePair(p1, 0).ok).toBe(true);
  expect(hw.manager.listen(p1, 0, 7).ok).toBe(true);
  hw.partitionDown(1);
  const refused = { ok: false, code: 'EPERM', message: 'this run of partition 2 is over: it no longer acts for the partition' };
  expect(control.openQueuePair(1)).toEqual(refused);
  expect(control.resetQueuePair(0)).toEqual(refused);
  expect(control.listen(0, 9)).toEqual(refused);
  expect(control.unlisten(0, 9)).toEqual(refused);
  expect(control.accept(0, 9)).toEqual(refused);
  expect(control.connect(0, 1, 7)).toEqual(refused);
  expect(control.connectNode(0, 0, 1, 7)).toEqual(refused);
  // What reaches the connection manager past the contract (it takes a port, not a run) activates nothing.
  hw.manager.openQueuePair(p2, 2);
  expect(p2.queuePairs[2].state).not.toBe(QueuePairState.ACTIVE);
});

