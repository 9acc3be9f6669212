/**
 * Attack run 21b, THREATS case 123 (case 102 while the messages are still kept): what the hardware
 * keeps aside for a full receive ring (case 51) records, per receiving end, the queue pair that sent
 * it, so that a drop can still answer that sender. Case 102 lets go of it once the end's last kept
 * message went; while a message stays kept (a reader that reads nothing) the record held the queue
 * pair, its port, and the port's SharedArrayBuffer (every ring of the partition: ~4 MiB at the
 * default geometry) after the partition's run ended, though nothing can be answered there any more.
 * A partition that crashes in a loop under an operator that restarts it, with one message kept in
 * each run at a fresh end of an accomplice that never reads, left the hardware one old port per run,
 * up to one per channel end of the accomplice.
 *
 * Driven in process as case 102's test (attack14b-sender-pinned.test.ts), reading with a collected
 * WeakRef whether anything still holds each old run's port.
 */
import { describe, expect, it } from 'vitest';
import { inProcessHardware, keepOneAside, oldPortsHeld } from './in-process-restart.js';
import { RecordType } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { RingConsumer } from '../../src/shared/ring.js';

const RUNS = 6;
const ATTACKER = 0;
const ACCOMPLICE = 1;
function scene() {
  const scene = inProcessHardware({
    partitions: [{ id: 1 }, { id: 2 }],
    processesPerPartition: 2,
    channelsPerPartition: 64,
    sendRingBytes: 4096,
    receiveRingBytes: 1024,
    maxMessageBytes: 64,
  });
  const { options, hw, stats, settle } = scene;
  const accomplice = hw.ports[ACCOMPLICE];
  expect(hw.manager.openQueuePair(accomplice, 0).ok).toBe(true);
  expect(hw.manager.listen(accomplice, 0, 7).ok).toBe(true);
  const inbox = new RingConsumer(queuePairRings(accomplice.buffer, options.geometry, 0).receive);
  /** What the accomplice finds in its ring at the end (it reads nothing before): END and DATA records. */
  const read = (): Record<number, number> => {
    const n: Record<number, number> = {};
    for (let t = inbox.poll(); t > 0; t = inbox.poll()) {
      n[t] = (n[t] ?? 0) + 1;
      inbox.consume();
    }
    inbox.release();
    return n;
  };

  /**
   * One run of the attacker: two channels to the accomplice, which reads nothing meanwhile; a SEND
   * on the first until one waits at its head, then one on the second behind it: the hardware keeps
   * the first aside. The accomplice reads nothing: the message stays kept, and its ends stay open.
   */
  const run = (): void => {
    keepOneAside(scene, ATTACKER, ACCOMPLICE);
    expect(stats(ATTACKER).sendErrors).toBe(0);
  };
  return { hw, run, read, stats, settle };
}

describe('123: a restarted partition\'s old port is not held by its messages still kept for a reader', () => {
  it('123: six runs of a partition, each with a message kept at an accomplice that reads nothing, then restarted: no old run\'s port stays reachable, and the kept messages still arrive, counted on the partition', async () => {
    const s = scene();
    const held = await oldPortsHeld(s.hw, ATTACKER, RUNS, () => s.run());
    expect(s.stats(ACCOMPLICE).kept).toBe(RUNS);
    console.log('123 old ports held', JSON.stringify(held));
    expect(held).toEqual(new Array(RUNS).fill(false));
    // What was kept still reaches the reader once it reads, counted as the partition's.
    const sent = s.stats(ATTACKER).sent;
    const found: Record<number, number> = {};
    for (let turn = 0; turn < 100 && s.stats(ACCOMPLICE).kept > 0; turn++) {
      for (const [t, n] of Object.entries(s.read())) found[Number(t)] = (found[Number(t)] ?? 0) + n;
      s.settle();
    }
    for (const [t, n] of Object.entries(s.read())) found[Number(t)] = (found[Number(t)] ?? 0) + n;
    expect(s.stats(ACCOMPLICE).kept).toBe(0);
    expect(s.stats(ATTACKER).sent).toBe(sent + RUNS);
    expect(s.stats(ATTACKER).sendErrors).toBe(0);
    expect(found[RecordType.END]).toBe(2 * RUNS);
  });
});
