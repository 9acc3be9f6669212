/**
 * Attack run 15a: lifecycle races with real partition workers, tried and found holding
 * (docs/THREATS.md, "Found nothing (attack run 15a)").
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ChannelError, createMachine, MachineError } from 'lparlink';

const ROLES = new URL('../fixtures/security/attack15a-roles.mjs', import.meta.url);
const OUT_OF_TURN_OS = new URL('../fixtures/security/attack15a-os.mjs', import.meta.url).href;

interface OutOfTurnOs {
  ping(): Promise<string>;
  hold(): Promise<never>;
  readyAgain(): Promise<string>;
  exitMidCall(): Promise<never>;
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('attack run 15a: what held', () => {
  it('an aborted program blocked in recvIntoSync (no bound) is ended by the grace restart: its peer hears EPEERDEAD, its sibling EPARTITIONDOWN, and the new run serves the same port', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }, { id: 2, name: 'blocked' }, { id: 3 }] });
    try {
      const exits: Array<{ id: number; reason: string }> = [];
      machine.on('partitionExit', ({ id, reason }) => exits.push({ id, reason }));
      const flag = new SharedArrayBuffer(4);
      const sibling = await machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 9 });
      const controller = new AbortController();
      const blocked = await machine.partition(2).spawn(ROLES, { role: 'blockedReader', port: 7, flag }, { signal: controller.signal, abortGraceMs: 200 });
      const peer = await machine.partition(1).spawn(ROLES, { role: 'readToEnd', target: { partition: 2, port: 7 } });
      await until(() => Atomics.load(new Int32Array(flag), 0) === 1, 'the reader to block');
      controller.abort(new Error('operator gave up'));
      await expect(blocked.result).rejects.toMatchObject({ code: 'EABORTED' });
      await expect(peer.result).resolves.toEqual({ received: 0, end: 'EPEERDEAD' });
      await expect(sibling.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
      expect(exits).toEqual([{ id: 2, reason: 'abortGraceMs' }]);
      await until(() => machine.partition(2).running, 'the grace restart to boot');
      const again = await machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 7 });
      const sender = await machine.partition(3).spawn(ROLES, { role: 'sendText', target: { partition: 2, port: 7 }, text: 'new run' });
      await expect(sender.result).resolves.toBe('sent');
      await expect(again.result).resolves.toBe('new run');
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0, 0]);
    } finally {
      await machine.close();
    }
  }, 60_000);

  it("a server's partition restarted while an honest client connects to it over and over: every connect settles typed, no channel carries both runs' messages, and none of the old run's arrives after the new run's first", async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'server' }, { id: 2, name: 'client' }] });
    try {
      const flag = new SharedArrayBuffer(4);
      const accepted = new Int32Array(flag);
      const messages = 4;
      void (await machine.partition(1).spawn(ROLES, { role: 'taggingServer', port: 7, tag: 'run1', messages, flag })).result.catch(() => {});
      const client = await machine.partition(2).spawn(ROLES, { role: 'taggedClient', target: { partition: 1, port: 7 }, n: 40, messages });
      await until(() => Atomics.load(accepted, 0) >= 10, 'ten channels of the first run');
      await machine.partition(1).restart();
      void (await machine.partition(1).spawn(ROLES, { role: 'taggingServer', port: 7, tag: 'run2', messages, flag })).result.catch(() => {});
      const channels = (await client.result) as Array<{ connect?: string; seen?: string[]; end?: string }>;
      expect(channels).toHaveLength(40);
      let secondRunSeen = false;
      for (const ch of channels) {
        if (ch.connect !== undefined) {
          expect(ch.connect).toBe('ECONNREFUSED'); // only while nobody listened, past the retry's bound
          continue;
        }
        const runs = new Set(ch.seen!.map((m) => m.split(':')[0]));
        expect(runs.size).toBeLessThanOrEqual(1);
        if (runs.has('run2')) secondRunSeen = true;
        if (runs.has('run1')) expect(secondRunSeen).toBe(false);
        // A channel's messages in order, from 0; it ends with all of them or with why it ended
        // (ECONNREFUSED: it waited in the old run's backlog, never accepted, when the restart
        // dropped the listener; seen once in CI).
        expect(ch.seen!.map((m) => Number(m.split(':')[1]))).toEqual(ch.seen!.map((_, i) => i));
        expect(['all', 'EPEERDEAD', 'ECLOSED', 'ECONNREFUSED']).toContain(ch.end);
        if (ch.end === 'ECONNREFUSED') expect(ch.seen).toEqual([]);
      }
      expect(secondRunSeen).toBe(true);
      expect(channels.filter((c) => c.end === 'all').length).toBeGreaterThanOrEqual(30);
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0]);
    } finally {
      await machine.close();
    }
  }, 90_000);

  it('close() racing spawns at every stage (aborted while starting, a program blocked in a system call, a restart booting): every promise settles, typed', async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] });
    const settled: Array<{ what: string; outcome: unknown }> = [];
    const watch = (what: string, p: Promise<unknown>): Promise<void> =>
      p.then(
        (v) => void settled.push({ what, outcome: v === undefined ? 'ok' : 'value' }),
        (e: unknown) => void settled.push({ what, outcome: e instanceof MachineError || e instanceof ChannelError ? e.code : e }),
      );
    const controller = new AbortController();
    const waits: Promise<void>[] = [];
    // Partition 1: a program in a system call; partition 2: spawns, one aborted while starting; partition 3: restarting.
    const stuck = await machine.partition(1).spawn(ROLES, { role: 'stuckInSyscall', seconds: 1.5117 });
    waits.push(watch('stuck result', stuck.result));
    const sleeping = (): boolean => {
      try {
        return execFileSync('pgrep', ['-f', '^sleep 1.5117$']).toString().trim() !== '';
      } catch {
        return false; // pgrep exits 1 when nothing matches
      }
    };
    await until(sleeping, 'the program to enter its system call');
    const starting = machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 9 }, { signal: controller.signal });
    controller.abort(new Error('cancelled'));
    waits.push(watch('aborted spawn', starting));
    waits.push(watch('second spawn', machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 10 }).then((h) => h.result)));
    waits.push(watch('restart', machine.partition(3).restart()));
    waits.push(watch('close', machine.close()));
    waits.push(watch('spawn after close', machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 11 })));
    waits.push(watch('restart after close', machine.partition(1).restart()));
    await Promise.all(waits);
    const byWhat = Object.fromEntries(settled.map((s) => [s.what, s.outcome]));
    expect(byWhat).toEqual({
      'stuck result': 'ECLOSED',
      'aborted spawn': 'EABORTED',
      'second spawn': 'ECLOSED',
      restart: 'ECLOSED',
      close: 'ok',
      'spawn after close': 'ECLOSED',
      'restart after close': 'ECLOSED',
    });
  }, 60_000);

  it("a replacement OS that posts a second READY mid-call, exits mid-call, or is restarted under a call: each waiting call rejects EPARTITIONDOWN, the exit is named, and the honest pair talks on", async () => {
    const machine = await createMachine({ wait: 'sleep', partitions: [{ id: 1, name: 'hostile', os: OUT_OF_TURN_OS }, { id: 2 }, { id: 3 }] });
    try {
      const exits: Array<{ id: number; reason: string; code?: string }> = [];
      machine.on('partitionExit', ({ id, reason, error }) => exits.push({ id, reason, code: (error as MachineError | undefined)?.code }));
      const hostile = machine.partition(1);
      const honestPair = async (text: string): Promise<void> => {
        const rx = await machine.partition(2).spawn(ROLES, { role: 'acceptOne', port: 9 });
        const tx = await machine.partition(3).spawn(ROLES, { role: 'sendText', target: { partition: 2, port: 9 }, text });
        await expect(tx.result).resolves.toBe('sent');
        await expect(rx.result).resolves.toBe(text);
      };
      const os = () => hostile.os as unknown as OutOfTurnOs;
      // A second READY while a call waits takes the place of that call's answer (the partition posts
      // no more than it owes); the call then waits until the run ends, and is told so.
      const held = os().hold().catch((e: unknown) => e); // rejects while the test awaits something else
      await expect(os().readyAgain()).resolves.toBe('ok');
      await expect(os().ping()).resolves.toBe('pong');
      expect(exits).toEqual([]);
      await hostile.restart();
      expect(await held).toMatchObject({ code: 'EPARTITIONDOWN' });
      // A second READY with nothing owed: the partition is ended, named a crash, and later calls are refused.
      await expect(os().readyAgain()).resolves.toBe('ok');
      await new Promise<void>((resolve) => machine.once('partitionExit', () => resolve()));
      expect(exits).toEqual([{ id: 1, reason: 'restart', code: undefined }, { id: 1, reason: 'crash', code: 'EINVAL' }]);
      await expect(os().ping()).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
      await honestPair('after a second READY');
      // An exit in the middle of a call.
      await hostile.restart();
      const waiting = os().hold().catch((e: unknown) => e);
      await expect(os().exitMidCall()).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
      expect(await waiting).toMatchObject({ code: 'EPARTITIONDOWN' });
      expect(exits.at(-1)).toEqual({ id: 1, reason: 'exit', code: undefined });
      // A restart under a call: the call and the old run's proxy say the run ended; the new run answers.
      await hostile.restart();
      const oldProxy = os();
      const before = oldProxy.hold().catch((e: unknown) => e);
      await hostile.restart();
      expect(await before).toMatchObject({ code: 'EPARTITIONDOWN' });
      await expect(oldProxy.ping()).rejects.toMatchObject({ code: 'EPARTITIONDOWN', message: expect.stringMatching(/belongs to a run of partition 1 \(hostile\) that ended/) });
      await expect(os().ping()).resolves.toBe('pong');
      expect(exits.map((e) => e.reason)).toEqual(['restart', 'crash', 'exit', 'restart']);
      await honestPair('after the restarts');
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0, 0]);
    } finally {
      await machine.close();
    }
  }, 60_000);
});
