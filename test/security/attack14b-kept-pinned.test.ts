/**
 * THREATS.md case 101: a receive ring's kept-message buffer stayed as large as it had ever grown
 * once the ends that filled it were closed. The hardware keeps what a full receive ring cannot take
 * in one buffer per receiving queue pair (case 51), which doubles as it fills; it went back down as
 * its messages went into the ring (KeptMessages.shift), but not when a reader's closed ends took
 * theirs out in one pass (case 81's KeptDeliveries.compact → KeptMessages.removeStale). A partition
 * that connects to itself fills one receiving process's buffer from 24 channels, leaves one message
 * of one more channel kept (never read), and closes the 24: the buffer holds that one message and
 * keeps every byte it grew to. Then the next receiving process, and the next: each pins its peak,
 * so a partition's kept buffers pinned its process slots times the bound the hardware documents
 * for all of them (options.ts `hardwareHeapMb`: twice the send ring per end, up to twice that
 * while a buffer grows), outside the hardware's heap limit.
 *
 * Driven in process, as case 81's test is, writing the records a hostile partition writes into its
 * own port, so that the buffers can be read (the hardware worker's memory cannot be, from a test).
 */
import { describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { FIRST_KEPT_BYTES } from '../../src/hardware/kept-messages.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { takeAnswers, type Answer } from '../completion-answers.js';

const SEND_RING = 4096;
const RECEIVE_RING = 1024;
const PAYLOAD = 56;
/** Channels each round floods, then closes. */
const FLOOD = 24;
/** Receiving processes, one a round (queue pairs 1..7; queue pair 0 sends). */
const RECEIVERS = 7;

function scene() {
  const options = resolveOptions({
    partitions: [{ id: 1 }],
    processesPerPartition: RECEIVERS + 1,
    channelsPerPartition: 64,
    sendRingBytes: SEND_RING,
    receiveRingBytes: RECEIVE_RING,
    maxMessageBytes: 64,
  });
  const hw = new Hardware(options);
  const [port] = hw.ports;
  for (let qp = 0; qp <= RECEIVERS; qp++) expect(hw.manager.openQueuePair(port, qp).ok).toBe(true);
  const rings = (qp: number) => queuePairRings(port.buffer, options.geometry, qp);
  const tx = Array.from({ length: RECEIVERS + 1 }, (_, qp) => new RingProducer(rings(qp).send));
  const completions = Array.from({ length: RECEIVERS + 1 }, (_, qp) => new RingConsumer(rings(qp).completion));
  const answers: Answer[][] = completions.map(() => []);
  const settle = (): void => {
    for (let idle = 0; idle < 3; ) {
      idle = hw.engine.round() > 0 ? 0 : idle + 1;
      completions.forEach((c, qp) => answers[qp].push(...takeAnswers(c)));
    }
  };
  const stats = () => readPartitionStats(hw.counters.values, 0, 1, '');
  /** Write one work request on queue pair `qp`'s send ring; false when the ring has no room. */
  const write = (qp: number, type: number, handle: number, payload = 0): boolean => {
    const at = tx[qp].tryClaim(type, SendBody.BYTES + payload);
    if (at === FULL) return false;
    tx[qp].u32[at >> 2] = handle;
    tx[qp].u32[(at >> 2) + 1] = 0;
    tx[qp].u8.fill(7, at + SendBody.BYTES, at + SendBody.BYTES + payload);
    return true;
  };
  const connect = (receiver: number, service: number): { sender: number; receiver: number } => {
    const c = hw.manager.connect(port, 0, 1, service);
    const a = hw.manager.accept(port, receiver, service);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error(`set-up failed: ${JSON.stringify(c)} ${JSON.stringify(a)}`);
    return { sender: c.handle, receiver: a.handle };
  };
  /** The buffer that holds what is kept for queue pair `qp`'s receive ring (0: none). */
  const keptCapacity = (qp: number): number => hw.engine.kept.queueOf(port.queuePairs[qp])?.capacity ?? 0;

  /**
   * One round against receiving queue pair `r`: fill its ring, keep one message of a channel left
   * open, then flood FLOOD channels to their bound, and close them at both ends.
   */
  const round = (r: number): void => {
    expect(hw.manager.listen(port, r, r).ok).toBe(true);
    const live = connect(r, r);
    const flood = Array.from({ length: FLOOD }, () => connect(r, r));
    // The ring fills with the first flooded channel's messages, one at a time, until one waits at the head.
    for (let before = -1; stats().delivered !== before; ) {
      before = stats().delivered;
      expect(write(0, RecordType.SEND, flood[0].sender, PAYLOAD)).toBe(true);
      tx[0].publish();
      settle();
    }
    // The live channel's one message behind it, and another channel's behind that: the head is kept
    // aside, and the live one joins it (the last waits at the head, nothing behind it).
    const keptBefore = stats().kept;
    expect(write(0, RecordType.SEND, live.sender, PAYLOAD)).toBe(true);
    expect(write(0, RecordType.SEND, flood[1].sender, PAYLOAD)).toBe(true);
    tx[0].publish();
    settle();
    expect(stats().kept).toBe(keptBefore + 2);
    // The flood, round robin, until nothing more moves (each channel at its bound, one waiting at the head).
    for (let i = 2; ; ) {
      let claimed = 0;
      while (write(0, RecordType.SEND, flood[i++ % FLOOD].sender, PAYLOAD)) claimed++;
      i--;
      tx[0].publish();
      const before = stats().kept;
      settle();
      if (claimed === 0 && stats().kept === before) break;
    }
    expect(keptCapacity(r)).toBeGreaterThan(8 * FIRST_KEPT_BYTES);
    // The reader closes the flooded ends: their kept messages go (case 81's one pass), and the one
    // waiting at the sender's head is refused; then the sender closes its ends.
    for (const c of flood) expect(write(r, RecordType.CLOSE, c.receiver)).toBe(true);
    tx[r].publish();
    settle();
    for (const c of flood) expect(write(0, RecordType.CLOSE, c.sender)).toBe(true);
    tx[0].publish();
    settle();
    expect(hw.manager.unlisten(port, r, r).ok).toBe(true);
  };
  return { hw, port, round, stats, answers, keptCapacity };
}

describe('101: a receive ring\'s kept-message buffer goes back down when closed ends take their messages out', () => {
  it('101: seven receiving processes, each left with one kept message of 64 bytes after 24 flooded ends closed, each pin at most the first buffer (256 KiB each before)', () => {
    const s = scene();
    for (let r = 1; r <= RECEIVERS; r++) {
      s.round(r);
      // What this ring keeps now: the live channel's one message.
      expect(s.hw.engine.kept.queueOf(s.port.queuePairs[r])?.count).toBe(1);
    }
    expect(s.stats().kept).toBe(RECEIVERS);
    const pinned = Array.from({ length: RECEIVERS }, (_, i) => s.keptCapacity(i + 1));
    // Before the change each was 256 KiB (what 24 ends at their bound grew it to), 1.75 MiB for 7 messages.
    for (const capacity of pinned) expect(capacity).toBe(FIRST_KEPT_BYTES);
    // Every flooded message was delivered or refused ECLOSED; nothing was counted as a violation.
    expect(s.stats().violations.total).toBe(0);
    expect(s.answers[0].filter((a) => a.status === Status.ECLOSED && a.opcode === RecordType.SEND).length).toBeGreaterThan(0);
  });

  it('101: the one message left behind still reaches its reader, in order, once it reads', () => {
    const s = scene();
    s.round(1);
    const rx = new RingConsumer(queuePairRings(s.port.buffer, s.port.geometry, 1).receive);
    const channels: number[] = [];
    const read = (): void => {
      for (let t = rx.poll(); t > 0; t = rx.poll()) {
        if (t === RecordType.DATA) channels.push(rx.u32[rx.bodyOffset >> 2]);
        rx.consume();
      }
      rx.release();
    };
    for (let turn = 0; turn < 1000 && s.stats().kept > 0; turn++) {
      read();
      s.hw.engine.round();
      s.hw.engine.round();
    }
    read();
    expect(s.stats().kept).toBe(0);
    expect(s.hw.engine.kept.queuePairs).toBe(0);
    // The live channel's message came last, after what the ring held of the first flooded channel.
    const live = channels[channels.length - 1];
    expect(channels.filter((c) => c === live)).toHaveLength(1);
  });
});
