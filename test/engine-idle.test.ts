/**
 * A round passes over a queue pair whose send ring is empty with one look, not a serve(). What the
 * hardware wrote into that queue pair's own rings outside a serve() (an answer, a delivery) must
 * still be published by the round, as serve() would have: a receiver that sends nothing would
 * otherwise never see it.
 */
import { describe, expect, it } from 'vitest';
import { DONE } from '../src/hardware/engine.js';
import { Hardware } from '../src/hardware/hardware.js';
import { resolveOptions } from '../src/options.js';
import { Status } from '../src/shared/errors.js';
import { RecordType } from '../src/shared/layout.js';
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
});
