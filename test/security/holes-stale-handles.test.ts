/**
 * THREATS.md case 28: a closed handle must never name a channel again, however many channels a
 * partition opens and closes on the same slot. A slot whose generations run out retires. The
 * hardware test hook ageChannelSlot brings a slot to its last generations, so the test need not
 * cycle it a billion times. The plain cycle that made a 16-bit generation wrap runs too: 65,536
 * control-plane round trips, about 12 s on a quiet 2-core machine (20–27 s on busy shared cores).
 */
import { describe, expect, it } from 'vitest';
import { ConnectionState, RecordType, Status } from 'lparlink/internal';
import { completions, numbered, receiveAll, SMALL, withBench } from './harness.js';

const RETIRE_SLOTS = new URL('../fixtures/security/retire-slots.mjs', import.meta.url);
const P = 3;
const A = 4;
const SLOTS = SMALL.channelsPerPartition;

/** The slot of P's connection table that holds `handle` as an open channel (-1: none). */
async function slotOf(os: any, handle: number): Promise<number> {
  for (let slot = 0; slot < SLOTS; slot++) {
    const [h, , , , state] = (await os.connectionEntry(slot)) as number[];
    if (h === handle && state === ConnectionState.OPEN) return slot;
  }
  return -1;
}

describe('stale handles after many generations', () => {
  it('28: a slot at its last generation retires when that channel closes: the next channel lands elsewhere, both old handles get ESTALE, and nothing reaches the new peer', async () => {
    await withBench({ hostile: [P, A] }, async (b) => {
      const [p, a] = [b.os(P), b.os(A)];
      const hooks = b.machine.hooks!;
      for (const [os, qp] of [[p, 0], [p, 1], [a, 0]] as const) expect(await os.open(qp)).toMatchObject({ ok: true });
      expect(await a.listen(0, 70)).toMatchObject({ ok: true });
      /** P (queue pair 0) opens a channel to A, A accepts it; both handles and P's slot. */
      const open = async () => {
        const near = await p.connect(0, A, 70);
        expect(near).toMatchObject({ ok: true });
        const far = await a.accept(0, 70);
        expect(far).toMatchObject({ ok: true, remotePartition: P });
        return { handle: near.handle as number, peer: far.handle as number, slot: await slotOf(p, near.handle) };
      };
      const close = async (c: { handle: number; peer: number }) => {
        await p.close(0, c.handle);
        expect(await completions(p, 0, 1)).toEqual([{ status: Status.OK, channel: c.handle, opcode: RecordType.CLOSE, count: 1 }]);
        expect(await receiveAll(a, 0, 1)).toEqual([{ type: RecordType.END, channel: c.peer, status: Status.OK, bytes: [] }]);
      };

      const first = await open();
      expect(first.slot).toBeGreaterThanOrEqual(0);
      await close(first);
      await hooks.ageChannelSlot(P, first.slot, 1);
      const last = await open();
      expect(last.slot, 'the aged slot carries one more channel').toBe(first.slot);
      await close(last);
      const fresh = await open();
      expect(fresh.slot, 'a retired slot is never used again').not.toBe(first.slot);
      expect(fresh.slot).toBeGreaterThanOrEqual(0);

      // Another process of the partition tries both handles the retired slot ever carried.
      const delivered = b.stats(A).delivered;
      await p.send(1, first.handle, numbered(1));
      await p.send(1, last.handle, numbered(2));
      expect(await completions(p, 1, 2)).toEqual([
        { status: Status.ESTALE, channel: first.handle, opcode: RecordType.SEND, count: 1 },
        { status: Status.ESTALE, channel: last.handle, opcode: RecordType.SEND, count: 1 },
      ]);
      expect(b.violations(P)).toEqual({ total: 2, staleHandle: 2 });
      expect(await a.readReceive(0), 'what the new channel\'s peer received').toEqual([]);
      expect(b.stats(A).delivered).toBe(delivered);

      // The new channel itself works.
      await p.send(0, fresh.handle, numbered(3));
      expect(await receiveAll(a, 0, 1)).toEqual([{ type: RecordType.DATA, channel: fresh.peer, status: Status.OK, bytes: numbered(3) }]);
      expect(b.violations(A)).toEqual({});
      await b.honest.finish();
    });
  });

  it('28: with every slot of a partition retired, connect fails with ChannelError EMFILE saying the slots are retired', async () => {
    const R = 6;
    await withBench({ hostile: [], standard: [R] }, async (b) => {
      for (let slot = 0; slot < SLOTS; slot++) await b.machine.hooks!.ageChannelSlot(R, slot, 1);
      const program = await b.machine.partition(R).spawn(RETIRE_SLOTS, { port: 9, pairs: SLOTS / 2 });
      const outcome = (await program.result) as Record<string, unknown>;
      expect(outcome).toMatchObject({ name: 'ChannelError', code: 'EMFILE', message: expect.stringMatching(/retired/) });
      expect(b.violations(R)).toEqual({});
      await b.honest.finish();
    });
  });

  it('28: 65,536 channels opened and closed one after another on one slot never bring its first handle back', async () => {
    await withBench({ hostile: [P] }, async (b) => {
      const p = b.os(P);
      for (const qp of [0, 1]) expect(await p.open(qp)).toMatchObject({ ok: true });
      expect(await p.listen(1, 30)).toMatchObject({ ok: true });
      const first = await p.connect(0, P, 30);
      expect(first).toMatchObject({ ok: true });
      const slot = await slotOf(p, first.handle);
      expect(slot).toBeGreaterThanOrEqual(0);
      await p.close(0, first.handle);
      expect(await completions(p, 0, 1)).toEqual([{ status: Status.OK, channel: first.handle, opcode: RecordType.CLOSE, count: 1 }]);
      expect(await p.unlisten(1, 30)).toEqual({ ok: true, refused: [expect.any(Number)] }); // the first, closed by its connector but never accepted
      expect(await p.listen(1, 30)).toMatchObject({ ok: true });
      await p.readReceive(1);

      // 65,535 more channels on the same slot, then one kept open: a 16-bit generation is back where it began.
      const churned = await p.churn(0, 1, 30, slot, 0xffff, first.handle);
      expect(churned).toMatchObject({ hits: 0xffff, reissued: [] });
      expect(churned.failed).toBeUndefined();
      expect(await p.listen(1, 30)).toMatchObject({ ok: true });
      const now = await p.connect(0, P, 30);
      expect(now).toMatchObject({ ok: true });
      expect(await slotOf(p, now.handle), 'the slot of the 65,537th channel').toBe(slot);
      expect(now.handle, 'the handle of the 65,537th channel').not.toBe(first.handle);

      const delivered = b.stats(P).delivered;
      await p.send(0, first.handle, numbered(7));
      expect(await completions(p, 0, 1)).toEqual([{ status: Status.ESTALE, channel: first.handle, opcode: RecordType.SEND, count: 1 }]);
      expect(b.violations(P)).toEqual({ total: 1, staleHandle: 1 });
      expect((await p.readReceive(1)).filter((r: { type: number }) => r.type === RecordType.DATA), 'data on the listening end').toEqual([]);
      expect(b.stats(P).delivered).toBe(delivered);
      await b.honest.finish();
    });
  }, 120_000);
});
