import { describe, expect, it } from 'vitest';
import { createMachine, MachineError } from 'lparlink';
import { contains, run, until, withMachine } from './helpers.js';

const two = { partitions: [{ id: 1, name: 'db' }, { id: 2, name: 'web' }] };

describe('the secure channel fabric, claim by claim', () => {
  it('claim 1: the hardware makes a 128-bit key, the receive side stores it, and no key byte reaches a partition', async () => {
    await withMachine({ ...two, testHooks: true }, async (m) => {
      const server = await run(m, 1, { role: 'tableServer', port: 7 });
      await new Promise((r) => setTimeout(r, 200)); // let the listener register
      const client = await run(m, 2, { role: 'tableClient', partition: 1, port: 7, hold: 300 });
      // While the channel is open both ends hold the same key: two live key-table entries, one key made.
      const live = await until(async () => ((await m.hooks!.liveKeyCount()) === 2 ? 2 : 0), 'two live keys');
      expect(live).toBe(2);
      const keys = await m.hooks!.keyHistory();
      expect(keys).toHaveLength(1);
      expect(keys[0]).toHaveLength(16);
      expect(keys[0].some((b) => b !== 0)).toBe(true);
      for (const id of [1, 2]) expect(contains(new Uint8Array(m.hooks!.portOf(id)), keys[0])).toBe(false);
      await client.result;
      await server.result;
      expect(await until(async () => (await m.hooks!.liveKeyCount()) === 0, 'keys zeroed')).toBe(true);
      for (const id of [1, 2]) expect(contains(new Uint8Array(m.hooks!.portOf(id)), keys[0])).toBe(false);
    });
  });

  it('claim 1: the receive side refuses a pair the policy forbids (EPOLICY, also for a partition that does not exist) and a port nobody listens on (ECONNREFUSED)', async () => {
    await withMachine(
      { partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], policy: { allow: [[1, 2]] } },
      async (m) => {
        await run(m, 1, { role: 'drainer', port: 7 });
        await run(m, 3, { role: 'drainer', port: 7 });
        // Partition 3 listens, but the policy allows only 1↔2.
        const refused = await (await run(m, 2, { role: 'tryConnect', partition: 3, port: 7 })).result;
        expect(refused).toBe('EPOLICY');
        const nobody = await (await run(m, 2, { role: 'tryConnect', partition: 1, port: 8 })).result;
        expect(nobody).toBe('ECONNREFUSED');
        // A partition that does not exist is one the policy keeps it from, too: the refusal says
        // only that (the policy is asked first: a forbidden pair learns nothing of the other's
        // existence or liveness; test/security/review-policy-liveness.test.ts).
        const unknown = await (await run(m, 2, { role: 'tryConnect', partition: 42, port: 7 })).result;
        expect(unknown).toBe('EPOLICY');
        // Nothing was set up: no channel traffic, no violations.
        for (const p of m.stats().partitions) {
          expect(p.sent).toBe(0);
          expect(p.violations.total).toBe(0);
        }
      },
    );
  });

  it('claims 13, 17: the connection table names local process, remote partition and remote process, by handle', async () => {
    await withMachine(two, async (m) => {
      const server = await run(m, 1, { role: 'tableServer', port: 7 });
      const client = await until(async () => {
        const c = await run(m, 2, { role: 'tableClient', partition: 1, port: 7, hold: 500 });
        return c.result.then((r) => r as any, () => undefined);
      }, 'client connected');
      const s = (await server.result) as any;
      expect(client.table).toEqual([
        { channel: client.handle, localProcess: client.pid, remoteNode: 0, remotePartition: 1, remoteProcess: s.pid, state: 'open', held: false },
      ]);
      expect(s.table).toEqual([
        { channel: s.handle, localProcess: s.pid, remoteNode: 0, remotePartition: 2, remoteProcess: client.pid, state: 'open', held: false },
      ]);
      expect(client.peer).toEqual({ node: 0, partition: 1, process: s.pid });
      expect(s.peer).toEqual({ node: 0, partition: 2, process: client.pid });
      expect(s.first).toEqual([9, 8, 7]);
      expect(client.afterClose).toBe('ECLOSED');
    });
  });

  it('claims 12, 14, 16, 18: one key-table entry per connection-table entry, zeroed when the channel closes', async () => {
    await withMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], testHooks: true }, async (m) => {
      const servers = [await run(m, 1, { role: 'drainer', port: 7 }), await run(m, 3, { role: 'drainer', port: 7 })];
      await new Promise((r) => setTimeout(r, 100)); // let the listeners register
      const senders = [
        await run(m, 2, { role: 'sendUntilError', partition: 1, port: 7 }),
        await run(m, 2, { role: 'sendUntilError', partition: 3, port: 7 }),
      ];
      // Two channels, four ends, four live keys.
      expect(await until(async () => ((await m.hooks!.liveKeyCount()) === 4 ? 4 : 0), 'four keys')).toBe(4);
      await m.partition(1).terminate();
      await m.partition(3).terminate();
      for (const s of servers) await expect(s.result).rejects.toMatchObject({ code: 'EPARTITIONDOWN' });
      for (const s of senders) expect(((await s.result) as any).code).toBe('EPEERDEAD');
      expect(await until(async () => (await m.hooks!.liveKeyCount()) === 0, 'all keys zeroed')).toBe(true);
    });
  });

  it('claims 8, 10: the receive stage drops a message whose stamp does not match its own entry, and counts it', async () => {
    await withMachine({ ...two, testHooks: true }, async (m) => {
      const receiver = await run(m, 1, { role: 'drainer', port: 7 });
      await new Promise((r) => setTimeout(r, 100));
      await m.hooks!.corruptStamps(2, true);
      const sender = await run(m, 2, { role: 'sendUntilError', partition: 1, port: 7 });
      const out = (await sender.result) as any;
      // The hardware refused every message: the sender learns EPERM, the receiver got nothing.
      expect(out.code).toBe('EPERM');
      const stats = m.stats().partitions;
      expect(stats[0].violations.keyMismatch).toBeGreaterThan(0);
      expect(stats[0].delivered).toBe(0);
      expect(stats[1].sent).toBe(0);
      // The sender's process ended, so its channel closed cleanly: an empty stream.
      expect(await receiver.result).toEqual({ n: 0, end: 'closed' });
    });
  });

  it('claims 1, 11, 15: a process cannot send on a channel its queue pair does not own (EPERM, notOwner, victim receives nothing)', async () => {
    await withMachine(two, async (m) => {
      const server = await run(m, 1, { role: 'victimServer', port: 7, expect: 2 });
      await new Promise((r) => setTimeout(r, 100));
      const victim = await run(m, 2, { role: 'victimClient', partition: 1, port: 7, messages: [[1], [2]], waitMs: 1500 });
      const hijack = (await (await run(m, 2, { role: 'hijacker', victimProcess: victim.pid, count: 5 })).result) as any;
      expect(hijack.completions.length).toBeGreaterThan(0);
      for (const c of hijack.completions) expect(c).toMatchObject({ status: 7 /* EPERM */, channel: hijack.channel, opcode: 2 });
      expect(hijack.completions.reduce((s: number, c: any) => s + c.count, 0)).toBe(5);
      expect(await server.result).toEqual({ got: [[1], [2]], leftover: null });
      await victim.result;
      const web = m.stats().partitions[1];
      expect(web.violations.notOwner).toBe(5);
      expect(web.violations.total).toBe(5);
      expect(web.sent).toBe(2);
    });
  });

  it('delivers several concurrent streams of 10^5 messages each: in order, none lost, duplicated or corrupted', async () => {
    const n = 100_000;
    await withMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }] }, async (m) => {
      const receiver = await run(m, 1, { role: 'streamReceiver', port: 7, channels: 3 });
      await new Promise((r) => setTimeout(r, 100));
      const senders = [
        await run(m, 2, { role: 'streamSender', partition: 1, port: 7, n, stream: 1, batch: true }),
        await run(m, 3, { role: 'streamSender', partition: 1, port: 7, n, stream: 2, batch: false }),
        await run(m, 3, { role: 'streamSender', partition: 1, port: 7, n, stream: 3, batch: true }),
      ];
      for (const s of senders) expect(await s.result).toEqual({ sent: n });
      const results = (await receiver.result) as Array<{ received: number; bad: number }>;
      expect(results.map((r) => [r.received, r.bad])).toEqual([
        [n, 0],
        [n, 0],
        [n, 0],
      ]);
      const stats = m.stats().partitions;
      expect(stats[0].delivered).toBe(3 * n);
      expect(stats[1].sent + stats[2].sent).toBe(3 * n);
      expect(stats.every((p) => p.violations.total === 0)).toBe(true);
    });
  }, 120_000);

  it('bad arguments from a program are typed errors: EINVAL, EMSGSIZE, ECLOSED', async () => {
    await withMachine({ ...two, maxMessageBytes: 4096 }, async (m) => {
      await run(m, 1, { role: 'drainer', port: 7 });
      await new Promise((r) => setTimeout(r, 100));
      const codes = await (await run(m, 2, { role: 'badArgs', partition: 1, port: 7, maxMessageBytes: 4096 })).result;
      expect(codes).toEqual({
        connectNoObject: 'EINVAL',
        connectBadPartition: 'EINVAL',
        connectBadPort: 'EINVAL',
        listenBadPort: 'EINVAL',
        connectUnknownPartition: 'ECONNREFUSED',
        sendString: 'EINVAL',
        sendTooBig: 'EMSGSIZE',
        sendMax: 'ok',
        batchNotArray: 'EINVAL',
        sendAfterClose: 'ECLOSED',
        recvAfterClose: 'ECLOSED',
      });
    });
  });

  it('a partition that crashes: its peers get EPEERDEAD, the rest keeps working, close() completes', async () => {
    const m = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }] });
    const exits: number[] = [];
    m.on('partitionExit', (e) => exits.push(e.id));
    const drainer = await run(m, 1, { role: 'drainer', port: 7 });
    await new Promise((r) => setTimeout(r, 100));
    const doomed = await run(m, 2, { role: 'streamSender', partition: 1, port: 7, n: 1e9, stream: 1, batch: true });
    await until(() => m.stats().partitions[0].delivered > 1000, 'traffic');
    await m.partition(2).terminate();
    const drained = (await drainer.result) as { n: number; end: string };
    expect(drained.end).toBe('EPEERDEAD');
    expect(drained.n).toBeGreaterThan(1000);
    await expect(doomed.result).rejects.toMatchObject({ name: 'MachineError', code: 'EPARTITIONDOWN' });
    expect(exits).toEqual([2]);
    // The others still talk.
    await run(m, 3, { role: 'drainer', port: 9 });
    await new Promise((r) => setTimeout(r, 100));
    const s = await run(m, 4, { role: 'streamSender', partition: 3, port: 9, n: 1000, stream: 4, batch: false });
    expect(await s.result).toEqual({ sent: 1000 });
    // A program that throws or exits its partition.
    await expect((await run(m, 4, { role: 'crash' })).result).rejects.toThrow('program crashed on purpose');
    // process.exit() takes the whole partition down, possibly before spawn() has answered.
    await expect(run(m, 3, { role: 'exitPartition' }).then((h) => h.result)).rejects.toBeInstanceOf(MachineError);
    expect(await until(() => exits.length === 2 && exits, 'second exit')).toEqual([2, 3]);
    await m.close();
    await expect(m.partition(1).spawn(new URL('../fixtures/fabric.mjs', import.meta.url), {})).rejects.toMatchObject({ code: 'ECLOSED' });
  });
});
