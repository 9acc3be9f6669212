/**
 * What a receiver can see is counted (in process, one thread): a serve() counts its messages
 * once at its end, but a CLOSE it serves publishes the receiver's ring at once (the END), and
 * that publish shows the messages before it too. Their counts must be written before it: a test
 * or an operator that reads stats() once a receiver saw its stream end must count the whole
 * stream (the harness test, under load, missed up to one batch of it). And a serve() that delivers
 * to several partitions adds up each one's counts apart, writing them out when the destination changes.
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { Hardware } from '../src/hardware/hardware.js';
import type { PartitionPort } from '../src/hardware/partition-port.js';
import { resolveOptions } from '../src/options.js';
import { CounterSlot, RecordType, SendBody } from '../src/shared/layout.js';
import { queuePairRings } from '../src/shared/port.js';
import { RingProducer } from '../src/shared/ring.js';

describe('counters and the END', () => {
  it('counts every message a receiver can see, at every publish of its ring, the END\'s included', () => {
    const { tx, rx, hw } = verifiedPaths(64);
    const receiver = hw.ports[0].queuePairs[0];
    const counters = hw.counters.values;
    // At each publish, receive what it made visible, and compare with the counters at that moment.
    const seen: Array<{ received: number; delivered: number; sent: number }> = [];
    let received = 0;
    const publish = receiver.publish.bind(receiver);
    receiver.publish = () => {
      publish();
      while (rx[0].tryRecv() !== undefined) received++;
      seen.push({ received, delivered: counters[0 * CounterSlot.PER_PARTITION + CounterSlot.DELIVERED], sent: counters[1 * CounterSlot.PER_PARTITION + CounterSlot.SENT] });
    };
    const message = new Uint8Array(64).fill(3);
    for (let i = 0; i < 5; i++) tx[0].send(message);
    const closing = tx[0].close();
    // One round serves the five SENDs and the CLOSE in one serve(): the END is published mid-serve.
    expect(hw.engine.round()).toBe(6);
    expect(received).toBe(5);
    for (const s of seen) {
      expect(s.delivered).toBe(s.received);
      expect(s.sent).toBe(s.received);
    }
    void closing.catch(() => {});
  });
});

describe('counters of one serve that delivers to several partitions', () => {
  it('counts each receiving partition exactly its own messages and bytes, however the destinations alternate', () => {
    const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 64 });
    const hw = new Hardware(options);
    const [one, two, sender] = hw.ports;
    for (const p of hw.ports) expect(hw.manager.openQueuePair(p, 0).ok).toBe(true);
    const open = (to: PartitionPort): number => {
      expect(hw.manager.listen(to, 0, 7).ok).toBe(true);
      const granted = hw.manager.connect(sender, 0, to.id, 7);
      const accepted = hw.manager.accept(to, 0, 7);
      if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('set-up failed');
      return granted.handle;
    };
    const handles = [open(one), open(two)];
    const tx = new RingProducer(queuePairRings(sender.buffer, options.geometry, 0).send);
    // One serve, the destination changing three times (the second SEND of each pair takes the busy path): partition 1 gets
    // four messages of 1, 2, 3 and 1 bytes, partition 2 two of 2 and 4.
    const sends: Array<[number, number]> = [[0, 1], [0, 2], [1, 2], [1, 4], [0, 3], [0, 1]];
    for (const [to, bytes] of sends) {
      const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + bytes);
      tx.u32[at >> 2] = handles[to];
      tx.u32[(at >> 2) + 1] = 0;
    }
    tx.publish();
    expect(hw.engine.round()).toBe(sends.length);
    const counters = hw.counters.values;
    const of = (p: number, counter: number) => counters[p * CounterSlot.PER_PARTITION + counter];
    expect([of(0, CounterSlot.DELIVERED), of(0, CounterSlot.BYTES_DELIVERED)]).toEqual([4, 7]);
    expect([of(1, CounterSlot.DELIVERED), of(1, CounterSlot.BYTES_DELIVERED)]).toEqual([2, 6]);
    expect([of(2, CounterSlot.SENT), of(2, CounterSlot.BYTES_SENT), of(2, CounterSlot.DELIVERED)]).toEqual([6, 13, 0]);
  });
});
