/**
 * Attack run 12: a peer that stops reading keeps an honest sender's close() (and its process slot)
 * from ever being posted. A lone stream whose reader reads nothing fills its sender's send ring and
 * waits at the head (THREATS case 18: it is not kept aside while only SENDs of its channel are
 * behind it). The sender gives up and closes: its CLOSE finds the ring full, and `SendQueue.post`
 * waits for room without the hint that sends of another channel raise (case 51), so the hardware
 * never learns that something other than the stream waits, and never frees the room. close() never
 * settles, and when the program returns the DETACH of its end waits the same way: the queue pair is
 * never handed back, and the partition runs out of process slots (spawn fails EMFILE).
 */
import { describe, expect, it } from 'vitest';
import { createMachine, type Machine } from 'lparlink';

const roles = new URL('../fixtures/security/attack12-roles.mjs', import.meta.url);

/** Two partitions with 4 KiB rings (a few records fill one), and partition 2 running a peer that accepts and reads nothing. */
async function besideNonReader(processesPerPartition?: number): Promise<Machine> {
  const machine = await createMachine({
    partitions: [{ id: 1 }, { id: 2 }],
    ...(processesPerPartition === undefined ? {} : { processesPerPartition, channelsPerPartition: 16 }),
    sendRingBytes: 4096,
    receiveRingBytes: 4096,
    maxMessageBytes: 256,
    wait: 'sleep',
  });
  // Any partition allowed to connect can be this peer.
  const reader = await machine.partition(2).spawn(roles, { role: 'nonReader', port: 9, ms: 60_000 });
  void reader.result.catch(() => {});
  return machine;
}

describe('97: a close behind a lone stream its reader does not read (attack run 12)', () => {
  it("the sender's close() is posted, and its process slots come back", async () => {
    const machine = await besideNonReader(2);
    try {
      // An honest uploader gives up on its upload and closes the channel.
      const first = await machine.partition(1).spawn(roles, { role: 'stuckCloser', partition: 2, port: 9, bytes: 200, closeWithinMs: 2000 });
      const r = (await first.result) as { sent: number; held: boolean; close: string; closeMs: number };
      expect(r.sent).toBeGreaterThan(20); // both rings full: the reader's and the sender's
      expect(r.held).toBe(false); // a lone stream: it waits at the head of its ring, not aside
      // One more program gives up the same way without awaiting its close, and ends: two slots in all.
      const second = await machine.partition(1).spawn(roles, { role: 'stuckCloser', partition: 2, port: 9, bytes: 200, awaitClose: false });
      await second.result;
      // Every one of those processes has ended: their slots come back, and the next program runs.
      let spawned: unknown;
      for (const deadline = Date.now() + 5000; ; ) {
        try {
          const h = await machine.partition(1).spawn(roles, { role: 'noop' });
          spawned = await h.result;
          break;
        } catch (e) {
          if ((e as { code?: string }).code !== 'EMFILE' || Date.now() > deadline) {
            spawned = `${(e as { code?: string }).code}: ${(e as Error).message}`;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      // Both at once: the close, and the slots (without the fix: 'pending', and EMFILE).
      expect({ close: r.close, spawned }).toEqual({ close: 'closed', spawned: 'ran' });
    } finally {
      await machine.close();
    }
  });

  it("a stream's destroy() behind its own unread writes closes the stream", async () => {
    const machine = await besideNonReader();
    try {
      // 240-byte chunks take 256-byte records: 16 fill each 4 KiB ring to its last byte.
      const h = await machine.partition(1).spawn(roles, { role: 'streamDestroyer', partition: 2, port: 9, bytes: 240, chunks: 48, giveUpMs: 200, closeWithinMs: 2000 });
      const r = (await h.result) as { close: string; closeMs: number; writableLength: number };
      expect(r.writableLength).toBeGreaterThan(0); // writes were still waiting for the ring
      expect(r.close).toBe('closed'); // without the fix: 'pending', the stream never closes
      expect(machine.stats().partitions[0].violations.total).toBe(0);
    } finally {
      await machine.close();
    }
  });
});
