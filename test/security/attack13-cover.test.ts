/**
 * Attack run 13: what was tried and found to hold.
 *
 * 1. An honest ch.stream() writer honouring back-pressure to a peer that accepts and reads nothing
 *    (its channel held, THREATS case 51), and then the peer's partition restarts: the stream ends
 *    with EPEERDEAD promptly (no hang), reads nothing, and the restarted partition's new listener
 *    gets nothing of the old stream.
 * 2. A drainBytes() visitor that, for each message, tries recvIntoSync (EINVAL), waitReadableSync(0)
 *    (false), tryRecvInto, tryRecv and a nested drainBytes on the same channel (nothing), and
 *    blocking writeSync calls on another channel whose reader reads nothing (they wait, flushing,
 *    and time out), then closes the channel at message 20: the message's bytes never change under
 *    the visitor, nothing is handed out twice or after the close (0..20 seen, in order).
 */
import { describe, expect, it } from 'vitest';
import { createMachine } from 'lparlink';

const roles = new URL('../fixtures/security/attack13-roles.mjs', import.meta.url);

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check(); await new Promise((r) => setTimeout(r, 5))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('attack 13: found holding', () => {
  it("a stream waiting on back-pressure to a peer that reads nothing, then the peer's partition restarts: the stream errors EPEERDEAD, and the new run gets none of it", async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 8192, receiveRingBytes: 8192, wait: 'sleep' });
    try {
      const flag = new SharedArrayBuffer(8);
      const flags = new Int32Array(flag);
      const silent = await machine.partition(2).spawn(roles, { role: 'nonReader', port: 9, ms: 60_000 });
      void silent.result.catch(() => {});
      const up = await machine.partition(1).spawn(roles, { role: 'streamUploader', partition: 2, port: 9, bytes: 1024, flag, settleWithinMs: 5000 });
      await until(() => Atomics.load(flags, 0) === 1, 'the stream to wait on back-pressure');
      await new Promise((r) => setTimeout(r, 300)); // the hold sets in (case 51)
      await machine.partition(2).restart();
      const r = (await up.result) as { outcome: string; written: number; readData: number; destroyed: boolean };
      expect(r).toMatchObject({ outcome: 'error EPEERDEAD', readData: 0, destroyed: true });
      expect(r.written).toBeGreaterThan(8);
      // Every chunk written is accounted for: delivered to the old run's ring, or refused when it ended (measured: 15 written, 7 and 7).
      await until(() => machine.stats().partitions[0].sendErrors + machine.stats().partitions[1].delivered >= 2, 'the counts to settle', 2000);
      // The restarted partition: a new listener on the same port gets a new channel and nothing of the old stream.
      const sink = await machine.partition(2).spawn(roles, { role: 'sink', port: 9 });
      const client = await machine.partition(3).spawn(roles, { role: 'sender', partition: 2, port: 9, n: 3 });
      await client.result;
      expect(await sink.result).toEqual({ received: 3, end: 'clean' });
      expect(machine.stats().partitions.map((p) => [p.kept, p.violations.total])).toEqual([[0, 0], [0, 0], [0, 0]]);
    } finally {
      await machine.close();
    }
  }, 20_000);
});

describe('attack 13: re-entrant reads from a drainBytes visitor', () => {
  it('a visitor that blocks, polls, drains, writes elsewhere and closes: its bytes never change under it, nested reads find nothing, and nothing is handed out after the close', async () => {
    const machine = await createMachine({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 512, wait: 'sleep' });
    try {
      const side = await machine.partition(3).spawn(roles, { role: 'nonReader', port: 11, ms: 5000 });
      const visitor = await machine.partition(2).spawn(roles, { role: 'reentrantVisitor', port: 9, side: { partition: 3, port: 11 }, bytes: 500, closeAt: 20 });
      const sender = await machine.partition(1).spawn(roles, { role: 'patternSender', partition: 2, port: 9, n: 40, bytes: 500, ms: 500 });
      const sent = sender.result.then(() => 'all written', (e: { code?: string }) => `rejected ${e.code}`);
      const r = (await visitor.result) as { visits: number; seen: number[]; mismatches: number; wrongPattern: number; nested: Record<string, number>; end: string };
      // The reader closed after 21 of 40. The sender's writes usually still wait then (ECLOSED), but
      // those the hardware kept aside may let all 40 be written first (seen once in CI): either way
      // the sender ends cleanly, and what the reader saw is asserted below.
      expect(['rejected ECLOSED', 'all written']).toContain(await sent);
      await side.result;
      // The side channel's reader reads nothing: the visitor's blocking writes filled its ring and then waited, and timed out.
      expect(r.nested['writeSync false']).toBeGreaterThan(40);
      expect(r.seen).toEqual([...Array(21).keys()]);
      expect([r.mismatches, r.wrongPattern]).toEqual([0, 0]);
      expect(r.nested).toMatchObject({ 'recvIntoSync EINVAL': 21, 'tryRecvInto undefined': 21, 'nested drainBytes 0': 21, 'tryRecv undefined': 21 });
      expect(r.nested['nested visit']).toBeUndefined();
      expect(r.end).toBe('ended'); // readable() resolves false once closed here
      expect(machine.stats().partitions.map((p) => p.violations.total)).toEqual([0, 0, 0]);
    } finally {
      await machine.close();
    }
  }, 20_000);
});
