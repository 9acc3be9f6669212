/**
 * Attack run 21b: what other queue pairs' lookups name held a restarted partition's old port. Each
 * queue pair keeps the lookups of the channel its last SEND named, its destination queue pair among
 * them (`lookupDestination`), and the receiving queue pair its last saturated serve delivered to
 * (`floodDestination`, THREATS case 98); a channel's close or a partition's end makes them stale by a
 * generation, never clears them, and the engine's list of rings to publish kept its last entries
 * too. A queue pair holds its port, and a port its SharedArrayBuffer (every ring of the partition:
 * ~4 MiB at the default geometry). A partition restarted in a loop (an operator's supervisor:
 * `partitionExit` → `restart()`) whose accomplice sent to each run from a fresh queue pair left the
 * hardware one old port per queue pair of the accomplice, twice over, outside its heap limit (as
 * case 102 did through kept messages).
 *
 * Driven in process (the real Hardware, restartPartition as the operator's restart() calls it),
 * writing the records a hostile partition writes into its own port, and reading with a collected
 * WeakRef whether anything still holds each old run's port.
 */
import { describe, expect, it } from 'vitest';
import { closedEndpoint, gc, inProcessHardware, oldPortsHeld } from './in-process-restart.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { RingConsumer, RingProducer } from '../../src/shared/ring.js';

const RUNS = 6;
const RESTARTED = 0;
const ACCOMPLICE = 1;
const ELSEWHERE = 2;
const BUDGET = 8;

function scene() {
  const { options, hw, stats, settle } = inProcessHardware({
    partitions: [{ id: 1 }, { id: 2 }, { id: 3 }],
    processesPerPartition: 8,
    channelsPerPartition: 16,
    sendRingBytes: 4096,
    receiveRingBytes: 4096,
    maxMessageBytes: 64,
    budgetPerRound: BUDGET,
  });
  const accomplice = hw.ports[ACCOMPLICE];
  const elsewhere = hw.ports[ELSEWHERE];
  expect(hw.manager.openQueuePair(elsewhere, 0).ok).toBe(true);
  expect(hw.manager.listen(elsewhere, 0, 9).ok).toBe(true);
  const elsewhereInbox = new RingConsumer(queuePairRings(elsewhere.buffer, options.geometry, 0).receive);
  const drain = (inbox: RingConsumer): number => {
    let n = 0;
    for (let t = inbox.poll(); t > 0; t = inbox.poll()) {
      if (t === RecordType.DATA) n++;
      inbox.consume();
    }
    inbox.release();
    return n;
  };
  const tx: RingProducer[] = [];
  const send = (q: number, handle: number, n: number): void => {
    tx[q] ??= new RingProducer(queuePairRings(accomplice.buffer, options.geometry, q).send);
    for (let i = 0; i < n; i++) {
      const at = tx[q].tryClaim(RecordType.SEND, SendBody.BYTES + 8);
      if (at < 0) throw new Error('send ring full');
      tx[q].u32[at >> 2] = handle;
      tx[q].u32[(at >> 2) + 1] = 0;
    }
    tx[q].publish();
    settle();
  };

  /**
   * Run k of the restarted partition: it listens; the accomplice's queue pair k connects and sends
   * to it (one message, or from run RUNS/2 on a saturating flood and then one message elsewhere, so
   * only the flood's drain names the run); the run reads everything.
   */
  const run = (k: number): void => {
    const port = hw.ports[RESTARTED];
    expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(hw.manager.listen(port, 0, 7).ok).toBe(true);
    expect(hw.manager.openQueuePair(accomplice, k).ok).toBe(true);
    const c = hw.manager.connect(accomplice, k, 1, 7);
    const a = hw.manager.accept(port, 0, 7);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    const before = stats(RESTARTED).delivered;
    const flood = k >= RUNS / 2;
    send(k, c.handle, flood ? 3 * BUDGET : 1);
    expect(stats(RESTARTED).delivered - before).toBe(flood ? 3 * BUDGET : 1);
    expect(drain(new RingConsumer(queuePairRings(port.buffer, options.geometry, 0).receive))).toBe(flood ? 3 * BUDGET : 1);
    if (flood) {
      expect(accomplice.queuePairs[k].floodDestination?.port).toBe(port);
      const other = hw.manager.connect(accomplice, k, 3, 9);
      const b = hw.manager.accept(elsewhere, 0, 9);
      if (!other.ok || b instanceof Promise || !b.ok) throw new Error('set-up failed');
      send(k, other.handle, 1);
      expect(drain(elsewhereInbox)).toBe(1);
    }
  };
  return { hw, run };
}

describe('122: a restarted partition\'s old port is not held by the lookups other queue pairs keep', () => {
  it('122: six runs, each sent to by a fresh queue pair of an accomplice (three with one message, three with a saturating flood and then one message elsewhere), then restarted: no old run\'s port stays reachable', async () => {
    const s = scene();
    const held = await oldPortsHeld(s.hw, RESTARTED, RUNS, (k) => s.run(k));
    console.log('122 old ports held', JSON.stringify(held));
    expect(held).toEqual(new Array(RUNS).fill(false));
  });

  it('122: a run sent one message by a queue pair that sends nothing after, then restarted: its old port is not reachable', async () => {
    const s = scene();
    s.run(0);
    const old = new WeakRef(s.hw.ports[RESTARTED].buffer);
    s.hw.restartPartition(RESTARTED, closedEndpoint());
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
    expect(old.deref() === undefined).toBe(true);
  });
});
