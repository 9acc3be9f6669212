/**
 * A round passes over a queue pair whose send ring is empty with one look, not a serve(). What the
 * hardware wrote into that queue pair's own rings outside a serve() (an answer, a delivery) must
 * still be published by the round, as serve() would have: a receiver that sends nothing would
 * otherwise never see it.
 */
import { describe, expect, it, vi } from 'vitest';
import { verifiedPaths } from '../bench/micro.js';
import { DONE } from '../src/hardware/engine.js';
import { Hardware } from '../src/hardware/hardware.js';
import { QueuePairState } from '../src/hardware/partition-port.js';
import { resolveOptions } from '../src/options.js';
import { Status } from '../src/shared/errors.js';
import { RecordType, RING_HEADER_BYTES, RING_PRODUCER_POSITION_OFFSET } from '../src/shared/layout.js';
import { queuePairRings } from '../src/shared/port.js';
import { completionChannel, completionStatus, deliveryChannel, deliveryPayload } from '../src/shared/records.js';
import { EMPTY, RingConsumer } from '../src/shared/ring.js';

function machine() {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 64 });
  const hw = new Hardware(options);
  for (const port of hw.ports) expect(hw.manager.openQueuePair(port, 0).ok).toBe(true);
  const rings = queuePairRings(hw.ports[1].buffer, options.geometry, 0);
  return { hw, qp: hw.ports[1].queuePairs[0], completions: new RingConsumer(rings.completion), received: new RingConsumer(rings.receive) };
}

describe('engine: idle queue pairs', () => {
  it('a round publishes an answer written to a queue pair that has nothing to send', () => {
    const { hw, qp, completions } = machine();
    hw.engine.complete(qp, Status.ECLOSED, RecordType.SEND, 77);
    expect(completions.poll()).toBe(EMPTY);
    expect(hw.engine.round()).toBe(0);
    expect(completions.poll()).toBe(RecordType.COMPLETION);
    expect(completionStatus(completions.u32, completions.bodyOffset)).toBe(Status.ECLOSED);
    expect(completionChannel(completions.u32, completions.bodyOffset)).toBe(77);
  });

  it('a round publishes a delivery written to a queue pair that has nothing to send', () => {
    const { hw, qp, received } = machine();
    const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(hw.engine.deliverFromLink(qp, 9, payload, new Uint32Array(payload.buffer), 0, payload.length)).toBe(DONE);
    expect(received.poll()).toBe(EMPTY);
    hw.engine.round();
    expect(received.poll()).toBe(RecordType.DATA);
    expect(deliveryChannel(received.u32, received.bodyOffset)).toBe(9);
    expect([...received.u8.subarray(deliveryPayload(received.bodyOffset), deliveryPayload(received.bodyOffset) + 8)]).toEqual([...payload]);
  });

  it('after every round, no active queue pair holds anything unpublished, whatever was written outside serve() and whatever a hostile partition writes into its producer word', () => {
    const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 64 });
    const hw = new Hardware(options);
    for (const port of hw.ports) for (let q = 0; q < 2; q++) expect(hw.manager.openQueuePair(port, q).ok).toBe(true);
    // The partitions' side of every receive and completion ring, drained after each round so they never fill.
    const readers = hw.ports.flatMap((p) =>
      p.queuePairs.flatMap((q) => {
        const r = queuePairRings(p.buffer, options.geometry, q.index);
        return [new RingConsumer(r.receive), new RingConsumer(r.completion)];
      }),
    );
    const hostile = queuePairRings(hw.ports[2].buffer, options.geometry, 0).send;
    const hostileProducerWord = new Int32Array(hostile.buffer);
    let seed = 12345;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return Math.floor(((seed >>> 8) / 16777216) * n);
    };
    const payload = new Uint8Array(16);
    for (let step = 0; step < 20_000; step++) {
      const port = hw.ports[random(3)];
      const qp = port.queuePairs[random(2)];
      switch (random(4)) {
        case 0:
          if (qp.state === QueuePairState.ACTIVE) hw.engine.complete(qp, Status.ECLOSED, RecordType.SEND, random(4));
          break;
        case 1:
          hw.engine.deliverFromLink(qp, random(4), payload, new Uint32Array(payload.buffer), 0, payload.length);
          break;
        case 2:
          Atomics.store(hostileProducerWord, (hostile.base + RING_PRODUCER_POSITION_OFFSET) >> 2, random(2) === 0 ? 0 : random(0x7fffffff));
          break;
        default:
          hw.engine.round();
          for (const p of hw.ports) {
            for (const q of p.queuePairs) {
              if (q.state !== QueuePairState.ACTIVE) continue;
              expect(q.receiveDirty || q.completionDirty).toBe(false);
              // Everything claimed in its receive ring is published: the shared producer word says so.
              const receive = queuePairRings(p.buffer, options.geometry, q.index).receive;
              expect(q.receive.position).toBe(Atomics.load(q.receive.i32, (receive.base + RING_PRODUCER_POSITION_OFFSET) >> 2));
            }
          }
          for (const r of readers) {
            while (r.poll() > 0) r.consume();
            r.release();
          }
      }
    }
  });

  it('a round reads a send ring\'s producer word with Atomics.load only once it moved (or, exact, once each), and serve() takes what that look found', () => {
    const { tx, rx, hw } = verifiedPaths(64);
    const load = vi.spyOn(Atomics, 'load');
    // Each port's queue pair 0: the send ring's producer word (what a look at the ring reads).
    const sendRings = hw.ports.map((p) => p.queuePairs[0].send);
    const looks = (): number[] =>
      sendRings.map((r) => load.mock.calls.filter(([a, w]) => a.buffer === r.i32.buffer && w === (r.dataStart - RING_HEADER_BYTES + RING_PRODUCER_POSITION_OFFSET) >> 2).length);
    const payload = new Uint8Array(64).fill(7);
    let got = 0;
    for (const [batch, exact] of [[1, false], [3, false], [2, true]] as const) {
      for (let i = 0; i < batch; i++) tx[0].send(payload);
      load.mockClear();
      hw.engine.round(exact);
      // Partition 1 receives (it sent nothing), partition 2 sent. A busy round reads partition 1's
      // word with a plain load, which found it where it was: no Atomics.load. Partition 2's moved:
      // one Atomics.load, the sender's run ending where that look ended rather than reading the
      // word again to find the ring empty. The exact round (before the hardware sleeps) reads both.
      expect(looks()).toEqual(exact ? [1, 1] : [0, 1]);
      got += rx[0].drainBytes(() => {});
      expect(got).toBe(batch === 1 ? 1 : batch === 3 ? 4 : 6);
    }
    load.mockRestore();
  });
});
