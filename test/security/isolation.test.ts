/** THREATS.md cases 17 and 23–25: what a partition is given, what it may say on its control port, and a hardware crash. */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { MachineError } from 'lparlink';
import { portBytes } from 'lparlink/internal';
import { checkControlMessage } from '../../src/hardware/control-endpoint.js';
import { numbered, rawChannel, RESET_WATCH, SMALL, waitFor, withBench } from './harness.js';

const A = 3;
const P = 4;

describe('JavaScript isolation', () => {
  it('case 23: a partition receives exactly one SharedArrayBuffer, its own whole port, and no other memory', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const a = b.os(A);
      const info = await a.info();
      expect(info).toMatchObject({ partitionId: A, contextKeys: ['control', 'name', 'partitionId', 'port'], portIsShared: true, sharedBuffers: 1, controlIsPort: true });
      // The port is a buffer of its own, exactly the size of its layout: never a view into something larger.
      const expected = portBytes({ ...SMALL, queuePairs: SMALL.processesPerPartition, channelSlots: SMALL.channelsPerPartition, completionRingBytes: 4096 });
      expect(info.portBytes).toBe(expected);
      expect(b.machine.hooks!.portOf(A).byteLength).toBe(expected);
      const ports = b.machine.partitions.map((p) => b.machine.hooks!.portOf(p.id));
      expect(new Set(ports).size).toBe(ports.length);
      // Everything the partition writes lands in its own port and nowhere else.
      const mark = b.honest.progress();
      await a.fillWords(0, expected / 4, 0xa5a5_a5a5);
      const marker = Buffer.alloc(64, 0xa5);
      for (const p of b.machine.partitions) {
        const found = Buffer.from(new Uint8Array(b.machine.hooks!.portOf(p.id))).indexOf(marker);
        if (p.id === A) expect(found).toBe(0);
        else expect(found, `the attacker's marker in partition ${p.id}'s port`).toBe(-1);
      }
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 24: hostile control messages are rejected and counted, never merged into objects; the endpoint keeps answering', async () => {
    const kinds = [
      'protoKey', 'protoArgument', 'cycle', 'deep', 'hugeString', 'hugeMethod', 'transferredPort', 'foreignShared', 'ownPort',
      'stringArgument', 'bigintArgument', 'walkPrototype', 'applyConstructor', 'nestedPath', 'construct', 'release',
      'hardwareAdmin', 'adminPorts', 'wrongArity', 'notObject', 'nullMessage', 'arrayMessage',
    ];
    const raw = (value: unknown) => ({ type: 'RAW', value });
    const fromTest = [
      { id: 't1', type: 'APPLY', path: ['connect'], argumentList: [raw(0), raw(1), raw(7)], extra: true },
      { id: 't2', type: 'APPLY', path: ['connect'], argumentList: [{ type: 'RAW', value: 0, extra: 1 }, raw(1), raw(7)] },
      { id: 3, type: 'APPLY', path: ['openQueuePair'], argumentList: [raw(0)] },
      { id: 't4', type: 'APPLY', path: ['openQueuePair'], argumentList: [{ type: 'HANDLER', name: 'proxy', value: 0 }] },
      { id: 't5', type: 'APPLY', path: 'openQueuePair', argumentList: [raw(0)] },
      { id: 't6', type: 'APPLY', path: ['toString'], argumentList: [] },
      { id: 't7', type: 'APPLY', path: ['openQueuePair'], argumentList: [raw({ valueOf: 0 })] },
    ];
    await withBench({ hostile: [A] }, async (b) => {
      const a = b.os(A);
      const mark = b.honest.progress();
      for (const kind of kinds) expect(await a.postHostile(kind), kind).toBe('sent');
      for (const m of fromTest) await a.postRaw(m);
      const n = kinds.length + fromTest.length;
      await waitFor(`${n} rejected control messages`, () => b.stats(A).violations.badControlMessage === n);
      expect(b.violations(A)).toEqual({ total: n, badControlMessage: n });
      // Still a working endpoint, and its answers carry nothing but the result.
      expect(await a.open(0)).toEqual({ ok: true, process: expect.any(Number) });
      expect(await a.listen(0, 99)).toEqual({ ok: true });
      expect(await a.open(0)).toEqual({ ok: false, code: 'EINVAL', message: 'queue pair 0 is already in use' });
      expect(await a.call('openQueuePair', 1.5)).toMatchObject({ ok: false, code: 'EINVAL' });
      expect(await a.call('connect', 0, Number.NaN, 7)).toMatchObject({ ok: false, code: 'EINVAL' });
      expect(b.violations(A)).toEqual({ total: n, badControlMessage: n });
      await b.honest.advances(mark);
      await b.honest.finish();
    });

    // The check itself, in this thread: a __proto__ key is refused, and nothing reaches Object.prototype.
    const call = (extra: string) =>
      JSON.parse(`{"id":"1","type":"APPLY","path":["connect"],"argumentList":[{"type":"RAW","value":0${extra}},{"type":"RAW","value":1},{"type":"RAW","value":7}]}`);
    expect(checkControlMessage(call(',"__proto__":{"polluted":true}'))).toBe('arguments must be plain values');
    expect(checkControlMessage({ ...call(''), ...JSON.parse('{"__proto__":{"polluted":true}}') })).toBe("unexpected field '__proto__'");
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const clean = checkControlMessage(call(''));
    expect(clean).toEqual({ id: '1', type: 'APPLY', path: ['connect'], argumentList: [raw(0), raw(1), raw(7)] });
  });

  it('case 25: when the hardware worker crashes the machine fails closed: EHWRESET everywhere, nothing delivered, close() completes', async () => {
    await withBench({ hostile: [A, P], standard: [6, 7] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const ch = await rawChannel(b, A, 0, P, 0, 9);
      const listening = await b.machine.partition(6).spawn(RESET_WATCH, { port: 50 });
      const connecting = await waitFor('the watcher to connect', async () => {
        const h = await b.machine.partition(7).spawn(RESET_WATCH, { partition: 6, port: 50, connect: { partition: 6, port: 51 } });
        return h;
      });
      await waitFor('the watchers\' channel', () => b.machine.hooks!.liveKeyCount().then((n) => n === 6));
      const exited = once(b.machine, 'hardwareExit');
      await b.machine.hooks!.crashHardware();
      const [info] = (await exited) as [{ exitCode: number; error?: Error }];
      expect(info.error?.message).toBe('hardware test hook: crash');
      expect(b.machine.failure).toBeInstanceOf(MachineError);
      expect(b.machine.failure?.code).toBe('EHWRESET');

      // Every process learns it: pending receives, sends and new connects fail with EHWRESET. The
      // keys exist once the hardware made the channel, a moment before its answers reach the
      // watchers: a crash in between fails their accept or connect itself, with EHWRESET too.
      const outcome = (h: typeof listening) => h.result.then((r) => r as Record<string, unknown>, (e: { code?: string }) => ({ setup: e.code }));
      for (const [h, expected] of [
        [listening, { recv: 'EHWRESET', send: 'EHWRESET' }],
        [connecting, { recv: 'EHWRESET', send: 'EHWRESET', connect: 'EHWRESET' }],
      ] as const) {
        const r = await outcome(h);
        if ('setup' in r) expect(r).toEqual({ setup: 'EHWRESET' });
        else expect(r).toMatchObject(expected);
      }
      for (const r of await b.honest.settled()) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'EHWRESET' } });
      await expect(b.machine.partition(6).spawn(RESET_WATCH, { port: 52 })).rejects.toMatchObject({ code: 'EHWRESET' });
      await expect(b.machine.partition(A).restart()).rejects.toMatchObject({ code: 'EHWRESET' });

      // Nothing moves under the old keys: a request published now is never consumed.
      const before = b.stats(P).delivered;
      expect(await a.send(0, ch.send, numbered(1))).toBeGreaterThan(0);
      await a.doorbell();
      await p.send(0, ch.receive, numbered(2));
      expect(await a.sendPositions(0)).toEqual({ producer: 32, consumer: 0 });
      expect(await p.readReceive(0)).toEqual([]);
      expect(await a.readReceive(0)).toEqual([]);
      expect(b.stats(P).delivered).toBe(before);
    });
  });
});
