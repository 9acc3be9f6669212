/**
 * Attack run 12: what was tried and found to hold.
 *
 * 1. A process's queue pair handed to the next process while the hardware still keeps the first
 *    one's messages aside (THREATS case 51's hold, then its CLOSE, then its end): with one process
 *    slot per partition, the next program runs on the very queue pair. Whether the reader then
 *    reads them all or closes its end unread, nothing of the first process (a completion for its
 *    refused messages, its CLOSE's acknowledgement, its hold, a row of its table) reaches the next
 *    one, and every message is accounted for: read in order then a clean end, or counted refused on
 *    the sending partition.
 * 2. comlink over a channel whose reader reads nothing (the calls' writes wait), and the server's
 *    partition restarted under it: every call rejects EPEERDEAD, none hangs or resolves, and the
 *    restarted partition gets nothing of the old channel; a new channel to it is served.
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';

const roles = new URL('../fixtures/security/attack12-roles.mjs', import.meta.url);
const sink = new URL('../fixtures/security/sink.mjs', import.meta.url);

/** Spawn on a partition whose one process slot is still being handed back: retry EMFILE briefly. */
async function spawnWhenFree(machine: Machine, id: number, args: unknown) {
  for (const deadline = Date.now() + 5000; ; ) {
    try {
      return await machine.partition(id).spawn(roles, args as never);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EMFILE' || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('attack 12: found holding', () => {
  it.each(['read', 'drop'] as const)(
    "queue pair reuse behind a held channel (the reader then %ss): the next process on the queue pair sees nothing of the first, and every message is accounted for",
    async (mode) => {
      const machine = await createMachine({
        partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }],
        processesPerPartition: 1,
        sendRingBytes: 4096,
        receiveRingBytes: 4096,
        maxMessageBytes: 256,
        wait: 'sleep',
      });
      try {
        const flag = new SharedArrayBuffer(16);
        const flags = new Int32Array(flag);
        const reader = await machine.partition(2).spawn(roles, { role: 'gatedReader', port: 9, flag, mode });
        const side = await machine.partition(3).spawn(sink, { port: 10 });
        const side2 = await machine.partition(4).spawn(sink, { port: 11 });
        const first = await spawnWhenFree(machine, 1, { role: 'heldSender', reader: { partition: 2, port: 9 }, side: { partition: 3, port: 10 }, bytes: 64 });
        const p1 = (await first.result) as { sent: number; pid: number };
        expect(p1.sent).toBeGreaterThan(40); // the reader's ring (51 of these), and what was kept
        // Still kept aside for the reader after the first process ended: the hold outlived it.
        // What its ring still held is served (kept) a moment after it ended: wait until all is delivered or kept.
        await until(() => machine.stats().partitions[1].delivered + machine.stats().partitions[1].kept === p1.sent, 'the first process\'s ring to be served', 5000);
        const keptAfterEnd = machine.stats().partitions[1].kept;
        expect(keptAfterEnd).toBeGreaterThan(0); // measured: 101 sent, 50 kept
        const next = await spawnWhenFree(machine, 1, { role: 'nextOnSlot', side: { partition: 4, port: 11 }, n: 100, flag });
        await until(() => Atomics.load(flags, 2) === 1, 'the next process to have written');
        Atomics.store(flags, 0, 1); // the reader reads, or drops, now
        const r = (await reader.result) as { received: number; inOrder?: boolean; end?: string };
        Atomics.store(flags, 1, 1);
        const p2 = (await next.result) as { pid: number; failedSends: object; heldSeen: boolean; foreign: string[] };
        expect(p2.pid).not.toBe(p1.pid);
        expect(p2).toMatchObject({ failedSends: {}, heldSeen: false, foreign: [] });
        expect(await side2.result).toEqual({ received: 100 });
        expect(await side.result).toMatchObject({ received: expect.any(Number) });
        // The reader's CLOSE is posted when its program returns, and served a moment later: wait for the counts to settle.
        const settled = (): boolean => {
          const [a, b] = machine.stats().partitions;
          return a.sendErrors + b.delivered === p1.sent && b.kept === 0;
        };
        await until(settled, 'every message of the first process to be delivered or refused', 5000);
        const [a, b] = machine.stats().partitions;
        if (mode === 'read') {
          expect(r).toEqual({ received: p1.sent, inOrder: true, end: 'clean' });
          expect([a.sendErrors, b.delivered]).toEqual([0, p1.sent]);
        } else {
          // What reached the reader's ring it dropped itself by closing; what was kept is refused,
          // counted on the sending partition, and answered to nobody (its process is gone).
          expect(a.sendErrors).toBe(keptAfterEnd);
          expect(a.sendErrors + b.delivered).toBe(p1.sent);
        }
        expect(machine.stats().partitions.map((p) => [p.kept, p.violations.total])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
      } finally {
        await machine.close();
      }
    },
  );

  it("comlink calls whose writes wait on a server that reads nothing, then the server's partition restarts: every call rejects EPEERDEAD, and the new run gets nothing of the old channel", async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], wait: 'sleep' });
    try {
      const flag = new SharedArrayBuffer(16);
      const flags = new Int32Array(flag);
      const silent = await machine.partition(2).spawn(roles, { role: 'nonReader', port: 9, ms: 60_000 });
      void silent.result.catch(() => {});
      // 100 calls of 32 KiB: far more than the rings hold, so most of them wait to be written.
      const caller = await machine.partition(1).spawn(roles, { role: 'heldCaller', partition: 2, port: 9, calls: 100, bytes: 32 * 1024, flag, settleWithinMs: 5000 });
      await until(() => Atomics.load(flags, 0) === 1, 'the calls to be made');
      await new Promise((r) => setTimeout(r, 100));
      await machine.partition(2).restart();
      const r = (await caller.result) as { outcomes: Record<string, number>; unsettled: number };
      expect(r).toEqual({ outcomes: { 'rejected EPEERDEAD': 100 }, unsettled: 0 });
      // The restarted partition serves a new caller, and took nothing of the old channel.
      const server = await machine.partition(2).spawn(roles, { role: 'rpcServer', port: 9, ms: 1500 });
      const fresh = await machine.partition(3).spawn(new URL('../fixtures/security/rpc-caller.mjs', import.meta.url), { partition: 2, port: 9 });
      expect(await fresh.result).toBe(42);
      expect(await server.result).toEqual({ channels: 1, calls: 1 });
      expect(machine.stats().partitions.map((p) => [p.kept, p.violations.total])).toEqual([[0, 0], [0, 0], [0, 0]]);
    } finally {
      await machine.close();
    }
  });
});
