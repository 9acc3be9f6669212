/**
 * What attack run 9a (wave 24) attacked and found solid, each with its exact outcome. Process
 * lifecycle on the ring (work requests written after a DETACH in the same batch, a queue pair
 * opened again), the ring's record format (padding records, lengths past the wrap), and operator
 * APIs that take what a partition wrote (a trace ring's forged count, an error record's forged
 * property names). In process where the hardware's answer is what is checked: the records are the
 * ones a hostile partition writes into its own port.
 */
import { describe, expect, it } from 'vitest';
import { Hardware } from '../../src/hardware/hardware.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { rebuildError } from '../../src/shared/error-record.js';
import { Status } from '../../src/shared/errors.js';
import { RecordLayout, RecordType, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { EMPTY, RingConsumer, RingProducer } from '../../src/shared/ring.js';
import { allocateTraceRing, TraceSnapshot } from '../../src/shared/trace-ring.js';
import { TRACE_HEADER_BYTES, TRACE_RECORD_BYTES, TRACE_WRITTEN_WORD, TraceKind } from '../../src/shared/trace-layout.js';
import { takeAnswers } from '../completion-answers.js';

/** Partition 1 (hostile, queue pair 0) with one channel to partition 2 (queue pair 0, reading). */
function pair() {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }], processesPerPartition: 2, sendRingBytes: 4096, receiveRingBytes: 4096, maxMessageBytes: 64 });
  const hw = new Hardware(options);
  const [hostile, peer] = hw.ports;
  expect(hw.manager.openQueuePair(hostile, 0)).toEqual({ ok: true, process: 1 });
  expect(hw.manager.openQueuePair(peer, 0)).toEqual({ ok: true, process: 1 });
  expect(hw.manager.listen(peer, 0, 7).ok).toBe(true);
  // Slot 0's first handle is 0, which answers that name no channel also carry: the channel under test is the next.
  const handles: Array<{ send: number; receive: number }> = [];
  for (let i = 0; i < 2; i++) {
    const c = hw.manager.connect(hostile, 0, 2, 7);
    const a = hw.manager.accept(peer, 0, 7);
    if (!c.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    handles.push({ send: c.handle, receive: a.handle });
  }
  return { hw, hostile, peer, options, first: handles[0], send: handles[1].send, receive: handles[1].receive };
}

function rounds(hw: Hardware): void {
  for (let idle = 0; idle < 3; ) idle = hw.engine.round() > 0 ? 0 : idle + 1;
}

describe('attack run 9a: found solid', () => {
  it('a DETACH with work requests behind it in the same batch: those are answered as on a closed channel (ECLOSED, no violation), nothing more reaches the peer, and the queue pair opens again with a new process id', () => {
    const { hw, hostile, peer, options, first, send, receive } = pair();
    const rings = queuePairRings(hostile.buffer, options.geometry, 0);
    const tx = new RingProducer(rings.send);
    const write = (type: number, handle: number, payload = 0): void => {
      const at = tx.tryClaim(type, SendBody.BYTES + payload);
      tx.u32[at >> 2] = handle;
      tx.u32[(at >> 2) + 1] = 0;
      tx.u8.fill(0x5a, at + SendBody.BYTES, at + SendBody.BYTES + payload);
    };
    write(RecordType.SEND, send, 8);
    write(RecordType.DETACH, 0);
    write(RecordType.SEND, send, 8);
    write(RecordType.CLOSE, send);
    write(RecordType.DETACH, 0);
    tx.publish();
    rounds(hw);
    const answers = takeAnswers(new RingConsumer(rings.completion));
    expect(answers).toEqual([
      { status: Status.OK, opcode: RecordType.DETACH, channel: 0, count: 1 },
      { status: Status.ECLOSED, opcode: RecordType.SEND, channel: send, count: 1 },
      { status: Status.ECLOSED, opcode: RecordType.CLOSE, channel: send, count: 1 },
      { status: Status.OK, opcode: RecordType.DETACH, channel: 0, count: 1 },
    ]);
    // The peer got the one message sent before the DETACH, then the end (its process died: EPEERDEAD).
    const rx = new RingConsumer(queuePairRings(peer.buffer, options.geometry, 0).receive);
    const got: Array<[number, number, number, number]> = [];
    for (let t = rx.poll(); t !== EMPTY; t = rx.poll()) {
      got.push([t, rx.u32[rx.bodyOffset >> 2], rx.u32[(rx.bodyOffset + 4) >> 2], rx.bodyBytes - 8]);
      rx.consume();
    }
    // The process's other channel ends with it too.
    expect(got).toEqual([
      [RecordType.DATA, receive, Status.OK, 8],
      [RecordType.END, first.receive, Status.EPEERDEAD, 0],
      [RecordType.END, receive, Status.EPEERDEAD, 0],
    ]);
    const stats = readPartitionStats(hw.counters.values, 0, 1, '');
    // The SEND and the CLOSE refused on the closed channel each count as a send error (as after any close), not as a violation.
    expect(stats).toMatchObject({ sent: 1, sendErrors: 2 });
    expect(stats.violations.total).toBe(0);
    // The queue pair is free again, and its next process gets a new id (ids are never handed out twice in a run).
    expect(hw.manager.openQueuePair(hostile, 0)).toEqual({ ok: true, process: 2 });
    expect(hw.manager.openQueuePair(hostile, 0)).toMatchObject({ ok: false, code: 'EINVAL' });
  });

  it('a padding record that does not reach the ring\'s end, and a record whose length runs past the wrap: the queue pair faults (badLength), nothing is delivered, and a reset brings it back', () => {
    for (const forge of ['short padding', 'past the wrap'] as const) {
      const { hw, hostile, peer, options, send } = pair();
      const rings = queuePairRings(hostile.buffer, options.geometry, 0);
      const tx = new RingProducer(rings.send);
      const at = tx.tryClaim(RecordType.SEND, SendBody.BYTES + 8);
      tx.u32[at >> 2] = send;
      tx.u32[(at >> 2) + 1] = 0;
      const header = (at - RecordLayout.HEADER_BYTES) >> 2;
      if (forge === 'short padding') {
        tx.u32[header + 1] = RecordType.PAD;
        tx.u32[header] = 16; // a PAD must run to the end of the data area
      } else tx.u32[header] = 4096 + 8; // longer than the ring
      tx.publish();
      rounds(hw);
      const stats = readPartitionStats(hw.counters.values, 0, 1, '');
      expect(stats.violations).toMatchObject({ total: 1, badLength: 1 });
      expect(takeAnswers(new RingConsumer(rings.completion))).toEqual([{ status: Status.EFAULT, opcode: 0, channel: 0, count: 1 }]);
      expect(readPartitionStats(hw.counters.values, 1, 2, '').delivered).toBe(0);
      expect(hw.manager.resetQueuePair(hostile, 0)).toEqual({ ok: true });
      expect(peer.alive).toBe(true);
    }
  });

  it('a trace ring whose count a partition forged (0xffffffff, or far behind what it wrote) is copied at most a ring\'s worth, its scribbles counted malformed', () => {
    const records = 16;
    for (const written of [0xffff_ffff, 2 ** 31, 3]) {
      const ring = allocateTraceRing(records);
      const u32 = new Uint32Array(ring);
      // Every slot scribbled: a known kind with times from the future or NaN, and unknown kinds.
      const f64 = new Float64Array(ring);
      for (let r = 0; r < records; r++) {
        const w = (TRACE_HEADER_BYTES + r * TRACE_RECORD_BYTES) >> 2;
        u32[w] = r % 2 === 0 ? TraceKind.SEND : 0xdead;
        f64[(w >> 1) + 4] = r % 4 === 0 ? Number.NaN : 1e300;
      }
      Atomics.store(u32, TRACE_WRITTEN_WORD, written);
      const snapshot = new TraceSnapshot(ring, records);
      const copied = Math.min(written, records);
      expect(snapshot.length + snapshot.malformed).toBe(copied);
      expect(snapshot.length).toBe(0);
      expect(snapshot.dropped).toBe(Math.max(0, written - records));
    }
  });

  it('an error record a partition forged with own properties named __proto__, constructor and toString: none reaches the rebuilt error\'s prototype or replaces what it has', () => {
    const properties = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1, "toString": 2, "detail": "x", "errno": 5}');
    const error = rebuildError({ name: 'TypeError', message: 'forged', properties });
    expect(Object.getPrototypeOf(error)).toBe(TypeError.prototype);
    expect((error as unknown as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(error.constructor).toBe(TypeError);
    expect(String(error)).toBe('TypeError: forged');
    expect({ ...error }).toEqual({ detail: 'x', errno: 5 });
  });
});
