/**
 * The receive calls that allocate nothing per message (`recvInto`, `tryRecvInto`, `drainBytes`)
 * and the slab copies of `recv`/`tryRecv`, driven in this thread against a real hardware engine
 * (one `round()` at a time, so every interleaving is chosen, not raced). Every message carries a
 * sequence number and a pattern derived from it, so loss, duplication, reordering and a copy torn
 * by ring reuse all show.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { ChannelError } from '../src/shared/errors.js';
import type { Channel } from '../src/partitions/channel.js';
import { HW_DOORBELL_WORD, queuePairRings } from '../src/shared/port.js';
import { RecordType } from '../src/shared/layout.js';
import { RingProducer } from '../src/shared/ring.js';

const RING = 4096;
const MAX = 1024;

function message(seq: number, size: number): Uint8Array {
  const m = new Uint8Array(size);
  new DataView(m.buffer).setUint32(0, seq, true);
  for (let k = 4; k < size; k++) m[k] = (seq * 7 + k) & 0xff;
  return m;
}

/** The sequence number of an intact message in bytes[offset, offset + length), or -1 if torn. */
function seqOf(bytes: Uint8Array, offset = 0, length = bytes.byteLength): number {
  if (length < 4) return -1;
  const seq = bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24);
  for (let k = 4; k < length; k++) if (bytes[offset + k] !== ((seq * 7 + k) & 0xff)) return -1;
  return seq;
}

/** Sizes that make records of many lengths, so the ring pads and wraps at every offset. */
const sizeOf = (seq: number): number => 4 + ((seq * 97) % (MAX - 4));

/** Send messages from `next` until the send ring is full or `until`, then let the engine move what fits. */
function pump(tx: Channel, hw: { engine: { round(): number } }, next: { seq: number }, until: number): void {
  try {
    while (next.seq < until) {
      tx.send(message(next.seq, sizeOf(next.seq)));
      next.seq++;
    }
  } catch (e) {
    if (!(e instanceof ChannelError && e.code === 'EAGAIN')) throw e;
  }
  while (hw.engine.round() > 0);
}

function expectCode(fn: () => unknown, code: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ChannelError);
  expect((error as ChannelError).code).toBe(code);
}

describe('tryRecvInto', () => {
  it('copies every message into the caller buffer exactly once, in order, across many ring wraps', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const n = 3000; // about 400 times the ring
    const buffer = new Uint8Array(MAX);
    const next = { seq: 0 };
    const got: number[] = [];
    while (got.length < n) {
      pump(tx, hw, next, n);
      for (let len = rx.tryRecvInto(buffer); len !== undefined; len = rx.tryRecvInto(buffer)) {
        expect(len).toBe(sizeOf(got.length));
        got.push(seqOf(buffer, 0, len));
      }
    }
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(rx.tryRecvInto(buffer)).toBeUndefined();
  });

  it('a buffer too small throws EMSGSIZE and loses nothing: the same message comes with a larger buffer', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    tx.send(message(0, 8));
    tx.send(message(1, 600));
    tx.send(message(2, 8));
    while (hw.engine.round() > 0);
    const small = new Uint8Array(64);
    expect(rx.tryRecvInto(small)).toBe(8);
    expect(seqOf(small, 0, 8)).toBe(0);
    expectCode(() => rx.tryRecvInto(small), 'EMSGSIZE');
    expectCode(() => rx.tryRecvInto(small), 'EMSGSIZE'); // still there, still too large
    const large = new Uint8Array(rx.maxMessageBytes);
    expect(rx.tryRecvInto(large)).toBe(600);
    expect(seqOf(large, 0, 600)).toBe(1);
    expect(rx.tryRecvInto(small)).toBe(8);
    expect(seqOf(small, 0, 8)).toBe(2);
  });

  it('a message queued for its channel while another channel read past it: too small loses nothing there either', () => {
    const { tx: [txA, txB], rx: [rxA, rxB], hw } = verifiedPaths(MAX, RING, 2);
    txA.send(message(10, 500));
    txB.send(message(20, 16));
    while (hw.engine.round() > 0);
    const small = new Uint8Array(32);
    expect(rxB.tryRecvInto(small)).toBe(16); // walks past A's message, which is copied to A's queue
    expect(seqOf(small, 0, 16)).toBe(20);
    expectCode(() => rxA.tryRecvInto(small), 'EMSGSIZE');
    const large = new Uint8Array(500);
    expect(rxA.tryRecvInto(large)).toBe(500);
    expect(seqOf(large)).toBe(10);
    expect(rxA.tryRecvInto(large)).toBeUndefined();
  });

  it('recvInto rejects EMSGSIZE without consuming, then resolves the same message', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    tx.send(message(5, 300));
    while (hw.engine.round() > 0);
    await expect(rx.recvInto(new Uint8Array(10))).rejects.toMatchObject({
      code: 'EMSGSIZE',
      // This case's advice alone, not the code's own about sending.
      message: `EMSGSIZE: the next message on channel ${rx.handle} has 300 bytes and the buffer only 10; it stays for the next call (pass a buffer of at least 300 bytes; maxMessageBytes, ${rx.maxMessageBytes}, always fits)`,
    });
    const buffer = new Uint8Array(300);
    expect(await rx.recvInto(buffer)).toBe(300);
    expect(seqOf(buffer)).toBe(5);
  });

  it('writes the message at offset 0 of any view (odd offsets too) and not one byte past it', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const backing = new Uint8Array(2048).fill(0xee);
    const sizes = [5, 64, 255, 257, 700];
    for (const [i, size] of sizes.entries()) tx.send(message(i, size));
    while (hw.engine.round() > 0);
    for (const [i, size] of sizes.entries()) {
      const into = backing.subarray(i + 1, i + 1 + 1000); // byteOffset 1…5: aligned and unaligned
      into.fill(0xee);
      expect(rx.tryRecvInto(into)).toBe(size);
      expect(seqOf(into, 0, size)).toBe(i);
      expect(into.subarray(size).every((b) => b === 0xee)).toBe(true);
    }
  });

  it('copies whole into a reused buffer whose resizable memory shrank between calls', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    // A length-tracking view: the copier's kept word view over it goes out of bounds on the shrink.
    const memory = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(1024, { maxByteLength: 1024 });
    const into = new Uint8Array(memory);
    for (const [i, size] of [200, 64].entries()) tx.send(message(i, size));
    while (hw.engine.round() > 0);
    expect(rx.tryRecvInto(into)).toBe(200);
    expect(seqOf(into, 0, 200)).toBe(0);
    memory.resize(128);
    into.fill(0);
    expect(rx.tryRecvInto(into)).toBe(64);
    expect(seqOf(into, 0, 64)).toBe(1);
  });

  it('two channels of one process, each read into its own buffer in turn, make no word view per message', () => {
    const { tx: [txA, txB], rx: [rxA, rxB], hw } = verifiedPaths(MAX, RING, 2);
    const a = new Uint8Array(256);
    const b = new Uint8Array(256);
    const exchange = (i: number): void => {
      txA.send(message(i, 64));
      txB.send(message(1000 + i, 60));
      while (hw.engine.round() > 0);
      expect(rxA.tryRecvInto(a)).toBe(64);
      expect(seqOf(a, 0, 64)).toBe(i);
      expect(rxB.tryRecvInto(b)).toBe(60);
      expect(seqOf(b, 0, 60)).toBe(1000 + i);
    };
    exchange(0); // each channel makes its buffer's view once
    // Count every Uint32Array made from here on (the copier makes its word views with `new Uint32Array`).
    const Real = globalThis.Uint32Array;
    let views = 0;
    globalThis.Uint32Array = new Proxy(Real, {
      construct(target, args, newTarget) {
        views++;
        return Reflect.construct(target, args, newTarget) as object;
      },
    });
    try {
      for (let i = 1; i <= 20; i++) exchange(i);
    } finally {
      globalThis.Uint32Array = Real;
    }
    // Shared by the process's channels, one copier remade its view at every switch of buffer: 40 here.
    expect(views).toBe(0);
  });

  it('rejects what is not a Uint8Array with EINVAL', async () => {
    const { rx: [rx] } = verifiedPaths(MAX, RING);
    expectCode(() => rx.tryRecvInto(new ArrayBuffer(8) as unknown as Uint8Array), 'EINVAL');
    expectCode(() => rx.tryRecvInto(null as unknown as Uint8Array), 'EINVAL');
    await expect(rx.recvInto([1, 2] as unknown as Uint8Array)).rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('drainBytes', () => {
  it('hands every message in place exactly once, in order, up to max per call, across ring wraps', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const n = 3000;
    const next = { seq: 0 };
    const got: number[] = [];
    let inPlace = 0;
    let largestCall = 0;
    while (got.length < n) {
      pump(tx, hw, next, n);
      for (let k = rx.drainBytes(visit, 3); k > 0; k = rx.drainBytes(visit, 3)) largestCall = Math.max(largestCall, k);
    }
    function visit(bytes: Uint8Array, offset: number, length: number): void {
      expect(length).toBe(sizeOf(got.length));
      if (bytes.buffer instanceof SharedArrayBuffer) inPlace++;
      got.push(seqOf(bytes, offset, length));
    }
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(inPlace).toBe(n); // nothing was queued or copied on the way
    expect(largestCall).toBe(3);
  });

  it('a receive from inside the callback finds nothing, and the message after it is not lost', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    for (let i = 0; i < 3; i++) tx.send(message(i, 40));
    while (hw.engine.round() > 0);
    const nested: Array<number | undefined> = [];
    const seqs: number[] = [];
    expect(
      rx.drainBytes((b, at, len) => {
        seqs.push(seqOf(b, at, len));
        nested.push(rx.tryRecvInto(new Uint8Array(64)));
      }, 1),
    ).toBe(1);
    expect(nested).toEqual([undefined]);
    expect(rx.drainBytes((b, at, len) => seqs.push(seqOf(b, at, len)))).toBe(2);
    expect(seqs).toEqual([0, 1, 2]);
  });

  it('a callback that throws: the error reaches the caller, its message is not handed out again, and its ring space goes back by the next turn', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    for (let i = 0; i < 3; i++) tx.send(message(i, 40));
    while (hw.engine.round() > 0);
    const ring = hw.ports[0].queuePairs[0].receive; // the hardware's side: it sees what the reader handed back
    const before = ring.freeBytes();
    const boom = new Error('the callback failed');
    const seqs: number[] = [];
    expect(() =>
      rx.drainBytes((b, at, len) => {
        seqs.push(seqOf(b, at, len));
        throw boom;
      }),
    ).toThrow(boom);
    await new Promise((resolve) => setImmediate(resolve));
    // One record handed back: 8 bytes of record header, 8 of delivery header, 40 of payload.
    expect(ring.freeBytes() - before).toBe(56);
    expect(rx.drainBytes((b, at, len) => seqs.push(seqOf(b, at, len)))).toBe(2);
    expect(seqs).toEqual([0, 1, 2]);
  });

  it('a long drain hands ring space back in steps while it runs, each record only once its visit returned', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const n = 40;
    const SPAN = 56; // 8 bytes of record header, 8 of delivery header, 40 of payload
    const STEP = RING / 16; // ReceiveRelease's step
    tx.sendBatch(Array.from({ length: n }, (_, i) => message(i, 40)));
    while (hw.engine.round() > 0);
    const ring = hw.ports[0].queuePairs[0].receive; // the hardware's side: it sees what the reader handed back
    const before = ring.freeBytes();
    const freedAtVisit: number[] = [];
    expect(rx.drainBytes(() => freedAtVisit.push(ring.freeBytes() - before))).toBe(n);
    for (let k = 0; k < n; k++) {
      expect(freedAtVisit[k]).toBeLessThanOrEqual(k * SPAN); // never the record being visited
      expect(freedAtVisit[k]).toBeGreaterThan(k * SPAN - STEP - SPAN); // at most a step behind
    }
  });

  it('a callback that closes its channel is handed nothing more; the channel behind it gets its messages, and the ring empties', async () => {
    for (const asViews of [false, true]) {
      const { tx: [txA, txB], rx: [rxA, rxB], hw } = verifiedPaths(MAX, RING, 2);
      for (let i = 0; i < 3; i++) txA.send(message(i, 40));
      txB.send(message(10, 40));
      while (hw.engine.round() > 0);
      const seqs: number[] = [];
      const close = (seq: number): void => {
        seqs.push(seq);
        void rxA.close();
      };
      const n = asViews ? rxA.drain((m) => close(seqOf(m))) : rxA.drainBytes((b, at, len) => close(seqOf(b, at, len)));
      expect([n, seqs]).toEqual([1, [0]]);
      const buffer = new Uint8Array(MAX);
      expect(rxB.tryRecvInto(buffer)).toBe(40); // walks past (and drops) what was left of the closed channel
      expect(seqOf(buffer, 0, 40)).toBe(10);
      expect(rxA.drainBytes(() => seqs.push(-1))).toBe(0);
      expect(seqs).toEqual([0]);
      await new Promise((resolve) => setImmediate(resolve)); // the rest of the space goes back on the next turn
      const ring = hw.ports[0].queuePairs[0].receive;
      expect(ring.freeBytes()).toBe(RING);
    }
  });

  it('a blocking receive inside the callback is refused with EINVAL (it could only wait in vain, spinning), and the drain goes on', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    for (let i = 0; i < 2; i++) tx.send(message(i, 40));
    while (hw.engine.round() > 0);
    const seqs: number[] = [];
    const n = rx.drainBytes((b, at, len) => {
      seqs.push(seqOf(b, at, len));
      expectCode(() => rx.waitReadableSync(5000), 'EINVAL');
      expectCode(() => rx.recvIntoSync(new Uint8Array(MAX), 5000), 'EINVAL');
      expect(rx.waitReadableSync(0)).toBe(false); // a poll is fine: nothing is readable in the ring while it is in use
    });
    expect([n, seqs]).toEqual([2, [0, 1]]);
  });

  it('the queue pair failing inside the callback ends the drain: nothing more is handed out', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    for (let i = 0; i < 3; i++) tx.send(message(i, 40));
    while (hw.engine.round() > 0);
    const seqs: number[] = [];
    // What a fault completion read inside the callback (a send's checkCompletions) does: the queue pair fails.
    const qp = (rx as unknown as { qp: { fail(e: ChannelError): void } }).qp;
    const n = rx.drainBytes((b, at, len) => {
      seqs.push(seqOf(b, at, len));
      qp.fail(new ChannelError('EFAULT', 'completion ring: a fault'));
    });
    expect([n, seqs]).toEqual([1, [0]]);
    expect(rx.drainBytes(() => seqs.push(-1))).toBe(0);
    await expect(rx.recv()).rejects.toMatchObject({ code: 'EFAULT' });
  });

  it('rejects a callback that is not a function, or a negative max, with EINVAL', () => {
    const { rx: [rx] } = verifiedPaths(MAX, RING);
    expectCode(() => rx.drainBytes('x' as unknown as () => void), 'EINVAL');
    expectCode(() => rx.drainBytes(() => {}, -1), 'EINVAL');
    expectCode(() => rx.drain(() => {}, Number.NaN), 'EINVAL');
  });
});

describe('how long a received message stays valid', () => {
  it('recv()/tryRecv() messages are the caller\'s: intact after the ring reused their space hundreds of times', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const n = 3000;
    const next = { seq: 0 };
    const kept: Uint8Array[] = [];
    while (kept.length < n) {
      pump(tx, hw, next, n);
      kept.push(await rx.recv()); // the engine just delivered at least one: recv() takes it straight from the ring
      for (let m = rx.tryRecv(); m !== undefined; m = rx.tryRecv()) kept.push(m);
    }
    expect(kept.map((m) => seqOf(m))).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(kept.every((m) => m.byteLength === sizeOf(seqOf(m)) && !(m.buffer instanceof SharedArrayBuffer))).toBe(true);
  });

  it('a drain() view is the ring itself: valid while the callback runs, reused by later messages after', () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    let first: Uint8Array | undefined;
    let seqInside = -2;
    tx.send(message(0, 100));
    while (hw.engine.round() > 0);
    rx.drain((m) => {
      first = m;
      seqInside = seqOf(m);
    });
    expect(seqInside).toBe(0);
    const next = { seq: 1 };
    while (next.seq < 200) {
      pump(tx, hw, next, 200);
      rx.drain(() => {});
    }
    expect(first!.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(seqOf(first!)).not.toBe(0); // the space was handed back and rewritten: copy what you keep
  });
});

describe('a receive ring the partition scribbled on', () => {
  it('a delivery shorter than its header fails the queue pair with EFAULT and hands nothing out', async () => {
    const { rx: [rx], hw } = verifiedPaths(MAX, RING);
    const port = hw.ports[0];
    // The partition's own code writes a DATA record of 4 body bytes (a delivery header needs 8) into its receive ring.
    const forged = new RingProducer(queuePairRings(port.buffer, port.geometry, 0).receive);
    const at = forged.tryClaim(RecordType.DATA, 4);
    forged.u32[at >> 2] = rx.handle;
    forged.publish();
    expect(rx.tryRecvInto(new Uint8Array(64))).toBeUndefined();
    expect(rx.tryRecv()).toBeUndefined();
    await expect(rx.recv()).rejects.toMatchObject({ code: 'EFAULT' });
  });
});

describe('handing ring space back to a hardware that waits for it', () => {
  it('a reader that stops after a few messages still wakes the hardware asleep on its full ring, and it refills', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(MAX, RING);
    const doorbell = new Int32Array(hw.ports[0].buffer);
    const rung = (): number => Atomics.load(doorbell, HW_DOORBELL_WORD);
    const SIZE = 200; // 216-byte records: two are past the release batch (RING / 16), far below a wake-up's quarter ring
    let sent = 0;
    const fill = (): void => {
      try {
        for (;;) tx.send(message(sent++, SIZE));
      } catch (e) {
        sent--;
        if (!(e instanceof ChannelError && e.code === 'EAGAIN')) throw e;
      }
      while (hw.engine.round() > 0);
    };
    // Fill the receive ring, then the send ring behind it: the engine leaves work requests waiting and asks the
    // partition to ring its doorbell when space frees.
    fill();
    fill();
    const bell = rung();
    const buffer = new Uint8Array(MAX);
    expect(rx.tryRecvInto(buffer)).toBe(SIZE);
    expect(rx.tryRecvInto(buffer)).toBe(SIZE);
    expect(rung()).toBe(bell); // space handed back, its wake-up held for a quarter ring
    await new Promise((resolve) => setImmediate(resolve)); // the reader went back to its event loop
    expect(rung()).toBe(bell + 1);
    let moved = 0;
    for (let k = hw.engine.round(); k > 0; k = hw.engine.round()) moved += k;
    expect(moved).toBeGreaterThan(0); // the woken hardware delivered into the space the two freed
    const got: number[] = [0, 1];
    for (let len = rx.tryRecvInto(buffer); len !== undefined; len = rx.tryRecvInto(buffer)) got.push(seqOf(buffer, 0, len));
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i));
  });
});

describe('a receive given up with its signal (memory hunt, wave 19: a receive raced against a timer and dropped stayed queued, and took a later message)', () => {
  it('recv, readable and recvInto reject with the reason; nothing stays queued: the messages that arrive after go to the next receives, none lost', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, RING);
    const giveUp = <T>(receive: (signal: AbortSignal) => Promise<T>): Promise<T> => {
      const c = new AbortController();
      const p = receive(c.signal);
      c.abort(new Error('given up'));
      return p;
    };
    const given = [
      ...Array.from({ length: 10 }, () => giveUp((signal) => rx.recv({ signal }))),
      giveUp((signal) => rx.readable({ signal })),
      giveUp((signal) => rx.recvInto(new Uint8Array(64), { signal })),
    ];
    for (const p of given) await expect(p).rejects.toThrow('given up');
    for (let i = 0; i < 3; i++) tx.send(message(i, 64));
    while (hw.engine.round() > 0);
    for (let i = 0; i < 3; i++) expect(seqOf(await rx.recv())).toBe(i);
  });

  it('an aborted signal rejects at once, even with a message ready; a signal that never aborts changes nothing', async () => {
    const { tx: [tx], rx: [rx], hw } = verifiedPaths(64, RING);
    tx.send(message(7, 64));
    while (hw.engine.round() > 0);
    const aborted = AbortSignal.abort(new Error('too late'));
    await expect(rx.recv({ signal: aborted })).rejects.toThrow('too late');
    await expect(rx.readable({ signal: aborted })).rejects.toThrow('too late');
    await expect(rx.recvInto(new Uint8Array(64), { signal: aborted })).rejects.toThrow('too late');
    expect(seqOf(await rx.recv({ signal: new AbortController().signal }))).toBe(7);
  });

  it('bad options are EINVAL', async () => {
    const { rx: [rx] } = verifiedPaths(64, RING);
    await expect(rx.recv(null as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('recv: options must be an object') });
    await expect(rx.readable({ signal: 5 } as never)).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining('readable: options.signal must be an AbortSignal') });
    await expect(rx.recvInto(new Uint8Array(8), 'x' as never)).rejects.toMatchObject({ code: 'EINVAL' });
    // A misspelt key would leave the receive waiting without the bound its caller meant.
    const typo = { sigal: AbortSignal.timeout(50) } as never;
    for (const [what, call] of [
      ['recv', () => rx.recv(typo)],
      ['readable', () => rx.readable(typo)],
      ['recvInto', () => rx.recvInto(new Uint8Array(64), typo)],
    ] as const) {
      await expect(call(), what).rejects.toMatchObject({ code: 'EINVAL', message: expect.stringContaining(`${what}: 'sigal' is not an option; the only option is signal`) });
    }
  });
});
