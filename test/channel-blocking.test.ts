/**
 * The blocking calls (`recvIntoSync`, `waitReadableSync`, `writeSync`): in this thread against a
 * hardware engine driven by hand, and between real partition workers, where the caller sleeps in
 * Atomics.wait and must be woken by the hardware (a delivery, freed space, its peer's death) or,
 * when the hardware itself dies, by the operator.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it, vi } from 'vitest';
import { createMachine } from 'lparlink';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';

const roles = new URL('./fixtures/blocking-roles.mjs', import.meta.url);

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

describe('writeSync in one thread', () => {
  it('sends at once when there is room, returns false when the ring stays full, and sends once the engine freed space', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    const m = new Uint8Array(200).fill(3);
    let sent = 0;
    while (tx.writeSync(m, 0)) sent++;
    expect(sent).toBeGreaterThan(5);
    expect(tx.writeSync(m, 10)).toBe(false); // full, and nobody frees space in this thread
    hw.engine.round();
    expect(tx.writeSync(m, 0)).toBe(true);
    while (hw.engine.round() > 0);
    const buffer = new Uint8Array(256);
    let got = 0;
    for (let n = rx.tryRecvInto(buffer); n !== undefined; n = rx.tryRecvInto(buffer)) got++;
    expect(got).toBeGreaterThan(0);
  });

  it('validates its arguments with EINVAL and sends nothing', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    for (const bad of [-1, Number.NaN, '5' as unknown as number]) expect(codeOf(() => tx.writeSync(new Uint8Array(1), bad))).toBe('EINVAL');
    expect(codeOf(() => tx.writeSync('text' as unknown as Uint8Array))).toBe('EINVAL');
    expect(codeOf(() => tx.writeSync(new Uint8Array(257)))).toBe('EMSGSIZE');
    while (hw.engine.round() > 0);
    expect(rx.tryRecvInto(new Uint8Array(512))).toBeUndefined();
  });
});

describe('the blocking calls and the clock', () => {
  it('read no clock when nothing has to wait (a read costs as much as the rest of the call), and still block no longer than a timeout', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    const clock = vi.spyOn(performance, 'now');
    try {
      expect(tx.writeSync(new Uint8Array([1]))).toBe(true);
      expect(tx.writeSync(new Uint8Array([2, 2]), 50)).toBe(true);
      while (hw.engine.round() > 0);
      const buffer = new Uint8Array(256);
      expect(rx.waitReadableSync(50)).toBe(true);
      expect(rx.recvIntoSync(buffer)).toBe(1);
      expect(rx.recvIntoSync(buffer, 50)).toBe(2);
      expect(clock).not.toHaveBeenCalled();
      // Nothing there: a bounded wait reads the clock, and blocks for what is left of its 30 ms, no longer.
      const wait = vi.spyOn(Atomics, 'wait');
      try {
        expect(rx.recvIntoSync(buffer, 30)).toBeUndefined();
        expect(clock).toHaveBeenCalled();
        const timeouts = wait.mock.calls.map((c) => c[3]);
        expect(timeouts.length).toBeGreaterThan(0);
        for (const t of timeouts) {
          expect(t).toBeGreaterThan(0);
          expect(t).toBeLessThanOrEqual(30);
        }
      } finally {
        wait.mockRestore();
      }
    } finally {
      clock.mockRestore();
    }
  });
});

describe('blocking calls between partition workers', () => {
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

  it('a writer blocked on a full send ring is woken as the hardware frees space: every message arrives, in order', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }], sendRingBytes: 4096, receiveRingBytes: 4096 });
    const reader = await machine.partition(1).spawn(roles, { role: 'slow-reader', port: 7 });
    const writer = await machine.partition(2).spawn(roles, { role: 'flood', partition: 1, port: 7, count: 2000, size: 200 });
    const { blocked } = (await writer.result) as { blocked: number };
    expect(blocked).toBeGreaterThan(0); // it did have to wait
    expect(await reader.result).toEqual({ count: 2000, inOrder: true });
  }, 30_000);

  it('threads blocked in recvIntoSync and writeSync without a timeout fail with EHWRESET when the hardware dies', async () => {
    await using machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 4096, receiveRingBytes: 4096, testHooks: true });
    const reader = await machine.partition(1).spawn(roles, { role: 'stuck-reader', port: 8 });
    await machine.partition(3).spawn(roles, { role: 'sink', port: 9, reader: 1, readerPort: 8 });
    const writer = await machine.partition(2).spawn(roles, { role: 'stuck-writer', partition: 3, port: 9 });
    // Both block: the reader on a channel that never carries a message, the writer on its full send
    // ring once the sink's receive ring is full too.
    await waitForLiveChannels(machine, 4);
    await new Promise((r) => setTimeout(r, 200));
    await machine.hooks!.crashHardware();
    expect(await reader.result).toEqual({ code: 'EHWRESET' });
    expect(await writer.result).toEqual({ code: 'EHWRESET' });
  }, 30_000);
});

async function waitForLiveChannels(machine: { hooks?: { liveKeyCount(): Promise<number> } }, ends: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((await machine.hooks!.liveKeyCount()) >= ends) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the channel never opened');
}
