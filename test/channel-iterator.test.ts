/**
 * `for await (const m of channel)` (ChannelIterator) and `write()`, in this thread against a
 * hardware engine driven by hand: the iterator keeps an async generator's contract (order, a clean
 * end, a death thrown once, return()) without being one, and write() keeps an async function's
 * (a bad argument or a dead channel is a rejection, never a synchronous throw).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';
import type { Channel } from '../src/partitions/channel.js';

type Paths = ReturnType<typeof verifiedPaths>;

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));

const msg = (...bytes: number[]): Uint8Array => new Uint8Array(bytes);
const first = (r: IteratorResult<Uint8Array>): number | 'done' => (r.done === true ? 'done' : r.value[0]);

/** Serve rounds on a timer, as a hardware thread would, while the test awaits. */
let driving: ReturnType<typeof setInterval> | undefined;
function drive(hw: Paths['hw']): void {
  driving = setInterval(() => {
    while (hw.engine.round() > 0);
  }, 1);
}
afterEach(() => clearInterval(driving));

/** The end of `tx`'s process as the hardware learns it (its DETACH): its peers' ends die with EPEERDEAD. */
function detachProcessOf(tx: Channel): Promise<void> {
  return (tx as unknown as { qp: { detach(open: number[]): Promise<void> } }).qp.detach([]);
}

describe('for await over a channel', () => {
  it('yields every message in order and stops at the peer’s clean close; next() after it is done', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    drive(hw);
    for (let i = 1; i <= 5; i++) tx.send(msg(i));
    await tx.close();
    const got: number[] = [];
    const it = rx[Symbol.asyncIterator]();
    for await (const m of { [Symbol.asyncIterator]: () => it }) got.push(m[0]);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('hands over a message, ready or waited for, without looking up `then` on it (an async generator looked twice: 22 for these 11)', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    for (let i = 1; i <= 10; i++) tx.send(msg(i));
    while (hw.engine.round() > 0);
    const it = rx[Symbol.asyncIterator]();
    // Any promise resolved to an object looks up its `then` (it might be a thenable): count the
    // lookups on Uint8Arrays while ten ready messages and one waited for are taken.
    let lookups = 0;
    Object.defineProperty(Uint8Array.prototype, 'then', {
      configurable: true,
      get() {
        lookups++;
        return undefined;
      },
    });
    const got: Array<number | 'done'> = [];
    try {
      for (let i = 0; i < 10; i++) got.push(first(await it.next()));
      // And one waited for: it is taken once readable() says so.
      const waiting = it.next();
      tx.send(msg(11));
      while (hw.engine.round() > 0);
      got.push(first(await waiting));
    } finally {
      delete (Uint8Array.prototype as { then?: unknown }).then;
    }
    expect(got).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(lookups).toBe(0);
  });

  it('settles next() calls made before the last settled in order, ready ones and waiting ones alike', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    tx.send(msg(1));
    while (hw.engine.round() > 0);
    const it = rx[Symbol.asyncIterator]();
    // 1 is ready now; 2, 3 and 4 come later, and a fifth waits past the close.
    const results = [it.next(), it.next(), it.next(), it.next(), it.next()];
    drive(hw);
    tx.send(msg(2));
    tx.send(msg(3));
    await new Promise((r) => setTimeout(r, 5));
    tx.send(msg(4));
    await tx.close();
    expect((await Promise.all(results)).map(first)).toEqual([1, 2, 3, 4, 'done']);
  });

  it('a next() made while an earlier one waits settles after it, even when its message is already there', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    const it = rx[Symbol.asyncIterator]();
    const p1 = it.next(); // nothing there: it waits
    tx.send(msg(1));
    tx.send(msg(2));
    while (hw.engine.round() > 0);
    const p2 = it.next(); // 1 and 2 are both in the ring now: 1 is p1's
    expect([first(await p1), first(await p2)]).toEqual([1, 2]);

    const p3 = it.next();
    const p4 = it.next();
    tx.send(msg(3));
    while (hw.engine.round() > 0);
    expect(first(await p3)).toBe(3);
    tx.send(msg(4));
    tx.send(msg(5));
    while (hw.engine.round() > 0);
    const p5 = it.next(); // p4 still waits for 4
    expect([first(await p4), first(await p5)]).toEqual([4, 5]);
  });

  it('ends at a local close, or the end of its process, while a next() waits; and after a close with messages still in the ring', async () => {
    for (const end of ['close', 'process'] as const) {
      const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
      drive(hw);
      const it = rx[Symbol.asyncIterator]();
      const waiting = it.next();
      if (end === 'close') void rx.close();
      else (rx as unknown as { processEnded(e: ChannelError): void }).processEnded(new ChannelError('ECLOSED', 'process ended'));
      expect(await waiting).toEqual({ value: undefined, done: true });
      expect(await it.next()).toEqual({ value: undefined, done: true });
      clearInterval(driving);
      void tx;
    }
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    tx.send(msg(1));
    while (hw.engine.round() > 0);
    void rx.close();
    expect(await rx[Symbol.asyncIterator]().next()).toEqual({ value: undefined, done: true });
  });

  it('return() and throw() settle after a next() that waits (its message is its own), then the iterator is done', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    const it = rx[Symbol.asyncIterator]();
    const order: string[] = [];
    const waiting = it.next().then((r) => order.push(`next ${first(r)}`));
    const returned = it.return!('bye').then((r) => order.push(`return ${String(r.value)} ${String(r.done)}`));
    tx.send(msg(1));
    tx.send(msg(2));
    while (hw.engine.round() > 0);
    await Promise.all([waiting, returned]);
    expect(order).toEqual(['next 1', 'return bye true']);
    expect(await it.next()).toEqual({ value: undefined, done: true });
    // 2 stays in the channel for whoever reads next.
    expect(rx.tryRecv()?.[0]).toBe(2);

    const again = rx[Symbol.asyncIterator]();
    const oops = new Error('stop');
    await expect(again.throw!(oops)).rejects.toBe(oops);
    expect(await again.next()).toEqual({ value: undefined, done: true });
    // A generator's prototype chain: Symbol.asyncIterator gives the iterator itself.
    expect(Object.getPrototypeOf(Object.getPrototypeOf(again))).toBe(Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype));
  });

  it('leaves a rejected next() that nobody handles to be reported as unhandled, as a generator does', () => {
    const script = [
      `import { ChannelIterator } from ${JSON.stringify(pathToFileURL(join(dist, 'partitions/channel-iterator.js')).href)};`,
      "process.on('unhandledRejection', (e) => { console.log('unhandled: ' + e.message); process.exit(0); });",
      "const it = new ChannelIterator({ tryRecv: () => undefined, readable: () => Promise.reject(new Error('died')) });",
      'void it.next();',
      "setTimeout(() => console.log('nothing reported'), 200);",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('unhandled: died');
  });

  it('throws why the channel died, once, then is done', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    drive(hw);
    tx.send(msg(7));
    const it = rx[Symbol.asyncIterator]();
    expect(first(await it.next())).toBe(7);
    const waiting = it.next();
    const later = it.next();
    await detachProcessOf(tx);
    const died = await waiting.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(died).toBeInstanceOf(ChannelError);
    expect((died as ChannelError).code).toBe('EPEERDEAD');
    expect(await later).toEqual({ value: undefined, done: true });
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a break (return()) ends that loop only: the next for await reads on from there', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 4096);
    drive(hw);
    for (let i = 1; i <= 4; i++) tx.send(msg(i));
    await tx.close();
    const it = rx[Symbol.asyncIterator]();
    const before: number[] = [];
    for await (const m of { [Symbol.asyncIterator]: () => it }) {
      before.push(m[0]);
      if (before.length === 2) break;
    }
    expect(await it.next()).toEqual({ value: undefined, done: true });
    const after: number[] = [];
    for await (const m of rx) after.push(m[0]);
    expect([before, after]).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('write()', () => {
  it('rejects a bad argument, a message too large and a closed channel; it never throws synchronously', async () => {
    const { tx: [tx], hw } = verifiedPaths(256, 4096);
    drive(hw);
    let written: Promise<void> | undefined;
    const calls = [null, 'text', new Uint8Array(257)].map((bad) => {
      expect(() => (written = tx.write(bad as unknown as Uint8Array))).not.toThrow();
      return written!;
    });
    const codes = await Promise.all(calls.map((p) => p.then(() => 'sent', (e: ChannelError) => e.code)));
    expect(codes).toEqual(['EINVAL', 'EINVAL', 'EMSGSIZE']);
    await tx.write(msg(1));
    await tx.close();
    expect(() => (written = tx.write(msg(2)))).not.toThrow();
    await expect(written).rejects.toMatchObject({ code: 'ECLOSED' });
  });

  it('sends what it was given once there is room, in order, when the ring was full', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(256, 1024);
    const writes: Promise<void>[] = [];
    let settled = 0;
    for (let i = 0; i < 100; i++) writes.push(tx.write(msg(i, i, i)).then(() => void settled++));
    await new Promise((r) => setImmediate(r));
    // No engine has run: the writes that found room have settled, the others wait for space.
    const waited = 100 - settled;
    expect(waited).toBeGreaterThan(0);
    expect(settled).toBeGreaterThan(0);
    drive(hw);
    const got: number[] = [];
    const reading = (async () => {
      for await (const m of rx) {
        got.push(m[0]);
        if (got.length === 100) return;
      }
    })();
    await Promise.all(writes);
    await reading;
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
