/**
 * Attack cases on the per-queue-pair lookups (HardwareQueuePair.lookup…) and the quiet lookups of
 * Engine.lookUpAnother, in process (one thread, rounds run by hand). In each, the attacking queue
 * pair holds lookups from before a change of state (its own or another channel's), and then names
 * a handle that change made stale, dead, ended or foreign, mixed with SENDs on its good channels.
 * Each asserts the exact answer (status, opcode, handle, count), the counters of every partition
 * involved, and exactly what was delivered (nothing on a channel the SEND did not own).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_ENTRY } from '../../src/hardware/channel-state-table.js';
import type { RemoteEnds } from '../../src/hardware/engine.js';
import { Hardware } from '../../src/hardware/hardware.js';
import { resolveOptions } from '../../src/options.js';
import { readPartitionStats } from '../../src/shared/counter-block.js';
import { Status } from '../../src/shared/errors.js';
import { RecordType, RING_PRODUCER_POSITION_OFFSET, SendBody } from '../../src/shared/layout.js';
import { queuePairRings } from '../../src/shared/port.js';
import { deliveryChannel, deliveryPayload, deliveryStatus } from '../../src/shared/records.js';
import { takeAnswers } from '../completion-answers.js';
import { EMPTY, RingConsumer, RingProducer } from '../../src/shared/ring.js';

const endpoints: MessagePort[] = [];
afterAll(() => {
  for (const p of endpoints) p.close();
});

const SEND = RecordType.SEND;

/** Partitions A (index 0, id 1: the attacker), B (id 2) and C (id 3), two queue pairs each, every one open and listening on port 7 + its index. */
function machine() {
  const options = resolveOptions({ partitions: [{ id: 1 }, { id: 2 }, { id: 3 }], processesPerPartition: 2, channelsPerPartition: 4, maxMessageBytes: 256, testHooks: true });
  const hw = new Hardware(options);
  const link: string[] = [];
  const remote: RemoteEnds = {
    send: (e, _stamp, src, payload, bytes) => (link.push(`${e}:${Array.from(src.u8.subarray(payload, payload + bytes))}`), true),
    sendNext: () => false,
    // Its link takes everything: no window is ever spent, so nothing is held.
    waitsForWindow: () => false,
    hold: () => false,
    closing: () => false,
    closeAfterHeld: () => false,
    closed: (e, status) => link.push(`closed ${e} ${status}`),
    faulted: () => {},
    poll: () => 0,
    flush: () => {},
    holding: false,
  };
  hw.engine.remote = remote;
  const rings = (p: number, q: number) => queuePairRings(hw.ports[p].buffer, options.geometry, q);
  let tx: RingProducer[][] = [];
  let rx: RingConsumer[][] = [];
  let cq: RingConsumer[][] = [];
  const boot = (p: number) => {
    tx[p] = [];
    rx[p] = [];
    cq[p] = [];
    for (const q of [0, 1]) {
      expect(hw.manager.openQueuePair(hw.ports[p], q).ok).toBe(true);
      expect(hw.manager.listen(hw.ports[p], q, 7 + q).ok).toBe(true);
      tx[p][q] = new RingProducer(rings(p, q).send, 0);
      rx[p][q] = new RingConsumer(rings(p, q).receive, 0);
      cq[p][q] = new RingConsumer(rings(p, q).completion, 0);
    }
  };
  for (const p of [0, 1, 2]) boot(p);

  /** A channel from (p, q) to (to, tq), accepted: both ends' handles. */
  const connect = (p: number, q: number, to: number, tq: number) => {
    const g = hw.manager.connect(hw.ports[p], q, to + 1, 7 + tq);
    const a = hw.manager.accept(hw.ports[to], tq, 7 + tq);
    if (!g.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    return { send: g.handle, receive: a.handle };
  };
  /** A channel from node 5 into (p, q), accepted: its handle and entry; `maxMessage` is what that node stated. */
  const remoteEnd = (p: number, q: number, maxMessage = 4096) => {
    const r = hw.manager.receiveSideAccept({
      sourceNode: 5, keyEntry: NO_ENTRY, sourceChannel: 77, sourceWindow: 65536, sourceMaxMessage: maxMessage,
      storeKey: (d) => hw.keys.store(d, 1, 2, 3, 4), sourcePartition: 9, sourceProcess: 1, destinationPartition: p + 1, destinationService: 7 + q,
    });
    const a = hw.manager.accept(hw.ports[p], q, 7 + q);
    if (!r.ok || a instanceof Promise || !a.ok) throw new Error('set-up failed');
    return { handle: a.handle, entry: r.entry };
  };
  let seq = 0;
  /** Write work requests on (p, q)'s send ring and publish them; each SEND's payload starts with its number. */
  const write = (p: number, q: number, ...reqs: Array<{ type?: number; handle: number; bytes?: number }>) => {
    const numbers: number[] = [];
    for (const r of reqs) {
      const bytes = r.bytes ?? 4;
      const at = tx[p][q].tryClaim(r.type ?? SEND, SendBody.BYTES + bytes);
      if (at < 0) throw new Error('send ring full');
      tx[p][q].u32[at >> 2] = r.handle;
      tx[p][q].u32[(at >> 2) + 1] = 0;
      if (bytes >= 4) tx[p][q].u32[(at >> 2) + 2] = ++seq;
      numbers.push(seq);
    }
    tx[p][q].publish();
    return numbers;
  };
  /** Rounds until one serves nothing. */
  const settle = () => {
    let n = 0;
    for (let k = hw.engine.round(); k > 0; k = hw.engine.round()) n += k;
    return n;
  };
  /** What (p, q) received since the last look: [handle, status, first payload word or type]. */
  const received = (p: number, q: number) => {
    const out: Array<[number, number, number | string]> = [];
    const r = rx[p][q];
    for (let t = r.poll(); t !== EMPTY; t = r.poll()) {
      const at = r.bodyOffset;
      out.push([deliveryChannel(r.u32, at), deliveryStatus(r.u32, at), t === RecordType.DATA ? r.u32[deliveryPayload(at) >> 2] : 'END']);
      r.consume();
    }
    r.release();
    return out;
  };
  const answers = (p: number, q: number) => takeAnswers(cq[p][q]);
  const stats = (p: number) => {
    const s = readPartitionStats(hw.counters.values, p, p + 1, '');
    return { sent: s.sent, delivered: s.delivered, sendErrors: s.sendErrors, violations: Object.fromEntries(Object.entries(s.violations).filter(([, n]) => n !== 0)) };
  };
  const restart = (p: number) => {
    const mc = new MessageChannel();
    endpoints.push(mc.port1, mc.port2);
    hw.restartPartition(p, mc.port1);
    boot(p);
  };
  /** A send ring whose producer position is out of reach: the next round faults its queue pair. */
  const breakSendRing = (p: number, q: number) => {
    const r = rings(p, q).send;
    new Uint32Array(r.buffer)[(r.base + RING_PRODUCER_POSITION_OFFSET) >> 2] = 0xffff_fff8;
  };
  const reset = (p: number, q: number) => {
    expect(hw.manager.resetQueuePair(hw.ports[p], q).ok).toBe(true);
    tx[p][q] = new RingProducer(rings(p, q).send, 0);
    rx[p][q] = new RingConsumer(rings(p, q).receive, 0);
    cq[p][q] = new RingConsumer(rings(p, q).completion, 0);
  };
  return { hw, link, connect, remoteEnd, write, settle, received, answers, stats, restart, breakSendRing, reset };
}

const none = { sent: 0, delivered: 0, sendErrors: 0, violations: {} };

describe('attack: lookups a queue pair keeps across a change of state', () => {
  it.each([
    ['its lookups name the dead channel', true],
    ['its lookups name another channel', false],
  ])(
    "a SEND on a channel whose peer partition restarted, its entry now another partition's channel (%s): EPEERDEAD, nothing reaches the new channel",
    (_, namesDead) => {
      const m = machine();
      const x = m.connect(0, 0, 1, 0); // A.0 → B.0: B's slot 0
      const y = m.connect(0, 0, 2, 0); // A.0 → C.0
      m.write(0, 0, { handle: y.send }, { handle: x.send });
      if (!namesDead) m.write(0, 0, { handle: y.send });
      m.settle();
      m.received(1, 0);
      m.received(2, 0);
      m.restart(1);
      // C opens a channel into the restarted B: B's entry of slot 0 again, x's peer entry.
      const z = m.connect(2, 1, 1, 0);
      expect(z.receive & 3).toBe(x.receive & 3);
      const before = [m.stats(0), m.stats(1)];
      const [, , third] = m.write(0, 0, { handle: x.send }, { handle: x.send }, { handle: y.send }, { handle: x.send });
      expect(m.settle()).toBe(4);
      // One completion: refusals of one kind coalesce until the serve publishes (the SEND delivered between them posts none).
      expect(m.answers(0, 0)).toEqual([{ status: Status.EPEERDEAD, opcode: SEND, channel: x.send, count: 3 }]);
      expect(m.received(1, 0)).toEqual([]);
      expect(m.received(2, 0)).toEqual([[y.receive, Status.OK, third]]);
      const after = [m.stats(0), m.stats(1)];
      expect(after[0].sent - before[0].sent).toBe(1);
      expect(after[0].sendErrors - before[0].sendErrors).toBe(3);
      expect([after[0].violations, after[1].delivered - before[1].delivered, after[1].violations]).toEqual([{}, 0, {}]);
    },
  );

  it('a handle of a slot the queue pair closed and reused, between SENDs on the new channel of that slot and another channel: ESTALE, staleHandle, the new channel gets only its own', () => {
    const m = machine();
    const old = m.connect(0, 0, 1, 0); // A's slot 0
    const other = m.connect(0, 0, 2, 0); // A's slot 1
    m.write(0, 0, { handle: old.send });
    m.settle();
    m.write(0, 0, { type: RecordType.CLOSE, handle: old.send, bytes: 0 });
    m.settle();
    expect(m.answers(0, 0)).toEqual([{ status: Status.OK, opcode: RecordType.CLOSE, channel: old.send, count: 1 }]);
    expect(m.received(1, 0)).toHaveLength(2); // the message, then the END
    const reused = m.connect(0, 0, 1, 0);
    expect(reused.send & 3).toBe(old.send & 3);
    expect(reused.send).not.toBe(old.send);
    const before = [m.stats(0), m.stats(1)];
    // `old` first in its serve (the lookups kept are of `old`'s CLOSE's time: stale), then right after
    // runs on `reused` and `other`, and right after a refused work request (the general path).
    m.write(0, 0, { handle: old.send });
    expect(m.settle()).toBe(1);
    const n = m.write(0, 0, { handle: reused.send }, { handle: old.send }, { handle: other.send }, { type: 99, handle: reused.send }, { handle: old.send }, { handle: reused.send }, { handle: reused.send });
    expect(m.settle()).toBe(7);
    expect(m.answers(0, 0)).toEqual([
      { status: Status.ESTALE, opcode: SEND, channel: old.send, count: 1 },
      { status: Status.ESTALE, opcode: SEND, channel: old.send, count: 1 },
      { status: Status.EINVAL, opcode: 99, channel: reused.send, count: 1 },
      { status: Status.ESTALE, opcode: SEND, channel: old.send, count: 1 },
    ]);
    expect(m.received(1, 0)).toEqual([n[0], n[5], n[6]].map((k) => [reused.receive, Status.OK, k]));
    expect(m.received(2, 0)).toEqual([[other.receive, Status.OK, n[2]]]);
    const after = [m.stats(0), m.stats(1)];
    expect([after[0].sent - before[0].sent, after[0].sendErrors - before[0].sendErrors, after[0].violations]).toEqual([4, 0, { total: 4, staleHandle: 3, badOpcode: 1 }]);
    expect(after[1].delivered - before[1].delivered).toBe(3);
  });

  it("another queue pair's handle, each queue pair's lookups naming its own channel: EPERM, notOwner, and both runs go on", () => {
    const m = machine();
    const mine = m.connect(0, 1, 1, 0);
    const theirs = m.connect(0, 0, 1, 0);
    m.write(0, 0, { handle: theirs.send });
    m.write(0, 1, { handle: mine.send });
    m.settle();
    m.received(1, 0);
    const before = m.stats(0);
    const n = m.write(0, 1, { handle: mine.send }, { handle: theirs.send }, { handle: mine.send }, { handle: theirs.send }, { handle: theirs.send });
    const k = m.write(0, 0, { handle: theirs.send });
    expect(m.settle()).toBe(6);
    expect(m.answers(0, 1)).toEqual([{ status: Status.EPERM, opcode: SEND, channel: theirs.send, count: 3 }]);
    expect(m.answers(0, 0)).toEqual([]);
    expect(m.received(1, 0).sort((a, b) => (a[2] as number) - (b[2] as number))).toEqual([
      [mine.receive, Status.OK, n[0]],
      [mine.receive, Status.OK, n[2]],
      [theirs.receive, Status.OK, k[0]],
    ]);
    const after = m.stats(0);
    expect([after.sent - before.sent, after.sendErrors - before.sendErrors, after.violations]).toEqual([3, 0, { total: 3, notOwner: 3 }]);
  });

  it("a peer queue pair that faulted and was reset: EFAULT while it is faulted (lookups kept or taken quietly), delivered once it is back", () => {
    const m = machine();
    const x = m.connect(0, 0, 1, 0);
    const y = m.connect(0, 0, 2, 0);
    m.write(0, 0, { handle: x.send });
    m.settle();
    m.received(1, 0);
    // B.0 breaks its send ring: the round faults it (a fault moves every queue pair's lookups on).
    m.breakSendRing(1, 0);
    expect(m.hw.engine.round()).toBe(0);
    expect(m.hw.ports[1].queuePairs[0].state).toBe(2);
    // A.0's next SENDs on x find B.0 faulted, whichever lookups A.0 holds (x's, or y's after a SEND on y).
    m.write(0, 0, { handle: x.send }, { handle: x.send }, { handle: y.send }, { handle: x.send });
    expect(m.settle()).toBe(4);
    expect(m.answers(0, 0)).toEqual([{ status: Status.EFAULT, opcode: SEND, channel: x.send, count: 3 }]);
    expect(m.stats(1).violations).toEqual({ total: 1, sendRingPosition: 1 });
    m.reset(1, 0);
    const n = m.write(0, 0, { handle: y.send }, { handle: x.send }, { handle: x.send });
    expect(m.settle()).toBe(3);
    expect(m.answers(0, 0)).toEqual([]);
    expect(m.received(1, 0)).toEqual([[x.receive, Status.OK, n[1]], [x.receive, Status.OK, n[2]]]);
    expect(m.stats(0)).toEqual({ sent: 1 + 1 + 3, delivered: 0, sendErrors: 3, violations: {} });
  });

  it('a remote end whose link went down, or past the other node\'s message limit, named while the lookups name a local channel: ELINKDOWN / EMSGSIZE, nothing handed to the link', () => {
    const m = machine();
    const x = m.connect(0, 0, 1, 0);
    const small = m.remoteEnd(0, 0, 16);
    const r = m.remoteEnd(0, 0);
    const n = m.write(0, 0, { handle: r.handle }, { handle: x.send }, { handle: small.handle, bytes: 16 }, { handle: x.send });
    expect(m.settle()).toBe(4);
    expect(m.link).toHaveLength(2);
    expect(m.received(1, 0).map((d) => d[2])).toEqual([n[1], n[3]]);
    // Lookups name x. Past the limit node 5 stated for `small`, then `r` after its link went down.
    m.write(0, 0, { handle: small.handle, bytes: 17 }, { handle: x.send });
    expect(m.settle()).toBe(2);
    m.hw.engine.endByPeer(r.entry, Status.ELINKDOWN);
    m.received(0, 0);
    m.write(0, 0, { handle: x.send }, { handle: r.handle }, { handle: r.handle }, { handle: x.send });
    expect(m.settle()).toBe(4);
    expect(m.link).toHaveLength(2);
    expect(m.answers(0, 0)).toEqual([
      { status: Status.EMSGSIZE, opcode: SEND, channel: small.handle, count: 1 },
      { status: Status.ELINKDOWN, opcode: SEND, channel: r.handle, count: 2 },
    ]);
    expect(m.received(1, 0)).toHaveLength(3);
    expect(m.stats(0)).toEqual({ sent: 2 + 2 + 1 + 2, delivered: 0, sendErrors: 2, violations: { total: 1, messageSize: 1 } });
  });

  it.each([
    ['closed by its own queue pair (a CLOSE: closeEnd only)', 'close', Status.ECLOSED],
    ['ended by its link going down (endByPeer only)', 'linkDown', Status.ELINKDOWN],
    ['ended by the other node\'s CLOSE (endByPeer only)', 'peerClose', Status.ECLOSED],
  ] as const)('a remote end the lookups name, %s: its next SENDs are answered, nothing more reaches the link', (_, how, status) => {
    const m = machine();
    const x = m.connect(0, 0, 1, 0);
    const r = m.remoteEnd(0, 0);
    // Lookups of r, from a run.
    m.write(0, 0, { handle: x.send }, { handle: r.handle }, { handle: r.handle });
    expect(m.settle()).toBe(3);
    expect(m.link).toHaveLength(2);
    if (how === 'close') m.write(0, 0, { type: RecordType.CLOSE, handle: r.handle, bytes: 0 });
    else m.hw.engine.endByPeer(r.entry, how === 'linkDown' ? Status.ELINKDOWN : Status.OK);
    m.settle();
    const linked = [...m.link];
    m.answers(0, 0);
    m.received(0, 0);
    const before = m.stats(0);
    m.write(0, 0, { handle: r.handle }, { handle: r.handle }, { handle: x.send }, { handle: r.handle });
    expect(m.settle()).toBe(4);
    expect(m.link).toEqual(linked);
    expect(m.answers(0, 0)).toEqual([{ status, opcode: SEND, channel: r.handle, count: 3 }]);
    expect(m.received(1, 0).map((d) => d[0])).toEqual([x.receive, x.receive]);
    const after = m.stats(0);
    expect([after.sent - before.sent, after.sendErrors - before.sendErrors, after.violations]).toEqual([1, 3, {}]);
  });

  it.each([
    ['another queue pair\'s handle', 'foreign', Status.EPERM, 0, { total: 1, notOwner: 1 }],
    ['a handle it closed', 'closed', Status.ECLOSED, 1, {}],
    ['non-zero flags', 'flags', Status.EINVAL, 0, { total: 1, badFlags: 1 }],
  ] as const)('a second thread rewrites the SEND right after its quiet lookups passed (%s): the run does not serve it, the general path answers what it reads then', (_, what, status, sendErrors, violations) => {
    const m = machine();
    const x = m.connect(0, 0, 1, 0);
    const y = m.connect(0, 0, 2, 0);
    const theirs = m.connect(0, 1, 2, 1);
    const gone = m.connect(0, 0, 2, 0);
    m.write(0, 0, { type: RecordType.CLOSE, handle: gone.send, bytes: 0 });
    m.write(0, 0, { handle: x.send });
    m.settle();
    m.answers(0, 0);
    m.received(1, 0);
    m.received(2, 0);
    // The race, made deterministic: lookUpAnother reads the SEND (on y, its lookups pass), then the record changes under it.
    const engine = m.hw.engine as unknown as { lookUpAnother: (qp: unknown, ring: { u32: Uint32Array; bodyOffset: number }) => boolean };
    const lookUpAnother = engine.lookUpAnother.bind(engine);
    let raced = 0;
    engine.lookUpAnother = (qp, ring) => {
      const passed = lookUpAnother(qp, ring);
      if (passed && raced++ === 0) {
        if (what === 'flags') ring.u32[(ring.bodyOffset >> 2) + 1] = 1;
        else ring.u32[ring.bodyOffset >> 2] = what === 'foreign' ? theirs.send : gone.send;
      }
      return passed;
    };
    const before = [m.stats(0), m.stats(1), m.stats(2)];
    const n = m.write(0, 0, { handle: y.send }, { handle: y.send });
    expect(m.settle()).toBe(2);
    expect(raced).toBe(1);
    const named = what === 'flags' ? y.send : what === 'foreign' ? theirs.send : gone.send;
    expect(m.answers(0, 0)).toEqual([{ status, opcode: SEND, channel: named, count: 1 }]);
    // Only the second SEND arrives (a run on the lookups of y, which passed); nothing on any other channel.
    expect(m.received(2, 0)).toEqual([[y.receive, Status.OK, n[1]]]);
    expect([m.received(1, 0), m.received(2, 1)]).toEqual([[], []]);
    const after = [m.stats(0), m.stats(1), m.stats(2)];
    expect([after[0].sent - before[0].sent, after[0].sendErrors - before[0].sendErrors, after[0].violations]).toEqual([1, sendErrors, violations]);
    expect([after[1].delivered - before[1].delivered, after[2].delivered - before[2].delivered, after[2].violations]).toEqual([0, 1, {}]);
  });
});
