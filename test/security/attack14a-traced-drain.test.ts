/**
 * Attack run 14a, tracing on against off (THREATS case 100): a lowered flood's drain is the
 * receiving queue pair that at least half of a saturated serve was delivered to
 * (`HardwareQueuePair.floodDestination`, case 98). The engine counted those deliveries only in its
 * runs (sendRun()), which a traced machine never takes: every SEND there goes one at a time
 * through sendTraced(). So with tracing on a flood named no drain at all, and the partition that
 * drains it stayed at nice 0, polling for the lowered sender on the core the round trips were to
 * get: the dispatch priority of case 95 was off for anyone who profiled a flood.
 *
 * Driven in process, as attack12-stale-drain.test.ts is: the real engine (traced, or not) serves
 * the flooder's SENDs to its accomplice, written into the flooder's own port as a hostile
 * partition writes them; the round trips are the review's counts, moved by hand; each port's
 * thread word names a real idle thread of this process, whose nice value the kernel reports.
 */
import { getPriority } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { DEMOTED_NICE, DispatchPriority } from '../../src/hardware/dispatch-priority.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { allocateTraceRing } from '../../src/shared/trace-ring.js';
import { takeAnswers } from '../completion-answers.js';
import { startThread, stopThreads } from '../kernel-threads.js';

afterEach(stopThreads);

describe.runIf(DispatchPriority.available())('100: a traced flood names its drain as an untraced one does (attack run 14a)', () => {
  it.each([false, true])('traced %s: the flood saturates, names its drain, and the drain goes down with the lowered flooder', async (traced) => {
    // Partitions 1 (the flooder), 2 (its drain, which reads everything), 3 (makes round trips).
    const input = {
      partitions: [{ id: 1 }, { id: 2 }, { id: 3 }],
      processesPerPartition: 1,
      channelsPerPartition: 4,
      sendRingBytes: 4096,
      receiveRingBytes: 4096,
      maxMessageBytes: 64,
    };
    const options = resolveOptions(traced ? { ...input, trace: { sample: 64, records: 1024 } } : input);
    const hw = traced ? new Hardware(options, { ports: [], counters: undefined as unknown as SharedArrayBuffer, trace: allocateTraceRing(1024) }) : new Hardware(options);
    expect(hw.engine.tracer !== undefined).toBe(traced);
    const [flooder, drain, roundTripper] = hw.ports;
    for (const port of hw.ports) expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
    expect(hw.manager.listen(drain, 0, 9).ok).toBe(true);
    const c = hw.manager.connect(flooder, 0, drain.id, 9);
    const a = hw.manager.accept(drain, 0, 9);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    const rings = (port: typeof drain) => queuePairRings(port.buffer, options.geometry, 0);
    const tx = new RingProducer(rings(flooder).send);
    const completions = new RingConsumer(rings(flooder).completion);
    const reader = new RingConsumer(rings(drain).receive);
    let received = 0;
    const read = (): void => {
      while (reader.poll() > 0) {
        reader.consume();
        received++;
      }
      reader.release();
    };
    const write = (): boolean => {
      const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + 8);
      if (at === FULL) return false;
      tx.u32[at >> 2] = c.handle;
      tx.u32[(at >> 2) + 1] = 0;
      return true;
    };

    const threads = await Promise.all(hw.ports.map(() => startThread()));
    const words = threads.map((thread) => {
      const word = new SharedArrayBuffer(4);
      new Int32Array(word)[0] = thread;
      return word;
    });
    const dispatch = new DispatchPriority(words, hw.counters);
    const highest = threads.map(() => 0);
    let named = 0;
    let last = performance.now();
    const end = last + 300;
    while (performance.now() < end) {
      const t = performance.now();
      // The flood: more than a round's budget each time, all of it delivered to the drain.
      for (let i = 0; i < 2 * options.budgetPerRound && write(); i++);
      tx.publish();
      hw.engine.round();
      if (flooder.queuePairs[0].floodDestination === drain.queuePairs[0]) named++;
      hw.engine.round();
      read();
      // Round trips elsewhere; the drain reads what the flood feeds it (topped up by hand, so that a
      // slow step under load still counts as draining a stream).
      roundTripper.lightServes++;
      hw.counters.delivered(drain.index, Math.ceil((t - last) * 100), 0);
      last = t;
      dispatch.review(hw.ports);
      threads.forEach((thread, i) => (highest[i] = Math.max(highest[i], getPriority(thread))));
      await new Promise((r) => setTimeout(r, 3));
    }
    expect(takeAnswers(completions)).toEqual([]);
    const stats = readPartitionStats(hw.counters.values, flooder.index, flooder.index + 1, '');
    expect(stats.violations.total).toBe(0);
    expect(stats.sent).toBe(received);
    expect(received).toBeGreaterThan(1000);
    // Every saturated serve named the drain (none did traced, before the fix).
    expect(flooder.queuePairs[0].saturatedServes).toBeGreaterThan(5);
    expect(named).toBeGreaterThan(5);
    // The flooder is lowered, and its drain with it; the round trips keep their priority (traced, the drain stayed at 0).
    expect(highest).toEqual([DEMOTED_NICE, DEMOTED_NICE, 0]);
  });
});
