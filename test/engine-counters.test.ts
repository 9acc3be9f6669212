/**
 * What a receiver can see is counted (in process, one thread): a serve() counts its messages
 * once at its end, but a CLOSE it serves publishes the receiver's ring at once (the END), and
 * that publish shows the messages before it too. Their counts must be written before it: a test
 * or an operator that reads stats() once a receiver saw its stream end must count the whole
 * stream (the harness test, under load, missed up to one batch of it).
 */
import { describe, expect, it } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { COUNTER_DELIVERED, COUNTER_SENT, COUNTERS_PER_PARTITION } from '../src/shared/layout.js';

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
      seen.push({ received, delivered: counters[0 * COUNTERS_PER_PARTITION + COUNTER_DELIVERED], sent: counters[1 * COUNTERS_PER_PARTITION + COUNTER_SENT] });
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
