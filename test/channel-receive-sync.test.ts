/**
 * The blocking receive calls (`recvIntoSync`, `waitReadableSync`): in this thread against a
 * hardware engine driven by hand, and between real partition workers, where the receiver sleeps
 * in Atomics.wait and must be woken by the hardware's delivery (and by its peer's death).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';

const roles = new URL('./fixtures/sync-receive.mjs', import.meta.url);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChannelError);
    return (e as ChannelError).code;
  }
  return undefined;
}

describe('recvIntoSync and waitReadableSync in one thread', () => {
  it('return a message that is ready, in order, and undefined / false once the timeout passes', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    tx.send(new Uint8Array([1, 2, 3]));
    tx.send(new Uint8Array([4, 5]));
    while (hw.engine.round() > 0);
    const buffer = new Uint8Array(256);
    expect(rx.waitReadableSync(0)).toBe(true);
    expect(rx.recvIntoSync(buffer)).toBe(3);
    expect([...buffer.subarray(0, 3)]).toEqual([1, 2, 3]);
    expect(rx.recvIntoSync(buffer, 0)).toBe(2);
    expect([...buffer.subarray(0, 2)]).toEqual([4, 5]);
    expect(rx.recvIntoSync(buffer, 20)).toBeUndefined();
    expect(rx.waitReadableSync(0)).toBe(false);
  });

  it('report a clean end: waitReadableSync false, recvIntoSync ECLOSED; a message before the end still comes first', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    tx.send(new Uint8Array([9]));
    const closing = tx.close();
    for (let i = 0; i < 10; i++) hw.engine.round();
    await closing;
    const buffer = new Uint8Array(256);
    expect(rx.recvIntoSync(buffer, 0)).toBe(1);
    expect(buffer[0]).toBe(9);
    expect(rx.waitReadableSync(0)).toBe(false);
    expect(codeOf(() => rx.recvIntoSync(buffer, 0))).toBe('ECLOSED');
  });

  it('validate their arguments with EINVAL and consume nothing', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    tx.send(new Uint8Array([7]));
    while (hw.engine.round() > 0);
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) {
      expect(codeOf(() => rx.waitReadableSync(bad))).toBe('EINVAL');
      expect(codeOf(() => rx.recvIntoSync(new Uint8Array(8), bad))).toBe('EINVAL');
    }
    expect(codeOf(() => rx.recvIntoSync([] as unknown as Uint8Array))).toBe('EINVAL');
    expect(codeOf(() => rx.recvIntoSync(new Uint8Array(0), 0))).toBe('EMSGSIZE');
    const buffer = new Uint8Array(8);
    expect(rx.recvIntoSync(buffer, 0)).toBe(1);
    expect(buffer[0]).toBe(7);
  });
});

describe('recvIntoSync between partition workers', () => {
  it('a receiver asleep in Atomics.wait is woken by each delivery: every echo arrives, in order', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    const echo = await machine.partition(1).spawn(roles, { role: 'echo', port: 5 });
    const client = await machine.partition(2).spawn(roles, { role: 'client', partition: 1, port: 5, count: 300 });
    const { got } = (await client.result) as { got: number[] };
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => i));
    const result = (await echo.result) as { echoed: number; timeouts: number };
    expect(result.echoed).toBe(300);
  }, 30_000);

  it("a receiver blocked in waitReadableSync learns of its peer's death (EPEERDEAD)", async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }] });
    const idle = await machine.partition(1).spawn(roles, { role: 'idle', port: 6 });
    await machine.partition(2).spawn(roles, { role: 'connect-and-die', partition: 1, port: 6 });
    expect(await idle.result).toEqual({ code: 'EPEERDEAD' });
  }, 30_000);
});
