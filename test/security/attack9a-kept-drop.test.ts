/**
 * THREATS.md case 81: dropping what the hardware kept aside for a receive ring cost a pass over
 * everything kept for that ring, once per end. A partition connects to itself (the policy always
 * lets a partition reach its own listener), 32 times, and sends empty messages on the 32 channels
 * in turn to its own receiving process, which reads nothing: the hardware keeps them aside (case
 * 51), up to its bound of twice the send ring per end, all in one queue for that receive ring. Then
 * the receiving process closes its 32 ends in one batch, or faults its queue pair. The attack run
 * (workers, default rings: 2 million messages, 16 MiB kept) held the hardware 1.1 s on the 32
 * CLOSEs, and an honest pair beside it moved nothing for 1.0 s; the same run with the change, 71 ms.
 *
 * Driven here in process, writing the records a hostile partition writes into its own port, so
 * that the hardware's work can be counted instead of timed: the messages its passes over a queue
 * read, by spying on KeptMessages' passes (whichever the code has: the old one-end removeTagged, or
 * removeStale and tagsInOrder), against the messages kept. Each answer is checked exactly too.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { KeptMessages } from '../../src/hardware/kept-messages.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { takeAnswers, type Answer } from '../completion-answers.js';

const ENDS = 32;
const SEND_RING = 4096;
/** Empty messages one end may keep: twice the send ring, 8 bytes each as kept (length and tag words). */
const PER_END = (2 * SEND_RING) / 8;
/** The receiving process's ring: 1024 bytes take 64 empty deliveries (16 bytes each), the rest is kept. */
const RECEIVE_RING = 1024;
const IN_RING = RECEIVE_RING / 16;

/** Messages KeptMessages' passes over a queue read (each pass reads every message the queue holds). */
let examined = 0;

function countPasses(): void {
  const proto = KeptMessages.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['removeTagged', 'removeStale', 'tagsInOrder']) {
    if (typeof proto[name] !== 'function') continue;
    const pass = proto[name];
    vi.spyOn(proto, name).mockImplementation(function (this: KeptMessages, ...args: unknown[]) {
      examined += this.count;
      return pass.apply(this, args);
    });
  }
}

afterEach(() => {
  vi.restoreAllMocks();
  examined = 0;
});

/** Partition 1, hostile: queue pair 0 sends on 32 channels to its own queue pair 1, which reads nothing. */
function scene() {
  const options = resolveOptions({
    partitions: [{ id: 1 }],
    processesPerPartition: 2,
    channelsPerPartition: 2 * ENDS,
    sendRingBytes: SEND_RING,
    receiveRingBytes: RECEIVE_RING,
    maxMessageBytes: 64,
  });
  const hw = new Hardware(options);
  const [port] = hw.ports;
  for (const qp of [0, 1]) expect(hw.manager.openQueuePair(port, qp).ok).toBe(true);
  expect(hw.manager.listen(port, 1, 9).ok).toBe(true);
  const senders: number[] = [];
  const receivers: number[] = [];
  for (let i = 0; i < ENDS; i++) {
    const c = hw.manager.connect(port, 0, 1, 9);
    const a = hw.manager.accept(port, 1, 9);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    senders.push(c.handle);
    receivers.push(a.handle);
  }
  const rings = (qp: number) => queuePairRings(port.buffer, options.geometry, qp);
  const tx = [new RingProducer(rings(0).send), new RingProducer(rings(1).send)];
  const completions = [new RingConsumer(rings(0).completion), new RingConsumer(rings(1).completion)];
  const answers: Answer[][] = [[], []];
  /** Run rounds until three in a row do nothing (a round publishes what the one before wrote), reading both completion rings as a process would. */
  const settle = (): void => {
    for (let idle = 0; idle < 3; ) {
      idle = hw.engine.round() > 0 ? 0 : idle + 1;
      for (const qp of [0, 1]) answers[qp].push(...takeAnswers(completions[qp]));
    }
  };
  /** Empty SENDs on the 32 channels in turn, as fast as the send ring takes them, until the ring stops moving. */
  const flood = (): number => {
    let written = 0;
    for (;;) {
      let claimed = 0;
      for (; written < ENDS * (PER_END + IN_RING); written++, claimed++) {
        const at = tx[0].tryClaim(RecordType.SEND, SendBody.BYTES);
        if (at === FULL) break;
        tx[0].u32[at >> 2] = senders[written % ENDS];
        tx[0].u32[(at >> 2) + 1] = 0;
      }
      tx[0].publish();
      const before = stats().sent + stats().kept;
      settle();
      if (claimed === 0 && stats().sent + stats().kept === before) return written;
    }
  };
  const stats = () => readPartitionStats(hw.counters.values, 0, 1, '');
  const sum = (qp: number, status: number, opcode: number): number =>
    answers[qp].filter((a) => a.status === status && a.opcode === opcode).reduce((n, a) => n + a.count, 0);
  return { hw, tx, receivers, settle, flood, stats, answers, sum };
}

describe('81: dropping many ends\' kept messages costs one pass over what is kept, not one per end', () => {
  it('81: the reader closes its 32 ends in one batch: its passes read at most 4 times what was kept (16.5 times before); every kept message is answered ECLOSED', () => {
    const s = scene();
    const written = s.flood();
    const kept = s.stats().kept;
    // Every end at its bound: the receive ring's 64, then PER_END each kept, and the one that did not fit waits at the head.
    expect(kept).toBe(ENDS * PER_END);
    expect(s.stats()).toMatchObject({ delivered: IN_RING, sendErrors: 0 });
    countPasses();
    for (const handle of s.receivers) {
      const at = s.tx[1].tryClaim(RecordType.CLOSE, SendBody.BYTES);
      s.tx[1].u32[at >> 2] = handle;
      s.tx[1].u32[(at >> 2) + 1] = 0;
    }
    s.tx[1].publish();
    s.settle();
    expect(examined).toBeLessThanOrEqual(4 * kept);
    // The closes are acknowledged, and every message written is delivered or refused ECLOSED (the kept, then the rest).
    expect(s.sum(1, Status.OK, RecordType.CLOSE)).toBe(ENDS);
    expect(s.sum(0, Status.ECLOSED, RecordType.SEND)).toBe(written - IN_RING);
    expect(s.stats()).toMatchObject({ kept: 0, delivered: IN_RING, sent: IN_RING, sendErrors: written - IN_RING });
    expect(s.stats().violations.total).toBe(0);
    expect(s.hw.engine.kept.queuePairs).toBe(0);
  });

  it('81: the reader faults its queue pair (a record of length 3): one pass over what was kept; every kept message is answered EFAULT', () => {
    const s = scene();
    const written = s.flood();
    const kept = s.stats().kept;
    expect(kept).toBe(ENDS * PER_END);
    countPasses();
    const at = s.tx[1].tryClaim(RecordType.CLOSE, SendBody.BYTES);
    s.tx[1].u32[(at - 8) >> 2] = 3; // the record's length word: shorter than a header
    s.tx[1].publish();
    s.settle();
    expect(examined).toBeLessThanOrEqual(kept);
    expect(s.stats().violations).toMatchObject({ total: 1, badLength: 1 });
    expect(s.sum(0, Status.EFAULT, RecordType.SEND)).toBe(written - IN_RING);
    expect(s.stats()).toMatchObject({ kept: 0, delivered: IN_RING, sent: IN_RING, sendErrors: written - IN_RING });
    expect(s.hw.engine.kept.queuePairs).toBe(0);
  });

  it('81: dropped messages behind a kept one that waits are skipped, never delivered, and what comes after arrives in order', () => {
    const s = scene();
    s.flood();
    // Close the ends of channels 1..31; channel 0's kept messages stay, the others' are left in place behind them.
    for (const handle of s.receivers.slice(1)) {
      const at = s.tx[1].tryClaim(RecordType.CLOSE, SendBody.BYTES);
      s.tx[1].u32[at >> 2] = handle;
      s.tx[1].u32[(at >> 2) + 1] = 0;
    }
    s.tx[1].publish();
    s.settle();
    expect(s.stats().kept).toBe(PER_END);
    // The reader reads at last: exactly channel 0's messages arrive, every one of them, and nothing of the others.
    const rx = new RingConsumer(queuePairRings(s.hw.ports[0].buffer, s.hw.ports[0].geometry, 1).receive);
    const seen = new Map<number, number>();
    for (let round = 0; round < 10_000 && s.stats().kept > 0; round++) {
      for (let t = rx.poll(); t > 0; t = rx.poll()) {
        if (t === RecordType.DATA) {
          const channel = rx.u32[rx.bodyOffset >> 2];
          seen.set(channel, (seen.get(channel) ?? 0) + 1);
        }
        rx.consume();
      }
      rx.release();
      s.settle();
    }
    expect(s.stats().kept).toBe(0);
    // What the ring held before (two of each channel) was read too: channel 0's PER_END kept come after.
    expect(seen.get(s.receivers[0])).toBe(2 + PER_END);
    for (const handle of s.receivers.slice(1)) expect(seen.get(handle) ?? 0).toBe(2);
    expect(s.stats().violations.total).toBe(0);
  });
});
