/**
 * The in-process scene of the tests of a partition's share of the engine (THREATS cases 124, 129):
 * the real engine serves what each partition writes into its own port, as a hostile OS writes it;
 * channels between queue pairs, senders that write 64-byte SENDs, and a round that reads what each
 * got. The engine is deterministic here, so the counts are exact: no timing.
 */
import { expect } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import type { PartitionPort } from '../../src/hardware/partition-port.js';
import { resolveOptions, type MachineOptions } from '../../src/options.js';
import { RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { FULL, RingConsumer, RingProducer } from '../../src/shared/ring.js';

export const PAYLOAD = 64;

/** One channel's sending end as the tests drive it. */
export interface Sender {
  /** Messages of it the receiver has read (in round()). */
  delivered: number;
  /** SENDs written. */
  written: number;
  /** Write `n` SENDs, or as many as fit (backlogged), and publish. */
  write(n?: number): void;
  readonly rx: RingConsumer;
}

/**
 * The hardware of `options`, driven in process, and a way to wire a channel between two queue pairs
 * as the control plane would (each queue pair opened once): the channel's handle at the sender, and
 * the rings of any queue pair.
 */
export function wiredHardware(options: MachineOptions) {
  const resolved = resolveOptions(options);
  const hw = new Hardware(resolved);
  const rings = (port: PartitionPort, qp: number) => queuePairRings(port.buffer, resolved.geometry, qp);
  const opened = new Set<string>();
  const open = (port: PartitionPort, qp: number) => {
    if (opened.has(`${port.id}/${qp}`)) return;
    opened.add(`${port.id}/${qp}`);
    expect(hw.manager.openQueuePair(port, qp).ok).toBe(true);
  };
  let service = 100;
  /** A channel from (from, fqp) to (to, tqp), accepted: its handle at the sender. */
  const connect = (from: PartitionPort, fqp: number, to: PartitionPort, tqp: number): number => {
    open(from, fqp);
    open(to, tqp);
    const port = service++;
    expect(hw.manager.listen(to, tqp, port).ok).toBe(true);
    const c = hw.manager.connect(from, fqp, to.id, port);
    const a = hw.manager.accept(to, tqp, port);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    return c.handle;
  };
  return { options: resolved, hw, rings, connect };
}

/** Four partitions of 8 queue pairs, 64 KiB rings, 64-byte messages. */
export function sharesMachine() {
  const { hw, rings, connect } = wiredHardware({
    partitions: [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }],
    processesPerPartition: 8,
    channelsPerPartition: 32,
    sendRingBytes: 64 * 1024,
    receiveRingBytes: 64 * 1024,
    maxMessageBytes: PAYLOAD,
  });
  const completions: RingConsumer[] = [];
  /** A channel from (from, fqp) to (to, tqp); returns its sender. */
  const channel = (from: PartitionPort, fqp: number, to: PartitionPort, tqp: number): Sender => {
    const handle = connect(from, fqp, to, tqp);
    const tx = new RingProducer(rings(from, fqp).send);
    const rx = new RingConsumer(rings(to, tqp).receive);
    completions.push(new RingConsumer(rings(from, fqp).completion));
    return {
      delivered: 0,
      written: 0,
      write(n = Infinity) {
        for (let i = 0; i < n; i++) {
          const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + PAYLOAD);
          if (at === FULL) break;
          tx.u32[at >> 2] = handle;
          tx.u32[(at >> 2) + 1] = 0;
          this.written++;
        }
        tx.publish();
      },
      rx,
    };
  };
  /** One engine round, then every receiver reads all it got and every completion ring is emptied; what each sender got in it. */
  const round = (senders: Sender[]): number[] => {
    hw.engine.round();
    const got = senders.map((s) => {
      let n = 0;
      while (s.rx.poll() > 0) {
        s.rx.consume();
        n++;
      }
      s.rx.release();
      s.delivered += n;
      return n;
    });
    for (const c of completions) {
      while (c.poll() > 0) c.consume();
      c.release();
    }
    return got;
  };
  return { hw, channel, round };
}

/** Jain's fairness index: 1 for equal shares, 1/n when one gets everything. */
export const jain = (xs: number[]) => xs.reduce((a, b) => a + b, 0) ** 2 / (xs.length * xs.reduce((a, b) => a + b * b, 0));
