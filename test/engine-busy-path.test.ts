/**
 * The engine's busy SEND (in process, one thread): SENDs whose lookups pass are served a run at a
 * time by sendRun(), everything else by the general path. Whichever path a work request takes, a
 * hostile partition must get the same answer for it. Each case below is written into the sender's
 * send ring twice over, on fresh machines: once right after a SEND on the same channel (the
 * lookups the queue pair keeps name it) and once right after a SEND on another channel (they
 * name that one: the request's own are taken quietly first, lookUpAnother()). Both must give the
 * exact outcome expected: the completions, the counters of both partitions, what is delivered.
 * Against an engine with no runs at all, test/security/lookups-differential.test.ts compares.
 */
import { describe, expect, it, vi } from 'vitest';
import { Hardware } from '../src/hardware/hardware.js';
import { resolveOptions } from '../src/options.js';
import { readPartitionStats } from '../src/shared/counter-block.js';
import { Status } from '../src/shared/errors.js';
import { alignUp, ConnectionState, RecordLayout, RecordType, RING_CONSUMER_POSITION_OFFSET, SendBody } from '../src/shared/layout.js';
import { queuePairRings } from '../src/shared/port.js';
import { deliveryChannel, deliveryPayload } from '../src/shared/records.js';
import { takeAnswers } from './completion-answers.js';
import { EMPTY, RingConsumer, RingProducer } from '../src/shared/ring.js';

/** maxMessageBytes: above WordCopy.LIMIT, so both of the busy path's copies are taken. */
const MAX = 300;
const RING = 4096;
/** Messages of 64 bytes (80-byte records) that fill a receive ring short of a wrap: the next claim must read the consumer's position. */
const FILL = Math.floor(RING / (8 + 8 + 64));

/** A payload whose every byte tells where it belongs, so a byte out of place shows. */
const pattern = (seed: number, n: number): number[] => Array.from({ length: n }, (_, i) => (seed * 31 + i) & 0xff);

function machine(budgetPerRound?: number) {
  const options = resolveOptions({
    partitions: [{ id: 1 }, { id: 2 }],
    processesPerPartition: 2,
    sendRingBytes: RING,
    receiveRingBytes: RING,
    maxMessageBytes: MAX,
    budgetPerRound,
  });
  const hw = new Hardware(options);
  const [receiver, sender] = hw.ports;
  for (const qp of [0, 1]) expect(hw.manager.openQueuePair(sender, qp).ok).toBe(true);
  expect(hw.manager.openQueuePair(receiver, 0).ok).toBe(true);
  expect(hw.manager.listen(receiver, 0, 7).ok).toBe(true);
  const open = (): { send: number; receive: number } => {
    const granted = hw.manager.connect(sender, 0, 1, 7);
    const accepted = hw.manager.accept(receiver, 0, 7);
    if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('set-up failed');
    return { send: granted.handle, receive: accepted.handle };
  };
  // Slot 0's first handle is 0, the channel field of answers that name no channel: the channels under test are the next two.
  open();
  const channels = [open(), open()];
  const rings = (port: typeof sender, qp: number) => queuePairRings(port.buffer, options.geometry, qp);
  // The sender's two queue pairs, and (tx[2]) the receiver's own send ring, for its CLOSEs.
  const tx = [...[0, 1].map((qp) => new RingProducer(rings(sender, qp).send)), new RingProducer(rings(receiver, 0).send)];
  const completions = new RingConsumer(rings(sender, 0).completion);
  const rx = new RingConsumer(rings(receiver, 0).receive);

  /** Write one work request on queue pair `qp`'s send ring: a SEND body (handle, flags, payload) unless `bodyBytes` says shorter. */
  const write = (qp: number, w: { type?: number; handle: number; flags?: number; payload?: number; bodyBytes?: number; fill?: number }): void => {
    const p = tx[qp];
    const payload = w.payload ?? 8;
    const at = p.tryClaim(w.type ?? RecordType.SEND, w.bodyBytes ?? SendBody.BYTES + payload);
    if (at < 0) throw new Error('send ring full');
    // The handle and flags words are written even past a short body (inside its 8-byte padding, the partition's own memory).
    p.u32[at >> 2] = w.handle;
    p.u32[(at + SendBody.FLAGS_OFFSET) >> 2] = w.flags ?? 0;
    p.u8.set(pattern(w.fill ?? 1, Math.max(0, payload)), at + SendBody.BYTES);
    p.publish();
  };
  const deliveries = (): Array<{ channel: number; payload: number[]; padding: number[] }> => {
    const out = [];
    for (let t = rx.poll(); t !== EMPTY; t = rx.poll()) {
      expect(t).toBe(RecordType.DATA);
      const at = rx.bodyOffset;
      const end = at + rx.bodyBytes;
      // The record's padding held an earlier message's bytes (the ring wrapped): THREATS case 26 wants it zeroed.
      const padding = Array.from(rx.u8.subarray(end, alignUp(end, RecordLayout.ALIGN_BYTES)));
      out.push({ channel: deliveryChannel(rx.u32, at), payload: Array.from(rx.u8.subarray(deliveryPayload(at), end)), padding });
      rx.consume();
    }
    return out;
  };
  const answers = () => takeAnswers(completions);
  const stats = (p: number) => {
    const s = readPartitionStats(hw.counters.values, p, p + 1, '');
    return {
      sent: s.sent,
      bytesSent: s.bytesSent,
      delivered: s.delivered,
      bytesDelivered: s.bytesDelivered,
      sendErrors: s.sendErrors,
      violations: Object.fromEntries(Object.entries(s.violations).filter(([, n]) => n !== 0)),
    };
  };
  return { hw, channels, write, deliveries, answers, stats, rx, receiveRing: rings(receiver, 0).receive };
}

interface Case {
  /** Before the work request: the receiver's part (it drains its ring, or breaks it). */
  receiver?: (m: ReturnType<typeof machine>) => void;
  /** The work request, on the first channel (`handle`) or the second (`other`). */
  request: (m: ReturnType<typeof machine>, handle: number, other: number) => void;
}

/** Run `c` with the queue pair's lookups naming the first channel (`busy`) or the second; return what came of it. */
function outcome(c: Case, busy: boolean) {
  const m = machine();
  const [first, second] = m.channels;
  // FILL messages, so that the next delivery's claim reads the receiver's consumer position; the last one decides what the lookups name.
  for (let i = 0; i < FILL - 1; i++) m.write(0, { handle: first.send, payload: 64, fill: 2 });
  m.write(0, { handle: busy ? first.send : second.send, payload: 64, fill: 2 });
  expect(m.hw.engine.round()).toBe(FILL);
  expect(m.deliveries()).toHaveLength(FILL);
  if (c.receiver === undefined) m.rx.release();
  else c.receiver(m);
  const before = { receiver: m.stats(0), sender: m.stats(1) };
  // Violations are compared whole below: none before the work request.
  expect([before.receiver.violations, before.sender.violations]).toEqual([{}, {}]);
  c.request(m, first.send, second.send);
  const served = m.hw.engine.round();
  const delivered = m.deliveries().map((d) => ({ channel: d.channel === first.receive ? 'first' : d.channel === second.receive ? 'second' : d.channel, bytes: d.payload.length, payload: d.payload, padding: d.padding.filter((b) => b !== 0) }));
  const after = { receiver: m.stats(0), sender: m.stats(1) };
  const diff = (a: ReturnType<typeof m.stats>, b: ReturnType<typeof m.stats>) => ({
    sent: a.sent - b.sent,
    bytesSent: a.bytesSent - b.bytesSent,
    delivered: a.delivered - b.delivered,
    bytesDelivered: a.bytesDelivered - b.bytesDelivered,
    sendErrors: a.sendErrors - b.sendErrors,
    violations: a.violations,
  });
  return {
    served,
    answers: m.answers().map((a) => ({ ...a, channel: a.channel === first.send ? 'first' : a.channel })),
    delivered,
    receiver: diff(after.receiver, before.receiver),
    sender: diff(after.sender, before.sender),
  };
}

/** The outcome of `c` with the queue pair's lookups naming its channel, checked equal to the outcome with them naming another. */
function both(c: Case) {
  const busy = outcome(c, true);
  expect(busy).toEqual(outcome(c, false));
  return busy;
}

const nothing = { sent: 0, bytesSent: 0, delivered: 0, bytesDelivered: 0, sendErrors: 0, violations: {} };
const refused = (status: number, channel: 'first' | 0, opcode: number = RecordType.SEND) => [{ status, opcode, channel, count: 1 }];

describe("the engine's busy SEND and its general path give a hostile sender the same answers", () => {
  it('a well-formed SEND: delivered, exactly its bytes, counted once on each side', () => {
    for (const payload of [0, 1, 3, 5, 17, 64, 256, 257, 259, MAX]) {
      const r = both({ request: (m, h) => m.write(0, { handle: h, payload, fill: 9 }) });
      expect(r).toEqual({
        served: 1,
        answers: [],
        delivered: [{ channel: 'first', bytes: payload, payload: pattern(9, payload), padding: [] }],
        receiver: { ...nothing, delivered: 1, bytesDelivered: payload },
        sender: { ...nothing, sent: 1, bytesSent: payload },
      });
    }
  });

  it('a payload above maxMessageBytes: EMSGSIZE, a messageSize violation, nothing delivered', () => {
    const r = both({ request: (m, h) => m.write(0, { handle: h, payload: MAX + 1 }) });
    expect(r).toEqual({ served: 1, answers: refused(Status.EMSGSIZE, 'first'), delivered: [], receiver: nothing, sender: { ...nothing, violations: { total: 1, messageSize: 1 } } });
  });

  it('a body shorter than a SEND body, naming the channel in its padding: EINVAL on channel 0, badLength, nothing delivered', () => {
    for (const bodyBytes of [0, 4]) {
      const r = both({ request: (m, h) => m.write(0, { handle: h, bodyBytes, payload: 0 }) });
      expect(r).toEqual({ served: 1, answers: refused(Status.EINVAL, 0), delivered: [], receiver: nothing, sender: { ...nothing, violations: { total: 1, badLength: 1 } } });
    }
  });

  it('non-zero flags: EINVAL, badFlags, nothing delivered', () => {
    const r = both({ request: (m, h) => m.write(0, { handle: h, flags: 1 }) });
    expect(r).toEqual({ served: 1, answers: refused(Status.EINVAL, 'first'), delivered: [], receiver: nothing, sender: { ...nothing, violations: { total: 1, badFlags: 1 } } });
  });

  it('an unknown opcode naming the channel: EINVAL, badOpcode, nothing delivered', () => {
    const r = both({ request: (m, h) => m.write(0, { type: 99, handle: h }) });
    expect(r).toEqual({ served: 1, answers: refused(Status.EINVAL, 'first', 99), delivered: [], receiver: nothing, sender: { ...nothing, violations: { total: 1, badOpcode: 1 } } });
  });

  it('the same handle from another queue pair of the sending partition: EPERM, notOwner, nothing delivered', () => {
    const r = both({ request: (m, h) => m.write(1, { handle: h }) });
    // Queue pair 1's completions are not read here: the counters say what it was answered.
    expect(r).toEqual({ served: 1, answers: [], delivered: [], receiver: nothing, sender: { ...nothing, violations: { total: 1, notOwner: 1 } } });
  });

  it('another channel of the same queue pair: delivered on that channel, not on the cached one', () => {
    const r = both({ request: (m, _h, other) => m.write(0, { handle: other, payload: 3, fill: 5 }) });
    expect(r).toEqual({ served: 1, answers: [], delivered: [{ channel: 'second', bytes: 3, payload: pattern(5, 3), padding: [] }], receiver: { ...nothing, delivered: 1, bytesDelivered: 3 }, sender: { ...nothing, sent: 1, bytesSent: 3 } });
  });

  it('a stamp that fails verification: EPERM, keyMismatch on the receiver, nothing delivered', () => {
    const r = both({
      request: (m, h) => {
        m.hw.engine.corruptStamps(1, true);
        m.write(0, { handle: h });
      },
    });
    expect(r).toEqual({ served: 1, answers: refused(Status.EPERM, 'first'), delivered: [], receiver: { ...nothing, violations: { total: 1, keyMismatch: 1 } }, sender: { ...nothing, sendErrors: 1 } });
  });

  // Under lookups the queue pair keeps, the run's own stamp and verification (stampAndVerifyHere)
  // is what stands between the message and the receiver: the tables change here behind the
  // engine's back, so nothing else (a lookup, a generation) notices. A check that passed anyway
  // would deliver the message on the busy path.
  const receivingEnd = (m: ReturnType<typeof machine>, sendHandle: number): number => {
    const t = m.hw.table;
    return t.peer[t.slotsPerPartition + (sendHandle & t.slotMask)];
  };
  /** The receiving end's key with bit `bit` of word `word` flipped. */
  const flipKeyBit = (m: ReturnType<typeof machine>, d: number, word: number, bit: number): void => {
    const k = [0, 1, 2, 3].map((i) => m.hw.keys.word(d, i));
    k[word] = (k[word] ^ (1 << bit)) >>> 0;
    m.hw.keys.store(d, k[0], k[1], k[2], k[3]);
  };
  const tampered: Array<[string, (m: ReturnType<typeof machine>, d: number) => void]> = [
    // Every word of the key, at its lowest bit and its highest (a word above 2^31 is not a small integer).
    ...[0, 1, 2, 3].flatMap((word) =>
      [0, 31].map((bit): [string, (m: ReturnType<typeof machine>, d: number) => void] => [`bit ${bit} of word ${word} of its key`, (m, d) => flipKeyBit(m, d, word, bit)]),
    ),
    ['its own partition id', (m, d) => (m.hw.table.localPartition[d] = 3)],
    ['the partition id it attests for the sender', (m, d) => (m.hw.table.remotePartition[d] = 3)],
    // The engine moves the lookup generation whenever it changes an entry's state; this skips that, so the run's own state check is what refuses.
    ['its state no longer OPEN (its peer closed)', (m, d) => (m.hw.table.state[d] = ConnectionState.PEER_CLOSED)],
  ];
  for (const [what, tamper] of tampered) {
    it(`the receiving end's entry no longer matching the stamp (${what}): EPERM, keyMismatch on the receiver, nothing delivered`, () => {
      const r = both({
        request: (m, h) => {
          tamper(m, receivingEnd(m, h));
          m.write(0, { handle: h });
        },
      });
      expect(r).toEqual({ served: 1, answers: refused(Status.EPERM, 'first'), delivered: [], receiver: { ...nothing, violations: { total: 1, keyMismatch: 1 } }, sender: { ...nothing, sendErrors: 1 } });
    });
  }

  it('a receive ring whose consumer position went ahead of its producer: the receiver faults, the sender gets EFAULT, nothing delivered', () => {
    const r = both({
      receiver: (m) => {
        const ring = m.receiveRing;
        const words = new Uint32Array(ring.buffer);
        const at = (ring.base + RING_CONSUMER_POSITION_OFFSET) >> 2;
        Atomics.store(words, at, (Atomics.load(words, at) + RING + 8) >>> 0);
      },
      request: (m, h) => m.write(0, { handle: h }),
    });
    expect(r).toEqual({
      served: 1,
      answers: refused(Status.EFAULT, 'first'),
      delivered: [],
      receiver: { ...nothing, violations: { total: 1, receiveRingPosition: 1 } },
      sender: { ...nothing, sendErrors: 1 },
    });
  });
});

describe('runs of SENDs: the busy path serves a run at a time, and stops at whatever it cannot serve', () => {
  /** A machine whose queue pair's lookups name the first channel, every count and ring drained. */
  function primed(budgetPerRound?: number) {
    const m = machine(budgetPerRound);
    m.write(0, { handle: m.channels[0].send, payload: 8 });
    expect(m.hw.engine.round()).toBe(1);
    expect(m.deliveries()).toHaveLength(1);
    m.rx.release();
    return { m, before: { receiver: m.stats(0), sender: m.stats(1) } };
  }

  it('hostile work requests inside a run get their answers, and the run goes on after each', () => {
    const { m, before } = primed();
    const [first, second] = m.channels;
    m.write(0, { handle: first.send, payload: 5, fill: 2 });
    m.write(0, { handle: first.send, payload: 6, fill: 3 });
    m.write(0, { handle: first.send, payload: MAX + 1 });
    m.write(0, { handle: first.send, payload: 7, fill: 4 });
    m.write(0, { handle: first.send, flags: 1 });
    m.write(0, { handle: second.send, payload: 9, fill: 5 });
    m.write(0, { handle: first.send, payload: 10, fill: 6 });
    expect(m.hw.engine.round()).toBe(7);
    expect(m.deliveries().map((d) => [d.channel === first.receive ? 'first' : d.channel === second.receive ? 'second' : d.channel, d.payload])).toEqual([
      ['first', pattern(2, 5)],
      ['first', pattern(3, 6)],
      ['first', pattern(4, 7)],
      ['second', pattern(5, 9)],
      ['first', pattern(6, 10)],
    ]);
    expect(m.answers()).toEqual([
      { status: Status.EMSGSIZE, opcode: RecordType.SEND, channel: first.send, count: 1 },
      { status: Status.EINVAL, opcode: RecordType.SEND, channel: first.send, count: 1 },
    ]);
    const sender = m.stats(1);
    const receiver = m.stats(0);
    // Bytes too: a run books its messages and their bytes once, at its end.
    expect([sender.sent - before.sender.sent, sender.bytesSent - before.sender.bytesSent, sender.sendErrors - before.sender.sendErrors, sender.violations]).toEqual([
      5,
      5 + 6 + 7 + 9 + 10,
      0,
      { total: 2, messageSize: 1, badFlags: 1 },
    ]);
    expect([receiver.delivered - before.receiver.delivered, receiver.bytesDelivered - before.receiver.bytesDelivered, receiver.violations]).toEqual([5, 5 + 6 + 7 + 9 + 10, {}]);
  });

  it("a run ends at the round's budget; the rest waits for the next round", () => {
    const { m } = primed(3);
    for (let i = 0; i < 5; i++) m.write(0, { handle: m.channels[0].send, payload: 4, fill: 10 + i });
    expect(m.hw.engine.round()).toBe(3);
    expect(m.deliveries().map((d) => d.payload)).toEqual([10, 11, 12].map((f) => pattern(f, 4)));
    expect(m.hw.engine.round()).toBe(2);
    expect(m.deliveries().map((d) => d.payload)).toEqual([13, 14].map((f) => pattern(f, 4)));
    expect(m.hw.engine.round()).toBe(0);
  });

  it("a run that starts after other work of the same round gets only what is left of the budget", () => {
    const { m } = primed(3);
    const [first, second] = m.channels;
    // A run serves the SEND on the second channel (its lookups taken quietly) and stops at the first
    // SEND on the first, which goes to the general path, as a record a run stopped at always does:
    // one record of the budget is left for the run that follows.
    m.write(0, { handle: second.send, payload: 4, fill: 20 });
    for (let i = 0; i < 4; i++) m.write(0, { handle: first.send, payload: 4, fill: 21 + i });
    expect(m.hw.engine.round()).toBe(3);
    expect(m.deliveries().map((d) => [d.channel === second.receive ? 'second' : 'first', d.payload])).toEqual([
      ['second', pattern(20, 4)],
      ['first', pattern(21, 4)],
      ['first', pattern(22, 4)],
    ]);
    expect(m.hw.engine.round()).toBe(2);
    expect(m.deliveries().map((d) => d.payload)).toEqual([23, 24].map((f) => pattern(f, 4)));
  });

  it('a receive ring that fills inside a run: the run stops there, and the rest arrives in order, once, when the receiver frees space', () => {
    const { m } = primed();
    const sent: number[][] = [];
    const got: number[][] = [];
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        const payload = pattern(sent.length, 8);
        sent.push(payload);
        m.write(0, { handle: m.channels[0].send, payload: 8, fill: sent.length - 1 });
      }
    };
    /** Rounds until one serves nothing (a round serves up to budgetPerRound of one queue pair). */
    const rounds = () => {
      let served = 0;
      for (let n = m.hw.engine.round(); n > 0; n = m.hw.engine.round()) served += n;
      return served;
    };
    send(100);
    expect(rounds()).toBe(100);
    // The receiver holds those 100 records (2400 bytes of 4096); 100 more do not all fit.
    got.push(...m.deliveries().map((d) => d.payload));
    send(100);
    const first = rounds();
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(100);
    got.push(...m.deliveries().map((d) => d.payload));
    m.rx.release();
    expect(rounds()).toBe(100 - first);
    got.push(...m.deliveries().map((d) => d.payload));
    expect(got).toEqual(sent);
    expect(m.answers()).toEqual([]);
  });

  describe('each queue pair keeps its own lookups, and a run serves whichever channel a SEND names', () => {
    /** A machine whose sender's queue pair 1 owns a channel of its own (`mine`), beside queue pair 0's `first`. */
    function twoSenders() {
      const m = machine();
      const [receiver, sender] = m.hw.ports;
      const granted = m.hw.manager.connect(sender, 1, 1, 7);
      const accepted = m.hw.manager.accept(receiver, 0, 7);
      if (!granted.ok || accepted instanceof Promise || !accepted.ok) throw new Error('set-up failed');
      const runs = vi.spyOn(m.hw.engine as unknown as { sendRun: (qp: { index: number }) => number }, 'sendRun');
      /** The queue pair (0 or 1) of each run that served something, in order. */
      const served = (): number[] => runs.mock.calls.filter((_, i) => runs.mock.results[i].value > 0).map(([qp]) => qp.index);
      return { m, first: m.channels[0], second: m.channels[1], mine: { send: granted.handle, receive: accepted.handle }, runs, served };
    }
    const name = (d: { channel: number }, names: Record<string, number>): string | number => Object.keys(names).find((k) => names[k] === d.channel) ?? d.channel;

    it('two queue pairs taking turns (a round trip) are each served by a run, their first SEND too', () => {
      const { m, first, mine, served } = twoSenders();
      for (let i = 0; i < 4; i++) {
        m.write(0, { handle: first.send, payload: 8, fill: i });
        expect(m.hw.engine.round()).toBe(1);
        m.write(1, { handle: mine.send, payload: 8, fill: 10 + i });
        expect(m.hw.engine.round()).toBe(1);
      }
      // With one set of lookups kept for the whole engine, each SEND found the other queue pair's there and took the general path.
      expect(served()).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
      expect(m.deliveries().map((d) => [name(d, { first: first.receive, mine: mine.receive }), d.payload])).toEqual(
        [0, 1, 2, 3].flatMap((i) => [
          ['first', pattern(i, 8)],
          ['mine', pattern(10 + i, 8)],
        ]),
      );
      expect(m.answers()).toEqual([]);
    });

    it('one queue pair sending on two channels in turn is served by a run each time, each message on its own channel', () => {
      const { m, first, second, served } = twoSenders();
      for (let i = 0; i < 6; i++) {
        m.write(0, { handle: (i & 1) === 0 ? first.send : second.send, payload: 8, fill: i });
        expect(m.hw.engine.round()).toBe(1);
      }
      expect(served()).toEqual([0, 0, 0, 0, 0, 0]);
      expect(m.deliveries().map((d) => [name(d, { first: first.receive, second: second.receive }), d.payload])).toEqual(
        [0, 1, 2, 3, 4, 5].map((i) => [(i & 1) === 0 ? 'first' : 'second', pattern(i, 8)]),
      );
      expect(m.answers()).toEqual([]);
    });

    it("a peer's close after another queue pair was served: the closed channel's SEND is never served by a run, is refused and delivers nothing; the other's goes on", () => {
      const { m, first, mine, runs, served } = twoSenders();
      m.write(1, { handle: mine.send, payload: 8, fill: 1 });
      expect(m.hw.engine.round()).toBe(1);
      m.write(0, { handle: first.send, payload: 8, fill: 2 });
      expect(m.hw.engine.round()).toBe(1);
      expect(m.deliveries()).toHaveLength(2);
      // The receiver closes its end of `mine`: queue pair 1's lookups of it are stale from here on.
      m.write(2, { type: RecordType.CLOSE, handle: mine.receive, payload: 0 });
      expect(m.hw.engine.round()).toBe(1);
      const before = m.stats(1);
      runs.mockClear();
      m.write(1, { handle: mine.send, payload: 8, fill: 3 });
      m.write(0, { handle: first.send, payload: 8, fill: 4 });
      m.hw.engine.round();
      // Queue pair 1's SEND never reached a run (its kept lookups were stale, new ones fail); queue pair 0's did, after new lookups.
      expect(runs.mock.calls.map(([qp]) => qp.index)).toEqual([0]);
      expect(served()).toEqual([0]);
      expect(m.deliveries().map((d) => [name(d, { first: first.receive }), d.payload])).toEqual([['first', pattern(4, 8)]]);
      const after = m.stats(1);
      expect([after.sent - before.sent, after.sendErrors - before.sendErrors, after.violations]).toEqual([1, 1, {}]);
    });
  });
});
