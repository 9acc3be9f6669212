/**
 * THREATS.md case 102: the hardware held every restarted partition's old port for as long as a
 * message of that run had once been kept for some channel end. What the hardware keeps aside for
 * a full receive ring (case 51) records, per receiving end, the queue pair that sent it, so that a
 * drop can still answer that sender; the record stayed after the last kept message went, until the
 * end next kept something. A queue pair holds its port, and a port its SharedArrayBuffer (every
 * ring of the partition: ~4 MiB at the default geometry). A partition that crashes in a loop under
 * an operator that restarts it (a supervisor: `partitionExit` → `restart()`) and, in each run, has
 * one message kept on a fresh end of an accomplice (or of an honest reader that reads slowly), left
 * the hardware one old port per run, held for good, outside its heap limit.
 *
 * Driven in process (the real Hardware, restartPartition as the operator's restart() calls it),
 * writing the records a hostile partition writes into its own port, and reading with a collected
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
  /** The accomplice reads everything its ring holds; how many messages. */
  const read = (): number => {
    let n = 0;
    for (let t = inbox.poll(); t > 0; t = inbox.poll()) {
      if (t === RecordType.DATA) n++;
      inbox.consume();
    }
    inbox.release();
    return n;
  };

  /**
   * One run of the attacker: two channels to the accomplice, which reads nothing meanwhile; a SEND
   * on the first until one waits at its head, then one on the second behind it: the hardware keeps
   * the first aside. Then the accomplice reads them all (nothing stays kept), and keeps its ends open.
   */
  const run = (): void => {
    keepOneAside(scene, ATTACKER, ACCOMPLICE);
    let got = 0;
    for (let turn = 0; turn < 100 && (stats(ACCOMPLICE).kept > 0 || got === 0); turn++) {
      got += read();
      settle();
    }
    got += read();
    expect(stats(ACCOMPLICE).kept).toBe(0);
    expect(stats(ATTACKER).sendErrors).toBe(0);
  };
  return { hw, run };
}

describe('102: a restarted partition\'s old port is not held by what the hardware once kept from it', () => {
  it('102: six runs of a partition, each with messages once kept at an accomplice that read them all, then restarted: no old run\'s port stays reachable (all six before)', async () => {
    const s = scene();
    const held = await oldPortsHeld(s.hw, ATTACKER, RUNS, () => s.run());
    expect(held.filter(Boolean).length).toBe(0);
  });
});
