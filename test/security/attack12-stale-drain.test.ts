/**
 * Attack run 12, the dispatch priority (wave 25, THREATS case 95): a lowered flood's drain is found
 * through the channel each of the flooder's saturating queue pairs "last sent on", which the review
 * reads from the engine's lookup cache (`HardwareQueuePair.lookupDestination`). That cache is made
 * stale by a generation number when a channel closes, never cleared, and a SEND the engine refuses
 * (a closed handle: `ECLOSED`, no violation) still counts toward a saturated serve. So a hostile
 * partition sends one message to a victim, closes that channel, and floods its own send ring with
 * SENDs on the closed handle: none of it reaches anyone, yet its queue pair saturates and still
 * names the victim as its destination. With round trips elsewhere the flooder is lowered, and the
 * victim, fed 100 messages a millisecond by somebody else in light serves (case 95's honest feed),
 * is lowered with it "as its drain": the hole case 95 closed, reached through a stale cache.
 *
 * Driven in process: the real engine serves the flooder's records (written into its own port, as a
 * hostile partition writes them) and the victim's one message; the round trips and the victim's
 * feed are the review's counts, moved by hand as test/dispatch-review.test.ts does for case 95;
 * each port's thread word names a real idle thread of this process, whose nice value the kernel
 * reports.
 */
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { DEMOTED_NICE, DispatchPriority } from '../../src/hardware/dispatch-priority.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { takeAnswers } from '../completion-answers.js';
import { startThread, stopThreads } from '../kernel-threads.js';

afterEach(stopThreads);

describe.runIf(DispatchPriority.available())('98: a flood names as its drain only where it went (attack run 12)', () => {
  /**
   * `closed`: one message to the victim, then the channel's CLOSE, then SENDs on the closed handle.
   * `other`: the channel to the victim stays open; the SENDs name a second channel, closed.
   * `last`: the flood goes to an accomplice (partition 5), and after each flood one message goes to the
   * victim, so that the lookups name the victim whenever the review looks.
   */
  it.each(['closed', 'other', 'last'] as const)('%s: a victim fed by someone else is not lowered as the drain of a flood that did not go to it', async (mode) => {
    // Partitions 1 (hostile flooder), 2 (victim), 3 (makes round trips), 4 (feeds the victim), 5 (the flooder's accomplice).
    const options = resolveOptions({
      partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }, { id: 5 }],
      processesPerPartition: 1,
      channelsPerPartition: 4,
      sendRingBytes: 4096,
      receiveRingBytes: 4096,
      maxMessageBytes: 64,
    });
    const hw = new Hardware(options);
    const [hostile, victim, roundTripper, , accomplice] = hw.ports;
    for (const port of hw.ports) expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    const channel = (to: typeof victim): number => {
      expect(hw.manager.listen(to, 0, 9).ok).toBe(true);
      const c = hw.manager.connect(hostile, 0, to.id, 9);
      const a = hw.manager.accept(to, 0, 9);
      if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
      expect(hw.manager.unlisten(to, 0, 9).ok).toBe(true);
      return c.handle;
    };
    const toVictim = channel(victim);
    const toAccomplice = channel(accomplice);
    const rings = (port: typeof victim) => queuePairRings(port.buffer, options.geometry, 0);
    const tx = new RingProducer(rings(hostile).send);
    const completions = new RingConsumer(rings(hostile).completion);
    // The receivers read everything (what their rings hold is dropped here: only the counts matter).
    const readers = [victim, accomplice].map((port) => new RingConsumer(rings(port).receive));
    const read = (): void => {
      for (const r of readers) {
        while (r.poll() > 0) r.consume();
        r.release();
      }
    };
    const write = (type: number, handle: number, bytes = 0): boolean => {
      const at = tx.tryClaim(type, SendBody.BYTES + bytes);
      if (at === FULL) return false;
      tx.u32[at >> 2] = handle;
      tx.u32[(at >> 2) + 1] = 0;
      return true;
    };
    const step = (): void => {
      tx.publish();
      hw.engine.round();
      hw.engine.round();
      read();
    };
    // One message to the victim: the flooder's lookups name it from now on.
    write(RecordType.SEND, toVictim, 8);
    step();
    if (mode === 'closed') write(RecordType.CLOSE, toVictim);
    if (mode === 'other') write(RecordType.CLOSE, toAccomplice);
    step();
    const refusedHandle = mode === 'closed' ? toVictim : toAccomplice;
    takeAnswers(completions);

    const threads = await Promise.all(hw.ports.map(() => startThread()));
    const words = threads.map((thread) => {
      const word = new SharedArrayBuffer(4);
      new Int32Array(word)[0] = thread;
      return word;
    });
    const dispatch = new DispatchPriority(words, hw.counters);
    const highest = threads.map(() => 0);
    let refused = 0;
    let flooded = 0;
    let last = performance.now();
    const end = last + 300;
    // At least 300 ms of reviews and at least 6,000 SENDs of flood: a loaded host runs fewer turns
    // of this loop in 300 ms (1,900–4,900 SENDs refused with six busy loops beside it). The deadline only
    // keeps a broken engine from holding the test.
    const deadline = last + 20_000;
    while ((performance.now() < end || flooded < 6000) && performance.now() < deadline) {
      const t = performance.now();
      // The flood, more than a round's budget each time: refused SENDs, or (last) SENDs to the accomplice.
      for (let i = 0; i < 2 * options.budgetPerRound && write(RecordType.SEND, mode === 'last' ? toAccomplice : refusedHandle); i++) flooded++;
      step();
      if (mode === 'last') {
        write(RecordType.SEND, toVictim, 8);
        step();
      }
      for (const answer of takeAnswers(completions)) if (answer.status === Status.ECLOSED) refused += answer.count;
      // Round trips elsewhere; the victim fed 100 messages a millisecond by partition 4, in light serves.
      roundTripper.lightServes++;
      hw.counters.delivered(victim.index, Math.ceil((t - last) * 100), 0);
      last = t;
      dispatch.review(hw.ports);
      threads.forEach((thread, i) => (highest[i] = Math.max(highest[i], getPriority(thread))));
      await new Promise((r) => setTimeout(r, 3));
    }
    const stats = readPartitionStats(hw.counters.values, hostile.index, hostile.index + 1, '');
    expect(stats.violations.total).toBe(0);
    if (mode === 'last') expect(stats.sent).toBeGreaterThan(5000);
    else {
      // The flood went nowhere: every SEND of it refused ECLOSED; the victim got the one message.
      expect(refused).toBeGreaterThan(5000);
      expect(stats).toMatchObject({ sent: 1, sendErrors: refused });
    }
    // The flooder is lowered; the victim, which none of its flood reached, is not (19 before the fix).
    expect([highest[0], highest[1]]).toEqual([DEMOTED_NICE, 0]);
  });
});
