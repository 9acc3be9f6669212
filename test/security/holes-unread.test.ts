/**
 * THREATS.md case 44: a peer that keeps sending on a channel its receiver does not read while that
 * process waits on another channel of the same queue pair. The receive pump copies such messages
 * out of the shared receive ring to reach the ones behind them; kept without bound, a flood grew
 * the whole Node process by hundreds of MiB in seconds, outside the victim's heap limit, and its
 * sender was never held back. Now a process keeps at most 4 MiB of unread messages per channel
 * (each counted with 128 bytes of overhead, so empty messages are bounded too), in memory of that
 * channel's own; past it the pump leaves the channel's next message in the ring, which holds its
 * sender back, and only when nothing reads the channel for UNREAD_HOLD_MS does it end with ENOBUFS
 * (what was kept is read first) and close, so its sender's write() fails ECLOSED. An honest reader
 * that is merely slower than its writer, beside a receive pending on another channel, is held back
 * and loses nothing. Attacks come from inside partition workers.
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from '../../src/index.js';

const fixture = (name: string): URL => new URL(`../fixtures/security/${name}`, import.meta.url);
const VICTIM = 1;
const HONEST = 2;
const FLOODER = 3;
const LIMIT = 4 * 1024 * 1024;
/** What the bound keeps of `bytes`-byte messages (128 bytes of overhead each). */
const kept = (bytes: number): number => Math.floor(LIMIT / (bytes + 128));

describe('44: unread messages a process keeps per channel are bounded', () => {
  for (const [accepted, bytes] of [
    [true, 1024],
    [true, 0],
    [false, 1024],
  ] as const) {
    it(`a flood of ${bytes}-byte messages on a channel ${accepted ? 'accepted but not read' : 'not accepted yet'} is held at 4 MiB, then dropped with ENOBUFS; the awaited channel still delivers`, async () => {
      await using machine = await createMachine({
        wait: 'sleep',
        receiveRingBytes: 16 * 1024,
        partitions: [{ id: VICTIM, name: 'victim', resourceLimits: { maxOldGenerationSizeMb: 64 } }, { id: HONEST }, { id: FLOODER }],
      });
      const go = new SharedArrayBuffer(4);
      const honest = await machine.partition(HONEST).spawn(fixture('send-on-go.mjs'), accepted ? { partition: VICTIM, port: 7, go } : { listen: 5, go });
      const victim = await machine.partition(VICTIM).spawn(fixture('unread-victim.mjs'), { port: 7, honest: HONEST, honestPort: 5, accepted });
      if (accepted) await new Promise((r) => setTimeout(r, 100)); // the honest channel is accepted first
      const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes });
      const delivered = (): number => machine.stats().partitions.find((p) => p.id === VICTIM)!.delivered;
      if (accepted) {
        // Held at the bound for UNREAD_HOLD_MS with nothing read, the channel closes: the flooder
        // stops, having written what was kept and what the ring held.
        const flood = (await flooder.result) as { written: number; error: string };
        expect(flood.error).toBe('ECLOSED');
        expect(flood.written).toBeGreaterThan(kept(bytes));
        expect(delivered()).toBeLessThan(kept(bytes) + 16 * 1024);
      } else {
        // Not accepted, it has no end here to close: after the hold its messages are dropped
        // (the sender goes on) until accept() ends it.
        await expect.poll(delivered, { timeout: 30_000, interval: 20 }).toBeGreaterThan(kept(bytes) + 100);
      }
      Atomics.store(new Int32Array(go), 0, 1);
      // What it held was dropped with it (kept past its freed slot, a reconnecting peer would pass the bound).
      expect(await victim.result).toEqual({ honest: 3, kept: 0, end: 'ENOBUFS' });
      expect(await flooder.result).toMatchObject({ error: 'ECLOSED' });
      expect(await honest.result).toBe('sent');
      expect(machine.partition(VICTIM).running).toBe(true);
    }, 60_000);
  }

  it('a channel that passed the bound before it was accepted ends ENOBUFS even when its writer then closed cleanly', async () => {
    await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 16 * 1024, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
    const go = new SharedArrayBuffer(4);
    const honest = await machine.partition(HONEST).spawn(fixture('send-on-go.mjs'), { listen: 5, go });
    const victim = await machine.partition(VICTIM).spawn(fixture('unread-victim.mjs'), { port: 7, honest: HONEST, honestPort: 5, accepted: false });
    // More than the bound keeps, then a clean close, all before the victim accepts.
    const writer = await machine.partition(FLOODER).spawn(fixture('write-n.mjs'), { partition: VICTIM, port: 7, bytes: 1024, count: kept(1024) + 2000 });
    expect(await writer.result).toEqual({ written: kept(1024) + 2000 });
    Atomics.store(new Int32Array(go), 0, 1);
    // Not a clean end: the reader learns that messages were dropped.
    expect(await victim.result).toEqual({ honest: 3, kept: 0, end: 'ENOBUFS' });
    expect(await honest.result).toBe('sent');
  }, 60_000);

  // A slow poller copies a ring's worth at a time: a ring larger than the bound lets it reach it.
  for (const [everyMs, ringBytes] of [
    [5, 16 * 1024],
    [200, 8 * 1024 * 1024],
  ] as const) {
    it(`a process that only polls (tryRecv, every ${everyMs} ms) gets its message past a held channel once the hold runs out`, async () => {
      await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: ringBytes, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
      const go = new SharedArrayBuffer(4);
      const victim = await machine.partition(VICTIM).spawn(fixture('poll-victim.mjs'), { port: 7, flooded: FLOODER, pollMs: 20_000, everyMs });
      const honest = await machine.partition(HONEST).spawn(fixture('send-on-go.mjs'), { partition: VICTIM, port: 7, go });
      await new Promise((r) => setTimeout(r, 100));
      const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes: 1024 });
      // The honest message arrives behind the flood, which the victim's polls hold at its bound.
      await expect.poll(() => machine.stats().partitions.find((p) => p.id === VICTIM)!.delivered, { timeout: 30_000, interval: 20 }).toBeGreaterThan(kept(1024));
      Atomics.store(new Int32Array(go), 0, 1);
      expect(await victim.result).toEqual({ polled: true, flooded: 'ENOBUFS' });
      expect(await flooder.result).toMatchObject({ error: 'ECLOSED' });
      expect(await honest.result).toBe('sent');
    }, 60_000);
  }

  it('a process that ends while a channel it never accepted holds the ring leaves nothing to the next process on its queue pair', async () => {
    await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 64 * 1024, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
    const quiet = await machine.partition(HONEST).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
    const first = await machine.partition(VICTIM).spawn(fixture('end-while-held.mjs'), { port: 7, quiet: HONEST, quietPort: 5, waitMs: 800 });
    await new Promise((r) => setTimeout(r, 100));
    const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes: 16 * 1024 });
    expect(await first.result).toEqual({ held: true });
    await flooder.result;
    const next = await machine.partition(VICTIM).spawn(fixture('inspect-queue-pair.mjs'), {});
    expect(await next.result).toEqual({ held: false, moved: 0, early: 0 });
    expect(await quiet.result).toBe('ECLOSED');
  }, 60_000);

  it('a process that ends with more than a bound of unaccepted messages in a large ring leaves nothing held to the next', async () => {
    await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 16 * 1024 * 1024, partitions: [{ id: VICTIM }, { id: FLOODER }] });
    const victim = await machine.partition(VICTIM).spawn(fixture('listen-idle.mjs'), { port: 7, waitMs: 3000 });
    // Two unaccepted channels, 5 MiB each: all of it fits the ring, and nothing reads it until the end.
    for (let i = 0; i < 2; i++) {
      const writer = await machine.partition(FLOODER).spawn(fixture('write-n.mjs'), { partition: VICTIM, port: 7, bytes: 16 * 1024, count: 320 });
      expect(await writer.result).toEqual({ written: 320 });
    }
    expect(await victim.result).toBe('ended');
    const next = await machine.partition(VICTIM).spawn(fixture('inspect-queue-pair.mjs'), {});
    expect(await next.result).toEqual({ held: false, moved: 0, early: 0 });
  }, 60_000);

  it('the hold counts only while something reads past it: a channel left unread while the process reads nothing survives', async () => {
    await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 64 * 1024, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
    const victim = await machine.partition(VICTIM).spawn(fixture('idle-then-poll.mjs'), { port: 7, flooded: FLOODER, idleMs: 1200 });
    const idle = await machine.partition(HONEST).spawn(fixture('idle-peer.mjs'), { partition: VICTIM, port: 7 });
    await new Promise((r) => setTimeout(r, 100));
    const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes: 16 * 1024 });
    // Held, then 1.2 s with nothing read or waited for, then one poll: the flooded channel still reads.
    expect(await victim.result).toEqual({ held: true, flood: 'message' });
    expect(await flooder.result).toMatchObject({ error: 'ECLOSED' }); // the victim's main returned
    expect(await idle.result).toBe('ECLOSED');
  }, 60_000);

  for (const count of [undefined, 250]) {
    it(`what a process keeps for handles it never accepted goes when their listener closes (${count === undefined ? 'a flood' : 'just under the bound'}, listening again and again)`, async () => {
      await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 64 * 1024, channelsPerPartition: 4, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
      const quiet = await machine.partition(HONEST).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
      const victim = await machine.partition(VICTIM).spawn(fixture('relisten-victim.mjs'), { port: 7, quiet: HONEST, quietPort: 5, holdMs: 1300, rounds: 4 });
      const flooder = await machine.partition(FLOODER).spawn(fixture('relisten-flooder.mjs'), { partition: VICTIM, port: 7, bytes: 16 * 1024, count, rounds: 4 });
      // The hardware frees a waiting connection's slot when its listener closes, and now says which:
      // nothing of it is kept (it grew 4, 8, 12, 16 MiB a round, past the 4 slots' bound, before).
      expect(await victim.result).toEqual([0, 0, 0, 0]);
      // Refused: a receive learns ECONNREFUSED, a write the hardware refused after it EPEERDEAD.
      const ends = (await flooder.result) as string[];
      expect(ends).toHaveLength(4);
      for (const end of ends) expect(['ECONNREFUSED', 'EPEERDEAD']).toContain(end);
      expect(await quiet.result).toBe('ECLOSED');
    }, 60_000);
  }

  for (const relisten of [false, true]) {
    it(`an honest client's message before accept survives a peer that filled the process's bound for unaccepted channels${relisten ? ', listener reopened' : ''}`, async () => {
      // Four hogs just under the per-channel bound (never held) and a fifth leaving less room than
      // any message needs (256 bytes counted per early message besides its bytes).
      const bytes = 16 * 1024;
      const count = 252;
      const extra = 3640;
      const fill = 4 * count * (bytes + 256) + extra + 256;
      await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }, { id: 4 }] });
      const flag = new SharedArrayBuffer(4);
      const quiet = await machine.partition(HONEST).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
      const victim = await machine.partition(VICTIM).spawn(fixture('hog-victim.mjs'), { port: 7, quiet: HONEST, quietPort: 5, honest: 4, flag, fill, relisten, busyMs: 1500 });
      const attacker = await machine.partition(FLOODER).spawn(fixture('hog-attacker.mjs'), { partition: VICTIM, port: 7, flag, conns: 4, count, bytes, extra });
      const honest = await machine.partition(4).spawn(fixture('hog-honest.mjs'), { partition: VICTIM, port: 7, flag });
      expect(await attacker.result).toBe('done');
      // Room is made by ending the hog that keeps the most (or, reopened, the close dropped them all), not the newcomer.
      expect(await victim.result).toMatchObject({ filled: fill, honest: 3 });
      expect(await honest.result).toBe('ECLOSED');
      expect(await quiet.result).toBe('ECLOSED');
    }, 60_000);
  }

  it('a burst of honest uploads past the per-process bound before a late accept all arrive', async () => {
    // Five uploads of 3.5 MiB (each under its own bound, together past the process's 16 MiB) reach
    // a server busy for 400 ms, under the hold: none may be ended before the hold runs out.
    const clients = 5;
    const bytes = 56 * 64 * 1024;
    await using machine = await createMachine({
      wait: 'sleep',
      partitions: [{ id: VICTIM }, { id: HONEST }, ...Array.from({ length: clients }, (_, i) => ({ id: 10 + i }))],
    });
    const flag = new SharedArrayBuffer(4);
    const quiet = await machine.partition(HONEST).spawn(fixture('accept-quiet.mjs'), { listen: 5 });
    const server = await machine.partition(VICTIM).spawn(fixture('burst-server.mjs'), { port: 7, quiet: HONEST, quietPort: 5, flag, busyMs: 400, clients, bytes });
    const uploads = [];
    for (let i = 0; i < clients; i++) uploads.push(await machine.partition(10 + i).spawn(fixture('burst-uploader.mjs'), { partition: VICTIM, port: 7, flag, bytes, delayMs: 20 * i }));
    expect(await server.result).toEqual({ results: Array(clients).fill(bytes), earlyCharged: 0 });
    for (const upload of uploads) expect(await upload.result).toBe('ECLOSED');
    expect(await quiet.result).toBe('ECLOSED');
  }, 60_000);

  it('a channel closed with messages kept for it lets go of them at once', async () => {
    await using machine = await createMachine({ wait: 'sleep', partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
    const victim = await machine.partition(VICTIM).spawn(fixture('close-kept.mjs'), { port: 7, flooded: FLOODER });
    const idle = await machine.partition(HONEST).spawn(fixture('idle-peer.mjs'), { partition: VICTIM, port: 7 });
    await new Promise((r) => setTimeout(r, 100));
    const flooder = await machine.partition(FLOODER).spawn(fixture('flood-writer.mjs'), { partition: VICTIM, port: 7, bytes: 1024 });
    // It waits for its CLOSE's acknowledgement (which a full completion ring may drop) with nothing kept.
    expect(await victim.result).toEqual({ kept: true, afterClose: { read: 'nothing', keptBytes: 0 } });
    expect(await flooder.result).toMatchObject({ error: 'ECLOSED' });
    expect(await idle.result).toBe('ECLOSED');
  }, 60_000);

  it('an honest reader slower than its writer, with a receive pending on another channel, is held back and loses nothing', async () => {
    await using machine = await createMachine({ wait: 'sleep', receiveRingBytes: 64 * 1024, partitions: [{ id: VICTIM }, { id: HONEST }, { id: FLOODER }] });
    const server = await machine.partition(VICTIM).spawn(fixture('slow-reader.mjs'), { port: 7, busy: FLOODER, pauseMs: 2 });
    const idle = await machine.partition(HONEST).spawn(fixture('idle-peer.mjs'), { partition: VICTIM, port: 7 });
    await new Promise((r) => setTimeout(r, 100)); // the quiet channel first
    // 6 MiB in 16 KiB messages: past the 4 MiB bound while the reader sleeps between messages.
    const writer = await machine.partition(FLOODER).spawn(fixture('write-n.mjs'), { partition: VICTIM, port: 7, bytes: 16 * 1024, count: 384 });
    expect(await writer.result).toEqual({ written: 384 });
    // Held at its bound (the writer was held back), and nothing lost.
    expect(await server.result).toEqual({ read: 384, bytes: 384 * 16 * 1024, end: 'ECLOSED', held: true });
    expect(await idle.result).toBe('ECLOSED');
  }, 60_000);
});
