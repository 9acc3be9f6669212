/**
 * Attack run 22a, case 127: ENDs waiting for a receive ring that is never read. When a channel's
 * other end closes, the hardware writes an END into the reader's receive ring; while that ring is
 * full the END waits in the engine (`pendingEnds`), at most one per channel end, and every round of
 * the engine tries it again. A partition that reads nothing, whose peer (an accomplice, or its own
 * other process) opens every channel it may have to it and closes them all, has one END per channel
 * slot waiting on one full ring, and each round tried every one of them: two claims apiece on a
 * ring that had room for none. Live, 2,046 of them (`channelsPerPartition` 4096) took the hardware
 * ~185 µs a round, 70% of its time, and round trips between two honest partitions fell from 6.8k–8.1k
 * to 1.5k–3.5k a second. Now a pass tries one END per full ring; the others wait without a claim.
 *
 * The first test is driven in process, so that the claims can be counted exactly: the real engine
 * serves the records a hostile partition and its accomplice write into their own ports. The second
 * attacks from inside partitions (the hostile OS) and checks that every END still arrives, once, in
 * order, once the reader reads, while the honest pair loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { DeliverBody, RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { waitFor, withBench } from './harness.js';

const SLOTS = 256;

describe('127: ENDs waiting on a full receive ring cost one claim a round, not one per END (attack run 22a)', () => {
  it('in process: 192 ENDs waiting on one unread ring, 100 idle rounds, 2 claims each; every END arrives once, in order, when it reads', () => {
    // Partition 1 (index 0) reads nothing; partition 2 (index 1), its accomplice, opens every channel it may and closes them.
    const options = resolveOptions({
      partitions: [{ id: 1 }, { id: 2 }],
      processesPerPartition: 1,
      channelsPerPartition: SLOTS,
      sendRingBytes: 4096,
      receiveRingBytes: 1024,
      maxMessageBytes: 64,
    });
    const hw = new Hardware(options);
    const [reader, closer] = hw.ports;
    for (const port of hw.ports) expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(hw.manager.listen(reader, 0, 9).ok).toBe(true);
    const accepted: number[] = [];
    const connected: number[] = [];
    for (;;) {
      const c = hw.manager.connect(closer, 0, 1, 9);
      if (!c.ok) break;
      const a = hw.manager.accept(reader, 0, 9);
      if (a instanceof Promise || !a.ok) throw new Error('accept failed');
      connected.push(c.handle);
      accepted.push(a.handle);
    }
    expect(accepted).toHaveLength(SLOTS);
    const tx = new RingProducer(queuePairRings(closer.buffer, options.geometry, 0).send);
    const settle = (): void => {
      for (let idle = 0; idle < 3; ) idle = hw.engine.round() > 0 ? 0 : idle + 1;
    };
    for (const handle of connected) {
      let at = tx.tryClaim(RecordType.CLOSE, SendBody.BYTES);
      if (at === FULL) {
        settle();
        at = tx.tryClaim(RecordType.CLOSE, SendBody.BYTES);
      }
      tx.u32[at >> 2] = handle;
      tx.u32[(at >> 2) + 1] = 0;
      tx.publish();
    }
    settle();
    // 64 ENDs of 16 bytes fill the 1 KiB ring; the other 192 wait.
    const pending = (hw.engine as unknown as { pendingEnds: number[] }).pendingEnds;
    expect(pending).toHaveLength(SLOTS - 64);

    // Count the claims on the reader's receive ring (the instance's own method, over the prototype's).
    const rx = reader.queuePairs[0].receive;
    const tryClaim = rx.tryClaim.bind(rx);
    let claims = 0;
    rx.tryClaim = (type: number, bodyBytes: number): number => {
      claims++;
      return tryClaim(type, bodyBytes);
    };
    let work = 0;
    for (let i = 0; i < 100; i++) work += hw.engine.round();
    expect(work).toBe(0);
    // One claim a round, and its retry once the ring's space flag is up (no lost wake-up); 38,400 before the change.
    expect(claims).toBe(200);

    // The reader reads: every END arrives once, in the order the closes were served, all clean closes.
    const consumer = new RingConsumer(queuePairRings(reader.buffer, options.geometry, 0).receive);
    const ends: Array<[number, number]> = [];
    const take = (): void => {
      expect(consumer.poll()).toBe(RecordType.END);
      ends.push([consumer.u32[(consumer.bodyOffset + DeliverBody.CHANNEL_OFFSET) >> 2], consumer.u32[(consumer.bodyOffset + DeliverBody.STATUS_OFFSET) >> 2]]);
      consumer.consume();
    };
    // Room for 3: the next pass writes exactly the next 3 waiting, then finds the ring full again.
    for (let i = 0; i < 3; i++) take();
    consumer.release();
    expect(hw.engine.round()).toBe(3);
    expect(pending).toHaveLength(SLOTS - 64 - 3);
    for (let turn = 0; turn < 20 && ends.length < SLOTS; turn++) {
      while (consumer.poll() > 0) {
        expect(consumer.recordType).toBe(RecordType.END);
        ends.push([consumer.u32[(consumer.bodyOffset + DeliverBody.CHANNEL_OFFSET) >> 2], consumer.u32[(consumer.bodyOffset + DeliverBody.STATUS_OFFSET) >> 2]]);
        consumer.consume();
      }
      consumer.release();
      settle();
    }
    expect(ends).toEqual(accepted.map((handle) => [handle, 0]));
    expect(pending).toHaveLength(0);
    for (const port of hw.ports) expect(readPartitionStats(hw.counters.values, port.index, port.id, '').violations.total).toBe(0);
  });

  it('from inside partitions: a reader that reads nothing, its 62 channels closed by its own other process; the honest pair moves, and the ENDs all arrive once it reads', async () => {
    const H = 3;
    await withBench({ hostile: [H], channelsPerPartition: 128 }, async (b) => {
      const os = b.os(H);
      for (const qp of [0, 1]) await os.open(qp);
      await os.listen(0, 9);
      const accepted: number[] = [];
      const connected: number[] = [];
      for (let i = 0; i < 62; i++) {
        const c = await os.connect(1, H, 9);
        const a = await os.accept(0, 9);
        if (!c.ok || !a.ok) throw new Error(JSON.stringify([c, a]));
        connected.push(c.handle);
        accepted.push(a.handle);
      }
      // Fill queue pair 0's 4 KiB receive ring with messages on the first channel, then close the other 61.
      expect(await os.sendMany(1, connected[0], 16, 240)).toBe(16);
      for (const handle of connected.slice(1)) while ((await os.close(1, handle)) === 'FULL') await new Promise((r) => setTimeout(r, 1));
      await waitFor('the closes served', async () => {
        const p = await os.sendPositions(1);
        return p.consumer === p.producer;
      });
      const since = b.honest.progress();
      await b.honest.advances(since, 64);
      const got: Array<{ type: number; channel: number; status: number }> = [];
      await waitFor('every record', async () => {
        got.push(...(await os.readReceive(0)));
        return got.length >= 16 + 61;
      });
      expect(got.slice(0, 16).every((r) => r.type === RecordType.DATA && r.channel === accepted[0])).toBe(true);
      expect(got.slice(16).map((r) => [r.type, r.channel, r.status])).toEqual(accepted.slice(1).map((h) => [RecordType.END, h, 0]));
      expect(await os.readReceive(0)).toEqual([]);
      expect(b.violations(H)).toEqual({});
      await b.honest.finish();
    });
  }, 120_000);
});
