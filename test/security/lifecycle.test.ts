/** THREATS.md cases 11–15 (key and channel lifecycle), provoked from inside partitions and with the operator's test hooks. */
import { once } from 'node:events';
import { webcrypto } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { createMachine } from 'lparlink';
import { handleGeneration, handleSlot, RecordType, Status } from 'lparlink/internal';
import { KeyTable } from '../../src/hardware/key-table.js';
import { completions, numbered, rawChannel, RECORD_SERVER, receiveAll, RESET_WATCH, SMALL, waitFor, withBench } from './harness.js';

const SLOTS = SMALL.channelsPerPartition;

const A = 3;
const P = 4;

/** Every 8-byte window of every key, as little-endian 64-bit values. */
function keyWindows(keys: Uint8Array[]): Set<bigint> {
  const windows = new Set<bigint>();
  for (const k of keys) {
    const v = new DataView(k.buffer, k.byteOffset, k.byteLength);
    for (let i = 0; i + 8 <= k.byteLength; i++) windows.add(v.getBigUint64(i, true));
  }
  return windows;
}

/** Offsets in `bytes` where 8 consecutive bytes equal a window of some key. */
function findKeyBytes(bytes: Uint8Array, windows: Set<bigint>): number[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hits: number[] = [];
  for (let i = 0; i + 8 <= bytes.byteLength; i++) if (windows.has(v.getBigUint64(i, true))) hits.push(i);
  return hits;
}

/** Every number in a structured value, as the 32-bit words a key would show up as. */
function wordsIn(value: unknown, out: number[] = []): number[] {
  if (typeof value === 'number') out.push(value >>> 0);
  else if (ArrayBuffer.isView(value)) out.push(...new Uint32Array(new Uint8Array(value.buffer, value.byteOffset, value.byteLength & ~3).slice().buffer));
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) wordsIn(v, out);
  return out;
}

describe('key and channel lifecycle', () => {
  it('case 11: a stale handle after close and slot reuse gets ESTALE; the slot\'s new owner receives nothing from it', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const old = await rawChannel(b, A, 0, P, 0, 9);
      await a.close(0, old.send);
      expect(await completions(a, 0, 1)).toEqual([{ status: Status.OK, channel: old.send, opcode: RecordType.CLOSE, count: 1 }]);
      const reused = await rawChannel(b, A, 1, P, 1, 10); // another process of the attacker's partition gets the slot
      expect(handleSlot(reused.send, SLOTS)).toBe(handleSlot(old.send, SLOTS));
      expect(handleGeneration(reused.send, SLOTS)).toBe(handleGeneration(old.send, SLOTS) + 1);
      const mark = b.honest.progress();

      await a.send(0, old.send, numbered(1)); // the old owner, old generation
      await a.send(1, old.send, numbered(2)); // the new owner, old generation
      await a.send(0, reused.send, numbered(3)); // the old owner, new generation
      expect(await completions(a, 0, 2)).toEqual([
        { status: Status.ESTALE, channel: old.send, opcode: RecordType.SEND, count: 1 },
        { status: Status.EPERM, channel: reused.send, opcode: RecordType.SEND, count: 1 },
      ]);
      expect(await completions(a, 1, 1)).toEqual([{ status: Status.ESTALE, channel: old.send, opcode: RecordType.SEND, count: 1 }]);
      expect(b.violations(A)).toEqual({ total: 3, staleHandle: 2, notOwner: 1 });
      // The peer saw the old channel end, and nothing on the new one until its owner sends.
      expect(await receiveAll(p, 0, 1)).toEqual([{ type: RecordType.END, channel: old.receive, status: Status.OK, bytes: [] }]);
      expect(await p.readReceive(1)).toEqual([]);
      await a.send(1, reused.send, numbered(4));
      expect(await receiveAll(p, 1, 1)).toEqual([{ type: RecordType.DATA, channel: reused.receive, status: Status.OK, bytes: numbered(4) }]);
      expect(b.stats(P).delivered).toBe(1);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });

  it('case 12: keys are 128 bits from crypto.getRandomValues, distinct, and zeroed when their channel closes', async () => {
    const spy = vi.spyOn(webcrypto, 'getRandomValues');
    try {
      const table = new KeyTable(4, true);
      table.generate(2);
      expect(spy).toHaveBeenCalledTimes(1);
      const filled = spy.mock.calls[0][0] as Uint32Array;
      expect(filled).toBeInstanceOf(Uint32Array);
      expect(filled.byteLength).toBe(16);
      expect(table.matches(2, filled[0], filled[1], filled[2], filled[3])).toBe(true);
      table.zero(2);
      expect(table.isZero(2)).toBe(true);
    } finally {
      spy.mockRestore();
    }

    await withBench({ hostile: [A, P] }, async (b) => {
      const hooks = b.machine.hooks!;
      const mark = b.honest.progress();
      const before = (await hooks.keyHistory()).length; // the honest pair's (and any refused early connect's)
      const channels = [];
      for (let i = 0; i < 12; i++) channels.push(await rawChannel(b, A, 0, P, 0, 100 + i));
      const all = await hooks.keyHistory();
      expect(new Set(all.map((k) => Buffer.from(k).toString('hex'))).size).toBe(all.length);
      const keys = all.slice(before);
      expect(keys).toHaveLength(12);
      for (const k of keys) {
        expect(k.byteLength).toBe(16);
        expect(k.some((x) => x !== 0)).toBe(true);
      }
      const ones = keys.reduce((n, k) => n + k.reduce((m, x) => m + x.toString(2).replaceAll('0', '').length, 0), 0);
      expect(Math.abs(ones - 12 * 64)).toBeLessThan(150); // 1536 bits: more than 7 standard deviations
      expect(await hooks.liveKeyCount()).toBe(26); // both ends of every channel
      for (const c of channels) await b.os(A).close(0, c.send);
      await waitFor('the twelve keys to be zeroed', async () => (await hooks.liveKeyCount()) === 2);
      await b.honest.advances(mark);
      await b.honest.finish();
      await waitFor('the honest pair\'s key to be zeroed', async () => (await hooks.liveKeyCount()) === 0);
    });
  });

  it('case 13: no byte of any live or revoked key appears in partition memory or in anything a partition receives, before or after close', async () => {
    await withBench({ hostile: [A, P], standard: [6] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const hooks = b.machine.hooks!;
      const raw = await rawChannel(b, A, 0, P, 0, 9);
      expect(await a.open(1)).toMatchObject({ ok: true });
      const server = await b.machine.partition(6).spawn(RECORD_SERVER, { port: 11 });
      const grant = await waitFor('the listener', async () => {
        const r = await a.connect(1, 6, 11);
        return r.ok ? r : undefined;
      });
      const received: unknown[] = [];
      for (let i = 0; i < 20; i++) {
        expect(await a.send(0, raw.send, numbered(i, 64))).toBeGreaterThan(0);
        expect(await p.send(0, raw.receive, numbered(i, 100))).toBeGreaterThan(0);
      }
      expect(await a.sendMany(1, grant.handle, 40, 128)).toBe(40);
      received.push(await receiveAll(a, 0, 20), await receiveAll(p, 0, 20));

      const scan = async (when: string) => {
        const keys = await hooks.keyHistory();
        const windows = keyWindows(keys);
        expect(keys.length).toBeGreaterThanOrEqual(3); // and one more for each connect that came before the listener
        // The scan finds a key where one is planted.
        const planted = new Uint8Array(64);
        planted.set(keys[keys.length - 1], 13);
        expect(findKeyBytes(planted, windows)).toEqual([13, 14, 15, 16, 17, 18, 19, 20, 21]);
        for (const s of b.machine.stats().partitions) {
          expect(findKeyBytes(new Uint8Array(hooks.portOf(s.id)), windows), `key bytes in partition ${s.id}'s port ${when}`).toEqual([]);
        }
        const words = new Set(keys.flatMap((k) => Array.from(new Uint32Array(k.slice().buffer))));
        expect(wordsIn({ planted: [keys[0].slice()] }).filter((w) => words.has(w))).toHaveLength(4);
        const seen = wordsIn([received, await a.replies(), await p.replies(), b.machine.stats()]).filter((w) => words.has(w));
        expect(seen, `key words in what partitions received ${when}`).toEqual([]);
      };
      await scan('while the channels are open');
      expect(await hooks.liveKeyCount()).toBe(6);

      await a.close(0, raw.send);
      await a.close(1, grant.handle);
      const result = await server.result;
      received.push(result);
      await b.honest.finish();
      await waitFor('every key to be zeroed', async () => (await hooks.liveKeyCount()) === 0);
      received.push(await a.readReceive(0), await p.readReceive(0), await a.readCompletions(0), await p.readCompletions(0));
      await scan('after close');
      // And once the whole machine is closed, in the ports it leaves behind.
      const windows = keyWindows(await hooks.keyHistory());
      await b.machine.close();
      for (const s of b.machine.stats().partitions) {
        expect(findKeyBytes(new Uint8Array(hooks.portOf(s.id)), windows), `key bytes in partition ${s.id}'s port after machine.close()`).toEqual([]);
      }
    });
  });

  it('case 14: a stamp that fails receive-side verification is dropped and counted as keyMismatch; the hardware keeps running; hooks exist only when the operator asks', async () => {
    await withBench({ hostile: [A, P] }, async (b) => {
      const [a, p] = [b.os(A), b.os(P)];
      const own = await rawChannel(b, A, 0, P, 0, 9);
      const mark = b.honest.progress();
      await b.machine.hooks!.corruptStamps(A, true);
      expect(await a.sendMany(0, own.send, 50)).toBe(50);
      await waitFor('fifty key mismatches', () => b.stats(P).violations.keyMismatch === 50);
      expect(b.violations(P)).toEqual({ total: 50, keyMismatch: 50 });
      expect(b.violations(A)).toEqual({});
      expect(b.stats(A)).toMatchObject({ sent: 0, sendErrors: 50 });
      const counts = (await completions(a, 0, 50)).reduce((by: Record<number, number>, c) => ({ ...by, [c.status]: (by[c.status] ?? 0) + c.count }), {});
      expect(counts).toEqual({ [Status.EPERM]: 50 });
      expect(await p.readReceive(0)).toEqual([]);
      await b.honest.advances(mark);

      await b.machine.hooks!.corruptStamps(A, false);
      await a.send(0, own.send, numbered(7));
      expect((await receiveAll(p, 0, 1)).map((r) => r.bytes)).toEqual([numbered(7)]);
      expect(b.stats(P).delivered).toBe(1);
      await b.honest.finish();
    });
    const plain = await createMachine({ partitions: [{ id: 1 }], wait: 'sleep' });
    try {
      expect(plain.hooks).toBeUndefined();
    } finally {
      await plain.close();
    }
  });

  it('case 15: a partition that is terminated, exits, throws or runs out of memory loses its channels and keys; peers get EPEERDEAD; a restart gets a fresh port and new generations', async () => {
    const D = 5;
    await withBench({ hostile: [A, D], standard: [6], extra: { [D]: { resourceLimits: { maxOldGenerationSizeMb: 48, maxYoungGenerationSizeMb: 8 } } } }, async (b) => {
      const a = b.os(A);
      const hooks = b.machine.hooks!;
      const mark = b.honest.progress();
      const ways = ['terminate', 'exit', 'throw', 'out of memory'] as const;
      for (const [i, way] of ways.entries()) {
        const d = b.os(D);
        const oldPort = b.machine.partition(D).port;
        const channel = await rawChannel(b, D, 0, A, i, 20 + i);
        expect(handleGeneration(channel.send, SLOTS), `generation of the first slot after ${i} restarts`).toBe(i);
        const watch = await b.machine.partition(6).spawn(RESET_WATCH, { port: 40 + i });
        expect(await d.open(1)).toMatchObject({ ok: true });
        const grant = await waitFor('the watcher to listen', async () => {
          const r = await d.connect(1, 6, 40 + i);
          return r.ok ? r : undefined;
        });
        // Traffic both ways; the dying partition never reads what it is sent.
        await d.send(0, channel.send, numbered(1));
        expect((await receiveAll(a, i, 1)).map((r) => r.bytes)).toEqual([numbered(1)]);
        const deliveredToD = b.stats(D).delivered;
        await a.send(i, channel.receive, numbered(2));
        await waitFor('the old traffic to reach the dying partition', () => b.stats(D).delivered === deliveredToD + 1);
        const live = await hooks.liveKeyCount();

        const exited = once(b.machine, 'partitionExit');
        if (way === 'terminate') await b.machine.partition(D).terminate();
        else if (way === 'exit') await d.exit(3);
        else if (way === 'throw') await d.throwSoon();
        else await d.bomb();
        const [info] = (await exited) as [{ id: number; exitCode: number; error?: Error & { code?: string } }];
        expect(info.id).toBe(D);
        if (way === 'exit') expect(info.exitCode).toBe(3);
        if (way === 'throw') expect(info.error?.message).toBe('hostile partition throws');
        if (way === 'out of memory') expect(info.error?.code).toBe('ERR_WORKER_OUT_OF_MEMORY');

        // The peer: a pending receive ends with EPEERDEAD, and so does a send.
        expect(await receiveAll(a, i, 1)).toEqual([{ type: RecordType.END, channel: channel.receive, status: Status.EPEERDEAD, bytes: [] }]);
        await a.send(i, channel.receive, numbered(3));
        expect(await completions(a, i, 1)).toEqual([{ status: Status.EPEERDEAD, channel: channel.receive, opcode: RecordType.SEND, count: 1 }]);
        expect(await watch.result).toMatchObject({ recv: 'EPEERDEAD', send: 'EPEERDEAD', peer: { partition: D } });
        await waitFor('the dead partition\'s keys to be zeroed', async () => (await hooks.liveKeyCount()) === live - 4);

        await b.machine.partition(D).restart();
        expect(b.machine.partition(D).port).not.toBe(oldPort);
        expect(hooks.portOf(D)).toBe(b.machine.partition(D).port);
        const fresh = b.os(D);
        expect(await fresh.open(0)).toMatchObject({ ok: true });
        expect(await fresh.readReceive(0)).toEqual([]);
        const oldTraffic = Buffer.from(numbered(2).slice(0, 8));
        expect(Buffer.from(new Uint8Array(b.machine.partition(D).port)).indexOf(oldTraffic)).toBe(-1);
        expect(Buffer.from(new Uint8Array(oldPort)).indexOf(oldTraffic)).toBeGreaterThan(0);
      }
      expect(b.violations(A)).toEqual({});
      expect(b.stats(A).sendErrors).toBe(ways.length);
      await b.honest.advances(mark);
      await b.honest.finish();
    });
  });
});
